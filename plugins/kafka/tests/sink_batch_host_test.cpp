// json-batch in the real leaf-host with the real process probe: marker
// commands' process_exec events arrive inside batch messages, each line the
// very JSON the host printed on its JSON-lines output, on the partition
// librdkafka's default partitioner (consistent_random: CRC-32 of the key
// modulo the partition count, zlib's crc32 here) gives its pid key; headers
// name the format and the count. Read back with kcat from leaf-mock-kafka.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <random>
#include <string>
#include <vector>

#include "batch_support.hpp"
#include "harness.hpp"
#include "kafka_test_support.hpp"

namespace {

using leaf::kafka::test::BatchRecord;
using leaf::kafka::test::consume_batches;
using leaf::kafka::test::MockKafka;
using leaf::test::HostOptions;
using leaf::test::LeafHost;
using Json = nlohmann::json;
using namespace std::chrono_literals;

constexpr int kPartitions = 5;

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

bool is_exec_of(const Json& e, pid_t pid) {
  return e.contains("data") && e["data"].value("type", "") == "process_exec" &&
         e["data"].value("pid", -1) == pid;
}

}  // namespace

TEST_CASE("leaf-host, json-batch: markers' process_exec in batches, on their pid's partition") {
  MockKafka mock({"--topic", "system.events.process:" + std::to_string(kPartitions)});
  HostOptions o;
  o.plugins = {"process", leaf::kafka::test::kafka_plugin_path()};
  o.config["process.toml"] = "[events]\nfork = false\nexit = false\n";
  o.config["kafka.toml"] = "brokers = \"" + mock.bootstrap() + "\"\nformat = \"json-batch\"\n";
  LeafHost host(o);
  host.start();
  std::random_device rd;
  std::vector<std::pair<pid_t, Json>> markers;
  for (int i = 0; i < 5; ++i) {
    std::string marker =
        "leaf-batch-marker-" + std::to_string(getpid()) + "-" + std::to_string(rd());
    pid_t pid = run_exec({"/bin/true", marker});
    markers.emplace_back(pid,
                         host.wait_for([pid](const Json& e) { return is_exec_of(e, pid); }, 20s));
  }
  CHECK(host.stop() == 0);  // flushes: what the broker holds is final

  std::vector<BatchRecord> records;
  size_t found = 0;
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (found < markers.size() && std::chrono::steady_clock::now() < deadline) {
    records = consume_batches(mock.bootstrap(), "system.events.process", 0, 0ms);
    found = 0;
    for (const auto& r : records)
      for (const auto& line : r.lines)
        for (const auto& [pid, printed] : markers) found += is_exec_of(Json::parse(line), pid);
    if (found < markers.size()) usleep(200 * 1000);
  }
  REQUIRE(found == markers.size());
  for (const auto& r : records) {
    CHECK(r.headers.at("leaf.format") == "json-batch");
    CHECK(r.headers.at("leaf.count") == std::to_string(r.lines.size()));
    CHECK(r.terminated);
    for (const auto& line : r.lines) {
      Json j = Json::parse(line);
      for (const auto& [pid, printed] : markers) {
        if (!is_exec_of(j, pid)) continue;
        CHECK(j == printed);  // the JSON-lines event, line for line
        std::string key = std::to_string(pid);
        auto crc = crc32(0, reinterpret_cast<const Bytef*>(key.data()), key.size());
        CHECK(r.partition == static_cast<int>(crc % kPartitions));
      }
    }
  }
}
