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

/// What is known about one return address (Sentry needs the parts, logs the text).
struct SymbolizedFrame {
  std::string function;  ///< demangled; empty when unknown
  std::string file;      ///< source file from debug info; empty when unknown
  int line = 0;
  std::string object;  ///< the executable or shared object holding the address
  std::string text;    ///< "0x000055d0c1a2b3c4 in payment::process(int) at src/payment.cpp:42"
};

/// Turns return addresses into text, one frame per line:
/// "#0 0x000055d0c1a2b3c4 in payment::process(int) at src/payment.cpp:42". Caches per
/// address. One instance per thread (background threads only: lookups are slow).
class Symbolizer {
 public:
  void append(std::string& out, const void* const* frames, std::uint32_t count);
  /// The parts of one frame (cached, valid until the next call). A return address points
  /// after its call and is looked up one byte back; the faulting instruction of a signal is
  /// exact (`is_return_address` false): one byte back may be another function.
  const SymbolizedFrame& resolve(std::uintptr_t address, bool is_return_address = true);

 private:
  std::unordered_map<std::uintptr_t, SymbolizedFrame> cache_;
};

}  // namespace monitoring::logging::detail
