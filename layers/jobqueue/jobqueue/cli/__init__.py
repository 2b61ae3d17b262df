"""The operator command line, ``jobqueue``: inspect and change the queue from a shell.

``pip install`` of the project installs the ``jobqueue`` command; without
it, ``python -m jobqueue.cli`` runs the same thing. The command reads the
database from ``DATABASE_URL`` or ``DB_SECRET_ARN``, as the functions do,
and never takes a URL as an argument, so no password reaches the shell
history. ``main`` documents the exit codes. The package ships in the
layer but no function calls it, and it imports neither boto3 nor the
API's web stack.
"""

from jobqueue.cli.main import ExitCode, main

__all__ = ["ExitCode", "main"]
