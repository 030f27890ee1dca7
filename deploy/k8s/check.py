#!/usr/bin/env python3
"""Checks what kubernetes-validate cannot about deploy/k8s: that the pieces fit together.

kubernetes-validate checks each object against its schema alone. This checks the wiring between
them and the repository: every manifest is in kustomization.yaml, the bot's shard split matches
its replicas, the bot stops for a handover on SIGTERM (DIMBY_ON_SIGTERM=handover: what a rolling
update relies on), the Lavalink node list matches the Lavalink StatefulSet, the Lavalink config is
deploy/lavalink/application.yml, every Secret key a pod reads is in the Secret template, and every
selector, port, ConfigMap and governing Service named exists. Run by .ci/run (lint) with the lint
virtualenv's Python (PyYAML comes with kubernetes-validate); exits 1 naming each problem.
"""

import sys
import tomllib
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
# Not applied by kustomization.yaml on purpose (it would overwrite the real Secret).
TEMPLATES = {"secret.example.yaml"}

problems = []


def problem(text):
    problems.append(text)


def load(name):
    with open(HERE / name, encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc]


def env_of(container):
    return {e["name"]: e for e in container.get("env", [])}


def matches(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


kustomization = load("kustomization.yaml")[0]
listed = kustomization.get("resources", [])
for name in listed:
    if not (HERE / name).is_file():
        problem(f"kustomization.yaml lists {name}, which does not exist")
for path in sorted(HERE.glob("*.yaml")):
    if path.name not in listed and path.name != "kustomization.yaml" and path.name not in TEMPLATES:
        problem(f"{path.name} is not listed in kustomization.yaml")

objects = [(name, doc) for name in listed if (HERE / name).is_file() for doc in load(name)]
by_kind = {}
for name, doc in objects:
    by_kind.setdefault(doc["kind"], []).append((name, doc))


def one(kind, object_name):
    found = [doc for _, doc in by_kind.get(kind, []) if doc["metadata"]["name"] == object_name]
    return found[0] if found else None


# Every Secret key the pods read is in the template (so that the template tells the whole story).
secret = load("secret.example.yaml")[0]
template_keys = set(secret.get("stringData", {})) | set(secret.get("data", {}))
for name, doc in by_kind.get("StatefulSet", []):
    for container in doc["spec"]["template"]["spec"]["containers"]:
        for entry in container.get("env", []):
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref and ref["name"] == secret["metadata"]["name"] and ref["key"] not in template_keys:
                problem(f"{name}: {entry['name']} reads key {ref['key']!r}, missing from secret.example.yaml")

# The bot: replicas = processes of the split, the index from the pod's ordinal.
dimby = one("StatefulSet", "dimby")
lavalink = one("StatefulSet", "lavalink")
if dimby is None:
    problem("no StatefulSet dimby")
else:
    env = env_of(dimby["spec"]["template"]["spec"]["containers"][0])
    try:
        total = int(env["DIMBY_DISCORD__SPLIT__TOTAL"]["value"])
        processes = int(env["DIMBY_DISCORD__SPLIT__PROCESSES"]["value"])
        if processes != dimby["spec"]["replicas"]:
            problem(f"dimby: DIMBY_DISCORD__SPLIT__PROCESSES is {processes} but replicas is {dimby['spec']['replicas']}")
        if not 1 <= processes <= total:
            problem(f"dimby: {processes} processes for {total} shards: each process needs a shard at least")
        index = env["DIMBY_DISCORD__SPLIT__INDEX"]["valueFrom"]["fieldRef"]["fieldPath"]
        if index != "metadata.labels['apps.kubernetes.io/pod-index']":
            problem(f"dimby: DIMBY_DISCORD__SPLIT__INDEX comes from {index}, not the pod-index label")
    except (KeyError, TypeError, ValueError) as error:
        problem(f"dimby: the split variables are missing or not numbers ({error!r})")
    # Kubernetes stops a pod with SIGTERM; without this it is the plain stop, and a rolling update
    # would end the sessions and players its replacements should resume.
    on_sigterm = env.get("DIMBY_ON_SIGTERM", {}).get("value")
    if on_sigterm != "handover":
        problem(f"dimby: DIMBY_ON_SIGTERM is {on_sigterm!r}, not 'handover': SIGTERM would be the plain stop")
    # The node list names the Lavalink StatefulSet's pods, by their names in its Service.
    nodes = env.get("DIMBY_LAVALINK__NODES", {}).get("value")
    if lavalink is not None and nodes is not None:
        try:
            listed_nodes = tomllib.loads("nodes = " + nodes.replace("$(LAVALINK_SERVER_PASSWORD)", "p"))["nodes"]
        except tomllib.TOMLDecodeError as error:
            problem(f"dimby: DIMBY_LAVALINK__NODES is not a TOML array of tables: {error}")
            listed_nodes = []
        service = lavalink["spec"]["serviceName"]
        pods = lavalink["spec"]["replicas"]
        expected = [(f"lavalink-{i}", f"http://lavalink-{i}.{service}:2333") for i in range(pods)]
        found = [(node.get("name"), node.get("url")) for node in listed_nodes]
        if found != expected:
            problem(f"dimby: DIMBY_LAVALINK__NODES names {found}; the lavalink StatefulSet has {expected}")

# The Lavalink config is deploy/lavalink/application.yml as it is.
config = one("ConfigMap", "lavalink-config")
source = (REPO / "deploy/lavalink/application.yml").read_text(encoding="utf-8")
if config is None or config["data"].get("application.yml") != source:
    problem("lavalink-config.yaml's application.yml differs from deploy/lavalink/application.yml: copy it again")

# Wiring: governing Services, ConfigMaps, Service and PDB selectors, ServiceMonitor selectors/ports.
pod_labels = [doc["spec"]["template"]["metadata"]["labels"] for _, doc in by_kind.get("StatefulSet", [])]
services = [doc for _, doc in by_kind.get("Service", [])]
for name, doc in by_kind.get("StatefulSet", []):
    spec = doc["spec"]
    if not matches(spec["selector"]["matchLabels"], spec["template"]["metadata"]["labels"]):
        problem(f"{name}: the selector does not match the pod template's labels")
    governing = one("Service", spec["serviceName"])
    if governing is None or governing["spec"].get("clusterIP") != "None":
        problem(f"{name}: serviceName {spec['serviceName']} is not a headless Service here")
    for volume in spec["template"]["spec"].get("volumes", []):
        if "configMap" in volume and one("ConfigMap", volume["configMap"]["name"]) is None:
            problem(f"{name}: volume {volume['name']} names ConfigMap {volume['configMap']['name']}, not defined here")
for name, doc in by_kind.get("Service", []):
    if not any(matches(doc["spec"]["selector"], labels) for labels in pod_labels):
        problem(f"{name}: Service {doc['metadata']['name']} selects no pod")
for name, doc in by_kind.get("PodDisruptionBudget", []):
    if not any(matches(doc["spec"]["selector"]["matchLabels"], labels) for labels in pod_labels):
        problem(f"{name}: PodDisruptionBudget {doc['metadata']['name']} selects no pod")
for name, doc in by_kind.get("ServiceMonitor", []):
    selected = [s for s in services if matches(doc["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])]
    if len(selected) != 1:
        problem(f"{name}: ServiceMonitor {doc['metadata']['name']} selects {len(selected)} Services; one scrapes each pod once")
    for endpoint in doc["spec"]["endpoints"]:
        for service in selected:
            if endpoint["port"] not in {p.get("name") for p in service["spec"]["ports"]}:
                problem(f"{name}: ServiceMonitor {doc['metadata']['name']} scrapes port {endpoint['port']!r}, which Service {service['metadata']['name']} does not name")

for text in problems:
    print(f"deploy/k8s: {text}", file=sys.stderr)
if problems:
    sys.exit(1)
print(f"deploy/k8s: {len(objects)} objects in {len(listed)} files fit together")
