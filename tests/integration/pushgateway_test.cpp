// The Pushgateway client against a real prometheus-pushgateway on loopback: what we push is
// read back from the gateway's own /metrics, label by label and value by value.

#include "monitoring/push/pushgateway.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "integration/fixture.hpp"
#include "monitoring/error.hpp"
#include "monitoring/metrics/registry.hpp"

namespace monitoring::metrics {
namespace {

using monitoring::testing::Fixture;
using monitoring::testing::http_get;
using ::testing::HasSubstr;
using ::testing::Not;

using Labels = std::map<std::string, std::string>;

struct Sample {
  std::string name;
  Labels labels;
  double value = 0;
};

// Parses the text exposition format (0.0.4) as the Pushgateway writes it, unescaping label
// values, so tests compare the exact strings that were pushed. Comment lines are skipped.
std::vector<Sample> parse_exposition(const std::string& text) {
  std::vector<Sample> samples;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    if (line.empty() || line.front() == '#') continue;

    Sample sample;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    sample.name = std::string(line.substr(0, i));
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        std::size_t eq = line.find('=', i);
        if (eq == std::string_view::npos || eq + 1 >= line.size() || line[eq + 1] != '"')
          throw std::runtime_error("bad label in line: " + std::string(line));
        std::string name(line.substr(i, eq - i));
        std::string value;
        std::size_t j = eq + 2;
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] == '\\' && j + 1 < line.size()) {
            char escaped = line[++j];
            value.push_back(escaped == 'n' ? '\n' : escaped);
          } else {
            value.push_back(line[j]);
          }
        }
        if (j >= line.size())
          throw std::runtime_error("unterminated label value: " + std::string(line));
        sample.labels.emplace(std::move(name), std::move(value));
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      ++i;  // '}'
    }
    while (i < line.size() && line[i] == ' ') ++i;
    std::string_view value_text = line.substr(i);
    value_text = value_text.substr(0, value_text.find(' '));  // drop an optional timestamp
    const std::string number(value_text);
    if (number == "+Inf")
      sample.value = INFINITY;
    else if (number == "-Inf")
      sample.value = -INFINITY;
    else if (number == "NaN")
      sample.value = NAN;
    else
      sample.value = std::strtod(number.c_str(), nullptr);  // stod throws on subnormals
    samples.push_back(std::move(sample));
  }
  return samples;
}

class PushgatewayTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { gateway_ = std::make_unique<Fixture>("pushgateway.sh"); }
  static void TearDownTestSuite() { gateway_.reset(); }

  static std::string base_url() { return gateway_->http_url(); }

  static std::string gateway_metrics() {
    auto response = http_get(gateway_->http_url("/metrics"));
    EXPECT_EQ(response.status, 200);
    return response.body;
  }

  // Samples of metric `name` in the group identified by the job label.
  static std::vector<Sample> samples_of(const std::string& name, const std::string& job) {
    std::vector<Sample> result;
    for (auto& sample : parse_exposition(gateway_metrics()))
      if (sample.name == name && sample.labels.count("job") && sample.labels.at("job") == job)
        result.push_back(std::move(sample));
    return result;
  }

  static std::optional<double> value_of(const std::string& name, const Labels& labels) {
    for (const auto& sample : parse_exposition(gateway_metrics()))
      if (sample.name == name && sample.labels == labels) return sample.value;
    return std::nullopt;
  }

  static std::unique_ptr<Fixture> gateway_;
};

std::unique_ptr<Fixture> PushgatewayTest::gateway_;

