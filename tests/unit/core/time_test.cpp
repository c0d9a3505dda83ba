#include "core/time.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace {

using monitoring::core::format_utc;
using namespace std::chrono;

TEST(FormatUtc, Rfc3339WithTheAskedFraction) {
  const system_clock::time_point time{seconds(1714566896) + microseconds(789012)};
  EXPECT_EQ(format_utc(time, 3), "2024-05-01T12:34:56.789Z");
  EXPECT_EQ(format_utc(time, 6), "2024-05-01T12:34:56.789012Z");
  EXPECT_EQ(format_utc(time, 0), "2024-05-01T12:34:56Z");
  EXPECT_EQ(format_utc(system_clock::time_point{}, 3), "1970-01-01T00:00:00.000Z");
}

TEST(FormatUtc, TimesBefore1970RoundDown) {
  const system_clock::time_point time{-milliseconds(1)};
  EXPECT_EQ(format_utc(time, 3), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(format_utc(time, 6), "1969-12-31T23:59:59.999000Z");
}

}  // namespace
