// udp_flow through the real leaf-host: UDP peers in child processes of
// their own (own pid and comm) exchange known datagrams over IPv4 and IPv6
// loopback and between two network namespaces, with connected and
// unconnected sockets. The flows' counts, summed over the intervals they
// span, are asserted exactly, per flow and direction, with pid and comm.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "tcp_peers.hpp"
#include "workload.hpp"

namespace {

using leaf::test::HostOptions;
using leaf::test::Json;
using leaf::test::LeafHost;
using namespace leaf::network::test;
using namespace std::chrono_literals;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "udp peer %d: %s: %s\n", getpid(), what, std::strerror(errno));
  _exit(2);
}

void enter_netns(const std::string& name) {
  if (name.empty()) return;
  int fd = open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) die("setns");
  close(fd);
}

socklen_t make_addr(int family, const std::string& address, uint16_t port, sockaddr_storage* ss) {
  std::memset(ss, 0, sizeof(*ss));
  if (family == 4) {
    auto* a = reinterpret_cast<sockaddr_in*>(ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    if (inet_pton(AF_INET, address.c_str(), &a->sin_addr) != 1) die("inet_pton");
    return sizeof(*a);
  }
  auto* a = reinterpret_cast<sockaddr_in6*>(ss);
  a->sin6_family = AF_INET6;
  a->sin6_port = htons(port);
  if (inet_pton(AF_INET6, address.c_str(), &a->sin6_addr) != 1) die("inet_pton");
  return sizeof(*a);
}

uint16_t local_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) die("getsockname");
  return ntohs(ss.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                       : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

struct Spec {
  int family = 4;
  std::string server_addr = "127.0.0.1";
  std::string server_ns, client_ns;
  bool connected = false;        // the client connect()s, then send()/recv()
  bool ask_source = true;        // unconnected: recvfrom() with an address, else without
  bool use_msg = false;          // unconnected client: sendmsg()/recvmsg() with msg_name
  std::string toml;              // more network.toml keys (hooks.skip)
  uint16_t server_port = 0;      // 0: any
  bool client_filtered = false;  // the owner filter drops the client's flows
  bool ignored = false;          // ignore.* drops every flow of the exchange
  std::vector<size_t> queries;   // client -> server datagram sizes
  size_t reply = 0;              // server -> client, one per query
};

// Server: "leafudp-server", unconnected, recvfrom + sendto per query.
void udp_server(ChildProcess& self, const Spec& s) {
  prctl(PR_SET_NAME, "leafudp-server");
  enter_netns(s.server_ns);
  sockaddr_storage ss;
  socklen_t len = make_addr(s.family, s.server_addr, s.server_port, &ss);
  int fd = socket(s.family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM, 0);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) die("bind");
  self.send({local_port(fd), 0, 0});
  std::vector<char> buf(70000, 's');
  for (size_t i = 0; i < s.queries.size(); ++i) {
    sockaddr_storage from{};
    socklen_t flen = sizeof(from);
    ssize_t n = recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &flen);
    if (n != static_cast<ssize_t>(s.queries[i])) die("recvfrom");
    if (sendto(fd, buf.data(), s.reply, 0, reinterpret_cast<sockaddr*>(&from), flen) !=
        static_cast<ssize_t>(s.reply))
      die("sendto");
  }
  close(fd);
}

// One datagram of `n` bytes to `to` with sendmsg(), or one read with
// recvmsg() and the source asked in msg_name.
ssize_t send_msg(int fd, char* buf, size_t n, sockaddr_storage* to, socklen_t len) {
  iovec iov{buf, n};
  msghdr m{};
  m.msg_name = to;
  m.msg_namelen = len;
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  return sendmsg(fd, &m, 0);
}
ssize_t recv_msg(int fd, char* buf, size_t n) {
  sockaddr_storage from{};
  iovec iov{buf, n};
  msghdr m{};
  m.msg_name = &from;
  m.msg_namelen = sizeof(from);
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  return recvmsg(fd, &m, 0);
}

