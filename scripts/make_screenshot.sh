#!/usr/bin/env bash
# Remake docs/screenshot.png: the demo's napari session, on Xvfb when there is no display.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"${PYTHON:-.venv/bin/python}" -m napari_gan demo --headless --out "$out"
cp "$out/screenshot.png" docs/screenshot.png
