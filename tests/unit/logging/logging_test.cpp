#include "monitoring/logging.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "monitoring/logging/error_counter.hpp"
#include "monitoring/metrics/registry.hpp"
#include "support/eventually.hpp"
#include "support/json_reader.hpp"
#include "unit/logging/test_support.hpp"

namespace payment {
struct PaymentDeclined : std::runtime_error {
  using std::runtime_error::runtime_error;
};
}  // namespace payment

namespace {

namespace logging = monitoring::logging;
namespace context = monitoring::context;
using logging::Level;
using logging::LoggingOptions;
using monitoring::StructuredLogger;
using test_support::file_options;
using test_support::flushed_records;
using test_support::TempDir;

class LoggingTest : public ::testing::Test {
 protected:
  void TearDown() override {
    subscription_.reset();
    logging::shutdown();
  }
  TempDir dir_;
  logging::RecordSubscription subscription_;
};

double dropped_metric(const std::string& reason) {
  auto& family = monitoring::metrics::Registry::default_registry().counter(
      "monitoring_log_records_dropped_total",
      "Log records lost: queue full with the drop policy, logged after shutdown, or not written "
      "because of a write "
      "error.",
      {"reason"});
  return family.labels(reason).value();
}

TEST_F(LoggingTest, WritesEcsJsonInTheDocumentedKeyOrder) {
  logging::configure(file_options(dir_.path()));
  StructuredLogger logger("payment_service");
  logger.add_context({{"service", "payment"}, {"version", "1.0.0"}, {"region", "eu"}});
  const auto before = std::chrono::system_clock::now();
  {
    auto request = logger.with_request_id("req-42");
    auto user = logger.with_user(123, "john");
    logger.info("Processing payment", {{"payment_id", 123},
                                       {"amount", 1000},
                                       {"ratio", 0.25},
                                       {"confirmed", true},
                                       {"coupon", nullptr},
                                       {"method", "yookassa"},
                                       {"big", std::uint64_t{18446744073709551615ull}},
                                       {"negative", -5}});
  }
  const auto records = flushed_records(dir_.path());
  ASSERT_EQ(records.size(), 1u);
  const auto& r = records[0];
  const std::vector<std::string> expected_keys = {
      "@timestamp",  "log.level",         "message",      "ecs.version",     "log.logger",
      "process.pid", "process.thread.id", "service.name", "service.version", "user.id",
      "user.name",   "request_id",        "region",       "payment_id",      "amount",
      "ratio",       "confirmed",         "coupon",       "method",          "big",
      "negative"};
  EXPECT_EQ(r.keys(), expected_keys);
  EXPECT_EQ(r["log.level"].string, "info");
  EXPECT_EQ(r["message"].string, "Processing payment");
  EXPECT_EQ(r["ecs.version"].string, "8.11.0");
  EXPECT_EQ(r["log.logger"].string, "payment_service");
  EXPECT_EQ(r["process.pid"].number, static_cast<double>(::getpid()));
  EXPECT_EQ(r["process.thread.id"].number, static_cast<double>(::gettid()));
  EXPECT_EQ(r["service.name"].string, "payment");
  EXPECT_EQ(r["service.version"].string, "1.0.0");
  EXPECT_EQ(r["user.id"].string, "123");
  EXPECT_EQ(r["user.name"].string, "john");
  EXPECT_EQ(r["request_id"].string, "req-42");
  EXPECT_EQ(r["region"].string, "eu");
  EXPECT_EQ(r["payment_id"].number_text, "123");
  EXPECT_EQ(r["amount"].number_text, "1000");
  EXPECT_EQ(r["ratio"].number_text, "0.25");
  EXPECT_TRUE(r["confirmed"].boolean);
  EXPECT_TRUE(r["coupon"].is_null());
  EXPECT_EQ(r["method"].string, "yookassa");
  EXPECT_EQ(r["big"].number_text, "18446744073709551615");
  EXPECT_EQ(r["negative"].number_text, "-5");

  // "2025-01-31T12:00:00.123456Z", close to now.
  const std::string& stamp = r["@timestamp"].string;
  ASSERT_EQ(stamp.size(), 27u) << stamp;
  EXPECT_EQ(stamp[10], 'T');
  EXPECT_EQ(stamp[19], '.');
  EXPECT_EQ(stamp.back(), 'Z');
  std::tm parts{};
  ASSERT_NE(strptime(stamp.c_str(), "%Y-%m-%dT%H:%M:%S", &parts), nullptr);
  const auto logged = std::chrono::system_clock::from_time_t(timegm(&parts)) +
                      std::chrono::microseconds(std::stoi(stamp.substr(20, 6)));
  EXPECT_LT(std::chrono::abs(logged - before), std::chrono::seconds(5));
}

TEST_F(LoggingTest, ServiceFieldsComeFromOptionsUnlessTheLoggerSaysOtherwise) {
  auto options = file_options(dir_.path());
  options.service_name = "bot";
  options.service_version = "2.0";
  options.service_environment = "production";
  logging::configure(options);
  StructuredLogger plain("plain");
  StructuredLogger payment("payment");
  payment.add_context({{"service", "payment"}, {"environment", "staging"}});
  plain.info("a");
  payment.info("b");
  const auto records = flushed_records(dir_.path());
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0]["service.name"].string, "bot");
  EXPECT_EQ(records[0]["service.version"].string, "2.0");
  EXPECT_EQ(records[0]["service.environment"].string, "production");
  EXPECT_EQ(records[1]["service.name"].string, "payment");
  EXPECT_EQ(records[1]["service.version"].string, "2.0");
  EXPECT_EQ(records[1]["service.environment"].string, "staging");
  EXPECT_FALSE(records[1].has("service"));
}

