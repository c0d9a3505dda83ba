// Static call sites (logger.info<"message">(field<"key">(value)...)): the record written must
// be the regular call's, byte for byte apart from the timestamp, whatever the values.

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "logging/runtime.hpp"
#include "monitoring/logging.hpp"
#include "support/json_reader.hpp"
#include "unit/logging/test_support.hpp"

namespace {

namespace logging = monitoring::logging;
using logging::field;
using logging::Level;
using monitoring::StructuredLogger;
using test_support::file_options;
using test_support::flushed_records;
using test_support::TempDir;

class StaticCall : public ::testing::Test {
 protected:
  void TearDown() override { logging::shutdown(); }

  /// The lines of app.log with their timestamps blanked, after a flush.
  std::vector<std::string> lines_without_timestamps() const {
    logging::flush();
    static const std::regex stamp("\"@timestamp\":\"[^\"]*\"");
    std::vector<std::string> lines;
    for (const std::string& line : test_json::read_lines(dir_.file("app.log")))
      lines.push_back(std::regex_replace(line, stamp, "\"@timestamp\":\"\""));
    return lines;
  }

  TempDir dir_;
};

TEST_F(StaticCall, WritesTheRegularCallsRecordForEveryKindOfValue) {
  logging::configure(file_options(dir_.path()));
  StructuredLogger logger("payment_service");
  logger.add_context({{"service", "payment"}, {"region", "eu"}});
  auto user = logger.with_user(123, "john");
  const std::string method = "yookassa";
  const char* no_coupon = nullptr;
  const char* plan = "premium";
  for (int round = 0; round < 2; ++round) {
    logger.info("Processing payment", {{"payment_id", 123},
                                       {"amount", 1000u},
                                       {"ratio", 0.25},
                                       {"confirmed", true},
                                       {"coupon", nullptr},
                                       {"method", method},
                                       {"plan", plan},
                                       {"no_coupon", no_coupon},
                                       {"note", "literal"},
                                       {"big", std::uint64_t{18446744073709551615ull}},
                                       {"negative", std::int64_t{-5}},
                                       {"region", "us"}});
    logger.info<"Processing payment">(
        field<"payment_id">(123), field<"amount">(1000u), field<"ratio">(0.25),
        field<"confirmed">(true), field<"coupon">(nullptr), field<"method">(method),
        field<"plan">(plan), field<"no_coupon">(no_coupon), field<"note">("literal"),
        field<"big">(std::uint64_t{18446744073709551615ull}), field<"negative">(std::int64_t{-5}),
        field<"region">("us"));
  }
  const auto lines = lines_without_timestamps();
  ASSERT_EQ(lines.size(), 4u);
  for (std::size_t i = 0; i < lines.size(); i += 2) EXPECT_EQ(lines[i + 1], lines[i]);
  // And what that record is: the call's fields after the context's, the later "region" wins,
  // a null C string is null.
  const auto record = test_json::parse(lines[1]);
  EXPECT_EQ(record["message"].string, "Processing payment");
  EXPECT_EQ(record["region"].string, "us");
  EXPECT_TRUE(record["no_coupon"].is_null());
  EXPECT_EQ(record["plan"].string, "premium");
  EXPECT_EQ(record["big"].number_text, "18446744073709551615");
}

TEST_F(StaticCall, QueuesOnlyTheValues) {
  logging::configure(file_options(dir_.path()));
  StructuredLogger logger("payment_service");
  logger.info("the thread's queue and context are set up by this one");
  const logging::detail::SpscRing& ring = logging::detail::tls_queue->ring;
  const std::uint64_t start = ring.producer_position();
  logger.info("Processing payment",
              {{"payment_id", 1}, {"amount", 1000}, {"user", "john"}, {"success", true}});
  const std::uint64_t regular = ring.producer_position() - start;
  logger.info<"Processing payment">(field<"payment_id">(1), field<"amount">(1000),
                                    field<"user">("john"), field<"success">(true));
  const std::uint64_t static_site = ring.producer_position() - start - regular;
  // The header (40), three scalars (8 each), "john" with its two sizes (12), 8-aligned;
  // against the message, the keys and a 12-byte header per field as well.
  EXPECT_EQ(static_site, 80u);
  EXPECT_EQ(regular, 168u);
  const auto lines = lines_without_timestamps();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[2], lines[1]);
}

