#!/usr/bin/env bash
# Old devices: run a bundle's model on the legacy `tflite-runtime` 2.14, which needs numpy<2 and
# so lives in its own venv (built here on first use, reused after). Prints the class ids as JSON.
#
#   scripts/legacy_tflite.sh BUNDLE.zip PIXELS.npy     # one example [8, 8] or a batch [N, 8, 8]
#
# tflite-runtime 2.14 ships wheels for CPython 3.8-3.11 on Linux only; set PYTHON to pick one.
# The venv goes to $LIVERI_LEGACY_VENV (default: .liveri-cache/venv-legacy-tflite, git-ignored).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${LIVERI_LEGACY_VENV:-$root/.liveri-cache/venv-legacy-tflite}

if [ $# -ne 2 ]; then
  echo "usage: $0 BUNDLE.zip PIXELS.npy" >&2
  exit 2
fi

if ! "$venv/bin/python" -c "import tflite_runtime, numpy" 2>/dev/null; then
  python=${PYTHON:-}
  if [ -z "$python" ]; then
    for candidate in python3.11 python3.10 python3.9 python3.8; do
      if command -v "$candidate" >/dev/null 2>&1; then python=$candidate; break; fi
    done
  fi
  if [ -z "$python" ]; then
    echo "$0: tflite-runtime 2.14 needs CPython 3.8-3.11; none found (set PYTHON=...)" >&2
    exit 2
  fi
  echo "building $venv with $python (tflite-runtime==2.14.*, numpy<2)" >&2
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "tflite-runtime==2.14.*" "numpy<2"
fi

exec "$venv/bin/python" "$root/scripts/legacy_tflite_run.py" "$@"
