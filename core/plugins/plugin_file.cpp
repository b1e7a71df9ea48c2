#include "plugins/plugin_file.hpp"

#include <fcntl.h>
#include <gelf.h>
#include <leaf/sdk/abi.h>
#include <libelf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <regex>

namespace fs = std::filesystem;

namespace leaf::core {

bool is_plugin_file_name(const std::string& file_name) {
  static const std::regex kPattern("leaf_[A-Za-z0-9_.-]+\\.so");
  return std::regex_match(file_name, kPattern);
}

PluginFile::~PluginFile() {
  if (fd_ >= 0) close(fd_);
}
PluginFile::PluginFile(PluginFile&& o) noexcept : fd_(o.release()) {}
PluginFile& PluginFile::operator=(PluginFile&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    fd_ = o.release();
  }
  return *this;
}
std::string PluginFile::proc_path() const { return "/proc/self/fd/" + std::to_string(fd_); }
int PluginFile::release() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

std::string unsafe_owner_or_mode(const std::string& what, uid_t uid, gid_t gid, mode_t mode,
                                 bool directory) {
  const uid_t self = geteuid();
  if (uid != 0 && uid != self)
    return what + " is owned by uid " + std::to_string(uid) +
           (self == 0 ? ", not root"
                      : ", neither root nor leaf-host's uid " + std::to_string(self));
  if (directory && (mode & S_ISVTX)) return {};  // others cannot replace entries they do not own
  if (mode & S_IWOTH) return what + " is writable by everyone";
  if ((mode & S_IWGRP) && gid != 0) return what + " is writable by group " + std::to_string(gid);
  return {};
}

namespace {

// Every directory from `dir` up to /.
std::string check_directory_chain(fs::path dir) {
  for (;;) {
    struct stat st;
    if (lstat(dir.c_str(), &st) != 0)
      return "cannot stat directory " + dir.string() + ": " + std::strerror(errno);
    if (std::string why = unsafe_owner_or_mode("directory " + dir.string(), st.st_uid, st.st_gid,
                                               st.st_mode, true);
        !why.empty())
      return why;
    if (dir == dir.root_path() || !dir.has_parent_path()) return {};
    dir = dir.parent_path();
  }
}

std::string file_type_name(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

#if defined(__x86_64__)
constexpr int kMachine = EM_X86_64;
#elif defined(__aarch64__)
constexpr int kMachine = EM_AARCH64;
#else
constexpr int kMachine = -1;  // not checked
#endif

bool exports(Elf* e, const char* symbol) {
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(e, scn)) != nullptr) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNSYM || !sh.sh_entsize) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (!data) continue;
    size_t n = sh.sh_size / sh.sh_entsize;
    for (size_t i = 0; i < n; ++i) {
      GElf_Sym sym;
      if (!gelf_getsym(data, static_cast<int>(i), &sym) || sym.st_shndx == SHN_UNDEF) continue;
      const char* name = elf_strptr(e, sh.sh_link, sym.st_name);
      if (name && std::strcmp(name, symbol) == 0) return true;
    }
  }
  return false;
}

// The ELF checks, read through `fd` (libelf: Debian's ELF reader, already
// a dependency of libbpf).
std::string check_elf(int fd) {
  if (elf_version(EV_CURRENT) == EV_NONE) return "libelf is unusable";
  Elf* e = elf_begin(fd, ELF_C_READ, nullptr);
  if (!e) return std::string("not a loadable library: not an ELF file (") + elf_errmsg(-1) + ")";
  std::string why;
  GElf_Ehdr eh;
  if (elf_kind(e) != ELF_K_ELF || !gelf_getehdr(e, &eh))
    why = "not a loadable library: not an ELF file";
  else if (eh.e_type != ET_DYN)
    why = "not a loadable library: an ELF file but not a shared object";
  else if (gelf_getclass(e) != (sizeof(void*) == 8 ? ELFCLASS64 : ELFCLASS32) ||
           (kMachine >= 0 && eh.e_machine != kMachine))
    why = "not a loadable library: built for ELF machine " + std::to_string(eh.e_machine) +
          ", this host is " + std::to_string(kMachine);
  else if (!exports(e, sdk::kEntryPointName))
    why = std::string("not a Leaf plugin: no entry point '") + sdk::kEntryPointName + "'";
  elf_end(e);
  return why;
}

}  // namespace

std::string open_plugin_file(const std::string& path, PluginFile* out) {
  fs::path p(path);
  if (!is_plugin_file_name(p.filename().string()))
    return "not named leaf_<name>.so: plugin files are named leaf_<name>.so";
  std::error_code ec;
  fs::path real = fs::canonical(p, ec);  // a symlink is followed here, once, and its target checked
  if (ec) return "cannot resolve " + path + ": " + ec.message();
  if (std::string why = check_directory_chain(real.parent_path()); !why.empty())
    return "refused: " + why;
  int fd = open(real.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return "cannot open " + real.string() + ": " + std::strerror(errno);
  PluginFile file;
  file.fd_ = fd;
  struct stat st;
  if (fstat(fd, &st) != 0) return "cannot stat " + real.string() + ": " + std::strerror(errno);
  if (!S_ISREG(st.st_mode))
    return "refused: " + real.string() + " is " + file_type_name(st.st_mode) + ", not a library";
  if (std::string why =
          unsafe_owner_or_mode(real.string(), st.st_uid, st.st_gid, st.st_mode, false);
      !why.empty())
    return "refused: " + why;
  if (std::string why = check_elf(fd); !why.empty()) return why;
  *out = std::move(file);
  return {};
}

}  // namespace leaf::core