TEST_F(LoggingTest, LevelsAndPerModuleLevels) {
  auto options = file_options(dir_.path());
  options.level = Level::kInfo;
  options.module_levels = {{"payment", Level::kDebug}, {"noisy", Level::kError}};
  StructuredLogger early("payment.yookassa");  // created before configure(): updated by it
  logging::configure(options);
  StructuredLogger noisy("noisy");
  StructuredLogger noisy_child("noisy.sub");
  StructuredLogger other("other");
  StructuredLogger payments("payments");  // not a dotted child of "payment"

  early.debug("early debug");
  noisy.warning("noisy warning");
  noisy.error("noisy error");
  noisy_child.info("noisy child info");
  other.debug("other debug");
  other.info("other info");
  payments.debug("payments debug");
  other.critical("other critical");

  EXPECT_TRUE(early.is_enabled(Level::kDebug));
  EXPECT_FALSE(noisy.is_enabled(Level::kWarning));
  EXPECT_EQ(noisy_child.level(), Level::kError);
  std::vector<std::string> messages;
  std::vector<std::string> levels;
  for (const auto& r : flushed_records(dir_.path())) {
    messages.push_back(r["message"].string);
    levels.push_back(r["log.level"].string);
  }
  EXPECT_EQ(messages, (std::vector<std::string>{"early debug", "noisy error", "other info",
                                                "other critical"}));
  EXPECT_EQ(levels, (std::vector<std::string>{"debug", "error", "info", "critical"}));

  // A new configuration applies to existing loggers.
  options.module_levels.clear();
  options.level = Level::kWarning;
  logging::configure(options);
  EXPECT_FALSE(early.is_enabled(Level::kDebug));
  EXPECT_TRUE(noisy.is_enabled(Level::kWarning));
}

// A new thread's queue arrives with its pages faulted in: without that, its first ~7 000
// records (1 MiB) took 256 page faults of microseconds each on the log call.
TEST_F(LoggingTest, NewThreadsFirstRecordsTakeNoPageFaults) {
  logging::configure(file_options(dir_.path()));
  StructuredLogger logger("payment_service");
  for (int round = 0; round < 3; ++round) {  // the spare ring, then recycled ones
    long faults = -1;
    std::thread([&] {
      logger.info("attach");  // the first call may fault in the ring itself
      rusage before{};
      ::getrusage(RUSAGE_THREAD, &before);
      for (int i = 0; i < 7000; ++i)
        logger.info("Processing payment",
                    {{"payment_id", i}, {"amount", 1000}, {"user", "john"}, {"success", true}});
      rusage after{};
      ::getrusage(RUSAGE_THREAD, &after);
      faults = after.ru_minflt - before.ru_minflt;
    }).join();
    // 256 without the pre-faulted ring; sanitizers' shadow memory may add a few dozen.
    EXPECT_LT(faults, 64) << "round " << round;
  }
  EXPECT_EQ(flushed_records(dir_.path()).size(), 3u * 7001u);
}

TEST_F(LoggingTest, LevelNamesParse) {
  EXPECT_EQ(logging::parse_level("debug"), Level::kDebug);
  EXPECT_EQ(logging::parse_level(" WARNING "), Level::kWarning);
  EXPECT_EQ(logging::parse_level("warn"), Level::kWarning);
  EXPECT_EQ(logging::parse_level("Critical"), Level::kCritical);
  EXPECT_EQ(logging::parse_level("FATAL"), Level::kCritical);
  EXPECT_EQ(logging::parse_level("off"), Level::kOff);
  try {
    logging::parse_level("verbose");
    FAIL() << "no exception";
  } catch (const monitoring::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("\"verbose\""), std::string::npos) << e.what();
  }
  const auto levels = logging::parse_module_levels(" payment=DEBUG, aiogram.event = warning ,,");
  ASSERT_EQ(levels.size(), 2u);
  EXPECT_EQ(levels.at("payment"), Level::kDebug);
  EXPECT_EQ(levels.at("aiogram.event"), Level::kWarning);
  EXPECT_THROW(logging::parse_module_levels("payment"), monitoring::ConfigError);
  EXPECT_THROW(logging::parse_module_levels("=INFO"), monitoring::ConfigError);
  EXPECT_THROW(logging::parse_module_levels("payment=LOUD"), monitoring::ConfigError);
}

