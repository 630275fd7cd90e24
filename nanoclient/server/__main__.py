"""``python -m nanoclient.server``: the same as ``nanoclient serve``."""
from .command import serve

if __name__ == "__main__":
    serve(prog_name="python -m nanoclient.server")
