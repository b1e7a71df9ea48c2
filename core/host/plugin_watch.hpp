// The plugins directory watch (issue 14, item 4): inotify on the directory,
// its descriptor read by Boost.Asio on the dispatcher's io_context, so every
// change is handled on the dispatcher thread, between two drains.
//
// A plugin file is reported only once it is complete:
//   - IN_CLOSE_WRITE: a file written in place (cp, install) was closed;
//   - IN_MOVED_TO: a file renamed into the directory (the atomic way: write
//     elsewhere in the same file system, then mv);
//   - IN_CREATE of a symbolic link or of a hard link (nothing is written
//     through the new name, so no close_write follows).
// A file that is still being written (IN_CREATE, IN_MODIFY) is never
// reported. Removal: IN_DELETE and IN_MOVED_FROM. When the kernel's queue
// overflowed (IN_Q_OVERFLOW) every plugin file present is reported again and
// the host compares with what it runs.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace leaf::core {

class PluginWatch {
 public:
  enum class Change { Appeared, Gone, Rescan };
  // `path`: dir + "/" + the file name (*.so only); empty for Rescan.
  using Handler = std::function<void(Change, const std::string& path)>;

  PluginWatch(boost::asio::io_context& io, std::string dir, Handler handler);
  ~PluginWatch();
  PluginWatch(const PluginWatch&) = delete;
  PluginWatch& operator=(const PluginWatch&) = delete;

  // Starts watching. Returns "" or why the directory cannot be watched.
  std::string start();
  void stop();
  const std::string& dir() const { return dir_; }

 private:
  void arm();
  void read_events();
  void on_event(uint32_t mask, const std::string& name);

  boost::asio::io_context& io_;
  std::string dir_;
  Handler handler_;
  std::unique_ptr<boost::asio::posix::stream_descriptor> fd_;
  // Set to false on stop(): a handler already queued does nothing.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace leaf::core
