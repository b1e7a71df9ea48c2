// leaf-mock-kafka: a Kafka-protocol broker on loopback for development,
// tests and demos (librdkafka's mock cluster in a process of its own).
//
// Prints the bootstrap address as the first line of stdout, then serves
// commands read from stdin, one per line, each answered on stdout by one
// line starting with "ok" or "error":
//   down [BROKER]             take a broker (default: all) down: connections closed, refused
//   up [BROKER]               bring it back up
//   rtt MS [BROKER]           delay every response by MS milliseconds
//   errors API ERR [ERR...]   the next requests of Kafka API number API (0 = Produce)
//                             fail with these errors (numbers or names, e.g.
//                             NOT_LEADER_FOR_PARTITION, REQUEST_TIMED_OUT)
//   topic NAME PARTITIONS     create a topic
//   bootstrap                 print the bootstrap address again
//   quit                      exit
// Signals: SIGUSR1 = down (all), SIGUSR2 = up (all), SIGINT/SIGTERM = quit.
// End of stdin is not a quit: run it in the background with </dev/null.
#include <librdkafka/rdkafka.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "mock_cluster.hpp"

namespace {

using leaf::mock::MockCluster;

const char* const kDefaultTopics[] = {"system.events.network", "system.events.process",
                                      "system.events.performance", "system.metrics"};

struct Options {
  int brokers = 1;
  int partitions = 3;
  std::vector<std::pair<std::string, int>> topics;  // empty: the four Leaf topics
  bool start_down = false;
};

void usage(std::ostream& out) {
  out << "usage: leaf-mock-kafka [--brokers N] [--partitions N] [--topic NAME[:PARTITIONS]]...\n"
         "                       [--down]\n"
         "A Kafka-protocol broker (librdkafka mock cluster) on 127.0.0.1. Prints the bootstrap\n"
         "address on the first line of stdout, then reads commands on stdin:\n"
         "  down [BROKER] | up [BROKER] | rtt MS [BROKER] | errors API ERR... |\n"
         "  topic NAME PARTITIONS | bootstrap | quit\n"
         "Default topics: system.events.{network,process,performance}, system.metrics.\n"
         "--down starts with every broker down (clients cannot connect until 'up').\n"
         "SIGUSR1: down, SIGUSR2: up, SIGINT/SIGTERM: exit.\n";
}

int parse_int(const std::string& text, const char* what) {
  char* end = nullptr;
  long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0') {
    std::cerr << "leaf-mock-kafka: " << what << " must be a number, not '" << text << "'\n";
    std::exit(2);
  }
  return static_cast<int>(v);
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "leaf-mock-kafka: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--brokers") {
      o.brokers = parse_int(value(), "--brokers");
    } else if (a == "--partitions") {
      o.partitions = parse_int(value(), "--partitions");
    } else if (a == "--topic") {
      std::string t = value();
      auto colon = t.find(':');
      int parts = 0;  // 0: --partitions
      if (colon != std::string::npos) {
        parts = parse_int(t.substr(colon + 1), "partitions");
        t = t.substr(0, colon);
      }
      o.topics.emplace_back(t, parts);
    } else if (a == "--down") {
      o.start_down = true;
    } else if (a == "--help" || a == "-h") {
      usage(std::cout);
      std::exit(0);
    } else {
      std::cerr << "leaf-mock-kafka: unknown option '" << a << "'\n";
      usage(std::cerr);
      std::exit(2);
    }
  }
  if (o.brokers < 1 || o.partitions < 1) {
    std::cerr << "leaf-mock-kafka: --brokers and --partitions must be at least 1\n";
    std::exit(2);
  }
  return o;
}

// Error code from a number or a name ("NOT_LEADER_FOR_PARTITION", "_TRANSPORT").
bool parse_error_code(const std::string& text, int* out) {
  char* end = nullptr;
  long v = std::strtol(text.c_str(), &end, 10);
  if (!text.empty() && *end == '\0') {
    *out = static_cast<int>(v);
    return true;
  }
  const rd_kafka_err_desc* descs = nullptr;
  size_t n = 0;
  rd_kafka_get_err_descs(&descs, &n);
  for (size_t i = 0; i < n; ++i) {
    if (descs[i].name && text == descs[i].name) {
      *out = descs[i].code;
      return true;
    }
  }
  return false;
}

void reply(const std::string& err, const std::string& what) {
  if (err.empty())
    std::cout << "ok " << what << std::endl;
  else
    std::cout << "error " << what << ": " << err << std::endl;
}

