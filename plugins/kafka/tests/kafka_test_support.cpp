#include "kafka_test_support.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace leaf::kafka::test {

using Clock = std::chrono::steady_clock;

std::string mock_kafka_binary() { return LEAF_MOCK_KAFKA_BINARY; }
std::string kafka_plugin_path() { return LEAF_KAFKA_PLUGIN; }

namespace {

pid_t spawn(const std::vector<std::string>& argv, int stdin_fd, int stdout_fd) {
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    if (stdin_fd >= 0) dup2(stdin_fd, 0);
    if (stdout_fd >= 0) dup2(stdout_fd, 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

// ---------------------------------------------------------------------------
// MockKafka

MockKafka::MockKafka(std::vector<std::string> args) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe failed");
  args.insert(args.begin(), mock_kafka_binary());
  pid_ = spawn(args, in[0], out[1]);
  close(in[0]);
  close(out[1]);
  in_fd_ = in[1];
  out_fd_ = out[0];
  bootstrap_ = read_line(30s);
  if (bootstrap_.find(':') == std::string::npos)
    throw std::runtime_error("leaf-mock-kafka printed no bootstrap address: '" + bootstrap_ + "'");
}

MockKafka::~MockKafka() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    wait_exit(pid_);
  }
  close(in_fd_);
  close(out_fd_);
}

std::string MockKafka::read_line(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    auto nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) throw std::runtime_error("leaf-mock-kafka did not answer in time");
    pollfd p{out_fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[1024];
    ssize_t n = read(out_fd_, buf, sizeof(buf));
    if (n <= 0) throw std::runtime_error("leaf-mock-kafka exited");
    buffer_.append(buf, static_cast<size_t>(n));
  }
}

std::string MockKafka::command(const std::string& line) {
  std::string text = line + "\n";
  if (write(in_fd_, text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    throw std::runtime_error("writing to leaf-mock-kafka failed");
  std::string answer = read_line(10s);
  if (answer.rfind("ok", 0) != 0)
    throw std::runtime_error("leaf-mock-kafka: '" + line + "' -> '" + answer + "'");
  return answer;
}

// ---------------------------------------------------------------------------
// kcat

std::vector<Record> consume(const std::string& bootstrap, const std::string& topic, size_t expected,
                            std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  std::vector<Record> records;
  do {
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    // One line per message: topic, partition, offset, key length (-1: no
    // key), key, payload; tab-separated (JSON payloads hold no raw tab or newline).
    pid_t pid = spawn({"kcat", "-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
                       "-m", "10", "-f", "%t\\t%p\\t%o\\t%K\\t%k\\t%s\\n"},
                      -1, out[1]);
    close(out[1]);
    std::string text;
    char buf[65536];
    for (ssize_t n; (n = read(out[0], buf, sizeof(buf))) > 0;) text.append(buf, n);
    close(out[0]);
    wait_exit(pid);
    records.clear();
    size_t pos = 0;
    for (auto nl = text.find('\n'); nl != std::string::npos;
         pos = nl + 1, nl = text.find('\n', pos)) {
      std::string line = text.substr(pos, nl - pos);
      std::vector<std::string> f;
      size_t start = 0;
      for (int i = 0; i < 5; ++i) {
        size_t tab = line.find('\t', start);
        if (tab == std::string::npos) break;
        f.push_back(line.substr(start, tab - start));
        start = tab + 1;
      }
      if (f.size() != 5) throw std::runtime_error("kcat printed '" + line + "'");
      Record r;
      r.topic = f[0];
      r.partition = std::stoi(f[1]);
      r.offset = std::stoll(f[2]);
      r.has_key = f[3] != "-1";
      r.key = f[4];
      r.payload = line.substr(start);
      records.push_back(std::move(r));
    }
    if (records.size() >= expected) break;
    usleep(200 * 1000);
  } while (Clock::now() < deadline);
  return records;
}

std::vector<Record> consume_until(const std::string& bootstrap, const std::string& topic,
                                  const std::function<bool(const Record&)>& match,
                                  std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    auto records = consume(bootstrap, topic, 0, 0ms);
    for (const auto& r : records)
      if (match(r)) return records;
    if (Clock::now() >= deadline) return records;
    usleep(200 * 1000);
  }
}

// ---------------------------------------------------------------------------
// LoadedSink

namespace {
sdk::testing::Overrides with_thread_mode(sdk::testing::Overrides config) {
  if (sink_threaded()) config.emplace("thread", "true");
  return config;
}
}  // namespace

bool sink_threaded() {
  const char* v = std::getenv("LEAF_KAFKA_TEST_THREAD");
  return v && std::string(v) == "1";
}

LoadedSink::LoadedSink(const sdk::testing::Overrides& config)
    : host_(kafka_plugin_path(), with_thread_mode(config)) {
  if (!host_.sink()) throw std::runtime_error("leaf_kafka.so is no sink");
}

sdk::SinkMessage message(sdk::Category category, const std::string& event_type,
                         const std::string& key, const std::string& json, uint64_t ts_ns) {
  return sdk::SinkMessage{sizeof(sdk::SinkMessage),
                          category,
                          {event_type.data(), event_type.size()},
                          {key.data(), key.size()},
                          {json.data(), json.size()},
                          ts_ns};
}

std::string test_event_json(uint64_t seq, uint64_t ts_ns) {
  return "{\"type\":\"process\",\"timestamp\":" + std::to_string(ts_ns) +
         ",\"hostname\":\"leaf-test-host\",\"data\":{\"type\":\"test_event\",\"pid\":" +
         std::to_string(seq) + ",\"seq\":" + std::to_string(seq) + "}}";
}

}  // namespace leaf::kafka::test
