// Configuration validation: every error names the file, the key and the line.
#include "config/config_section.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <string>

#include "config/host_config.hpp"
#include "harness.hpp"

using leaf::core::ConfigError;
using leaf::core::ConfigSection;
using leaf::sdk::ConfigOption;
using leaf::sdk::OptionType;

namespace {

const ConfigOption kOpts[] = {
    {"flag", OptionType::Bool, "false", 0, 0, nullptr, "a flag"},
    {"count", OptionType::Int, "5", 1, 10, nullptr, "a count"},
    {"mode", OptionType::String, "\"fast\"", 0, 0, "fast|slow", "a mode"},
    {"names", OptionType::StringList, "[\"a\"]", 0, 0, nullptr, "names"},
    {"ports", OptionType::IntList, "[]", 1, 65535, nullptr, "ports"},
    {"ring.size", OptionType::Size, "\"1M\"", 4096, 1 << 30, nullptr, "bytes"},
    {"interval", OptionType::Duration, "\"10s\"", 1'000'000, 3600'000'000'000LL, nullptr, "time"},
};

ConfigSection parse(const std::string& text) {
  toml::table t = toml::parse(std::string_view(text), std::string_view("test.toml"));
  return ConfigSection::validate(&t, kOpts, "test.toml");
}

std::string error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("defaults apply when nothing is configured") {
  auto s = ConfigSection::validate(nullptr, kOpts, "none");
  CHECK(s.get_bool("flag") == false);
  CHECK(s.get_int("count") == 5);
  CHECK(s.get_string("mode") == "fast");
  CHECK(s.get_strings("names") == std::vector<std::string>{"a"});
  CHECK(s.get_ints("ports").empty());
  CHECK(s.get_int("ring.size") == 1024 * 1024);
  CHECK(s.get_int("interval") == 10'000'000'000LL);
  CHECK_FALSE(s.is_set("count"));
}

TEST_CASE("configured values replace defaults; dotted keys are tables") {
  auto s = parse(
      "flag = true\ncount = 7\nmode = \"slow\"\nnames = [\"x\", \"y\"]\n"
      "ports = [80, 443]\ninterval = \"250ms\"\n[ring]\nsize = \"64K\"\n");
  CHECK(s.get_bool("flag"));
  CHECK(s.get_int("count") == 7);
  CHECK(s.is_set("count"));
  CHECK(s.get_string("mode") == "slow");
  CHECK(s.get_strings("names") == std::vector<std::string>{"x", "y"});
  CHECK(s.get_ints("ports") == std::vector<int64_t>{80, 443});
  CHECK(s.get_int("ring.size") == 65536);
  CHECK(s.get_int("interval") == 250'000'000);
  CHECK(parse("ring.size = 8192").get_int("ring.size") == 8192);
}

TEST_CASE("errors name file, line and key") {
  CHECK(error_of("flag = true\nbogus = 1\n") ==
        "test.toml:2: key 'bogus': unknown key (known keys: flag, count, mode, names, ports, "
        "ring.size, interval)");
  CHECK(error_of("\n\nflag = \"yes\"") == "test.toml:3: key 'flag': expected a boolean");
  CHECK(error_of("count = 11") == "test.toml:1: key 'count': value 11 is out of range [1, 10]");
  CHECK(error_of("count = 1.5") == "test.toml:1: key 'count': expected an integer");
  CHECK(error_of("mode = \"medium\"") ==
        "test.toml:1: key 'mode': \"medium\" is not one of fast|slow");
  CHECK(error_of("names = [\"a\", 2]") == "test.toml:1: key 'names': expected an array of strings");
  CHECK(error_of("ports = [80, 70000]") ==
        "test.toml:1: key 'ports': value 70000 is out of range [1, 65535]");
  CHECK(error_of("[ring]\nsize = \"12Q\"") ==
        "test.toml:2: key 'ring.size': expected a size (bytes, or text such as \"8M\")");
  CHECK(error_of("interval = 10") ==
        "test.toml:1: key 'interval': expected a duration (text such as \"10s\" or \"250ms\")");
  CHECK(
      error_of("interval = \"2h\"") ==
      "test.toml:1: key 'interval': value 7200000000000 is out of range [1000000, 3600000000000]");
  CHECK(error_of("[ring]\nsize = 1") ==
        "test.toml:2: key 'ring.size': value 1 is out of range [4096, 1073741824]");
  CHECK(error_of("[ring]\nother = 2").rfind("test.toml:2: key 'ring.other': unknown key", 0) == 0);
}

TEST_CASE("sizes and durations") {
  int64_t v = 0;
  CHECK(leaf::core::parse_size("8M", &v));
  CHECK(v == 8 * 1024 * 1024);
  CHECK(leaf::core::parse_size("512", &v));
  CHECK(v == 512);
  CHECK(leaf::core::parse_size("1G", &v));
  CHECK(v == 1LL << 30);
  CHECK_FALSE(leaf::core::parse_size("M", &v));
  CHECK_FALSE(leaf::core::parse_size("8 parsecs", &v));
  CHECK(leaf::core::parse_duration("1.5s", &v));
  CHECK(v == 1'500'000'000);
  CHECK(leaf::core::parse_duration("100us", &v));
  CHECK(v == 100'000);
  CHECK(leaf::core::parse_duration("2m", &v));
  CHECK(v == 120'000'000'000LL);
  CHECK_FALSE(leaf::core::parse_duration("10", &v));
}

TEST_CASE("conf.d directory: leaf.toml for the host, one file per plugin") {
  leaf::test::TempDir dir;
  dir.write("leaf.toml", "hostname = \"node-7\"\n[log]\nlevel = \"debug\"\n");
  dir.write("process.toml", "enabled = false\n");
  auto cfg = leaf::core::load_config(dir.path());
  CHECK(cfg.host.get_string("hostname") == "node-7");
  CHECK(cfg.host.get_string("log.level") == "debug");
  REQUIRE(cfg.plugins.count("process") == 1);
  auto section = leaf::core::validate_plugin_config("process", &cfg.plugins.at("process"), {});
  CHECK(section.get_bool("enabled") == false);

  dir.write("leaf.toml", "hostname = 3\n");
  try {
    leaf::core::load_config(dir.path());
    FAIL("expected an error");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()) == dir.path() + "/leaf.toml:1: key 'hostname': expected a string");
  }
}

TEST_CASE("a single file holds host keys and [plugins.<name>] sections") {
  leaf::test::TempDir dir;
  std::string f = dir.write("all.toml", "hostname = \"h\"\n[plugins.ticker]\nlabel = \"x\"\n");
  auto cfg = leaf::core::load_config(f);
  CHECK(cfg.host.get_string("hostname") == "h");
  REQUIRE(cfg.plugins.count("ticker") == 1);
  const ConfigOption label[] = {{"label", OptionType::String, "\"\"", 0, 0, nullptr, "l"}};
  auto s = leaf::core::validate_plugin_config("ticker", &cfg.plugins.at("ticker"), label);
  CHECK(s.get_string("label") == "x");
  CHECK(s.get_bool("enabled"));
}

TEST_CASE("syntax errors name the line") {
  leaf::test::TempDir dir;
  dir.write("leaf.toml", "hostname = \"a\"\nthis is not toml\n");
  try {
    leaf::core::load_config(dir.path());
    FAIL("expected an error");
  } catch (const ConfigError& e) {
    CHECK(e.line == 2);
    CHECK(e.file == dir.path() + "/leaf.toml");
  }
}

namespace {
std::string load_error(const std::string& path) {
  try {
    leaf::core::load_config(path);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}
std::string dotted(size_t segments, const std::string& sep = ".") {
  std::string s = "a";
  for (size_t i = 1; i < segments; ++i) s += sep + "a";
  return s;
}
}  // namespace

// Issue 17, defect 2: a table header of 35,000 segments crashed toml++.
TEST_CASE("deeply nested TOML is refused with a message, never parsed") {
  leaf::test::TempDir dir;
  SUBCASE("a table header of 35,000 dotted segments (80 KB)") {
    dir.write("leaf.toml", "hostname = \"h\"\n[" + dotted(35000) + "]\nx = 1\n");
    CHECK(load_error(dir.path()) == dir.path() +
                                        "/leaf.toml:2: refused before parsing: nested 65 tables "
                                        "deep or more (at most 64 are accepted)");
  }
  SUBCASE("a dotted key, quoted segments and spaces") {
    dir.write("ticker.toml", dotted(40000, " . \"b\" .") + " = 1\n");
    CHECK(load_error(dir.path()).find("ticker.toml:1: refused before parsing: nested 65 tables") !=
          std::string::npos);
  }
  SUBCASE("inline tables whose dotted keys add up") {
    std::string text = "x = ";
    for (int i = 0; i < 200; ++i) text += "{ " + dotted(30) + " = ";
    text += "1" + std::string(200, '}') + "\n";
    dir.write("leaf.toml", text);
    CHECK(load_error(dir.path()).find("leaf.toml:1: refused before parsing") != std::string::npos);
  }
  SUBCASE("arrays of arrays") {
    dir.write("leaf.toml", "x = " + std::string(100000, '[') + std::string(100000, ']') + "\n");
    CHECK(load_error(dir.path()).find("leaf.toml:1: refused before parsing") != std::string::npos);
  }
  SUBCASE("a single file") {
    std::string f = dir.write("all.toml", "[plugins." + dotted(100) + "]\n");
    CHECK(load_error(f) == f + ":1: refused before parsing: nested 65 tables deep or more (at "
                               "most 64 are accepted)");
  }
  SUBCASE("depth within the bound, dots in strings, comments and numbers are accepted") {
    dir.write("leaf.toml", "hostname = \"" + dotted(5000) + "\"  # " + dotted(5000) +
                               "\n[plugins_x]\nratio = [1.5, 2.5, 3.5]\n'lit.x' = '" +
                               dotted(5000) + "'\nm = \"\"\"\n" + dotted(5000) + "\n\"\"\"\n");
    std::string e = load_error(dir.path());
    CHECK(e.find("unknown key") != std::string::npos);  // parsed, then validated
    CHECK(e.find("refused before parsing") == std::string::npos);
    dir.write("leaf.toml", "[" + dotted(60) + "]\nx = 1\n");
    CHECK(load_error(dir.path()).find("unknown key") != std::string::npos);
  }
}

TEST_CASE("a directory named like a configuration file, an unreadable conf.d") {
  leaf::test::TempDir dir;
  std::filesystem::create_directories(dir.path() + "/conf.d/leaf.toml");
  CHECK(load_error(dir.path() + "/conf.d") ==
        dir.path() + "/conf.d/leaf.toml: is a directory, expected a TOML file");

  // Unreadable for the user leaf-host runs as (root reads any directory:
  // the check runs in a child as nobody).
  std::filesystem::create_directories(dir.path() + "/locked");
  chmod(dir.path().c_str(), 0755);
  chmod((dir.path() + "/locked").c_str(), 0);
  int pipefd[2];
  REQUIRE(pipe(pipefd) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(3);
    std::string e = load_error(dir.path() + "/locked");
    (void)!write(pipefd[1], e.data(), e.size());
    _exit(0);
  }
  close(pipefd[1]);
  std::string got;
  char buf[512];
  for (ssize_t n; (n = read(pipefd[0], buf, sizeof(buf))) > 0;) got.append(buf, n);
  close(pipefd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  chmod((dir.path() + "/locked").c_str(), 0700);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  CHECK(got == dir.path() + "/locked: cannot be listed: Permission denied");
}

TEST_CASE("sizes and durations too large for 64 bits are refused, not wrapped") {
  int64_t v = 0;
  CHECK_FALSE(leaf::core::parse_size("99999999999999999999G", &v));
  CHECK_FALSE(leaf::core::parse_size("99999999999999999999", &v));
  CHECK_FALSE(leaf::core::parse_duration("99999999999999999999999h", &v));
  CHECK(leaf::core::parse_size("8G", &v));
  CHECK(v == 8LL << 30);
  CHECK(error_of("[ring]\nsize = \"99999999999999999999G\"\n") ==
        "test.toml:2: key 'ring.size': expected a size (bytes, or text such as \"8M\")");
}

TEST_CASE("a quoted key with a newline cannot forge a log line") {
  std::string e = error_of("\"flag\\n[error] forged line\" = true\n");
  CHECK(e.find('\n') == std::string::npos);
  CHECK(e.rfind("test.toml:1: key 'flag\\x0a[error] forged line': unknown key", 0) == 0);
}