TEST_F(LoggingTest, OptionsFromEnvironment) {
  ::setenv("LOG_LEVEL", "debug", 1);
  ::setenv("LOG_LEVELS", "payment=ERROR", 1);
  ::setenv("LOG_DIR", "/var/log/bot", 1);
  ::setenv("USE_JSON_LOGS", "false", 1);
  ::setenv("LOG_MAX_BYTES", "20MB", 1);
  ::setenv("LOG_BACKUP_COUNT", "7", 1);
  const LoggingOptions options = LoggingOptions::from_env();
  EXPECT_EQ(options.level, Level::kDebug);
  EXPECT_EQ(options.module_levels.at("payment"), Level::kError);
  EXPECT_EQ(options.log_dir, "/var/log/bot");
  EXPECT_FALSE(options.json);
  EXPECT_EQ(options.max_bytes, 20u << 20);
  EXPECT_EQ(options.backup_count, 7u);

  const auto expect_error_naming = [](const char* variable, const char* value) {
    ::setenv(variable, value, 1);
    try {
      LoggingOptions::from_env();
      ADD_FAILURE() << variable << "=" << value << " accepted";
    } catch (const monitoring::ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(variable), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(value), std::string::npos) << e.what();
    }
  };
  expect_error_naming("LOG_MAX_BYTES", "ten");
  ::setenv("LOG_MAX_BYTES", "10485760", 1);
  expect_error_naming("LOG_BACKUP_COUNT", "-1");
  ::setenv("LOG_BACKUP_COUNT", "5", 1);
  expect_error_naming("USE_JSON_LOGS", "maybe");
  ::setenv("USE_JSON_LOGS", "1", 1);
  expect_error_naming("LOG_LEVEL", "loud");
  for (const char* variable :
       {"LOG_LEVEL", "LOG_LEVELS", "LOG_DIR", "USE_JSON_LOGS", "LOG_MAX_BYTES", "LOG_BACKUP_COUNT"})
    ::unsetenv(variable);
}

[[gnu::noinline]] void charge_card() {
  throw payment::PaymentDeclined("card declined by issuer");
}

TEST_F(LoggingTest, ExceptionAddsTypeMessageAndSymbolizedStack) {
  logging::configure(file_options(dir_.path()));
  StructuredLogger logger("payment_service");
  try {
    charge_card();
  } catch (...) {
    logger.exception("Payment processing failed", {{"payment_id", 123}});
  }
  try {
    throw 42;
  } catch (...) {
    logger.exception("Odd failure");
  }
  std::exception_ptr stored;
  try {
    throw std::out_of_range("index 7");
  } catch (...) {
    stored = std::current_exception();
  }
  logger.exception("Stored failure", stored);
  logger.exception("Outside a handler");

  const auto records = flushed_records(dir_.path());
  ASSERT_EQ(records.size(), 4u);
  const auto& r = records[0];
  EXPECT_EQ(r["log.level"].string, "error");
  EXPECT_EQ(r["error.type"].string, "payment::PaymentDeclined");
  EXPECT_EQ(r["error.message"].string, "card declined by issuer");
  EXPECT_EQ(r["payment_id"].number, 123);
  const std::string& stack = r["error.stack_trace"].string;
  // Frame #0 is the function that threw (charge_card), symbolized; its caller follows.
  EXPECT_EQ(stack.rfind("#0 0x", 0), 0u) << stack;
  const std::string first_frame = stack.substr(0, stack.find('\n'));
  EXPECT_NE(first_frame.find("charge_card"), std::string::npos) << stack;
  const std::string second_frame = stack.substr(stack.find("\n#1 "));
  EXPECT_NE(second_frame.substr(0, second_frame.find('\n', 1))
                .find("ExceptionAddsTypeMessageAndSymbolizedStack"),
            std::string::npos)
      << stack;
  const std::vector<std::string> keys = r.keys();
  const auto position = [&](const std::string& key) {
    return std::find(keys.begin(), keys.end(), key) - keys.begin();
  };
  EXPECT_LT(position("process.thread.id"), position("error.type"));
  EXPECT_LT(position("error.type"), position("error.message"));
  EXPECT_LT(position("error.message"), position("error.stack_trace"));
  EXPECT_LT(position("error.stack_trace"), position("payment_id"));

  EXPECT_EQ(records[1]["error.type"].string, "int");
  EXPECT_EQ(records[1]["error.message"].string, "");
  EXPECT_EQ(records[2]["error.type"].string, "std::out_of_range");
  EXPECT_EQ(records[2]["error.message"].string, "index 7");
  EXPECT_FALSE(records[3].has("error.type"));
  EXPECT_EQ(records[3]["log.level"].string, "error");
}

// What logger.exception tells the installed error counter, recorded for the test below.
struct CountedErrors {
  static inline std::mutex mutex;
  static inline std::vector<std::pair<std::string, std::string>> seen;
  static void count(std::string_view error_type, std::string_view module) noexcept {
    std::lock_guard lock(mutex);
    seen.emplace_back(std::string(error_type), std::string(module));
  }
};

TEST_F(LoggingTest, ExceptionIsCountedWhateverTheLevel) {
  auto options = file_options(dir_.path());
  options.module_levels = {{"errors.silent", Level::kCritical}};
  logging::configure(options);
  StructuredLogger logged("errors.logged");
  StructuredLogger silent("errors.silent");  // below its level: not written, still counted
  CountedErrors::seen.clear();
  logging::set_error_counter(CountedErrors::count);
  try {
    throw payment::PaymentDeclined("card declined");
  } catch (...) {
    logged.exception("payment failed");
  }
  silent.exception("lookup failed", std::make_exception_ptr(std::out_of_range("no key")));
  logged.exception("outside a catch block: no exception, nothing counted");
  logging::set_error_counter(nullptr);
  using Seen = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(CountedErrors::seen, (Seen{{"payment::PaymentDeclined", "errors.logged"},
                                       {"std::out_of_range", "errors.silent"}}));
  const auto records = flushed_records(dir_.path());
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0]["error.type"].string, "payment::PaymentDeclined");
}

