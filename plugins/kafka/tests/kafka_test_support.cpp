#include "kafka_test_support.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

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
// TestHost

namespace {

std::string unquote(const std::string& s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') return s.substr(1, s.size() - 2);
  return s;
}

int64_t scaled(const std::string& text, const std::map<std::string, int64_t>& units) {
  std::string t = unquote(text);
  size_t i = 0;
  while (i < t.size() && (isdigit(static_cast<unsigned char>(t[i])) || t[i] == '-')) ++i;
  int64_t n = std::stoll(t.substr(0, i));
  std::string unit = t.substr(i);
  auto it = units.find(unit);
  if (it == units.end()) throw std::runtime_error("bad unit in '" + text + "'");
  return n * it->second;
}

Value parse_value(sdk::OptionType type, const std::string& text) {
  Value v;
  switch (type) {
    case sdk::OptionType::Bool:
      v.kind = Value::Bool;
      v.b = text == "true";
      break;
    case sdk::OptionType::Int:
      v.kind = Value::Int;
      v.i = std::stoll(text);
      break;
    case sdk::OptionType::Size:
      v.kind = Value::Int;
      v.i = scaled(text, {{"", 1}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}});
      break;
    case sdk::OptionType::Duration:
      v.kind = Value::Int;
      v.i = scaled(text, {{"ns", 1},
                          {"us", 1000},
                          {"ms", 1000000},
                          {"s", 1000000000},
                          {"m", 60000000000},
                          {"h", 3600000000000}});
      break;
    case sdk::OptionType::String:
      v.kind = Value::String;
      v.s = unquote(text);
      break;
    case sdk::OptionType::StringList:
    case sdk::OptionType::IntList: {
      v.kind = Value::List;
      // ["a", "b"]: the quoted items.
      for (size_t q = text.find('"'); q != std::string::npos; q = text.find('"', q + 1)) {
        size_t end = text.find('"', q + 1);
        if (end == std::string::npos) break;
        v.list.push_back(text.substr(q + 1, end - q - 1));
        q = end;
      }
      break;
    }
  }
  return v;
}

}  // namespace

TestHost::TestHost(const sdk::PluginDescriptor* desc,
                   const std::map<std::string, std::string>& config)
    : name_(desc->name) {
  std::map<std::string, std::string> text;
  for (uint32_t i = 0; i < desc->option_count; ++i)
    text[desc->options[i].key] = desc->options[i].default_value;
  for (const auto& [key, value] : config) {
    if (!text.count(key)) throw std::runtime_error("test config: undeclared key " + key);
    text[key] = value;
  }
  for (uint32_t i = 0; i < desc->option_count; ++i) {
    const auto& o = desc->options[i];
    values_[o.key] = parse_value(o.type, text[o.key]);
  }
}

std::vector<std::string> TestHost::logs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return logs_;
}

bool TestHost::logged(const std::string& needle) const {
  for (const auto& l : logs())
    if (l.find(needle) != std::string::npos) return true;
  return false;
}

void TestHost::log(sdk::LogLevel level, sdk::StringView message) noexcept {
  static const char* const kNames[] = {"trace", "debug", "info", "warn", "error"};
  std::string line = std::string("[") + kNames[static_cast<int>(level)] + "] " +
                     std::string(message.data, message.size);
  fprintf(stderr, "%s\n", line.c_str());
  std::lock_guard<std::mutex> lock(mu_);
  logs_.push_back(line);
}

const Value* TestHost::find(sdk::StringView key, Value::Kind kind) const {
  auto it = values_.find(std::string(key.data, key.size));
  return it != values_.end() && it->second.kind == kind ? &it->second : nullptr;
}

sdk::Status TestHost::config_bool(sdk::StringView key, bool* out) const noexcept {
  const Value* v = find(key, Value::Bool);
  if (!v) return sdk::Status::InvalidArgument;
  *out = v->b;
  return sdk::Status::Ok;
}

sdk::Status TestHost::config_int(sdk::StringView key, int64_t* out) const noexcept {
  const Value* v = find(key, Value::Int);
  if (!v) return sdk::Status::InvalidArgument;
  *out = v->i;
  return sdk::Status::Ok;
}

sdk::Status TestHost::config_string(sdk::StringView key, sdk::StringView* out) const noexcept {
  const Value* v = find(key, Value::String);
  if (!v) return sdk::Status::InvalidArgument;
  *out = sdk::StringView{v->s.data(), v->s.size()};
  return sdk::Status::Ok;
}