// Client: "leafudp-client"; sendto/recvfrom, sendmsg/recvmsg, or connect +
// send/recv.
void udp_client(ChildProcess& self, const Spec& s, uint16_t port) {
  prctl(PR_SET_NAME, "leafudp-client");
  enter_netns(s.client_ns);
  sockaddr_storage to;
  socklen_t len = make_addr(s.family, s.server_addr, port, &to);
  int fd = socket(s.family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM, 0);
  if (fd < 0) die("socket");
  if (s.connected && connect(fd, reinterpret_cast<sockaddr*>(&to), len) != 0) die("connect");
  std::vector<char> buf(70000, 'c');
  for (size_t q : s.queries) {
    ssize_t n = s.connected ? send(fd, buf.data(), q, 0)
                : s.use_msg ? send_msg(fd, buf.data(), q, &to, len)
                            : sendto(fd, buf.data(), q, 0, reinterpret_cast<sockaddr*>(&to), len);
    if (n != static_cast<ssize_t>(q)) die("send");
    sockaddr_storage from{};
    socklen_t flen = sizeof(from);
    if (s.connected)
      n = recv(fd, buf.data(), buf.size(), 0);
    else if (s.use_msg)
      n = recv_msg(fd, buf.data(), buf.size());
    else if (s.ask_source)
      n = recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &flen);
    else
      n = recvfrom(fd, buf.data(), buf.size(), 0, nullptr, nullptr);
    if (n != static_cast<ssize_t>(s.reply)) die("recv");
  }
  self.send({local_port(fd), 0, 0});
  close(fd);
}

// Sums of the udp_flow events of one flow (by owner and ends).
struct Flow {
  uint64_t events = 0, bytes_sent = 0, bytes_recv = 0, dgrams_sent = 0, dgrams_recv = 0;
  std::vector<Json> data;
};

Flow flow_of(const LeafHost& host, pid_t pid, uint16_t src_port, uint16_t dst_port) {
  Flow f;
  for (const auto& e : host.matching(leaf::test::event_type("udp_flow"))) {
    const Json& d = e["data"];
    if (d["tgid"] != pid || d["src_port"] != src_port || d["dst_port"] != dst_port) continue;
    ++f.events;
    f.bytes_sent += d["bytes_sent"].get<uint64_t>();
    f.bytes_recv += d["bytes_recv"].get<uint64_t>();
    f.dgrams_sent += d["datagrams_sent"].get<uint64_t>();
    f.dgrams_recv += d["datagrams_recv"].get<uint64_t>();
    f.data.push_back(d);
  }
  return f;
}

// Any udp_flow of `pid` at all (to see that nothing else was counted).
size_t flows_of_pid(const LeafHost& host, pid_t pid) {
  return host
      .matching([pid](const Json& e) {
        return e.contains("data") && e["data"].value("type", "") == "udp_flow" &&
               e["data"]["tgid"] == pid;
      })
      .size();
}

void check_flow(const Flow& f, const std::string& comm, pid_t pid, uint64_t dsent, uint64_t bsent,
                uint64_t drecv, uint64_t brecv, int family, const std::string& src_ip,
                const std::string& dst_ip) {
  REQUIRE(f.events >= 1);
  CHECK(f.dgrams_sent == dsent);
  CHECK(f.bytes_sent == bsent);
  CHECK(f.dgrams_recv == drecv);
  CHECK(f.bytes_recv == brecv);
  for (const auto& d : f.data) {
    INFO(d.dump());
    CHECK(d["comm"] == comm);
    CHECK(d["pid"] == pid);
    CHECK(d["uid"] == getuid());
    CHECK(d["family"] == family);
    CHECK(d["protocol"] == "udp");
    CHECK(d["src_ip"] == src_ip);
    CHECK(d["dst_ip"] == dst_ip);
    CHECK(d["interval_ns"].get<uint64_t>() > 0);
    CHECK(d["last_seen"] >= d["first_seen"]);
  }
}