TEST_F(LoggingTest, ContextMergeCallSiteWinsAndReservedKeysStayUnique) {
  logging::configure(file_options(dir_.path()));
  StructuredLogger logger("merge");
  logger.add_context({{"region", "eu"}, {"tier", "gold"}});
  auto fields = context::with_fields({{"region", "us"}, {"tenant", "t1"}});
  logger.info("merged", {{"tenant", "t2"}, {"message", "shadow"}, {"user.id", "spoof"}});
  const auto records = flushed_records(dir_.path());
  ASSERT_EQ(records.size(), 1u);
  const auto& r = records[0];
  EXPECT_EQ(r["region"].string, "us");
  EXPECT_EQ(r["tier"].string, "gold");
  EXPECT_EQ(r["tenant"].string, "t2");
  EXPECT_EQ(r["message"].string, "merged");
  EXPECT_EQ(r["extra.message"].string, "shadow");
  EXPECT_EQ(r["extra.user.id"].string, "spoof");
  std::vector<std::string> keys = r.keys();
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(std::adjacent_find(keys.begin(), keys.end()), keys.end()) << "duplicate key";
}

TEST_F(LoggingTest, KeysThatDifferInOneByteStayDistinct) {
  // The backend compares and hashes short keys by whole words: keys of equal length that
  // differ in one byte anywhere, or only in a byte the words overlap, must never merge, never
  // take another key's "extra." rename and never share another key's sensitivity.
  logging::configure(file_options(dir_.path()));
  StructuredLogger logger("keys");
  for (std::size_t size = 1; size <= 24; ++size) {
    for (std::size_t at = 0; at < size; ++at) {
      const std::string base(size, 'k');
      std::string variant = base;
      variant[at] = 'q';
      logger.info("pair", {{base, 1}, {variant, 2}});
    }
  }
  logger.info("near misses", {{"request_ie", "a"},
                              {"message_", "b"},
                              {"passwore", "c"},
                              {"password", "d"},
                              {"tokem", "e"}});
  const auto records = flushed_records(dir_.path());
  std::size_t index = 0;
  for (std::size_t size = 1; size <= 24; ++size) {
    for (std::size_t at = 0; at < size; ++at, ++index) {
      ASSERT_LT(index, records.size());
      const std::string base(size, 'k');
      std::string variant = base;
      variant[at] = 'q';
      EXPECT_EQ(records[index][base].number_text, "1") << size << " " << at;
      EXPECT_EQ(records[index][variant].number_text, "2") << size << " " << at;
    }
  }
  ASSERT_EQ(records.size(), index + 1);
  const auto& r = records[index];
  EXPECT_EQ(r["request_ie"].string, "a");
  EXPECT_EQ(r["message_"].string, "b");
  EXPECT_EQ(r["passwore"].string, "c");
  EXPECT_EQ(r["password"].string, "[Filtered]");
  EXPECT_EQ(r["tokem"].string, "e");
}

TEST_F(LoggingTest, EveryLineIsValidJsonWhateverTheInput) {
  logging::configure(file_options(dir_.path()));
  StructuredLogger logger("bytes");
  const std::string invalid = "bad \xff\xfe utf8 \xE2\x82 and \xC0\xAF end";
  const std::string controls = std::string("tab\tnew\nline\rnul\0esc\x1b[31m del\x7f", 30);
  logger.info(invalid,
              {{"value", invalid}, {"controls", controls}, {invalid, "key with bad bytes"}});
  logger.info(controls);
  std::string all_bytes;
  for (int c = 0; c < 256; ++c) all_bytes.push_back(static_cast<char>(c));
  logger.warning(all_bytes, {{"all", all_bytes}});
  logging::flush();
  const auto lines = test_support::split_lines(test_support::read_file(dir_.file("app.log")));
  ASSERT_EQ(lines.size(), 3u);
  for (const std::string& line : lines) EXPECT_NO_THROW(test_json::parse(line)) << line;
  const auto r = test_json::parse(lines[0]);
  EXPECT_EQ(r["message"].string,
            "bad \xEF\xBF\xBD\xEF\xBF\xBD utf8 \xEF\xBF\xBD and \xEF\xBF\xBD\xEF\xBF\xBD end");
  EXPECT_EQ(r["controls"].string, controls);  // escaped, so it round-trips exactly
  EXPECT_EQ(test_json::parse(lines[1])["message"].string, controls);
}

TEST_F(LoggingTest, HugeValuesAreTruncatedWithAMarker) {
  auto options = file_options(dir_.path());
  options.max_field_bytes = 1024;
  logging::configure(options);
  StructuredLogger logger("huge");
  const std::string huge(1 << 20, 'x');
  std::string cyrillic;
  while (cyrillic.size() < 5000) cyrillic += "ж";  // 2-byte characters: the cut must not split one
  logger.info(std::string(100000, 'm'), {{"payload", huge}, {"text", cyrillic}, {"small", "ok"}});
  const auto records = flushed_records(dir_.path());
  ASSERT_EQ(records.size(), 1u);
  const auto& r = records[0];
  EXPECT_EQ(r["payload"].string, std::string(1024, 'x') + "...[truncated, 1048576 bytes]");
  EXPECT_EQ(r["message"].string, std::string(1024, 'm') + "...[truncated, 100000 bytes]");
  const std::string& text = r["text"].string;
  EXPECT_EQ(text.substr(0, 1024), cyrillic.substr(0, 1024));
  EXPECT_EQ(text.substr(1024), "...[truncated, " + std::to_string(cyrillic.size()) + " bytes]");
  EXPECT_EQ(r["small"].string, "ok");
}

