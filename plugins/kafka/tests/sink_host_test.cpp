// The Kafka sink in the real leaf-host with the real process probe: an exec
// on this machine arrives on system.events.process, keyed by its pid, as the
// very JSON the host printed on its JSON-lines output; read back with kcat
// from leaf-mock-kafka running in its own process.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "harness.hpp"
#include "kafka_test_support.hpp"

namespace {

using leaf::kafka::test::consume_until;
using leaf::kafka::test::MockKafka;
using leaf::kafka::test::Record;
using leaf::test::HostOptions;
using leaf::test::LeafHost;
using Json = nlohmann::json;
using namespace std::chrono_literals;

std::string unique_marker() {
  std::random_device rd;
  return "leaf-kafka-marker-" + std::to_string(getpid()) + "-" + std::to_string(rd());
}

// fork + exec of argv; returns the child's pid once it has exited.
pid_t run_exec(const std::vector<std::string>& argv) {
  pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  waitpid(pid, nullptr, 0);
  return pid;
}

HostOptions host_options(const std::string& kafka_toml) {
  HostOptions o;
  o.plugins = {"process", leaf::kafka::test::kafka_plugin_path()};
  o.config["process.toml"] = "[events]\nfork = false\nexit = false\n";
  o.config["kafka.toml"] = kafka_toml;
  return o;
}

std::function<bool(const Record&)> exec_record(pid_t pid) {
  return [pid](const Record& r) {
    Json j = Json::parse(r.payload);
    return j["data"].value("type", "") == "process_exec" && j["data"].value("pid", -1) == pid;
  };
}

std::function<bool(const Json&)> exec_event(pid_t pid) {
  return [pid](const Json& e) {
    return e.contains("data") && e["data"].value("type", "") == "process_exec" &&
           e["data"].value("pid", -1) == pid;
  };
}

}  // namespace

TEST_CASE("leaf-host with the process probe: a marker's process_exec on Kafka, keyed by pid") {
  MockKafka mock;
  LeafHost host(host_options("brokers = \"" + mock.bootstrap() + "\"\n"));
  host.start();
  CHECK(host.stderr_text().find("Kafka sink: connected to " + mock.bootstrap()) !=
        std::string::npos);
  const std::vector<std::string> argv = {"/bin/true", unique_marker(), "alpha"};
  pid_t pid = run_exec(argv);
  Json printed = host.wait_for(exec_event(pid), 20s);
  // Stopping flushes the sink: what Kafka holds afterwards is final.
  CHECK(host.stop() == 0);

  auto records = consume_until(mock.bootstrap(), "system.events.process", exec_record(pid));
  std::vector<Record> mine;
  for (const auto& r : records)
    if (exec_record(pid)(r)) mine.push_back(r);
  REQUIRE(mine.size() == 1);
  const Record& r = mine[0];
  CHECK(r.key == std::to_string(pid));
  Json j = Json::parse(r.payload);
  // The Kafka message is the JSON-lines event, byte for byte in meaning.
  CHECK(j == printed);
  // SPEC.md §2 envelope and the process_exec fields.
  CHECK(j["type"] == "process");
  CHECK(j["timestamp"].is_number_unsigned());
  CHECK(j["hostname"].is_string());
  CHECK(j["data"]["type"] == "process_exec");
  for (const char* field : {"pid", "tgid", "ppid", "uid", "gid", "comm", "filename", "cmdline",
                            "cmdline_truncated", "cgroup_id"})
    CHECK_MESSAGE(j["data"].contains(field), field);
  CHECK(j["data"]["pid"] == pid);
  CHECK(j["data"]["tgid"] == pid);
  CHECK(j["data"]["ppid"] == getpid());
  CHECK(j["data"]["uid"] == getuid());
  CHECK(j["data"]["gid"] == getgid());
  CHECK(j["data"]["comm"] == "true");
  CHECK(j["data"]["filename"] == "/bin/true");
  CHECK(j["data"]["cmdline"] == "/bin/true " + argv[1] + " alpha");
  CHECK(j["data"]["cmdline_truncated"] == false);
}

TEST_CASE("leaf-host with no broker at startup: runs, says so, delivers once it appears") {
  MockKafka mock({"--down"});
  LeafHost host(host_options("brokers = \"" + mock.bootstrap() + "\"\n"));
  host.start();
  CHECK(host.stderr_text().find("no Kafka broker reachable at " + mock.bootstrap()) !=
        std::string::npos);
  const std::vector<std::string> before = {"/bin/true", unique_marker()};
  pid_t pid_before = run_exec(before);
  host.wait_for(exec_event(pid_before), 20s);
  mock.command("up");
  const std::vector<std::string> after = {"/bin/true", unique_marker()};
  pid_t pid_after = run_exec(after);
  host.wait_for(exec_event(pid_after), 20s);
  auto records = consume_until(mock.bootstrap(), "system.events.process", exec_record(pid_after));
  CHECK(host.stop() == 0);
  records = consume_until(mock.bootstrap(), "system.events.process", exec_record(pid_before));
  size_t found_before = 0, found_after = 0;
  for (const auto& r : records) {
    found_before += exec_record(pid_before)(r);
    found_after += exec_record(pid_after)(r);
  }
  CHECK(found_before == 1);
  CHECK(found_after == 1);
  CHECK(host.stderr_text().find("broker reachable again") != std::string::npos);
}

TEST_CASE("an invalid librdkafka property stops leaf-host with exit 2, naming the key") {
  LeafHost host(host_options("brokers = \"127.0.0.1:1\"\nproperties = [\"no.such.property=1\"]\n"));
  std::string out;
  int status = leaf::test::run_command({leaf::test::host_binary(), "--config", host.config_dir(),
                                        "--plugins-dir", host.plugins_dir(), "--duration", "5"},
                                       &out);
  CHECK(status == 2);
  CHECK(out.find("no.such.property") != std::string::npos);
}

TEST_CASE("the shipped conf.d: the Kafka sink stays off, leaf-host runs without a broker") {
  std::string out;
  LeafHost host(host_options(""));
  // The repository's conf.d/kafka.toml as it ships.
  std::ifstream in(leaf::test::source_dir() + "/conf.d/kafka.toml");
  std::string shipped((std::istreambuf_iterator<char>(in)), {});
  REQUIRE(!shipped.empty());
  std::ofstream(host.config_dir() + "/kafka.toml") << shipped;
  int status = leaf::test::run_command({leaf::test::host_binary(), "--config", host.config_dir(),
                                        "--plugins-dir", host.plugins_dir(), "--duration", "1"},
                                       &out);
  CHECK(status == 0);
  CHECK(out.find("Kafka sink") == std::string::npos);
}

TEST_CASE("the sink enabled with no broker configured: exit 2 and what to set") {
  LeafHost host(host_options("enabled = true\nbrokers = \"\"\n"));
  std::string out;
  int status = leaf::test::run_command({leaf::test::host_binary(), "--config", host.config_dir(),
                                        "--plugins-dir", host.plugins_dir(), "--duration", "5"},
                                       &out);
  CHECK(status == 2);
  CHECK(out.find("no Kafka broker configured: set brokers") != std::string::npos);
}
