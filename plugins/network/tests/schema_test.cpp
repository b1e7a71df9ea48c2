// The schema the host reads against the structs the kernel writes, and the
// ignore.addresses parser. No root needed.
#include "schema.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <map>
#include <set>
#include <string>

#include "address_filter.hpp"
#include "network.h"

using leaf::network::event_type_count;
using leaf::network::event_types;
using leaf::network::parse_address_prefix;
using leaf::sdk::FieldDesc;
using leaf::sdk::FieldType;

namespace {

const FieldDesc* find(const leaf::sdk::EventTypeDesc& t, const std::string& name) {
  for (uint32_t i = 0; i < t.field_count; ++i)
    if (name == t.fields[i].name) return &t.fields[i];
  return nullptr;
}

std::string enum_name(const FieldDesc& f, uint32_t value) {
  auto* e = static_cast<const leaf::sdk::EnumDesc*>(f.aux);
  return value < e->count ? e->names[value] : "";
}

}  // namespace

TEST_CASE("event types are indexed by enum net_event_type, network category") {
  REQUIRE(event_type_count() == NET_EVENT_TYPE_COUNT);
  CHECK(std::string(event_types()[NET_EVENT_TCP_CONNECT].name) == "tcp_connect");
  CHECK(std::string(event_types()[NET_EVENT_TCP_ACCEPT].name) == "tcp_accept");
  CHECK(std::string(event_types()[NET_EVENT_TCP_CLOSE].name) == "tcp_close");
  CHECK(std::string(event_types()[NET_EVENT_TCP_STATS].name) == "tcp_stats");
  CHECK(event_types()[NET_EVENT_TCP_STATS].fixed_size == sizeof(net_tcp_stats_event));
  CHECK(std::string(event_types()[NET_EVENT_UDP_FLOW].name) == "udp_flow");
  CHECK(event_types()[NET_EVENT_UDP_FLOW].fixed_size == sizeof(net_udp_flow_event));
  for (uint32_t i = 0; i < event_type_count(); ++i) {
    CHECK(event_types()[i].category == leaf::sdk::Category::Network);
    CHECK(event_types()[i].key_field == nullptr);  // the category's default: src_ip
  }
  CHECK(event_types()[NET_EVENT_TCP_CONNECT].fixed_size == sizeof(net_tcp_event));
  CHECK(event_types()[NET_EVENT_TCP_CLOSE].fixed_size == sizeof(net_tcp_close_event));
  CHECK(event_types()[NET_EVENT_TCP_CLOSE].max_size == sizeof(net_tcp_close_event));
}

TEST_CASE("every field lies inside its record, after the header, without overlap") {
  for (uint32_t i = 0; i < event_type_count(); ++i) {
    const auto& t = event_types()[i];
    INFO(t.name);
    std::set<std::string> names;
    std::map<uint32_t, uint32_t> spans;  // offset -> end
    for (uint32_t f = 0; f < t.field_count; ++f) {
      const FieldDesc& fd = t.fields[f];
      INFO(fd.name);
      CHECK(names.insert(fd.name).second);
      CHECK(fd.offset >= sizeof(leaf_event_header));
      CHECK(fd.offset + fd.size <= t.fixed_size);
      spans[fd.offset] = fd.offset + fd.size;
    }
    uint32_t end = 0;
    for (auto [off, e] : spans) {
      CHECK(off >= end);
      end = e;
    }
  }
}

