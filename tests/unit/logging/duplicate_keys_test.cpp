// A JSON log line never holds a key twice (Elasticsearch rejects such documents): keys that
// only become equal when written — a reserved key renamed to "extra.<key>" next to a field
// already named so, or keys that differ only in ill-formed UTF-8 — merge like equal keys do
// (the later one wins).

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "monitoring/logging.hpp"
#include "unit/logging/test_support.hpp"

namespace {

namespace logging = monitoring::logging;
using monitoring::StructuredLogger;
using test_support::file_options;
using test_support::flushed_records;
using test_support::TempDir;

class DuplicateKeysTest : public ::testing::Test {
 protected:
  void TearDown() override { logging::shutdown(); }
  TempDir dir_;
};

void expect_unique_keys(const test_json::Value& record) {
  std::vector<std::string> keys = record.keys();
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(std::adjacent_find(keys.begin(), keys.end()), keys.end())
      << "duplicate key: " << *std::adjacent_find(keys.begin(), keys.end());
}

TEST_F(DuplicateKeysTest, ARenamedReservedKeyMergesWithTheFieldOfThatName) {
  logging::configure(file_options(dir_.path()));
  StructuredLogger logger("dupes");
  logger.info("renamed", {{"extra.message", "first"}, {"message", "second"}});
  logger.info("renamed", {{"message", "first"}, {"extra.message", "second"}});
  const auto records = flushed_records(dir_.path());
  ASSERT_EQ(records.size(), 2u);
  for (const auto& record : records) {
    expect_unique_keys(record);
    EXPECT_EQ(record["extra.message"].string, "second");
    EXPECT_EQ(record["message"].string, "renamed");
  }
}

TEST_F(DuplicateKeysTest, KeysThatDifferOnlyInIllFormedUtf8Merge) {
  logging::configure(file_options(dir_.path()));
  StructuredLogger logger("dupes");
  logger.info("utf8", {{"k\xff", "first"}, {"k\xfe", "second"}, {"k\xc3\xa9", "valid"}});
  const auto records = flushed_records(dir_.path());
  ASSERT_EQ(records.size(), 1u);
  expect_unique_keys(records[0]);
  EXPECT_EQ(records[0]["k\xef\xbf\xbd"].string, "second");  // U+FFFD, the later value
  EXPECT_EQ(records[0]["k\xc3\xa9"].string, "valid");
}

}  // namespace
