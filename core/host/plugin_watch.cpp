#include "host/plugin_watch.hpp"

#include <spdlog/spdlog.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace leaf::core {

namespace asio = boost::asio;

PluginWatch::PluginWatch(asio::io_context& io, std::string dir, Handler handler)
    : io_(io), dir_(std::move(dir)), handler_(std::move(handler)) {}

PluginWatch::~PluginWatch() { stop(); }

std::string PluginWatch::start() {
  int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return std::string("inotify_init1: ") + std::strerror(errno);
  uint32_t mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MOVED_FROM |
                  IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
  if (inotify_add_watch(fd, dir_.c_str(), mask) < 0) {
    std::string why = std::string("cannot watch ") + dir_ + ": " + std::strerror(errno);
    close(fd);
    return why;
  }
  fd_ = std::make_unique<asio::posix::stream_descriptor>(io_, fd);
  arm();
  return {};
}

void PluginWatch::stop() {
  *alive_ = false;
  if (fd_) {
    boost::system::error_code ec;
    fd_->cancel(ec);
    fd_->close(ec);
    fd_.reset();
  }
}

void PluginWatch::arm() {
  fd_->async_wait(asio::posix::stream_descriptor::wait_read,
                  [this, alive = alive_](const boost::system::error_code& ec) {
                    if (ec || !*alive) return;
                    read_events();
                    if (*alive && fd_) arm();
                  });
}

void PluginWatch::read_events() {
  alignas(inotify_event) char buf[16 * 1024];
  for (;;) {
    ssize_t n = read(fd_->native_handle(), buf, sizeof(buf));
    if (n <= 0) {
      if (n < 0 && errno != EAGAIN && errno != EINTR)
        spdlog::error("plugins directory {}: reading inotify events: {}", dir_,
                      std::strerror(errno));
      return;
    }
    for (char* p = buf; p < buf + n;) {
      auto* e = reinterpret_cast<inotify_event*>(p);
      p += sizeof(inotify_event) + e->len;
      on_event(e->mask, e->len ? std::string(e->name) : std::string());
      if (!*alive_) return;  // the handler stopped the watch
    }
  }
}

void PluginWatch::on_event(uint32_t mask, const std::string& name) {
  if (mask & IN_Q_OVERFLOW) {
    handler_(Change::Rescan, {});
    return;
  }
  if (mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
    spdlog::error(
        "plugins directory {} was removed or moved: no longer watched; the running "
        "plugins run on",
        dir_);
    stop();
    return;
  }
  if (mask & IN_IGNORED) return;
  // Every *.so is looked at (one not named leaf_<name>.so is refused with
  // one line, as at start); other names (a copy's temporary file) are not.
  if (name.size() < 4 || name.compare(name.size() - 3, 3, ".so") != 0) return;
  std::string path = dir_ + "/" + name;
  if (mask & (IN_DELETE | IN_MOVED_FROM)) {
    handler_(Change::Gone, path);
  } else if (mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) {
    handler_(Change::Appeared, path);
  } else if (mask & IN_CREATE) {
    // Only a new name for something complete: a symbolic link, or a hard
    // link to a file that already had a name. A new file is reported at its
    // close_write, never while it is written.
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0) return;
    if (S_ISLNK(st.st_mode) || (S_ISREG(st.st_mode) && st.st_nlink > 1))
      handler_(Change::Appeared, path);
  }
}

}  // namespace leaf::core
