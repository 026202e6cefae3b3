#!/bin/sh
# Creates the virtualenv `make bench` runs LiteLLM from: sh bench/litellm/setup.sh [VENV]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
venv=${1:-target/litellm-venv}
if [ -f "$venv/.installed" ] && [ "$venv/.installed" -nt "$here/requirements.txt" ]; then
    exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
touch "$venv/.installed"
