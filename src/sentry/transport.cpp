// Sending envelopes: the HTTP request, rate limits (429, Retry-After, X-Sentry-Rate-Limits)
// checked before and learned after each send, retries with exponential backoff on 5xx or no
// answer, and the hand-over to the offline cache when a send cannot succeed. Client reports
// go the same way but are never cached.

#include "sentry/transport.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "monitoring/metrics/exposition.hpp"
#include "sentry/client.hpp"
#include "sentry/offline_cache.hpp"

namespace monitoring::sentry::detail {

common::HttpRequest envelope_request(const std::string& envelope, const std::string& url,
                                     const std::string& auth_header, const Options& options) {
  common::HttpRequest request;
  request.method = "POST";
  request.url = url;
  request.timeout = options.http_timeout;
  request.connect_timeout = std::min(options.http_timeout, std::chrono::milliseconds(2000));
  request.headers.add("X-Sentry-Auth", auth_header);
  request.headers.add("Content-Type", "application/x-sentry-envelope");
  if (options.gzip) {
    request.headers.add("Content-Encoding", "gzip");
    request.body = metrics::gzip_compress(envelope);
  } else {
    request.body = envelope;
  }
  request.user_agent = std::string(kSdkName) + "/" + std::string(kSdkVersion);
  return request;
}

std::chrono::milliseconds retry_delay(unsigned attempt, std::chrono::milliseconds base) {
  auto delay = base * (1u << std::min(attempt, 6u));
  return std::min<std::chrono::milliseconds>(delay, std::chrono::seconds(30));
}

void Client::send_pending_report() {
  DiscardCounts counts;
  {
    std::lock_guard lock(mutex_);
    fold_drops_locked();
    if (discards_.empty()) return;
    if (limits_.limited("", std::chrono::steady_clock::now())) return;
    counts.swap(discards_);
  }
  std::vector<EnvelopeItem> items;
  items.push_back({"client_report", client_report_json(counts)});
  if (send_envelope(build_envelope({}, items), "internal", {}, /*persist=*/false) !=
      SendResult::kSent) {
    std::lock_guard lock(mutex_);
    for (const auto& [key, count] : counts) discards_[key] += count;
  }
}

Client::SendResult Client::send_envelope(const std::string& envelope, std::string_view category,
                                         const std::string& cache_file, bool persist) {
  const bool is_report = category == "internal";
  for (unsigned attempt = 0;; ++attempt) {
    const auto now = std::chrono::steady_clock::now();
    bool limited = false;
    {
      std::lock_guard lock(mutex_);
      // An envelope from the cache whose file is gone: the cache bound pushed it out (and
      // counted it as cache_overflow), or another process sharing the directory took it.
      // Either way it is no longer ours to send.
      std::error_code missing;
      if (!cache_file.empty() && !std::filesystem::exists(cache_file, missing))
        return SendResult::kDropped;
      // Past close()'s deadline: no more network waits, straight to the cache.
      if (stopping_ && !is_report && now >= close_deadline_) {
        if (!persist || !cache_file.empty()) return SendResult::kFailed;
        if (persist_locked(envelope).empty()) {
          discard_locked("network_error", category);
        }
        return SendResult::kFailed;
      }
      limited = is_report ? limits_.until("") > now : limits_.limited(category, now);
    }
    if (limited) {
      if (!is_report) {
        discard("ratelimit_backoff", category);
        std::lock_guard lock(mutex_);
        ++stats_.rate_limited;
      }
      return SendResult::kDropped;
    }
    const common::HttpRequest request = envelope_request(envelope, url_, auth_, options_);
    bool retry = false;
    {
      std::lock_guard lock(mutex_);
      // What close() writes to the cache if it gives up on this send. Not an envelope that
      // is in a cache file already (a second copy would be sent twice), nor a client report
      // (never cached).
      in_flight_ = persist && cache_file.empty() ? envelope : std::string();
      in_flight_file_.clear();
    }
    try {
      common::HttpResponse response = [&] {
        BlockingSection sending;  // bounded by http_timeout, but outside the exit gate
        return common::http_request(request);
      }();
      std::lock_guard lock(mutex_);
      limits_.update(response.status, response.headers, std::chrono::steady_clock::now());
      in_flight_.clear();
      if (response.ok()) {
        if (!in_flight_file_.empty()) {  // close() cached it meanwhile: it did arrive after all
          remove_cached(in_flight_file_);
          in_flight_file_.clear();
        }
        if (!is_report) ++stats_.sent;
        return SendResult::kSent;
      }
      if (response.status >= 500) {
        retry = true;
      } else {
        const bool rate = response.status == 429;
        if (rate && !is_report) ++stats_.rate_limited;
        if (!is_report) {
          discard_locked(rate ? "ratelimit_backoff" : "send_error", category);
        }
        return SendResult::kDropped;
      }
    } catch (const common::HttpTransportError&) {
      std::lock_guard lock(mutex_);
      in_flight_.clear();
      retry = true;
    }
    // 5xx or no answer: back off and try again, unless shutting down or out of attempts.
    std::unique_lock lock(mutex_);
    if (!in_flight_file_.empty()) {  // close() already cached it
      in_flight_file_.clear();
      return SendResult::kFailed;
    }
    if (retry && attempt < options_.max_retries && !stopping_) {
      ++stats_.retries;
      wake_.wait_for(lock, retry_delay(attempt, options_.retry_backoff), [&] { return stopping_; });
      continue;
    }
    if (is_report || !persist) return SendResult::kFailed;
    if (!cache_file.empty()) return SendResult::kFailed;  // already in the cache: keep it there
    if (persist_locked(envelope).empty()) {
      discard_locked("network_error", category);
    }
    return SendResult::kFailed;
  }
}

}  // namespace monitoring::sentry::detail
