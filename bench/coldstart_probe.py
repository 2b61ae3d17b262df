"""Cold-start probe: time one function's import, and the processor's first invocations, in this fresh interpreter.

``bench.coldstart`` runs this file with ``python -I`` (and ``-S -B`` for
the as-deployed variant), so nothing but the standard library is
imported before the timed import. The function's folder and the layer's
folder go first on ``sys.path``, as Lambda puts them. It prints one JSON
object on stdout; the function's own logs go to /dev/null.

    python -I bench/coldstart_probe.py --code functions/processor --layer layers/jobqueue[:more folders] [--invoke --local local]
"""

import os
import sys
import time


def main() -> None:
    # Options are read by hand: argparse would import re, gettext and more
    # before the timed import, and the import would look cheaper than it is.
    args = sys.argv[1:]
    code = _option(args, "--code")
    layer = _option(args, "--layer")
    local = _option(args, "--local", required=False)
    invoke = "--invoke" in args

    # Messages go to the original stdout; the function's logs go nowhere.
    out = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)

    sys.path[0:0] = [code, *layer.split(os.pathsep)]
    clock = time.perf_counter()
    import app

    result = {"import_seconds": time.perf_counter() - clock}
    import json

    if invoke:
        sys.path.append(local)
        from jobqueue_local.context import LambdaContext

        event = {"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}
        for key in ("first_invocation_seconds", "second_invocation_seconds"):
            context = LambdaContext(
                function_name="ProcessorFunction",
                memory_mb=1024,
                timeout_seconds=900,
                region=os.environ.get("AWS_REGION", "us-east-1"),
                log_stream_name="coldstart-probe",
            )
            clock = time.perf_counter()
            outcome = app.lambda_handler(event, context)
            result[key] = time.perf_counter() - clock
        result["result"] = outcome

    os.write(out, (json.dumps(result) + "\n").encode())


def _option(args: list, name: str, required: bool = True):
    if name in args and args.index(name) + 1 < len(args):
        return args[args.index(name) + 1]
    if required:
        sys.exit(f"coldstart_probe: {name} is required")
    return None


if __name__ == "__main__":
    main()
