#!/usr/bin/env bash
# Set up everything higgsflow needs on a fresh machine, in a virtual environment (default: .venv).
#   HIGGSFLOW_VENV=path  use another environment folder
# Safe to run again: packages already installed at the pinned versions are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${HIGGSFLOW_VENV:-.venv}"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating $venv" >&2
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check --quiet)
"${pip[@]}" install --upgrade pip
# The CPU build of torch first: a bare torch requirement would otherwise pull a multi-GB CUDA build.
"${pip[@]}" install "torch==$(sed -n 's/^torch==//p' constraints/ci.txt)"
"${pip[@]}" install -c constraints/ci.txt -e ".[all,dev]"
echo "setup: ready ($("$venv/bin/higgsflow" --version))" >&2
