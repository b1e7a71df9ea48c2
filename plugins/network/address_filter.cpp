#include "address_filter.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace leaf::network {

std::optional<net_addr_key> parse_address_prefix(const std::string& text) {
  std::string addr = text;
  int prefix = -1;
  if (auto slash = text.find('/'); slash != std::string::npos) {
    addr = text.substr(0, slash);
    std::string digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3) return std::nullopt;
    prefix = 0;
    for (char ch : digits) {
      if (ch < '0' || ch > '9') return std::nullopt;
      prefix = prefix * 10 + (ch - '0');
    }
  }
  net_addr_key key{};
  in_addr v4{};
  in6_addr v6{};
  if (inet_pton(AF_INET, addr.c_str(), &v4) == 1) {
    if (prefix > 32) return std::nullopt;
    key.addr[10] = 0xff;
    key.addr[11] = 0xff;
    std::memcpy(key.addr + 12, &v4, 4);
    key.prefixlen = 96 + static_cast<uint32_t>(prefix < 0 ? 32 : prefix);
  } else if (inet_pton(AF_INET6, addr.c_str(), &v6) == 1) {
    if (prefix > 128) return std::nullopt;
    std::memcpy(key.addr, &v6, 16);
    key.prefixlen = static_cast<uint32_t>(prefix < 0 ? 128 : prefix);
  } else {
    return std::nullopt;
  }
  // No host bits past the prefix: "10.0.0.1/8" is most likely a typo.
  for (uint32_t bit = key.prefixlen; bit < 128; ++bit)
    if (key.addr[bit / 8] & (0x80u >> (bit % 8))) return std::nullopt;
  return key;
}

}  // namespace leaf::network
