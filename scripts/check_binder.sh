#!/usr/bin/env bash
# What Binder does, here: a fresh venv from binder/requirements.txt, then every notebook under nbval.
# Run: bash scripts/check_binder.sh            (drops the PyTorch CPU index line, which this machine cannot reach)
#      KEEP_INDEX=1 bash scripts/check_binder.sh  (uses binder/requirements.txt as it is)
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -n "${KEEP_INDEX:-}" ]; then cp binder/requirements.txt "$work/requirements.txt"
else grep -v -- '-index-url' binder/requirements.txt > "$work/requirements.txt"; fi
python3 -m venv "$work/venv"
. "$work/venv/bin/activate"
pip install -q -r "$work/requirements.txt" nbval
python -c "import torch, xviz; print('torch', torch.__version__, '| xviz from', xviz.__file__)"
# nbval alone (the project's pytest options also collect the unit tests, whose extras Binder lacks)
python -m pytest -o addopts="" -p no:cacheprovider --nbval --nbval-sanitize-with notebooks/sanitize.cfg notebooks/ -q
