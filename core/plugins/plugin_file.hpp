// Opening a plugin file the way leaf-host may load it, before any of its code
// runs (issue 17, defects 4 and 5):
//   - the name must be leaf_<name>.so (the documented pattern);
//   - every directory from the file's up to / and the file itself must be
//     owned by root or by leaf-host's own uid and not writable by anyone else
//     (a sticky directory may be world-writable), whether or not leaf-host
//     runs as root: a least-privilege run (CAP_BPF + CAP_PERFMON) loads code
//     into a privileged process just the same;
//   - the file is opened once (O_NOFOLLOW | O_NONBLOCK: a FIFO cannot block
//     us), checked through that descriptor (fstat: a regular file, owner,
//     mode) and later loaded through /proc/self/fd/N, so what is checked is
//     what is loaded, with no window to swap it;
//   - its ELF header says a shared object for this machine and its dynamic
//     symbol table exports the entry point (libelf, no code run).
#pragma once

#include <string>

namespace leaf::core {

// True for "leaf_<name>.so" (the file name only).
bool is_plugin_file_name(const std::string& file_name);

// An open, checked plugin file. Move-only; closes the descriptor.
class PluginFile {
 public:
  PluginFile() = default;
  ~PluginFile();
  PluginFile(PluginFile&& o) noexcept;
  PluginFile& operator=(PluginFile&& o) noexcept;
  PluginFile(const PluginFile&) = delete;
  PluginFile& operator=(const PluginFile&) = delete;

  int fd() const { return fd_; }
  // "/proc/self/fd/N": the name the dynamic loader opens.
  std::string proc_path() const;
  // Gives the descriptor up without closing it (see PluginLibrary).
  int release();

 private:
  friend std::string open_plugin_file(const std::string& path, PluginFile* out);
  int fd_ = -1;
};

// Runs every check above on `path`. Returns the reason for refusing it (one
// sentence naming the file or directory at fault), or "" with *out open.
std::string open_plugin_file(const std::string& path, PluginFile* out);

// The owner/mode rule alone, for one stat result: "" when acceptable.
std::string unsafe_owner_or_mode(const std::string& what, uid_t uid, gid_t gid, mode_t mode,
                                 bool directory);

}  // namespace leaf::core
