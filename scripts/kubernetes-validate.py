#!/usr/bin/env python3
"""Checks the Kubernetes manifests offline: renders each kustomization under
deploy/kubernetes (kubectl kustomize) and validates every rendered document against the
Kubernetes JSON schemas (strict: an unknown field fails too) of the oldest and the newest
Kubernetes version the schema package ships. Then checks what a schema cannot see:
every GATEWAY__/AUTH__/RESOURCE__ variable names a key of that service's
configuration/base.toml (secret keys may take _FILE, and then point into a mounted Secret),
references between documents resolve (ConfigMaps, Services to pods and ports, probes,
the autoscaler's target, selectors), every container runs as the image's user 10001 with
a read-only root, no privilege escalation and no capability, with requests and limits, and
no Secret with data is rendered (secrets are created beside the manifests, never kept in
the repository), and where APP_ENVIRONMENT is production every secret comes from a file
of a mounted Secret: the identity secret, and the auth-service's database URL. Fails on
any finding; prints the kinds and counts it checked. Takes about a second once the tools
are installed.

Usage: scripts/kubernetes-validate.py

Tools: kubectl from PATH (Debian's kubernetes-client is installed when it is missing and
we are root); the schemas come with the kubernetes-validate package from PyPI, installed
into ${CARGO_TARGET_DIR:-target}/kubernetes-venv on the first run. Nothing else is
fetched, and no cluster is contacted.
"""

import collections
import json
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KUSTOMIZATIONS = ["deploy/kubernetes/base", "deploy/kubernetes/overlays/production"]
# The schema package; its versions follow Kubernetes' (1.37 ships the schemas of 1.25 to
# 1.37).
PACKAGE = "kubernetes-validate>=1.31,<2"
# Each external command's deadline, in seconds.
COMMAND_TIMEOUT = 120
# Warnings of newer kustomize versions about fields kept for older ones (the overlay's
# `bases`, `patchesStrategicMerge`: kubectl before 1.21 knows no other).
KNOWN_WARNINGS = ("'bases' is deprecated", "'patchesStrategicMerge' is deprecated")
# The services: their environment prefix and folder.
SERVICES = {"gateway": "GATEWAY", "auth-service": "AUTH", "resource-service": "RESOURCE"}
USER_ID = 10001
# Secrets each service must be given in production (the identity secret: it refuses to
# start without one; the database URL: PostgreSQL, with its password); from files there.
REQUIRED_IN_PRODUCTION = {"gateway": {"identity.secret"}, "resource-service": {"identity.secret"},
                          "auth-service": {"database.url"}}


def run(command, **kwargs):
    return subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT,
                          check=False, **kwargs)


def in_venv():
    """Re-runs this script in its virtual environment, made on first use."""
    venv = os.path.join(os.path.abspath(os.environ.get("CARGO_TARGET_DIR", "target")),
                        "kubernetes-venv")
    python = os.path.join(venv, "bin", "python")
    if os.path.realpath(sys.prefix) == os.path.realpath(venv):
        return
    if not os.access(python, os.X_OK) or run([python, "-c", "import kubernetes_validate"]).returncode:
        print(f"installing {PACKAGE} into {venv}...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True, timeout=COMMAND_TIMEOUT)
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", PACKAGE,
                        'tomli; python_version < "3.11"'], check=True, timeout=600)
    os.execv(python, [python, os.path.abspath(__file__), *sys.argv[1:]])


def kubectl():
    """kubectl from PATH, or Debian's kubernetes-client installed as root."""
    found = shutil.which("kubectl")
    if found:
        return found
    if os.geteuid() != 0:
        sys.exit("kubectl is not installed; run as root or install Debian's kubernetes-client")
    print("installing kubectl (Debian package kubernetes-client)...", file=sys.stderr)
    environment = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "kubernetes-client"]):
        subprocess.run(command, check=True, env=environment, stdout=subprocess.DEVNULL,
                       timeout=600)
    return shutil.which("kubectl") or sys.exit("kubernetes-client installed no kubectl")


def kubectl_version(binary):
    answer = run([binary, "version", "--client", "-o", "json"])
    try:
        version = json.loads(answer.stdout)
    except json.JSONDecodeError:
        return "unknown version"
    text = version.get("clientVersion", {}).get("gitVersion", "?")
    if version.get("kustomizeVersion"):
        text += f", kustomize {version['kustomizeVersion']}"
    return text


def render(binary, directory):
    """The documents a kustomization renders to."""
    import yaml

    answer = run([binary, "kustomize", directory])
    for line in answer.stderr.splitlines():
        if line.strip() and not any(known in line for known in KNOWN_WARNINGS):
            print(f"  kubectl: {line}")
    if answer.returncode != 0:
        return None
    return [document for document in yaml.safe_load_all(answer.stdout) if document]