// leaf-host with the network plugin reporting udp_flow only, every
// `interval`; `more`: further network.toml keys.
HostOptions udp_options(const std::string& interval, const std::string& more = "") {
  HostOptions o;
  o.plugins = {"network"};
  o.config["network.toml"] = "interval = \"" + interval + "\"\nevents = [\"udp_flow\"]\n" + more;
  return o;
}

// Runs one exchange and asserts both ends' flows. The server's socket is
// bound to the address, so its local end is that address; the client's
// unconnected socket is bound to the wildcard address.
// `hook`: the hook udp_send and udp_recv must have used ("": any).
void udp_exchange(const Spec& s, const std::string& client_ip, const std::string& hook = "") {
  LeafHost host(udp_options("1s", s.toml));
  host.start();
  ChildProcess server([&](ChildProcess& self) { udp_server(self, s); });
  uint16_t sport = static_cast<uint16_t>(server.receive().port);
  ChildProcess client([&](ChildProcess& self) { udp_client(self, s, sport); });
  uint16_t cport = static_cast<uint16_t>(client.receive().port);
  REQUIRE(client.wait() == 0);
  REQUIRE(server.wait() == 0);

  uint64_t up = 0;
  for (size_t q : s.queries) up += q;
  uint64_t n = s.queries.size(), down = n * s.reply;
  // Until the server's flow shows every datagram, then one round more: a
  // later interval must add nothing.
  auto deadline = std::chrono::steady_clock::now() + leaf::test::scaled(10s);
  while (std::chrono::steady_clock::now() < deadline) {
    Flow f = flow_of(host, server.pid(), sport, cport);
    Flow c = flow_of(host, client.pid(), cport, sport);
    if ((f.dgrams_recv >= n || s.ignored) && (c.dgrams_recv >= n || s.client_filtered || s.ignored))
      break;
    std::this_thread::sleep_for(100ms);
  }
  std::this_thread::sleep_for(1500ms);
  REQUIRE(host.stop() == 0);
  if (!hook.empty()) {
    INFO(host.stderr_text());
    for (const char* probe : {"udp_send", "udp_recv"})
      CHECK(host.stderr_text().find(std::string("probe ") + probe + " attached via " + hook) !=
            std::string::npos);
  }
  if (s.ignored) {
    CHECK(flows_of_pid(host, server.pid()) == 0);
    CHECK(flows_of_pid(host, client.pid()) == 0);
    return;
  }

  std::string any = s.family == 4 ? "0.0.0.0" : "::";
  Flow srv = flow_of(host, server.pid(), sport, cport);
  Flow cli = flow_of(host, client.pid(), cport, sport);
  {
    INFO("server flow");
    check_flow(srv, "leafudp-server", server.pid(), n, down, n, up, s.family, s.server_addr,
               client_ip);
  }
  if (s.client_filtered) {
    CHECK(flows_of_pid(host, client.pid()) == 0);
  } else if (s.connected || s.ask_source) {
    INFO("client flow");
    check_flow(cli, "leafudp-client", client.pid(), n, up, n, down, s.family,
               s.connected ? client_ip : any, s.server_addr);
    // One flow per process: nothing counted under another remote end.
    CHECK(flows_of_pid(host, client.pid()) == cli.events);
  } else {
    // recvfrom() without an address on an unconnected socket: the
    // fentry/kprobe hooks read the source from the packet; the tracepoint
    // hooks (this machine) cannot see it: those datagrams are counted, once,
    // in the flow with the unknown remote end (unspecified address, port 0).
    Flow unknown = flow_of(host, client.pid(), cport, 0);
    INFO("client flows, unknown remote: " << unknown.events);
    CHECK(cli.dgrams_sent == n);
    CHECK(cli.bytes_sent == up);
    CHECK(cli.dgrams_recv + unknown.dgrams_recv == n);
    CHECK(cli.bytes_recv + unknown.bytes_recv == down);
    CHECK(unknown.dgrams_sent == 0);
    for (const auto& d : unknown.data) CHECK(d["dst_ip"] == any);
    CHECK(flows_of_pid(host, client.pid()) == cli.events + unknown.events);
  }
  CHECK(flows_of_pid(host, server.pid()) == srv.events);
}

