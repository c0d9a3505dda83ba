// sentry::Dsn::parse over DSNs with a planted public key.
//
// Input: up to four NUL-separated parts, scheme, before-key, after-key and host-and-path; the
// harness parses scheme + "://" + before + marker + after + "@" + host-and-path, so the marker
// is inside the user-info (the key) whatever the parts are. Parts before the '@' may not hold
// '/' (it would end the authority and move the marker out of the user-info).
// Properties:
//   - parse throws nothing but DsnError, whose what(), redacted_dsn() and problem() never hold
//     the marker;
//   - a parsed DSN holds the marker only in public_key (or the secret part, not kept); host,
//     path, project id, envelope_url() and redacted() never do; the project id is digits;
//   - a parsed DSN written back as scheme://key@host[:port]path/project parses to the same
//     fields.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "monitoring/sentry/client.hpp"

namespace {

constexpr std::string_view kMarker = "Zq9PublicKey";

using monitoring::sentry::Dsn;
using monitoring::sentry::DsnError;

bool same(const Dsn& a, const Dsn& b) {
  return a.scheme == b.scheme && a.public_key == b.public_key && a.host == b.host &&
         a.port == b.port && a.path_prefix == b.path_prefix && a.project_id == b.project_id;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (input.find(kMarker.substr(0, 4)) != std::string_view::npos) return 0;  // planted only
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (parts.size() < 3) {
    const std::size_t nul = input.find('\0', start);
    if (nul == std::string_view::npos) break;
    parts.push_back(input.substr(start, nul - start));
    start = nul + 1;
  }
  parts.push_back(input.substr(start));
  while (parts.size() < 4) parts.insert(parts.begin(), std::string_view());
  for (std::size_t i = 0; i < 3; ++i)
    if (parts[i].find('/') != std::string_view::npos) return 0;

  std::string dsn(parts[0]);
  dsn += "://";
  dsn += parts[1];
  dsn += kMarker;
  dsn += parts[2];
  dsn += '@';
  dsn += parts[3];

  Dsn parsed;
  try {
    parsed = Dsn::parse(dsn);
  } catch (const DsnError& error) {
    fuzz::check(std::string_view(error.what()).find(kMarker) == std::string_view::npos,
                "DsnError::what() shows the key", error.what());
    fuzz::check(error.redacted_dsn().find(kMarker) == std::string::npos,
                "DsnError::redacted_dsn() shows the key", error.redacted_dsn());
    fuzz::check(error.problem().find(kMarker) == std::string::npos,
                "DsnError::problem() shows the key", error.problem());
    return 0;
  }
  for (const std::string* field : {&parsed.host, &parsed.path_prefix, &parsed.project_id})
    fuzz::check(field->find(kMarker) == std::string::npos, "the key leaked into a DSN part",
                *field);
  fuzz::check(parsed.envelope_url().find(kMarker) == std::string::npos,
              "envelope_url() shows the key", parsed.envelope_url());
  fuzz::check(parsed.redacted().find(kMarker) == std::string::npos, "redacted() shows the key",
              parsed.redacted());
  fuzz::check(!parsed.public_key.empty(), "a parsed DSN has an empty key", dsn);
  fuzz::check(!parsed.project_id.empty() &&
                  parsed.project_id.find_first_not_of("0123456789") == std::string::npos,
              "the project id is not digits", parsed.project_id);
  fuzz::check(parsed.scheme == "http" || parsed.scheme == "https", "scheme", parsed.scheme);

  std::string again = parsed.scheme + "://" + parsed.public_key + "@" + parsed.host;
  if (parsed.port != 0) again += ":" + std::to_string(parsed.port);
  again += parsed.path_prefix + "/" + parsed.project_id;
  try {
    fuzz::check(same(Dsn::parse(again), parsed), "a DSN written back parses differently", again);
  } catch (const DsnError& error) {
    fuzz::check(false, "a DSN written back does not parse", error.what());
  }
  return 0;
}
