// Log records with fuzzed logger names, messages, context and call-site fields (keys and
// string values of any bytes, invalid UTF-8 included), through the real logging backend; the
// record observer receives each ECS JSON line as the file and console get it.
//
// Properties, for every line:
//   - it is one strict RFC 8259 JSON object (tests/support/json_reader.hpp: no control
//     characters, valid UTF-8, no lone surrogates, nothing after the object), with no newline;
//   - no object, at any depth, has the same key twice;
//   - it has "@timestamp", "log.level" (or log: {level}) and "message" as the ECS layout has.

#include <fuzzer/FuzzedDataProvider.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "monitoring/context.hpp"
#include "monitoring/logging.hpp"
#include "support/json_reader.hpp"

namespace {

namespace logging = monitoring::logging;

struct Lines {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::string> lines;
};

Lines& captured() {
  static Lines* lines = new Lines();  // leaked: the backend thread may still call at exit
  return *lines;
}

void start_logging() {
  logging::LoggingOptions options;
  options.level = logging::Level::kDebug;
  options.log_dir = "";  // no file
  options.console = logging::ConsoleTarget::kNone;
  options.json = true;
  options.reopen_on_sighup = false;
  options.flush_on_fatal_signal = false;
  options.max_field_bytes = 256;  // long values get truncated (on a character boundary)
  logging::configure(options);
  static logging::RecordSubscription subscription = logging::subscribe_records(
      [](const logging::RecordView& record) {
        Lines& lines = captured();
        std::lock_guard lock(lines.mutex);
        lines.lines.emplace_back(record.json);
        lines.changed.notify_all();
      },
      logging::Level::kDebug);
}

void check_unique_keys(const test_json::Value& value, const std::string& line) {
  if (value.type == test_json::Value::Type::kObject) {
    std::set<std::string> keys;
    for (const auto& [key, member] : value.object) {
      fuzz::check(keys.insert(key).second, "a duplicate key \"" + key + "\"", line);
      check_unique_keys(member, line);
    }
  } else if (value.type == test_json::Value::Type::kArray) {
    for (const auto& element : value.array) check_unique_keys(element, line);
  }
}

bool has_path(const test_json::Value& object, std::string_view dotted) {
  if (object.has(dotted)) return true;
  const std::size_t dot = dotted.find('.');
  if (dot == std::string_view::npos) return false;
  const test_json::Value* inner = object.find(dotted.substr(0, dot));
  return inner != nullptr && inner->is_object() && has_path(*inner, dotted.substr(dot + 1));
}

monitoring::FieldValue consume_value(FuzzedDataProvider& input, std::deque<std::string>& strings) {
  switch (input.ConsumeIntegralInRange(0, 5)) {
    case 0:
      return monitoring::FieldValue();
    case 1:
      return monitoring::FieldValue(input.ConsumeBool());
    case 2:
      return monitoring::FieldValue(input.ConsumeIntegral<std::int64_t>());
    case 3:
      return monitoring::FieldValue(input.ConsumeIntegral<std::uint64_t>());
    case 4:
      return monitoring::FieldValue(input.ConsumeFloatingPoint<double>());
    default:
      return monitoring::FieldValue(
          std::string_view(strings.emplace_back(input.ConsumeRandomLengthString(300))));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool started = (start_logging(), true);
  (void)started;
  FuzzedDataProvider input(data, size);
  std::deque<std::string> strings;  // the bytes the fields point to

  const std::string logger_name = input.ConsumeRandomLengthString(32);
  std::vector<monitoring::Field> logger_context, scope_fields, fields;
  for (auto* list : {&logger_context, &scope_fields, &fields}) {
    const int count = input.ConsumeIntegralInRange(0, 6);
    for (int i = 0; i < count; ++i) {
      const std::string_view key = strings.emplace_back(input.ConsumeRandomLengthString(24));
      list->push_back({key, consume_value(input, strings)});
    }
  }
  const std::string user = input.ConsumeRandomLengthString(24);
  const std::string request_id = input.ConsumeRandomLengthString(40);
  const std::string message = input.ConsumeRemainingBytesAsString();

  {
    Lines& lines = captured();
    std::lock_guard lock(lines.mutex);
    lines.lines.clear();
  }
  {
    logging::StructuredLogger logger(logger_name);
    logger.add_context(logger_context);
    auto user_scope = monitoring::context::with_user(user, "name");
    auto request_scope = monitoring::context::with_request_id(request_id);
    auto field_scope = monitoring::context::with_fields(scope_fields);
    logger.log(logging::Level::kWarning, message, fields);
    logging::flush();
  }

  std::vector<std::string> got;
  {
    Lines& lines = captured();
    std::unique_lock lock(lines.mutex);
    lines.changed.wait_for(lock, std::chrono::seconds(5), [&] { return !lines.lines.empty(); });
    got.swap(lines.lines);
  }
  fuzz::check(got.size() == 1, "not exactly one line for one record", std::to_string(got.size()));
  for (const std::string& line : got) {
    fuzz::check(line.find('\n') == std::string::npos, "a line holds a newline", line);
    test_json::Value value;
    try {
      value = test_json::parse(line);
    } catch (const std::exception& error) {
      fuzz::check(false, std::string("not valid JSON: ") + error.what(), line);
    }
    fuzz::check(value.is_object(), "a line is not a JSON object", line);
    check_unique_keys(value, line);
    for (std::string_view key : {"@timestamp", "log.level", "message"})
      fuzz::check(has_path(value, key), "a line lacks " + std::string(key), line);
  }
  return 0;
}
