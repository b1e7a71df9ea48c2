// Test support for /metrics: a plain HTTP GET on loopback, and a strict
// reader of the Prometheus text exposition format 0.0.4 that reports every
// rule a scrape breaks.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace leaf::test::metrics {

struct HttpResult {
  int status = 0;
  std::string content_type;
  std::string body;
};

// GET http://127.0.0.1:<port><path> (Connection: close). Throws on socket errors.
HttpResult http_get(int port, const std::string& path);

// The port leaf-host logged in "metrics: serving http://127.0.0.1:PORT/metrics", or -1.
int served_port(const std::string& host_log);

struct Sample {
  std::string name;                           // as written, with _bucket/_sum/_count
  std::map<std::string, std::string> labels;  // values unescaped
  double value = 0;
};

struct Family {
  std::string type;  // counter, gauge, histogram, summary, untyped
  std::string help;
  std::vector<Sample> samples;
};

struct Exposition {
  std::map<std::string, Family> families;
  std::vector<std::string> errors;  // empty when the text is valid

  // The value of the one sample `name` whose labels include `labels`;
  // throws when none or several match.
  double value(const std::string& name,
               const std::map<std::string, std::string>& labels = {}) const;
  // Sum of every sample `name` whose labels include `labels` (0 when none).
  double sum(const std::string& name, const std::map<std::string, std::string>& labels = {}) const;
  bool has_family(const std::string& name) const { return families.count(name) != 0; }
};

// Parses and checks: names and label names well formed, label values with
// only \\ \" \n escapes, one TYPE per family given before its samples, every
// sample under its family's TYPE (histograms: _bucket with le, _sum,
// _count), no duplicate series, histogram buckets sorted by le and
// cumulative, +Inf present and equal to _count.
Exposition parse_exposition(const std::string& text);

}  // namespace leaf::test::metrics