TEST_F(LoggingTest, RecordsAroundTheOnePassBoundKeepEveryByteAndType) {
  // The caller encodes records under ~1 KiB in one pass and larger ones in two; sizes on both
  // sides of the switch, keys at the key limit and past it, and every scalar type must come
  // out the same.
  logging::configure(file_options(dir_.path()));
  StructuredLogger logger("bound");
  std::vector<std::size_t> sizes;
  for (std::size_t size = 0; size <= 1100; size += size < 40 ? 1 : 37) sizes.push_back(size);
  for (const std::size_t size : sizes) {
    const std::string value(size, 'v');
    logger.info("m", {{"text", value},
                      {"flag", size % 2 == 0},
                      {"neg", -static_cast<std::int64_t>(size)},
                      {"big", std::uint64_t{1} << 63},
                      {"ratio", 0.5},
                      {"none", nullptr},
                      {std::string(300, 'k'), "long key"}});
  }
  const auto records = flushed_records(dir_.path());
  ASSERT_EQ(records.size(), sizes.size());
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const auto& r = records[i];
    EXPECT_EQ(r["text"].string, std::string(sizes[i], 'v')) << sizes[i];
    EXPECT_EQ(r["flag"].boolean, sizes[i] % 2 == 0) << sizes[i];
    EXPECT_EQ(r["neg"].number, -static_cast<double>(sizes[i])) << sizes[i];
    EXPECT_EQ(r["big"].number_text, "9223372036854775808");
    EXPECT_EQ(r["ratio"].number, 0.5);
    EXPECT_TRUE(r["none"].is_null());
    EXPECT_EQ(r[std::string(256, 'k')].string, "long key");  // keys are cut at 256 bytes
  }
}

// One record with the fields names[0] = 0, names[1] = 1, ... (one braced list, as callers write).
template <std::size_t... I>
void log_numbered_fields(StructuredLogger& logger, const std::vector<std::string>& names,
                         std::index_sequence<I...>) {
  logger.info("numbered", {monitoring::Field{names[I], static_cast<int>(I)}...});
}

// A record whose keys and values are all under 256 bytes is encoded in one pass; a longer
// one is sized first (two passes). Both decode alike at every size around that limit, and
// with the field count at its limit (64) and past it.
TEST_F(LoggingTest, RecordsOnBothSidesOfTheOnePassLimitDecodeAlike) {
  logging::configure(file_options(dir_.path()));
  StructuredLogger logger("headers");
  const std::vector<std::size_t> sizes = {0, 1, 7, 8, 15, 16, 254, 255, 256, 257, 300};
  for (const std::size_t key_size : sizes) {
    if (key_size == 0) continue;
    for (const std::size_t value_size : sizes) {
      std::string key(key_size, 'x');
      key[0] = 'k';
      logger.info(std::string(value_size, 'm'), {{key, std::string(value_size, 'v')},
                                                 {"n", -static_cast<std::int64_t>(value_size)},
                                                 {"d", 0.25},
                                                 {"b", false},
                                                 {"z", nullptr}});
    }
  }
  std::vector<std::string> names;
  for (int i = 0; i < 70; ++i) names.push_back(std::string("f").append(std::to_string(i)));
  log_numbered_fields(logger, names, std::make_index_sequence<64>());
  log_numbered_fields(logger, names, std::make_index_sequence<70>());

  const auto records = flushed_records(dir_.path());
  ASSERT_EQ(records.size(), (sizes.size() - 1) * sizes.size() + 2);
  std::size_t index = 0;
  for (const std::size_t key_size : sizes) {
    if (key_size == 0) continue;
    for (const std::size_t value_size : sizes) {
      const auto& r = records[index++];
      std::string key(std::min<std::size_t>(key_size, 256), 'x');  // keys are cut at 256 bytes
      key[0] = 'k';
      SCOPED_TRACE("key " + std::to_string(key_size) + ", value " + std::to_string(value_size));
      EXPECT_EQ(r["message"].string, std::string(value_size, 'm'));
      EXPECT_EQ(r[key].string, std::string(value_size, 'v'));
      EXPECT_EQ(r["n"].number, -static_cast<double>(value_size));
      EXPECT_EQ(r["d"].number, 0.25);
      EXPECT_FALSE(r["b"].boolean);
      EXPECT_TRUE(r["z"].is_null());
    }
  }
  for (const auto* r : {&records[index], &records[index + 1]}) {
    for (int i = 0; i < 64; ++i) EXPECT_EQ((*r)[names[static_cast<std::size_t>(i)]].number, i);
    EXPECT_FALSE(r->has("f64"));  // a record keeps at most 64 fields
  }
}