sdk::Status TestHost::config_list_size(sdk::StringView key, uint32_t* out) const noexcept {
  const Value* v = find(key, Value::List);
  if (!v) return sdk::Status::InvalidArgument;
  *out = static_cast<uint32_t>(v->list.size());
  return sdk::Status::Ok;
}

sdk::Status TestHost::config_list_string(sdk::StringView key, uint32_t index,
                                         sdk::StringView* out) const noexcept {
  const Value* v = find(key, Value::List);
  if (!v || index >= v->list.size()) return sdk::Status::InvalidArgument;
  *out = sdk::StringView{v->list[index].data(), v->list[index].size()};
  return sdk::Status::Ok;
}

sdk::Status TestHost::config_list_int(sdk::StringView, uint32_t, int64_t*) const noexcept {
  return sdk::Status::InvalidArgument;
}

sdk::Status TestHost::add_ring_buffer(const sdk::RingBufferRegistration*) noexcept {
  return sdk::Status::NotSupported;
}
sdk::Status TestHost::emit(const sdk::EventTypeDesc*, const uint8_t*, uint32_t) noexcept {
  return sdk::Status::NotSupported;
}
sdk::Status TestHost::add_timer(uint64_t, sdk::ITimerHandler*) noexcept {
  return sdk::Status::NotSupported;
}
sdk::StringView TestHost::hostname() const noexcept {
  return sdk::StringView{hostname_.data(), hostname_.size()};
}
sdk::StringView TestHost::plugin_name() const noexcept {
  return sdk::StringView{name_.data(), name_.size()};
}

// ---------------------------------------------------------------------------
// LoadedSink

LoadedSink::LoadedSink(const std::map<std::string, std::string>& config) {
  lib_ = dlopen(kafka_plugin_path().c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib_) throw std::runtime_error(std::string("dlopen: ") + dlerror());
  // BOOST_DLL_ALIAS exports a pointer to the entry point.
  auto* alias = static_cast<void**>(dlsym(lib_, sdk::kEntryPointName));
  if (!alias) throw std::runtime_error("no entry point in leaf_kafka.so");
  auto* entry = reinterpret_cast<sdk::EntryPoint*>(*alias);
  desc_ = entry();
  if (desc_->kind != sdk::PluginKind::Sink) throw std::runtime_error("leaf_kafka.so is no sink");
  host_ = new TestHost(desc_, config);
  char error[512] = "";
  sink_ = static_cast<sdk::ISink*>(desc_->create(host_, error, sizeof(error)));
  if (!sink_) throw std::runtime_error(std::string("create: ") + error);
}

LoadedSink::~LoadedSink() {
  if (sink_) sink_->destroy();
  delete host_;
  if (lib_) dlclose(lib_);
}

namespace {
class MapVisitor final : public sdk::ICounterVisitor {
 public:
  explicit MapVisitor(std::map<std::string, int64_t>* out) : out_(out) {}
  void counter(sdk::StringView name, sdk::StringView label, uint64_t value) noexcept override {
    (*out_)[key(name, label)] = static_cast<int64_t>(value);
  }
  void gauge(sdk::StringView name, sdk::StringView label, int64_t value) noexcept override {
    (*out_)[key(name, label)] = value;
  }
  // A histogram as <name>_count and <name>_sum.
  void histogram(sdk::StringView name, sdk::StringView label,
                 const sdk::HistogramView* h) noexcept override {
    uint64_t n = 0;
    for (uint32_t i = 0; i < h->bucket_count; ++i) n += h->counts[i];
    std::string base(name.data, name.size);
    (*out_)[key(sdk::make_view((base + "_count").c_str()), label)] = static_cast<int64_t>(n);
    (*out_)[key(sdk::make_view((base + "_sum").c_str()), label)] = static_cast<int64_t>(h->sum);
  }

 private:
  static std::string key(sdk::StringView name, sdk::StringView label) {
    std::string k(name.data, name.size);
    if (label.size) k += "{" + std::string(label.data, label.size) + "}";
    return k;
  }
  std::map<std::string, int64_t>* out_;
};
}  // namespace

std::map<std::string, int64_t> LoadedSink::counters() const {
  std::map<std::string, int64_t> out;
  MapVisitor v(&out);
  sink_->read_counters(&v);
  return out;
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
