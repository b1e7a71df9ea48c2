// Finding and opening plugin libraries (Boost.DLL): permission checks, the
// entry point, ABI negotiation. Every refusal is one clear reason naming the
// file; the caller logs it and goes on with the other plugins.
#pragma once

#include <leaf/sdk/abi.h>

#include <boost/dll/shared_library.hpp>
#include <boost/dll/shared_library_load_mode.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace leaf::core {

// The descriptor a library was loaded through (/proc/self/fd/N). Held for
// the library's life, so that no other file gets that descriptor number, and
// so that name, while the library is loaded (the dynamic loader finds an
// already loaded library by name); closed only once the library is gone.
class LibraryFd {
 public:
  LibraryFd() = default;
  explicit LibraryFd(int fd) : fd_(fd) {}
  ~LibraryFd();
  LibraryFd(LibraryFd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  LibraryFd& operator=(LibraryFd&& o) noexcept;
  LibraryFd(const LibraryFd&) = delete;
  LibraryFd& operator=(const LibraryFd&) = delete;

 private:
  int fd_ = -1;
};

// The dlopen() mode of every plugin (and of its trial load). Sanitizer
// builds (scripts/sanitize.sh defines LEAF_KEEP_PLUGINS_MAPPED) add
// RTLD_NODELETE: a library's memory stays mapped after dlclose(), so
// LeakSanitizer still sees the pointers its global state holds instead of
// reporting librdkafka's (and OpenSSL's, SASL's...) globals as leaks of an
// "<unknown module>". The descriptor then stays open too (~LibraryFd).
boost::dll::load_mode::type plugin_load_mode();

struct PluginLibrary {
  LibraryFd fd;  // destroyed after `library`
  // Declared before the other members so that it is destroyed after them:
  // no object, descriptor or string from the library may outlive it.
  boost::dll::shared_library library;
  // The plugin's descriptor and option table, copied into the host's layout
  // (plugins/abi_tables.hpp); the strings point into the library.
  sdk::PluginDescriptor descriptor{};
  std::vector<sdk::ConfigOption> options;
  std::string path;
  std::string name;
};

// Checks a descriptor (ABI version, sizes, name, kind) and copies it into
// `out` (library left empty). Returns false with the reason in *error.
bool accept_descriptor(const sdk::PluginDescriptor* d, PluginLibrary* out, std::string* error);

// A plugin compiled into leaf-host (path "<built-in>"). Throws
// std::logic_error when its descriptor is not acceptable.
PluginLibrary builtin_library(const sdk::PluginDescriptor* d);

// The plugin files (*.so) in `dir`, sorted by name. Throws
// std::runtime_error when the directory cannot be read.
std::vector<std::string> list_plugin_files(const std::string& dir);

struct LoadOptions {
  // 0: no trial load in a child process (plugins/trial_load.hpp).
  std::chrono::milliseconds trial_timeout{10'000};
  std::string trial_exe = "/proc/self/exe";
};

// Opens one library: the file checks of plugins/plugin_file.hpp, a trial load
// in a child process, then the load itself and the descriptor checks.
// Returns nullopt with the reason in *error.
std::optional<PluginLibrary> open_plugin(const std::string& path, std::string* error,
                                         const LoadOptions& options = {});

const char* kind_name(sdk::PluginKind kind);

}  // namespace leaf::core