TEST_F(LoggingTest, RecordsLargerThanTheQueueAreCutToFit) {
  auto options = file_options(dir_.path());
  options.queue_capacity = 64 << 10;
  options.max_field_bytes = 1 << 20;
  logging::configure(options);
  // A new thread gets a queue of the configured 64 KiB (older threads keep theirs).
  std::thread([] {
    StructuredLogger logger("oversize");
    const std::string big(200000, 'y');
    logger.info("two big fields", {{"a", big}, {"b", big}});
  }).join();
  const auto records = flushed_records(dir_.path());
  ASSERT_EQ(records.size(), 1u);
  const std::string& a = records[0]["a"].string;
  EXPECT_LT(a.size(), 32u << 10);
  EXPECT_NE(a.find("...[truncated, 200000 bytes]"), std::string::npos);
}

TEST_F(LoggingTest, SecretsNeverReachTheFile) {
  logging::configure(file_options(dir_.path()));
  StructuredLogger logger("secrets");
  const std::string token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawq";
  logger.add_context({{"api_key", "context-secret"}});
  auto user = logger.with_user(5, "eve");
  auto fields = context::with_fields({{"session_id", "sess-secret"}});
  logger.info("calling https://api.telegram.org/bot" + token + "/getMe",
              {{"password", "hunter2"},
               {"card", 4111111111111111},
               {"order_id", 4111111111111112},
               {"note", "paid with 4111 1111 1111 1111"},
               {"author", "Tolstoy"},
               {"url", "postgresql://bot:pgpass@db/bot"}});
  logging::flush();
  const std::string raw = test_support::read_file(dir_.file("app.log"));
  for (const char* secret : {"hunter2", "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawq", "4111111111111111",
                             "4111 1111", "pgpass", "context-secret", "sess-secret"})
    EXPECT_EQ(raw.find(secret), std::string::npos) << secret << " leaked: " << raw;
  const auto r = test_json::parse(test_support::split_lines(raw).at(0));
  EXPECT_EQ(r["message"].string, "calling https://api.telegram.org/bot[Filtered]/getMe");
  EXPECT_EQ(r["password"].string, "[Filtered]");
  EXPECT_EQ(r["card"].string, "[Filtered]");
  EXPECT_EQ(r["order_id"].number_text, "4111111111111112");
  EXPECT_EQ(r["note"].string, "paid with [Filtered]");
  EXPECT_EQ(r["author"].string, "Tolstoy");
  EXPECT_EQ(r["url"].string, "postgresql://bot:[Filtered]@db/bot");
  EXPECT_EQ(r["api_key"].string, "[Filtered]");
  EXPECT_EQ(r["session_id"].string, "[Filtered]");
  EXPECT_EQ(r["user.name"].string, "eve");
}

TEST_F(LoggingTest, ConsoleTextIsReadable) {
  LoggingOptions options;
  options.console = logging::ConsoleTarget::kStdout;
  options.json = false;
  options.colors = logging::ColorMode::kNever;
  test_support::CaptureFd capture(STDOUT_FILENO, dir_.file("stdout.txt"));
  logging::configure(options);
  StructuredLogger logger("payment_service");
  {
    auto user = logger.with_user(123, "john");
    logger.warning("Payment slow",
                   {{"payment_id", 123}, {"provider", "yoo kassa"}, {"evil", "a\nb"}});
  }
  logging::shutdown();
  capture.restore();
  const std::string text = capture.text();
  EXPECT_NE(
      text.find(" WARNING  payment_service: Payment slow user.id=123 user.name=john payment_id=123 "
                "provider=\"yoo kassa\" evil=\"a\\nb\"\n"),
      std::string::npos)
      << text;
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1);  // the newline in a value is escaped
}

TEST_F(LoggingTest, ConsoleColorsAndJson) {
  test_support::CaptureFd capture(STDOUT_FILENO, dir_.file("stdout.txt"));
  LoggingOptions options;
  options.console = logging::ConsoleTarget::kStdout;
  options.json = false;
  options.colors = logging::ColorMode::kAlways;
  logging::configure(options);
  StructuredLogger logger("colors");
  logger.error("red");
  logging::flush();
  options.json = true;
  logging::configure(options);
  logger.info("as json", {{"k", 1}});
  logging::shutdown();
  capture.restore();
  const auto lines = test_support::split_lines(capture.text());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("\x1b[31mERROR"), std::string::npos) << lines[0];
  const auto r = test_json::parse(lines[1]);
  EXPECT_EQ(r["message"].string, "as json");
  EXPECT_EQ(r["k"].number, 1);
}

TEST_F(LoggingTest, ConsoleWriteErrorsAreCountedAndReportedOnce) {
  test_support::CaptureFd errors(STDERR_FILENO, dir_.file("stderr.txt"));
  test_support::CaptureFd full(STDOUT_FILENO, "/dev/full");
  LoggingOptions options;
  options.console = logging::ConsoleTarget::kStdout;
  logging::configure(options);
  const auto before = logging::stats();
  const double metric_before = dropped_metric("write_error");
  StructuredLogger logger("full");
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < 10; ++i) logger.info("into /dev/full", {{"i", i}});
    logging::flush();
  }
  const auto after = logging::stats();
  logging::shutdown();
  full.restore();
  errors.restore();
  EXPECT_GE(after.write_errors - before.write_errors, 5u);
  EXPECT_EQ(after.records_dropped - before.records_dropped, 50u);
  EXPECT_EQ(dropped_metric("write_error") - metric_before, 50);
  const std::string text = errors.text();
  const std::string message = "monitoring: cannot write stdout: No space left on device";
  EXPECT_NE(text.find(message), std::string::npos) << text;
  EXPECT_EQ(text.find(message), text.rfind(message)) << "reported more than once: " << text;
}

