#!/usr/bin/env bash
# The browser tests drive Debian's Chromium through its chromedriver (nothing downloads a browser or a
# driver). ./scripts/test.sh runs this first: it installs the packages that are missing where it can (as
# root, with apt-get), else names each one; the browser tests are then skipped, each saying why. It never
# fails: the other tests run all the same.
set -uo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing ${missing[*]} for the browser tests (apt-get)" >&2
  if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; then
    exit 0
  fi
  echo "warning: could not install ${missing[*]}: the browser tests will be skipped" >&2
else
  echo "note: ${missing[*]} not installed: the browser tests will be skipped" \
       "(Debian: apt-get install ${missing[*]}, as root; ./scripts/test.sh does it when run as root)" >&2
fi
exit 0
