// metrics::negotiate_format (Accept) and metrics::accepts_gzip (Accept-Encoding) over
// arbitrary header values.
//
// Input: the Accept value, a NUL, the Accept-Encoding value (without a NUL: both get the whole
// input). Properties:
//   - the format is text or OpenMetrics, and content_type() names one of the two types;
//   - without "openmetrics" anywhere in the header, the format is text;
//   - q=0 excludes: with every element that mentions OpenMetrics replaced by
//     "application/openmetrics-text;q=0", the format is text; with every element that
//     mentions gzip or '*' replaced by "gzip;q=0", gzip is not accepted;
//   - an extra refusal changes nothing: appending or prepending
//     "application/openmetrics-text;q=0" keeps the format.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "monitoring/metrics/exposition.hpp"

namespace {

using monitoring::metrics::accepts_gzip;
using monitoring::metrics::ExpositionFormat;
using monitoring::metrics::negotiate_format;

bool contains_ci(std::string_view text, std::string_view needle) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  for (std::size_t i = 0; i + needle.size() <= text.size(); ++i) {
    bool match = true;
    for (std::size_t k = 0; k < needle.size() && match; ++k)
      match = lower(text[i + k]) == needle[k];
    if (match) return true;
  }
  return false;
}

/// `header` with every comma-separated element for which `hit` holds replaced by `with`.
template <class Hit>
std::string replace_elements(std::string_view header, Hit hit, std::string_view with) {
  std::string out;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = header.find(',', start);
    const std::string_view element = header.substr(start, comma - start);
    out += hit(element) ? with : element;
    if (comma == std::string_view::npos) break;
    out += ',';
    start = comma + 1;
  }
  return out;
}

std::string shown(ExpositionFormat format) {
  return format == ExpositionFormat::kText ? "text" : "openmetrics";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t nul = input.find('\0');
  const std::string_view accept = input.substr(0, nul);
  const std::string_view encoding = nul == std::string_view::npos ? input : input.substr(nul + 1);

  const ExpositionFormat format = negotiate_format(accept);
  fuzz::check(format == ExpositionFormat::kText || format == ExpositionFormat::kOpenMetrics,
              "an unknown format", accept);
  const std::string_view type = monitoring::metrics::content_type(format);
  fuzz::check(type.starts_with(format == ExpositionFormat::kText
                                   ? "text/plain; version=0.0.4"
                                   : "application/openmetrics-text; version=1.0.0"),
              "content_type() does not match the format", type);
  if (!contains_ci(accept, "openmetrics"))
    fuzz::check(format == ExpositionFormat::kText, "OpenMetrics picked without being asked",
                accept);

  constexpr std::string_view kRefuseOm = "application/openmetrics-text;q=0";
  const std::string refused = replace_elements(
      accept, [](std::string_view e) { return contains_ci(e, "openmetrics"); }, kRefuseOm);
  fuzz::check(negotiate_format(refused) == ExpositionFormat::kText,
              "OpenMetrics picked although every OpenMetrics element has q=0", refused);
  const std::string appended = std::string(accept) + "," + std::string(kRefuseOm);
  fuzz::check(negotiate_format(appended) == format,
              "an extra q=0 element changed the format from " + shown(format), appended);
  const std::string prepended = std::string(kRefuseOm) + "," + std::string(accept);
  fuzz::check(negotiate_format(prepended) == format,
              "an extra q=0 element changed the format from " + shown(format), prepended);

  const bool gzip = accepts_gzip(encoding);
  if (!contains_ci(encoding, "gzip") && encoding.find('*') == std::string_view::npos)
    fuzz::check(!gzip, "gzip accepted without being named", encoding);
  const std::string no_gzip = replace_elements(
      encoding,
      [](std::string_view e) {
        return contains_ci(e, "gzip") || e.find('*') != std::string_view::npos;
      },
      "gzip;q=0");
  fuzz::check(!accepts_gzip(no_gzip), "gzip accepted although refused with q=0", no_gzip);
  return 0;
}
