#include "monitoring/push/pushgateway.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "monitoring/error.hpp"
#include "monitoring/metrics/exposition.hpp"
#include "monitoring/metrics/registry.hpp"
#include "support/local_http_peer.hpp"

namespace monitoring::metrics {
namespace {

using monitoring::testing::CannedAnswer;
using monitoring::testing::closed_loopback_port;
using monitoring::testing::http_answer;
using monitoring::testing::LocalHttpPeer;
using monitoring::testing::RecordedRequest;
using ::testing::HasSubstr;
using ::testing::Not;

std::string config_error_of(auto&& make) {
  try {
    make();
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "<no ConfigError>";
}

TEST(PushgatewayUrl, JobOnly) {
  EXPECT_EQ(Pushgateway("http://gw:9091", "batch").url(), "http://gw:9091/metrics/job/batch");
  // Trailing slashes and a path prefix (gateway behind a reverse proxy) are kept sensibly.
  EXPECT_EQ(Pushgateway("http://gw:9091//", "batch").url(), "http://gw:9091/metrics/job/batch");
  EXPECT_EQ(Pushgateway("https://proxy/pushgw/", "batch").url(),
            "https://proxy/pushgw/metrics/job/batch");
}

TEST(PushgatewayUrl, GroupingLabelsInOrder) {
  Pushgateway gateway("http://gw:9091", "nightly_report",
                      {{"instance", "worker-1"}, {"region", "eu"}});
  EXPECT_EQ(gateway.url(), "http://gw:9091/metrics/job/nightly_report/instance/worker-1/region/eu");
}

TEST(PushgatewayUrl, PercentEncodesOrdinaryValues) {
  Pushgateway gateway("http://gw:9091", "job with space",
                      {{"msg", "a?b#c%d\"e\\f"}, {"city", "Москва"}});
  EXPECT_EQ(gateway.url(),
            "http://gw:9091/metrics/job/job%20with%20space/msg/a%3Fb%23c%25d%22e%5Cf"
            "/city/%D0%9C%D0%BE%D1%81%D0%BA%D0%B2%D0%B0");
}

TEST(PushgatewayUrl, SlashOrEmptyValuesUseBase64) {
  // The example from the Pushgateway documentation.
  EXPECT_EQ(Pushgateway::encode_label("path", "/var/tmp"), "/path@base64/L3Zhci90bXA=");
  EXPECT_EQ(Pushgateway::encode_label("instance", ""), "/instance@base64/=");
  // base64url alphabet ('-' and '_' instead of '+' and '/'), with padding.
  EXPECT_EQ(Pushgateway::encode_label("v", "/\xfb\xff"), "/v@base64/L_v_");
  EXPECT_EQ(Pushgateway::encode_label("v", "a/b"), "/v@base64/YS9i");
  EXPECT_EQ(Pushgateway::encode_label("v", "ab/"), "/v@base64/YWIv");
  EXPECT_EQ(Pushgateway::encode_label("v", "/>"), "/v@base64/Lz4=");
  EXPECT_EQ(Pushgateway::encode_label("v", "plain"), "/v/plain");

  Pushgateway gateway("http://gw:9091", "dir/cleaner", {{"path", "/var/tmp"}, {"empty", ""}});
  EXPECT_EQ(gateway.url(),
            "http://gw:9091/metrics/job@base64/ZGlyL2NsZWFuZXI=/path@base64/L3Zhci90bXA="
            "/empty@base64/=");
}

TEST(PushgatewayUrl, CredentialsAreNeverPartOfTheUrl) {
  Pushgateway gateway("http://admin:s3cret@gw:9091", "batch");
  EXPECT_EQ(gateway.url(), "http://gw:9091/metrics/job/batch");
}

TEST(PushgatewayConfig, RejectsBadArguments) {
  EXPECT_THAT(config_error_of([] { Pushgateway("", "job"); }), HasSubstr("URL is empty"));
  EXPECT_THAT(config_error_of([] { Pushgateway("http://gw:9091", ""); }),
              HasSubstr("job name is empty"));
  EXPECT_THAT(config_error_of([] { Pushgateway("gw:9091", "job"); }),
              HasSubstr("'gw:9091' must start with http:// or https://"));
  EXPECT_THAT(config_error_of([] {
                Pushgateway("http://gw:9091", "job", {{"bad-name", "x"}});
              }),
              HasSubstr("bad-name"));
  EXPECT_THAT(config_error_of([] {
                Pushgateway("http://gw:9091", "job", {{"__reserved", "x"}});
              }),
              HasSubstr("__reserved"));
  EXPECT_THAT(config_error_of([] {
                Pushgateway("http://gw:9091", "job", {{"", "x"}});
              }),
              HasSubstr("grouping label"));
  EXPECT_THAT(config_error_of([] {
                Pushgateway("http://gw:9091", "j", {{"job", "other"}});
              }),
              HasSubstr("'job' is not allowed"));
  EXPECT_THAT(config_error_of([] {
                Pushgateway("http://gw:9091", "j", {{"a", "1"}, {"a", "2"}});
              }),
              HasSubstr("'a' is given twice"));
  EXPECT_THAT(config_error_of([] { Pushgateway("http://gw:9091/?x=1", "j"); }),
              HasSubstr("must not contain a query"));
  // The password of a rejected URL is not echoed.
  EXPECT_THAT(config_error_of([] { Pushgateway("ftp://u:hunter2@gw", "j"); }),
              Not(HasSubstr("hunter2")));
}

// The client against a local HTTP peer: methods, headers and body exactly as sent.
TEST(PushgatewayClient, SendsTextExpositionWithMethodPerOperation) {
  LocalHttpPeer peer(
      [](const RecordedRequest&) { return CannedAnswer{http_answer(200, "OK", "")}; });
  Registry registry;
  registry.counter("jobs_done_total", "Jobs done.", {"kind"}).labels("full").inc(3);
  registry.gauge("last_success_unixtime", "Last success.").labels().set(1700000000);

  Pushgateway gateway(peer.url("/"), "batch", {{"instance", "w1"}});
  gateway.push(registry);
  gateway.push_add(registry);
  gateway.remove();

  const std::string expected_body = serialize(registry, ExpositionFormat::kText);
  auto requests = peer.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].method, "PUT");
  EXPECT_EQ(requests[1].method, "POST");
  EXPECT_EQ(requests[2].method, "DELETE");
  for (const auto& request : requests) EXPECT_EQ(request.target, "/metrics/job/batch/instance/w1");
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(requests[i].body, expected_body);
    EXPECT_EQ(requests[i].header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  }
  EXPECT_THAT(requests[0].body, HasSubstr("jobs_done_total{kind=\"full\"} 3"));
  EXPECT_TRUE(requests[2].body.empty());
}

TEST(PushgatewayClient, SendsCredentialsFromOptionsOrUrl) {
  LocalHttpPeer peer(
      [](const RecordedRequest&) { return CannedAnswer{http_answer(202, "Accepted", "")}; });
  Registry registry;
  const std::string with_user = "http://push%40er:p%3Ass@127.0.0.1:" + std::to_string(peer.port());
  Pushgateway from_url(with_user, "a");
  from_url.push(registry);
  PushgatewayOptions options;
  options.timeout = std::chrono::seconds(2);
  options.bearer_token = "tkn";
  Pushgateway from_options(peer.url(), "b", {}, options);
  from_options.push(registry);

  auto requests = peer.requests();
  ASSERT_EQ(requests.size(), 2u);
  // base64("push@er:p:ss")
  EXPECT_EQ(requests[0].header("authorization"), "Basic cHVzaEBlcjpwOnNz");
  EXPECT_EQ(requests[1].header("authorization"), "Bearer tkn");
}

TEST(PushgatewayClient, Non2xxThrowsWithStatusAndExplanation) {
  LocalHttpPeer peer([](const RecordedRequest&) {
    return CannedAnswer{
        http_answer(400, "Bad Request",
                    "pushed metrics are invalid or inconsistent with existing "
                    "metrics: collected metric x has help \"a\" but should have \"b\"\n")};
  });
  Registry registry;
  Pushgateway gateway(peer.url(), "batch");
  try {
    gateway.push(registry);
    FAIL() << "expected an error";
  } catch (const monitoring::Error& error) {
    EXPECT_THAT(error.what(), HasSubstr("PUT " + gateway.url() + " answered HTTP 400"));
    EXPECT_THAT(error.what(), HasSubstr("inconsistent with existing metrics"));
  }
}

TEST(PushgatewayClient, LongErrorBodiesAreCut) {
  LocalHttpPeer peer([](const RecordedRequest&) {
    return CannedAnswer{http_answer(500, "Internal Server Error", std::string(5000, 'e'))};
  });
  Pushgateway gateway(peer.url(), "batch");
  try {
    gateway.remove();
    FAIL() << "expected an error";
  } catch (const monitoring::Error& error) {
    EXPECT_THAT(error.what(), HasSubstr("answered HTTP 500: eeee"));
    EXPECT_LT(std::string(error.what()).size(), 700u);
  }
}

TEST(PushgatewayClient, UnreachableGatewayNamesTheUrlWithoutCredentials) {
  const std::string port = std::to_string(closed_loopback_port());
  Pushgateway gateway("http://user:pw-secret@127.0.0.1:" + port, "batch");
  try {
    gateway.remove();
    FAIL() << "expected an error";
  } catch (const monitoring::Error& error) {
    EXPECT_THAT(error.what(), HasSubstr("http://127.0.0.1:" + port + "/metrics/job/batch"));
    EXPECT_THAT(error.what(), Not(HasSubstr("pw-secret")));
  }
}

}  // namespace
}  // namespace monitoring::metrics
