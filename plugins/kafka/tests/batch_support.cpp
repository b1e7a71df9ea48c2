#include "batch_support.hpp"

#include <unistd.h>

#include <cstdio>
#include <stdexcept>

namespace leaf::kafka::test {

namespace {

using Clock = std::chrono::steady_clock;

std::string run(const std::string& command) {
  FILE* f = popen(command.c_str(), "r");
  if (!f) throw std::runtime_error("popen failed: " + command);
  std::string out;
  char buf[65536];
  for (size_t n; (n = fread(buf, 1, sizeof(buf), f)) > 0;) out.append(buf, n);
  pclose(f);
  return out;
}

void split(BatchRecord& r) {
  r.lines.clear();
  size_t pos = 0;
  for (size_t nl; (nl = r.value.find('\n', pos)) != std::string::npos; pos = nl + 1)
    r.lines.push_back(r.value.substr(pos, nl - pos));
  r.terminated = pos == r.value.size();
  if (!r.terminated) r.lines.push_back(r.value.substr(pos));
}

// "a=b,c=d" as kcat's %h prints headers.
std::map<std::string, std::string> parse_headers(const std::string& text) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t comma = text.find(',', pos);
    std::string item =
        text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    size_t eq = item.find('=');
    if (eq != std::string::npos) out[item.substr(0, eq)] = item.substr(eq + 1);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

std::string field(const std::string& text, size_t& pos) {
  size_t tab = text.find('\t', pos);
  if (tab == std::string::npos) throw std::runtime_error("kcat output cut short");
  std::string f = text.substr(pos, tab - pos);
  pos = tab + 1;
  return f;
}

}  // namespace

size_t total_lines(const std::vector<BatchRecord>& records) {
  size_t n = 0;
  for (const auto& r : records) n += r.lines.size();
  return n;
}

std::vector<BatchRecord> consume_batches(const std::string& bootstrap, const std::string& topic,
                                         size_t events, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  std::vector<BatchRecord> records;
  do {
    // partition, offset, key length, headers, value length, then the value's
    // bytes (which hold newlines).
    std::string text = run("kcat -b " + bootstrap + " -C -t " + topic +
                           " -o beginning -e -q -m 10 -f '%p\\t%o\\t%K\\t%h\\t%S\\t%s'");
    records.clear();
    size_t pos = 0;
    while (pos < text.size()) {
      BatchRecord r;
      r.partition = std::stoi(field(text, pos));
      r.offset = std::stoll(field(text, pos));
      r.has_key = field(text, pos) != "-1";
      r.headers = parse_headers(field(text, pos));
      size_t size = std::stoul(field(text, pos));
      if (pos + size > text.size()) throw std::runtime_error("kcat output cut short");
      r.value = text.substr(pos, size);
      pos += size;
      split(r);
      records.push_back(std::move(r));
    }
    if (total_lines(records) >= events) break;
    usleep(200 * 1000);
  } while (Clock::now() < deadline);
  return records;
}

std::vector<BatchRecord> consume_batches_python(const std::string& bootstrap,
                                                const std::string& topic, size_t messages,
                                                std::chrono::seconds timeout) {
  std::string text =
      run("/usr/bin/python3 " LEAF_KAFKA_TESTS_DIR "/read_topic.py " + bootstrap + " " + topic +
          " " + std::to_string(messages) + " " + std::to_string(timeout.count()));
  std::vector<BatchRecord> records;
  size_t pos = 0;
  for (size_t nl; (nl = text.find('\n', pos)) != std::string::npos; pos = nl + 1) {
    Json j = Json::parse(text.substr(pos, nl - pos));
    BatchRecord r;
    r.partition = j["partition"].get<int>();
    r.offset = j["offset"].get<int64_t>();
    r.has_key = !j["key"].is_null();
    for (const auto& [k, v] : j["headers"].items()) r.headers[k] = v.get<std::string>();
    r.value = j["value"].get<std::string>();
    split(r);
    records.push_back(std::move(r));
  }
  return records;
}

}  // namespace leaf::kafka::test
