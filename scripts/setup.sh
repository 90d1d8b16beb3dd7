#!/usr/bin/env bash
# Install what napari-gan needs to run its demo and tests: Xvfb and the X/OpenGL libraries
# that Qt 6 loads (through apt, when run as root on Debian or Ubuntu), then a virtual
# environment with the package, napari, PyQt6 and the test tools.
set -euo pipefail
venv=${1:-.venv}

system_packages=(
    xvfb xauth libegl1 libgl1 libglib2.0-0 libfontconfig1 libdbus-1-3 libxkbcommon-x11-0
    libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0
    libxcb-shape0 libxcb-xinerama0 libxcb-xkb1
)
missing=()
for package in "${system_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "setup: install these system packages first (as root): ${missing[*]}" >&2
        exit 1
    fi
fi

python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -e ".[all,testing]"
