#!/usr/bin/env bash
# System packages the tests need: headless Chromium (Debian's `chromium`) for the report's
# browser test. Idempotent: does nothing when /usr/bin/chromium is already there.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1; then
  SUDO="sudo"
else
  echo "install_test_deps.sh: need root or sudo to apt-get install chromium" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium fonts-liberation fonts-dejavu-core >/dev/null
/usr/bin/chromium --version
