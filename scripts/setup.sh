#!/usr/bin/env bash
# Idempotent setup: creates .venv if missing and installs Liveri with its test and cluster (Ray)
# extras.
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
# English -> German message pairs: the German gettext catalogues of these packages, pinned in
# train/input/gettext_corpus.py (DEB_PACKAGES there; a test holds the two lists equal). Debian 12
# names; a stock machine of this project's image already has them all.
GETTEXT_PACKAGES=(git coreutils dpkg libdpkg-perl apt libapt-pkg6.0 python-apt-common libc-l10n
  gnupg-l10n postgresql-15 postgresql-client-15 libpq5 bash grep sed tar findutils diffutils make
  binutils-common wget procps psmisc login man-db gettext krb5-locales libgnutls30 libelf1
  xz-utils adduser systemd libpam-runtime libglib2.0-data packagekit appstream
  software-properties-common libavahi-common-data libgstreamer1.0-0 libgtk2.0-common
  libgdk-pixbuf2.0-common at-spi2-common gsettings-desktop-schemas)
DEB_PACKAGES+=("${GETTEXT_PACKAGES[@]}")
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
  .venv/bin/python -m pip install -q -e ".[test,cluster]"
  echo "$want" > "$stamp"
fi
echo "[setup] ready: .venv/bin/liveri"
