#pragma once

// An in-process stand-in for Sentry's ingest endpoint for the unit tests: decodes gzip
// bodies, splits envelopes into items and answers as told (200, 429, 500, silence).
// The integration test checks the same envelopes with Sentry's own JavaScript parser.

#include <zlib.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/json_reader.hpp"
#include "support/local_http_peer.hpp"

namespace sentry_test {

inline std::string gunzip(const std::string& data) {
  z_stream stream{};
  if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) throw std::runtime_error("inflateInit2");
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char buffer[16384];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    stream.next_out = reinterpret_cast<Bytef*>(buffer);
    stream.avail_out = sizeof buffer;
    rc = inflate(&stream, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&stream);
      throw std::runtime_error("not gzip");
    }
    out.append(buffer, sizeof buffer - stream.avail_out);
  }
  inflateEnd(&stream);
  return out;
}

/// One received envelope.
struct Envelope {
  std::string auth;
  std::string target;
  test_json::Value header;
  std::vector<std::pair<test_json::Value, test_json::Value>> items;  // (item header, payload)

  const test_json::Value* item(std::string_view type) const {
    for (const auto& [header, payload] : items)
      if (header["type"].string == type) return &payload;
    return nullptr;
  }
};

inline Envelope parse_envelope(const std::string& text) {
  Envelope envelope;
  std::size_t pos = text.find('\n');
  envelope.header = test_json::parse(text.substr(0, pos));
  pos = pos == std::string::npos ? text.size() : pos + 1;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    auto header = test_json::parse(text.substr(pos, end - pos));
    pos = end + 1;
    const auto length = static_cast<std::size_t>(header["length"].number);
    auto payload = test_json::parse(text.substr(pos, length));
    pos += length + 1;
    envelope.items.emplace_back(std::move(header), std::move(payload));
  }
  return envelope;
}

/// The fake ingest server. `answer` picks the reply for each request (default 200).
class IngestPeer {
 public:
  using Answer = std::function<monitoring::testing::CannedAnswer(int request_number)>;

  IngestPeer()
      : peer_([this](const monitoring::testing::RecordedRequest& request) {
          return on_request(request);
        }) {}

  std::string dsn() const {
    return "http://0123456789abcdef0123456789abcdef@127.0.0.1:" + std::to_string(peer_.port()) +
           "/42";
  }
  void set_answer(Answer answer) {
    std::lock_guard lock(mutex_);
    answer_ = std::move(answer);
  }
  std::vector<Envelope> envelopes() const {
    std::lock_guard lock(mutex_);
    return envelopes_;
  }
  /// Envelopes with an item of `type`.
  std::vector<Envelope> with_item(std::string_view type) const {
    std::vector<Envelope> out;
    for (auto& e : envelopes())
      if (e.item(type)) out.push_back(e);
    return out;
  }
  int requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  monitoring::testing::CannedAnswer on_request(
      const monitoring::testing::RecordedRequest& request) {
    std::lock_guard lock(mutex_);
    const int number = ++requests_;
    if (answer_) {
      auto answer = answer_(number);
      if (answer.silent || answer.raw.find(" 200 ") == std::string::npos) return answer;
    }
    std::string body = request.body;
    if (request.header("content-encoding") == "gzip") body = gunzip(body);
    Envelope envelope = parse_envelope(body);
    envelope.auth = request.header("x-sentry-auth");
    envelope.target = request.target;
    envelopes_.push_back(std::move(envelope));
    return {monitoring::testing::http_answer(200, "OK", "{}")};
  }

  mutable std::mutex mutex_;
  Answer answer_;
  std::vector<Envelope> envelopes_;
  int requests_ = 0;
  monitoring::testing::LocalHttpPeer peer_;  // last: stops before the rest goes away
};

inline bool wait_for(const std::function<bool()>& condition,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace sentry_test
