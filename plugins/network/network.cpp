// Leaf network probe plugin: tcp_connect, tcp_accept, tcp_close, tcp_stats
// and udp_flow events (SPEC.md §2) for IPv4 and IPv6, from network.bpf.c.
// See README.md.
#include "network.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <leaf/sdk/maps.hpp>
#include <leaf/sdk/skeleton.hpp>
#include <memory>
#include <string>
#include <vector>

#include "address_filter.hpp"
#include "network.skel.h"
#include "schema.hpp"
#include "tcp_stats.hpp"
#include "udp_cache.hpp"
#include "udp_flow.hpp"

namespace {

using namespace leaf::sdk;

const ConfigOption kOptions[] = {
    {"events", OptionType::StringList,
     R"(["tcp_connect", "tcp_accept", "tcp_close", "tcp_stats", "udp_flow"])", 0, 0, nullptr,
     "event types to report (tcp_connect, tcp_accept, tcp_close, tcp_stats, udp_flow)"},
    {"interval", OptionType::Duration, "\"30s\"", 0, 24 * 3600'000'000'000LL, nullptr,
     "tcp_stats and udp_flow: one event per connection / flow that moved bytes, every interval "
     "(0: both off; at least 100ms)"},
    {"udp_table_size", OptionType::Int, "65536", 1024, 16 * 1024 * 1024, nullptr,
     "UDP flows counted per interval; datagrams of further flows are counted as lost"},
    {"ipv6", OptionType::Bool, "true", 0, 0, nullptr,
     "report IPv6 connections (IPv4 through dual-stack sockets counts as IPv4)"},
    {"conn_table_size", OptionType::Int, "100000", 1024, 16 * 1024 * 1024, nullptr,
     "live connections remembered for attribution at close (LRU: the oldest are evicted)"},
    {"ignore.ports", OptionType::IntList, "[]", 1, 65535, nullptr,
     "connections with this port at either end are not reported"},
    {"ignore.addresses", OptionType::StringList, "[]", 0, 0, nullptr,
     "connections with an address at either end in these (\"10.0.0.0/8\", \"::1\") are not "
     "reported"},
    {"ring_buffer_size", OptionType::Size, "\"1M\"", 4096, 1LL << 30, nullptr,
     "ring buffer size in bytes, all rings together (each rounded up to a power of two)"},
    {"ring_buffers", OptionType::Int, "4", 1, 4, nullptr,
     "rings the TCP connection events are spread over, each connection's on one (1, 2 or 4): "
     "fewer CPUs contend for each ring's lock"},
    {"hooks.skip", OptionType::StringList, "[]", 0, 0, nullptr,
     "hook kinds not to use even when available (fentry, kprobe, tp_btf, raw_tp, tracepoint)"},
    {"filter.drop_uids", OptionType::IntList, "[]", 0, 4294967295, nullptr,
     "in the kernel: drop events of connections owned by these uids (SIGHUP applies)",
     leaf::sdk::kOptionLive},
    {"filter.drop_comms", OptionType::StringList, "[]", 0, 0, nullptr,
     "in the kernel: drop events of connections owned by exactly this comm (SIGHUP applies)",
     leaf::sdk::kOptionLive},
};

// Event type names, indexed by enum net_event_type: they are also the probes'
// names.
const char* const kEventNames[NET_EVENT_TYPE_COUNT] = {"tcp_connect", "tcp_accept", "tcp_close",
                                                       "tcp_stats", "udp_flow"};

uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

class NetworkProbe final : public SkeletonProbe<network_bpf>, public ITimerHandler {
 public:
  explicit NetworkProbe(IHost* host)
      : SkeletonProbe(host, leaf::network::event_types(), leaf::network::event_type_count()) {}
  // The iterators' links go before the object (the base destroys it).
  ~NetworkProbe() override {
    detach();
    tcp_stats_.reset();
    udp_cache_.reset();
  }

