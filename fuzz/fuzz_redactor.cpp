// The redactor with the shipped rules (and their gate) on any command line:
// when it changes something the result holds the mask, and cut_utf8 never
// cuts inside a UTF-8 sequence nor grows the text.
#include <cstdint>
#include <string>
#include <string_view>

#include "processors/redactor.hpp"

using namespace leaf::core;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Redactor redactor(default_redaction_rules(), default_rules_gate(),
                           default_redaction_rules().size());
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string out;
  if (redactor.redact(text, &out) && out.find(Redactor::kMask) == std::string::npos)
    __builtin_trap();
  size_t max = size ? data[0] : 0;
  std::string_view cut = cut_utf8(text, max);
  if (cut.size() > max || cut.size() > text.size()) __builtin_trap();
  if (!cut.empty() && cut.size() < text.size() &&
      (static_cast<uint8_t>(text[cut.size()]) & 0xC0) == 0x80)
    __builtin_trap();  // cut inside a sequence (only a text of continuation bytes cuts to 0)
  return 0;
}
