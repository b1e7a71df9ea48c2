// Command-line redaction: every capture group of every rule's matches is
// replaced by "****", rule after rule, over the whole text.
//
// Engine: PCRE2 with its JIT, not std::regex. bench/enrich measured both on
// the same command lines (see its output): libstdc++'s std::regex is a
// backtracking interpreter that allocates per match and was more than an
// order of magnitude slower on a 100-byte command line with the default
// rules (measured here: 20-100 us per command line, against 0.1-2 us);
// PCRE2's JIT compiles each rule to machine code once and reuses one
// match-data block. A gate (default_rules_gate()) skips the shipped rules on
// the common command line without any secret-like word: ~0.1-0.3 us.
// Matching is on bytes (no UTF mode): command lines need not be valid UTF-8,
// and a rule must still find `password=` in them.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace leaf::core {

// The shipped rules (conf.d/redact.toml `default_rules = true`): values of
// password/token/secret/api-key style flags (`--password x`,
// `--db-password=x`), such `key=value` pairs (environment style and URL
// query parameters), the password of credentials in URLs
// (`https://user:****@host`) and HTTP authorization header values.
const std::vector<std::string>& default_redaction_rules();
// A cheap test that every text the shipped rules can change passes (each of
// them needs one of these words): when it does not match, they are skipped.
// Most command lines have none of them, and the first rule's backtracking
// over long flags (-Dspring.profiles.active=...) is what costs.
const std::string& default_rules_gate();

class Redactor {
 public:
  static constexpr std::string_view kMask = "****";

  // Compiles the rules. Throws std::invalid_argument naming the rule, the
  // position and the reason when one does not compile or has no capture
  // group (it would redact nothing).
  // `gate` (optional): the first `gated` rules run only on a text where this
  // regular expression matches (default_rules_gate() for the shipped rules).
  explicit Redactor(const std::vector<std::string>& rules, const std::string& gate = "",
                    size_t gated = 0);
  ~Redactor();
  Redactor(Redactor&&) noexcept;
  Redactor& operator=(Redactor&&) noexcept;

  // Writes the redacted text into *out and returns true when a rule
  // matched; returns false (and leaves *out alone) when nothing changes.
  bool redact(std::string_view text, std::string* out);

  size_t rule_count() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Cuts `text` to at most `max` bytes, not inside a UTF-8 sequence.
std::string_view cut_utf8(std::string_view text, size_t max);

}  // namespace leaf::core
