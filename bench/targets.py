"""The targets each figure is held to, and the ratios printed next to the peers.

A target is printed as PASS or MISS and does not change the exit status,
because these are benchmarks and their numbers depend on the machine. A
target whose reference figure is missing (its group was not run, or was
skipped) is printed without a result.
"""

from __future__ import annotations

from bench.report import Figure, Row

PEERS = ("pgqueuer", "procrastinate")
IMPORT_LIMIT_MS = 300.0
STATS_LIMIT_MS = 100.0
STATEMENT_LIMIT_SECONDS = 1.0
# Our figure that each peer measurement is compared with.
OUR_COUNTERPART = {
    "drain_default": "drain_noop_1",
    "drain_tuned": "drain_noop_1_tuned",
    "enqueue_single": "enqueue_library_single",
    "enqueue_bulk": "enqueue_library_bulk",
}
PRINT_ORDER = (
    "drain_", "enqueue_", "claim_latency_", "stats_", "cleanup_", "history_", "import_", "first_invocation_",
    "pgqueuer_", "procrastinate_", "pgbench_",
)  # fmt: skip


def build_rows(figures: list[Figure]) -> list[Row]:
    """Return the printed rows: every figure in PRINT_ORDER, with its targets where it has any."""
    by_key = {figure.key: figure for figure in figures}
    rows = []
    for figure in sorted(figures, key=lambda figure: _print_rank(figure.key)):
        rows.extend(_rows_for(figure, by_key, figures))
    return rows


def _print_rank(key: str) -> int:
    return next((rank for rank, prefix in enumerate(PRINT_ORDER) if key.startswith(prefix)), len(PRINT_ORDER))


def _rows_for(figure: Figure, by_key: dict[str, Figure], figures: list[Figure]) -> list[Row]:
    key = figure.key
    if key in ("drain_noop_1", "drain_noop_1_tuned"):
        best = _best_peer(by_key, "drain_tuned")
        pgbench = by_key.get("pgbench_one_row_update")
        return [
            _at_least(figure, best, 2.0, f"≥ 2× best peer tuned{_named(best)}"),
            _above(figure, pgbench, f"> 1-commit-per-row ceiling{_named(pgbench)}"),
        ]
    if key == "drain_io":
        ideal = figure.details.get("ideal_jobs_per_second")
        row = Row(figure, target=f"≥ 80% of ideal {ideal:,.0f} jobs/s (threads ÷ sleep time)")
        if figure.value is not None and ideal:
            row.ratio = figure.value / ideal
            row.passed = row.ratio >= 0.8
        return [row]
    if key in ("enqueue_api_bulk", "enqueue_library_bulk"):
        best = _best_peer(by_key, "enqueue_bulk")
        return [_at_least(figure, best, 1.5, f"≥ 1.5× best peer bulk{_named(best)}")]
    if key.startswith("claim_latency_"):
        claims = [other for other in figures if other.key.startswith("claim_latency_")]
        first = claims[0]
        if figure is claims[-1] and len(claims) > 1 and first.value and figure.value is not None:
            ratio = figure.value / first.value
            target = f"≤ 1.2× the latency with {first.details['finished']:,} finished"
            return [Row(figure, target=target, ratio=ratio, passed=ratio <= 1.2)]
        return [Row(figure)]
    if key == "stats_latency":
        return [_below(figure, STATS_LIMIT_MS, f"< {STATS_LIMIT_MS:g} ms")]
    if key == "cleanup_longest_statement":
        return [_below(figure, STATEMENT_LIMIT_SECONDS, f"< {STATEMENT_LIMIT_SECONDS:g} s for every statement")]
    if key.startswith("import_"):
        return [_below(figure, IMPORT_LIMIT_MS, f"< {IMPORT_LIMIT_MS:g} ms")]
    if key.startswith(PEERS):
        counterpart = by_key.get(OUR_COUNTERPART.get(key.split("_", 1)[1], ""))
        if counterpart is None:
            return [Row(figure)]
        row = Row(figure, target=f"ours ÷ this: {counterpart.name}")
        if counterpart.value is not None and figure.value:
            row.ratio = counterpart.value / figure.value
        return [row]
    if key == "pgbench_one_row_update":
        ours = by_key.get("drain_noop_1")
        row = Row(figure, target=f"ours ÷ this: {ours.name}" if ours else "")
        if ours is not None and ours.value is not None and figure.value:
            row.ratio = ours.value / figure.value
        return [row]
    return [Row(figure)]


def _best_peer(by_key: dict[str, Figure], measurement: str) -> Figure | None:
    candidates = [by_key.get(f"{peer}_{measurement}") for peer in PEERS]
    measured = [figure for figure in candidates if figure is not None and figure.value is not None]
    return max(measured, key=lambda figure: figure.value) if measured else None


def _named(reference: Figure | None) -> str:
    if reference is None or reference.value is None:
        return " (not measured)"
    return f" ({reference.name.split(':')[0]} {reference.value:,.0f}/s)"


def _at_least(figure: Figure, reference: Figure | None, factor: float, target: str) -> Row:
    row = Row(figure, target=target)
    if figure.value is not None and reference is not None and reference.value:
        row.ratio = figure.value / reference.value
        row.passed = row.ratio >= factor
    return row


def _above(figure: Figure, reference: Figure | None, target: str) -> Row:
    row = Row(figure, target=target)
    if figure.value is not None and reference is not None and reference.value:
        row.ratio = figure.value / reference.value
        row.passed = row.ratio > 1.0
    return row


def _below(figure: Figure, limit: float, target: str) -> Row:
    row = Row(figure, target=target)
    if figure.value is not None:
        row.ratio = figure.value / limit
        row.passed = figure.value < limit
    return row
