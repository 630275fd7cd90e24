"""The local server: the API of docs/api.md on this machine, for every model type of the registry.

    registry.py         the model types served (one line each); model_types.py: what a type declares
    operations.py       the operation framework: path, method, handler, OpenAPI description, mutates
    local_operations.py the local extension's operations (the dashboard's), over local.py
    routes.py           every type's table and the extension's: what the app is made from
    app.py              HTTP layer (Flask): routes and authentication from the tables, dispatch of shared
                        paths by the model's type, faults, error bodies
    forms.py            reading a request's fields in every form the API allows
    openapi.py          the OpenAPI document's shapes, and the document drawn from the tables
    wire.py             the HTTP status and error body of each error class
    backend.py          accounts, model records and states, the training queue, URL fetching (no HTTP, no SQL)
    store.py            SQLite metadata and content-addressed files (no HTTP)
    fetch.py            fetching URLs with a timeout and a size cap
    memory.py           giving freed memory back to the system
    config.py           ServerConfig: the settings of one server, and their defaults
    serve.py            run the app with waitress and print the base URL
    command.py          the ``nanoclient serve`` click command
    <type>/             one folder per model type: its operations, its rules (models.py), its learner

Nothing is imported here, so that ``nanoclient --help`` stays fast.
"""