  void read_counters(ICounterVisitor* v) noexcept override {
    if (!skel_) return;
    try {
      uint64_t stats[NET_STAT_COUNT] = {};
      read_stats(stats);
      int64_t entries = count_entries();
      uint64_t inserted = stats[NET_STAT_CONN_INSERTED];
      uint64_t deleted = stats[NET_STAT_CONN_DELETED];
      // An entry leaves the table by deletion at close or by eviction.
      if (entries >= 0 && inserted >= deleted + static_cast<uint64_t>(entries))
        evicted_ = std::max(evicted_, inserted - deleted - static_cast<uint64_t>(entries));
      auto name = [](const char* s) { return make_view(s); };
      StringView none{"", 0};
      v->gauge(name("network_conn_table_entries"), none, entries);
      v->gauge(name("network_conn_table_capacity"), none, table_size_);
      v->counter(name("network_conn_table_inserted_total"), none, inserted);
      v->counter(name("network_conn_table_deleted_total"), none, deleted);
      v->counter(name("network_conn_table_evicted_total"), none, evicted_);
      v->counter(name("network_conn_table_insert_failed_total"), none,
                 stats[NET_STAT_CONN_INSERT_FAILED]);
      v->counter(name("network_conn_table_delete_failed_total"), none,
                 stats[NET_STAT_CONN_DELETE_FAILED]);
      v->counter(name("network_close_unattributed_total"), none,
                 stats[NET_STAT_CLOSE_UNATTRIBUTED]);
      v->counter(name("network_accept_untracked_total"), none, stats[NET_STAT_ACCEPT_UNTRACKED]);
      v->counter(name("network_events_ignored_total"), none, stats[NET_STAT_IGNORED]);
      v->counter(name("network_events_filtered_in_kernel_total"), none, stats[NET_STAT_FILTERED]);
      v->counter(name("network_tcp_stats_rounds_total"), none, stats_rounds_);
      v->counter(name("network_tcp_stats_round_errors_total"), none, stats_round_errors_);
      v->counter(name("network_tcp_stats_emit_failed_total"), none, stats_emit_failed_);
      v->counter(name("network_tcp_stats_prev_failed_total"), none,
                 stats[NET_STAT_TCP_PREV_FAILED]);
      v->counter(name("network_tcp_stats_prev_lost_total"), none, stats[NET_STAT_TCP_PREV_LOST]);
      v->gauge(name("network_udp_flow_table_capacity"), none, udp_table_size_);
      v->counter(name("network_udp_flows_total"), none, udp_flows_ ? udp_flows_->flows() : 0);
      v->counter(name("network_udp_flow_table_full_total"), none, stats[NET_STAT_UDP_TABLE_FULL]);
      v->counter(name("network_udp_no_remote_total"), none, stats[NET_STAT_UDP_NO_REMOTE]);
      v->counter(name("network_udp_flow_round_errors_total"), none, udp_round_errors_);
      v->counter(name("network_udp_flow_emit_failed_total"), none, udp_emit_failed_);
    } catch (...) {
    }
  }

