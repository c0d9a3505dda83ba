// Logging benchmarks, with spdlog 1.10 (async, Debian package) as the same-run baseline.
//
// 1. Caller latency (quill's method): bursts of 20 log calls, each timed with rdtsc, then a
//    ~10 us pause so the backend catches up; percentiles over 2 M calls. The message has 4
//    fields: typed fields for us, the same values formatted into the message for spdlog
//    (it has no structured fields). Both write to a file in a temp directory.
// 2. Throughput: 1 producer logs 1 M records as fast as it can to a JSON file; the time runs
//    until the last record is written (flush / thread pool drained).
// 3. Google Benchmark micro-benchmarks of the backend's per-record helpers: scrubbing and
//    JSON escaping.
//
// Usage: logging_bench [--quick] [google-benchmark flags]

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <new>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

#include "core/json_writer.hpp"
#include "monitoring/logging.hpp"
#include "support/tsc_clock.hpp"

#if MONITORING_BENCH_SPDLOG
#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>
#endif

// ---- allocation counting (calling thread only) ---------------------------------------------

// The replacement operator new below is malloc-based, so free() in operator delete is the
// matching release; GCC cannot see that through the replacement.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace {
thread_local std::uint64_t tl_allocations = 0;
}

void* operator new(std::size_t size) {
  ++tl_allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace {

namespace fs = std::filesystem;
namespace logging = monitoring::logging;

using bench::ns_per_tick;
using bench::ticks;

void spin_for(std::chrono::nanoseconds pause) {
  const std::uint64_t end =
      ticks() + static_cast<std::uint64_t>(static_cast<double>(pause.count()) / ns_per_tick());
  while (ticks() < end) {
  }
}

struct Percentiles {
  double p50, p90, p99, p999, p9999, max;
  // The TSC here advances in steps of ~10 ns, so percentiles come in 10 ns steps; the mean
  // of the calls below p99 resolves finer and shows changes the percentiles round away.
  double trimmed_mean;
};

Percentiles percentiles(std::vector<std::uint64_t>& samples) {
  std::sort(samples.begin(), samples.end());
  const auto at = [&](double q) {
    const auto index = static_cast<std::size_t>(q * static_cast<double>(samples.size() - 1));
    return static_cast<double>(samples[index]) * ns_per_tick();
  };
  const std::size_t kept = samples.size() * 99 / 100;
  double sum = 0;
  for (std::size_t i = 0; i < kept; ++i) sum += static_cast<double>(samples[i]);
  return {at(0.5),
          at(0.9),
          at(0.99),
          at(0.999),
          at(0.9999),
          static_cast<double>(samples.back()) * ns_per_tick(),
          kept == 0 ? 0 : sum / static_cast<double>(kept) * ns_per_tick()};
}

void print_latency(const char* name, const Percentiles& p, double allocations_per_call) {
  std::printf(
      "  %-34s p50 %7.1f  p90 %7.1f  p99 %7.1f  p99.9 %8.1f  p99.99 %9.1f  max %10.1f  "
      "mean<p99 %6.1f ns   allocs/call %.3f\n",
      name, p.p50, p.p90, p.p99, p.p999, p.p9999, p.max, p.trimmed_mean, allocations_per_call);
}

constexpr int kBurst = 20;

// Runs `bursts` bursts of 20 timed calls of `call(i)`; returns the per-call samples (ticks).
template <class Call>
std::vector<std::uint64_t> measure_bursts(int bursts, Call call, std::uint64_t& allocations) {
  std::vector<std::uint64_t> samples;
  samples.reserve(static_cast<std::size_t>(bursts) * kBurst);
  int sequence = 0;
  // Warm-up: first-use paths (queue creation, page faults) are not the steady state.
  for (int i = 0; i < 2000; ++i) call(sequence++);
  const std::uint64_t allocations_before = tl_allocations;
  for (int burst = 0; burst < bursts; ++burst) {
    for (int k = 0; k < kBurst; ++k) {
      const std::uint64_t start = ticks();
      call(sequence++);
      const std::uint64_t end = ticks();
      samples.push_back(end - start);
    }
    spin_for(std::chrono::microseconds(10));
  }
  allocations = tl_allocations - allocations_before;
  return samples;
}

std::string temp_dir(const char* name) {
  const fs::path dir =
      fs::temp_directory_path() / ("monitoring-bench-" + std::to_string(::getpid())) / name;
  fs::create_directories(dir);
  return dir.string();
}

logging::LoggingOptions bench_options(const std::string& dir) {
  logging::LoggingOptions options;
  options.log_dir = dir;
  options.console = logging::ConsoleTarget::kNone;
  options.max_bytes = 0;  // one file, no rotation inside the measurement
  return options;
}

// The same record through the regular call or a static call site (only the values queued).
template <class Call>
void latency_ours(const char* name, int bursts, Call call) {
  const std::string dir = temp_dir("latency-ours");
  logging::configure(bench_options(dir));
  monitoring::StructuredLogger logger("payment_service");
  auto request = logger.with_request_id();
  std::uint64_t allocations = 0;
  auto samples = measure_bursts(
      bursts, [&](int i) { call(logger, i); }, allocations);
  logging::shutdown();
  print_latency(name, percentiles(samples),
                static_cast<double>(allocations) / static_cast<double>(samples.size()));
  fs::remove_all(dir);
}

void log_regular(monitoring::StructuredLogger& logger, int i) {
  logger.info("Processing payment",
              {{"payment_id", i}, {"amount", 1000}, {"user", "john"}, {"success", true}});
}

void log_static(monitoring::StructuredLogger& logger, int i) {
  using logging::field;
  logger.info<"Processing payment">(field<"payment_id">(i), field<"amount">(1000),
                                    field<"user">("john"), field<"success">(true));
}

void latency_timer_overhead(int bursts) {
  std::uint64_t allocations = 0;
  auto samples = measure_bursts(
      bursts, [](int) { benchmark::ClobberMemory(); }, allocations);
  print_latency("(rdtsc pair, no call)", percentiles(samples), 0);
}

#if MONITORING_BENCH_SPDLOG
std::shared_ptr<spdlog::details::thread_pool> spdlog_pool() {
  // spdlog's defaults for async logging: 8192-slot queue, one worker thread.
  return std::make_shared<spdlog::details::thread_pool>(8192, 1);
}

std::shared_ptr<spdlog::async_logger> spdlog_logger(
    const std::string& file, const std::shared_ptr<spdlog::details::thread_pool>& pool) {
  auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(file, true);
  auto logger = std::make_shared<spdlog::async_logger>("bench", sink, pool,
                                                       spdlog::async_overflow_policy::block);
  // A JSON line as close to ours as spdlog's pattern language allows.
  logger->set_pattern(
      R"({"@timestamp":"%Y-%m-%dT%H:%M:%S.%fZ","log.level":"%l","message":"%v","log.logger":"%n","process.pid":%P,"process.thread.id":%t})",
      spdlog::pattern_time_type::utc);
  return logger;
}

void latency_spdlog(int bursts) {
  const std::string dir = temp_dir("latency-spdlog");
  auto pool = spdlog_pool();
  auto logger = spdlog_logger(dir + "/app.log", pool);
  std::uint64_t allocations = 0;
  auto samples = measure_bursts(
      bursts,
      [&](int i) {
        logger->info("Processing payment payment_id={} amount={} user={} success={}", i, 1000,
                     "john", true);
      },
      allocations);
  logger.reset();
  pool.reset();
  print_latency("spdlog 1.10 async", percentiles(samples),
                static_cast<double>(allocations) / static_cast<double>(samples.size()));
  fs::remove_all(dir);
}
#endif

void print_throughput(const char* name, int records, double seconds, std::uintmax_t bytes) {
  std::printf("  %-34s %8.2f M records/s   (%d records in %.3f s, %.1f MB written)\n", name,
              records / seconds / 1e6, records, seconds, static_cast<double>(bytes) / 1e6);
}

template <class Call>
void throughput_ours(const char* name, int records, Call call) {
  const std::string dir = temp_dir("throughput-ours");
  logging::configure(bench_options(dir));
  monitoring::StructuredLogger logger("payment_service");
  auto request = logger.with_request_id();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < records; ++i) call(logger, i);
  logging::flush();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  logging::shutdown();
  print_throughput(name, records, seconds, fs::file_size(dir + "/app.log"));
  fs::remove_all(dir);
}

#if MONITORING_BENCH_SPDLOG
void throughput_spdlog(int records) {
  const std::string dir = temp_dir("throughput-spdlog");
  auto pool = spdlog_pool();
  auto logger = spdlog_logger(dir + "/app.log", pool);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < records; ++i)
    logger->info("Processing payment payment_id={} amount={} user={} success={}", i, 1000, "john",
                 true);
  logger->flush();  // queued behind every record
  logger.reset();
  pool.reset();  // the worker drains the queue and joins
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  print_throughput("spdlog 1.10 async", records, seconds, fs::file_size(dir + "/app.log"));
  fs::remove_all(dir);
}
#endif

