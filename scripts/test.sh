#!/usr/bin/env bash
# Create .venv if needed, install nanoclient with its test extra, then check the habits and run
# the tests: ruff (lint), mypy --strict (types), pytest. Extra arguments go to pytest, e.g.
# ./scripts/test.sh -k upload -x
set -euo pipefail
cd "$(dirname "$0")/.."
# The browser tests drive Debian's Chromium through its chromedriver (nothing downloads a browser): install
# both where this can (root with apt-get), else say which is missing (those tests are then skipped).
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
      || echo "warning: could not install chromium and chromium-driver; the browser tests will be skipped" >&2
  else
    echo "note: the browser tests need Chromium and its driver (Debian: apt-get install chromium chromium-driver);" \
         "without them they are skipped" >&2
  fi
fi
VENV="${NANOCLIENT_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --config-settings editable_mode=compat -e '.[test]'
"$VENV/bin/python" -m ruff check nanoclient tests scripts setup.py
"$VENV/bin/python" -m mypy
exec "$VENV/bin/python" -m pytest "$@"
