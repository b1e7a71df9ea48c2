// leaf-host's command line, exit codes and configuration errors.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <thread>

#include "harness.hpp"

using namespace leaf::test;

namespace {
std::string fake(const std::string& name) {
  return std::string(LEAF_TEST_FAKE_PLUGIN_DIR) + "/" + name;
}

// Runs leaf-host with a conf.d of `files` and the ticker plugin; returns the exit code.
int run_with(const std::map<std::string, std::string>& files, std::string* output,
             std::vector<std::string> extra = {},
             std::vector<std::string> plugins = {"leaf_ticker.so"}) {
  TempDir dir;
  std::filesystem::create_directories(dir.path() + "/conf.d");
  std::filesystem::create_directories(dir.path() + "/plugins");
  for (const auto& [name, text] : files) dir.write("conf.d/" + name, text);
  for (const auto& p : plugins)
    std::filesystem::create_symlink(fake(p), dir.path() + "/plugins/" + p);
  std::vector<std::string> argv = {host_binary(), "--config", dir.path() + "/conf.d",
                                   "--plugins-dir", dir.path() + "/plugins"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return run_command(argv, output);
}
}  // namespace

TEST_CASE("--help explains and exits 0; a bad option exits 2") {
  std::string out;
  CHECK(run_command({host_binary(), "--help"}, &out) == 0);
  CHECK(out.find("--plugins-dir") != std::string::npos);
  CHECK(out.find("--check") != std::string::npos);
  CHECK(out.find("Exit status") != std::string::npos);
  CHECK(run_command({host_binary(), "--no-such-option"}, &out) == 2);
  CHECK(out.find("unrecognised option '--no-such-option'") != std::string::npos);
  CHECK(run_command({host_binary(), "--version"}, &out) == 0);
  CHECK(out.rfind("leaf-host 0.1.0 (plugin ABI 2.1)", 0) == 0);
  CHECK(run_command({host_binary(), "--duration", "-1"}, &out) == 2);
  CHECK(run_command({host_binary(), "--log-level", "loud"}, &out) == 2);
}

TEST_CASE("the installed directories are the defaults, and --help names them") {
  const std::string conf_dir = LEAF_TEST_INSTALLED_CONFIG_DIR;
  const std::string plugins_dir = LEAF_TEST_INSTALLED_PLUGINS_DIR;
  std::string out;
  REQUIRE(run_command({host_binary(), "--help"}, &out) == 0);
  std::string help;  // the text with its line wrapping undone
  for (char c : out)
    if (!std::isspace(static_cast<unsigned char>(c)))
      help += c;
    else if (!help.empty() && help.back() != ' ')
      help += ' ';
  CHECK(help.find("default " + conf_dir) != std::string::npos);
  CHECK(help.find("default " + plugins_dir) != std::string::npos);
  // No --plugins-dir and plugins_dir = "": the installed directory is used.
  if (!std::filesystem::exists(plugins_dir)) {
    TempDir dir;
    dir.write("leaf.toml", "plugins_dir = \"\"\n");
    CHECK(run_command({host_binary(), "--config", dir.path() + "/leaf.toml"}, &out) == 3);
    CHECK(out.find(plugins_dir) != std::string::npos);
  }
}

TEST_CASE("configuration errors exit 2 naming file, line and key") {
  std::string out;
  CHECK(run_with({{"leaf.toml", "hostname = \"h\"\n[log]\nlevl = \"debug\"\n"}}, &out) == 2);
  CHECK(out.find("leaf.toml:3: key 'log.levl': unknown key") != std::string::npos);

  CHECK(run_with({{"ticker.toml", "label = \"x\"\ninterval = 5\n"}}, &out) == 2);
  CHECK(out.find("ticker.toml:2: key 'interval': expected a duration") != std::string::npos);

  CHECK(run_with({{"ticker.toml", "count = -1\n"}}, &out) == 2);
  CHECK(out.find("ticker.toml:1: key 'count': value -1 is out of range [0, 1000000]") !=
        std::string::npos);

  CHECK(run_with({{"ticker.toml", "mode = \"sideways\"\n"}}, &out) == 2);
  CHECK(out.find(
            "ticker.toml:1: key 'mode': \"sideways\" is not one of normal|oversized|undersized") !=
        std::string::npos);

  CHECK(run_with({{"ticker.toml", "enabled = \"no\"\n"}}, &out) == 2);
  CHECK(out.find("ticker.toml:1: key 'enabled': expected a boolean") != std::string::npos);
}

TEST_CASE("nothing to load exits 3 when the plugins directory is not watched") {
  std::string out;
  const std::pair<const std::string, std::string> no_watch{"leaf.toml", "plugins_watch = false\n"};
  CHECK(run_with({no_watch}, &out, {}, {}) == 3);
  CHECK(out.find("nothing could be loaded") != std::string::npos);
  CHECK(run_with({no_watch, {"ticker.toml", "enabled = false\n"}}, &out) == 3);
  CHECK(out.find("plugin ticker") != std::string::npos);
  CHECK(out.find("is disabled by configuration") != std::string::npos);
  CHECK(run_command({host_binary(), "--plugins-dir", "/nonexistent/leaf"}, &out) == 3);
  CHECK(out.find("plugins directory /nonexistent/leaf does not exist") != std::string::npos);
  // Watched (the default): it runs, waiting for a probe to appear.
  CHECK(run_with({}, &out, {"--duration", "0.3"}, {}) == 0);
  CHECK(out.find("no probe plugin is running yet: waiting for one to appear in ") !=
        std::string::npos);
}

TEST_CASE("--duration runs, then shuts down cleanly with exit 0") {
  std::string out;
  CHECK(run_with({{"ticker.toml", "interval = \"10ms\"\ncount = 5\n"}}, &out,
                 {"--duration", "0.5"}) == 0);
  CHECK(out.find("--duration reached, shutting down") != std::string::npos);
  CHECK(out.find("\"seq\":5") != std::string::npos);
  CHECK(out.find("\"seq\":6") == std::string::npos);
  CHECK(out.find("leaf-host stopped: 5 events passed to the sinks (accepted: jsonl 5)") !=
        std::string::npos);
}

TEST_CASE("records that do not fit their schema are counted, dropped and reported") {
  for (std::string mode : {"oversized", "undersized"}) {
    std::string out;
    CHECK(run_with({{"leaf.toml", "stats_interval = \"100ms\"\n"},
                    {"ticker.toml", "interval = \"10ms\"\ncount = 4\nmode = \"" + mode + "\"\n"}},
                   &out, {"--duration", "0.6"}) == 0);
    CHECK(out.find("\"type\":\"tick\"") == std::string::npos);
    CHECK(out.find("[ticker] 4 tick records dropped: they do not fit the event schema") !=
          std::string::npos);
    CHECK(out.find("leaf-host stopped: 0 events passed to the sinks (accepted: jsonl 0)") !=
          std::string::npos);
  }
}

TEST_CASE("--list-plugins and --check") {
  std::string out;
  CHECK(run_with({}, &out, {"--list-plugins"}) == 0);
  CHECK(out.find("ticker 1.0.0 (probe, ABI 2.1)") != std::string::npos);
  CHECK(out.find("event tick (process): seq pid delta label note") != std::string::npos);
  CHECK(out.find("option interval (duration, default \"10ms\"): time between ticks") !=
        std::string::npos);

  CHECK(run_with({}, &out, {"--check"}) == 0);
  CHECK(out.find("plugin ticker (probe,") != std::string::npos);
  CHECK(out.find("check passed") != std::string::npos);

  CHECK(run_with({}, &out, {"--check"}, {"leaf_ticker.so", "leaf_ticker_failopen.so"}) == 1);
  CHECK(out.find("plugin failopen (probe,") != std::string::npos);
  CHECK(out.find("cannot load: ticker was built to fail in open()") != std::string::npos);

  CHECK(run_with({}, &out, {"--check-json"}) == 0);
  auto pos = out.find("{\"plugins\":");
  REQUIRE(pos != std::string::npos);
  auto j = nlohmann::json::parse(out.substr(pos, out.find('\n', pos) - pos));
  CHECK(j["ok"] == true);
  int tickers = 0;
  for (const auto& p : j["plugins"]) {
    CHECK(p["status"] == "ok");
    if (p["name"] == "ticker") {
      ++tickers;
      CHECK(p["kind"] == "probe");
    }
  }
  CHECK(tickers == 1);
}

TEST_CASE("metadata labels and the hostname override reach every event") {
  std::string out;
  CHECK(
      run_with({{"leaf.toml",
                 "hostname = \"node-\\\"7\\\"\"\nmetadata = [\"cluster=prod\", \"region=eu-1\"]\n"},
                {"ticker.toml", "count = 1\n"}},
               &out, {"--duration", "0.3"}) == 0);
  auto pos = out.find("{\"type\":\"process\"");
  REQUIRE(pos != std::string::npos);
  auto j = nlohmann::json::parse(out.substr(pos, out.find('\n', pos) - pos));
  CHECK(j["hostname"] == "node-\"7\"");
  CHECK(j["data"]["metadata"]["cluster"] == "prod");
  CHECK(j["data"]["metadata"]["region"] == "eu-1");
}

TEST_CASE("SIGHUP applies a changed configuration; a broken or refused one leaves the old") {
  HostOptions o;
  o.plugins = {fake("leaf_ticker.so")};
  o.config["ticker.toml"] = "interval = \"5ms\"\nlabel = \"one\"\n";
  LeafHost host(o);
  host.start();
  auto label_is = [](const std::string& l) {
    return [l](const Json& e) { return e["data"].value("label", "") == l; };
  };
  host.wait_for(label_is("one"));
  auto reload_with = [&](const std::string& text) {
    TempDir unused;
    std::ofstream(host.config_dir() + "/ticker.toml") << text;
    size_t before = host.stderr_text().size();
    kill(host.pid(), SIGHUP);
    for (int i = 0; i < 500 && host.stderr_text().find("SIGHUP", before) == std::string::npos; ++i)
      std::this_thread::sleep_for(10ms);
    return before;
  };

  reload_with("interval = \"5ms\"\nlabel = \"two\"\n");
  host.wait_for(label_is("two"));
  CHECK(host.stderr_text().find("SIGHUP: plugin ticker applied its new configuration") !=
        std::string::npos);

  size_t at = reload_with("interval = \"5ms\"\nlabel = \"three\"\nbogus = 1\n");
  std::this_thread::sleep_for(200ms);
  CHECK(host.stderr_text().find("configuration refused, the running one stays", at) !=
        std::string::npos);
  CHECK(host.stderr_text().find("ticker.toml:3: key 'bogus': unknown key", at) !=
        std::string::npos);

  at = reload_with("interval = \"5ms\"\nlabel = \"refuse\"\n");
  for (int i = 0;
       i < 100 && host.stderr_text().find("refused its new configuration", at) == std::string::npos;
       ++i)
    std::this_thread::sleep_for(10ms);
  CHECK(host.stderr_text().find(
            "SIGHUP: plugin ticker refused its new configuration, the running one "
            "stays: label 'refuse' is refused",
            at) != std::string::npos);
  size_t seen = host.events().size();
  host.wait_for_count([](const Json&) { return true; }, seen + 10);
  CHECK(host.stop() == 0);
  // After the broken and the refused reloads every tick still says "two".
  auto all = host.events();
  for (size_t i = seen; i < all.size(); ++i) CHECK(all[i]["data"]["label"] == "two");
  CHECK(host.matching(label_is("three")).empty());
  CHECK(host.matching(label_is("refuse")).empty());
}

// Issue 14, item 3 (part): `enabled` on SIGHUP stops and starts a probe.
TEST_CASE("SIGHUP: enabled = false stops a probe, enabled = true starts it again") {
  HostOptions o;
  o.plugins = {fake("leaf_ticker.so")};
  o.config["ticker.toml"] = "interval = \"5ms\"\nlabel = \"before\"\n";
  LeafHost host(o);
  host.start();
  auto label_is = [](const std::string& l) {
    return [l](const Json& e) { return e["data"].value("label", "") == l; };
  };
  host.wait_for(label_is("before"));
  auto reload_until = [&](const std::string& text, const std::string& line) {
    std::ofstream(host.config_dir() + "/ticker.toml") << text;
    kill(host.pid(), SIGHUP);
    for (int i = 0; i < 500 && host.stderr_text().find(line) == std::string::npos; ++i)
      std::this_thread::sleep_for(10ms);
    REQUIRE(host.stderr_text().find(line) != std::string::npos);
  };
  reload_until("enabled = false\ninterval = \"5ms\"\nlabel = \"off\"\n",
               "SIGHUP: plugin ticker stopped (enabled = false): programs detached");
  size_t stopped_at = host.events().size();
  std::this_thread::sleep_for(300ms);  // 60 ticks if it still ran
  CHECK(host.events().size() == stopped_at);
  reload_until("interval = \"5ms\"\nlabel = \"after\"\n",
               "SIGHUP: plugin ticker started (enabled = true)");
  auto again = host.wait_for(label_is("after"));
  CHECK(again["data"]["seq"] == 1);  // a new object
  CHECK(host.stop() == 0);
  CHECK(host.matching(label_is("off")).empty());
}

// Issue 17, defects 2 and 7: hostile configurations and arguments.
TEST_CASE("hostile input: deep TOML, a directory as leaf.toml, huge or non-finite numbers") {
  std::string out;
  std::string deep = "[" + std::string("a");
  for (int i = 0; i < 35000; ++i) deep += ".a";
  deep += "]\n";
  CHECK(run_with({{"leaf.toml", deep}}, &out) == 2);
  CHECK(out.find("leaf.toml:1: refused before parsing: nested 65 tables deep or more") !=
        std::string::npos);

  CHECK(run_with({{"ticker.toml", "[" + deep.substr(1)}}, &out) == 2);
  CHECK(out.find("ticker.toml:1: refused before parsing") != std::string::npos);

  CHECK(run_with({{"leaf.toml", "[log]\nmax_size = \"99999999999999999999G\"\n"}}, &out) == 2);
  CHECK(out.find("leaf.toml:2: key 'log.max_size': expected a size") != std::string::npos);

  for (const char* d : {"nan", "inf", "-inf", "1e300", "1e10"}) {
    CHECK_MESSAGE(run_with({}, &out, {"--duration", d}) == 2, d);
    CHECK_MESSAGE(out.find("--duration must be") != std::string::npos, d);
  }

  {
    TempDir dir;
    std::filesystem::create_directories(dir.path() + "/conf.d/leaf.toml");
    CHECK(run_command(
              {host_binary(), "--config", dir.path() + "/conf.d", "--plugins-dir", dir.path()},
              &out) == 2);
    CHECK(out.find("conf.d/leaf.toml: is a directory, expected a TOML file") != std::string::npos);
  }
}

TEST_CASE("log.file in a directory that does not exist is an error, no directory is created") {
  TempDir dir;
  std::string missing = dir.path() + "/no/such/dir";
  std::string out;
  CHECK(run_with({{"leaf.toml", "[log]\nfile = \"" + missing + "/leaf.log\"\n"}}, &out,
                 {"--duration", "0.2"}) == 2);
  CHECK(out.find("cannot open log file " + missing + "/leaf.log: directory " + missing +
                 " does not exist") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir.path() + "/no"));
}