TEST_F(LoggingTest, ShutdownFlushesEverythingAndLaterRecordsAreDroppedAndCounted) {
  logging::configure(file_options(dir_.path()));
  StructuredLogger logger("shutdown");
  for (int i = 0; i < 20000; ++i) logger.info("record", {{"i", i}});
  logging::shutdown();
  EXPECT_FALSE(logging::is_running());
  const auto lines = test_support::split_lines(test_support::read_file(dir_.file("app.log")));
  ASSERT_EQ(lines.size(), 20000u);
  EXPECT_EQ(test_json::parse(lines.back())["i"].number, 19999);

  const auto before = logging::stats();
  const double metric_before = dropped_metric("shutdown");
  logger.info("after shutdown");
  StructuredLogger fresh("fresh");
  fresh.error("also after shutdown");
  logging::shutdown();  // idempotent
  logging::flush();     // harmless when stopped
  EXPECT_EQ(logging::stats().records_dropped - before.records_dropped, 2u);
  EXPECT_EQ(dropped_metric("shutdown") - metric_before, 2);
  EXPECT_EQ(test_support::split_lines(test_support::read_file(dir_.file("app.log"))).size(),
            20000u);

  logging::configure(file_options(dir_.path()));  // and it starts again
  logger.info("back");
  EXPECT_EQ(flushed_records(dir_.path()).back()["message"].string, "back");
}

TEST_F(LoggingTest, UnwritableLogDirIsAStartupErrorNamingThePath) {
  const std::string blocker = dir_.file("a-file");
  test_support::CaptureFd ignored(STDERR_FILENO, dir_.file("stderr.txt"));
  { std::ofstream(blocker) << "not a directory"; }
  auto options = file_options(blocker + "/logs");
  try {
    logging::configure(options);
    FAIL() << "configure accepted " << options.log_dir;
  } catch (const monitoring::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(options.log_dir), std::string::npos) << e.what();
  }
  // The running configuration stays in effect after a failed reconfiguration.
  logging::configure(file_options(dir_.path()));
  EXPECT_THROW(logging::configure(options), monitoring::ConfigError);
  StructuredLogger logger("still");
  logger.info("still running");
  EXPECT_EQ(flushed_records(dir_.path()).size(), 1u);
}

TEST_F(LoggingTest, RecordObserverGetsStructuredRecords) {
  logging::configure(file_options(dir_.path()));
  struct Seen {
    Level level;
    std::string message, logger, user_id, request_id, json, error_type;
    std::vector<std::pair<std::string, std::string>> fields;
  };
  std::mutex mutex;
  std::vector<Seen> seen;
  subscription_ = logging::subscribe_records(
      [&](const logging::RecordView& view) {
        Seen s{view.level,
               std::string(view.message),
               std::string(view.logger),
               std::string(view.user_id),
               std::string(view.request_id),
               std::string(view.json),
               std::string(view.error_type),
               {}};
        for (const auto& field : view.fields)
          s.fields.emplace_back(std::string(field.key),
                                field.value.type() == monitoring::FieldValue::Type::kString
                                    ? std::string(field.value.as_string())
                                    : std::to_string(field.value.as_int()));
        std::lock_guard lock(mutex);
        seen.push_back(std::move(s));
      },
      Level::kInfo);
  StructuredLogger logger("observed");
  auto options = file_options(dir_.path());
  options.level = Level::kDebug;
  logging::configure(options);
  {
    auto user = logger.with_user(8, "ann");
    auto request = logger.with_request_id("r-8");
    logger.debug("below the observer level");
    logger.info("breadcrumb", {{"step", 1}, {"password", "x"}});
    try {
      throw std::runtime_error("boom");
    } catch (...) {
      logger.exception("event");
    }
  }
  logging::flush();
  subscription_.reset();
  logger.info("after removal");
  logging::flush();
  std::lock_guard lock(mutex);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].level, Level::kInfo);
  EXPECT_EQ(seen[0].message, "breadcrumb");
  EXPECT_EQ(seen[0].logger, "observed");
  EXPECT_EQ(seen[0].user_id, "8");
  EXPECT_EQ(seen[0].request_id, "r-8");
  EXPECT_EQ(seen[0].fields, (std::vector<std::pair<std::string, std::string>>{
                                {"step", "1"}, {"password", "[Filtered]"}}));
  EXPECT_EQ(test_json::parse(seen[0].json)["message"].string, "breadcrumb");
  EXPECT_EQ(seen[1].level, Level::kError);
  EXPECT_EQ(seen[1].error_type, "std::runtime_error");
  EXPECT_EQ(test_json::parse(seen[1].json)["error.message"].string, "boom");
}

