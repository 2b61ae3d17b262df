"""The local runner, as the benchmark's child processes use it."""

from __future__ import annotations

from typing import Any


def resolve_each_function_once() -> None:
    """Make ``jobqueue_local.invoke`` resolve each function's configuration once per process.

    ``invoke`` calls ``resolve_function`` on every call, which parses
    ``template.yaml`` with PyYAML's pure-Python loader: about 40 ms per
    call on the two-core trial machine, over ten times the cost of a
    ``POST /jobs`` request itself. Lambda does nothing like that per
    request, so the benchmark caches the result. The template, the
    environment and the overrides stay the same for a child's lifetime.
    What remains of the runner per call (swapping ``os.environ`` and
    ``sys.path``, scanning ``sys.modules``) is still measured.
    """
    from jobqueue_local import invoke as invoke_module

    resolve = invoke_module.resolve_function
    resolved: dict[tuple[str, str], Any] = {}

    def resolve_once(template_path, function_id, **options):
        key = (str(template_path), function_id)
        if key not in resolved:
            resolved[key] = resolve(template_path, function_id, **options)
        return resolved[key]

    invoke_module.resolve_function = resolve_once
