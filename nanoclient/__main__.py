"""`python -m nanoclient`: the same as the `nanoclient` command."""
from .cli import main

if __name__ == "__main__":
    main()
