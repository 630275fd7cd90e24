"""Concurrency defaults shared by the SDK and the CLI (a module light enough for ``--help``).

Chosen with ``scripts/bench.py`` on a 2-core machine against the local server: see the
README's benchmark table.
"""

#: Parallel uploads in ``Client.upload_files`` and ``nanoclient upload`` (one file per request).
DEFAULT_UPLOAD_WORKERS = 16
#: Files per request in ``Client.predict_files``, ``nanoclient predict`` and ``evaluate``.
DEFAULT_PREDICT_BATCH_SIZE = 20
#: Parallel requests in ``Client.predict_files``, ``nanoclient predict`` and ``evaluate``.
DEFAULT_PREDICT_WORKERS = 4
#: Upper bound on any worker count: the size of the connection pool.
MAX_WORKERS = 32
