#!/usr/bin/env bash
# Create .venv if needed, install nanoclient with its test extra, run the test suite.
# Extra arguments go to pytest, e.g. ./scripts/test.sh -k upload -x
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${NANOCLIENT_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[test]'
exec "$VENV/bin/python" -m pytest "$@"
