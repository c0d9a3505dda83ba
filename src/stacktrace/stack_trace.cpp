#include "stacktrace/stack_trace.hpp"

#include <backtrace.h>
#include <cxxabi.h>
#include <dlfcn.h>
#include <execinfo.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>

namespace monitoring::logging::detail {
namespace {

backtrace_state* symbol_state() {
  // libbacktrace states cannot be freed; one per process, thread-safe mode.
  static backtrace_state* state = backtrace_create_state(
      nullptr, 1, [](void*, const char*, int) {}, nullptr);
  return state;
}

struct FrameInfo {
  std::string function;
  std::string file;
  int line = 0;
};

int on_pcinfo(void* data, std::uintptr_t, const char* file, int line, const char* function) {
  auto* info = static_cast<FrameInfo*>(data);
  // Inlined frames come first; keep the outermost (last reported) with a name.
  if (function != nullptr) info->function = function;
  if (file != nullptr) {
    info->file = file;
    info->line = line;
  }
  return 0;
}

void on_syminfo(void* data, std::uintptr_t, const char* symbol, std::uintptr_t, std::uintptr_t) {
  auto* info = static_cast<FrameInfo*>(data);
  if (symbol != nullptr && info->function.empty()) info->function = symbol;
}

void on_error(void*, const char*, int) {}

// libbacktrace's threaded mode hands memory between threads through atomics in its own
// (uninstrumented) code, which ThreadSanitizer cannot see: the logging backend and the Sentry
// thread symbolizing at once were reported as races. Lookups happen only on a cache miss, off
// the hot paths, so one lock costs nothing measurable and makes the hand-over visible.
std::mutex g_lookup_mutex;

}  // namespace

std::uint32_t capture_stack(void** frames, std::uint32_t max) noexcept {
  const int count = ::backtrace(frames, static_cast<int>(max));
  return count > 0 ? static_cast<std::uint32_t>(count) : 0;
}

std::string demangle(const char* mangled) {
  if (mangled == nullptr) return "unknown";
  if (*mangled == '*') ++mangled;  // GCC marks some local type names with a leading '*'
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> name(
      abi::__cxa_demangle(mangled, nullptr, nullptr, &status), &std::free);
  return status == 0 && name ? std::string(name.get()) : std::string(mangled);
}

const SymbolizedFrame& Symbolizer::resolve(std::uintptr_t address, bool is_return_address) {
  // User-space addresses leave the top bit free: it tells the two lookups apart in the cache.
  const std::uintptr_t key = is_return_address ? address : address | (std::uintptr_t{1} << 63);
  auto found = cache_.find(key);
  if (found != cache_.end()) return found->second;
  if (cache_.size() > 8192) cache_.clear();  // bounded: a long-lived process sees many paths

  FrameInfo info;
  // A return address points after the call; look up the call instruction itself.
  const std::uintptr_t pc = is_return_address ? address - 1 : address;
  std::unique_lock lookup(g_lookup_mutex);
  if (backtrace_state* state = symbol_state()) {
    backtrace_pcinfo(state, pc, on_pcinfo, on_error, &info);
    if (info.function.empty()) {
      backtrace_syminfo(state, pc, on_syminfo, on_error, &info);
    } else if (!info.function.starts_with("_Z")) {
      // Without optimization DWARF may name a member function by its bare name ("TestBody");
      // the symbol table has the qualified one. Take it when it is the same function.
      FrameInfo symbol;
      backtrace_syminfo(state, pc, on_syminfo, on_error, &symbol);
      if (!symbol.function.empty()) {
        const std::string qualified = demangle(symbol.function.c_str());
        if (qualified.find("::" + info.function + "(") != std::string::npos)
          info.function = symbol.function;
      }
    }
  }
  lookup.unlock();
  SymbolizedFrame frame;
  Dl_info dl{};
  const bool has_object = dladdr(reinterpret_cast<void*>(pc), &dl) != 0 && dl.dli_fname != nullptr;
  if (has_object) frame.object = dl.dli_fname;
  std::string& text = frame.text;
  char hex[32];
  std::snprintf(hex, sizeof hex, "0x%016llx", static_cast<unsigned long long>(address));
  text += hex;
  text += " in ";
  if (!info.function.empty()) {
    frame.function = demangle(info.function.c_str());
    text += frame.function;
  } else if (has_object) {
    text += "?? (";
    text += dl.dli_fname;
    std::snprintf(
        hex, sizeof hex, "+0x%llx)",
        static_cast<unsigned long long>(address - reinterpret_cast<std::uintptr_t>(dl.dli_fbase)));
    text += hex;
  } else {
    text += "??";
  }
  if (!info.file.empty()) {
    frame.file = info.file;
    frame.line = info.line;
    text += " at ";
    text += info.file;
    text += ':';
    text += std::to_string(info.line);
  }
  return cache_.emplace(key, std::move(frame)).first->second;
}

void Symbolizer::append(std::string& out, const void* const* frames, std::uint32_t count) {
  for (std::uint32_t i = 0; i < count; ++i) {
    if (i > 0) out.push_back('\n');
    out += '#';
    out += std::to_string(i);
    out += ' ';
    out += resolve(reinterpret_cast<std::uintptr_t>(frames[i])).text;
  }
}

}  // namespace monitoring::logging::detail
