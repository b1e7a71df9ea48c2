// ABI negotiation and plugin loading: each bad plugin is refused in one line
// naming its file and the reason, and the good ones run.
#include <doctest/doctest.h>
#include <leaf/sdk/abi.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "harness.hpp"

using namespace leaf::test;

namespace {

std::string fake(const std::string& name) {
  return std::string(LEAF_TEST_FAKE_PLUGIN_DIR) + "/" + name;
}

bool has_line(const std::string& text, const std::string& needle_a, const std::string& needle_b) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (line.find(needle_a) != std::string::npos && line.find(needle_b) != std::string::npos)
      return true;
  return false;
}

}  // namespace

TEST_CASE("bad plugins are refused one line each; the good one runs") {
  TempDir junk;
  std::string garbage = junk.write("leaf_garbage.so", "this is not an ELF file\n");
  chmod(garbage.c_str(), 0644);
  HostOptions o;
  o.plugins = {fake("leaf_ticker.so"),
               fake("leaf_ticker_major3.so"),
               fake("leaf_ticker_minor9.so"),
               fake("leaf_ticker_failcreate.so"),
               fake("leaf_ticker_failopen.so"),
               fake("leaf_no_entry.so"),
               garbage};
  o.config["ticker.toml"] = "interval = \"5ms\"\nlabel = \"hello\"\n";
  LeafHost host(o);
  host.start();
  auto ticks = host.wait_for_count(event_type("tick"), 3);
  CHECK(host.stop() == 0);
  std::string err = host.stderr_text();

  CHECK(
      has_line(err, "leaf_ticker_major3.so",
               "incompatible ABI: plugin is built for ABI 3.1, this host speaks ABI 2.1 (the major "
               "version must match); skipped"));
  CHECK(has_line(
      err, "leaf_ticker_minor9.so",
      "incompatible ABI: plugin needs ABI 2.9, this host speaks ABI 2.1 (upgrade leaf-host)"));
  CHECK(has_line(err, "leaf_no_entry.so",
                 "not a Leaf plugin: no entry point 'leaf_plugin_descriptor'"));
  CHECK(has_line(err, "leaf_garbage.so", "not a loadable library"));
  CHECK(has_line(err, "leaf_ticker_failcreate.so",
                 "could not be created: ticker was built to fail in its factory; skipped"));
  CHECK(has_line(err, "leaf_ticker_failopen.so",
                 "open failed: ticker was built to fail in open(); skipped"));
  CHECK(has_line(err, "leaf-host running", "probes [ticker]"));

  // The events of the good plugin, field by field.
  const auto& t = ticks.front();
  CHECK(t["type"] == "process");
  CHECK(t["data"]["type"] == "tick");
  CHECK(t["data"]["seq"] == 1);
  CHECK(t["data"]["pid"] == 4242);
  CHECK(t["data"]["delta"] == -7);
  CHECK(t["data"]["label"] == "hello");
  CHECK(t["data"]["note"] == "note \"quoted\"\n");
  char hn[256] = {0};
  gethostname(hn, sizeof(hn) - 1);
  CHECK(t["hostname"] == std::string(hn));
  CHECK(host.invalid_lines().empty());
  // Sequence numbers arrive in order, none missing.
  auto all = host.matching(event_type("tick"));
  for (size_t i = 0; i < all.size(); ++i) CHECK(all[i]["data"]["seq"] == i + 1);
}

TEST_CASE("a plugin file writable by others is refused when running as root") {
  if (geteuid() != 0) {
    MESSAGE("not root: leaf-host only enforces plugin file ownership when it runs as root");
    return;
  }
  TempDir dir;
  std::string copy = dir.path() + "/leaf_ticker.so";
  std::filesystem::copy_file(fake("leaf_ticker.so"), copy);
  chmod(copy.c_str(), 0666);
  HostOptions o;
  o.plugins = {copy};
  LeafHost host(o);
  CHECK_THROWS(host.start());  // nothing else to run: exit 3
  CHECK(host.stop() == 3);
  CHECK(has_line(host.stderr_text(), copy, "refused: " + copy + " is writable by everyone"));

  chmod(copy.c_str(), 0644);
  chown(copy.c_str(), 1234, 0);
  LeafHost host2(o);
  CHECK_THROWS(host2.start());
  CHECK(has_line(host2.stderr_text(), copy, "is owned by uid 1234, not root"));
}

