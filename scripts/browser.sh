#!/usr/bin/env bash
# Installs Chromium, which the end-to-end tests use (headless) to check that the
# HTML pages `cairn incident --html` writes render without errors.
# Safe to run again: it installs nothing that is already there.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi

echo "browser: installing chromium (the HTML report tests open pages in it, headless)" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "browser: run as root or install the Debian package chromium" >&2; exit 1; }
  sudo="sudo"
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
/usr/bin/chromium --version >&2
