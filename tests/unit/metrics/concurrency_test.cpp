// Exact totals under concurrent updates, scrapes during updates, threads that exit before
// the scrape, and series created while others are looked up. Runs under ThreadSanitizer in CI,
// so sizes are kept small enough for a few seconds there.

#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "metrics_test_util.hpp"
#include "monitoring/metrics/exposition.hpp"
#include "monitoring/metrics/registry.hpp"

namespace monitoring::metrics {
namespace {

using test::sample_or_zero;
using test::sample_value;

constexpr int kThreads = 4;
constexpr int kIterations = 20000;

// Runs `body(thread_index)` on kThreads threads released at the same moment.
void run_together(const std::function<void(int)>& body, int threads = kThreads) {
  std::barrier start(threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      start.arrive_and_wait();
      body(t);
    });
  }
  for (auto& worker : workers) worker.join();
}

TEST(MetricsConcurrencyTest, BoundCounterFromManyThreadsIsExact) {
  Registry registry;
  Counter& counter = registry.counter("c_bound_total", "x").labels();
  run_together([&](int) {
    for (int i = 0; i < kIterations; ++i) counter.inc();
  });
  EXPECT_EQ(counter.value(), double(kThreads) * kIterations);
  EXPECT_EQ(sample_value(serialize(registry), "c_bound_total"), double(kThreads) * kIterations);
}

TEST(MetricsConcurrencyTest, LabeledLookupsOfSameAndNewSeriesAreExact) {
  Registry registry;
  auto& family = registry.counter("c_labeled_total", "x", {"who", "shard"});
  constexpr int kLookups = 4000;  // a multiple of 80; three lookups each, small for TSan
  // Label strings are prepared up front so the loop measures lookups, not std::to_string.
  std::vector<std::string> numbers;
  for (int i = 0; i < 80; ++i) numbers.push_back(std::to_string(i));
  run_together([&](int t) {
    const std::string own = "thread" + std::to_string(t);
    for (int i = 0; i < kLookups; ++i) {
      family.labels("shared", "0").inc();               // same series from every thread
      family.labels(own, numbers[i % 8]).inc(2);        // series created concurrently
      family.labels("racy", numbers[i % 80]).inc(0.5);  // created by whichever comes first
    }
  });
  EXPECT_EQ(family.size(), 1u + kThreads * 8 + 80);
  EXPECT_EQ(family.labels("shared", "0").value(), double(kThreads) * kLookups);
  for (int t = 0; t < kThreads; ++t)
    for (int s = 0; s < 8; ++s)
      EXPECT_EQ(family.labels("thread" + std::to_string(t), std::to_string(s)).value(),
                2.0 * kLookups / 8);
  for (int s = 0; s < 80; ++s)
    EXPECT_EQ(family.labels("racy", std::to_string(s)).value(), 0.5 * kThreads * kLookups / 80);
}

// Values that differ only in invalid UTF-8 are one series (stored repaired); threads racing
// to create it through different spellings must still end up on that one series.
TEST(MetricsConcurrencyTest, InvalidUtf8SpellingsOfOneSeriesFromManyThreadsAreExact) {
  Registry registry;
  auto& family = registry.counter("c_utf8_total", "x", {"v"});
  const std::vector<std::string> spellings = {"x\xFF", "x\xFE", "x\x80", "x\xEF\xBF\xBD"};
  constexpr int kLookups = 4000;
  run_together([&](int t) {
    for (int i = 0; i < kLookups; ++i)
      family.labels(spellings[static_cast<std::size_t>(t + i) % spellings.size()]).inc();
  });
  EXPECT_EQ(family.size(), 1u);
  EXPECT_EQ(family.labels("x\xEF\xBF\xBD").value(), double(kThreads) * kLookups);
}

TEST(MetricsConcurrencyTest, HistogramObservationsAreExact) {
  Registry registry;
  Histogram& h = registry.histogram("c_hist_seconds", "x", {}, {0.25, 0.5, 1}).labels();
  const double values[] = {0.125, 0.25, 0.375, 0.75, 2.0};  // exact in binary: the sum is exact
  run_together([&](int) {
    for (int i = 0; i < kIterations; ++i) h.observe(values[i % 5]);
  });
  const double per_value = double(kThreads) * kIterations / 5;
  const auto s = h.snapshot();
  EXPECT_EQ(s.cumulative_counts,
            (std::vector<double>{2 * per_value, 3 * per_value, 4 * per_value, 5 * per_value}));
  EXPECT_EQ(s.sum, per_value * (0.125 + 0.25 + 0.375 + 0.75 + 2.0));
}