TEST_F(PushgatewayTest, PushedValuesAndTrickyLabelsSurviveExactly) {
  const std::string quoted = "say \"hi\"";
  const std::string backslash = R"(C:\path\to\file)";
  const std::string newline = "line one\nline two";
  const std::string utf8 = "Привет, мир ✓ 😀";

  Registry registry;
  auto& counter = registry.counter("pg_items_processed_total", "Items processed by the batch.",
                                   {"kind", "note"});
  counter.labels(quoted, backslash).inc(42);
  counter.labels(newline, utf8).inc(1.5);
  registry.gauge("pg_last_duration_seconds", "Duration of the last run.").labels().set(-3.25);
  auto& histogram = registry.histogram("pg_item_size_bytes", "Item sizes.", {"kind"}, {1, 10, 100});
  for (double v : {0.5, 5.0, 5.0, 50.0, 500.0}) histogram.labels(utf8).observe(v);

  Pushgateway gateway(base_url(), "pg_exact", {{"instance", "worker-1"}});
  gateway.push(registry);

  const Labels group{{"job", "pg_exact"}, {"instance", "worker-1"}};
  auto with = [&](Labels extra) {
    Labels labels = group;
    labels.insert(extra.begin(), extra.end());
    return labels;
  };
  EXPECT_EQ(value_of("pg_items_processed_total", with({{"kind", quoted}, {"note", backslash}})),
            42);
  EXPECT_EQ(value_of("pg_items_processed_total", with({{"kind", newline}, {"note", utf8}})), 1.5);
  EXPECT_EQ(value_of("pg_last_duration_seconds", group), -3.25);
  EXPECT_EQ(value_of("pg_item_size_bytes_bucket", with({{"kind", utf8}, {"le", "1"}})), 1);
  EXPECT_EQ(value_of("pg_item_size_bytes_bucket", with({{"kind", utf8}, {"le", "10"}})), 3);
  EXPECT_EQ(value_of("pg_item_size_bytes_bucket", with({{"kind", utf8}, {"le", "100"}})), 4);
  EXPECT_EQ(value_of("pg_item_size_bytes_bucket", with({{"kind", utf8}, {"le", "+Inf"}})), 5);
  EXPECT_EQ(value_of("pg_item_size_bytes_sum", with({{"kind", utf8}})), 560.5);
  EXPECT_EQ(value_of("pg_item_size_bytes_count", with({{"kind", utf8}})), 5);
  EXPECT_EQ(samples_of("pg_items_processed_total", "pg_exact").size(), 2u);

  // The gateway records the push itself, and keeps our types and help texts.
  auto push_time = value_of("push_time_seconds", group);
  ASSERT_TRUE(push_time.has_value());
  EXPECT_GT(*push_time, 1.6e9);
  const std::string text = gateway_metrics();
  EXPECT_THAT(text, HasSubstr("# TYPE pg_items_processed_total counter\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE pg_last_duration_seconds gauge\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE pg_item_size_bytes histogram\n"));
  EXPECT_THAT(text, HasSubstr("# HELP pg_items_processed_total Items processed by the batch.\n"));
}

TEST_F(PushgatewayTest, PushAddKeepsOtherMetricsAndPushReplacesTheGroup) {
  Pushgateway gateway(base_url(), "pg_semantics");
  const Labels group{{"job", "pg_semantics"}, {"instance", ""}};

  Registry first;
  first.gauge("pg_sem_a", "a").labels().set(1);
  first.gauge("pg_sem_b", "b").labels().set(2);
  gateway.push(first);
  EXPECT_EQ(value_of("pg_sem_a", group), 1);
  EXPECT_EQ(value_of("pg_sem_b", group), 2);

  Registry second;
  second.gauge("pg_sem_a", "a").labels().set(10);
  gateway.push_add(second);  // POST: only pg_sem_a is replaced
  EXPECT_EQ(value_of("pg_sem_a", group), 10);
  EXPECT_EQ(value_of("pg_sem_b", group), 2);

  Registry third;
  third.gauge("pg_sem_c", "c").labels().set(3);
  gateway.push(third);  // PUT: the whole group is replaced
  EXPECT_EQ(value_of("pg_sem_c", group), 3);
  EXPECT_FALSE(value_of("pg_sem_a", group).has_value());
  EXPECT_FALSE(value_of("pg_sem_b", group).has_value());
}