TEST_CASE("SIGHUP with a deeply nested file: refused with a message, the running one stays") {
  HostOptions o;
  o.plugins = {fake("leaf_ticker.so")};
  o.config["ticker.toml"] = "interval = \"5ms\"\nlabel = \"one\"\n";
  LeafHost host(o);
  host.start();
  host.wait_for([](const Json& e) { return e["data"].value("label", "") == "one"; });
  std::string deep = "label = \"two\"\n[a";
  for (int i = 0; i < 35000; ++i) deep += ".a";
  std::ofstream(host.config_dir() + "/ticker.toml") << deep << "]\n";
  size_t before = host.stderr_text().size();
  kill(host.pid(), SIGHUP);
  for (int i = 0; i < 500 && host.stderr_text().find("SIGHUP", before) == std::string::npos; ++i)
    std::this_thread::sleep_for(10ms);
  CHECK(host.stderr_text().find("SIGHUP: configuration refused, the running one stays", before) !=
        std::string::npos);
  CHECK(host.stderr_text().find("ticker.toml:2: refused before parsing", before) !=
        std::string::npos);
  size_t seen = host.events().size();
  host.wait_for_count([](const Json&) { return true; }, seen + 5);
  CHECK(host.stop() == 0);
  auto all = host.events();
  for (size_t i = seen; i < all.size(); ++i) CHECK(all[i]["data"]["label"] == "one");
}

