// Content negotiation for /metrics (Accept, Accept-Encoding) and gzip output, decoded by an
// independent implementation (zlib's inflate).

#include <gtest/gtest.h>
#include <zlib.h>

#include <random>
#include <string>

#include "monitoring/error.hpp"
#include "monitoring/metrics/exposition.hpp"
#include "monitoring/metrics/registry.hpp"

namespace monitoring::metrics {
namespace {

TEST(NegotiationTest, PrometheusDefaultAcceptHeaderGetsOpenMetrics) {
  // What Prometheus 2.x sends by default.
  EXPECT_EQ(
      negotiate_format("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                       "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
      ExpositionFormat::kOpenMetrics);
  // Prometheus 3.x, with its escaping parameter and a text/plain version we do not speak.
  EXPECT_EQ(
      negotiate_format("application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
                       "application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;"
                       "escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"),
      ExpositionFormat::kOpenMetrics);
}

TEST(NegotiationTest, PlainTextAndWildcards) {
  EXPECT_EQ(negotiate_format("text/plain"), ExpositionFormat::kText);
  EXPECT_EQ(negotiate_format("text/plain;version=0.0.4"), ExpositionFormat::kText);
  EXPECT_EQ(negotiate_format("*/*"), ExpositionFormat::kText);
  EXPECT_EQ(negotiate_format("text/*"), ExpositionFormat::kText);
  EXPECT_EQ(negotiate_format("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
            ExpositionFormat::kText);  // a browser
}

TEST(NegotiationTest, OpenMetricsWhenAskedFor) {
  EXPECT_EQ(negotiate_format("application/openmetrics-text"), ExpositionFormat::kOpenMetrics);
  EXPECT_EQ(negotiate_format("application/openmetrics-text; version=1.0.0; charset=utf-8"),
            ExpositionFormat::kOpenMetrics);
  EXPECT_EQ(negotiate_format("Application/OpenMetrics-Text;Version=\"1.0.0\""),
            ExpositionFormat::kOpenMetrics);
  EXPECT_EQ(negotiate_format("text/plain;q=0.5, application/openmetrics-text;q=0.9"),
            ExpositionFormat::kOpenMetrics);
}

TEST(NegotiationTest, QualityValuesDecide) {
  EXPECT_EQ(negotiate_format("application/openmetrics-text;q=0"), ExpositionFormat::kText);
  EXPECT_EQ(
      negotiate_format("application/openmetrics-text;version=1.0.0;q=0,text/plain;version=0.0.4"),
      ExpositionFormat::kText);
  EXPECT_EQ(negotiate_format("application/openmetrics-text;q=0.8,text/plain;q=0.9"),
            ExpositionFormat::kText);
  // A tie goes to the earlier entry.
  EXPECT_EQ(negotiate_format("application/openmetrics-text;q=0.5,text/plain;q=0.5"),
            ExpositionFormat::kOpenMetrics);
  EXPECT_EQ(negotiate_format("text/plain;q=0.5,application/openmetrics-text;q=0.5"),
            ExpositionFormat::kText);
}

TEST(NegotiationTest, UnsupportedVersionsAreSkipped) {
  EXPECT_EQ(negotiate_format("application/openmetrics-text;version=2.0.0"),
            ExpositionFormat::kText);
  EXPECT_EQ(negotiate_format("application/openmetrics-text;version=2.0.0,application/"
                             "openmetrics-text;version=1.0.0;q=0.2"),
            ExpositionFormat::kOpenMetrics);
}

TEST(NegotiationTest, EmptyOrGarbageFallsBackToText) {
  EXPECT_EQ(negotiate_format(""), ExpositionFormat::kText);
  EXPECT_EQ(negotiate_format("   "), ExpositionFormat::kText);
  EXPECT_EQ(negotiate_format(",,,;;;==="), ExpositionFormat::kText);
  EXPECT_EQ(negotiate_format("application/json"), ExpositionFormat::kText);
  EXPECT_EQ(negotiate_format("\xFF\xFE garbage;q=abc"), ExpositionFormat::kText);
  EXPECT_EQ(negotiate_format(std::string(100000, ',')), ExpositionFormat::kText);
}

// RFC 9110 section 12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ). An
// element whose q is anything else is ignored: never preferred, never a refusal either.
TEST(NegotiationTest, InvalidQualityValuesIgnoreTheElement) {
  for (const std::string q : {"-1", "nan", "NaN", "1.5", "inf", "+1", "0.0001", "1.001", ".5",
                              "1e0", "0x1", "", " ", "2", "01", "0.5x", "1.0000"}) {
    const std::string om = "application/openmetrics-text;q=" + q;
    EXPECT_EQ(negotiate_format(om), ExpositionFormat::kText) << q;
    EXPECT_EQ(negotiate_format(om + ",text/plain;q=0.5"), ExpositionFormat::kText) << q;
    // Ignored, not taken as a refusal: a valid OpenMetrics element still wins.
    EXPECT_EQ(negotiate_format(om + ",application/openmetrics-text;q=0.9,text/plain;q=0.5"),
              ExpositionFormat::kOpenMetrics)
        << q;
    EXPECT_FALSE(accepts_gzip("gzip;q=" + q)) << q;
    EXPECT_FALSE(accepts_gzip("gzip;q=" + q + ", *;q=0")) << q;
    EXPECT_TRUE(accepts_gzip("gzip;q=" + q + ", *;q=0.5")) << q;  // the wildcard decides
    EXPECT_FALSE(accepts_gzip("*;q=" + q)) << q;
  }
  // Every form the grammar allows.
  for (const std::string q : {"0.001", "0.5", "0.25", "0.999", "1", "1.", "1.0", "1.00", "1.000"}) {
    EXPECT_EQ(negotiate_format("application/openmetrics-text;q=" + q),
              ExpositionFormat::kOpenMetrics)
        << q;
    EXPECT_TRUE(accepts_gzip("gzip;q=" + q)) << q;
  }
  for (const std::string q : {"0", "0.", "0.0", "0.000"}) {  // valid refusals
    EXPECT_EQ(negotiate_format("application/openmetrics-text;q=" + q), ExpositionFormat::kText)
        << q;
    EXPECT_FALSE(accepts_gzip("gzip;q=" + q + ", *")) << q;
  }
  EXPECT_EQ(negotiate_format("application/openmetrics-text;q=0.001,text/plain;q=0.0"),
            ExpositionFormat::kOpenMetrics);
  EXPECT_EQ(negotiate_format("text/plain;q=0.999,application/openmetrics-text;q=1.000"),
            ExpositionFormat::kOpenMetrics);
  EXPECT_EQ(negotiate_format("application/openmetrics-text;q=0.998,text/plain;q=0.999"),
            ExpositionFormat::kText);
}

TEST(NegotiationTest, ContentTypes) {
  EXPECT_EQ(content_type(ExpositionFormat::kText), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(content_type(ExpositionFormat::kOpenMetrics),
            "application/openmetrics-text; version=1.0.0; charset=utf-8");
}

TEST(NegotiationTest, AcceptsGzip) {
  EXPECT_TRUE(accepts_gzip("gzip"));
  EXPECT_TRUE(accepts_gzip("x-gzip"));
  EXPECT_TRUE(accepts_gzip("GZip"));
  EXPECT_TRUE(accepts_gzip("gzip, deflate, br"));  // curl --compressed, browsers
  EXPECT_TRUE(accepts_gzip("deflate;q=1.0, gzip;q=0.5"));
  EXPECT_TRUE(accepts_gzip("*"));
  EXPECT_TRUE(accepts_gzip("br, *;q=0.1"));
  EXPECT_FALSE(accepts_gzip("gzip;q=0"));
  EXPECT_FALSE(accepts_gzip("gzip;q=0.0, *"));  // an explicit refusal beats the wildcard
  EXPECT_FALSE(accepts_gzip("*;q=0"));
  EXPECT_FALSE(accepts_gzip("identity"));
  EXPECT_FALSE(accepts_gzip("deflate, br"));
  EXPECT_FALSE(accepts_gzip(""));
  EXPECT_FALSE(accepts_gzip("gzipx"));
}

// Decompresses a gzip stream with zlib; fails the test on any error or trailing garbage.
std::string gunzip(const std::string& compressed) {
  z_stream stream{};
  EXPECT_EQ(inflateInit2(&stream, 16 + MAX_WBITS), Z_OK);  // 16: gzip wrapper only
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  stream.avail_in = static_cast<uInt>(compressed.size());
  std::string out;
  char buffer[16384];
  int rc = Z_OK;
  while (rc == Z_OK) {
    stream.next_out = reinterpret_cast<Bytef*>(buffer);
    stream.avail_out = sizeof buffer;
    rc = inflate(&stream, Z_NO_FLUSH);
    out.append(buffer, sizeof buffer - stream.avail_out);
  }
  EXPECT_EQ(rc, Z_STREAM_END) << (stream.msg ? stream.msg : "");
  EXPECT_EQ(stream.avail_in, 0u) << "bytes after the gzip member";
  inflateEnd(&stream);
  return out;
}

TEST(GzipTest, RoundTripThroughZlib) {
  Registry registry;
  auto& family = registry.counter("gzip_total", "Gzip.", {"k"});
  for (int i = 0; i < 2000; ++i) family.labels("series-" + std::to_string(i)).inc(i);
  const std::string text = serialize(registry);
  const std::string compressed = gzip_compress(text);
  ASSERT_GE(compressed.size(), 18u);
  EXPECT_EQ(static_cast<unsigned char>(compressed[0]), 0x1f);  // gzip magic
  EXPECT_EQ(static_cast<unsigned char>(compressed[1]), 0x8b);
  EXPECT_LT(compressed.size(), text.size() / 4);  // repetitive text must actually shrink
  EXPECT_EQ(gunzip(compressed), text);
}

TEST(GzipTest, EveryLevelAndEdgeInputsRoundTrip) {
  std::mt19937 rng(7);
  std::string random_bytes(100000, '\0');
  for (char& c : random_bytes) c = static_cast<char>(rng());
  for (const std::string& input :
       {std::string(), std::string("x"), std::string(1 << 20, 'a'), random_bytes}) {
    for (int level : {0, 1, 4, 6, 9, 12}) {
      EXPECT_EQ(gunzip(gzip_compress(input, level)), input)
          << "size " << input.size() << " level " << level;
    }
  }
}

TEST(GzipTest, InvalidLevelIsAnErrorNamingIt) {
  try {
    gzip_compress("x", 13);
    FAIL();
  } catch (const monitoring::Error& e) {
    EXPECT_NE(std::string(e.what()).find("13"), std::string::npos) << e.what();
  }
  EXPECT_THROW(gzip_compress("x", -1), monitoring::Error);
}

}  // namespace
}  // namespace monitoring::metrics