 private:
  ProbeSelection configure(network_bpf& skel) override {
    bool emit[NET_EVENT_TYPE_COUNT] = {};
    for (const auto& e : cfg_strings("events")) {
      auto it = std::find(std::begin(kEventNames), std::end(kEventNames), e);
      if (it == std::end(kEventNames))
        throw PluginError("events: unknown event type '" + e +
                              "' (tcp_connect, tcp_accept, tcp_close, tcp_stats, udp_flow)",
                          Status::InvalidConfig);
      emit[it - std::begin(kEventNames)] = true;
    }
    addrs_.clear();
    for (const auto& a : cfg_strings("ignore.addresses")) {
      auto key = leaf::network::parse_address_prefix(a);
      if (!key)
        throw PluginError("ignore.addresses: '" + a + "' is not an address or address/prefix",
                          Status::InvalidConfig);
      addrs_.push_back(*key);
    }
    ports_ = cfg_ints("ignore.ports");
    if (addrs_.size() > NET_IGNORE_ADDRS_MAX || ports_.size() > NET_IGNORE_PORTS_MAX)
      throw PluginError("ignore lists: at most 1024 entries each", Status::InvalidConfig);
    table_size_ = cfg_int("conn_table_size");
    interval_ns_ = static_cast<uint64_t>(cfg_int("interval"));
    if (interval_ns_ != 0 && interval_ns_ < 100'000'000)
      throw PluginError("interval: at least 100ms (or 0: off)", Status::InvalidConfig);
    if (interval_ns_ == 0) emit[NET_EVENT_TCP_STATS] = emit[NET_EVENT_UDP_FLOW] = false;
    udp_table_size_ = cfg_int("udp_table_size");
    want_udp_ = emit[NET_EVENT_UDP_FLOW];

    configure_rings(skel);
    skel.rodata->emit_connect = emit[NET_EVENT_TCP_CONNECT];
    skel.rodata->emit_accept = emit[NET_EVENT_TCP_ACCEPT];
    skel.rodata->emit_close = emit[NET_EVENT_TCP_CLOSE];
    skel.rodata->emit_tcp_stats = emit[NET_EVENT_TCP_STATS];
    skel.rodata->want_ipv6 = cfg_bool("ipv6");
    skel.rodata->have_ignore_ports = !ports_.empty();
    skel.rodata->have_ignore_addrs = !addrs_.empty();
    bpf_map__set_max_entries(skel.maps.net_conn, static_cast<uint32_t>(table_size_));
    bpf_map__set_max_entries(skel.maps.net_tcp_prev,
                             emit[NET_EVENT_TCP_STATS] ? static_cast<uint32_t>(table_size_) : 1);
    uint32_t udp_entries = want_udp_ ? static_cast<uint32_t>(udp_table_size_) : 1;
    bpf_map__set_max_entries(skel.maps.net_udp_flows_a, udp_entries);
    bpf_map__set_max_entries(skel.maps.net_udp_flows_b, udp_entries);

    // tcp_close's programs keep the connection table: always needed. The
    // others are needed when their event is wanted.
    ProbeSelection probes{.required = {"tcp_close"}, .others = ProbeSelection::Others::Optional};
    if (emit[NET_EVENT_TCP_CONNECT]) probes.required.push_back("tcp_connect");
    if (emit[NET_EVENT_TCP_ACCEPT]) probes.required.push_back("tcp_accept");
    // tcp_stats: one of two iterators (select_tcp_stats_probe()).
    return probes;
  }

  const hooks::Choice* choice(const std::string& probe) const {
    for (const auto& c : choices_)
      if (c.probe == probe) return &c;
    return nullptr;
  }

  // Leaves a probe this configuration does not need unattached and out of
  // the probe reports (--check would take a probe without a hook for one
  // that cannot run). Its programs, loaded or not, cost nothing unattached.
  void drop_probe(const std::string& probe, const std::string& why) {
    for (auto it = choices_.begin(); it != choices_.end();) {
      if (it->probe == probe) {
        log(LogLevel::Debug, "probe " + probe + " not attached: " + why);
        it = choices_.erase(it);
      } else {
        ++it;
      }
    }
  }

  // Adds to what --check and the log say about a probe's hook.
  void annotate(const std::string& probe, const std::string& text) {
    for (auto& c : choices_)
      if (c.probe == probe && c.hook != HookKind::None)
        c.detail = c.detail.empty() ? text : text + "; " + c.detail;
  }

  // What the UDP hooks chosen here see and cannot see.
  void annotate_udp(bool traced_send, bool traced_recv, bool have_addr) {
    const char* unknown = " (counted with the remote end unknown)";
    if (traced_send)
      annotate("udp_send",
               std::string("sock_send_length: every send, the destination from the sendto/sendmsg "
                           "arguments; cannot see the destination of sendmmsg() and io_uring "
                           "sends on unconnected sockets") +
                   unknown);
    else
      annotate("udp_send", "udp_sendmsg/udpv6_sendmsg: every send, with its destination");
    if (traced_recv)
      annotate(
          "udp_recv",
          std::string("sock_recv_length: every read; cannot see the source ") +
              (have_addr ? "of datagrams read on unconnected sockets without asking it "
                           "(read, recv, recvfrom without an address), by recvmmsg() or io_uring"
                         : "of any datagram read on an unconnected socket") +
              unknown);
    else
      annotate("udp_recv", "skb_consume_udp: every datagram read, its source from the packet");
    annotate("udp_addr", "recvfrom/recvmsg exits: source addresses for sock_recv_length");
  }

