// Cost of the throw hook (src/stacktrace/throw_site.cpp) per throw + catch, from `depth`
// extra frames down. Same-run baselines: the same throw with recording switched off (the
// hook still runs: one table lookup when the object is allocated), and the same exception
// thrown through libstdc++'s own __cxa_allocate_exception / __cxa_throw, bypassing the hook
// (what a throw costs in a program without this library).

#include <benchmark/benchmark.h>
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <typeinfo>

#include "stacktrace/throw_site.hpp"

namespace {

namespace throws = monitoring::stacktrace::detail;

using Allocate = void* (*)(std::size_t);
using Throw = void (*)(void*, std::type_info*, void (*)(void*));

template <class Fn>
Fn runtime_function(const char* name) {
  void* found = ::dlsym(RTLD_NEXT, name);
  if (found == nullptr) {
    std::fprintf(stderr, "%s not found: %s\n", name, ::dlerror());
    std::abort();
  }
  return reinterpret_cast<Fn>(found);
}

[[gnu::noinline]] void fail(int depth) {
  if (depth > 0) {
    fail(depth - 1);
    benchmark::ClobberMemory();  // not a tail call: every level stays on the stack
    return;
  }
  throw std::runtime_error("payment provider timed out");
}

[[gnu::noinline]] void fail_without_hook(int depth) {
  if (depth > 0) {
    fail_without_hook(depth - 1);
    benchmark::ClobberMemory();
    return;
  }
  static const auto allocate = runtime_function<Allocate>("__cxa_allocate_exception");
  static const auto raise = runtime_function<Throw>("__cxa_throw");
  void* object = allocate(sizeof(std::runtime_error));
  new (object) std::runtime_error("payment provider timed out");
  raise(object, const_cast<std::type_info*>(&typeid(std::runtime_error)),
        [](void* thrown) { static_cast<std::runtime_error*>(thrown)->~runtime_error(); });
}

template <void (*Fail)(int)>
void throw_and_catch(benchmark::State& state, bool record) {
  throws::set_throw_traces(record);
  const int depth = static_cast<int>(state.range(0));
  for (auto _ : state) {
    try {
      Fail(depth);
    } catch (const std::runtime_error& error) {
      benchmark::DoNotOptimize(error.what());
    }
  }
  throws::set_throw_traces(true);
}

void BM_ThrowCatch_Recorded(benchmark::State& state) {
  throw_and_catch<fail>(state, true);
}
void BM_ThrowCatch_RecordingOff(benchmark::State& state) {
  throw_and_catch<fail>(state, false);
}
void BM_ThrowCatch_WithoutHook(benchmark::State& state) {
  throw_and_catch<fail_without_hook>(state, true);
}

// Interleaved, so that machine noise hits all three alike.
BENCHMARK(BM_ThrowCatch_WithoutHook)->Arg(0)->Arg(20);
BENCHMARK(BM_ThrowCatch_RecordingOff)->Arg(0)->Arg(20);
BENCHMARK(BM_ThrowCatch_Recorded)->Arg(0)->Arg(20);

}  // namespace

BENCHMARK_MAIN();