// ---- the tail when the thread sleeps between bursts ---------------------------------------

// How a service logs: a burst of 20 calls, then the thread sleeps (not spins) 200 us, so its
// caches and TLB cool down and the backend may be asleep too. Steady state: one thread after
// 20 000 warm-up calls. Fresh: the first 10 000 records of each of 10 new threads, where a
// queue's first use would page-fault. Percentiles come out as counters (ns).
constexpr int kSleepingSteadyCalls = 100'000;
constexpr int kSleepingFreshThreads = 10;
constexpr int kSleepingFreshCalls = 10'000;

template <class Call>
void sleeping_bursts(int calls, Call& call, std::vector<std::uint64_t>& samples) {
  for (int done = 0; done < calls; done += kBurst) {
    for (int k = 0; k < kBurst; ++k) {
      const std::uint64_t start = ticks();
      call(done + k);
      const std::uint64_t end = ticks();
      samples.push_back(end - start);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

// Runs the method on new threads (fresh) or one warmed-up thread (steady).
template <class Call>
void sleeping_tail(benchmark::State& state, Call call) {
  const bool fresh = state.range(0) != 0;
  std::vector<std::uint64_t> samples;
  for (auto _ : state) {
    samples.clear();
    samples.reserve(static_cast<std::size_t>(fresh ? kSleepingFreshThreads * kSleepingFreshCalls
                                                   : kSleepingSteadyCalls));
    if (fresh) {
      for (int t = 0; t < kSleepingFreshThreads; ++t)
        std::thread([&] { sleeping_bursts(kSleepingFreshCalls, call, samples); }).join();
    } else {
      std::thread([&] {
        std::vector<std::uint64_t> warm_up;
        warm_up.reserve(20'000);
        sleeping_bursts(20'000, call, warm_up);
        sleeping_bursts(kSleepingSteadyCalls, call, samples);
      }).join();
    }
  }
  const Percentiles p = percentiles(samples);
  state.counters["p50_ns"] = p.p50;
  state.counters["p99_ns"] = p.p99;
  state.counters["p99.9_ns"] = p.p999;
  state.counters["max_ns"] = p.max;
}

template <class Call>
void sleeping_tail_ours(benchmark::State& state, Call call) {
  const std::string dir = temp_dir("sleeping-ours");
  logging::configure(bench_options(dir));
  monitoring::StructuredLogger logger("payment_service");
  sleeping_tail(state, [&](int i) { call(logger, i); });
  logging::shutdown();
  fs::remove_all(dir);
}

void BM_SleepingBurstTail(benchmark::State& state) {
  sleeping_tail_ours(state, log_regular);
}
BENCHMARK(BM_SleepingBurstTail)->ArgName("fresh")->Arg(0)->Arg(1)->Iterations(1)->UseRealTime();

void BM_SleepingBurstTailStaticSite(benchmark::State& state) {
  sleeping_tail_ours(state, log_static);
}
BENCHMARK(BM_SleepingBurstTailStaticSite)
    ->ArgName("fresh")
    ->Arg(0)
    ->Arg(1)
    ->Iterations(1)
    ->UseRealTime();

// New threads against a warmed-up one in the same run: they take turns (a new thread's
// 10 000 calls, then 10 000 of the long-lived thread's, ten times), so both see the same host
// noise; separate runs on a shared host differ by more than the two do. Arg: 0 the regular
// call, 1 the static call site.
void BM_SleepingBurstTailNewThreadsBesideSteady(benchmark::State& state) {
  const std::string dir = temp_dir("sleeping-turns");
  logging::configure(bench_options(dir));
  monitoring::StructuredLogger logger("payment_service");
  const bool static_site = state.range(0) != 0;
  auto call = [&](int i) { static_site ? log_static(logger, i) : log_regular(logger, i); };
  std::vector<std::uint64_t> fresh, steady;
  for (auto _ : state) {
    fresh.clear();
    steady.clear();
    std::binary_semaphore steady_turn(0), fresh_turn(0);
    std::thread long_lived([&] {
      std::vector<std::uint64_t> warm_up;
      sleeping_bursts(20'000, call, warm_up);
      for (int round = 0; round < kSleepingFreshThreads; ++round) {
        steady_turn.acquire();
        sleeping_bursts(kSleepingFreshCalls, call, steady);
        fresh_turn.release();
      }
    });
    for (int round = 0; round < kSleepingFreshThreads; ++round) {
      std::thread([&] { sleeping_bursts(kSleepingFreshCalls, call, fresh); }).join();
      steady_turn.release();
      fresh_turn.acquire();
    }
    long_lived.join();
  }
  const Percentiles f = percentiles(fresh);
  const Percentiles s = percentiles(steady);
  state.counters["new_p50_ns"] = f.p50;
  state.counters["new_p99.9_ns"] = f.p999;
  state.counters["steady_p50_ns"] = s.p50;
  state.counters["steady_p99.9_ns"] = s.p999;
  logging::shutdown();
  fs::remove_all(dir);
}
BENCHMARK(BM_SleepingBurstTailNewThreadsBesideSteady)
    ->ArgName("static")
    ->Arg(0)
    ->Arg(1)
    ->Iterations(1)
    ->UseRealTime();

#if MONITORING_BENCH_SPDLOG
void BM_SleepingBurstTailSpdlog(benchmark::State& state) {
  const std::string dir = temp_dir("sleeping-spdlog");
  auto pool = spdlog_pool();
  auto logger = spdlog_logger(dir + "/app.log", pool);
  sleeping_tail(state, [&](int i) {
    logger->info("Processing payment payment_id={} amount={} user={} success={}", i, 1000, "john",
                 true);
  });
  logger.reset();
  pool.reset();
  fs::remove_all(dir);
}
BENCHMARK(BM_SleepingBurstTailSpdlog)
    ->ArgName("fresh")
    ->Arg(0)
    ->Arg(1)
    ->Iterations(1)
    ->UseRealTime();
#endif

// ---- the log call while levels change at runtime ------------------------------------------

// The log call (bursts with spinning pauses, as above) while another thread keeps changing
// the logger's module level between DEBUG and INFO every 100 us (PUT /loggers/<module> at a
// rate no operator reaches), against the same calls with no changes (changing:0).
void BM_LogCallWhileLevelsChange(benchmark::State& state) {
  const bool changing = state.range(0) != 0;
  const std::string dir = temp_dir("levels-changing");
  logging::configure(bench_options(dir));
  monitoring::StructuredLogger logger("payment_service");
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> changes{0};
  std::thread changer;
  if (changing)
    changer = std::thread([&] {
      for (bool debug = true; !stop.load(std::memory_order_relaxed); debug = !debug) {
        logging::set_module_level("payment_service",
                                  debug ? logging::Level::kDebug : logging::Level::kInfo);
        changes.fetch_add(1, std::memory_order_relaxed);
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
    });
  std::vector<std::uint64_t> samples;
  std::uint64_t allocations = 0;
  for (auto _ : state)
    samples = measure_bursts(
        20'000,
        [&](int i) {
          logger.info("Processing payment",
                      {{"payment_id", i}, {"amount", 1000}, {"user", "john"}, {"success", true}});
        },
        allocations);
  stop = true;
  if (changer.joinable()) changer.join();
  logging::set_module_level("payment_service", std::nullopt);
  logging::shutdown();
  fs::remove_all(dir);
  const Percentiles p = percentiles(samples);
  state.counters["p50_ns"] = p.p50;
  state.counters["p99_ns"] = p.p99;
  state.counters["p99.9_ns"] = p.p999;
  state.counters["level_changes"] = static_cast<double>(changes.load());
}
BENCHMARK(BM_LogCallWhileLevelsChange)
    ->ArgName("changing")
    ->Arg(0)
    ->Arg(1)
    ->Iterations(1)
    ->UseRealTime();

// ---- the backtrace (LOG_BACKTRACE) ----------------------------------------------------------

// The log call with the backtrace off and on (64 records per thread), level INFO, same bursts
// as above: an INFO call that is written, and a DEBUG call that is only kept (backtrace on) or
// dropped at the level check (off). The kept call should cost what a written one does.
void BM_BacktraceLogCall(benchmark::State& state) {
  const bool backtrace = state.range(0) != 0;
  const bool debug = state.range(1) != 0;
  const std::string dir = temp_dir("backtrace");
  auto options = bench_options(dir);
  options.backtrace = backtrace ? 64 : 0;
  logging::configure(options);
  monitoring::StructuredLogger logger("payment_service");
  const logging::Level level = debug ? logging::Level::kDebug : logging::Level::kInfo;
  std::vector<std::uint64_t> samples;
  std::uint64_t allocations = 0;
  for (auto _ : state)
    samples = measure_bursts(
        20'000,
        [&](int i) {
          const monitoring::Field fields[] = {
              {"payment_id", i}, {"amount", 1000}, {"user", "john"}, {"success", true}};
          logger.log(level, "Processing payment", fields);
        },
        allocations);
  logging::shutdown();
  fs::remove_all(dir);
  const Percentiles p = percentiles(samples);
  state.counters["p50_ns"] = p.p50;
  state.counters["p99_ns"] = p.p99;
  state.counters["p99.9_ns"] = p.p999;
  state.counters["mean<p99_ns"] = p.trimmed_mean;
}
BENCHMARK(BM_BacktraceLogCall)
    ->ArgNames({"backtrace", "debug"})
    ->Args({0, 0})
    ->Args({1, 0})
    ->Args({1, 1})
    ->Args({0, 1})
    ->Iterations(1)
    ->UseRealTime();

// ---- micro-benchmarks ------------------------------------------------------------------------

const std::string kPlainMessage =
    "Processing payment for user john: plan premium, 1000 RUB via yookassa";
const std::string kSecretMessage =
    "POST https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawq/sendMessage "
    "failed";

void BM_ScrubPlainMessage(benchmark::State& state) {
  const monitoring::Scrubber scrubber;
  std::string out;
  for (auto _ : state) benchmark::DoNotOptimize(scrubber.scrub(kPlainMessage, out));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kPlainMessage.size()));
}
BENCHMARK(BM_ScrubPlainMessage);

void BM_ScrubMessageWithToken(benchmark::State& state) {
  const monitoring::Scrubber scrubber;
  std::string out;
  for (auto _ : state) benchmark::DoNotOptimize(scrubber.scrub(kSecretMessage, out));
}
BENCHMARK(BM_ScrubMessageWithToken);

void BM_SensitiveKeyCheck(benchmark::State& state) {
  const monitoring::Scrubber scrubber;
  const std::string keys[] = {"payment_id", "amount", "user_password", "X-Auth-Token", "author"};
  std::size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(scrubber.is_sensitive_key(keys[i++ % 5]));
}
BENCHMARK(BM_SensitiveKeyCheck);

void BM_JsonEscapeAscii(benchmark::State& state) {
  std::string out;
  for (auto _ : state) {
    out.clear();
    monitoring::detail::append_json_escaped(out, kPlainMessage);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kPlainMessage.size()));
}
BENCHMARK(BM_JsonEscapeAscii);

void BM_JsonEscapeCyrillic(benchmark::State& state) {
  const std::string text = "Платёж пользователя john: тариф премиум, 1000 руб. через ЮKassa";
  std::string out;
  for (auto _ : state) {
    out.clear();
    monitoring::detail::append_json_escaped(out, text);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_JsonEscapeCyrillic);

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::vector<char*> rest = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0)
      quick = true;
    else
      rest.push_back(argv[i]);
  }
  const int bursts = quick ? 10'000 : 100'000;
  const int records = quick ? 200'000 : 1'000'000;
  ns_per_tick();

  std::printf(
      "Caller latency, message + 4 fields, bursts of %d calls then ~10 us pause, %d calls each:\n",
      kBurst, bursts * kBurst);
  latency_timer_overhead(bursts);
  latency_ours("monitoring StructuredLogger", bursts, log_regular);
  latency_ours("monitoring, static call site", bursts, log_static);
#if MONITORING_BENCH_SPDLOG
  latency_spdlog(bursts);
#else
  std::printf("  (spdlog not found at build time: no baseline)\n");
#endif
  std::printf("\nThroughput, 1 producer, JSON lines to a file, until written:\n");
  throughput_ours("monitoring StructuredLogger", records, log_regular);
  throughput_ours("monitoring, static call site", records, log_static);
#if MONITORING_BENCH_SPDLOG
  throughput_spdlog(records);
#endif
  std::printf("\n");
  fs::remove_all(fs::temp_directory_path() / ("monitoring-bench-" + std::to_string(::getpid())));

  int rest_count = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_count, rest.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
