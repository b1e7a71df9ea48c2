#include "config/toml_guard.hpp"

#include <vector>

namespace leaf::core {

namespace {

bool bare_key_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '+' || c == ':';
}

// The lexer's walk over the text: strings and comments are skipped, the
// segments of the current dotted key are counted, and every array or inline
// table opened as a value adds the segments of its key plus one.
class DepthScan {
 public:
  DepthScan(std::string_view text, size_t max_depth) : t_(text), max_(max_depth) {}

  std::optional<TomlGuardError> run() {
    while (i_ < t_.size()) {
      char c = t_[i_];
      if (c == '\n') {
        ++line_;
        ++i_;
        end_chain();
        at_line_start_ = true;
        continue;
      }
      if (c == ' ' || c == '\t' || c == '\r') {
        ++i_;
        continue;
      }
      bool line_start = at_line_start_;
      at_line_start_ = false;
      if (c == '#') {
        while (i_ < t_.size() && t_[i_] != '\n') ++i_;
      } else if (c == '"' || c == '\'') {
        skip_string(c);
        segment();
      } else if (bare_key_char(c)) {
        while (i_ < t_.size() && bare_key_char(t_[i_])) ++i_;
        segment();
      } else if (c == '.') {
        ++i_;
        dotted_ = true;
      } else if (c == '[' && line_start && stack_.empty()) {
        header_ = true;  // [table] or [[array of tables]]: depth from the root
        while (i_ < t_.size() && t_[i_] == '[') ++i_;
        end_chain();
      } else if (c == ']' && header_) {
        header_ = false;
        while (i_ < t_.size() && t_[i_] == ']') ++i_;
        end_chain();
      } else if (c == '=') {
        ++i_;
        key_segments_ = segments_;
        end_chain();
      } else if (c == '[' || c == '{') {
        ++i_;
        stack_.push_back(key_segments_ + 1);
        depth_ += key_segments_ + 1;
        key_segments_ = 0;
        end_chain();
      } else if (c == ']' || c == '}') {
        ++i_;
        if (!stack_.empty()) {
          depth_ -= stack_.back();
          stack_.pop_back();
        }
        end_chain();
      } else {
        ++i_;
        end_chain();
      }
      if (depth_ + segments_ > max_)
        return TomlGuardError{line_, "nested " + std::to_string(depth_ + segments_) +
                                         " tables deep or more (at most " + std::to_string(max_) +
                                         " are accepted)"};
    }
    return std::nullopt;
  }

 private:
  // A key (or value) token: the first of a chain, or the next after a dot.
  void segment() {
    segments_ = dotted_ ? segments_ + 1 : 1;
    dotted_ = false;
  }
  void end_chain() {
    segments_ = 0;
    dotted_ = false;
  }
  void skip_string(char quote) {
    bool multi = t_.substr(i_, 3) == std::string_view(quote == '"' ? "\"\"\"" : "'''");
    i_ += multi ? 3 : 1;
    while (i_ < t_.size()) {
      char c = t_[i_];
      if (c == '\\' && quote == '"') {
        i_ += 2;
        continue;
      }
      if (c == '\n') {
        ++line_;
        if (!multi) return;  // unterminated: toml++ reports it
      }
      if (c == quote &&
          (!multi || t_.substr(i_, 3) == std::string_view(quote == '"' ? "\"\"\"" : "'''"))) {
        i_ += multi ? 3 : 1;
        return;
      }
      ++i_;
    }
  }

  std::string_view t_;
  size_t max_;
  size_t i_ = 0;
  int line_ = 1;
  bool at_line_start_ = true;
  bool header_ = false;
  bool dotted_ = false;
  size_t segments_ = 0;      // of the dotted key being read
  size_t key_segments_ = 0;  // of the key before the last '='
  size_t depth_ = 0;         // sum of stack_
  std::vector<size_t> stack_;
};

}  // namespace

std::optional<TomlGuardError> check_toml_depth(std::string_view text, size_t max_depth) {
  return DepthScan(text, max_depth).run();
}

}  // namespace leaf::core
