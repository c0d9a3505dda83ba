// The exposition is accepted by real consumers: `promtool check metrics` for the text format
// (no errors and no lint warnings), and a structural OpenMetrics check (promtool has none).

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "metrics_test_util.hpp"
#include "monitoring/catalog/catalog.hpp"
#include "monitoring/context.hpp"
#include "monitoring/metrics/exposition.hpp"
#include "monitoring/metrics/process_collector.hpp"
#include "monitoring/metrics/registry.hpp"

namespace monitoring::metrics {
namespace {

using test::lines_of;
using test::parse_number;

constexpr const char* kPromtool = "/usr/bin/promtool";

// Label values that exercise every escape and the UTF-8 repair.
const std::vector<std::string>& tricky_values() {
  static const std::vector<std::string> values = {"plain",
                                                  "with \"quotes\"",
                                                  "back\\slash",
                                                  "new\nline",
                                                  "trailing\\",
                                                  "\\\"\n",
                                                  "Привет 日本 \xF0\x9F\x8E\x89",
                                                  "bad \xFF byte",
                                                  "truncated \xE2\x82",
                                                  "",
                                                  " spaces ",
                                                  "{braces}=,",
                                                  "#hash"};
  return values;
}

// A registry with every metric type, labeled and unlabeled, tricky label values, and values
// (NaN, infinities) only a collector can produce.
void fill_everything(Registry& registry) {
  auto& counter =
      registry.counter("everything_requests_total",
                       "Requests, with \"quotes\" and \\ in help.\nSecond line.", {"path", "code"});
  registry.counter("everything_unlabeled_total", "Unlabeled counter.").labels().inc(3);
  auto& gauge = registry.gauge("everything_level", "A gauge.", {"path"});
  registry.gauge("everything_unlabeled_level", "Unlabeled gauge.").labels().set(-1.5);
  auto& histogram = registry.histogram("everything_duration_seconds", "A histogram.", {"path"});
  registry
      .histogram("everything_size_bytes", "Unlabeled histogram.", {}, exponential_buckets(1, 4, 6))
      .labels()
      .observe(100);
  registry.counter("everything_idle_total", "A family without series.", {"k"});
  double v = 0.001;
  for (const std::string& value : tricky_values()) {
    counter.labels(value, "200").inc(v * 1000);
    gauge.labels(value).set(-v);
    histogram.labels(value).observe(v);
    // An exemplar on the bucket hit, with a trace id that needs escaping and a span id.
    auto trace =
        context::with_trace("4bf92f3577b34da6a3ce929d0e0e4736" + value, "00f067aa0ba902b7");
    histogram.labels(value).observe(v * 2);
    v *= 3;
  }

  class Special final : public Collector {
   public:
    void collect(MetricWriter& writer) const override {
      const std::vector<std::string> names = {"kind"};
      writer.family("everything_special", "Special gauge values.", MetricType::kGauge);
      for (const auto& [kind, value] :
           std::vector<std::pair<std::string, double>>{{"nan", std::nan("")},
                                                       {"inf", INFINITY},
                                                       {"neg_inf", -INFINITY},
                                                       {"tiny", 5e-324}}) {
        const std::vector<std::string> values = {kind};
        writer.sample({}, names, values, value);
      }
    }
  };
  registry.add_collector(std::make_shared<Special>());
  register_process_collector(registry);

  // The types peers have: info, state set, scrape-time gauges (one failing), in progress.
  registry.info("everything_build", "Build facts.")
      .set({{"version", "1.2.0"}, {"compiler", "GNU \"12\"\n"}, {"odd", "bad \xFF byte"}});
  registry.state_set("everything_state", "A state set.", {"starting", "running", "Привет"})
      .set("running");
  auto& queue = registry.callback_gauge("everything_queue_depth", "Read at scrape time.", {"q"});
  queue.bind({"a"}, [] { return 7.5; });
  queue.bind({"throws"}, []() -> double { throw std::runtime_error("gone"); });
  queue.bind({"nan"}, [] { return std::nan(""); });
  registry.callback_gauge("everything_pool_size", "Unlabeled, read at scrape time.").bind({}, [] {
    return 3.0;
  });
  Gauge& in_progress = registry.gauge("everything_in_progress", "In progress.").labels();
  auto first = in_progress.track_inprogress();
  auto second = in_progress.track_inprogress();
  second.release();
}

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

CommandResult run_promtool_check(const std::string& exposition) {
  const std::filesystem::path path = std::filesystem::temp_directory_path() /
                                     ("metrics_promtool_" + std::to_string(::getpid()) + ".prom");
  {
    std::ofstream out(path, std::ios::binary);
    out << exposition;
  }
  const std::string command =
      std::string(kPromtool) + " check metrics < '" + path.string() + "' 2>&1";
  CommandResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::filesystem::remove(path);
  return result;
}

void expect_promtool_clean(const std::string& exposition) {
  if (::access(kPromtool, X_OK) != 0) GTEST_SKIP() << kPromtool << " is not installed";
  const CommandResult result = run_promtool_check(exposition);
  EXPECT_EQ(result.exit_code, 0) << result.output << "\n--- exposition ---\n" << exposition;
  EXPECT_EQ(result.output, "") << "\n--- exposition ---\n" << exposition;
}

TEST(PromtoolTest, PromtoolSelfCheckDetectsProblems) {
  // Guards the check below: if promtool stopped reporting problems, a clean result would mean
  // nothing.
  if (::access(kPromtool, X_OK) != 0) GTEST_SKIP() << kPromtool << " is not installed";
  const CommandResult no_help = run_promtool_check("# TYPE x_total counter\nx_total 1\n");
  EXPECT_NE(no_help.exit_code, 0);
  EXPECT_NE(no_help.output.find("no help text"), std::string::npos) << no_help.output;
  const CommandResult broken =
      run_promtool_check("# HELP y Y.\n# TYPE y gauge\ny{a=\"unterminated} 1\n");
  EXPECT_NE(broken.exit_code, 0) << broken.output;
}

TEST(PromtoolTest, TextExpositionOfEveryTypePassesPromtoolCheck) {
  Registry registry;
  fill_everything(registry);
  expect_promtool_clean(serialize(registry, ExpositionFormat::kText));
}

TEST(PromtoolTest, DefaultRegistryWithCatalogPassesPromtoolCheck) {
  register_catalog();
  PrometheusMetrics::increment_http_requests("GET", "/api/\"x\"", 200);
  PrometheusMetrics::observe_payment_processing_duration("yookassa", 1.5);
  CustomMetrics::set_conversion_rate("daily", 15.5);
  // The library's own refused-series counter lives there too.
  Registry scratch;
  auto& limited = scratch.counter("promtool_limited_total", "x", {"k"});
  limited.set_series_limit(1);
  limited.labels("a").inc();
  limited.labels("b").inc();
  const std::string text = serialize(Registry::default_registry());
  ASSERT_NE(text.find("monitoring_metric_series_refused_total{metric=\"promtool_limited_total\"}"),
            std::string::npos);
  expect_promtool_clean(text);
}

// ---- OpenMetrics structure --------------------------------------------------------------

struct ParsedExemplar {
  std::vector<std::pair<std::string, std::string>> labels;  // unescaped values
  double value = 0;
};

struct Sample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // unescaped values
  double value = 0;
  std::optional<ParsedExemplar> exemplar;
};

bool valid_name(std::string_view name, bool metric) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                    (metric && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// Parses `{l="v",...}` at line[i], leaving i behind the '}'; appends the unescaped pairs.
bool parse_labels(std::string_view line, std::size_t& i,
                  std::vector<std::pair<std::string, std::string>>& labels, std::string& error) {
  auto fail = [&](std::string message) {
    error = std::move(message);
    return false;
  };
  if (i >= line.size() || line[i] != '{') return fail("label set without '{'");
  ++i;
  std::set<std::string> seen;
  while (i < line.size() && line[i] != '}') {
    const std::size_t eq = line.find('=', i);
    if (eq == std::string_view::npos) return fail("label without '='");
    std::string name(line.substr(i, eq - i));
    if (!valid_name(name, false)) return fail("bad label name '" + name + "'");
    if (!seen.insert(name).second) return fail("duplicate label '" + name + "'");
    i = eq + 1;
    if (i >= line.size() || line[i] != '"') return fail("label value not quoted");
    ++i;
    std::string value;
    for (;;) {
      if (i >= line.size()) return fail("unterminated label value");
      const char c = line[i++];
      if (c == '"') break;
      if (c == '\\') {
        if (i >= line.size()) return fail("dangling backslash");
        const char e = line[i++];
        if (e == 'n')
          value += '\n';
        else if (e == '\\' || e == '"')
          value += e;
        else
          return fail(std::string("bad escape \\") + e);
      } else {
        value += c;
      }
    }
    labels.emplace_back(std::move(name), std::move(value));
    if (i < line.size() && line[i] == ',') {
      ++i;
      if (i < line.size() && line[i] == '}') return fail("trailing comma");
    }
  }
  if (i >= line.size()) return fail("unterminated label set");
  ++i;  // '}'
  return true;
}

std::size_t code_points(std::string_view utf8) {
  std::size_t count = 0;
  for (char c : utf8) count += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return count;
}

// Parses `name{l="v",...} value [# {l="v",...} value [timestamp]]`: the OpenMetrics ABNF
// without sample timestamps (the library writes none).
std::optional<Sample> parse_sample(std::string_view line, std::string& error) {
  auto fail = [&](std::string message) -> std::optional<Sample> {
    error = std::move(message);
    return std::nullopt;
  };
  Sample sample;
  std::size_t i = 0;
  while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
  sample.name = std::string(line.substr(0, i));
  if (!valid_name(sample.name, true)) return fail("bad metric name");
  if (i < line.size() && line[i] == '{' && !parse_labels(line, i, sample.labels, error))
    return std::nullopt;
  if (i >= line.size() || line[i] != ' ') return fail("no space before value");
  std::string_view rest = line.substr(i + 1);
  const std::size_t exemplar_at = rest.find(" # ");
  const auto value = parse_number(rest.substr(0, exemplar_at));
  if (!value) return fail("bad value '" + std::string(rest.substr(0, exemplar_at)) + "'");
  sample.value = *value;
  if (exemplar_at == std::string_view::npos) return sample;

  // exemplar = SP HASH SP labels SP number [SP timestamp]
  std::string_view exemplar = rest.substr(exemplar_at + 3);
  std::size_t j = 0;
  ParsedExemplar parsed;
  if (!parse_labels(exemplar, j, parsed.labels, error)) return fail("exemplar: " + error);
  std::size_t length = 0;
  for (const auto& [name, label_value] : parsed.labels)
    length += code_points(name) + code_points(label_value);
  if (length > 128) return fail("exemplar labels longer than 128 code points");
  if (j >= exemplar.size() || exemplar[j] != ' ') return fail("exemplar: no space before value");
  exemplar.remove_prefix(j + 1);
  const std::size_t space = exemplar.find(' ');
  const auto exemplar_value = parse_number(exemplar.substr(0, space));
  if (!exemplar_value) return fail("exemplar: bad value");
  parsed.value = *exemplar_value;
  if (space != std::string_view::npos) {
    const auto timestamp = parse_number(exemplar.substr(space + 1));
    if (!timestamp || !std::isfinite(*timestamp)) return fail("exemplar: bad timestamp");
  }
  sample.exemplar = std::move(parsed);
  return sample;
}

// Checks an OpenMetrics exposition: "# EOF" last, metadata before samples, one block per
// family, sample names that fit the family type, histogram buckets consistent with _count.
// Returns the problems found (empty when valid) and the parsed samples.
std::vector<std::string> check_openmetrics(std::string_view text,
                                           std::vector<Sample>* samples_out = nullptr) {
  std::vector<std::string> problems;
  if (!text.ends_with("# EOF\n")) problems.push_back("does not end with '# EOF\\n'");
  const auto lines = lines_of(text);
  std::set<std::string> finished_families;
  std::string family;
  std::string type;
  bool family_has_samples = false;
  // Histogram series key (labels without le) -> {+Inf bucket, _count, last bucket seen}.
  std::map<std::string, std::vector<double>> inf_bucket, count;
  std::map<std::string, double> last_le, last_bucket;
  for (std::size_t n = 0; n < lines.size(); ++n) {
    const std::string_view line = lines[n];
    const std::string where = "line " + std::to_string(n + 1) + " '" + std::string(line) + "': ";
    if (line.empty()) {
      problems.push_back(where + "empty line");
      continue;
    }
    if (line == "# EOF") {
      if (n + 1 != lines.size()) problems.push_back(where + "EOF is not the last line");
      continue;
    }
    if (line.starts_with("#")) {
      const bool help = line.starts_with("# HELP "), type_line = line.starts_with("# TYPE ");
      if (!help && !type_line) {
        problems.push_back(where + "unknown comment");
        continue;
      }
      std::string_view rest = line.substr(7);
      const std::size_t space = rest.find(' ');
      const std::string name(rest.substr(0, space));
      if (space == std::string_view::npos) problems.push_back(where + "metadata without text");
      if (name != family) {
        if (!family.empty()) finished_families.insert(family);
        if (finished_families.count(name))
          problems.push_back(where + "family '" + name + "' appears twice");
        family = name;
        type.clear();
        family_has_samples = false;
      } else if (family_has_samples) {
        problems.push_back(where + "metadata after samples");
      }
      if (type_line) {
        if (!type.empty()) problems.push_back(where + "second TYPE");
        type = std::string(rest.substr(space + 1));
        static const std::set<std::string> kTypes = {"counter",        "gauge",   "histogram",
                                                     "gaugehistogram", "summary", "info",
                                                     "stateset",       "unknown"};
        if (!kTypes.count(type)) problems.push_back(where + "unknown type");
      } else {
        // OpenMetrics HELP escapes \, " and newline; nothing else may follow a backslash.
        const std::string_view text_part = rest.substr(space + 1);
        for (std::size_t k = 0; k < text_part.size(); ++k) {
          if (text_part[k] == '"') problems.push_back(where + "unescaped quote in HELP");
          if (text_part[k] == '\\') {
            if (k + 1 >= text_part.size() ||
                std::string_view("\\\"n").find(text_part[k + 1]) == std::string_view::npos)
              problems.push_back(where + "bad escape in HELP");
            ++k;
          }
        }
      }
      continue;
    }
    std::string error;
    auto sample = parse_sample(line, error);
    if (!sample) {
      problems.push_back(where + error);
      continue;
    }
    if (family.empty() || type.empty()) {
      problems.push_back(where + "sample before its TYPE line");
      continue;
    }
    family_has_samples = true;
    if (!sample->name.starts_with(family)) {
      problems.push_back(where + "sample outside its family '" + family + "'");
      continue;
    }
    const std::string suffix = sample->name.substr(family.size());
    std::set<std::string> allowed = {""};
    if (type == "counter") allowed = {"_total", "_created"};
    if (type == "info") allowed = {"_info"};
    if ((type == "info" && sample->value != 1) ||
        (type == "stateset" && sample->value != 0 && sample->value != 1))
      problems.push_back(where + type + " value must be " + (type == "info" ? "1" : "0 or 1"));
    if (type == "stateset" &&
        std::none_of(sample->labels.begin(), sample->labels.end(),
                     [&](const auto& label) { return label.first == family; }))
      problems.push_back(where + "stateset sample without the label '" + family + "'");
    if (type == "histogram") allowed = {"_bucket", "_sum", "_count", "_created"};
    if (!allowed.count(suffix))
      problems.push_back(where + "suffix '" + suffix + "' not allowed for " + type);
    if (type == "counter" && suffix == "_total" && !(sample->value >= 0))
      problems.push_back(where + "counter value must be >= 0");
    if (sample->exemplar && !(type == "counter" && suffix == "_total") &&
        !(type == "histogram" && suffix == "_bucket"))
      problems.push_back(where + "exemplar on a sample that cannot have one");
    if (type == "histogram") {
      std::string key;
      std::optional<double> le;
      for (const auto& [name, value] : sample->labels) {
        if (name == "le")
          le = parse_number(value);
        else
          key += name + "=" + value + ",";
      }
      if (suffix == "_bucket") {
        if (!le) {
          problems.push_back(where + "bucket without a valid le");
          continue;
        }
        if (last_le.count(key) && !(*le > last_le[key]))
          problems.push_back(where + "le not increasing");
        if (last_bucket.count(key) && sample->value < last_bucket[key])
          problems.push_back(where + "buckets not cumulative");
        if (sample->exemplar && !(sample->exemplar->value <= *le))
          problems.push_back(where + "exemplar value above the bucket's bound");
        last_le[key] = *le;
        last_bucket[key] = sample->value;
        if (std::isinf(*le)) inf_bucket[family + key].push_back(sample->value);
      } else if (le) {
        problems.push_back(where + "le on a non-bucket sample");
      }
      if (suffix == "_count") count[family + key].push_back(sample->value);
    }
    if (samples_out) samples_out->push_back(std::move(*sample));
  }
  for (const auto& [key, counts] : count) {
    if (inf_bucket[key] != counts)
      problems.push_back("histogram " + key + ": _count differs from the +Inf bucket");
  }
  for (const auto& [key, buckets] : inf_bucket) {
    if (!count.count(key)) problems.push_back("histogram " + key + ": no _count");
  }
  return problems;
}

TEST(OpenMetricsStructureTest, CheckerRejectsBrokenExpositions) {
  // The checker must be able to fail, or the test below proves nothing.
  EXPECT_FALSE(check_openmetrics("# TYPE a gauge\na 1\n").empty());                 // no EOF
  EXPECT_FALSE(check_openmetrics("# TYPE a gauge\na 1\n# EOF\n\n").empty());        // after EOF
  EXPECT_FALSE(check_openmetrics("a 1\n# TYPE a gauge\n# EOF\n").empty());          // sample first
  EXPECT_FALSE(check_openmetrics("# TYPE a counter\na 1\n# EOF\n").empty());        // no _total
  EXPECT_FALSE(check_openmetrics("# TYPE a info\na{x=\"1\"} 1\n# EOF\n").empty());  // no _info
  EXPECT_FALSE(check_openmetrics("# TYPE a info\na_info{x=\"1\"} 2\n# EOF\n").empty());
  EXPECT_FALSE(check_openmetrics("# TYPE a stateset\na{b=\"x\"} 1\n# EOF\n").empty());
  EXPECT_FALSE(check_openmetrics("# TYPE a stateset\na{a=\"x\"} 0.5\n# EOF\n").empty());
  EXPECT_FALSE(
      check_openmetrics("# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\n# TYPE a gauge\n# EOF\n")
          .empty());
  EXPECT_FALSE(
      check_openmetrics("# TYPE a gauge\na{x=\"1\\t\"} 1\n# EOF\n").empty());  // bad escape
  EXPECT_FALSE(
      check_openmetrics("# HELP a say \"x\"\n# TYPE a gauge\n# EOF\n").empty());  // quote in HELP
  EXPECT_FALSE(
      check_openmetrics("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 3\nh_sum 1\n# EOF\n")
          .empty());
  EXPECT_TRUE(check_openmetrics("# HELP a A \\\"q\\\".\n# TYPE a gauge\na{x=\"\\n\"} NaN\n# EOF\n")
                  .empty());
  // Exemplars: only on buckets and counter totals, within the bucket, labels <= 128 code points.
  const std::string bucket = "# TYPE h histogram\nh_bucket{le=\"1.0\"} 1";
  const std::string tail = "\nh_bucket{le=\"+Inf\"} 1\nh_sum 0.5\nh_count 1\n# EOF\n";
  EXPECT_TRUE(check_openmetrics(bucket + " # {trace_id=\"ab\"} 0.5 1700000000.123" + tail).empty());
  EXPECT_FALSE(check_openmetrics(bucket + " # {trace_id=\"ab\"} 1.5 1" + tail).empty());
  EXPECT_FALSE(
      check_openmetrics(bucket + " # {trace_id=\"" + std::string(121, 'a') + "\"} 0.5" + tail)
          .empty());
  EXPECT_FALSE(check_openmetrics(bucket + " # trace_id=\"ab\" 0.5" + tail).empty());
  EXPECT_FALSE(check_openmetrics("# TYPE g gauge\ng 1 # {trace_id=\"ab\"} 1\n# EOF\n").empty());
}

TEST(OpenMetricsStructureTest, EveryTypeAndTrickyLabelsFormAValidExposition) {
  Registry registry;
  fill_everything(registry);
  const std::string text = serialize(registry, ExpositionFormat::kOpenMetrics);
  std::vector<Sample> samples;
  const auto problems = check_openmetrics(text, &samples);
  for (const auto& problem : problems) ADD_FAILURE() << problem;
  if (!problems.empty()) std::cerr << text;

  // Every valid label value comes back unchanged after unescaping.
  std::set<std::string> seen_paths;
  for (const auto& sample : samples)
    if (sample.name == "everything_requests_total") seen_paths.insert(sample.labels.at(0).second);
  for (const std::string& value : tricky_values()) {
    if (value == "bad \xFF byte" || value == "truncated \xE2\x82")
      continue;  // repaired, so changed
    EXPECT_TRUE(seen_paths.count(value)) << "label value lost: " << value;
  }
  EXPECT_EQ(seen_paths.size(), tricky_values().size());

  // One exemplar per traced series, its trace id intact after unescaping.
  std::set<std::string> traces;
  for (const auto& sample : samples)
    if (sample.exemplar) traces.insert(sample.exemplar->labels.at(0).second);
  EXPECT_EQ(traces.size(), tricky_values().size());
  for (const std::string& value : tricky_values()) {
    if (value == "bad \xFF byte" || value == "truncated \xE2\x82") continue;
    EXPECT_TRUE(traces.count("4bf92f3577b34da6a3ce929d0e0e4736" + value)) << value;
  }
}

// The series part (name and label set) of every sample line that occurs more than once.
std::vector<std::string> duplicate_samples(std::string_view exposition) {
  std::set<std::string_view> seen;
  std::vector<std::string> duplicates;
  for (std::string_view line : lines_of(exposition)) {
    if (line.empty() || line.front() == '#') continue;
    const std::string_view series = line.substr(0, line.rfind(' '));
    if (!seen.insert(series).second) duplicates.emplace_back(series);
  }
  return duplicates;
}

// Found by fuzz/exposition.cpp: label values that differ only in invalid UTF-8 bytes are
// exported alike (each bad byte becomes U+FFFD), so they must be one series, not two samples
// with the same name and labels (Prometheus rejects such a scrape).
TEST(ExpositionValidityTest, ValuesDifferingOnlyInInvalidUtf8AreOneSeries) {
  Registry registry;
  auto& counter = registry.counter("utf8_merge_total", "Merged.", {"v", "w"});
  auto& gauge = registry.gauge("utf8_merge_level", "Merged.", {"v"});
  auto& histogram = registry.histogram("utf8_merge_seconds", "Merged.", {"v"});
  Counter& first = counter.labels("a\xFF", "ok");
  Counter& second = counter.labels("a\xFE", "ok");
  EXPECT_EQ(&first, &second);
  first.inc();
  second.inc();
  counter.labels("a\xC0", "ok").inc();          // a lone lead byte, invalid too
  counter.labels("a\xEF\xBF\xBD", "ok").inc();  // U+FFFD itself: what the others show as
  counter.labels("a", "ok").inc();              // a different series
  EXPECT_EQ(counter.size(), 2u);
  gauge.labels("\xFF").set(1);
  gauge.labels("\xFE").set(2);
  EXPECT_EQ(gauge.size(), 1u);
  histogram.labels("x\x80y").observe(0.1);
  histogram.labels("x\xF5y").observe(0.2);
  EXPECT_EQ(histogram.size(), 1u);

  const std::string replacement = "\xEF\xBF\xBD";
  for (const ExpositionFormat format : {ExpositionFormat::kText, ExpositionFormat::kOpenMetrics}) {
    const std::string text = serialize(registry, format);
    for (const std::string& duplicate : duplicate_samples(text))
      ADD_FAILURE() << "two samples for " << duplicate << "\n" << text;
    EXPECT_EQ(test::sample_value(text, "utf8_merge_total{v=\"a" + replacement + "\",w=\"ok\"}"),
              4.0)
        << text;
    EXPECT_EQ(test::sample_value(text, "utf8_merge_level{v=\"" + replacement + "\"}"), 2.0);
    EXPECT_EQ(test::sample_value(text, "utf8_merge_seconds_count{v=\"x" + replacement + "y\"}"),
              2.0);
  }
  expect_promtool_clean(serialize(registry, ExpositionFormat::kText));

  // remove() takes the values the same way.
  EXPECT_TRUE(counter.remove({"a\xFD", "ok"}));
  EXPECT_EQ(counter.size(), 1u);
  EXPECT_FALSE(counter.remove({"a\xFF", "ok"}));
}

TEST(ExpositionValidityTest, ValidUtf8LabelValuesAreStoredUnchanged) {
  Registry registry;
  auto& counter = registry.counter("utf8_kept_total", "Kept.", {"v"});
  const std::string value = "Привет 日本 \xF0\x9F\x8E\x89";
  counter.labels(value).inc();
  counter.labels("bad \xFF").inc();
  std::vector<std::string> stored;
  counter.for_each([&](const Counter& series) { stored.emplace_back(series.label_value(0)); });
  EXPECT_EQ(stored, (std::vector<std::string>{value, "bad \xEF\xBF\xBD"}));
}

TEST(OpenMetricsStructureTest, DefaultRegistryIsAValidExposition) {
  register_catalog();
  register_process_collector();
  PrometheusMetrics::observe_http_request_duration("GET", "/", 0.2);
  const auto problems =
      check_openmetrics(serialize(Registry::default_registry(), ExpositionFormat::kOpenMetrics));
  for (const auto& problem : problems) ADD_FAILURE() << problem;
}

}  // namespace
}  // namespace monitoring::metrics