  // tcp_stats: the task_file iterator (every network namespace, 5.11+),
  // else the iter/tcp one (leaf-host's network namespace only, 5.9+). The
  // one not used leaves the probe reports.
  void select_tcp_stats_probe() {
    const hooks::Choice* all = choice("tcp_stats");
    const hooks::Choice* one = choice("tcp_stats_netns");
    if (!skel_->rodata->emit_tcp_stats) {
      drop_probe("tcp_stats", "tcp_stats is off (events, interval)");
      drop_probe("tcp_stats_netns", "tcp_stats is off (events, interval)");
      return;
    }
    if (all && all->hook != HookKind::None) {
      drop_probe("tcp_stats_netns", "not needed: tcp_stats walks every network namespace");
      annotate("tcp_stats",
               "BPF iterator iter/task_file, read every interval: the TCP sockets held by "
               "every process, in every network namespace");
      return;
    }
    std::string why = all ? all->detail : "no program";
    if (!one || one->hook == HookKind::None)
      throw PluginError("probe 'tcp_stats' has no usable hook on this kernel: iter/task_file: " +
                            why + "; iter/tcp: " + (one ? one->detail : "no program"),
                        Status::NotSupported);
    drop_probe("tcp_stats", "iter/task_file cannot run here (" + why + ")");
    annotate("tcp_stats_netns",
             "BPF iterator iter/tcp, read every interval: sockets of leaf-host's network "
             "namespace only (iter/task_file with bpf_sock_from_file, kernel 5.11+, cannot run "
             "here): connections in other network namespaces (pods) get no tcp_stats");
    log(LogLevel::Warn,
        "tcp_stats: only leaf-host's network namespace is walked on this kernel (iter/task_file "
        "cannot run: " +
            why + "): connections in other network namespaces get tcp_connect/tcp_close only");
  }

  // udp_flow's per-socket cache (udp_cache.bpf.h): its two flush paths,
  // udp_flush (iterator, 5.11+) and udp_close (fentry), both or neither; only
  // used when a datagram probe runs on fentry.
  void select_udp_cache(const hooks::Choice* send, const hooks::Choice* recv) {
    auto fentry = [](const hooks::Choice* c) { return c && c->hook == HookKind::Fentry; };
    const hooks::Choice* flush = choice("udp_flush");
    const hooks::Choice* close = choice("udp_close");
    std::string why;
    if (!fentry(send) && !fentry(recv))
      why = "udp_send and udp_recv do not run on fentry";
    else if (!flush || flush->hook == HookKind::None)
      why = "udp_flush cannot run here (" + (flush ? flush->detail : "no program") + ")";
    else if (!close || close->hook == HookKind::None)
      why = "udp_close cannot run here (" + (close ? close->detail : "no program") + ")";
    if (!why.empty()) {
      drop_probe("udp_flush", "no per-socket cache: " + why);
      drop_probe("udp_close", "no per-socket cache: " + why);
      return;
    }
    annotate("udp_flush",
             "BPF iterator iter/task_file, read every interval: moves each UDP socket's cached "
             "counts into the flow table");
    annotate("udp_close",
             "udp_destroy_sock/udpv6_destroy_sock: moves a closing socket's cached "
             "counts into the flow table");
  }

  // tcp_stats and the UDP probes when their events are off; udp_addr
  // (syscall exit tracepoints) unless udp_recv uses sock_recv_length. What
  // cannot be seen is said.
  void select_optional_probes() {
    select_tcp_stats_probe();
    if (!want_udp_) {
      for (const char* p : {"udp_send", "udp_recv", "udp_addr", "udp_flush", "udp_close"})
        drop_probe(p, "udp_flow is off (events, interval)");
      return;
    }
    auto traced = [](const hooks::Choice* c) {
      return c && (c->hook == HookKind::TpBtf || c->hook == HookKind::RawTp ||
                   c->hook == HookKind::Tracepoint);
    };
    const hooks::Choice* send = choice("udp_send");
    const hooks::Choice* recv = choice("udp_recv");
    for (const auto* c : {send, recv})
      if (c && c->hook == HookKind::None)
        log(LogLevel::Warn, "udp_flow: no hook for " + c->probe + " on this kernel (" + c->detail +
                                "): those datagrams are not seen");
    select_udp_cache(send, recv);
    const hooks::Choice* addr = choice("udp_addr");
    annotate_udp(traced(send), traced(recv), addr && addr->hook != HookKind::None);
    if (!traced(recv)) {
      drop_probe("udp_addr", "not needed: udp_recv reads source addresses itself");
      return;
    }
    if (addr && addr->hook == HookKind::None)
      log(LogLevel::Warn,
          "udp_flow: no syscall tracepoints (tracefs not mounted?): datagrams read on unconnected "
          "sockets are counted with an unknown remote end (" +
              addr->detail + ")");
  }

