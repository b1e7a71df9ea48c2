// Unit test of the line_file example with the SDK's TestHost: no leaf-host,
// no root. Exits 0 when every check holds; prints each failure.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <leaf/sdk/testing/test_host.hpp>
#include <sstream>
#include <stdexcept>
#include <string>

namespace {

using namespace leaf::sdk;
using leaf::sdk::testing::TestHost;

int failures = 0;
#define EXPECT(cond)                                                          \
  do {                                                                        \
    if (!(cond)) {                                                            \
      std::fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                             \
    }                                                                         \
  } while (0)

SinkMessage message(const std::string& json) {
  return SinkMessage{sizeof(SinkMessage),
                     Category::Process,
                     make_view("exec"),
                     make_view("42"),
                     StringView{json.data(), json.size()},
                     0};
}

std::string read_all(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s path/to/leaf_line_file.so\n", argv[0]);
    return 2;
  }
  const std::string so = argv[1];
  char dir[] = "/tmp/leaf-line-file-XXXXXX";
  if (!mkdtemp(dir)) return 2;
  const std::string path = std::string(dir) + "/events.jsonl";
  {
    TestHost host(so, {{"path", "\"" + path + "\""}, {"flush_interval", "\"1h\""}});
    host.open();
    const std::string a = R"({"type":"process","data":{"pid":1}})";
    const std::string b = R"({"type":"process","data":{"pid":2}})";
    auto ma = message(a), mb = message(b);
    EXPECT(host.sink()->write(&ma) == Status::Ok);
    EXPECT(host.sink()->write(&mb) == Status::Ok);
    host.sink()->poll();  // within flush_interval: still buffered
    EXPECT(read_all(path).empty());
    EXPECT(host.sink()->flush(1000) == Status::Ok);
    EXPECT(read_all(path) == a + "\n" + b + "\n");
    auto counters = host.counters();
    EXPECT(counters["line_file_lines_total"] == 2);
    EXPECT(counters["line_file_bytes_total"] == static_cast<int64_t>(a.size() + b.size() + 2));
    EXPECT(counters["line_file_write_errors_total"] == 0);
    EXPECT(host.sink()->healthy() == 1);
  }
  {
    TestHost host(so, {{"path", "\"" + std::string(dir) + "/missing/events.jsonl\""}});
    bool refused = false;
    try {
      host.open();
    } catch (const std::runtime_error& e) {
      refused = std::string(e.what()).find("No such file or directory") != std::string::npos;
    }
    EXPECT(refused);
  }
  {
    bool refused = false;  // a key the sink does not declare, as leaf-host refuses it
    try {
      TestHost host(so, {{"path", "\"x\""}, {"colour", "\"red\""}});
    } catch (const std::runtime_error& e) {
      refused = std::string(e.what()).find("colour") != std::string::npos;
    }
    EXPECT(refused);
  }
  unlink(path.c_str());
  rmdir(dir);
  if (failures) return 1;
  std::printf("line_file: all checks passed\n");
  return 0;
}
