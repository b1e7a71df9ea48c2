#include "processors/redactor.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <stdexcept>

namespace leaf::core {

namespace {

// Names that mark a secret, as a flag (--db-password) or a key (API_TOKEN=).
// Longer alternatives first so that the whole name is consumed.
#define LEAF_SECRET_NAMES                                                         \
  "(?:secret[-_]?(?:access[-_]?)?key|access[-_]?key|api[-_]?key|private[-_]?key|" \
  "client[-_]?secret|auth[-_]?token|password|passwd|passphrase|pwd|token|secret|credentials?)"

}  // namespace

const std::vector<std::string>& default_redaction_rules() {
  static const std::vector<std::string> rules = {
      // --password x, --password=x, -token x, --aws-secret-access-key=x
      R"((?i)(?:^|\s)--?[a-z0-9_.-]*)" LEAF_SECRET_NAMES R"((?:=|\s+)(\S+))",
      // PASSWORD=x, db_password=x, ?api_key=x&..., token=x;
      R"((?i)(?:^|[\s?&;,])[a-z0-9_.]*)" LEAF_SECRET_NAMES R"(=([^\s&;,]+))",
      // scheme://user:password@host
      R"((?i)\b[a-z][a-z0-9+.-]*://[^\s/@:]*:([^\s/@]+)@)",
      // Authorization: Bearer x (curl -H), and bare bearer tokens
      R"((?i)\bauthorization:\s*(?:(?:bearer|basic|token|digest)\s+)?(\S+))",
      R"((?i)\bbearer\s+([a-z0-9._~+/=-]{8,}))",
  };
  return rules;
}

#undef LEAF_SECRET_NAMES

const std::string& default_rules_gate() {
  static const std::string gate = "(?i)pass|pwd|token|secret|key|auth|cred|bearer|://";
  return gate;
}

namespace {

pcre2_code* compile(const std::string& rule, const std::string& what) {
  int err = 0;
  PCRE2_SIZE at = 0;
  pcre2_code* code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(rule.data()), rule.size(), 0, &err, &at, nullptr);
  if (!code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof(msg));
    throw std::invalid_argument(what + " '" + rule + "': at offset " + std::to_string(at) + ": " +
                                reinterpret_cast<const char*>(msg));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter when it fails
  return code;
}

}  // namespace

struct Redactor::Impl {
  struct Rule {
    pcre2_code* code = nullptr;
    uint32_t groups = 0;
  };
  std::vector<Rule> rules;
  pcre2_code* gate = nullptr;
  size_t gated = 0;
  pcre2_match_data* md = nullptr;
  std::vector<std::pair<size_t, size_t>> spans;  // scratch
  std::string scratch;

  ~Impl() {
    for (auto& r : rules) pcre2_code_free(r.code);
    if (gate) pcre2_code_free(gate);
    if (md) pcre2_match_data_free(md);
  }
};

Redactor::Redactor(const std::vector<std::string>& rules, const std::string& gate, size_t gated)
    : impl_(std::make_unique<Impl>()) {
  uint32_t max_groups = 0;
  for (size_t i = 0; i < rules.size(); ++i) {
    pcre2_code* code = compile(rules[i], "rule " + std::to_string(i + 1));
    uint32_t groups = 0;
    pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &groups);
    if (groups == 0) {
      pcre2_code_free(code);
      throw std::invalid_argument("rule " + std::to_string(i + 1) + " '" + rules[i] +
                                  "' has no capture group: it would redact nothing");
    }
    impl_->rules.push_back({code, groups});
    max_groups = std::max(max_groups, groups);
  }
  if (!gate.empty() && gated > 0) {
    impl_->gate = compile(gate, "gate");
    impl_->gated = std::min(gated, rules.size());
  }
  impl_->md = pcre2_match_data_create(max_groups + 1, nullptr);
  if (!impl_->md) throw std::bad_alloc();
}

Redactor::~Redactor() = default;
Redactor::Redactor(Redactor&&) noexcept = default;
Redactor& Redactor::operator=(Redactor&&) noexcept = default;

size_t Redactor::rule_count() const { return impl_->rules.size(); }

bool Redactor::redact(std::string_view text, std::string* out) {
  Impl& im = *impl_;
  bool changed = false;
  std::string_view cur = text;
  size_t first = 0;
  if (im.gate && pcre2_match(im.gate, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0, 0,
                             im.md, nullptr) < 0)
    first = im.gated;
  for (size_t r = first; r < im.rules.size(); ++r) {
    const auto& rule = im.rules[r];
    im.spans.clear();
    PCRE2_SIZE start = 0;
    while (start <= cur.size()) {
      int rc = pcre2_match(rule.code, reinterpret_cast<PCRE2_SPTR>(cur.data()), cur.size(), start,
                           0, im.md, nullptr);
      if (rc < 0) break;
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(im.md);
      for (int g = 1; g < rc; ++g)
        if (ov[2 * g] != PCRE2_UNSET && ov[2 * g + 1] > ov[2 * g])
          im.spans.emplace_back(ov[2 * g], ov[2 * g + 1]);
      start = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
    }
    if (im.spans.empty()) continue;
    // Groups can nest or overlap: merge, then rebuild the text once.
    std::sort(im.spans.begin(), im.spans.end());
    std::string& next = im.scratch;
    next.clear();
    size_t pos = 0;
    for (size_t k = 0; k < im.spans.size();) {
      size_t b = im.spans[k].first, e = im.spans[k].second;
      for (++k; k < im.spans.size() && im.spans[k].first <= e; ++k)
        e = std::max(e, im.spans[k].second);
      if (b < pos) b = pos;
      next.append(cur.substr(pos, b - pos));
      next.append(kMask);
      pos = e;
    }
    next.append(cur.substr(pos));
    out->swap(next);
    cur = *out;
    changed = true;
  }
  return changed;
}

std::string_view cut_utf8(std::string_view text, size_t max) {
  if (text.size() <= max) return text;
  size_t n = max;
  // Back off continuation bytes (10xxxxxx) to the start of their sequence.
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  return text.substr(0, n);
}

}  // namespace leaf::core
