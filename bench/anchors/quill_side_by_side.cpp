// The log call beside quill's in one thread: bursts of 20 calls alternate between our
// StructuredLogger and quill's JSON file sink, so both loggers see the same host noise (runs
// of separate programs on a shared machine differ by more than the two loggers do).
//
// Not part of CI: quill is not packaged by Debian. Build it against a quill source checkout:
//   cmake -B build/quill -DCMAKE_BUILD_TYPE=Release -DMONITORING_QUILL_INCLUDE_DIR=<quill>/include
//   cmake --build build/quill --target quill_side_by_side
//   build/quill/bench/quill_side_by_side [spin|sleep|fresh] [regular|static]
// spin: 7 us busy pause between bursts (warm caches); sleep: the thread sleeps 200 us (the
// way a service logs); fresh: sleep, on 10 new threads, 10 000 calls each. static: our call
// is a static call site (only the values queued, like quill's), else the regular call.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string_view>
#include <thread>
#include <vector>

#include "monitoring/logging.hpp"
#include "quill/Backend.h"
#include "quill/Frontend.h"
#include "quill/LogMacros.h"
#include "quill/Logger.h"
#include "quill/sinks/JsonSink.h"
#include "support/tsc_clock.hpp"

namespace {

namespace fs = std::filesystem;
namespace logging = monitoring::logging;

using bench::ns_per_tick;
using bench::ticks;

enum class Pause { kSpin, kSleep };
constexpr int kBurst = 20;

struct Samples {
  std::vector<std::uint64_t> all;
  std::vector<std::uint64_t> first_of_burst;  // the call after the pause
};

template <class Call>
void burst(Call& call, int base, Pause pause, Samples& samples) {
  for (int k = 0; k < kBurst; ++k) {
    const std::uint64_t start = ticks();
    call(base + k);
    const std::uint64_t elapsed = ticks() - start;
    samples.all.push_back(elapsed);
    if (k == 0) samples.first_of_burst.push_back(elapsed);
  }
  if (pause == Pause::kSpin) {
    const std::uint64_t end = ticks() + static_cast<std::uint64_t>(7'000 / ns_per_tick());
    while (ticks() < end) {
    }
  } else {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

double at(std::vector<std::uint64_t> values, double quantile) {
  std::sort(values.begin(), values.end());
  return static_cast<double>(
             values[static_cast<std::size_t>(quantile * static_cast<double>(values.size() - 1))]) *
         ns_per_tick();
}

double mean_below_p99(std::vector<std::uint64_t> values) {
  std::sort(values.begin(), values.end());
  const std::size_t count = values.size() * 99 / 100;
  double sum = 0;
  for (std::size_t i = 0; i < count; ++i) sum += static_cast<double>(values[i]);
  return sum / static_cast<double>(count) * ns_per_tick();
}

void report(const char* name, const Samples& samples) {
  std::printf(
      "%-6s mean<p99 %6.1f  p50 %5.0f  p99 %6.0f  p99.9 %7.0f ns | first call of a burst: p50 "
      "%5.0f  p99 %6.0f ns\n",
      name, mean_below_p99(samples.all), at(samples.all, 0.5), at(samples.all, 0.99),
      at(samples.all, 0.999), at(samples.first_of_burst, 0.5), at(samples.first_of_burst, 0.99));
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view mode = argc > 1 ? argv[1] : "sleep";
  if (mode != "spin" && mode != "sleep" && mode != "fresh") {
    std::fprintf(stderr, "usage: %s [spin|sleep|fresh] [regular|static] (got '%s')\n", argv[0],
                 argv[1]);
    return 2;
  }
  const std::string_view form = argc > 2 ? argv[2] : "regular";
  if (form != "regular" && form != "static") {
    std::fprintf(stderr, "usage: %s [spin|sleep|fresh] [regular|static] (got '%s')\n", argv[0],
                 argv[2]);
    return 2;
  }
  const bool static_site = form == "static";
  const Pause pause = mode == "spin" ? Pause::kSpin : Pause::kSleep;
  const fs::path dir = fs::temp_directory_path() / "monitoring-quill-side-by-side";
  fs::create_directories(dir);

  logging::LoggingOptions options;
  options.log_dir = dir.string();
  options.console = logging::ConsoleTarget::kNone;
  options.max_bytes = 0;
  logging::configure(options);
  monitoring::StructuredLogger ours("payment_service");

  quill::Backend::start();
  auto sink = quill::Frontend::create_or_get_sink<quill::JsonFileSink>(
      (dir / "quill.json").string(), quill::FileSinkConfig{}, quill::FileEventNotifier{});
  quill::Logger* theirs = quill::Frontend::create_or_get_logger("payment_service", std::move(sink));

  auto call_ours = [&](int i) {
    using logging::field;
    if (static_site)
      ours.info<"Processing payment">(field<"payment_id">(i), field<"amount">(1000),
                                      field<"user">("john"), field<"success">(true));
    else
      ours.info("Processing payment",
                {{"payment_id", i}, {"amount", 1000}, {"user", "john"}, {"success", true}});
  };
  auto call_theirs = [&](int i) {
    LOG_INFO(theirs, "Processing payment {payment_id} {amount} {user} {success}", i, 1000, "john",
             true);
  };
  ns_per_tick();

  Samples ours_samples, theirs_samples;
  // Which logger goes first alternates, so neither always runs on caches the other warmed.
  auto run = [&](int calls, Samples& a, Samples& b) {
    for (int done = 0; done < calls; done += kBurst) {
      if ((done / kBurst) % 2 == 0) {
        burst(call_ours, done, pause, a);
        burst(call_theirs, done, pause, b);
      } else {
        burst(call_theirs, done, pause, b);
        burst(call_ours, done, pause, a);
      }
    }
  };
  if (mode == "fresh") {
    for (int t = 0; t < 10; ++t)
      std::thread([&] { run(10'000, ours_samples, theirs_samples); }).join();
  } else {
    std::thread([&] {
      Samples warm_ours, warm_theirs;
      run(20'000, warm_ours, warm_theirs);
      run(100'000, ours_samples, theirs_samples);
    }).join();
  }
  report("ours", ours_samples);
  report("quill", theirs_samples);
  quill::Backend::stop();
  logging::shutdown();
  fs::remove_all(dir);
  return 0;
}
