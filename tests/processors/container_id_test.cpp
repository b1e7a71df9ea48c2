// Cgroup paths as real container runtimes make them -> container id,
// runtime and pod UID (processors/container_id.hpp).
#include "processors/container_id.hpp"

#include <doctest/doctest.h>

#include <string>

#include "processors/cgroup_cache.hpp"

namespace {

using leaf::core::ContainerInfo;
using leaf::core::parse_container;

const std::string kA = "3f4e1d2c5b6a79880716253443526170a9b8c7d6e5f40312ab34cd56ef7890ab";
const std::string kB = "9d8c7b6a5f4e3d2c1b0a99887766554433221100ffeeddccbbaa998877665544";
const std::string kPod = "1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d";
const std::string kPodSystemd = "1b2c3d4e_5f60_4a7b_8c9d_0e1f2a3b4c5d";

struct Case {
  std::string path;
  ContainerInfo want;
};

TEST_CASE("cgroup paths of real runtimes give the container id, runtime and pod UID") {
  const Case cases[] = {
      // docker, systemd driver (cgroup v2 and the name=systemd / unified trees of hybrid hosts)
      {"/system.slice/docker-" + kA + ".scope", {kA, "docker", ""}},
      // docker, cgroupfs driver
      {"/docker/" + kA, {kA, "docker", ""}},
      // docker in docker: the innermost container
      {"/docker/" + kB + "/docker/" + kA, {kA, "docker", ""}},
      // GitHub Actions job containers
      {"/actions_job/" + kA, {kA, "docker", ""}},
      // Kubernetes + containerd, systemd driver
      {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kPodSystemd +
           ".slice/cri-containerd-" + kA + ".scope",
       {kA, "containerd", kPod}},
      // guaranteed QoS (no QoS level slice)
      {"/kubepods.slice/kubepods-pod" + kPodSystemd + ".slice/cri-containerd-" + kA + ".scope",
       {kA, "containerd", kPod}},
      // Kubernetes, cgroupfs driver (containerd, k3s)
      {"/kubepods/burstable/pod" + kPod + "/" + kA, {kA, "containerd", kPod}},
      {"/kubepods/pod" + kPod + "/" + kA, {kA, "containerd", kPod}},
      // containerd's systemd cgroupsPath form
      {"/kubepods-besteffort-pod" + kPodSystemd + ".slice:cri-containerd:" + kA,
       {kA, "containerd", kPod}},
      // CRI-O, systemd driver; its conmon monitor is not the container
      {"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + kPodSystemd +
           ".slice/crio-" + kA + ".scope",
       {kA, "cri-o", kPod}},
      {"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + kPodSystemd +
           ".slice/crio-conmon-" + kA + ".scope",
       {"", "", kPod}},
      // CRI-O, cgroupfs driver
      {"/kubepods/besteffort/pod" + kPod + "/crio-" + kA, {kA, "cri-o", kPod}},
      // kind: a Kubernetes node in a docker container, pods inside it
      {"/system.slice/docker-" + kB +
           ".scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
           "kubelet-kubepods-besteffort-pod" +
           kPodSystemd + ".slice/cri-containerd-" + kA + ".scope",
       {kA, "containerd", kPod}},
      // podman, rootful systemd; rootless with the `container` sub-cgroup; cgroupfs; conmon
      {"/machine.slice/libpod-" + kA + ".scope", {kA, "podman", ""}},
      {"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + kA + ".scope/container",
       {kA, "podman", ""}},
      {"/libpod_parent/libpod-" + kA, {kA, "podman", ""}},
      {"/machine.slice/libpod-conmon-" + kA + ".scope", {"", "", ""}},
      // nerdctl / plain containerd
      {"/system.slice/nerdctl-" + kA + ".scope", {kA, "containerd", ""}},
      {"/default/" + kA, {kA, "", ""}},
      // not containers
      {"/", {"", "", ""}},
      {"", {"", "", ""}},
      {"/system.slice/ssh.service", {"", "", ""}},
      {"/user.slice/user-0.slice/session-3.scope", {"", "", ""}},
      {"/docker/" + kA.substr(0, 63), {"", "", ""}},             // too short
      {"/docker/" + kA.substr(0, 63) + "G", {"", "", ""}},       // not hex
      {"/system.slice/docker-" + kA + "0.scope", {"", "", ""}},  // too long
      {"/kubepods.slice/kubepods-burstable.slice", {"", "", ""}},
  };
  for (const auto& c : cases) {
    INFO(c.path);
    ContainerInfo got = parse_container(c.path);
    CHECK(got.id == c.want.id);
    CHECK(got.runtime == c.want.runtime);
    CHECK(got.pod_uid == c.want.pod_uid);
    if (!got.id.empty()) CHECK(std::string(got.short_id()) == c.want.id.substr(0, 12));
  }
}

}  // namespace

// What enrichment adds per event, rendered once per cgroup
// (processors/cgroup_cache.hpp: render_members, added with
// IEventEditor::add_members): the fields and their order of SPEC.md.
TEST_CASE("the fields enrichment adds, rendered once per cgroup, in SPEC order") {
  using leaf::core::CgroupEntry;
  using leaf::core::render_members;
  CgroupEntry pod;
  pod.resolved = true;
  pod.path = "/kubepods/burstable/pod" + kPod + "/" + kA;
  pod.container = parse_container(pod.path);
  REQUIRE(pod.container.runtime == "containerd");
  pod.json.path = "\"" + pod.path + "\"";
  pod.json.id = "\"" + kA + "\"";
  pod.json.short_id = "\"" + kA.substr(0, 12) + "\"";
  pod.json.runtime = "\"containerd\"";
  pod.json.pod_uid = "\"" + kPod + "\"";
  CHECK(render_members(pod, true) == "\"cgroup_path\":\"" + pod.path + "\",\"container_id\":\"" +
                                         kA.substr(0, 12) + "\",\"container_full_id\":\"" + kA +
                                         "\",\"container_runtime\":\"containerd\",\"pod_uid\":\"" +
                                         kPod + "\"");
  CHECK(render_members(pod, false) ==
        "\"container_id\":\"" + kA.substr(0, 12) + "\",\"container_full_id\":\"" + kA +
            "\",\"container_runtime\":\"containerd\",\"pod_uid\":\"" + kPod + "\"");
  // A container whose runtime is unknown: no container_runtime member.
  pod.json.runtime.clear();
  pod.json.pod_uid.clear();
  CHECK(render_members(pod, false) ==
        "\"container_id\":\"" + kA.substr(0, 12) + "\",\"container_full_id\":\"" + kA + "\"");
  // A host process: the path or nothing.
  CgroupEntry host;
  host.resolved = true;
  host.path = "/user.slice/session-1.scope";
  host.json.path = "\"/user.slice/session-1.scope\"";
  CHECK(render_members(host, true) == "\"cgroup_path\":\"/user.slice/session-1.scope\"");
  CHECK(render_members(host, false).empty());
}
