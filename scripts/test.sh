#!/usr/bin/env bash
# Create .venv if needed, install nanoclient with its test extra, then check the habits and run
# the tests: ruff (lint), mypy --strict (types), pytest. Extra arguments go to pytest, e.g.
# ./scripts/test.sh -k upload -x
set -euo pipefail
cd "$(dirname "$0")/.."
# The browser tests need Debian's chromium and chromium-driver, OCR models its tesseract-ocr: installed here
# where this can (root with apt-get), else named as missing (those tests are then skipped, each saying why).
./scripts/system_deps.sh
VENV="${NANOCLIENT_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --config-settings editable_mode=compat -e '.[test]'
# the official wrapper, driven by tests/test_ocr_wrapper.py; its own pins (requests 2.22, tqdm 4.36) are not
# taken: it runs on nanoclient's
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps nanonets==2.0.5 xmljson==0.2.1
"$VENV/bin/python" -m ruff check nanoclient tests scripts setup.py
"$VENV/bin/python" -m mypy
exec "$VENV/bin/python" -m pytest "$@"
