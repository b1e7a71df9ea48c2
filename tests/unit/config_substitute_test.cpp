// ${VAR}, ${VAR:-default} and ${file:/path} in configuration values
// (config/substitute.hpp), and the redaction of secrets (config/secrets.hpp).
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <map>
#include <stdexcept>
#include <string>

#include "config/config_section.hpp"
#include "config/host_config.hpp"
#include "config/secrets.hpp"
#include "config/substitute.hpp"
#include "harness.hpp"

using namespace leaf::core;

namespace {

SubstitutionSources fake_env(std::map<std::string, std::string> vars) {
  SubstitutionSources s;
  s.env = [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  s.file = [](const std::string& path) -> std::string { return "<content of " + path + ">"; };
  return s;
}

std::string error_of(const std::string& text, const SubstitutionSources& src) {
  try {
    expand_references(text, src);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "no error";
}

std::string write_mode(const leaf::test::TempDir& dir, const std::string& name,
                       const std::string& content, mode_t mode) {
  std::string path = dir.write(name, content);
  REQUIRE(chmod(path.c_str(), mode) == 0);
  return path;
}

}  // namespace

TEST_CASE("environment references are replaced, defaults apply when unset or empty") {
  auto env = fake_env({{"NODE", "node-7"}, {"EMPTY", ""}, {"PORT", "9464"}});
  CHECK(expand_references("${NODE}", env) == "node-7");
  CHECK(expand_references("host-${NODE}.example:${PORT}", env) == "host-node-7.example:9464");
  CHECK(expand_references("${MISSING:-fallback}", env) == "fallback");
  CHECK(expand_references("${EMPTY:-fallback}", env) == "fallback");
  CHECK(expand_references("${NODE:-fallback}", env) == "node-7");
  CHECK(expand_references("${MISSING:-}", env) == "");
  CHECK(expand_references("${EMPTY}", env) == "");
  CHECK(expand_references("no references, $HOME and $ alone", env) ==
        "no references, $HOME and $ alone");
  CHECK(expand_references("literal $${NODE}", env) == "literal ${NODE}");
  CHECK(expand_references("${file:/run/secrets/pw}", env) == "<content of /run/secrets/pw>");
}

TEST_CASE("bad references are errors that say what is wrong") {
  auto env = fake_env({});
  CHECK(error_of("${MISSING}", env) ==
        "environment variable MISSING is not set (give a default with ${MISSING:-default})");
  CHECK(error_of("x ${OPEN", env) == "\"${\" without a closing \"}\" (write $${ for a literal ${)");
  CHECK(error_of("${}", env).find("not a variable name") != std::string::npos);
  CHECK(error_of("${9LIVES}", env).find("not a variable name") != std::string::npos);
  CHECK(error_of("${A-B}", env).find("not a variable name") != std::string::npos);
  CHECK(error_of("${file:}", env) == "${file:} names no file");
}

TEST_CASE(
    "substitution covers strings at any depth and in arrays; errors name file, key and line") {
  auto env = fake_env({{"BROKER", "kafka-0:9092"}, {"PW_FILE", "/x"}});
  toml::table t = toml::parse(
      "brokers = \"${BROKER}\"\ncount = 3\n[sub.deeper]\nlist = [\"a\", \"${BROKER:-b}\"]\n");
  substitute_references(t, "kafka.toml", env);
  CHECK(t["brokers"].value_or(std::string()) == "kafka-0:9092");
  CHECK(t["count"].value_or(0) == 3);
  CHECK(t["sub"]["deeper"]["list"][1].value_or(std::string()) == "kafka-0:9092");

  toml::table bad = toml::parse("a = 1\n\n[sink]\nnames = [\"ok\",\n  \"${NOT_SET_ANYWHERE}\"]\n");
  try {
    substitute_references(bad, "conf.d/kafka.toml", env);
    FAIL("no error");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()) ==
          "conf.d/kafka.toml:5: key 'sink.names': environment variable NOT_SET_ANYWHERE is not set "
          "(give a default with ${NOT_SET_ANYWHERE:-default})");
    CHECK(e.line == 5);
    CHECK(e.key == "sink.names");
  }
}

TEST_CASE("load_config expands references from the real environment") {
  leaf::test::TempDir dir;
  dir.write("conf.d/leaf.toml", "hostname = \"${LEAF_SUBST_TEST_HOST}\"\n");
  setenv("LEAF_SUBST_TEST_HOST", "edge-42", 1);
  LoadedConfig cfg = load_config(dir.path() + "/conf.d");
  CHECK(cfg.host.get_string("hostname") == "edge-42");
  unsetenv("LEAF_SUBST_TEST_HOST");
  try {
    load_config(dir.path() + "/conf.d");
    FAIL("no error");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()) == dir.path() +
                                       "/conf.d/leaf.toml:1: key 'hostname': environment "
                                       "variable LEAF_SUBST_TEST_HOST is not set (give a "
                                       "default with ${LEAF_SUBST_TEST_HOST:-default})");
  }
}

TEST_CASE(
    "secret files: private ones are read and registered; missing or world-readable ones refused") {
  leaf::test::TempDir dir;
  std::string ok = write_mode(dir, "pw", "s3cr3t-Unit-Value\n", 0600);
  std::string group = write_mode(dir, "pw-group", "group-readable-secret", 0440);
  std::string open = write_mode(dir, "pw-open", "anyone", 0644);
  std::string empty = write_mode(dir, "pw-empty", "\n", 0600);

  CHECK(read_secret_file(ok) == "s3cr3t-Unit-Value");  // one trailing newline removed
  CHECK(read_secret_file(group) == "group-readable-secret");
  CHECK(holds_secret("password=s3cr3t-Unit-Value"));
  CHECK(redact("sasl.password=s3cr3t-Unit-Value; again s3cr3t-Unit-Value") ==
        "sasl.password=[secret]; again [secret]");
  CHECK(redact("nothing secret here") == "nothing secret here");

  auto refused = [](const std::string& path) {
    try {
      read_secret_file(path);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(refused(open) == "secret file " + open +
                             " is readable by every user (mode 0644): make it private (chmod o-r; "
                             "Kubernetes: defaultMode 0440 or 0400)");
  CHECK(refused(dir.path() + "/nope") ==
        "secret file " + dir.path() + "/nope: No such file or directory");
  CHECK(refused(empty) == "secret file " + empty + " is empty");
  CHECK(refused(dir.path()) == "secret file " + dir.path() + " is not a regular file");
  CHECK_FALSE(holds_secret("anyone"));  // a refused file's content is not read

  // A configuration error that quotes a secret value shows it redacted.
  ConfigError e("kafka.toml", 3, "mode", "\"s3cr3t-Unit-Value\" is not one of a|b");
  CHECK(std::string(e.what()) == "kafka.toml:3: key 'mode': \"[secret]\" is not one of a|b");
}
