#pragma once

// Seedable random draws for the simulation. Each part of the simulated bot gets its own
// stream derived from DEMO_SEED, so a seed reproduces the same traffic statistics.

#include <array>
#include <cmath>
#include <cstdint>
#include <mutex>
#include <random>

namespace demo {

/// A thread-safe random stream: the simulation's handlers run on several threads.
class Random {
 public:
  /// `stream` separates the parts of the simulation (users, payments, ...) under one seed.
  Random(std::uint64_t seed, std::uint64_t stream) : engine_(mix(seed ^ mix(stream + 1))) {}

  double uniform(double low, double high) {
    std::lock_guard lock(mutex_);
    return std::uniform_real_distribution<double>(low, high)(engine_);
  }
  bool chance(double probability) { return uniform(0, 1) < probability; }
  /// Seconds until the next event of a Poisson process with `rate` events per second.
  double exponential(double rate) {
    std::lock_guard lock(mutex_);
    return std::exponential_distribution<double>(rate)(engine_);
  }
  /// A latency-like value: half the draws below `median`, a long right tail set by `sigma`.
  double lognormal(double median, double sigma) {
    std::lock_guard lock(mutex_);
    return std::lognormal_distribution<double>(std::log(median), sigma)(engine_);
  }
  double normal(double mean, double stddev) {
    std::lock_guard lock(mutex_);
    return std::normal_distribution<double>(mean, stddev)(engine_);
  }
  long poisson(double mean) {
    if (mean <= 0) return 0;
    std::lock_guard lock(mutex_);
    return std::poisson_distribution<long>(mean)(engine_);
  }
  /// An index drawn with the given relative weights.
  template <std::size_t N>
  std::size_t pick(const std::array<double, N>& weights) {
    std::lock_guard lock(mutex_);
    return std::discrete_distribution<std::size_t>(weights.begin(), weights.end())(engine_);
  }

 private:
  // SplitMix64 finalizer: nearby seeds and stream numbers give unrelated engine states.
  static std::uint64_t mix(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
  }

  std::mutex mutex_;
  std::mt19937_64 engine_;
};

}  // namespace demo
