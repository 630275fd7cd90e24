#!/usr/bin/env bash
# Create .venv if needed, install nanoclient with its test extra, then check the habits and run
# the tests: ruff (lint), mypy --strict (types), pytest. Extra arguments go to pytest, e.g.
# ./scripts/test.sh -k upload -x
#
# --fast: ruff, mypy and the unit lane only (pytest -m "unit and not slow": no server process, no
# Tesseract, no browser; under a minute). Without it, every test runs. Other lanes by pytest's -m:
# ./scripts/test.sh -m server, -m "ocr and not slow", -m "not slow". tests/lanes.py says which test is where;
# ARCHITECTURE.md's "What to run" which lane a change needs.
set -euo pipefail
cd "$(dirname "$0")/.."
fast=0
args=()
for arg in "$@"; do
  if [ "$arg" = "--fast" ]; then fast=1; else args+=("$arg"); fi
done
# The browser tests need Debian's chromium and chromium-driver, OCR models its tesseract-ocr: installed here
# where this can (root with apt-get), else named as missing (those tests are then skipped, each saying why).
./scripts/system_deps.sh
VENV="${NANOCLIENT_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
# Installed again only when setup.py changed since the last install (the install is editable: code changes
# need none).
stamp="$VENV/.nanoclient-test-install"
wanted="$(cat setup.py scripts/test.sh | cksum)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --config-settings editable_mode=compat -e '.[test]'
  # the official wrapper, driven by tests/test_ocr_wrapper.py; its own pins (requests 2.22, tqdm 4.36) are not
  # taken: it runs on nanoclient's
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps nanonets==2.0.5 xmljson==0.2.1
  echo "$wanted" > "$stamp"
fi
"$VENV/bin/python" -m ruff check nanoclient tests scripts setup.py
"$VENV/bin/python" -m mypy
if [ "$fast" = 1 ]; then
  exec "$VENV/bin/python" -m pytest -m "unit and not slow" ${args[@]+"${args[@]}"}
fi
exec "$VENV/bin/python" -m pytest ${args[@]+"${args[@]}"}