TEST_F(PushgatewayTest, SlashesInJobAndGroupingValuesUseBase64) {
  const std::string job = "dir/cleaner";
  const std::string path = "/var/tmp/ünïcode dir";
  Pushgateway gateway(base_url(), job, {{"path", path}});
  EXPECT_THAT(gateway.url(), HasSubstr("/metrics/job@base64/"));
  EXPECT_THAT(gateway.url(), HasSubstr("/path@base64/"));

  Registry registry;
  registry.counter("pg_files_removed_total", "Files removed.").labels().inc(7);
  gateway.push(registry);
  EXPECT_EQ(value_of("pg_files_removed_total", {{"job", job}, {"path", path}, {"instance", ""}}),
            7);

  gateway.remove();
  EXPECT_TRUE(samples_of("pg_files_removed_total", job).empty());
}

TEST_F(PushgatewayTest, RemoveDeletesOnlyThatGroup) {
  Registry registry;
  registry.gauge("pg_rm_value", "v").labels().set(5);
  Pushgateway a(base_url(), "pg_rm", {{"instance", "a"}});
  Pushgateway b(base_url(), "pg_rm", {{"instance", "b"}});
  a.push(registry);
  b.push(registry);
  EXPECT_EQ(samples_of("pg_rm_value", "pg_rm").size(), 2u);

  a.remove();
  auto left = samples_of("pg_rm_value", "pg_rm");
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].labels.at("instance"), "b");
  EXPECT_FALSE(value_of("push_time_seconds", {{"job", "pg_rm"}, {"instance", "a"}}).has_value());
}

TEST_F(PushgatewayTest, ConflictingTypeIsRejectedWithTheStatus) {
  Registry as_counter;
  as_counter.counter("pg_conflict_total", "conflict").labels().inc();
  Pushgateway(base_url(), "pg_conflict_1").push(as_counter);

  Registry as_gauge;
  as_gauge.gauge("pg_conflict_total", "conflict").labels().set(1);
  Pushgateway other(base_url(), "pg_conflict_2");
  try {
    other.push(as_gauge);
    FAIL() << "the gateway accepted an inconsistent type";
  } catch (const monitoring::Error& error) {
    EXPECT_THAT(error.what(), HasSubstr("PUT " + other.url() + " answered HTTP 400"));
    EXPECT_THAT(error.what(), HasSubstr("pg_conflict_total"));  // the gateway's explanation
  }
  EXPECT_TRUE(samples_of("pg_conflict_total", "pg_conflict_2").empty());
  EXPECT_EQ(samples_of("pg_conflict_total", "pg_conflict_1").size(), 1u);
}

TEST_F(PushgatewayTest, BasicAuthCredentialsInTheUrlStayOutOfErrors) {
  // The gateway runs without auth and ignores the header; what matters is that the push works
  // and that the group URL and messages never carry the password.
  const std::string url = "http://ops:pa55word@" + base_url().substr(std::string("http://").size());
  Pushgateway gateway(url, "pg_auth");
  EXPECT_THAT(gateway.url(), Not(HasSubstr("pa55word")));
  Registry registry;
  registry.gauge("pg_auth_value", "v").labels().set(1);
  gateway.push(registry);
  EXPECT_EQ(samples_of("pg_auth_value", "pg_auth").size(), 1u);
}

TEST(PushgatewayUnreachable, ClosedPortIsAnErrorNamingTheUrl) {
  // Start and stop a gateway: its port is then known to be closed.
  std::string base;
  {
    Fixture gateway("pushgateway.sh");
    base = gateway.http_url();
  }
  Pushgateway client("http://user:secret-pw@" + base.substr(7), "pg_unreachable");
  Registry registry;
  try {
    client.push(registry);
    FAIL() << "expected an error";
  } catch (const monitoring::Error& error) {
    EXPECT_THAT(error.what(), HasSubstr(base + "/metrics/job/pg_unreachable"));
    EXPECT_THAT(error.what(), HasSubstr("[Connection refused]"));
    EXPECT_THAT(error.what(), Not(HasSubstr("secret-pw")));
  }
}

}  // namespace
}  // namespace monitoring::metrics
