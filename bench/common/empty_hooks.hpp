// Empty BPF programs attached on the hooks a plugin uses: the floor of a
// workload benchmark (what being attached costs before any work). Header-only;
// `Skel` is a bpftool skeleton whose programs are named <set>_<anything>, one
// set per hook path (e.g. "fentry", "traced"). EmptyHooks<Skel>("fentry")
// loads and attaches that set's programs only, and detaches them when
// destroyed; ok() is false when this kernel refuses the set, why() says what
// failed (libbpf's own log is kept quiet meanwhile).
#pragma once

#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

namespace leaf::bench {

template <class Skel>
class EmptyHooks {
 public:
  explicit EmptyHooks(const std::string& set) {
    libbpf_print_fn_t print = libbpf_set_print(nullptr);
    open_set(set);
    libbpf_set_print(print);
  }
  ~EmptyHooks() {
    for (auto* l : links_) bpf_link__destroy(l);
    Skel::destroy(skel_);
  }
  EmptyHooks(const EmptyHooks&) = delete;
  EmptyHooks& operator=(const EmptyHooks&) = delete;
  bool ok() const { return ok_; }
  const std::string& why() const { return why_; }

 private:
  void open_set(const std::string& set) {
    skel_ = Skel::open();
    if (!skel_) {
      why_ = std::string("open: ") + std::strerror(errno);
      return;
    }
    bpf_program* p;
    bool any = false;
    bpf_object__for_each_program(p, skel_->obj) {
      bool in = std::string(bpf_program__name(p)).rfind(set + "_", 0) == 0;
      bpf_program__set_autoload(p, in);
      any = any || in;
    }
    if (!any) {
      why_ = "no programs named " + set + "_*";
      return;
    }
    if (int err = Skel::load(skel_)) {
      why_ = std::string("load: ") + std::strerror(-err);
      return;
    }
    bpf_object__for_each_program(p, skel_->obj) {
      if (!bpf_program__autoload(p)) continue;
      bpf_link* l = bpf_program__attach(p);
      if (!l) {
        why_ = std::string("attach ") + bpf_program__name(p) + ": " + std::strerror(errno);
        return;
      }
      links_.push_back(l);
    }
    ok_ = true;
  }

  Skel* skel_ = nullptr;
  std::vector<bpf_link*> links_;
  bool ok_ = false;
  std::string why_;
};

}  // namespace leaf::bench
