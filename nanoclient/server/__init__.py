"""The local server: the Image Categorization API of API.md on this machine.

    app.py      HTTP layer (Flask): parse a request, call the backend, render JSON or an error body
    backend.py  accounts, models, the state machine, deduplication, the training queue (no HTTP, no SQL)
    store.py    SQLite metadata and content-addressed image files (no HTTP)
    fetch.py    fetching image URLs with a timeout and a size cap
    trainer.py  features and classifier: fit, predict, held-out accuracy
    serve.py    run the app with waitress and print the base URL
    command.py  the ``nanoclient serve`` click command

Nothing is imported here, so that ``nanoclient --help`` stays fast.
"""
