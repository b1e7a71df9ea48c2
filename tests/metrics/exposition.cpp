#include "exposition.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <regex>
#include <set>
#include <stdexcept>

namespace leaf::test::metrics {

HttpResult http_get(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) + " failed");
  }
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
    close(fd);
    throw std::runtime_error("write failed");
  }
  std::string all;
  char buf[65536];
  for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;) all.append(buf, static_cast<size_t>(n));
  close(fd);
  auto head_end = all.find("\r\n\r\n");
  if (head_end == std::string::npos) throw std::runtime_error("no HTTP response: " + all);
  HttpResult r;
  std::string head = all.substr(0, head_end);
  r.status = std::stoi(head.substr(head.find(' ') + 1, 3));
  std::smatch m;
  if (std::regex_search(head, m, std::regex("[Cc]ontent-[Tt]ype: ([^\r\n]*)")))
    r.content_type = m[1];
  r.body = all.substr(head_end + 4);
  return r;
}

int served_port(const std::string& log) {
  std::smatch m;
  if (!std::regex_search(log, m,
                         std::regex("metrics: serving http://127\\.0\\.0\\.1:([0-9]+)/metrics")))
    return -1;
  return std::stoi(m[1]);
}

namespace {

bool metric_name(const std::string& s) {
  static const std::regex re("[a-zA-Z_:][a-zA-Z0-9_:]*");
  return std::regex_match(s, re);
}
bool label_name(const std::string& s) {
  static const std::regex re("[a-zA-Z_][a-zA-Z0-9_]*");
  return std::regex_match(s, re);
}

bool parse_value(const std::string& s, double* out) {
  if (s == "+Inf") return *out = INFINITY, true;
  if (s == "-Inf") return *out = -INFINITY, true;
  if (s == "NaN") return *out = NAN, true;
  try {
    size_t used = 0;
    *out = std::stod(s, &used);
    return used == s.size();
  } catch (...) {
    return false;
  }
}

std::string base_of(const std::string& sample, const std::map<std::string, Family>& fams) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    std::string sfx = suffix;
    if (sample.size() > sfx.size() &&
        sample.compare(sample.size() - sfx.size(), sfx.size(), sfx) == 0) {
      std::string base = sample.substr(0, sample.size() - sfx.size());
      auto it = fams.find(base);
      if (it != fams.end() && (it->second.type == "histogram" || it->second.type == "summary"))
        return base;
    }
  }
  return sample;
}

}  // namespace