  // ring_buffers: the first ring is the SDK's (sized by ring_bytes() and
  // registered with the counters); the others are sized here, one page each
  // when unused (the programs name them all).
  uint32_t ring_bytes() const override {
    return ring_buffer_bytes(cfg_int("ring_buffer_size") / cfg_int("ring_buffers"));
  }
  void configure_rings(network_bpf& skel) {
    rings_ = static_cast<uint32_t>(cfg_int("ring_buffers"));
    if (rings_ == 3) throw PluginError("ring_buffers: 1, 2 or 4, not 3", Status::InvalidConfig);
    skel.rodata->ring_mask = rings_ - 1;
    auto page = static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
    auto extra = extra_rings(skel);
    for (uint32_t i = 0; i < extra.size(); ++i)
      bpf_map__set_max_entries(extra[i], i + 1 < rings_ ? ring_bytes() : page);
  }
  void add_extra_rings(network_bpf& skel) {
    auto extra = extra_rings(skel);
    for (uint32_t i = 0; i + 1 < rings_; ++i)
      add_ring(extra[i], nullptr, decoder(), skel.maps.bss, ticking_offset_in(skel.bss));
  }
  // The rings after `events`, in conn_ring()'s order (network.bpf.c).
  static std::array<bpf_map*, 3> extra_rings(network_bpf& skel) {
    return {skel.maps.events1, skel.maps.events2, skel.maps.events3};
  }

  // The interval timer: tcp_stats' iterator and the UDP flow table.
  void started(network_bpf& skel) override {
    add_extra_rings(skel);
    if (connect_in_close_)  // attached with tcp_close's program
      for (auto& c : choices_)
        if (c.probe == "tcp_connect") c.attached = choice("tcp_close")->attached;
    const hooks::Choice* stats = choice("tcp_stats");
    const hooks::Choice* stats_netns = choice("tcp_stats_netns");
    if (stats || stats_netns) {
      try {
        tcp_stats_ = std::make_unique<leaf::network::TcpStatsIterator>(
            stats ? skel.progs.tcp_stats__iter : skel.progs.tcp_stats_netns__iter,
            &skel.bss->tcp_stats_since_ns);
      } catch (const std::exception& e) {
        throw PluginError(std::string("tcp_stats: ") + e.what());
      }
      tcp_stats_->baseline(monotonic_ns());
    }
    const hooks::Choice* send = choice("udp_send");
    const hooks::Choice* recv = choice("udp_recv");
    const hooks::Choice* addr = choice("udp_addr");
    // From now on sock_recv_length leaves an unconnected socket's datagram
    // to the syscall's exit (attached: it sees every later exit).
    if (addr && addr->attached) skel.bss->udp_addr_on = 1;
    if ((send && send->attached) || (recv && recv->attached)) {
      udp_flows_ = std::make_unique<leaf::network::UdpFlowTable>(
          bpf_map__fd(skel.maps.net_udp_flows), bpf_map__fd(skel.maps.net_udp_flows_a),
          bpf_map__fd(skel.maps.net_udp_flows_b));
      udp_flows_->baseline(monotonic_ns());
      start_udp_cache(skel);
    }
    if ((tcp_stats_ || udp_flows_) && host_->add_timer(interval_ns_, this) != Status::Ok)
      throw PluginError("host refused the interval timer");
  }

  // The cache counts only once both flush paths are attached.
  void start_udp_cache(network_bpf& skel) {
    const hooks::Choice* flush = choice("udp_flush");
    const hooks::Choice* close = choice("udp_close");
    if (!flush || !flush->attached || !close || !close->attached) return;
    try {
      udp_cache_ = std::make_unique<leaf::network::UdpCacheFlush>(skel.progs.udp_flush__iter);
    } catch (const std::exception& e) {
      throw PluginError(std::string("udp_flow: ") + e.what());
    }
    skel.bss->udp_cache_on = 1;
  }

  // At stop (leaf-host's shutdown, a restart of this probe): the last,
  // partial interval of tcp_stats and udp_flow, which would otherwise be
  // lost. The probes are detached already; the iterators hold links of
  // their own.
  void do_stop() override {
    tcp_stats_round();
    udp_flow_round();
  }

