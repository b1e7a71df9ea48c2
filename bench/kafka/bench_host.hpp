// The smallest IHost that can run the Kafka sink outside leaf-host: every
// declared option at its default unless overridden (TOML-like text).
#pragma once

#include <leaf/sdk/abi.h>

#include <map>
#include <string>
#include <vector>

namespace leaf::bench {

class BenchHost final : public sdk::IHost {
 public:
  BenchHost(const sdk::PluginDescriptor* desc, const std::map<std::string, std::string>& config);

  void log(sdk::LogLevel level, sdk::StringView message) noexcept override;
  sdk::Status config_bool(sdk::StringView key, bool* out) const noexcept override;
  sdk::Status config_int(sdk::StringView key, int64_t* out) const noexcept override;
  sdk::Status config_string(sdk::StringView key, sdk::StringView* out) const noexcept override;
  sdk::Status config_list_size(sdk::StringView key, uint32_t* out) const noexcept override;
  sdk::Status config_list_string(sdk::StringView key, uint32_t index,
                                 sdk::StringView* out) const noexcept override;
  sdk::Status config_list_int(sdk::StringView, uint32_t, int64_t*) const noexcept override {
    return sdk::Status::InvalidArgument;
  }
  sdk::Status add_ring_buffer(const sdk::RingBufferRegistration*) noexcept override {
    return sdk::Status::NotSupported;
  }
  sdk::Status emit(const sdk::EventTypeDesc*, const uint8_t*, uint32_t) noexcept override {
    return sdk::Status::NotSupported;
  }
  sdk::Status add_timer(uint64_t, sdk::ITimerHandler*) noexcept override {
    return sdk::Status::NotSupported;
  }
  sdk::StringView hostname() const noexcept override { return {"bench", 5}; }
  sdk::StringView plugin_name() const noexcept override { return {"kafka", 5}; }
  sdk::LogLevel log_level() const noexcept override { return sdk::LogLevel::Info; }
  uint64_t ring_wakeup_delay_ns() const noexcept override { return 0; }

 private:
  struct Value {
    sdk::OptionType type;
    bool b = false;
    int64_t i = 0;
    std::string s;
    std::vector<std::string> list;
  };
  const Value* find(sdk::StringView key) const;
  std::map<std::string, Value> values_;
};

}  // namespace leaf::bench
