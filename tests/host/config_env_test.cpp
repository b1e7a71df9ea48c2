// ${VAR} references and secret files, through the real leaf-host: exit codes,
// the messages that name file, key and line, and secrets never shown.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <filesystem>

#include "harness.hpp"

using namespace leaf::test;

namespace {
std::string fake(const std::string& name) {
  return std::string(LEAF_TEST_FAKE_PLUGIN_DIR) + "/" + name;
}

// leaf-host with a conf.d of `files` and the given plugins (file names in the
// fake plugin dir, or absolute paths); returns the exit code, output in *out.
int run_with(const TempDir& dir, const std::map<std::string, std::string>& files, std::string* out,
             std::vector<std::string> extra = {},
             std::vector<std::string> plugins = {"leaf_ticker.so"}) {
  std::filesystem::remove_all(dir.path() + "/conf.d");
  std::filesystem::remove_all(dir.path() + "/plugins");
  std::filesystem::create_directories(dir.path() + "/conf.d");
  std::filesystem::create_directories(dir.path() + "/plugins");
  for (const auto& [name, text] : files) dir.write("conf.d/" + name, text);
  for (const auto& p : plugins) {
    std::string src = p.front() == '/' ? p : fake(p);
    std::filesystem::create_symlink(
        src, dir.path() + "/plugins/" + std::filesystem::path(src).filename().string());
  }
  std::vector<std::string> argv = {host_binary(), "--config", dir.path() + "/conf.d",
                                   "--plugins-dir", dir.path() + "/plugins"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return run_command(argv, out);
}

std::string secret_file(const TempDir& dir, const std::string& name, const std::string& value,
                        mode_t mode) {
  std::string path = dir.write(name, value + "\n");
  REQUIRE(chmod(path.c_str(), mode) == 0);
  return path;
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}
}  // namespace

TEST_CASE(
    "an environment reference reaches the plugin; unset, it is exit 2 naming file, key, line") {
  TempDir dir;
  std::string out;
  setenv("LEAF_TEST_TICK_LABEL", "from-env", 1);
  CHECK(run_with(dir, {{"ticker.toml", "count = 2\nlabel = \"${LEAF_TEST_TICK_LABEL}\"\n"}}, &out,
                 {"--duration", "1"}) == 0);
  CHECK(has(out, "\"label\":\"from-env\""));
  unsetenv("LEAF_TEST_TICK_LABEL");

  CHECK(run_with(dir, {{"ticker.toml", "count = 2\nlabel = \"${LEAF_TEST_TICK_LABEL:-dflt}\"\n"}},
                 &out, {"--duration", "1"}) == 0);
  CHECK(has(out, "\"label\":\"dflt\""));

  CHECK(run_with(dir, {{"ticker.toml", "count = 2\n\nlabel = \"x-${LEAF_TEST_TICK_LABEL}\"\n"}},
                 &out) == 2);
  CHECK(has(out, dir.path() + "/conf.d/ticker.toml:3: key 'label': environment variable "
                              "LEAF_TEST_TICK_LABEL is not set (give a default with "
                              "${LEAF_TEST_TICK_LABEL:-default})"));

  // leaf.toml too, and nested keys by their dotted name.
  CHECK(run_with(dir, {{"leaf.toml", "[metrics]\nlisten = \"${LEAF_TEST_NO_SUCH_VAR}\"\n"}},
                 &out) == 2);
  CHECK(has(
      out,
      "leaf.toml:2: key 'metrics.listen': environment variable LEAF_TEST_NO_SUCH_VAR is not set"));
}

TEST_CASE("secret files: a missing or world-readable one is exit 2 naming it") {
  TempDir dir;
  std::string out;
  std::string open = secret_file(dir, "open-pw", "open-secret-value", 0644);
  CHECK(run_with(dir, {{"ticker.toml", "label = \"${file:" + open + "}\"\n"}}, &out) == 2);
  CHECK(has(out, "ticker.toml:1: key 'label': secret file " + open +
                     " is readable by every user (mode 0644)"));
  CHECK_FALSE(has(out, "open-secret-value"));

  CHECK(run_with(dir, {{"ticker.toml", "label = \"${file:" + dir.path() + "/absent}\"\n"}}, &out) ==
        2);
  CHECK(has(out, "ticker.toml:1: key 'label': secret file " + dir.path() +
                     "/absent: No such file or directory"));
}

TEST_CASE("a secret value is never shown: configuration errors, log lines, --list-plugins") {
  TempDir dir;
  std::string out;
  std::string pw = secret_file(dir, "pw", "Hunter2-Secret-Zq", 0600);
  // A value the plugin refuses is quoted in the error: redacted.
  CHECK(run_with(dir, {{"ticker.toml", "mode = \"${file:" + pw + "}\"\n"}}, &out) == 2);
  CHECK(has(out,
            "ticker.toml:1: key 'mode': \"[secret]\" is not one of normal|oversized|undersized"));
  CHECK_FALSE(has(out, "Hunter2-Secret-Zq"));

  // A secret used where it is fine: --list-plugins (at log level debug) never prints it.
  CHECK(run_with(dir,
                 {{"leaf.toml", "log.level = \"debug\"\n"},
                  {"ticker.toml", "count = 1\nlabel = \"${file:" + pw + "}\"\n"}},
                 &out, {"--list-plugins"}) == 0);
  CHECK(has(out, "ticker 1.0.0"));
  CHECK_FALSE(has(out, "Hunter2-Secret-Zq"));
}

#ifdef LEAF_TEST_KAFKA_PLUGIN
TEST_CASE("kafka: sasl.password from a secret file; --check and errors never show it") {
  TempDir dir;
  std::string out;
  std::string pw = secret_file(dir, "kafka-pw", "Kafka-Pw-9x7Q", 0400);
  std::string kafka =
      "enabled = true\nbrokers = \"127.0.0.1:1\"\nconnect_check = \"10ms\"\n"
      "properties = [\"security.protocol=SASL_PLAINTEXT\", \"sasl.mechanism=PLAIN\",\n"
      "  \"sasl.username=leaf\", \"sasl.password=${file:" +
      pw + "}\"]\n";
  std::vector<std::string> plugins = {"leaf_ticker.so", LEAF_TEST_KAFKA_PLUGIN};
  CHECK(run_with(dir, {{"kafka.toml", kafka}}, &out, {"--check"}, plugins) == 0);
  CHECK(has(out, "plugin kafka (sink,"));
  CHECK_FALSE(has(out, "Kafka-Pw-9x7Q"));
  CHECK(run_with(dir, {{"kafka.toml", kafka}}, &out, {"--list-plugins"}, plugins) == 0);
  CHECK_FALSE(has(out, "Kafka-Pw-9x7Q"));

  // librdkafka quotes a bad value in its error: the secret is redacted there too.
  std::string bad =
      "enabled = true\nbrokers = \"127.0.0.1:1\"\n"
      "properties = [\"security.protocol=${file:" +
      pw + "}\"]\n";
  CHECK(run_with(dir, {{"kafka.toml", bad}}, &out, {"--check"}, plugins) == 1);
  CHECK(has(out, "[secret]"));
  CHECK_FALSE(has(out, "Kafka-Pw-9x7Q"));
}
#endif
