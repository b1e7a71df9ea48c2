#!/usr/bin/python3
"""The podman run arguments that run Leaf's image as deploy/kubernetes/daemonset.yaml
runs it: the one source of truth for the container test (container-test.sh).

  daemonset_podman.py <daemonset.yaml> <configmap.yaml> <config dir to write>

Prints one argument per line: --pid=host when hostPID, --cap-drop/--cap-add
from the container's securityContext, --security-opt for seccomp and
no-new-privileges, --read-only, -v for every volumeMount (hostPath: the
host's path, or for a DirectoryOrCreate one (node state) a new directory
next to <config dir>; configMap: its files written to <config dir>), then a line
"--" and the container's args. Anything in the manifest it cannot translate
is an error, so the two cannot drift apart silently.
"""
import os
import socket
import sys

import yaml


def fail(msg):
    sys.exit(f"daemonset_podman: {msg}")


def podman_args(ds, configmaps, config_dir):
    spec = ds["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    args = []
    if spec.get("hostPID"):
        args.append("--pid=host")
    if spec.get("hostNetwork"):
        args.append("--network=host")
    sc = c.get("securityContext", {})
    if sc.get("privileged"):
        fail("privileged: true has no place here")
    caps = sc.get("capabilities", {})
    if caps.get("drop") != ["ALL"]:
        fail("capabilities.drop must be [ALL]")
    args.append("--cap-drop=all")
    for cap in caps.get("add", []):
        args.append(f"--cap-add=CAP_{cap}")
    seccomp = sc.get("seccompProfile", {}).get("type", "RuntimeDefault")
    if seccomp == "Unconfined":
        args.append("--security-opt=seccomp=unconfined")
    elif seccomp != "RuntimeDefault":
        fail(f"seccompProfile {seccomp} is not translated")
    if sc.get("allowPrivilegeEscalation") is False:
        args.append("--security-opt=no-new-privileges")
    if sc.get("readOnlyRootFilesystem"):
        args.append("--read-only")
    if "runAsUser" in sc:
        args.append(f"--user={sc['runAsUser']}")
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for m in c.get("volumeMounts", []):
        v = volumes[m["name"]]
        ro = ":ro" if m.get("readOnly") else ""
        if "hostPath" in v and v["hostPath"].get("type") == "DirectoryOrCreate":
            # Node state (the Kafka spool): a directory of the test's own, so
            # the test never writes to this machine's /var/lib.
            state = os.path.join(config_dir + ".state", m["name"])
            os.makedirs(state, exist_ok=True)
            args.append(f"--volume={state}:{m['mountPath']}{ro}")
        elif "hostPath" in v:
            args.append(f"--volume={v['hostPath']['path']}:{m['mountPath']}{ro}")
        elif "configMap" in v:
            data = configmaps[v["configMap"]["name"]]["data"]
            os.makedirs(config_dir, exist_ok=True)
            for name, text in data.items():
                with open(os.path.join(config_dir, name), "w") as f:
                    f.write(text)
            args.append(f"--volume={config_dir}:{m['mountPath']}{ro}")
        else:
            fail(f"volume {m['name']}: only hostPath and configMap are translated")
    for e in c.get("env", []):
        if "value" in e:
            args.append(f"--env={e['name']}={e['value']}")
        elif e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "spec.nodeName":
            # The node running the container: this machine.
            args.append(f"--env={e['name']}={socket.gethostname()}")
        else:
            fail(f"env {e['name']}: only plain values and spec.nodeName are translated")
    args.append("--")
    args.extend(c.get("args", []))
    return args


def main():
    ds_path, cm_path, config_dir = sys.argv[1:4]
    with open(ds_path) as f:
        ds = yaml.safe_load(f)
    with open(cm_path) as f:
        cms = {d["metadata"]["name"]: d for d in yaml.safe_load_all(f) if d}
    for a in podman_args(ds, cms, config_dir):
        print(a)


if __name__ == "__main__":
    main()
