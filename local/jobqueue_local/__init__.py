"""Run the SAM template's functions in this process, the way `sam local invoke` does, without Docker.

Development only: this package is never part of the deployed stack. Run it
from the project root with ``PYTHONPATH=layers/jobqueue:local python -m
jobqueue_local --help``.
"""
