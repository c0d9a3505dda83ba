// The per-CPU cells (detail/cells.hpp): updates stay exact while the kernel preempts, migrates
// and signals the writers in the middle of their restartable sequences, and the memory the
// cells take is bounded by the CPUs, not by the threads. Runs under ThreadSanitizer in CI
// (which takes the striped-atomic path), and once more with rseq turned off in glibc
// (tests/CMakeLists.txt), so both paths are covered.

#include "monitoring/metrics/detail/cells.hpp"

#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <barrier>
#include <csignal>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "monitoring/metrics/registry.hpp"

#if defined(MONITORING_CELLS_RSEQ)
#include <sys/rseq.h>
#endif

namespace monitoring::metrics {
namespace {

using detail::CellMode;
using detail::CellSpace;

#if defined(MONITORING_CELLS_TSAN)
constexpr int kIterations = 20000;
#else
constexpr int kIterations = 300000;
#endif

std::atomic<int> signals_handled{0};
void count_signal(int) {
  signals_handled.fetch_add(1, std::memory_order_relaxed);
}

std::size_t bytes_per_row_for(std::size_t cells) {
  return (cells / detail::kChunkCells + 2) * detail::kChunkCells * sizeof(detail::Cell);
}

// How many rows a correct implementation may fill: one per CPU that can run us, or the stripes.
std::size_t row_bound() {
  return detail::cell_mode() == CellMode::kPerCpuRseq
             ? static_cast<std::size_t>(sysconf(_SC_NPROCESSORS_CONF))
             : detail::kStripes;
}

TEST(MetricCellsConcurrency, ModeIsTheOneThisPlatformOffers) {
  const char* expected = std::getenv("MONITORING_EXPECT_CELL_MODE");
  const CellMode mode = detail::cell_mode();
  if (expected != nullptr) {
    EXPECT_EQ(mode,
              std::string(expected) == "rseq" ? CellMode::kPerCpuRseq : CellMode::kStripedAtomic)
        << "MONITORING_EXPECT_CELL_MODE=" << expected;
    return;
  }
#if defined(MONITORING_CELLS_RSEQ)
  EXPECT_EQ(mode, __rseq_size > 0 ? CellMode::kPerCpuRseq : CellMode::kStripedAtomic);
#else
  EXPECT_EQ(mode, CellMode::kStripedAtomic);
#endif
}

TEST(MetricCellsConcurrency, CountsStayExactWhileWritersArePreemptedMigratedAndSignalled) {
  Registry registry;
  Counter& counter = registry.counter("cells_exact_total", "x").labels();
  Histogram& histogram = registry.histogram("cells_exact_seconds", "x", {}, {0.5, 2.0}).labels();

  struct sigaction action {};
  action.sa_handler = count_signal;
  sigemptyset(&action.sa_mask);
  struct sigaction previous {};
  ASSERT_EQ(sigaction(SIGUSR1, &action, &previous), 0);
  signals_handled = 0;

  // More writers than CPUs, so the scheduler preempts them mid-sequence all the time.
  constexpr int kWriters = 12;
  std::vector<pthread_t> handles(kWriters);
  // Writers stay alive until the disturber stops: signalling an exited thread is undefined.
  std::atomic<int> finished{0};
  std::atomic<bool> may_exit{false};
  // Writers go on past kIterations until the disturber has done enough rounds: on a fast
  // machine they would otherwise finish before it got going. Each counts what it did.
  constexpr unsigned kRounds = 50;
  std::atomic<unsigned> rounds{0};
  std::vector<long> done(kWriters, 0);
  std::barrier start(kWriters + 1);
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      handles[w] = pthread_self();
      start.arrive_and_wait();
      long i = 0;
      for (; i < kIterations || rounds.load(std::memory_order_relaxed) < kRounds; ++i) {
        counter.inc();
        counter.inc(0.5);
        histogram.observe(1.0);
      }
      done[w] = i;
      finished.fetch_add(1);
      while (!may_exit.load()) std::this_thread::yield();
    });
  }
  // The disturber: signals every writer and moves them between CPUs while they write.
  std::thread disturber([&] {
    start.arrive_and_wait();
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned round = 0;
    while (finished.load() < kWriters) {
      for (int w = 0; w < kWriters; ++w) {
        pthread_kill(handles[w], SIGUSR1);
        if (cpus > 1) {
          cpu_set_t set;
          CPU_ZERO(&set);
          CPU_SET(
              static_cast<int>((round + static_cast<unsigned>(w)) % static_cast<unsigned>(cpus)),
              &set);
          pthread_setaffinity_np(handles[w], sizeof set, &set);
        }
      }
      ++round;
      rounds.store(round, std::memory_order_relaxed);
      std::this_thread::yield();
    }
  });
  disturber.join();
  may_exit = true;
  for (auto& writer : writers) writer.join();
  sigaction(SIGUSR1, &previous, nullptr);

  double total = 0;
  for (long writes : done) total += double(writes);
  EXPECT_EQ(counter.value(), total + total * 0.5);
  const Histogram::Snapshot snapshot = histogram.snapshot();
  EXPECT_EQ(snapshot.count(), total);
  EXPECT_EQ(snapshot.sum, total);
  ASSERT_EQ(snapshot.cumulative_counts.size(), 3u);
  EXPECT_EQ(snapshot.cumulative_counts[0], 0.0);  // 1.0 > 0.5
  EXPECT_EQ(snapshot.cumulative_counts[1], total);
  // The test disturbed the writers: otherwise it proves nothing about restarts.
  EXPECT_GT(signals_handled.load(), kWriters);
}

