#!/usr/bin/python3
"""deploy/kubernetes against the rest of the tree: what an operator applies
must match what the image, the unit and the tests use.

  manifest_test.py <source dir> <build dir>

- kustomization.yaml lists files that exist and parse; every object has a kind;
- the DaemonSet: not privileged, drop ALL, add exactly deploy/capabilities.txt,
  no privilege escalation, host PID namespace, tolerates every taint, probes
  on /healthz through the named metrics port (9464), requests and limits for
  CPU and memory (the memory limit the unit's MemoryMax), its ServiceAccount
  and ConfigMap exist, the ConfigMap mounted at /etc/leaf/conf.d, the args the
  image's CMD;
- the metrics Service selects the DaemonSet's pods, carries the Prometheus
  scrape annotations, targets the metrics port;
- the ConfigMap holds conf.d file by file (metrics.listen on 0.0.0.0, the
  image's change);
- the systemd unit's CapabilityBoundingSet is deploy/capabilities.txt;
- daemonset_podman.py (the container test's arguments) translates exactly
  these capabilities, mounts and args.
"""
import os
import re
import sys
import tempfile

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import daemonset_podman  # noqa: E402

src, build = sys.argv[1], sys.argv[2]
k8s = os.path.join(src, "deploy", "kubernetes")
failures = []


def check(what, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + what + ("" if cond else f": {detail}"))
    if not cond:
        failures.append(what)


caps_file = os.path.join(src, "deploy", "capabilities.txt")
with open(caps_file) as f:
    want_caps = sorted(l.split()[0] for l in f if l.startswith("CAP_"))

with open(os.path.join(k8s, "kustomization.yaml")) as f:
    kust = yaml.safe_load(f)
objects = {}
for res in kust["resources"]:
    path = os.path.join(k8s, res)
    check(f"kustomization resource {res} exists", os.path.isfile(path))
    with open(path) as f:
        for doc in yaml.safe_load_all(f):
            if doc:
                objects[(doc["kind"], doc["metadata"]["name"])] = doc
kinds = sorted(k for k, _ in objects)
check("DaemonSet, ConfigMap, ServiceAccount, Service, Namespace",
      all(k in kinds for k in ("DaemonSet", "ConfigMap", "ServiceAccount", "Service", "Namespace")),
      kinds)

ds = next(o for (k, _), o in objects.items() if k == "DaemonSet")
pod = ds["spec"]["template"]["spec"]
(c,) = pod["containers"]
sc = c["securityContext"]
check("not privileged", sc.get("privileged") is False, sc.get("privileged"))
check("no privilege escalation", sc.get("allowPrivilegeEscalation") is False)
check("capabilities: drop ALL", sc["capabilities"].get("drop") == ["ALL"])
got_caps = sorted("CAP_" + x for x in sc["capabilities"].get("add", []))
check("capabilities: add exactly deploy/capabilities.txt", got_caps == want_caps,
      f"{got_caps} != {want_caps}")
check("host PID namespace", pod.get("hostPID") is True)
check("tolerates every taint", {"operator": "Exists"} in pod.get("tolerations", []),
      pod.get("tolerations"))
ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
check("metrics port 9464", ports.get("metrics") == 9464, ports)
for probe in ("livenessProbe", "readinessProbe"):
    get = c.get(probe, {}).get("httpGet", {})
    check(f"{probe} on /healthz, metrics port", get.get("path") == "/healthz" and
          get.get("port") in ("metrics", 9464), get)
res = c.get("resources", {})
check("requests and limits for cpu and memory",
      all(k in res.get(s, {}) for s in ("requests", "limits") for k in ("cpu", "memory")), res)
sa = pod.get("serviceAccountName")
check(f"ServiceAccount {sa} exists", ("ServiceAccount", sa) in objects)
vols = {v["name"]: v for v in pod.get("volumes", [])}
mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
conf_mount = mounts.get("/etc/leaf/conf.d")
cm_name = conf_mount and vols[conf_mount["name"]].get("configMap", {}).get("name")
check("a ConfigMap mounted read-only at /etc/leaf/conf.d",
      bool(cm_name) and ("ConfigMap", cm_name) in objects and conf_mount.get("readOnly") is True)
# The one writable hostPath: /var/lib/leaf, the node's state (the Kafka
# sink's disk spool, kafka.toml [spool] dir), which must outlive the pod.
check("every hostPath mount read-only but the state directory /var/lib/leaf",
      all(m.get("readOnly") or (vols[m["name"]]["hostPath"]["path"] == "/var/lib/leaf" and
                                m["mountPath"] == "/var/lib/leaf")
          for m in c.get("volumeMounts", []) if "hostPath" in vols[m["name"]]))
