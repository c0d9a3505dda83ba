#pragma once

// Stack traces for exception(): raw return addresses captured on the caller thread (cheap,
// no symbol lookup), turned into "function at file:line" on the backend thread with
// libbacktrace (GCC's, which reads DWARF when present and the symbol table otherwise).

#include <cstdint>
#include <string>
#include <unordered_map>

namespace monitoring::logging::detail {

/// Fills `frames` with up to `max` return addresses of the caller's stack, the caller's
/// own frame first. Returns the count.
[[gnu::noinline]] std::uint32_t capture_stack(void** frames, std::uint32_t max) noexcept;

/// "std::runtime_error" from "St13runtime_error" (the input when it does not demangle).
std::string demangle(const char* mangled);

/// Turns return addresses into text, one frame per line:
/// "#0 0x000055d0c1a2b3c4 in payment::process(int) at src/payment.cpp:42". Caches per
/// address. Backend thread only.
class Symbolizer {
 public:
  void append(std::string& out, const void* const* frames, std::uint32_t count);

 private:
  const std::string& describe(std::uintptr_t address);
  std::unordered_map<std::uintptr_t, std::string> cache_;
};

}  // namespace monitoring::logging::detail
