#!/usr/bin/env bash
# Independent Python tools the tests check mediamill against: the Standard Webhooks reference verifier and an
# SMTP sink (aiosmtpd). Installed once into a cached venv.
#   pytools.sh install   prints nothing; the venv's python is $MEDIAMILL_CACHE/pytools/bin/python
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
VENV="$MEDIAMILL_CACHE/pytools"

install() {
  if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import standardwebhooks, aiosmtpd, kubernetes_validate, jsonschema, yaml" 2>/dev/null; then return 0; fi
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "standardwebhooks==1.1.0" "aiosmtpd==1.4.6" "kubernetes-validate==1.37.0" "jsonschema" "pyyaml"
}

"$@"