// Runs one command line; returns false on quit.
bool run_command(MockCluster& cluster, const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  if (words.empty()) return true;
  const std::string& cmd = words[0];
  auto broker_arg = [&](size_t i) -> int32_t {
    return words.size() > i ? std::atoi(words[i].c_str()) : -1;
  };
  if (cmd == "quit" || cmd == "exit") {
    std::cout << "ok quit" << std::endl;
    return false;
  } else if (cmd == "down") {
    reply(cluster.set_down(broker_arg(1)), line);
    std::cerr << "leaf-mock-kafka: broker(s) down\n";
  } else if (cmd == "up") {
    reply(cluster.set_up(broker_arg(1)), line);
    std::cerr << "leaf-mock-kafka: broker(s) up\n";
  } else if (cmd == "rtt" && words.size() >= 2) {
    reply(cluster.set_rtt(broker_arg(2), std::atoi(words[1].c_str())), line);
  } else if (cmd == "errors" && words.size() >= 3) {
    std::vector<int> errs;
    for (size_t i = 2; i < words.size(); ++i) {
      int code = 0;
      if (!parse_error_code(words[i], &code)) {
        reply("unknown error code '" + words[i] + "'", line);
        return true;
      }
      errs.push_back(code);
    }
    reply(cluster.push_request_errors(static_cast<int16_t>(std::atoi(words[1].c_str())), errs),
          line);
  } else if (cmd == "topic" && words.size() == 3) {
    reply(cluster.create_topic(words[1], std::atoi(words[2].c_str())), line);
  } else if (cmd == "bootstrap") {
    std::cout << "ok " << cluster.bootstrap() << std::endl;
  } else {
    reply("unknown command (down, up, rtt, errors, topic, bootstrap, quit)", line);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options opts = parse_args(argc, argv);

  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGINT, SIGTERM, SIGUSR1, SIGUSR2, SIGHUP}) sigaddset(&signals, s);
  // Blocked before the cluster starts its threads, so they inherit the mask.
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  int sig_fd = signalfd(-1, &signals, SFD_CLOEXEC);
  signal(SIGPIPE, SIG_IGN);

  try {
    MockCluster cluster(opts.brokers);
    if (opts.topics.empty())
      for (const char* t : kDefaultTopics) opts.topics.emplace_back(t, 0);
    for (const auto& [name, parts] : opts.topics) {
      std::string err = cluster.create_topic(name, parts > 0 ? parts : opts.partitions);
      if (!err.empty()) {
        std::cerr << "leaf-mock-kafka: creating topic " << name << ": " << err << "\n";
        return 1;
      }
    }
    if (opts.start_down) cluster.set_down(-1);
    std::cout << cluster.bootstrap() << std::endl;
    std::cerr << "leaf-mock-kafka: " << opts.brokers << " broker(s) at " << cluster.bootstrap()
              << (opts.start_down ? " (down)" : "") << "; topics:";
    for (const auto& [name, parts] : opts.topics)
      std::cerr << " " << name << "[" << (parts > 0 ? parts : opts.partitions) << "]";
    std::cerr << "\n";

    bool stdin_open = true;
    std::string pending;
    for (;;) {
      pollfd fds[2] = {{sig_fd, POLLIN, 0}, {stdin_open ? 0 : -1, POLLIN, 0}};
      if (poll(fds, 2, -1) < 0) continue;
      if (fds[0].revents & POLLIN) {
        signalfd_siginfo info{};
        if (read(sig_fd, &info, sizeof(info)) == sizeof(info)) {
          if (info.ssi_signo == SIGUSR1) {
            run_command(cluster, "down");
          } else if (info.ssi_signo == SIGUSR2) {
            run_command(cluster, "up");
          } else {
            std::cerr << "leaf-mock-kafka: exiting on signal " << info.ssi_signo << "\n";
            return 0;
          }
        }
      }
      if (fds[1].revents & (POLLIN | POLLHUP)) {
        char buf[4096];
        ssize_t n = read(0, buf, sizeof(buf));
        if (n <= 0) {
          stdin_open = false;  // keep serving until a signal
          continue;
        }
        pending.append(buf, static_cast<size_t>(n));
        for (auto nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n')) {
          std::string line = pending.substr(0, nl);
          pending.erase(0, nl + 1);
          if (!run_command(cluster, line)) return 0;
        }
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "leaf-mock-kafka: " << e.what() << "\n";
    return 1;
  }
}
