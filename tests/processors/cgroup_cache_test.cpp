// The cgroup id resolver and cache (processors/cgroup_cache.hpp) against
// real cgroups created by the test: ids resolve to their paths through file
// handles and through the directory walk, removed cgroups are noticed, the
// cache stays within its capacity.
#include "processors/cgroup_cache.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "test_cgroups.hpp"

namespace {

using leaf::core::CgroupCache;
using leaf::core::CgroupResolver;
using leaf::test::cgroup2_mount;
using leaf::test::TestCgroup;

const std::string kId = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

std::string base() { return "/leaf-cgtest-" + std::to_string(::getpid()); }

TEST_CASE("ids resolve to paths by file handle and by walking, removed ones are gone") {
  TestCgroup cg(base() + "/system.slice/docker-" + kId + ".scope");
  uint64_t id = cg.id();
  REQUIRE(id != 0);
  for (bool handles : {true, false}) {
    INFO("file handles: " << handles);
    CgroupResolver r(cgroup2_mount(), handles);
    std::string path;
    REQUIRE(r.resolve(id, &path) == CgroupResolver::Result::Found);
    CHECK(path == cg.path());
    CHECK(r.exists(id, path));
    CHECK(r.using_handles() == handles);
    CHECK((r.walks() > 0) == !handles);
  }
  cg.remove();
  for (bool handles : {true, false}) {
    CgroupResolver r(cgroup2_mount(), handles);
    std::string path;
    CHECK(r.resolve(id, &path) == CgroupResolver::Result::Gone);
    CHECK_FALSE(r.exists(id, cg.path()));
  }
}

TEST_CASE("the cache answers from memory, notices removed cgroups, stays bounded") {
  auto cg = std::make_unique<TestCgroup>(base() + "/docker/" + kId);
  const uint64_t id = cg->id();
  CgroupCache cache(cgroup2_mount(), {16, 1'000'000'000});
  uint64_t now = 1'000'000'000;
  const auto* e = cache.lookup(id, now);
  REQUIRE(e->resolved);
  CHECK(e->path == cg->path());
  CHECK(e->container.id == kId);
  CHECK(e->container.runtime == "docker");
  CHECK(e->short_id == kId.substr(0, 12));
  CHECK(cache.stats().misses == 1);
  CHECK(cache.lookup(id, now)->path == cg->path());
  CHECK(cache.stats().hits == 1);
  CHECK(cache.stats().misses == 1);

  cg.reset();  // the container's cgroup is removed
  // Before the sweep interval: still the cached answer (ids are never reused).
  CHECK(cache.lookup(id, now + 1)->resolved);
  // After it: the sweep finds the directory gone and forgets the entry.
  cache.lookup(12345678901, now + 2'000'000'000);  // another id drives the sweep
  CHECK(cache.stats().removed >= 1);
  const auto* again = cache.lookup(id, now + 2'000'000'001);
  CHECK_FALSE(again->resolved);

  // Many distinct cgroups: the size stays within the capacity.
  TestCgroup parent(base() + "/many");  // removed after its children
  std::vector<std::unique_ptr<TestCgroup>> many;
  for (int i = 0; i < 40; ++i)
    many.push_back(std::make_unique<TestCgroup>(base() + "/many/c" + std::to_string(i)));
  for (auto& c : many) {
    const auto* m = cache.lookup(c->id(), now + 3'000'000'000);
    CHECK(m->resolved);
    CHECK(m->path == c->path());
    CHECK(m->container.id.empty());
    CHECK(cache.size() <= 16);
  }
  CHECK(cache.stats().evicted > 0);
  many.clear();
}

}  // namespace
