// Parsing of the ignore.addresses option: IPv4 or IPv6 addresses, each
// optionally with a /prefix, turned into keys of the kernel's LPM trie
// (IPv6 form; IPv4 mapped into ::ffff:0:0/96).
#pragma once

#include <optional>
#include <string>

#include "network.h"

namespace leaf::network {

// "10.0.0.0/8", "192.168.1.7", "::1", "fd00::/8" -> key; nullopt when the
// text is not an address, or the prefix is out of range or has bits set
// past it ("10.0.0.1/8").
std::optional<net_addr_key> parse_address_prefix(const std::string& text);

}  // namespace leaf::network