// Two network namespaces joined by a veth pair, deleted on scope exit.
struct NetnsPair {
  std::string a, b, ip_a, ip_b;
  NetnsPair() {
    std::string id = std::to_string(getpid() % 250 + 1);
    a = "leafudp-a-" + std::to_string(getpid());
    b = "leafudp-b-" + std::to_string(getpid());
    ip_a = "10.198." + id + ".1";
    ip_b = "10.198." + id + ".2";
    std::string va = "luva" + std::to_string(getpid()), vb = "luvb" + std::to_string(getpid());
    shell("ip netns add " + a);
    shell("ip netns add " + b);
    shell("ip link add " + va + " netns " + a + " type veth peer name " + vb + " netns " + b);
    shell("ip -n " + a + " addr add " + ip_a + "/24 dev " + va);
    shell("ip -n " + b + " addr add " + ip_b + "/24 dev " + vb);
    shell("ip -n " + a + " link set " + va + " up");
    shell("ip -n " + b + " link set " + vb + " up");
  }
  ~NetnsPair() {
    try {
      shell("ip netns del " + a);
    } catch (...) {
    }
    try {
      shell("ip netns del " + b);
    } catch (...) {
    }
  }
};

}  // namespace

TEST_CASE("UDP over IPv4 loopback, unconnected client: exact counts per flow and direction") {
  Spec s;
  s.queries = {100, 1, 1400, 65000, 7};
  s.reply = 333;
  udp_exchange(s, "127.0.0.1");
}

TEST_CASE("sendmsg/recvmsg on an unconnected socket: the addresses of the msghdr, exact") {
  Spec s;
  s.use_msg = true;
  s.queries = {64, 3000};
  s.reply = 21;
  udp_exchange(s, "127.0.0.1");
  s.family = 6;
  s.server_addr = "::1";
  udp_exchange(s, "::1");
}

TEST_CASE("recv without asking the source, unconnected: counted once, exactly") {
  Spec s;
  s.ask_source = false;
  s.queries = {10, 20};
  s.reply = 50;
  udp_exchange(s, "127.0.0.1");
}

TEST_CASE("UDP over IPv4 loopback, connected client") {
  Spec s;
  s.connected = true;
  s.queries = {10, 20, 30};
  s.reply = 4000;
  udp_exchange(s, "127.0.0.1");
}

TEST_CASE("UDP over IPv6 loopback, unconnected and connected") {
  Spec s;
  s.family = 6;
  s.server_addr = "::1";
  s.queries = {512, 9000};
  s.reply = 48;
  udp_exchange(s, "::1");
  s.connected = true;
  udp_exchange(s, "::1");
}

TEST_CASE("a DNS-like exchange (one query, one answer) is one flow per end") {
  Spec s;
  s.queries = {40};
  s.reply = 120;
  udp_exchange(s, "127.0.0.1");
}

TEST_CASE("the raw_tp and classic tracepoint fallbacks count the same") {
  // sock:sock_send_length / sock_recv_length are 6.3+.
  if (access("/sys/kernel/tracing/events/sock/sock_send_length", F_OK) != 0) {
    MESSAGE("no sock:sock_send_length tracepoint on this kernel (before 6.3): nothing to test");
    return;
  }
  for (const char* skip :
       {R"(["fentry", "kprobe", "tp_btf"])", R"(["fentry", "kprobe", "tp_btf", "raw_tp"])"}) {
    INFO("hooks.skip = " << skip);
    Spec s;
    s.toml = std::string("[hooks]\nskip = ") + skip + "\n";
    s.queries = {100, 2000};
    s.reply = 77;
    udp_exchange(s, "127.0.0.1");
    s.connected = true;
    udp_exchange(s, "127.0.0.1");
  }
}

