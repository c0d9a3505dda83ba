// Changing levels while the process runs: the store behind GET/PUT /loggers.

#include "monitoring/logging/levels.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "monitoring/logging.hpp"
#include "support/eventually.hpp"
#include "unit/logging/test_support.hpp"

namespace {

namespace logging = monitoring::logging;
using logging::Level;
using monitoring::StructuredLogger;
using monitoring::testing::eventually;
using test_support::file_options;
using test_support::flushed_records;
using test_support::TempDir;

const logging::ModuleLevelInfo* find_module(const logging::LevelsSnapshot& snapshot,
                                            const std::string& name) {
  for (const auto& module : snapshot.modules)
    if (module.name == name) return &module;
  return nullptr;
}

class RuntimeLevels : public ::testing::Test {
 protected:
  void SetUp() override {
    auto options = file_options(dir_.path());
    options.level = Level::kInfo;
    options.module_levels = {{"payment", Level::kDebug}};
    logging::configure(options);
  }
  void TearDown() override { logging::shutdown(); }
  TempDir dir_;
};

TEST_F(RuntimeLevels, ListsRootConfiguredModulesAndLiveLoggers) {
  StructuredLogger child("payment.yookassa");
  StructuredLogger other("billing");
  const auto snapshot = logging::levels();
  EXPECT_EQ(snapshot.root, Level::kInfo);
  const auto* payment = find_module(snapshot, "payment");
  ASSERT_NE(payment, nullptr);
  EXPECT_EQ(payment->configured, Level::kDebug);
  EXPECT_EQ(payment->effective, Level::kDebug);
  const auto* yookassa = find_module(snapshot, "payment.yookassa");
  ASSERT_NE(yookassa, nullptr);
  EXPECT_FALSE(yookassa->configured.has_value());
  EXPECT_EQ(yookassa->effective, Level::kDebug);  // inherited from "payment"
  const auto* billing = find_module(snapshot, "billing");
  ASSERT_NE(billing, nullptr);
  EXPECT_EQ(billing->effective, Level::kInfo);  // the root's
  for (std::size_t i = 1; i < snapshot.modules.size(); ++i)
    EXPECT_LT(snapshot.modules[i - 1].name, snapshot.modules[i].name);
}

TEST_F(RuntimeLevels, AChangeReachesExistingLoggersAndItsChildrenAndIsLogged) {
  StructuredLogger billing("billing");
  StructuredLogger invoices("billing.invoices");
  EXPECT_FALSE(invoices.is_enabled(Level::kDebug));

  EXPECT_EQ(logging::set_module_level("billing", Level::kDebug), std::nullopt);
  EXPECT_TRUE(billing.is_enabled(Level::kDebug));
  EXPECT_TRUE(invoices.is_enabled(Level::kDebug));
  StructuredLogger later("billing.refunds");  // created after the change
  EXPECT_EQ(later.level(), Level::kDebug);
  invoices.debug("now visible");

  // Back to inheriting: the root's INFO again.
  EXPECT_EQ(logging::set_module_level("billing", std::nullopt), Level::kDebug);
  EXPECT_EQ(invoices.level(), Level::kInfo);
  invoices.debug("hidden again");
  EXPECT_FALSE(logging::module_level("billing").configured.has_value());

  std::vector<std::string> changes;
  std::vector<std::string> messages;
  for (const auto& r : flushed_records(dir_.path())) {
    messages.push_back(r["message"].string);
    if (r["log.logger"].string == "monitoring.loggers") {
      EXPECT_EQ(r["log.level"].string, "warning");
      changes.push_back(r["module"].string + ":" + r["old_level"].string + "->" +
                        r["new_level"].string);
    }
  }
  EXPECT_EQ(changes,
            (std::vector<std::string>{"billing:inherit->DEBUG", "billing:DEBUG->inherit"}));
  EXPECT_EQ(std::count(messages.begin(), messages.end(), "now visible"), 1);
  EXPECT_EQ(std::count(messages.begin(), messages.end(), "hidden again"), 0);
}

TEST_F(RuntimeLevels, RootLevelAppliesToModulesWithoutTheirOwn) {
  StructuredLogger other("other");
  StructuredLogger payment("payment");
  EXPECT_EQ(logging::set_root_level(Level::kError), Level::kInfo);
  EXPECT_EQ(other.level(), Level::kError);
  EXPECT_EQ(payment.level(), Level::kDebug);  // its own level wins
  EXPECT_EQ(logging::levels().root, Level::kError);
  // Silencing everything still leaves the record of who silenced it.
  logging::set_root_level(Level::kOff);
  logging::set_module_level("payment", Level::kOff);
  bool logged = false;
  for (const auto& r : flushed_records(dir_.path()))
    if (r["module"].string == "payment" && r["new_level"].string == "OFF") logged = true;
  EXPECT_TRUE(logged);
}

TEST_F(RuntimeLevels, UnknownModulesGetALevelAndInheritOtherwise) {
  const auto unknown = logging::module_level("not.created.yet");
  EXPECT_FALSE(unknown.configured.has_value());
  EXPECT_EQ(unknown.effective, Level::kInfo);
  logging::set_module_level("not.created", Level::kWarning);
  EXPECT_EQ(logging::module_level("not.created.yet").effective, Level::kWarning);
  EXPECT_NE(find_module(logging::levels(), "not.created"), nullptr);
}

TEST_F(RuntimeLevels, BadModuleNamesAreRefusedAndChangeNothing) {
  const auto before = logging::levels();
  const std::vector<std::string> bad_names = {
      "", ".payment", "payment.", "pay..ment", "pay/ment", "pay ment", std::string(201, 'a')};
  for (const std::string& bad : bad_names) {
    EXPECT_THROW(logging::set_module_level(bad, Level::kDebug), logging::InvalidModuleName) << bad;
    EXPECT_THROW(logging::module_level(bad), logging::InvalidModuleName) << bad;
  }
  try {
    logging::set_module_level("pay/ment", Level::kDebug);
  } catch (const logging::InvalidModuleName& e) {
    EXPECT_NE(std::string(e.what()).find("pay/ment"), std::string::npos) << e.what();
  }
  EXPECT_EQ(logging::levels().modules.size(), before.modules.size());
}

TEST_F(RuntimeLevels, ConfigureReplacesRuntimeChanges) {
  StructuredLogger billing("billing");
  logging::set_module_level("billing", Level::kDebug);
  logging::configure(file_options(dir_.path()));
  EXPECT_EQ(billing.level(), Level::kInfo);
  EXPECT_EQ(logging::module_level("billing").configured, std::nullopt);
}

// Threads log through existing loggers while another thread flips their levels: every
// thread sees each change (ThreadSanitizer checks the level reads and the registry).
class RuntimeLevelsConcurrency : public RuntimeLevels {};

TEST_F(RuntimeLevelsConcurrency, ThreadsLoggingWhileLevelsChange) {
  StructuredLogger shared("jobs.worker");
  const std::uint64_t dropped_before = logging::stats().records_dropped;
  std::atomic<bool> stop{false};
  std::atomic<int> saw_debug_enabled{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t)
    threads.emplace_back([&, t] {
      StructuredLogger own("jobs.worker.t" + std::to_string(t));
      bool counted = false;
      while (!stop.load(std::memory_order_relaxed)) {
        shared.debug("shared debug", {{"thread", t}});
        own.info("own info", {{"thread", t}});
        if (!counted && own.is_enabled(Level::kDebug)) {
          counted = true;
          saw_debug_enabled.fetch_add(1);
        }
      }
    });
  for (int round = 0; round < 50; ++round) {
    logging::set_module_level("jobs", round % 2 == 0 ? Level::kDebug : Level::kWarning);
    (void)logging::levels();
  }
  logging::set_module_level("jobs", Level::kDebug);
  EXPECT_TRUE(eventually([&] { return saw_debug_enabled.load() == 3; }));
  logging::set_module_level("jobs", std::nullopt);
  stop = true;
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(shared.level(), Level::kInfo);
  EXPECT_EQ(logging::stats().records_dropped, dropped_before);
}

}  // namespace