  void on_timer() noexcept override {
    if (!started_) return;
    tcp_stats_round();
    udp_flow_round();
  }

  // One round of tcp_stats: every connection that moved bytes since its
  // last event.
  void tcp_stats_round() noexcept {
    if (!tcp_stats_) return;
    try {
      const EventTypeDesc* type = &types_[NET_EVENT_TCP_STATS];
      bool ok = tcp_stats_->round(monotonic_ns(), [&](const net_tcp_stats_event& e) {
        if (host_->emit(type, reinterpret_cast<const uint8_t*>(&e), sizeof(e)) != Status::Ok)
          ++stats_emit_failed_;
      });
      ++stats_rounds_;
      if (!ok) {
        ++stats_round_errors_;
        log(LogLevel::Warn,
            std::string("tcp_stats: reading the iterator: ") + std::strerror(errno));
      }
    } catch (const std::exception& e) {
      ++stats_round_errors_;
      log(LogLevel::Warn, std::string("tcp_stats: ") + e.what());
    }
  }

  // One round of udp_flow: the flows of the interval, from the kernel's table.
  void udp_flow_round() noexcept {
    if (!udp_flows_) return;
    if (udp_cache_ && !udp_cache_->run()) {
      ++udp_round_errors_;
      log(LogLevel::Warn, std::string("udp_flow: flushing the per-socket caches: ") +
                              std::strerror(errno) + " (their counts wait for the next interval)");
    }
    try {
      const EventTypeDesc* type = &types_[NET_EVENT_UDP_FLOW];
      if (!udp_flows_->round(monotonic_ns(), [&](const net_udp_flow_event& e) {
            if (host_->emit(type, reinterpret_cast<const uint8_t*>(&e), sizeof(e)) != Status::Ok)
              ++udp_emit_failed_;
          })) {
        ++udp_round_errors_;
        log(LogLevel::Warn, std::string("udp_flow: switching tables: ") + std::strerror(errno));
      }
    } catch (const std::exception& e) {
      ++udp_round_errors_;
      log(LogLevel::Warn, std::string("udp_flow: ") + e.what());
    }
  }

  // tcp_connect on the same tracepoint hook as tcp_close (inet_sock_set_state,
  // every state change of every socket): tcp_close's program does both
  // (network.bpf.c, connect_in_close) and tcp_connect's stays unattached,
  // reported on that hook. Halves the programs run per state change.
  void run_connect_in_close(network_bpf& skel) {
    const hooks::Choice* close = choice("tcp_close");
    const hooks::Choice* connect = choice("tcp_connect");
    if (!close || !connect || connect->hook != close->hook ||
        (close->hook != HookKind::TpBtf && close->hook != HookKind::RawTp &&
         close->hook != HookKind::Tracepoint))
      return;
    skel.bss->connect_in_close = 1;
    connect_in_close_ = true;
    for (auto& c : choices_)
      if (c.probe == "tcp_connect") c.programs.clear();
    annotate("tcp_connect", "run by tcp_close's program (one program per state change)");
  }

  // The ignore sets and the owner filter, into the loaded maps.
  void loaded(network_bpf& skel) override {
    run_connect_in_close(skel);
    select_optional_probes();
    uint8_t one = 1;
    for (int64_t p : ports_) {
      uint16_t port = static_cast<uint16_t>(p);
      if (bpf_map__update_elem(skel.maps.net_ignore_ports, &port, sizeof(port), &one, sizeof(one),
                               BPF_ANY))
        throw PluginError("ignore.ports: " + std::string(std::strerror(errno)));
    }
    for (const auto& key : addrs_) {
      if (bpf_map__update_elem(skel.maps.net_ignore_addrs, &key, sizeof(key), &one, sizeof(one),
                               BPF_ANY))
        throw PluginError("ignore.addresses: " + std::string(std::strerror(errno)));
    }
    apply_filter();
  }

  // SIGHUP: the [filter] lists (flagged kOptionLive) apply in place; the host
  // restarts this plugin when any other option changed.
  bool do_reload() override {
    apply_filter();
    return true;
  }