def name(document):
    return f"{document.get('kind')}/{document.get('metadata', {}).get('name')}"


def schema_findings(documents, versions):
    import kubernetes_validate.utils as kv

    findings = []
    for document in documents:
        for version in versions:
            try:
                kv.validate(document, version, strict=True)
            except kv.ValidationError as error:
                where = ".".join(str(part) for part in error.path) or "(top)"
                findings.append(f"{name(document)} (Kubernetes {version}): {where}: {error.message}")
            except kv.SchemaNotFoundError as error:
                findings.append(f"{name(document)}: {error.message}")
    return findings


def settings_of(service):
    """The dotted keys of a service's base.toml, and the ones it reads from files."""
    try:
        import tomllib
    except ImportError:
        import tomli as tomllib
    with open(os.path.join(ROOT, service, "configuration", "base.toml"), "rb") as file:
        table = tomllib.load(file)
    keys = set()

    def walk(prefix, value):
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}{key}.", inner)
        keys.add(prefix.rstrip("."))

    walk("", table)
    with open(os.path.join(ROOT, service, "src", "configuration.rs"), encoding="utf-8") as file:
        declared = re.search(r"secret_keys:\s*&\[([^\]]*)\]", file.read())
    secrets = set(re.findall(r'"([^"]+)"', declared.group(1))) if declared else set()
    return keys, secrets


def pod_findings(document, by_kind, settings):
    """Environment, secrets, probes, security and resources of one Deployment."""
    findings = []
    label = name(document)
    pod = document["spec"]["template"]["spec"]
    security = pod.get("securityContext", {})
    if security.get("runAsUser") != USER_ID or security.get("runAsNonRoot") is not True:
        findings.append(f"{label}: pods must run as user {USER_ID} (runAsNonRoot)")
    if security.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        findings.append(f"{label}: no RuntimeDefault seccomp profile")
    secret_volumes = {volume["name"] for volume in pod.get("volumes", []) if "secret" in volume}
    config_maps = {cm["metadata"]["name"]: cm.get("data", {}) for cm in by_kind["ConfigMap"]}
    for container in pod["containers"]:
        where = f"{label} container {container['name']}"
        context = container.get("securityContext", {})
        if (context.get("allowPrivilegeEscalation") is not False
                or context.get("readOnlyRootFilesystem") is not True
                or context.get("capabilities", {}).get("drop") != ["ALL"]):
            findings.append(f"{where}: needs allowPrivilegeEscalation false, "
                            "readOnlyRootFilesystem true, capabilities drop ALL")
        resources = container.get("resources", {})
        for part in ("requests", "limits"):
            if set(resources.get(part, {})) != {"cpu", "memory"}:
                findings.append(f"{where}: resources.{part} must set cpu and memory")
        ports = {port.get("name") for port in container.get("ports", [])}
        for probe, path in (("readinessProbe", "/health/ready"), ("livenessProbe", "/health/live")):
            get = container.get(probe, {}).get("httpGet", {})
            if get.get("path") != path or get.get("port") != "http" or "http" not in ports:
                findings.append(f"{where}: {probe} must ask {path} on its port named http")
        secret_mounts = [mount["mountPath"] for mount in container.get("volumeMounts", [])
                         if mount["name"] in secret_volumes]
        prefix = SERVICES.get(container["name"])
        if prefix is None:
            findings.append(f"{where}: not one of the services {sorted(SERVICES)}")
            continue
        keys, secrets = settings[container["name"]]
        names = [variable["name"] for variable in container.get("env", [])]
        values = {}
        for variable in container.get("env", []):
            variable_name = variable["name"]
            reference = variable.get("valueFrom", {}).get("configMapKeyRef")
            if reference and reference["key"] not in config_maps.get(reference["name"], {}):
                findings.append(f"{where}: {variable_name} names a missing ConfigMap key "
                                f"{reference['name']}/{reference['key']}")
            elif reference:
                values[variable_name] = config_maps[reference["name"]][reference["key"]]
            else:
                values[variable_name] = variable.get("value")
        production = values.get("APP_ENVIRONMENT") == "production"
        if production:
            for key in sorted(REQUIRED_IN_PRODUCTION[container["name"]]):
                if f"{prefix}__{key.replace('.', '__').upper()}_FILE" not in names:
                    findings.append(f"{where}: production without {key} from a Secret file")
        for variable in container.get("env", []):
            variable_name = variable["name"]
            if not variable_name.startswith(f"{prefix}__"):
                if "__" in variable_name:
                    findings.append(f"{where}: {variable_name} is not a {prefix}__ setting")
                continue
            key = variable_name[len(prefix) + 2:].lower().replace("__", ".")
            if key.endswith("_file") and key[:-5] in secrets:
                if variable_name[:-5] in names:
                    findings.append(f"{where}: {variable_name[:-5]} is set twice (and _FILE)")
                if not any(variable.get("value", "").startswith(mount.rstrip("/") + "/")
                           for mount in secret_mounts):
                    findings.append(f"{where}: {variable_name} is no file of a mounted Secret")
            elif key in secrets and production:
                findings.append(f"{where}: {variable_name} is a secret in plain text; use _FILE")
            elif key not in keys:
                findings.append(f"{where}: {variable_name} sets {key}, which is not in "
                                f"{container['name']}/configuration/base.toml")
    return findings