TEST_CASE("SPEC.md fields are present with their types") {
  const std::map<std::string, FieldType> common = {
      {"pid", FieldType::U32},       {"tgid", FieldType::U32},       {"comm", FieldType::Chars},
      {"uid", FieldType::U32},       {"family", FieldType::U8},      {"protocol", FieldType::Enum},
      {"src_ip", FieldType::IpAddr}, {"src_port", FieldType::U16},   {"dst_ip", FieldType::IpAddr},
      {"dst_port", FieldType::U16},  {"direction", FieldType::Enum}, {"cgroup_id", FieldType::U64},
  };
  std::map<std::string, FieldType> close = common;
  close.insert({{"state", FieldType::Enum},
                {"bytes_sent", FieldType::U64},
                {"bytes_recv", FieldType::U64},
                {"packets_sent", FieldType::U64},
                {"packets_recv", FieldType::U64},
                {"duration_ns", FieldType::DurationNs}});
  std::map<std::string, FieldType> stats = common;
  stats.insert({{"state", FieldType::Enum},
                {"bytes_sent", FieldType::U64},
                {"bytes_recv", FieldType::U64},
                {"packets_sent", FieldType::U64},
                {"packets_recv", FieldType::U64},
                {"bytes_retrans", FieldType::U64},
                {"retransmits", FieldType::U32},
                {"bytes_sent_total", FieldType::U64},
                {"bytes_recv_total", FieldType::U64},
                {"packets_sent_total", FieldType::U64},
                {"packets_recv_total", FieldType::U64},
                {"retransmits_total", FieldType::U32},
                {"rtt_us", FieldType::U32},
                {"interval_ns", FieldType::DurationNs}});
  for (uint32_t i = 0; i < event_type_count(); ++i) {
    const auto& t = event_types()[i];
    std::map<std::string, FieldType> udp = common;
    udp.erase("direction");
    udp.insert({{"bytes_sent", FieldType::U64},
                {"bytes_recv", FieldType::U64},
                {"datagrams_sent", FieldType::U64},
                {"datagrams_recv", FieldType::U64},
                {"first_seen", FieldType::MonoTimeNs},
                {"last_seen", FieldType::MonoTimeNs},
                {"interval_ns", FieldType::DurationNs}});
    const auto& want = i == NET_EVENT_TCP_CLOSE   ? close
                       : i == NET_EVENT_TCP_STATS ? stats
                       : i == NET_EVENT_UDP_FLOW  ? udp
                                                  : common;
    for (const auto& [name, type] : want) {
      INFO(t.name << "." << name);
      const FieldDesc* f = find(t, name);
      REQUIRE(f != nullptr);
      CHECK(f->type == type);
      CHECK((f->flags & leaf::sdk::kFieldHidden) == 0);
    }
  }
}

TEST_CASE("tcp_close and tcp_stats share the leading layout of tcp_connect") {
  const auto& open = event_types()[NET_EVENT_TCP_CONNECT];
  for (auto type : {NET_EVENT_TCP_CLOSE, NET_EVENT_TCP_STATS}) {
    const auto& other = event_types()[type];
    INFO(other.name);
    for (uint32_t f = 0; f < open.field_count; ++f) {
      const FieldDesc* c = find(other, open.fields[f].name);
      REQUIRE(c != nullptr);
      CHECK(c->offset == open.fields[f].offset);
      CHECK(c->size == open.fields[f].size);
    }
  }
}

TEST_CASE("enum fields name the values the kernel writes") {
  const auto& close = event_types()[NET_EVENT_TCP_CLOSE];
  CHECK(enum_name(*find(close, "protocol"), NET_PROTO_TCP) == "tcp");
  CHECK(enum_name(*find(event_types()[NET_EVENT_UDP_FLOW], "protocol"), NET_PROTO_UDP) == "udp");
  CHECK(enum_name(*find(close, "direction"), NET_DIR_OUTBOUND) == "outbound");
  CHECK(enum_name(*find(close, "direction"), NET_DIR_INBOUND) == "inbound");
  CHECK(enum_name(*find(close, "direction"), NET_DIR_UNKNOWN) == "unknown");
  // include/net/tcp_states.h
  CHECK(enum_name(*find(close, "state"), 1) == "ESTABLISHED");
  CHECK(enum_name(*find(close, "state"), 2) == "SYN_SENT");
  CHECK(enum_name(*find(close, "state"), 5) == "FIN_WAIT2");
  CHECK(enum_name(*find(close, "state"), 9) == "LAST_ACK");
  CHECK(enum_name(*find(close, "state"), 11) == "CLOSING");
}

TEST_CASE("ignore.addresses parsing") {
  auto v4 = parse_address_prefix("10.199.0.0/16");
  REQUIRE(v4);
  CHECK(v4->prefixlen == 96 + 16);
  const uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 199, 0, 0};
  CHECK(std::memcmp(v4->addr, mapped, 16) == 0);

  auto host = parse_address_prefix("127.0.0.1");
  REQUIRE(host);
  CHECK(host->prefixlen == 128);

  auto v6 = parse_address_prefix("::1");
  REQUIRE(v6);
  CHECK(v6->prefixlen == 128);
  CHECK(v6->addr[15] == 1);
  auto net6 = parse_address_prefix("fd00::/8");
  REQUIRE(net6);
  CHECK(net6->prefixlen == 8);
  CHECK(net6->addr[0] == 0xfd);

  CHECK_FALSE(parse_address_prefix("10.0.0.1/8"));  // host bits past the prefix
  CHECK_FALSE(parse_address_prefix("10.0.0.0/33"));
  CHECK_FALSE(parse_address_prefix("::/129"));
  CHECK_FALSE(parse_address_prefix("example.com"));
  CHECK_FALSE(parse_address_prefix("10.0.0.0/"));
  CHECK_FALSE(parse_address_prefix("10.0.0.0/x"));
  CHECK_FALSE(parse_address_prefix(""));
}
