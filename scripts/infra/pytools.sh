#!/usr/bin/env bash
# Independent Python tools mediamill is checked against, each set installed once into a cached venv:
#   pytools.sh install         the tests': the Standard Webhooks reference verifier, an SMTP sink (aiosmtpd),
#                              the Kubernetes schema validator, a tus client (tuspy), Playwright (driving
#                              Debian's Chromium: pip never runs `playwright install`, so no browser is fetched),
#                              an OpenAPI validator; python at $MEDIAMILL_CACHE/pytools/bin/python
#   pytools.sh install-bench   the benchmarks': pyvips (PyPI, ABI mode on Debian's libvips), so libvips is
#                              measured as a service uses it; python at $MEDIAMILL_CACHE/benchtools/bin/python
# Both print nothing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# venv DIR CHECK PACKAGE...: makes DIR with the packages unless its python already imports CHECK.
venv() {
  local dir="$1" check="$2"
  shift 2
  if [ -x "$dir/bin/python" ] && "$dir/bin/python" -c "import $check" 2>/dev/null; then return 0; fi
  python3 -m venv "$dir"
  "$dir/bin/pip" install -q "$@"
}

install() {
  venv "$MEDIAMILL_CACHE/pytools" "standardwebhooks, aiosmtpd, kubernetes_validate, jsonschema, yaml, tusclient, playwright, openapi_spec_validator" \
    "standardwebhooks==1.1.0" "aiosmtpd==1.4.6" "kubernetes-validate==1.37.0" "jsonschema" "pyyaml" "tuspy==1.1.0" "playwright==1.65.2" "openapi-spec-validator==0.9.0"
}

install-bench() {
  venv "$MEDIAMILL_CACHE/benchtools" "pyvips" "pyvips==3.2.0"
}

"$@"
