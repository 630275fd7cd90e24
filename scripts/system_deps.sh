#!/usr/bin/env bash
# The system packages some tests and the OCR engine need, from Debian (nothing downloads a browser, a
# driver or an engine): chromium and chromium-driver for the browser tests, tesseract-ocr and its language
# packs (German, French, Dutch, Spanish, Italian, Portuguese; orientation) for OCR models' local server.
# ./scripts/test.sh and ./scripts/demo.sh run this first: it installs the packages that are missing where it
# can (as root, with apt-get), else names each one and what goes without it. It never fails: everything else
# runs all the same.
set -uo pipefail
missing=()
declare -A purpose=([chromium]="the browser tests will be skipped" [chromium-driver]="the browser tests will be skipped"
                    [tesseract-ocr]="OCR models cannot be trained or read (their tests will be skipped)")
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v tesseract >/dev/null 2>&1 || missing+=(tesseract-ocr)
# the language packs OCR models read (nanoclient/server/ocr_languages.py's LANGUAGES) and orientation (osd),
# looked for where Tesseract looks (TESSDATA_PREFIX if set, else Debian's folders), with shell built-ins only
for pack in osd deu fra nld spa ita por; do
  found=""
  if [ -n "${TESSDATA_PREFIX:-}" ]; then places=("$TESSDATA_PREFIX/$pack.traineddata")
  else places=(/usr/share/tesseract-ocr/*/tessdata/"$pack".traineddata); fi
  for file in "${places[@]}"; do
    [ -e "$file" ] && found=1
  done
  [ -n "$found" ] || { purpose[tesseract-ocr-$pack]="OCR models cannot read $pack pages in their language"
                       missing+=("tesseract-ocr-$pack"); }
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing ${missing[*]} (apt-get)" >&2
  if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; then
    exit 0
  fi
  for package in "${missing[@]}"; do
    echo "warning: could not install $package: ${purpose[$package]}" >&2
  done
else
  for package in "${missing[@]}"; do
    echo "note: $package not installed: ${purpose[$package]}" \
         "(Debian: apt-get install $package, as root; ./scripts/test.sh does it when run as root)" >&2
  done
fi
exit 0
