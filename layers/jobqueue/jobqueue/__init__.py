"""A PostgreSQL job queue for AWS Lambda.

The package is the shared layer of the SAM application: the processor and
API functions import it, and so can any other function of the stack. Each
concern has its own module: ``enqueue`` adds jobs, ``claim`` takes due
jobs, ``outcomes`` records what a run did, ``rescue`` returns jobs whose
processor died, ``cleanup`` deletes old jobs, ``stats`` counts them, and
``processor`` runs batches of jobs through the handlers in ``handlers``.
"""

__version__ = "0.1.0"
