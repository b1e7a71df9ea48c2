#include "config/secrets.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <vector>

namespace leaf::core {

namespace {
std::mutex g_mu;
std::vector<std::string> g_secrets;  // longest first: a secret containing another is replaced whole
std::atomic<bool> g_any{false};
}  // namespace

void register_secret(std::string value) {
  if (value.empty()) return;
  std::lock_guard lock(g_mu);
  if (std::find(g_secrets.begin(), g_secrets.end(), value) != g_secrets.end()) return;
  g_secrets.push_back(std::move(value));
  std::stable_sort(g_secrets.begin(), g_secrets.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  g_any.store(true, std::memory_order_release);
}

std::string redact(std::string_view text) {
  std::string out(text);
  if (!g_any.load(std::memory_order_acquire)) return out;
  std::lock_guard lock(g_mu);
  for (const auto& s : g_secrets) {
    for (size_t at = out.find(s); at != std::string::npos; at = out.find(s, at + 8))
      out.replace(at, s.size(), "[secret]");
  }
  return out;
}

bool holds_secret(std::string_view text) {
  if (!g_any.load(std::memory_order_acquire)) return false;
  std::lock_guard lock(g_mu);
  for (const auto& s : g_secrets)
    if (text.find(s) != std::string_view::npos) return true;
  return false;
}

}  // namespace leaf::core