TEST_CASE("the kprobe fallback (fentry skipped) counts the same") {
  // Kernels with kprobes (the matrix's guests; not this machine's own).
  if (access("/sys/kernel/tracing/kprobe_events", F_OK) != 0 &&
      access("/sys/kernel/debug/tracing/kprobe_events", F_OK) != 0) {
    MESSAGE("no kprobes on this kernel: nothing to test");
    return;
  }
  Spec s;
  s.toml = "[hooks]\nskip = [\"fentry\"]\n";
  s.queries = {100, 2000};
  s.reply = 77;
  udp_exchange(s, "127.0.0.1", "kprobe");
  s.family = 6;
  s.server_addr = "::1";
  s.use_msg = true;
  udp_exchange(s, "::1", "kprobe");
}

TEST_CASE("ignore.ports and the owner filter apply to UDP flows") {
  Spec s;
  s.queries = {30, 40};
  s.reply = 50;
  s.server_port = 28181;  // this issue's port range
  s.toml = "[ignore]\nports = [28181]\n";
  s.ignored = true;
  udp_exchange(s, "127.0.0.1");
  s = Spec{};
  s.queries = {30, 40};
  s.reply = 50;
  s.toml = "[filter]\ndrop_comms = [\"leafudp-client\"]\n";
  s.client_filtered = true;
  udp_exchange(s, "127.0.0.1");
}

TEST_CASE("UDP between two network namespaces over a veth pair") {
  NetnsPair ns;
  Spec s;
  s.server_addr = ns.ip_b;
  s.server_ns = ns.b;
  s.client_ns = ns.a;
  s.queries = {200, 1200, 64};
  s.reply = 900;
  udp_exchange(s, ns.ip_a);
  s.connected = true;
  udp_exchange(s, ns.ip_a);
}

namespace {

// sendto `port` on 127.0.0.1 from `fd` (`q` bytes), then recvfrom the reply
// (`reply` bytes) asking its source.
void ask(int fd, uint16_t port, size_t q, size_t reply) {
  sockaddr_storage to;
  socklen_t len = make_addr(4, "127.0.0.1", port, &to);
  std::vector<char> buf(70000, 'm');
  if (sendto(fd, buf.data(), q, 0, reinterpret_cast<sockaddr*>(&to), len) !=
      static_cast<ssize_t>(q))
    die("sendto");
  sockaddr_storage from{};
  socklen_t flen = sizeof(from);
  if (recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &flen) !=
      static_cast<ssize_t>(reply))
    die("recvfrom");
}

// Polls until `done` holds (up to 15 s, scaled for slow guests).
bool wait_for(const std::function<bool()>& done) {
  auto deadline = std::chrono::steady_clock::now() + leaf::test::scaled(15s);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return done();
}

}  // namespace