TEST(MetricsConcurrencyTest, GaugeIncDecAreExact) {
  Registry registry;
  Gauge& gauge = registry.gauge("c_gauge", "x").labels();
  run_together([&](int t) {
    for (int i = 0; i < kIterations; ++i) {
      gauge.inc(1);
      gauge.dec(t % 2 == 0 ? 0.5 : 0.25);
    }
  });
  EXPECT_EQ(gauge.value(), kIterations * (kThreads / 2 * 0.5 + kThreads / 2 * 0.75));
}

TEST(MetricsConcurrencyTest, ScrapesWhileWritersRunSeeMonotonicValues) {
  Registry registry;
  Counter& counter = registry.counter("c_scraped_total", "x").labels();
  Histogram& h = registry.histogram("c_scraped_seconds", "x", {}, {1}).labels();
  auto& labeled = registry.counter("c_scraped_labeled_total", "x", {"k"});
  constexpr int kMinScrapes = 5;
  std::atomic<int> writers_done{0};
  std::atomic<int> scrapes{0};
  std::atomic<long> writes{0};
  run_together([&](int t) {
    if (t == 0) {
      // The scraper: values never go backwards and _count always equals the +Inf bucket.
      double last = 0;
      while (writers_done.load() < kThreads - 1) {
        const ExpositionFormat format =
            scrapes.load() % 2 ? ExpositionFormat::kOpenMetrics : ExpositionFormat::kText;
        const std::string text = serialize(registry, format);
        const double now = sample_or_zero(text, "c_scraped_total");
        EXPECT_GE(now, last);
        last = now;
        EXPECT_EQ(sample_or_zero(text, "c_scraped_seconds_count"),
                  sample_or_zero(text, "c_scraped_seconds_bucket{le=\"+Inf\"}"));
        scrapes.fetch_add(1);
      }
      return;
    }
    // Writers keep going until several scrapes ran while they were writing.
    long i = 0;
    for (; i < kIterations || scrapes.load() < kMinScrapes; ++i) {
      counter.inc();
      h.observe(i % 2 ? 0.5 : 2.0);
      if (i % 100 == 0 && i < kIterations) labeled.labels(std::to_string(t * 1000 + i / 100)).inc();
    }
    writes.fetch_add(i);
    writers_done.fetch_add(1);
  });
  EXPECT_GE(scrapes.load(), kMinScrapes);
  const std::string final_text = serialize(registry);
  EXPECT_EQ(sample_value(final_text, "c_scraped_total"), double(writes.load()));
  EXPECT_EQ(sample_value(final_text, "c_scraped_seconds_count"), double(writes.load()));
  EXPECT_EQ(labeled.size(), std::size_t(kThreads - 1) * (kIterations / 100));
}

TEST(MetricsConcurrencyTest, ValuesOfExitedThreadsAreKeptExactly) {
  Registry registry;
  Counter& counter = registry.counter("c_exited_total", "x").labels();
  Histogram& h = registry.histogram("c_exited_seconds", "x", {}, {1}).labels();
  // Several generations: the first exiting thread hands its cells over, later ones are added.
  constexpr int kGenerations = 5;
  for (int generation = 0; generation < kGenerations; ++generation) {
    run_together([&](int) {
      for (int i = 0; i < 1000; ++i) {
        counter.inc();
        h.observe(0.5);
      }
    });
    EXPECT_EQ(counter.value(), double(generation + 1) * kThreads * 1000);
  }
  const std::string text = serialize(registry);
  EXPECT_EQ(sample_value(text, "c_exited_total"), double(kGenerations) * kThreads * 1000);
  EXPECT_EQ(sample_value(text, "c_exited_seconds_bucket{le=\"1\"}"),
            double(kGenerations) * kThreads * 1000);
  EXPECT_EQ(sample_value(text, "c_exited_seconds_sum"), 0.5 * kGenerations * kThreads * 1000);
}

TEST(MetricsConcurrencyTest, ThreadsExitingDuringScrapesLoseNothing) {
  Registry registry;
  Counter& counter = registry.counter("c_churn_total", "x").labels();
  std::atomic<bool> stop{false};
  std::thread scraper([&] {
    while (!stop.load()) (void)serialize(registry);
  });
  for (int round = 0; round < 20; ++round) {
    std::vector<std::thread> short_lived;
    for (int t = 0; t < 3; ++t)
      short_lived.emplace_back([&] {
        for (int i = 0; i < 500; ++i) counter.inc();
      });
    for (auto& thread : short_lived) thread.join();
  }
  stop.store(true);
  scraper.join();
  EXPECT_EQ(counter.value(), 20.0 * 3 * 500);
}

