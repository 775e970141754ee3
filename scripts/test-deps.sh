#!/usr/bin/env bash
# Installs what the tests need beyond Rust: the Debian packages in .ci/apt-packages
# (Chromium for the report render test) and the Python peers in tests/requirements.txt
# (pyedflib, edfio, MNE, h5py, scipy, scikit-learn, NeuroKit2, pylsl).
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=$(grep -v '^#' .ci/apt-packages 2>/dev/null | xargs || true)
missing=""
for p in $pkgs; do command -v "$p" >/dev/null || missing="$missing $p"; done
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
fi
python3 -m pip install -q -r tests/requirements.txt
