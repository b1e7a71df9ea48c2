#include "host/report.hpp"

#include <leaf/sdk/hooks.hpp>

#include "metrics/bpf_stats.hpp"
#include "metrics/kernel_facts.hpp"
#include "pipeline/json_writer.hpp"
#include "plugins/plugin_loader.hpp"

namespace leaf::core {

namespace {
std::string str(sdk::StringView v) { return v.data ? std::string(v.data, v.size) : std::string(); }

const char* type_name(sdk::OptionType t) {
  switch (t) {
    case sdk::OptionType::Bool:
      return "bool";
    case sdk::OptionType::Int:
      return "int";
    case sdk::OptionType::String:
      return "string";
    case sdk::OptionType::StringList:
      return "string list";
    case sdk::OptionType::IntList:
      return "int list";
    case sdk::OptionType::Size:
      return "size";
    case sdk::OptionType::Duration:
      return "duration";
  }
  return "?";
}
}  // namespace

std::vector<ProbeReport> probe_reports(const PluginInstance& p) {
  std::vector<ProbeReport> out;
  auto* probe = p.probe();
  if (!probe) return out;
  for (uint32_t i = 0; i < probe->probe_count(); ++i) {
    sdk::ProbeInfo info{};
    info.struct_size = sizeof(info);
    if (probe->probe_info(i, &info) != sdk::Status::Ok) continue;
    out.push_back({str(info.name), sdk::hooks::hook_name(info.hook), str(info.program),
                   str(info.detail), info.attached != 0});
  }
  return out;
}

void print_plugin_list(std::ostream& out,
                       const std::vector<std::unique_ptr<PluginInstance>>& plugins) {
  if (plugins.empty()) out << "no plugins\n";
  for (const auto& p : plugins) {
    const auto& d = p->descriptor();
    out << p->name() << " " << (d.version ? d.version : "?") << " (" << kind_name(d.kind)
        << ", ABI " << d.abi_major << "." << d.abi_minor << ") " << p->path() << "\n";
    if (d.description) out << "  " << d.description << "\n";
    if (auto* probe = p->probe()) {
      for (uint32_t i = 0; i < probe->event_type_count(); ++i) {
        const auto* t = probe->event_type(i);
        if (!t) continue;
        out << "  event " << t->name << " (" << sdk::category_name(t->category) << "):";
        for (uint32_t f = 0; f < t->field_count; ++f)
          if (!(t->fields[f].flags & sdk::kFieldHidden)) out << " " << t->fields[f].name;
        out << "\n";
      }
    }
    out << "  option enabled (bool, default true): run this plugin\n";
    for (const auto& o : p->options()) {
      out << "  option " << o.key << " (" << type_name(o.type) << ", default " << o.default_value;
      if (o.choices) out << ", one of " << o.choices;
      out << "): " << (o.doc ? o.doc : "") << "\n";
    }
  }
}

security::PluginFacts plugin_facts(const PluginInstance& p, bool bpf,
                                   const std::vector<ProbeReport>& reports) {
  security::PluginFacts f;
  f.name = p.name();
  f.bpf = bpf;
  for (const auto& r : reports)
    if (r.hook != "none") f.hooks.insert(r.hook);
  // The built-in enrich processor resolves cgroup ids with open_by_handle_at.
  if (p.name() == "enrich" && p.kind() == sdk::PluginKind::Processor) {
    const ConfigValue* v = p.config().find("cgroup_path");
    f.resolves_cgroups =
        !(v && std::holds_alternative<std::string>(*v) && std::get<std::string>(*v) == "never");
  }
  return f;
}

namespace {

// What --check found out about one plugin (gathered first, rendered after).
struct PluginCheck {
  std::string status = "ok", error;
  std::vector<std::string> missing;  // what this kernel or process lacks (probes)
  std::vector<ProbeReport> reports;
  security::PluginFacts facts;
};

// Opens a probe, starts it and stops it: status, error, probe reports.
void check_probe(PluginInstance& p, sdk::IProbePlugin* probe, PluginCheck& c, bool* loaded_bpf) {
  metrics::ProgramLoad load;
  auto opened = p.open_probe();  // as leaf-host opens it: no rings, timers or events
  // A probe that cannot load was trying to load BPF objects.
  *loaded_bpf = opened != sdk::Status::Ok || !load.taken().empty();
  if (opened != sdk::Status::Ok) {
    c.status = "cannot load";
    c.error = p.last_error();
  } else if (probe->start() != sdk::Status::Ok) {
    c.status = "cannot attach";
    c.error = p.last_error();
  }
  c.reports = probe_reports(p);
  probe->stop();
}

PluginCheck check_plugin(PluginInstance& p, const metrics::KernelFacts& facts) {
  PluginCheck c;
  bool loaded_bpf = false;
  if (auto* probe = p.probe()) {
    check_probe(p, probe, c, &loaded_bpf);
  } else if (auto* sink = p.sink()) {
    if (sink->open() != sdk::Status::Ok) c.status = "cannot open", c.error = p.last_error();
    sink->close();
  } else if (auto* proc = p.processor()) {
    if (proc->open() != sdk::Status::Ok) c.status = "cannot open", c.error = p.last_error();
    proc->close();
  }
  c.facts = plugin_facts(p, loaded_bpf, c.reports);
  // An enabled probe without any usable hook cannot run either (one that
  // this configuration does not need is not loaded on purpose).
  for (const auto& r : c.reports)
    if (!r.attached && r.hook == "none" && r.detail != sdk::hooks::kNotNeeded && c.status == "ok")
      c.status = "probe cannot run";
  if (c.status != "ok" && p.kind() == sdk::PluginKind::Probe) {
    std::string hooks = c.reports.empty() ? "none" : "", detail = c.error;
    for (const auto& r : c.reports)
      if (!r.attached) {
        if (hooks.empty() || r.hook == "none") hooks = r.hook;
        detail += "; " + r.detail;
      }
    c.missing = metrics::missing_for(facts, hooks, detail);
  }
  return c;
}

void render_system_text(std::ostream& out, const metrics::KernelFacts& facts) {
  auto yes = [](bool b) { return b ? "yes" : "no"; };
  out << "system:\n  kernel: " << facts.kernel << " (" << facts.machine << ")\n"
      << "  BTF: " << yes(facts.btf) << " (/sys/kernel/btf/vmlinux)\n"
      << "  privileges: root " << yes(facts.root) << ", CAP_BPF " << yes(facts.cap_bpf)
      << ", CAP_PERFMON " << yes(facts.cap_perfmon) << ", CAP_SYS_ADMIN "
      << yes(facts.cap_sys_admin) << "\n"
      << "  tracefs: "
      << (facts.tracefs ? "mounted at " + facts.tracefs_path : std::string("not mounted"))
      << "\n  kprobes: " << (facts.kprobes ? "available" : "not available") << "\n";
}

void render_plugin_text(std::ostream& out, const PluginInstance& p, const PluginCheck& c) {
  out << "plugin " << p.name() << " (" << kind_name(p.kind()) << ", " << p.path()
      << "): " << c.status;
  if (!c.error.empty()) out << ": " << c.error;
  out << "\n";
  for (const auto& m : c.missing) out << "  missing here: " << m << "\n";
  for (const auto& r : c.reports) {
    out << "  probe " << r.name << ": "
        << (r.attached
                ? "attached via " + r.hook
                : (r.hook == "none" ? std::string("no usable hook") : "would use " + r.hook));
    if (!r.detail.empty()) out << " (" << r.detail << ")";
    out << "\n";
  }
}

void render_probe_json(JsonWriter& w, const ProbeReport& r) {
  w.raw('{');
  w.key("name");
  w.string(r.name);
  w.raw(',');
  w.key("hook");
  w.string(r.hook);
  w.raw(',');
  w.key("program");
  w.string(r.program);
  w.raw(',');
  w.key("attached");
  w.boolean(r.attached);
  w.raw(',');
  w.key("detail");
  w.string(r.detail);
  w.raw('}');
}

void render_plugin_json(JsonWriter& w, const PluginInstance& p, const PluginCheck& c) {
  w.raw('{');
  for (auto [key, value] : {std::pair<const char*, std::string>{"name", p.name()},
                            {"kind", kind_name(p.kind())},
                            {"path", p.path()},
                            {"status", c.status},
                            {"error", c.error}}) {
    w.key(key);
    w.string(value);
    w.raw(',');
  }
  w.key("missing");
  w.raw('[');
  for (size_t i = 0; i < c.missing.size(); ++i) {
    if (i) w.raw(',');
    w.string(c.missing[i]);
  }
  w.raw("],");
  w.key("probes");
  w.raw('[');
  for (size_t i = 0; i < c.reports.size(); ++i) {
    if (i) w.raw(',');
    render_probe_json(w, c.reports[i]);
  }
  w.raw("]}");
}

void render_system_json(JsonWriter& w, const metrics::KernelFacts& facts) {
  w.raw("\"system\":{");
  w.key("kernel");
  w.string(facts.kernel);
  w.raw(',');
  w.key("machine");
  w.string(facts.machine);
  for (auto [key, value] : {std::pair{"btf", facts.btf},
                            {"root", facts.root},
                            {"cap_bpf", facts.cap_bpf},
                            {"cap_perfmon", facts.cap_perfmon},
                            {"cap_sys_admin", facts.cap_sys_admin},
                            {"tracefs", facts.tracefs},
                            {"kprobes", facts.kprobes}}) {
    w.raw(',');
    w.key(key);
    w.boolean(value);
  }
  w.raw(',');
  w.key("tracefs_path");
  w.string(facts.tracefs_path);
  w.raw('}');
}

}  // namespace

int run_check(CheckFormat format, std::ostream& out,
              const std::vector<std::unique_ptr<PluginInstance>>& plugins,
              const CapabilityReport& capabilities) {
  // What this kernel and process offer (the "what is missing" diagnosis).
  const metrics::KernelFacts facts = metrics::read_kernel_facts();
  std::vector<PluginCheck> checks;
  std::vector<security::PluginFacts> all_facts;
  int rc = 0;
  for (const auto& p : plugins) {
    checks.push_back(check_plugin(*p, facts));
    all_facts.push_back(checks.back().facts);
    if (checks.back().status != "ok") rc = 1;
  }
  if (format == CheckFormat::Text) {
    render_system_text(out, facts);
    for (size_t i = 0; i < plugins.size(); ++i) render_plugin_text(out, *plugins[i], checks[i]);
    if (capabilities) out << capabilities(all_facts, format);
    out << (rc == 0 ? "check passed: every enabled plugin can run here\n"
                    : "check FAILED: an enabled plugin cannot run here\n");
  } else {
    std::string json = "{\"plugins\":[";
    JsonWriter w(json);
    for (size_t i = 0; i < plugins.size(); ++i) {
      if (i) w.raw(',');
      render_plugin_json(w, *plugins[i], checks[i]);
    }
    w.raw("],");
    render_system_json(w, facts);
    if (capabilities) {
      w.raw(',');
      w.key("capabilities");
      w.raw(capabilities(all_facts, format));
    }
    json += rc == 0 ? ",\"ok\":true}" : ",\"ok\":false}";
    out << json << "\n";
  }
  return plugins.empty() ? 1 : rc;
}

}  // namespace leaf::core
