"""Run the operator command line as ``python -m jobqueue.cli``."""

import sys

from jobqueue.cli.main import main

sys.exit(main())