// The versioning rule of sdk/README.md, proven on real builds.
TEST_CASE("a plugin built against the frozen ABI 1.0 headers is refused naming both versions") {
  HostOptions o;
  o.plugins = {fake("leaf_ticker_frozen.so"), fake("leaf_ticker.so")};
  o.config["ticker.toml"] = "interval = \"5ms\"\n";
  LeafHost host(o);
  host.start();
  host.wait_for_count(event_type("tick"), 1);
  CHECK(host.stop() == 0);
  CHECK(has_line(host.stderr_text(), "leaf_ticker_frozen.so",
                 "incompatible ABI: plugin is built for ABI 1.0, this host speaks ABI 2.1 (the "
                 "major version must match); skipped"));
}

TEST_CASE("a plugin built for ABI 2.0 (SDK 1.0) loads in this host of a later minor") {
  HostOptions o;
  o.plugins = {fake("leaf_ticker_minor0.so")};
  o.config["minor0.toml"] = "interval = \"5ms\"\nlabel = \"old\"\n";
  LeafHost host(o);
  host.start();
  auto ticks = host.wait_for_count(event_type("tick"), 2);
  CHECK(host.stop() == 0);
  CHECK(has_line(host.stderr_text(), "leaf-host running", "probes [minor0]"));
  REQUIRE(ticks.size() >= 2);
  CHECK(ticks[0]["data"]["seq"] == 1);
  CHECK(ticks[1]["data"]["seq"] == 2);
  CHECK(ticks[0]["data"]["label"] == "old");
}

TEST_CASE("rows of a later minor are stepped over; rows smaller than ABI 2.0's are refused") {
  HostOptions o;
  o.plugins = {fake("leaf_ticker_wide.so"), fake("leaf_ticker_narrow.so")};
  // Options read with the wrong stride would not find "label" (the second row).
  o.config["wide.toml"] = "interval = \"5ms\"\nlabel = \"widened\"\n";
  LeafHost host(o);
  host.start();
  auto ticks = host.wait_for_count(event_type("tick"), 3);
  CHECK(host.stop() == 0);
  // Fields read with the wrong stride would be garbage or refused.
  const auto& t = ticks.front();
  CHECK(t["data"]["seq"] == 1);
  CHECK(t["data"]["pid"] == 4242);
  CHECK(t["data"]["delta"] == -7);
  CHECK(t["data"]["label"] == "widened");
  CHECK(t["data"]["note"] == "note \"quoted\"\n");
  CHECK(t["data"].size() == 6);  // type + the five declared fields, nothing more
  CHECK(has_line(host.stderr_text(), "leaf_ticker_narrow.so",
                 "malformed descriptor: option rows of " +
                     std::to_string(offsetof(leaf::sdk::ConfigOption, flags)) +
                     " bytes, ABI 2.0 rows have " +
                     std::to_string(offsetof(leaf::sdk::ConfigOption, flags) + sizeof(uint32_t))));
  CHECK(has_line(host.stderr_text(), "plugin wide 1.0.0 (probe) loaded", "leaf_ticker_wide.so"));
}

