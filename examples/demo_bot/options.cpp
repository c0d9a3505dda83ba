#include "options.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <monitoring/error.hpp>
#include <string>
#include <string_view>

namespace demo {
namespace {

std::optional<std::string_view> variable(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) return std::nullopt;
  std::string_view text(value);
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\n'))
    text.remove_suffix(1);
  if (text.empty()) return std::nullopt;
  return text;
}

[[noreturn]] void bad(const char* name, std::string_view value, const char* expected) {
  throw monitoring::ConfigError(std::string(name) + ": invalid value \"" +
                                std::string(value.substr(0, 80)) + "\": " + expected);
}

template <class T>
T parse(const char* name, std::string_view text, const char* expected) {
  T value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) bad(name, text, expected);
  if constexpr (std::is_floating_point_v<T>)
    if (!std::isfinite(value)) bad(name, text, expected);
  return value;
}

}  // namespace

DemoOptions DemoOptions::from_env() {
  DemoOptions options;
  if (auto text = variable("DEMO_SEED"))
    options.seed = parse<std::uint64_t>("DEMO_SEED", *text, "expected an unsigned 64-bit integer");
  if (auto text = variable("DEMO_SPEED")) {
    constexpr const char* kExpected = "expected a number greater than 0 and at most 1000";
    options.speed = parse<double>("DEMO_SPEED", *text, kExpected);
    if (!(options.speed > 0 && options.speed <= 1000)) bad("DEMO_SPEED", *text, kExpected);
  }
  if (auto text = variable("DEMO_DURATION_SECONDS")) {
    constexpr const char* kExpected = "expected a number of seconds greater than 0";
    options.duration_seconds = parse<double>("DEMO_DURATION_SECONDS", *text, kExpected);
    if (!(*options.duration_seconds > 0)) bad("DEMO_DURATION_SECONDS", *text, kExpected);
  }
  if (auto text = variable("DEMO_THREADS")) {
    constexpr const char* kExpected = "expected an integer 1..64";
    options.threads = parse<int>("DEMO_THREADS", *text, kExpected);
    if (options.threads < 1 || options.threads > 64) bad("DEMO_THREADS", *text, kExpected);
  }
  return options;
}

}  // namespace demo