  // Fills the owner filter maps: new entries, then stale ones removed, then
  // the net_filter_cfg switch.
  void apply_filter() {
    std::vector<int64_t> uids = cfg_ints("filter.drop_uids");
    std::vector<std::string> comms = cfg_strings("filter.drop_comms");
    if (uids.size() > NET_FILTER_MAX || comms.size() > NET_FILTER_MAX)
      throw PluginError("filter lists: at most 1024 entries each", Status::InvalidConfig);
    std::vector<net_filter_comm> comm_keys;
    for (const auto& c : comms) {
      if (c.empty() || c.size() >= sizeof(net_filter_comm::comm))
        throw PluginError("filter.drop_comms: '" + c + "' cannot be a comm (1 to 15 characters)",
                          Status::InvalidConfig);
      net_filter_comm k{};
      std::memcpy(k.comm, c.data(), c.size());
      comm_keys.push_back(k);
    }
    std::vector<uint32_t> uid_keys(uids.begin(), uids.end());
    sync_set(skel_->maps.net_filter_uids, uid_keys);
    sync_set(skel_->maps.net_filter_comms, comm_keys);
    net_filter_cfg cfg{};
    cfg.uids = !uid_keys.empty();
    cfg.comms = !comm_keys.empty();
    uint32_t zero = 0;
    if (bpf_map__update_elem(skel_->maps.net_filter_cfg, &zero, sizeof(zero), &cfg, sizeof(cfg),
                             BPF_ANY))
      throw PluginError("net_filter_cfg: " + std::string(std::strerror(errno)));
  }

  // Sums the per-CPU statistics.
  void read_stats(uint64_t (&out)[NET_STAT_COUNT]) const {
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0) return;
    std::vector<uint64_t> values(static_cast<size_t>(ncpu));
    for (uint32_t i = 0; i < NET_STAT_COUNT; ++i) {
      if (bpf_map__lookup_elem(skel_->maps.net_stats, &i, sizeof(i), values.data(),
                               values.size() * sizeof(uint64_t), 0))
        continue;
      for (uint64_t x : values) out[i] += x;
    }
  }

  // Live entries of the connection table, or -1 when it cannot be read.
  int64_t count_entries() {
    int fd = bpf_map__fd(skel_->maps.net_conn);
    constexpr uint32_t kChunk = 4096;
    keys_.resize(kChunk);
    values_.resize(kChunk);
    int64_t total = 0;
    uint64_t batch = 0;
    bool first = true;
    while (true) {
      uint32_t n = kChunk;
      LIBBPF_OPTS(bpf_map_batch_opts, opts);
      int err = bpf_map_lookup_batch(fd, first ? nullptr : &batch, &batch, keys_.data(),
                                     values_.data(), &n, &opts);
      first = false;
      if (err && errno != ENOENT) return count_entries_slow(fd);
      total += n;
      if (err) return total;  // ENOENT: the last batch
    }
  }

  // Key by key, for kernels without batch operations on LRU maps.
  static int64_t count_entries_slow(int fd) {
    uint64_t key = 0, next = 0;
    int64_t total = 0;
    const void* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
      ++total;
      key = next;
      prev = &key;
    }
    return total;
  }

  std::vector<net_addr_key> addrs_;
  std::vector<int64_t> ports_;
  int64_t table_size_ = 0;
  uint32_t rings_ = 1;
  uint64_t evicted_ = 0;
  uint64_t interval_ns_ = 0;
  bool want_udp_ = false;
  bool connect_in_close_ = false;  // tcp_connect's work done by tcp_close's program
  std::unique_ptr<leaf::network::TcpStatsIterator> tcp_stats_;
  uint64_t stats_rounds_ = 0, stats_round_errors_ = 0, stats_emit_failed_ = 0;
  std::unique_ptr<leaf::network::UdpFlowTable> udp_flows_;
  std::unique_ptr<leaf::network::UdpCacheFlush> udp_cache_;
  int64_t udp_table_size_ = 0;
  uint64_t udp_round_errors_ = 0, udp_emit_failed_ = 0;
  std::vector<uint64_t> keys_;
  std::vector<net_conn> values_;
};

}  // namespace

LEAF_PLUGIN(NetworkProbe, Probe, "network", "1.0.0",
            "TCP connections: connect, accept and close, with bytes, segments and duration; "
            "their traffic per interval (tcp_stats); UDP flows per interval (udp_flow)",
            kOptions)
