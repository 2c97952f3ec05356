#!/usr/bin/env bash
# What the benchmarks compare mediamill against, installed once into a cached venv: pyvips (from PyPI, in ABI
# mode on Debian's libvips), so libvips is measured as a service uses it, loaded once.
#   benchtools.sh install   prints nothing; the venv's python is $MEDIAMILL_CACHE/benchtools/bin/python
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
VENV="$MEDIAMILL_CACHE/benchtools"

install() {
  if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import pyvips" 2>/dev/null; then return 0; fi
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "pyvips==3.2.0"
}

"$@"
