"""Offline checks of what operators deploy (run by scripts/check-deploy.sh):

1. every Kubernetes object that `kustomize build` renders validates against the Kubernetes schemas, strictly
   (unknown fields and wrong types fail), and every KEDA ScaledObject against KEDA's own CRD schema;
2. the metric reference in docs/operations.md lists exactly the metrics the code records, and the Grafana
   dashboard and the alert rules use no metric that is not in it.

Usage: check_deploy.py K8S_VERSION KEDA_CRD RENDERED.yaml...
"""
import json
import pathlib
import re
import sys
import tomllib

import jsonschema
import kubernetes_validate
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
failures = []


def strict(schema):
    """A CRD's structural schema drops unknown fields; here they are errors, as `kubectl --validate=strict` makes them."""
    if isinstance(schema, dict):
        if "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema.setdefault("additionalProperties", False)
        for v in schema.values():
            strict(v)
    elif isinstance(schema, list):
        for v in schema:
            strict(v)
    return schema


def check_manifests(version, crd_path, rendered):
    crd = yaml.safe_load(pathlib.Path(crd_path).read_text())
    scaled = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
    keda_schema = strict(scaled["schema"]["openAPIV3Schema"])
    keda_schema["properties"]["metadata"] = {"type": "object"}
    for path in rendered:
        docs = [d for d in yaml.safe_load_all(pathlib.Path(path).read_text()) if d]
        if not docs:
            failures.append(f"{path}: rendered nothing")
        for d in docs:
            name = f"{path}: {d.get('kind')}/{d.get('metadata', {}).get('name')}"
            try:
                if d.get("kind") == "ScaledObject":
                    jsonschema.validate(d, keda_schema)
                    for t in d["spec"]["triggers"]:
                        if t["type"] == "kafka" and not {"bootstrapServers", "consumerGroup", "topic", "lagThreshold"} <= set(t["metadata"]):
                            failures.append(f"{name}: kafka trigger lacks a required field")
                else:
                    kubernetes_validate.validate(d, version, strict=True)
            except Exception as e:  # every kind of validation error is a finding, not a crash
                failures.append(f"{name}: {str(e).splitlines()[0]}")
        print(f"{path}: {len(docs)} objects checked")


def metric_names_in_code():
    names = set()
    pattern = re.compile(r'(?:counter|gauge|histogram)!\(\s*"(mediamill_[a-z0-9_]+)"')
    # Every workspace member, as Cargo.toml lists them, and the binary's own src/.
    members = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["members"]
    for crate in [*members, "src"]:
        for f in (ROOT / crate).rglob("*.rs"):
            names.update(pattern.findall(f.read_text()))
    return names


def check_metrics():
    code = metric_names_in_code()
    doc = (ROOT / "docs/operations.md").read_text()
    section = doc.split("## Metric reference", 1)
    if len(section) < 2:
        failures.append("docs/operations.md has no '## Metric reference' section")
        return
    documented = set(re.findall(r"^\| `(mediamill_[a-z0-9_]+)`", section[1], re.M))
    for m in sorted(code - documented):
        failures.append(f"metric {m} is recorded by the code but missing from the reference in docs/operations.md")
    for m in sorted(documented - code):
        failures.append(f"metric {m} is in docs/operations.md but nothing records it")
    # Histograms are exported as NAME_bucket/_sum/_count.
    def base(n):
        return re.sub(r"_(bucket|sum|count)$", "", n)
    used = {}
    dash = json.loads((ROOT / "deploy/grafana/mediamill.json").read_text())
    for p in dash["panels"]:
        for t in p["targets"]:
            for n in re.findall(r"mediamill_[a-z0-9_]+", t["expr"]):
                used.setdefault(base(n), []).append(f"dashboard panel '{p['title']}'")
    rules = yaml.safe_load((ROOT / "deploy/prometheus/mediamill-alerts.yaml").read_text())
    for g in rules["groups"]:
        for r in g["rules"]:
            for n in re.findall(r"mediamill_[a-z0-9_]+", r["expr"]):
                used.setdefault(base(n), []).append(f"alert {r['alert']}")
    for n, where in sorted(used.items()):
        if n not in code:
            failures.append(f"{n} (used by {', '.join(where)}) is recorded nowhere in the code")
    print(f"metrics: {len(code)} recorded, {len(documented)} documented, {len(used)} used by the dashboard and alerts")


def check_the_checker(version, crd_path):
    """The validation must be able to fail: a misspelt field in a Deployment and in a ScaledObject are both caught."""
    global failures
    kept, failures = failures, []
    bad = pathlib.Path(sys.argv[3]).with_name("deliberately-broken.yaml")
    bad.write_text(yaml.safe_dump_all([
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}},
                  "template": {"metadata": {"labels": {"a": "b"}},
                               "spec": {"containers": [{"name": "x", "image": "x", "livenesProbe": {}}]}}}},
        {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "x"},
         "spec": {"scaleTargetRef": {"name": "x"}, "maxReplicas": 3, "triggers": [{"type": "kafka", "metadata": {}}]}},
    ]))
    check_manifests(version, crd_path, [bad])
    caught = len(failures)
    failures = kept
    if caught < 2:
        failures.append(f"the manifest check let a misspelt field through ({caught} of 2 broken objects caught)")


if __name__ == "__main__":
    check_the_checker(sys.argv[1], sys.argv[2])
    check_manifests(sys.argv[1], sys.argv[2], sys.argv[3:])
    check_metrics()
    for f in failures:
        print("FAIL", f)
    sys.exit(1 if failures else 0)
