"""Figures, their targets, the printed table and the JSON record of a run."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Figure:
    """One measured quantity: a sample per run, the settings it ran with, and extra detail for the JSON."""

    key: str
    name: str
    unit: str
    settings: str
    samples: list[float] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    # Why the figure has no samples, when it was skipped.
    skipped: str = ""
    # How the samples become the figure: "median", or "max" for a bound that no run may exceed.
    aggregate: str = "median"

    @property
    def value(self) -> float | None:
        if not self.samples:
            return None
        return max(self.samples) if self.aggregate == "max" else statistics.median(self.samples)


@dataclass
class Row:
    """A printed line: a figure and, when it has one, its target and whether the median meets it."""

    figure: Figure
    target: str = ""
    ratio: float | None = None
    passed: bool | None = None

    def cells(self) -> list[str]:
        figure = self.figure
        value = format_number(figure.value) if figure.value is not None else "n/a"
        settings = figure.settings if not figure.skipped else f"skipped: {figure.skipped}"
        ratio = f"{self.ratio:.2f}" if self.ratio is not None else ""
        result = ""
        if self.passed is not None:
            result = "PASS" if self.passed else "MISS"
        return [figure.name, value, figure.unit, settings, self.target, ratio, result]


HEADERS = ["figure", "value", "unit", "settings", "target", "ratio", "result"]
RIGHT_ALIGNED = {1, 5}


def format_number(value: float) -> str:
    """Format a figure with precision that suits its size: 12,345, 123, 12.3, 1.23, 0.123."""
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def format_table(rows: list[Row]) -> str:
    """Return the rows as a plain-text table with a header line."""
    lines = [HEADERS] + [row.cells() for row in rows]
    widths = [max(len(line[column]) for line in lines) for column in range(len(HEADERS))]
    rendered = []
    for number, line in enumerate(lines):
        cells = [
            cell.rjust(widths[column]) if column in RIGHT_ALIGNED else cell.ljust(widths[column])
            for column, cell in enumerate(line)
        ]
        rendered.append("  ".join(cells).rstrip())
        if number == 0:
            rendered.append("  ".join("-" * width for width in widths))
    return "\n".join(rendered)


def write_json(path: Path, run: dict[str, Any], rows: list[Row], figures: list[Figure]) -> None:
    """Write the run's metadata, every figure with its samples, and the target rows."""
    record = {
        **run,
        "figures": [{**asdict(figure), "value": figure.value} for figure in figures],
        "targets": [
            {"figure": row.figure.key, "target": row.target, "ratio": row.ratio, "passed": row.passed}
            for row in rows
            if row.target
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
