#!/usr/bin/env bash
# Idempotent setup: creates .venv if missing and installs Liveri with its test extra.
# Quick when nothing changed: the install is skipped while pyproject.toml's hash matches.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi

# Debian packages the data of the reference experiments comes from (installed once; checked with
# dpkg, and apt-get update runs only when one is missing): English prose from fortunes and
# fortunes-min, spoken by espeak-ng and resampled and noised by sox. LIVERI_DEB_PACKAGES adds more.
DEB_PACKAGES=(fortunes fortunes-min espeak-ng sox ${LIVERI_DEB_PACKAGES:-})
missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "[setup] installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

stamp=.venv/.liveri-installed
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[setup] installing liveri and its dependencies into .venv (a few minutes the first time)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[test]"
  echo "$want" > "$stamp"
fi
echo "[setup] ready: .venv/bin/liveri"
