#pragma once

// The transport: how an envelope goes over HTTP. The pieces here are pure (the request, the
// backoff); the send loop itself, Client::send_envelope in transport.cpp, shares the client's
// lock-guarded state (rate limits, stats, the envelope in flight, close()'s deadline).

#include <chrono>
#include <string>

#include "monitoring/sentry/client.hpp"
#include "net/http_client.hpp"

namespace monitoring::sentry::detail {

/// The POST of one envelope to the DSN's envelope endpoint (gzip'd when options.gzip).
common::HttpRequest envelope_request(const std::string& envelope, const std::string& url,
                                     const std::string& auth_header, const Options& options);

/// The wait before retry number `attempt` + 1 after a 5xx or no answer: `base` doubled per
/// attempt, at most 64 times `base` and at most 30 s.
std::chrono::milliseconds retry_delay(unsigned attempt, std::chrono::milliseconds base);

}  // namespace monitoring::sentry::detail