TEST_F(StaticCall, EveryLevelAndNoFields) {
  auto options = file_options(dir_.path());
  options.level = Level::kDebug;
  logging::configure(options);
  StructuredLogger logger("svc");
  logger.debug<"d">();
  logger.info<"i">();
  logger.warning<"w">();
  logger.error<"e">();
  logger.critical<"c">();
  logger.log<"l">(Level::kWarning, field<"k">(1));
  const auto records = flushed_records(dir_.path());
  ASSERT_EQ(records.size(), 6u);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"debug", "d"}, {"info", "i"},     {"warning", "w"},
      {"error", "e"}, {"critical", "c"}, {"warning", "l"}};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(records[i]["log.level"].string, expected[i].first);
    EXPECT_EQ(records[i]["message"].string, expected[i].second);
  }
  EXPECT_EQ(records[5]["k"].number_text, "1");
}

TEST_F(StaticCall, LongValuesAreTruncatedAndSecretsScrubbedAsInTheRegularCall) {
  auto options = file_options(dir_.path());
  options.max_field_bytes = 64;
  logging::configure(options);
  StructuredLogger logger("svc");
  const std::string long_value(5000, 'x');
  const std::string card = "card 4111 1111 1111 1111";
  logger.info("charge", {{"password", "hunter2"}, {"payload", long_value}, {"note", card}});
  logger.info<"charge">(field<"password">("hunter2"), field<"payload">(long_value),
                        field<"note">(card));
  const auto lines = lines_without_timestamps();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1], lines[0]);
  EXPECT_EQ(lines[1].find("hunter2"), std::string::npos) << lines[1];
  EXPECT_EQ(lines[1].find(std::string(65, 'x')), std::string::npos) << "not truncated";
}

TEST_F(StaticCall, BelowTheLevelNothingIsWrittenAndTheBacktraceKeepsIt) {
  auto options = file_options(dir_.path());
  options.backtrace = 2;
  logging::configure(options);
  StructuredLogger logger("billing");
  logger.debug<"step">(field<"n">(1));
  logger.debug<"step">(field<"n">(2));
  logger.debug<"step">(field<"n">(3));
  logger.error<"charge failed">(field<"order">("A-1"));
  const auto records = flushed_records(dir_.path());
  // The kept records go first (the last two), then the error.
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0]["n"].number_text, "2");
  EXPECT_TRUE(records[0]["log.backtrace"].boolean);
  EXPECT_EQ(records[1]["n"].number_text, "3");
  EXPECT_EQ(records[2]["message"].string, "charge failed");
  EXPECT_EQ(records[2]["order"].string, "A-1");
}

TEST_F(StaticCall, AValueTheQueueCannotHoldWholeStillArrivesWhole) {
  // Bigger than one-pass encoding takes (1 KiB) but within the field limit: the regular path.
  auto options = file_options(dir_.path());
  options.max_field_bytes = 8192;
  logging::configure(options);
  StructuredLogger logger("svc");
  const std::string big(3000, 'y');
  logger.info<"big">(field<"a">(big), field<"b">(7));
  const auto records = flushed_records(dir_.path());
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]["a"].string, big);
  EXPECT_EQ(records[0]["b"].number_text, "7");
}

TEST(StaticCallConcurrency, ThreadsMixingBothFormsLoseAndMixNothing) {
  TempDir dir;
  logging::configure(file_options(dir.path()));
  constexpr int kThreads = 4;
  constexpr int kEach = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      StructuredLogger logger("worker");
      const std::string name = "thread-" + std::to_string(t);
      for (int i = 0; i < kEach; ++i) {
        if (i % 2 == 0)
          logger.info<"tick">(field<"thread">(name), field<"i">(i));
        else
          logger.info("tick", {{"thread", name}, {"i", i}});
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const auto records = flushed_records(dir.path());
  logging::shutdown();
  ASSERT_EQ(records.size(), static_cast<std::size_t>(kThreads * kEach));
  std::vector<int> next(kThreads, 0);
  for (const auto& record : records) {
    const int t = std::stoi(record["thread"].string.substr(7));
    ASSERT_EQ(std::stoi(record["i"].number_text), next[t]) << "out of order or mixed";
    ++next[t];
  }
}

}  // namespace
