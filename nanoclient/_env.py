"""The names a user sets, defined once: the hosted API's URL, the environment variables, and how
an API key is shown when it must be shown at all (standard library only: ``--help`` loads it)."""
from __future__ import annotations

#: The hosted API, used when neither a base URL nor NANONETS_BASE_URL is given.
HOSTED_BASE_URL = "https://app.nanonets.com/api/v2"
#: The API key.
API_KEY_ENV = "NANONETS_API_KEY"
#: The base URL of the API (the hosted one when unset).
BASE_URL_ENV = "NANONETS_BASE_URL"
#: The model the CLI works on.
MODEL_ID_ENV = "NANONETS_MODEL_ID"
#: Another config file for the CLI (tests, several accounts).
CONFIG_ENV = "NANOCLIENT_CONFIG"
#: Another cache folder for the CLI's upload records (tests, CI, read-only homes).
CACHE_ENV = "NANOCLIENT_CACHE_DIR"
#: Retries per request in the CLI.
RETRIES_ENV = "NANOCLIENT_RETRIES"
#: Seconds a request may take in the CLI, its retries included.
TIMEOUT_ENV = "NANOCLIENT_TIMEOUT"


def mask_key(key: str) -> str:
    """A key as shown in a repr or by `nanoclient config`: the last 4 characters, and only of a long key."""
    return "****" + key[-4:] if len(key) >= 16 else "****"


__all__ = ["HOSTED_BASE_URL", "API_KEY_ENV", "BASE_URL_ENV", "MODEL_ID_ENV", "CONFIG_ENV", "CACHE_ENV", "RETRIES_ENV",
           "TIMEOUT_ENV", "mask_key"]