TEST_F(LoggingTest, DropPolicyCountsDropsInTheMetric) {
  // An observer that blocks holds the backend, so the 64 KiB queue surely fills up.
  std::mutex mutex;
  std::condition_variable cv;
  bool release = false;
  subscription_ = logging::subscribe_records([&](const logging::RecordView&) {
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return release; });
  });
  auto options = file_options(dir_.path());
  options.queue_capacity = 64 << 10;
  options.overflow = logging::OverflowPolicy::kDrop;
  logging::configure(options);
  const auto before = logging::stats();
  const double metric_before = dropped_metric("queue_full");
  StructuredLogger logger("dropper");
  const std::string payload(500, 'p');
  constexpr int kRecords = 2000;
  for (int i = 0; i < kRecords; ++i) logger.info("record", {{"i", i}, {"payload", payload}});
  {
    std::lock_guard lock(mutex);
    release = true;
  }
  cv.notify_all();
  logging::flush();
  const auto after = logging::stats();
  const std::uint64_t dropped = after.records_dropped - before.records_dropped;
  const std::uint64_t written = after.records_written - before.records_written;
  EXPECT_GT(dropped, 0u);
  EXPECT_EQ(dropped + written, static_cast<std::uint64_t>(kRecords));
  EXPECT_EQ(dropped_metric("queue_full") - metric_before, static_cast<double>(dropped));
  EXPECT_EQ(flushed_records(dir_.path()).size(), written);
}

TEST_F(LoggingTest, BlockPolicyLosesNothingWhenTheQueueIsFull) {
  std::mutex mutex;
  std::condition_variable cv;
  bool release = false;
  subscription_ = logging::subscribe_records([&](const logging::RecordView&) {
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return release; });
  });
  auto options = file_options(dir_.path());
  options.queue_capacity = 64 << 10;
  logging::configure(options);
  const auto before = logging::stats();
  constexpr int kRecords = 2000;
  std::atomic<bool> producer_returned{false};
  std::thread producer([&producer_returned] {
    StructuredLogger logger("blocker");
    const std::string payload(500, 'p');
    for (int i = 0; i < kRecords; ++i) logger.info("record", {{"i", i}, {"payload", payload}});
    producer_returned = true;
  });
  // The queue fills while the observer holds the backend: the producer must be waiting for
  // space, not dropping and not done.
  const bool blocked =
      monitoring::testing::eventually([] { return logging::stats().producers_blocked > 0; });
  EXPECT_TRUE(blocked);
  EXPECT_FALSE(producer_returned.load());
  {
    std::lock_guard lock(mutex);
    release = true;
  }
  cv.notify_all();
  producer.join();
  const auto records = flushed_records(dir_.path());
  ASSERT_EQ(records.size(), static_cast<std::size_t>(kRecords));
  for (int i = 0; i < kRecords; ++i) ASSERT_EQ(records[static_cast<std::size_t>(i)]["i"].number, i);
  EXPECT_EQ(logging::stats().records_dropped, before.records_dropped);
  EXPECT_GT(logging::stats().producer_waits, before.producer_waits);
  EXPECT_EQ(logging::stats().producers_blocked, 0u);
}

TEST_F(LoggingTest, CopiedAndMovedLoggers) {
  logging::configure(file_options(dir_.path()));
  StructuredLogger original("orig");
  original.add_context({{"a", 1}});
  StructuredLogger copy = original;
  copy.add_context({{"b", 2}});
  StructuredLogger moved = std::move(original);
  original.info("moved-from loggers are silent");  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(original.name(), "");
  moved.info("moved");
  copy.info("copy");
  const auto records = flushed_records(dir_.path());
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0]["log.logger"].string, "orig");
  EXPECT_FALSE(records[0].has("b"));
  EXPECT_EQ(records[1]["a"].number, 1);
  EXPECT_EQ(records[1]["b"].number, 2);
}

// The crash handler flushes what was logged and chains with other handlers (whichever was
// installed first calls the other), then the default action kills the process. Checked in a
// child process.
int g_marker_fd = -1;
struct sigaction g_replaced_abort_handler;
void test_abort_handler(int signal_number, siginfo_t* info, void* context) {
  [[maybe_unused]] const ssize_t n = ::write(g_marker_fd, "chained", 7);
  const struct sigaction& next = g_replaced_abort_handler;
  if ((next.sa_flags & SA_SIGINFO) && next.sa_sigaction != nullptr)
    next.sa_sigaction(signal_number, info, context);
  else if (!(next.sa_flags & SA_SIGINFO) && next.sa_handler != SIG_DFL &&
           next.sa_handler != SIG_IGN)
    next.sa_handler(signal_number);
}

TEST_F(LoggingTest, FatalSignalFlushesThenChainsAndReRaises) {
  const std::string marker = dir_.file("marker");
  ASSERT_TRUE(test_support::child_aborts_after([&] {
    g_marker_fd = ::open(marker.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    struct sigaction action {};
    action.sa_sigaction = test_abort_handler;
    action.sa_flags = SA_SIGINFO;
    sigaction(SIGABRT, &action, &g_replaced_abort_handler);
    logging::configure(file_options(dir_.path()));
    StructuredLogger logger("crash");
    for (int i = 0; i < 5000; ++i) logger.info("before crash", {{"i", i}});
  }));
  EXPECT_EQ(test_support::read_file(marker), "chained");
  const auto lines = test_support::split_lines(test_support::read_file(dir_.file("app.log")));
  ASSERT_EQ(lines.size(), 5000u);
  EXPECT_EQ(test_json::parse(lines.back())["i"].number, 4999);
}

}  // namespace