def selects(selector, labels):
    return all(labels.get(key) == value for key, value in selector.items())


def reference_findings(by_kind):
    findings = []
    pods = {d["metadata"]["name"]: d["spec"]["template"] for d in by_kind["Deployment"]}
    if any(d["kind"] == "Secret" and (d.get("data") or d.get("stringData"))
           for documents in by_kind.values() for d in documents):
        findings.append("a Secret with data is rendered: secrets stay out of the repository")
    for service in by_kind["Service"]:
        matched = [t for t in pods.values()
                   if selects(service["spec"].get("selector", {}), t["metadata"]["labels"])]
        if not matched:
            findings.append(f"{name(service)}: selects no pod")
        for port in service["spec"]["ports"]:
            names = {p.get("name") for t in matched for c in t["spec"]["containers"]
                     for p in c.get("ports", [])}
            if isinstance(port.get("targetPort"), str) and port["targetPort"] not in names:
                findings.append(f"{name(service)}: targetPort {port['targetPort']} is no "
                                "container port")
    for kind in ("PodDisruptionBudget", "NetworkPolicy"):
        for document in by_kind[kind]:
            spec = document["spec"]
            selector = (spec.get("selector") or spec.get("podSelector", {})).get("matchLabels", {})
            if not any(selects(selector, t["metadata"]["labels"]) for t in pods.values()):
                findings.append(f"{name(document)}: selects no pod")
    for autoscaler in by_kind["HorizontalPodAutoscaler"]:
        target = autoscaler["spec"]["scaleTargetRef"]
        if target["kind"] != "Deployment" or target["name"] not in pods:
            findings.append(f"{name(autoscaler)}: scales no Deployment here")
        elif "replicas" in next(d for d in by_kind["Deployment"]
                                if d["metadata"]["name"] == target["name"])["spec"]:
            findings.append(f"{name(autoscaler)}: its Deployment sets replicas, which each "
                            "apply would reset")
    return findings


def expected_secrets(by_kind):
    """The Secrets the pods mount, each with the keys they read."""
    wanted = collections.defaultdict(set)
    for deployment in by_kind["Deployment"]:
        for volume in deployment["spec"]["template"]["spec"].get("volumes", []):
            if "secret" in volume:
                items = volume["secret"].get("items", [])
                wanted[volume["secret"]["secretName"]].update(item["key"] for item in items)
    return ", ".join(f"{secret} [{', '.join(sorted(keys))}]"
                     for secret, keys in sorted(wanted.items())) or "none"


def main():
    if len(sys.argv) > 1:
        sys.exit(__doc__)
    os.chdir(ROOT)
    in_venv()
    import kubernetes_validate
    import kubernetes_validate.utils as kv

    started = time.monotonic()
    binary = kubectl()
    known = kv.all_versions()
    versions = [known[0], known[-1]]
    print(f"kubectl {kubectl_version(binary)}; schemas of kubernetes-validate "
          f"{kubernetes_validate.__version__}, Kubernetes {' and '.join(versions)} (strict)")
    settings = {service: settings_of(service) for service in SERVICES}
    failures = 0
    for directory in KUSTOMIZATIONS:
        documents = render(binary, directory)
        if documents is None:
            print(f"{directory}: FAIL kubectl kustomize could not render it")
            failures += 1
            continue
        by_kind = collections.defaultdict(list)
        for document in documents:
            by_kind[document.get("kind")].append(document)
        findings = schema_findings(documents, versions)
        for deployment in by_kind["Deployment"]:
            findings += pod_findings(deployment, by_kind, settings)
        findings += reference_findings(by_kind)
        counts = ", ".join(f"{kind} {len(found)}" for kind, found in sorted(by_kind.items()))
        print(f"{directory}: {len(documents)} documents: {counts}")
        print(f"  Secrets to create beforehand: {expected_secrets(by_kind)}")
        for finding in findings:
            print(f"  FAIL {finding}")
        failures += len(findings)
        if not findings:
            print("  ok: schemas, settings, references, security context, resources")
    print(f"{failures} findings in {time.monotonic() - started:.1f} s")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