// On kernels with fentry the socket's first flow is counted in its own
// cache (udp_cache.bpf.h) and the second in the flow table: the first
// phase must be reported while the socket is still open (only the
// interval's flush can move a cache's counts then), the last at its close.
TEST_CASE("one socket, two peers, reported while it stays open and at its close: exact") {
  LeafHost host(udp_options("1s"));
  host.start();
  Spec a, b;
  a.queries = {100, 200, 300};
  a.reply = 11;
  b.queries = {40, 50, 60};
  b.reply = 7;
  ChildProcess sa([&](ChildProcess& self) { udp_server(self, a); });
  ChildProcess sb([&](ChildProcess& self) { udp_server(self, b); });
  uint16_t pa = static_cast<uint16_t>(sa.receive().port);
  uint16_t pb = static_cast<uint16_t>(sb.receive().port);
  int go[2];
  REQUIRE(pipe(go) == 0);
  ChildProcess client([&](ChildProcess& self) {
    close(go[1]);
    prctl(PR_SET_NAME, "leafudp-multi");
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) die("socket");
    ask(fd, pa, 100, 11);
    ask(fd, pb, 40, 7);
    ask(fd, pa, 200, 11);
    ask(fd, pb, 50, 7);
    uint16_t port = local_port(fd);
    self.send({port, 0, 0});
    char c;
    if (read(go[0], &c, 1) != 1) die("read go");
    ask(fd, pa, 300, 11);
    ask(fd, pb, 60, 7);
    close(fd);
    self.send({port, 0, 0});
  });
  close(go[0]);
  uint16_t cport = static_cast<uint16_t>(client.receive().port);
  {
    INFO("the first phase, reported while the client's socket is open");
    CHECK(wait_for([&] {
      return flow_of(host, client.pid(), cport, pa).dgrams_sent == 2 &&
             flow_of(host, client.pid(), cport, pb).dgrams_sent == 2;
    }));
  }
  REQUIRE(write(go[1], "g", 1) == 1);
  close(go[1]);
  client.receive();
  REQUIRE(client.wait() == 0);
  REQUIRE(sa.wait() == 0);
  REQUIRE(sb.wait() == 0);
  CHECK(wait_for([&] {
    return flow_of(host, client.pid(), cport, pa).dgrams_recv == 3 &&
           flow_of(host, client.pid(), cport, pb).dgrams_recv == 3;
  }));
  std::this_thread::sleep_for(1500ms);  // a later interval adds nothing
  REQUIRE(host.stop() == 0);
  {
    INFO("client -> first peer");
    check_flow(flow_of(host, client.pid(), cport, pa), "leafudp-multi", client.pid(), 3, 600, 3, 33,
               4, "0.0.0.0", "127.0.0.1");
  }
  {
    INFO("client -> second peer");
    check_flow(flow_of(host, client.pid(), cport, pb), "leafudp-multi", client.pid(), 3, 150, 3, 21,
               4, "0.0.0.0", "127.0.0.1");
  }
  CHECK(flows_of_pid(host, client.pid()) == flow_of(host, client.pid(), cport, pa).events +
                                                flow_of(host, client.pid(), cport, pb).events);
  {
    INFO("the peers");
    check_flow(flow_of(host, sa.pid(), pa, cport), "leafudp-server", sa.pid(), 3, 33, 3, 600, 4,
               "127.0.0.1", "127.0.0.1");
    check_flow(flow_of(host, sb.pid(), pb, cport), "leafudp-server", sb.pid(), 3, 21, 3, 150, 4,
               "127.0.0.1", "127.0.0.1");
  }
}

// leaf-host stopping (or this probe restarting) before the interval ends:
// the partial interval is reported, not lost.
TEST_CASE("the flows of the interval leaf-host stops in are reported at the stop, exactly") {
  LeafHost host(udp_options("1h"));
  host.start();
  Spec a;
  a.queries = {10, 20, 30};
  a.reply = 5;
  ChildProcess server([&](ChildProcess& self) { udp_server(self, a); });
  uint16_t sport = static_cast<uint16_t>(server.receive().port);
  ChildProcess client([&](ChildProcess& self) { udp_client(self, a, sport); });
  uint16_t cport = static_cast<uint16_t>(client.receive().port);
  REQUIRE(client.wait() == 0);
  REQUIRE(server.wait() == 0);
  CHECK(flows_of_pid(host, client.pid()) == 0);  // the hour has not ended
  REQUIRE(host.stop() == 0);
  check_flow(flow_of(host, client.pid(), cport, sport), "leafudp-client", client.pid(), 3, 60, 3,
             15, 4, "0.0.0.0", "127.0.0.1");
  check_flow(flow_of(host, server.pid(), sport, cport), "leafudp-server", server.pid(), 3, 15, 3,
             60, 4, "127.0.0.1", "127.0.0.1");
}