TEST(MetricCellsConcurrency, MemoryIsBoundedByTheCpusNotByTheThreads) {
  Registry registry;
  auto& family = registry.counter("cells_memory_total", "x", {"series"});
  constexpr int kSeries = 8000;  // below the per-family cardinality limit
  std::vector<Counter*> series;
  for (int i = 0; i < kSeries; ++i) series.push_back(&family.labels(std::to_string(i)));

  const std::size_t before = CellSpace::allocated_bytes();
  constexpr int kThreads = 64;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (Counter* counter : series) counter->inc();
    });
  }
  for (auto& thread : threads) thread.join();
  const std::size_t added = CellSpace::allocated_bytes() - before;

  for (int i = 0; i < kSeries; i += 397) EXPECT_EQ(series[i]->value(), kThreads) << i;
  // One arena per thread would need 64 rows' worth.
  const std::size_t per_row = bytes_per_row_for(std::size_t{kSeries} * Counter::kCells);
  EXPECT_LE(added, row_bound() * per_row) << "rows in use: " << CellSpace::rows_in_use();
  EXPECT_LE(CellSpace::rows_in_use(), row_bound() + detail::kStripes);
}

TEST(MetricCellsConcurrency, ShortLivedThreadsLoseNothingAndLeaveNothingBehind) {
  Registry registry;
  auto& family = registry.counter("cells_churn_total", "x", {"series"});
  constexpr int kSeries = 100;
  std::vector<Counter*> series;
  for (int i = 0; i < kSeries; ++i) series.push_back(&family.labels(std::to_string(i)));
  auto wave = [&](int threads) {
    for (int t = 0; t < threads; t += 8) {
      std::vector<std::thread> batch;
      for (int b = 0; b < 8; ++b)
        batch.emplace_back([&] {
          for (Counter* counter : series) counter->inc();
        });
      for (auto& thread : batch) thread.join();
    }
  };
  wave(64);
  const std::size_t after_first_wave = CellSpace::allocated_bytes();
#if defined(MONITORING_CELLS_TSAN)
  constexpr int kMoreThreads = 256;
#else
  constexpr int kMoreThreads = 2000;
#endif
  wave(kMoreThreads);
  // Rows fill as threads land on CPUs they had not run on; nothing is per thread.
  EXPECT_LE(CellSpace::allocated_bytes() - after_first_wave,
            row_bound() * bytes_per_row_for(kSeries * Counter::kCells));
  for (Counter* counter : series) EXPECT_EQ(counter->value(), 64 + kMoreThreads);
}

}  // namespace
}  // namespace monitoring::metrics