// Issue 17, defect 5: a plugin that aborts, crashes, exits or hangs while it
// loads (constructors, entry point) is tried in a child process first: named
// in one line and refused; a FIFO named *.so does not block the host.
TEST_CASE("plugins whose constructors abort, crash, exit or hang are named and refused") {
  TempDir junk;
  std::string fifo = junk.path() + "/leaf_fifo.so";
  REQUIRE(mkfifo(fifo.c_str(), 0644) == 0);
  HostOptions o;
  o.plugins = {fake("leaf_ctor_abort.so"),
               fake("leaf_ctor_segv.so"),
               fake("leaf_ctor_exit.so"),
               fake("leaf_ctor_hang.so"),
               fifo,
               fake("leaf_ticker.so")};
  o.config["leaf.toml"] = "plugin_trial_timeout = \"1s\"\n";
  o.config["ticker.toml"] = "interval = \"5ms\"\n";
  LeafHost host(o);
  host.start();
  host.wait_for_count(event_type("tick"), 1);
  CHECK(host.stop() == 0);
  std::string err = host.stderr_text();
  const std::string trial =
      " while its constructors and entry point ran in a trial process; not "
      "loaded; skipped";
  CHECK(has_line(err, "leaf_ctor_abort.so: killed by SIGABRT (signal 6)", trial));
  CHECK(has_line(err, "leaf_ctor_segv.so: killed by SIGSEGV (signal 11)", trial));
  CHECK(has_line(err, "leaf_ctor_exit.so: exited with status 0", trial));
  CHECK(has_line(err, "leaf_ctor_hang.so",
                 "did not finish loading within 1000 ms in a trial process (its constructor or "
                 "entry point hangs); not loaded; skipped"));
  CHECK(has_line(err, "leaf_fifo.so", "refused: " + fifo + " is a FIFO, not a library; skipped"));
  CHECK(has_line(err, "leaf-host running", "probes [ticker]"));
}

// Issue 17, defect 7: only leaf_<name>.so files are plugins, as documented.
TEST_CASE("a .so not named leaf_<name>.so is not loaded") {
  TempDir dir;
  std::string misnamed = dir.path() + "/ticker.so";
  std::filesystem::copy_file(fake("leaf_ticker.so"), misnamed);
  chmod(misnamed.c_str(), 0644);
  HostOptions o;
  o.plugins = {misnamed};
  LeafHost host(o);
  CHECK_THROWS(host.start());  // nothing else to run: exit 3
  CHECK(host.stop() == 3);
  CHECK(has_line(host.stderr_text(), "ticker.so",
                 "not named leaf_<name>.so: plugin files are named leaf_<name>.so; skipped"));
}

// Issue 17, defect 4: the owner and mode checks hold when leaf-host runs as
// an unprivileged user too, and cover every directory up to /.
TEST_CASE("plugin owner and mode checks hold for a non-root leaf-host, directories included") {
  if (geteuid() != 0) {
    MESSAGE("not root: cannot run leaf-host as another user or give files to uid 1234");
    return;
  }
  TempDir dir;
  auto place = [&](const std::string& sub, const std::string& name, mode_t dir_mode) {
    std::filesystem::create_directories(dir.path() + "/" + sub);
    chmod((dir.path() + "/" + sub).c_str(), dir_mode);
    std::string to = dir.path() + "/" + sub + "/" + name;
    std::filesystem::copy_file(fake("leaf_ticker.so"), to);
    chmod(to.c_str(), 0644);
    return to;
  };
  std::string good = place("good", "leaf_ticker.so", 0755);
  std::string world_writable = place("good", "leaf_world_writable.so", 0755);
  chmod(world_writable.c_str(), 0666);
  std::string foreign = place("good", "leaf_foreign.so", 0755);
  REQUIRE(chown(foreign.c_str(), 1234, 0) == 0);
  std::string in_open_dir = place("open", "leaf_in_open_dir.so", 0777);
  chmod((dir.path() + "/open").c_str(), 0777);  // past the umask
  HostOptions o;
  o.plugins = {good, world_writable, foreign, in_open_dir};
  // Least privilege: uid 65534 with CAP_BPF and CAP_PERFMON only.
  o.command_prefix = {"/usr/bin/setpriv",
                      "--reuid=65534",
                      "--regid=65534",
                      "--clear-groups",
                      "--inh-caps=+bpf,+perfmon",
                      "--ambient-caps=+bpf,+perfmon"};
  LeafHost host(o);
  host.start();
  host.wait_for_count(event_type("tick"), 1);
  CHECK(host.stop() == 0);
  std::string err = host.stderr_text();
  CHECK(has_line(err, "leaf_world_writable.so",
                 "refused: " + world_writable + " is writable by everyone; skipped"));
  CHECK(has_line(err, "leaf_foreign.so",
                 "refused: " + foreign +
                     " is owned by uid 1234, neither root nor leaf-host's uid 65534; skipped"));
  CHECK(has_line(err, "leaf_in_open_dir.so",
                 "refused: directory " + dir.path() + "/open is writable by everyone; skipped"));
  CHECK(has_line(err, "leaf-host running", "probes [ticker]"));
}
