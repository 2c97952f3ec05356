#!/usr/bin/env bash
# Offline checks of the deployment files (part of the test command): the Kubernetes manifests as `kustomize build`
# renders them, against the Kubernetes schemas and KEDA's CRD schema; the Prometheus alert rules (promtool syntax
# check and rule unit tests); the metric reference against the code, the dashboard and the alerts.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/infra/common.sh
KUSTOMIZE_VERSION=v5.7.1
KEDA_VERSION=v2.18.0
K8S_VERSION=1.32.0
GOBIN_DIR="$MEDIAMILL_CACHE/gobin"
export GOMODCACHE="$MEDIAMILL_CACHE/gomod" GOFLAGS=-mod=mod

bash scripts/infra/pytools.sh install
PY="$MEDIAMILL_CACHE/pytools/bin/python"
if [ ! -x "$GOBIN_DIR/kustomize-$KUSTOMIZE_VERSION" ]; then
  (cd /tmp && GOBIN="$GOBIN_DIR" go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION")
  mv "$GOBIN_DIR/kustomize" "$GOBIN_DIR/kustomize-$KUSTOMIZE_VERSION"
fi
KEDA_DIR=$(cd /tmp && go mod download -json "github.com/kedacore/keda/v2@$KEDA_VERSION" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')

OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
for k in deploy/kubernetes/base deploy/kubernetes/overlays/*/; do
  name=$(basename "$k")
  "$GOBIN_DIR/kustomize-$KUSTOMIZE_VERSION" build "$k" > "$OUT/$name.yaml"
done
"$PY" scripts/check_deploy.py "$K8S_VERSION" "$KEDA_DIR/config/crd/bases/keda.sh_scaledobjects.yaml" "$OUT"/*.yaml
promtool check rules deploy/prometheus/mediamill-alerts.yaml
promtool test rules deploy/prometheus/mediamill-alerts.test.yaml
