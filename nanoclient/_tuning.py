"""Concurrency defaults shared by the SDK and the CLI (a module light enough for ``--help``).

Chosen with ``scripts/bench.py`` on a 2-core machine against the local server: see the
the benchmark table of docs/benchmarks.md.
"""

#: Parallel upload requests in ``Client.upload_files`` and ``nanoclient upload``.
DEFAULT_UPLOAD_WORKERS = 8
#: Files of one category per upload request (docs/api.md: UploadFile takes one or more files).
DEFAULT_UPLOAD_BATCH_SIZE = 20
#: Bytes of files per upload or prediction request at most (a single larger file goes alone):
#: phone photos of several MB must not make a batch of 20 larger than a server accepts (the
#: local server takes 32 MB per request by default).
BATCH_MAX_BYTES = 8 * 1024 * 1024
#: Files to upload of at most this size are read once, checked and sent from memory (at most
#: 20 such per request: 1.3 MB); larger ones are checked, then streamed from disk when sent.
UPLOAD_IN_MEMORY_BYTES = 64 * 1024
#: Files per request in ``Client.predict_files``, ``nanoclient predict`` and ``evaluate``.
DEFAULT_PREDICT_BATCH_SIZE = 20
#: Parallel requests in ``Client.predict_files``, ``nanoclient predict`` and ``evaluate``.
DEFAULT_PREDICT_WORKERS = 4
#: Upper bound on any worker count: the size of the connection pool.
MAX_WORKERS = 32
#: Files ``upload_files`` reads ahead of what it sends, at most: enough to find batches of other
#: categories to send meanwhile (against a server that is not known to deduplicate, only one
#: batch per category is in flight).
UPLOAD_LOOKAHEAD_FILES = 2000