namespace {

// The value of one series on leaf-host's /metrics (-1: not there).
double metric_now(int metrics_port, const std::string& series) {
  return leaf::test::metric_series(leaf::test::http_get_raw(metrics_port, "/metrics"), series);
}

}  // namespace

// The owner filter applies to a socket that is already open when a SIGHUP
// adds its owner. On kernels with fentry that socket's flow is counted in
// the socket's own cache (udp_cache.bpf.h), whose owner was taken at its
// first datagram: the filter is applied at each flush, so the datagrams
// after the reload are dropped and counted, not reported.
TEST_CASE(
    "SIGHUP adds the owner of an open UDP socket to the filter: its later datagrams dropped") {
  HostOptions o = udp_options("1s", "[filter]\ndrop_comms = []\n");
  const int metrics_port = leaf::test::free_loopback_port();
  o.config["leaf.toml"] =
      "[metrics]\nlisten = \"127.0.0.1:" + std::to_string(metrics_port) + "\"\n";
  LeafHost host(o);
  host.start();
  const std::string filtered = "leaf_network_events_filtered_in_kernel_total{plugin=\"network\"}";
  Spec a;
  a.queries = {100, 200, 300, 400};
  a.reply = 11;
  ChildProcess server([&](ChildProcess& self) { udp_server(self, a); });
  uint16_t sport = static_cast<uint16_t>(server.receive().port);
  int go[2];
  REQUIRE(pipe(go) == 0);
  ChildProcess client([&](ChildProcess& self) {
    close(go[1]);
    prctl(PR_SET_NAME, "leafudp-hup");
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) die("socket");
    ask(fd, sport, 100, 11);
    ask(fd, sport, 200, 11);
    self.send({local_port(fd), 0, 0});
    char c;
    if (read(go[0], &c, 1) != 1) die("read go");
    ask(fd, sport, 300, 11);
    ask(fd, sport, 400, 11);
    close(fd);
  });
  close(go[0]);
  uint16_t cport = static_cast<uint16_t>(client.receive().port);
  {
    INFO("before the reload: reported while the socket is open");
    REQUIRE(wait_for([&] {
      Flow f = flow_of(host, client.pid(), cport, sport);
      return f.dgrams_sent == 2 && f.dgrams_recv == 2;
    }));
  }
  CHECK(metric_now(metrics_port, filtered) == 0);
  {
    std::ofstream(host.config_dir() + "/network.toml", std::ios::trunc)
        << udp_options("1s", "[filter]\ndrop_comms = [\"leafudp-hup\"]\n").config["network.toml"];
  }
  host.sighup_and_wait("SIGHUP: plugin network applied its new configuration");
  REQUIRE(write(go[1], "g", 1) == 1);
  close(go[1]);
  REQUIRE(client.wait() == 0);
  REQUIRE(server.wait() == 0);
  {
    INFO("the client's two queries and two replies after the reload, counted as filtered");
    CHECK(wait_for([&] {
      return metric_now(metrics_port, filtered) == 4 &&
             flow_of(host, server.pid(), sport, cport).dgrams_recv == 4;
    }));
  }
  std::this_thread::sleep_for(1500ms);  // a later interval adds nothing
  CHECK(metric_now(metrics_port, filtered) == 4);
  REQUIRE(host.stop() == 0);
  {
    INFO("the client: only what it moved before the reload");
    check_flow(flow_of(host, client.pid(), cport, sport), "leafudp-hup", client.pid(), 2, 300, 2,
               22, 4, "0.0.0.0", "127.0.0.1");
    CHECK(flows_of_pid(host, client.pid()) == flow_of(host, client.pid(), cport, sport).events);
  }
  {
    INFO("the server: not filtered, every datagram");
    check_flow(flow_of(host, server.pid(), sport, cport), "leafudp-server", server.pid(), 4, 44, 4,
               1000, 4, "127.0.0.1", "127.0.0.1");
  }
}