// Issue 17, defect 7: run as a user who cannot read tracefs, leaf-host said
// it was not mounted while --check said it was.
TEST_CASE("a user who cannot read tracefs is told so, as --check sees it") {
  TempDir dir;
  chmod(dir.path().c_str(), 0755);
  std::filesystem::create_directories(dir.path() + "/plugins");
  // A copy, not a link into the build tree: uid 65534 may not be able to
  // reach the build tree (a checkout under a 0700 directory).
  std::filesystem::copy_file(fake("leaf_ticker.so"), dir.path() + "/plugins/leaf_ticker.so");
  chmod((dir.path() + "/plugins/leaf_ticker.so").c_str(), 0644);
  dir.write("leaf.toml", "[metrics]\nlisten = \"\"\n");
  chmod((dir.path() + "/leaf.toml").c_str(), 0644);
  // What the kernel lets uid 65534 see.
  pid_t pid = fork();
  if (pid == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(3);
    _exit(access("/sys/kernel/tracing/events", F_OK) == 0 ? 0 : errno == EACCES ? 1 : 2);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  int seen = WEXITSTATUS(status);
  REQUIRE(seen != 3);
  std::string out;
  std::vector<std::string> as_nobody = {
      "setpriv",  "--reuid=65534",           "--regid=65534", "--clear-groups",       host_binary(),
      "--config", dir.path() + "/leaf.toml", "--plugins-dir", dir.path() + "/plugins"};
  auto run = as_nobody;
  run.insert(run.end(), {"--duration", "0.2"});
  CHECK(run_command(run, &out) == 0);
  auto check = as_nobody;
  check.push_back("--check");
  std::string report;
  run_command(check, &report);
  if (seen == 1) {
    CHECK(out.find("tracefs at /sys/kernel/tracing is mounted but not readable by uid 65534") !=
          std::string::npos);
    CHECK(report.find("tracefs: mounted at /sys/kernel/tracing") != std::string::npos);
  }
  CHECK(out.find("tracefs is not mounted") == std::string::npos);
  CHECK(report.find("tracefs is not mounted") == std::string::npos);
}

// Issue 14, item 3: the option flags decide what a SIGHUP does, per plugin.
// The ticker's label is flagged kOptionLive, its interval is restart-only.
TEST_CASE(
    "SIGHUP: a live option is applied in place; a restart-only one restarts that plugin alone") {
  HostOptions o;
  o.plugins = {fake("leaf_ticker.so"), fake("leaf_ticker_wide.so")};
  o.config["ticker.toml"] = "interval = \"5ms\"\nlabel = \"one\"\n";
  o.config["wide.toml"] = "interval = \"5ms\"\nlabel = \"w\"\n";
  LeafHost host(o);
  host.start();
  auto label_is = [](const std::string& l) {
    return [l](const Json& e) { return e["data"].value("label", "") == l; };
  };
  host.wait_for(label_is("one"));
  host.wait_for(label_is("w"));
  auto reload_until = [&](const std::string& text, const std::string& line) {
    size_t before = host.stderr_text().size();
    std::ofstream(host.config_dir() + "/ticker.toml") << text;
    kill(host.pid(), SIGHUP);
    for (int i = 0; i < 500 && host.stderr_text().find(line, before) == std::string::npos; ++i)
      std::this_thread::sleep_for(10ms);
    REQUIRE(host.stderr_text().find(line, before) != std::string::npos);
    return host.stderr_text().substr(before);
  };

  // Live: applied in place, the same object goes on counting.
  std::string log =
      reload_until("interval = \"5ms\"\nlabel = \"two\"\n", "SIGHUP: configuration reloaded from");
  CHECK(log.find("SIGHUP: plugin ticker applied its new configuration\n") != std::string::npos);
  CHECK(log.find("restarted") == std::string::npos);
  auto two = host.wait_for(label_is("two"));
  CHECK(two["data"]["seq"].get<int>() > 1);

  // Restart-only: this plugin restarts (a new object: seq from 1), alone.
  log =
      reload_until("interval = \"4ms\"\nlabel = \"three\"\n", "SIGHUP: plugin ticker restarted (");
  CHECK(log.find("SIGHUP: plugin ticker restarted (restart-only options changed: interval): rings "
                 "drained, running its new configuration after ") != std::string::npos);
  CHECK(log.find("applied its new configuration") == std::string::npos);
  CHECK(log.find("plugin wide") == std::string::npos);  // the other plugin: not a word
  auto three = host.wait_for(label_is("three"));
  CHECK(three["data"]["seq"] == 1);
  size_t seen = host.matching(label_is("w")).size();
  host.wait_for_count(label_is("w"), seen + 5);
  CHECK(host.stop() == 0);

  // The other ticker was never restarted: its seq never went back.
  int64_t last = 0;
  for (const auto& e : host.matching(label_is("w"))) {
    int64_t seq = e["data"]["seq"].get<int64_t>();
    CHECK(seq == last + 1);
    last = seq;
  }
}

// Issue 14, item 3: a plugin disabled at startup is kept (library and
// descriptor) and starts when a SIGHUP enables it.
TEST_CASE("SIGHUP: enabled = true starts a plugin that was disabled at startup") {
  HostOptions o;
  o.plugins = {fake("leaf_ticker.so"), fake("leaf_ticker_wide.so")};
  o.config["ticker.toml"] = "enabled = false\ninterval = \"5ms\"\nlabel = \"late\"\n";
  o.config["wide.toml"] = "interval = \"5ms\"\nlabel = \"w\"\n";
  LeafHost host(o);
  host.start();
  CHECK(host.stderr_text().find("plugin ticker (") != std::string::npos);
  CHECK(host.stderr_text().find("is disabled by configuration") != std::string::npos);
  host.wait_for([](const Json& e) { return e["data"].value("label", "") == "w"; });
  CHECK(
      host.matching([](const Json& e) { return e["data"].value("label", "") == "late"; }).empty());
  std::ofstream(host.config_dir() + "/ticker.toml") << "interval = \"5ms\"\nlabel = \"late\"\n";
  kill(host.pid(), SIGHUP);
  auto late = host.wait_for([](const Json& e) { return e["data"].value("label", "") == "late"; });
  CHECK(late["data"]["seq"] == 1);
  CHECK(host.stderr_text().find("SIGHUP: plugin ticker started (enabled = true)\n") !=
        std::string::npos);
  CHECK(host.stop() == 0);
}