Exposition parse_exposition(const std::string& text) {
  Exposition e;
  auto error = [&](size_t line, const std::string& what) {
    e.errors.push_back("line " + std::to_string(line) + ": " + what);
  };
  std::set<std::string> series;
  size_t lineno = 0, pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) {
      error(lineno + 1, "the last line does not end with a newline");
      nl = text.size();
    }
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++lineno;
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::smatch m;
      if (std::regex_match(line, m, std::regex("# (HELP|TYPE) ([^ ]+) ?(.*)"))) {
        std::string name = m[2], rest = m[3];
        if (!metric_name(name)) error(lineno, "bad metric name '" + name + "'");
        if (m[1] == "TYPE") {
          static const std::set<std::string> types = {"counter", "gauge", "histogram", "summary",
                                                      "untyped"};
          if (!types.count(rest)) error(lineno, "unknown type '" + rest + "'");
          if (e.families.count(name) && !e.families[name].type.empty())
            error(lineno, "second TYPE line for " + name);
          if (e.families.count(name) && !e.families[name].samples.empty())
            error(lineno, "TYPE of " + name + " after its samples");
          e.families[name].type = rest;
        } else {
          e.families[name].help = rest;
        }
      }
      continue;  // other comments are allowed
    }
    // name{labels} value [timestamp]
    Sample s;
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = line.substr(0, i);
    if (!metric_name(s.name)) error(lineno, "bad metric name '" + s.name + "'");
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        size_t eq = line.find('=', i);
        if (eq == std::string::npos || eq + 1 >= line.size() || line[eq + 1] != '"') {
          error(lineno, "bad label list");
          break;
        }
        std::string lname = line.substr(i, eq - i);
        if (!label_name(lname)) error(lineno, "bad label name '" + lname + "'");
        std::string value;
        size_t j = eq + 2;
        bool closed = false;
        for (; j < line.size(); ++j) {
          char c = line[j];
          if (c == '\\') {
            char n = j + 1 < line.size() ? line[j + 1] : 0;
            if (n == '\\')
              value += '\\';
            else if (n == '"')
              value += '"';
            else if (n == 'n')
              value += '\n';
            else
              error(lineno, std::string("bad escape \\") + n + " in a label value");
            ++j;
          } else if (c == '"') {
            closed = true;
            break;
          } else {
            value += c;
          }
        }
        if (!closed) {
          error(lineno, "unterminated label value");
          break;
        }
        if (s.labels.count(lname)) error(lineno, "label " + lname + " given twice");
        s.labels[lname] = value;
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size() || line[i] != '}') {
        error(lineno, "label list not closed");
        continue;
      }
      ++i;
    }
    if (i >= line.size() || line[i] != ' ') {
      error(lineno, "no value");
      continue;
    }
    std::string rest = line.substr(i + 1);
    std::string value_text = rest.substr(0, rest.find(' '));
    if (!parse_value(value_text, &s.value)) error(lineno, "bad value '" + value_text + "'");

    std::string base = base_of(s.name, e.families);
    auto fam = e.families.find(base);
    if (fam == e.families.end() || fam->second.type.empty()) {
      error(lineno, "sample " + s.name + " without a TYPE line before it");
      e.families[base].samples.push_back(s);
      continue;
    }
    const std::string& type = fam->second.type;
    if (type == "histogram") {
      if (s.name == base) error(lineno, "histogram sample without _bucket/_sum/_count");
      if ((s.name == base + "_bucket") != (s.labels.count("le") != 0))
        error(lineno, "histogram: le belongs on _bucket samples only");
    } else if (type != "summary" && s.name != base) {
      error(lineno, "sample " + s.name + " is not in family " + base);
    }
    std::string key = s.name;
    for (const auto& [k, v] : s.labels) key += "|" + k + "=" + v;
    if (!series.insert(key).second) error(lineno, "duplicate series " + key);
    fam->second.samples.push_back(std::move(s));
  }

  // Histograms: per series, buckets by le ascending, cumulative, +Inf == _count.
  for (const auto& [name, fam] : e.families) {
    if (fam.type != "histogram") continue;
    std::map<std::string, std::vector<std::pair<double, double>>> buckets;
    std::map<std::string, double> counts;
    auto series_key = [](std::map<std::string, std::string> labels) {
      labels.erase("le");
      std::string k;
      for (const auto& [a, b] : labels) k += a + "=" + b + "|";
      return k;
    };
    for (const auto& s : fam.samples) {
      if (s.name == name + "_bucket") {
        double le;
        if (!parse_value(s.labels.at("le"), &le)) e.errors.push_back(name + ": bad le");
        buckets[series_key(s.labels)].emplace_back(le, s.value);
      } else if (s.name == name + "_count") {
        counts[series_key(s.labels)] = s.value;
      }
    }
    for (auto& [key, b] : buckets) {
      std::stable_sort(b.begin(), b.end());
      for (size_t i = 1; i < b.size(); ++i)
        if (b[i].second < b[i - 1].second)
          e.errors.push_back(name + "{" + key + "}: buckets are not cumulative");
      if (b.empty() || !std::isinf(b.back().first))
        e.errors.push_back(name + "{" + key + "}: no +Inf bucket");
      else if (!counts.count(key) || counts[key] != b.back().second)
        e.errors.push_back(name + "{" + key + "}: +Inf bucket differs from _count");
    }
    for (const auto& [key, c] : counts)
      if (!buckets.count(key)) e.errors.push_back(name + "{" + key + "}: _count without buckets");
  }
  return e;
}

namespace {
bool includes(const std::map<std::string, std::string>& have,
              const std::map<std::string, std::string>& want) {
  for (const auto& [k, v] : want) {
    auto it = have.find(k);
    if (it == have.end() || it->second != v) return false;
  }
  return true;
}
}  // namespace

double Exposition::value(const std::string& name,
                         const std::map<std::string, std::string>& labels) const {
  const Sample* found = nullptr;
  for (const auto& [fname, fam] : families)
    for (const auto& s : fam.samples)
      if (s.name == name && includes(s.labels, labels)) {
        if (found) throw std::runtime_error("several samples " + name + " match");
        found = &s;
      }
  if (!found) throw std::runtime_error("no sample " + name + " matches");
  return found->value;
}

double Exposition::sum(const std::string& name,
                       const std::map<std::string, std::string>& labels) const {
  double total = 0;
  for (const auto& [fname, fam] : families)
    for (const auto& s : fam.samples)
      if (s.name == name && includes(s.labels, labels)) total += s.value;
  return total;
}

}  // namespace leaf::test::metrics
