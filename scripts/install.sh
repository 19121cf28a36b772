#!/usr/bin/env bash
# Install everything the project and its tests need: the Python requirements (core, web app, steganalysis) with
# pip, and Debian's chromium and chromium-driver (for the web app's browser test) where they are missing and this
# user may install them (root, or sudo). Safe to run again: what is installed is left alone.
#     bash scripts/install.sh              # PYTHON=python3.11 bash scripts/install.sh for another interpreter
#     bash scripts/install.sh --no-browser # skip Chromium (the browser test then fails)
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
browser=1
for arg in "$@"; do
    case "$arg" in
        --no-browser) browser=0 ;;
        *) echo "usage: bash scripts/install.sh [--no-browser]" >&2; exit 2 ;;
    esac
done

"$python" -m pip install -q --disable-pip-version-check \
    -r requirements.txt -r requirements-app.txt -r requirements-steganalysis.txt

if [ "$browser" = 0 ] || { command -v chromium >/dev/null && command -v chromedriver >/dev/null; }; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null && { sudo -n true 2>/dev/null || [ -t 0 ]; }; then
    as_root=(sudo)
else
    echo "scripts/install.sh: Chromium or chromedriver is missing and this user cannot install packages;" \
         "the browser test needs them: apt-get install chromium chromium-driver (as root), or --no-browser" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null; then
    echo "scripts/install.sh: no apt-get here; install Chromium and its driver (chromium, chromedriver on PATH)" \
         "with this system's package manager for the browser test, or --no-browser" >&2
    exit 1
fi
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
