"""Peer queues run by the comparison figures, one script each, in the bench virtualenv.

Each script enqueues and drains no-op jobs with its library's default
settings and with the batch or concurrency setting its documentation
recommends for throughput. It prints one JSON object: the library's
version and, per measurement, the job count, the settings, and per run
the duration in seconds and the jobs finished. A drain stops after
``--drain-seconds`` when the queue is not empty by then, so a slow peer
cannot stretch the benchmark, and its rate is the jobs it finished in
that time. ``bench.comparison`` starts the scripts.
"""
