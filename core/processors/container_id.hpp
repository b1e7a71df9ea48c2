// Container identity from a cgroup path, as container runtimes name their
// cgroups. Pure text parsing: no file system access, so it is unit-tested
// with a table of paths taken from real runtimes (tests/processors/).
//
// Recognised layouts (the innermost matching path component wins, so a
// container nested in another one, or a sub-cgroup a runtime makes inside
// a container's scope, is attributed to the innermost container):
//   systemd driver   .../docker-<id>.scope              docker
//                    .../cri-containerd-<id>.scope      containerd
//                    .../crio-<id>.scope                cri-o
//                    .../libpod-<id>.scope              podman
//                    ...slice:cri-containerd:<id>       containerd (cgroupsPath form)
//   cgroupfs driver  /docker/<id>, /actions_job/<id>    docker
//                    /libpod_parent/libpod-<id>         podman
//                    /kubepods/<qos>/pod<uid>/<id>      containerd (a bare id under kubepods:
//                                                       the CRI runtime that names cgroups so;
//                                                       CRI-O uses crio-<id> there too)
//                    /<namespace>/<id>                  id only, runtime unknown (omitted)
// The monitors podman and CRI-O put beside containers (libpod-conmon-<id>,
// crio-conmon-<id>) are not containers. An id is 64 lowercase hex digits.
// pod_uid comes from a `pod<uid>` component of a kubepods path, in either
// spelling (cgroupfs `pod1b2c...-...`, systemd `kubepods-...-pod1b2c..._....slice`
// with '_' for '-'), always given with dashes.
#pragma once

#include <string>
#include <string_view>

namespace leaf::core {

struct ContainerInfo {
  std::string id;       // full 64-character id, empty when not a container
  std::string runtime;  // "docker", "containerd", "cri-o", "podman"; empty when unknown
  std::string pod_uid;  // Kubernetes pod UID with dashes, empty when not in a pod

  std::string_view short_id() const { return std::string_view(id).substr(0, 12); }
  bool operator==(const ContainerInfo&) const = default;
};

// Parses a cgroup path (absolute within its hierarchy, e.g.
// "/system.slice/docker-<id>.scope").
ContainerInfo parse_container(std::string_view cgroup_path);

// True when `s` is a full 64-character lowercase hex container id.
bool is_container_id(std::string_view s);

}  // namespace leaf::core
