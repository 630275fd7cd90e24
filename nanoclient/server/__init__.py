"""The local server: the Image Categorization API of API.md on this machine.

    operations.py  the table of operations: path, method, handler, OpenAPI description, mutates
    app.py         HTTP layer (Flask): routes and authentication from the table, faults, error bodies
    forms.py       reading a request's fields in every form API.md allows
    openapi.py     the OpenAPI document's shapes, and the document drawn from the table
    wire.py        the HTTP status and error body of each error class
    backend.py     accounts, models, the state machine, deduplication, the training queue (no HTTP, no SQL)
    protocols.py   what the backend needs of a trainer (Trainer, TrainedClassifier)
    store.py       SQLite metadata and content-addressed image files (no HTTP)
    fetch.py       fetching image URLs with a timeout and a size cap
    trainer.py     features and classifier: fit, predict, held-out accuracy
    config.py      ServerConfig: the settings of one server, and their defaults
    serve.py       run the app with waitress and print the base URL
    command.py     the ``nanoclient serve`` click command

Nothing is imported here, so that ``nanoclient --help`` stays fast.
"""
