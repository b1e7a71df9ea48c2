#include "schema.hpp"

#include <cstddef>
#include <iterator>

#include "network.h"

namespace leaf::network {
namespace {

using sdk::Category;
using sdk::EnumDesc;
using sdk::EventTypeDesc;
using sdk::FieldDesc;
using sdk::FieldType;

const char* const kDirectionNames[] = {"unknown", "outbound", "inbound"};
const EnumDesc kDirection{kDirectionNames, 3};

const char* const kProtocolNames[] = {"tcp", "udp"};
const EnumDesc kProtocol{kProtocolNames, 2};

// include/net/tcp_states.h
const char* const kStateNames[] = {
    "UNKNOWN", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",    "TIME_WAIT",
    "CLOSE",   "CLOSE_WAIT",  "LAST_ACK", "LISTEN",   "CLOSING",   "NEW_SYN_RECV", "BOUND_INACTIVE",
};
const EnumDesc kState{kStateNames, sizeof(kStateNames) / sizeof(kStateNames[0])};

// The fields of tcp_connect and tcp_accept; tcp_close starts with the same
// layout, so one macro lists them for both structs.
#define NET_COMMON_FIELDS(S)                                                                     \
  LEAF_FIELD(S, pid, U32), LEAF_FIELD(S, tgid, U32), LEAF_FIELD(S, comm, Chars),                 \
      LEAF_FIELD(S, uid, U32), LEAF_FIELD(S, family, U8),                                        \
      LEAF_FIELD_ENUM(S, protocol, "protocol", &kProtocol), LEAF_FIELD(S, src_ip, IpAddr),       \
      LEAF_FIELD(S, src_port, U16), LEAF_FIELD(S, dst_ip, IpAddr), LEAF_FIELD(S, dst_port, U16), \
      LEAF_FIELD_ENUM(S, direction, "direction", &kDirection), LEAF_FIELD(S, cgroup_id, U64),    \
      LEAF_FIELD(S, attributed, Bool),                                                           \
      LEAF_FIELD_AS(S, conn_id, "conn_id", U64, sdk::kFieldOmitZero)

const FieldDesc kOpenFields[] = {NET_COMMON_FIELDS(net_tcp_event)};

const FieldDesc kCloseFields[] = {
    NET_COMMON_FIELDS(net_tcp_close_event),
    LEAF_FIELD_ENUM(net_tcp_close_event, state, "state", &kState),
    LEAF_FIELD(net_tcp_close_event, bytes_sent, U64),
    LEAF_FIELD(net_tcp_close_event, bytes_recv, U64),
    LEAF_FIELD(net_tcp_close_event, packets_sent, U64),
    LEAF_FIELD(net_tcp_close_event, packets_recv, U64),
    LEAF_FIELD(net_tcp_close_event, duration_ns, DurationNs),
    LEAF_FIELD(net_tcp_close_event, retransmits, U32),
    LEAF_FIELD(net_tcp_close_event, rtt_us, U32),
    LEAF_FIELD(net_tcp_close_event, error, I32),
};

#define S net_tcp_stats_event
const FieldDesc kStatsFields[] = {
    NET_COMMON_FIELDS(S),
    LEAF_FIELD_ENUM(S, state, "state", &kState),
    LEAF_FIELD(S, bytes_sent, U64),
    LEAF_FIELD(S, bytes_recv, U64),
    LEAF_FIELD(S, packets_sent, U64),
    LEAF_FIELD(S, packets_recv, U64),
    LEAF_FIELD(S, bytes_retrans, U64),
    LEAF_FIELD(S, retransmits, U32),
    LEAF_FIELD(S, bytes_sent_total, U64),
    LEAF_FIELD(S, bytes_recv_total, U64),
    LEAF_FIELD(S, packets_sent_total, U64),
    LEAF_FIELD(S, packets_recv_total, U64),
    LEAF_FIELD(S, retransmits_total, U32),
    LEAF_FIELD(S, rtt_us, U32),
    LEAF_FIELD(S, interval_ns, DurationNs),
};
#undef S

#define S net_udp_flow_event
const FieldDesc kUdpFlowFields[] = {
    LEAF_FIELD(S, pid, U32),
    LEAF_FIELD(S, tgid, U32),
    LEAF_FIELD(S, comm, Chars),
    LEAF_FIELD(S, uid, U32),
    LEAF_FIELD(S, family, U8),
    LEAF_FIELD_ENUM(S, protocol, "protocol", &kProtocol),
    LEAF_FIELD(S, src_ip, IpAddr),
    LEAF_FIELD(S, src_port, U16),
    LEAF_FIELD(S, dst_ip, IpAddr),
    LEAF_FIELD(S, dst_port, U16),
    LEAF_FIELD(S, cgroup_id, U64),
    LEAF_FIELD(S, bytes_sent, U64),
    LEAF_FIELD(S, bytes_recv, U64),
    LEAF_FIELD(S, datagrams_sent, U64),
    LEAF_FIELD(S, datagrams_recv, U64),
    LEAF_FIELD(S, first_seen, MonoTimeNs),
    LEAF_FIELD(S, last_seen, MonoTimeNs),
    LEAF_FIELD(S, interval_ns, DurationNs),
};
#undef S

#undef NET_COMMON_FIELDS

constexpr uint32_t count(const FieldDesc* begin, const FieldDesc* end) {
  return static_cast<uint32_t>(end - begin);
}

const EventTypeDesc kTypes[NET_EVENT_TYPE_COUNT] = {
    {.name = "tcp_connect",
     .category = Category::Network,
     .fields = kOpenFields,
     .field_count = count(std::begin(kOpenFields), std::end(kOpenFields)),
     .fixed_size = sizeof(net_tcp_event),
     .max_size = sizeof(net_tcp_event),
     .key_field = nullptr,
     .description = "a process opened a TCP connection (active open)"},
    {.name = "tcp_accept",
     .category = Category::Network,
     .fields = kOpenFields,
     .field_count = count(std::begin(kOpenFields), std::end(kOpenFields)),
     .fixed_size = sizeof(net_tcp_event),
     .max_size = sizeof(net_tcp_event),
     .key_field = nullptr,
     .description = "a process accepted a TCP connection (passive open)"},
    {.name = "tcp_close",
     .category = Category::Network,
     .fields = kCloseFields,
     .field_count = count(std::begin(kCloseFields), std::end(kCloseFields)),
     .fixed_size = sizeof(net_tcp_close_event),
     .max_size = sizeof(net_tcp_close_event),
     .key_field = nullptr,
     .description = "a TCP connection closed, with its bytes, segments and duration"},
    {.name = "tcp_stats",
     .category = Category::Network,
     .fields = kStatsFields,
     .field_count = count(std::begin(kStatsFields), std::end(kStatsFields)),
     .fixed_size = sizeof(net_tcp_stats_event),
     .max_size = sizeof(net_tcp_stats_event),
     .key_field = nullptr,
     .description = "the traffic of a live TCP connection in one interval, and since it opened"},
    {.name = "udp_flow",
     .category = Category::Network,
     .fields = kUdpFlowFields,
     .field_count = count(std::begin(kUdpFlowFields), std::end(kUdpFlowFields)),
     .fixed_size = sizeof(net_udp_flow_event),
     .max_size = sizeof(net_udp_flow_event),
     .key_field = nullptr,
     .description = "UDP datagrams of one process between two ends in one interval"},
};

}  // namespace

const EventTypeDesc* event_types() { return kTypes; }
uint32_t event_type_count() { return NET_EVENT_TYPE_COUNT; }

const char* tcp_state_name(uint32_t state) {
  return state < kState.count ? kStateNames[state] : "UNKNOWN";
}

}  // namespace leaf::network
