#!/usr/bin/env bash
# The main job, end to end on this machine: start a local server, create a model from
# images/shapes, upload its train/, train it, predict its test/ and report the accuracy
# (per class and as a confusion matrix, with `nanoclient evaluate`); then the same for an OCR
# model on images/invoices (fields read from held-out invoices, exact-text accuracy per field), a
# multi-label model on images/multilabel (per-label F1, micro and macro F1, Hamming loss) and an
# object detection model on images/detection (AP per class, mAP, COCO mAP, count error).
# Needs only Python 3.10+ (and the package index the first time): it creates .venv and
# installs nanoclient[ocr] if needed; the OCR part needs Tesseract, which scripts/system_deps.sh
# installs when it can (else the OCR part is skipped, saying why). Exits non-zero if a step fails.
#   ./scripts/demo.sh                 # the project's images/shapes, then images/invoices
#   ./scripts/demo.sh path/to/images  # any folder with train/<category>/ and test/<category>/
#   ./scripts/demo.sh images/shapes path/to/documents  # and documents with annotations (train/, test/)
#   ./scripts/demo.sh IMAGES DOCUMENTS TAGGED SCENES   # and multi-label images, and images with boxes
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGES="${1:-images/shapes}"
DOCUMENTS="${2:-images/invoices}"
TAGGED="${3:-images/multilabel}"
SCENES="${4:-images/detection}"
VENV="${NANOCLIENT_VENV:-.venv}"

step() { printf '\n==> %s\n' "$*" >&2; }

if [ ! -x "$VENV/bin/python" ]; then
  step "creating $VENV"
  python3 -m venv "$VENV"
fi
step "installing nanoclient[ocr] into $VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --config-settings editable_mode=compat -e '.[ocr]'
./scripts/system_deps.sh
PY="$VENV/bin/python"
nanoclient() { "$PY" -m nanoclient "$@"; }

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

step "starting a local server (data in a throwaway folder)"
"$PY" -m nanoclient serve --port 0 --data-dir "$work/data" >"$work/server.out" 2>"$work/server.log" &
server_pid=$!
url=""
for _ in $(seq 1 600); do
  url="$(grep -m1 -oE 'http://[^[:space:]]+/api/v2' "$work/server.out" || true)"
  [ -n "$url" ] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "the server did not start:" >&2
    cat "$work/server.log" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$url" ]; then
  echo "the server printed no URL within 60 s" >&2
  exit 1
fi
echo "server at $url" >&2

# Everything below talks to that server only: its URL and a demo key, no user config,
# and an upload record of its own.
export NANONETS_BASE_URL="$url" NANONETS_API_KEY="demo-key"
export NANOCLIENT_CONFIG="$work/config.ini" NANOCLIENT_CACHE_DIR="$work/cache"
unset NANONETS_MODEL_ID

step "nanoclient create-model --from-dir $IMAGES"
export_line="$(nanoclient create-model --from-dir "$IMAGES")"
eval "$export_line"

step "nanoclient upload $IMAGES"
nanoclient upload "$IMAGES"

step "nanoclient train --wait"
nanoclient train --wait --poll-interval 0.5 --wait-timeout 600

step "nanoclient predict $IMAGES/test"
nanoclient predict "$IMAGES/test"

step "nanoclient evaluate $IMAGES --report demo-report.html"
nanoclient evaluate "$IMAGES" --report demo-report.html
nanoclient status

if command -v tesseract >/dev/null 2>&1; then
  step "nanoclient ocr create-model --from-dir $DOCUMENTS"
  export_line="$(nanoclient ocr create-model --from-dir "$DOCUMENTS")"
  eval "$export_line"

  step "nanoclient ocr upload $DOCUMENTS"
  nanoclient ocr upload "$DOCUMENTS"

  step "nanoclient ocr train --wait"
  nanoclient ocr train --wait --poll-interval 0.5 --wait-timeout 600

  first="$(find "$DOCUMENTS/test" -maxdepth 1 -type f \( -name '*.png' -o -name '*.jpg' -o -name '*.pdf' \) | sort | head -1)"
  step "nanoclient ocr predict $first"
  nanoclient ocr predict "$first"

  step "nanoclient ocr evaluate $DOCUMENTS --report demo-ocr-report.html"
  nanoclient ocr evaluate "$DOCUMENTS" --report demo-ocr-report.html
else
  step "skipping the OCR flow: Tesseract is not installed (Debian: apt-get install tesseract-ocr)"
fi

step "nanoclient multilabel create-model --from-dir $TAGGED"
export_line="$(nanoclient multilabel create-model --from-dir "$TAGGED")"
eval "$export_line"
step "nanoclient multilabel upload $TAGGED"
nanoclient multilabel upload "$TAGGED"
step "nanoclient multilabel train --wait"
nanoclient multilabel train --wait --poll-interval 0.5 --wait-timeout 900
step "nanoclient multilabel evaluate $TAGGED --report demo-multilabel-report.html"
nanoclient multilabel evaluate "$TAGGED" --report demo-multilabel-report.html

step "nanoclient detection create-model --from-dir $SCENES"
export_line="$(nanoclient detection create-model --from-dir "$SCENES")"
eval "$export_line"
step "nanoclient detection upload $SCENES"
nanoclient detection upload "$SCENES"
step "nanoclient detection train --wait"
nanoclient detection train --wait --poll-interval 0.5 --wait-timeout 900
first="$(find "$SCENES/test" -maxdepth 1 -type f -name '*.jpg' | sort | head -1)"
step "nanoclient detection predict $first"
nanoclient detection predict "$first"
step "nanoclient detection evaluate $SCENES --report demo-detection-report.html"
nanoclient detection evaluate "$SCENES" --report demo-detection-report.html