TEST(MetricsConcurrencyTest, DestroyedFamilyCellsTouchedByExitedThreadsAreZeroForTheNext) {
  // A thread updates a family and exits (its cells move to the retired totals); the family is
  // destroyed; a new family that reuses those cells must start at zero.
  for (int round = 0; round < 3; ++round) {
    Registry registry;
    Counter& counter = registry.counter("c_reuse_total", "x").labels();
    EXPECT_EQ(counter.value(), 0.0) << "round " << round;
    std::thread([&] { counter.inc(5); }).join();
    EXPECT_EQ(counter.value(), 5.0);
  }
}

// "c<creator>_<index>"; built with append (GCC 12 warns falsely on chained operator+ here).
std::string growth_key(int creator, int index) {
  std::string key = "c";
  key += std::to_string(creator);
  key += '_';
  key += std::to_string(index);
  return key;
}

TEST(MetricsConcurrencyTest, TableGrowsWhileOtherThreadsLookUp) {
  Registry registry;
  auto& family = registry.counter("c_growth_total", "x", {"id"});
  family.set_series_limit(20000);  // above the default 10 000
  constexpr int kCreators = 2;
  constexpr int kPerCreator = 5000;
  family.labels("fixed").inc(0);
  std::atomic<int> creators_done{0};
  run_together([&](int t) {
    if (t < kCreators) {
      for (int i = 0; i < kPerCreator; ++i) family.labels(growth_key(t, i)).inc();
      creators_done.fetch_add(1);
      return;
    }
    // Readers: a series that exists before growth must always be found (never re-created),
    // and series published by creators must be found once they exist.
    Counter* fixed = &family.labels("fixed");
    int lookups = 0;
    while (creators_done.load() < kCreators || lookups < 1000) {
      EXPECT_EQ(&family.labels("fixed"), fixed);
      fixed->inc();
      family.labels(growth_key(0, lookups % kPerCreator)).inc(0);
      ++lookups;
    }
  });
  EXPECT_EQ(family.size(), 1u + kCreators * kPerCreator);
  for (int t = 0; t < kCreators; ++t)
    for (int i = 0; i < kPerCreator; i += 97)
      EXPECT_EQ(family.labels(growth_key(t, i)).value(), 1.0);
  EXPECT_EQ(family.size(), 1u + kCreators * kPerCreator);
}

TEST(MetricsConcurrencyTest, ConcurrentRegistrationReturnsOneFamily) {
  Registry registry;
  std::vector<Family<Counter>*> seen(kThreads);
  run_together([&](int t) {
    auto& family = registry.counter("c_registered_total", "x", {"k"});
    seen[t] = &family;
    for (int i = 0; i < 1000; ++i) family.labels("v").inc();
  });
  for (auto* family : seen) EXPECT_EQ(family, seen[0]);
  EXPECT_EQ(registry.family_count(), 1u);
  EXPECT_EQ(seen[0]->labels("v").value(), double(kThreads) * 1000);
}

TEST(MetricsConcurrencyTest, RemoveAndReAddWhileOthersUpdateAndScrape) {
  // remove() must not race with updates of the removed series itself; other series of the
  // family keep counting exactly while one is churned and the registry is scraped.
  Registry registry;
  auto& family = registry.counter("c_remove_total", "x", {"k"});
  Counter& steady = family.labels("steady");
  std::atomic<bool> churn_done{false};
  run_together(
      [&](int t) {
        if (t == 0) {
          for (int i = 0; i < 500; ++i) {
            family.labels("churn" + std::to_string(i % 5)).inc();
            family.remove({"churn" + std::to_string(i % 5)});
          }
          churn_done.store(true);
        } else if (t == 1) {
          while (!churn_done.load()) (void)serialize(registry, ExpositionFormat::kOpenMetrics);
        } else {
          for (int i = 0; i < kIterations; ++i) steady.inc();
        }
      },
      4);
  EXPECT_EQ(steady.value(), 2.0 * kIterations);
  EXPECT_EQ(family.size(), 1u);
  EXPECT_EQ(serialize(registry).find("churn"), std::string::npos);
}

}  // namespace
}  // namespace monitoring::metrics