kafka_conf = open(os.path.join(src, "conf.d", "kafka.toml")).read()
spool_dir = re.search(r'(?m)^dir = "([^"]*)"', kafka_conf)
check("the Kafka spool's directory is under a writable mount of the pod",
      spool_dir is not None and any(spool_dir.group(1).startswith(p.rstrip("/") + "/")
                                    for p, m in mounts.items() if not m.get("readOnly")),
      spool_dir and spool_dir.group(1))

with open(os.path.join(src, "deploy", "Dockerfile")) as f:
    dockerfile = f.read()
cmd = re.search(r"^CMD (\[.*\])$", dockerfile, re.M)
check("the DaemonSet's args are the image's CMD",
      cmd is not None and yaml.safe_load(cmd.group(1)) == c.get("args"), (cmd and cmd.group(1), c.get("args")))

svc = next(o for (k, _), o in objects.items() if k == "Service")
labels = ds["spec"]["template"]["metadata"]["labels"]
sel = svc["spec"]["selector"]
check("the Service selects the DaemonSet's pods", all(labels.get(k) == v for k, v in sel.items()),
      (sel, labels))
ann = svc["metadata"].get("annotations", {})
check("Prometheus scrape annotations", ann.get("prometheus.io/scrape") == "true" and
      ann.get("prometheus.io/port") == "9464" and ann.get("prometheus.io/path") == "/metrics", ann)
check("the Service targets the metrics port",
      any(p.get("targetPort") in ("metrics", 9464) and p.get("port") == 9464
          for p in svc["spec"]["ports"]))

cm = objects[("ConfigMap", cm_name)]
conf_dir = os.path.join(src, "conf.d")
shipped = sorted(n for n in os.listdir(conf_dir) if n.endswith(".toml"))
check("the ConfigMap has every conf.d file", sorted(cm["data"]) == shipped, sorted(cm["data"]))
for name in shipped:
    with open(os.path.join(conf_dir, name)) as f:
        text = f.read().replace('listen = "127.0.0.1:9464"', 'listen = "0.0.0.0:9464"')
        text = text.replace('\nhostname = ""', '\nhostname = "${NODE_NAME:-}"')
    check(f"ConfigMap {name} is conf.d/{name} (rerun deploy/kubernetes/make-configmap.sh)",
          cm["data"].get(name) == text)
env = {e["name"]: e for e in c.get("env", [])}
check("NODE_NAME is the node's name (downward API), the hostname of events",
      env.get("NODE_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "spec.nodeName"
      and 'hostname = "${NODE_NAME:-}"' in cm["data"].get("leaf.toml", "")
      and 'hostname = "${NODE_NAME:-}"' in dockerfile)
check("the image listens on 0.0.0.0:9464 too",
      'listen = "0.0.0.0:9464"' in dockerfile and
      'listen = "0.0.0.0:9464"' in cm["data"].get("leaf.toml", ""))

unit = os.path.join(build, "deploy", "leaf.service")
with open(unit) as f:
    unit_text = f.read()
bset = re.search(r"^CapabilityBoundingSet=(.*)$", unit_text, re.M)
check("the unit gives leaf-host its state directory /var/lib/leaf (the Kafka spool)",
      re.search(r"^StateDirectory=leaf$", unit_text, re.M) is not None and
      spool_dir is not None and spool_dir.group(1).startswith("/var/lib/leaf/"))
check("the unit's CapabilityBoundingSet is deploy/capabilities.txt",
      bset is not None and sorted(bset.group(1).split()) == want_caps, bset and bset.group(1))
mem = re.search(r"^MemoryMax=(\d+)M$", unit_text, re.M)
lim = res.get("limits", {}).get("memory", "")
check("the DaemonSet's memory limit is the unit's MemoryMax",
      mem is not None and lim == mem.group(1) + "Mi", (mem and mem.group(0), lim))

with tempfile.TemporaryDirectory() as tmp:
    args = daemonset_podman.podman_args(ds, {cm_name: cm}, tmp)
    run_caps = sorted(a.split("=", 1)[1] for a in args if a.startswith("--cap-add="))
    check("the container test adds exactly these capabilities", run_caps == want_caps, run_caps)
    check("the container test drops all others, no --privileged",
          "--cap-drop=all" in args and "--privileged" not in args)
    check("the container test uses the host PID namespace", "--pid=host" in args)
    vols_args = [a for a in args if a.startswith("--volume=")]
    check("the container test mounts every volumeMount",
          sorted(v.split(":")[1] for v in vols_args) == sorted(mounts), vols_args)
    check("the container test sets NODE_NAME", any(a.startswith("--env=NODE_NAME=") for a in args))
    check("the container test passes the DaemonSet's args",
          args[args.index("--") + 1:] == c.get("args"))

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
