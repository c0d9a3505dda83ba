#pragma once

// A small HTTP/1.1 server for the monitoring endpoints (/metrics, /health, /ready, /live).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "monitoring/error.hpp"

namespace monitoring::server {

/// One parsed request, as a handler sees it.
///
/// Every view points into the connection's buffers and is valid only during the handler
/// call; an async handler copies what it needs before it returns.
struct Request {
  std::string_view method;  ///< "GET", "HEAD", ... (HEAD reaches the GET handler as "HEAD")
  std::string_view target;  ///< raw request target, e.g. "/metrics?x=1"
  std::string_view path;    ///< "/metrics" (the target without its query)
  std::string_view query;   ///< "x=1" (no '?'; empty when absent)
  std::string_view body;    ///< decoded body (chunked bodies are joined), at most max_body_bytes
  std::string_view remote_address;  ///< peer address, "127.0.0.1" or "::1"
  unsigned version = 11;            ///< 10 for HTTP/1.0, 11 for HTTP/1.1
  /// Header fields in arrival order, names as received.
  std::span<const std::pair<std::string_view, std::string_view>> headers;

  /// The value of the first header field named `name` (case-insensitive); "" when absent.
  std::string_view header(std::string_view name) const noexcept;
};

/// What a handler answers. The server adds Content-Length, Date and Connection itself and
/// ignores Content-Length, Transfer-Encoding, Connection, Keep-Alive, Date and Content-Type in
/// `headers` (it owns the framing; the type comes from `content_type`). A header name or value
/// that could split the response (CR, LF, NUL, non-token name) turns the answer into a 500.
/// 204 and 304 go out without a body; HEAD gets the headers (real Content-Length) only.
struct Response {
  unsigned status = 200;  ///< 200..999; anything else (including 1xx) becomes a 500
  std::string content_type = "text/plain; charset=utf-8";  ///< omitted when empty
  std::string body;
  /// Extra headers (Content-Encoding, Vary, WWW-Authenticate, Cache-Control, ...).
  std::vector<std::pair<std::string, std::string>> headers;
};

/// Runs on a server thread, inline with the connection's I/O: it must be quick.
using Handler = std::function<Response(const Request&)>;
/// Completes an async request. Callable once (later calls do nothing), from any thread, even
/// after the connection or the whole server is gone (then it does nothing).
using Responder = std::function<void(Response)>;
/// Starts work for a request and answers later through the Responder (for example health
/// checks running on another executor). If it throws before answering, the client gets a 500.
using AsyncHandler = std::function<void(const Request&, Responder)>;

/// Listening address, threads and the limits that keep slow or hostile clients from holding
/// the server.
struct HttpServerOptions {
  std::string host = "0.0.0.0";  ///< IPv4 or IPv6 literal (brackets allowed) or "localhost"
  int port = 9090;               ///< 0 = ephemeral (read the bound port with HttpServer::port())
  unsigned threads = 1;          ///< I/O threads, each with its own event loop
  /// Open connections (not counting the probe reserve below). When a new connection would go
  /// beyond it, the server closes the connection that has been idle longest (no request in
  /// progress, or a stalled partial request, see stalled_request_grace) to make room: a flood
  /// of idle connections then only recycles itself and cannot lock probes out. Only when every
  /// connection is mid-request does the new one go to the probe reserve or, that full too, get
  /// a 503 and a close (never queued).
  std::size_t max_connections = 1024;
  /// Open connections one client address may hold; 0 = no limit. A client at its limit has its
  /// own oldest idle connection closed for the new one, or (all of its connections mid-request)
  /// the new one refused with 503, so a single address cannot fill the server with requests it
  /// keeps in progress. 64: a legitimate client of these endpoints needs few connections
  /// (Prometheus keeps one per target, the kubelet opens one per probe, a dashboard a handful),
  /// so 64 leaves headroom for clients sharing an address behind NAT while one address holds
  /// at most a sixteenth of the default max_connections. Loopback is not exempt: a local
  /// process floods as well as a remote one (the kubelet probes from the node's IP, not
  /// loopback). Behind a sidecar proxy every client arrives from loopback: raise it, or use 0.
  std::size_t max_connections_per_client = 64;
  /// Request paths that are probes. They keep answering under connection floods: when
  /// max_connections is reached and no connection can be closed for room, a new connection
  /// still gets a slot in the probe reserve, where a request for one of these paths is served
  /// (then the connection is closed) and any other request gets a 503.
  std::vector<std::string> probe_paths = {"/live", "/ready", "/health"};
  /// Connections beyond max_connections kept for probes (see probe_paths); 0 = none. 8: the
  /// kubelet runs at most a liveness, a readiness and a startup probe per container at once,
  /// each on a fresh connection, so 8 covers overlapping periods plus a few other health
  /// checkers, at a negligible cost in descriptors. Reserve connections are closed after one
  /// response, so the reserve turns over as fast as the probes are answered.
  std::size_t probe_reserve = 8;
  /// A request whose bytes (head or body) are still arriving this long after its first byte
  /// counts as idle when room must be made: it may be closed for a new connection, oldest
  /// first alongside the idle ones (ranked by when its first byte came). A slowloris client
  /// dribbling bytes thus holds no slot that anyone else needs, long before read_timeout
  /// closes it anyway. Honest requests arrive within a round trip or two, well inside 1 s; a
  /// request whose head is complete and is in the handler's hands or being answered is never
  /// closed for room.
  std::chrono::milliseconds stalled_request_grace{1000};
  /// Request line + header fields; larger → 431 and close (414 when the request line alone
  /// does not fit: a target too long, RFC 9112 §3).
  std::size_t max_header_bytes = 8192;
  std::size_t max_body_bytes = 64 * 1024;  ///< larger → 413 and close
  /// The whole request (head and body) must arrive within this after its first byte, and the
  /// first request within this after connect (slowloris); otherwise the connection is closed.
  std::chrono::milliseconds read_timeout{10000};
  /// An idle keep-alive connection is closed after this.
  std::chrono::milliseconds keep_alive_timeout{30000};
  /// Writing a response must finish within this; an async handler must answer within it
  /// (otherwise the client gets a 503 and the connection is closed).
  std::chrono::milliseconds write_timeout{10000};
};

/// Counters of a running (or stopped) server, summed over its threads.
struct HttpServerStats {
  std::uint64_t connections_accepted = 0;  ///< accepted (into max_connections or the reserve)
  /// Refused with 503 because max_connections was reached with no connection to close for
  /// room: at accept (reserve full) or, for a connection in the probe reserve, at its first
  /// request when that is not a probe (such a connection is also in connections_accepted).
  std::uint64_t connections_rejected = 0;
  /// Refused with 503 at accept because the client was at max_connections_per_client with all
  /// of its connections mid-request.
  std::uint64_t connections_rejected_per_client = 0;
  /// Idle connections (no request bytes since the last response or since connect) closed to
  /// make room for a new one, under max_connections or the client's own limit.
  std::uint64_t connections_evicted_idle = 0;
  /// Connections closed to make room while a request was still arriving after
  /// stalled_request_grace (slowloris).
  std::uint64_t connections_evicted_stalled = 0;
  /// Currently open, probe reserve included; can exceed max_connections for a moment, by
  /// the connections closed for room whose close is still under way.
  std::uint64_t connections_open = 0;
  std::uint64_t requests = 0;      ///< responses sent (any status)
  std::uint64_t bad_requests = 0;  ///< requests refused as malformed or too large (4xx/505)
  std::uint64_t timeouts = 0;      ///< connections closed by a read/write/async timeout
  /// Responses that did not fit the socket buffer and were finished in the background (a slow
  /// reader or a large body); each one is under write_timeout.
  std::uint64_t async_writes = 0;
};

/// HTTP/1.1 server over Boost.Asio/Beast, running on its own thread(s).
///
/// Routes match the request path exactly (the query string is ignored), or by subtree (see
/// route()). HEAD is served
/// wherever GET is (same headers and Content-Length, no body); a known path with a method it
/// does not allow gets 405 with `Allow`, OPTIONS on it 204 with `Allow`; unknown paths 404.
/// Keep-alive (default on HTTP/1.1, opt-in on 1.0), `Connection: close` and pipelining are
/// supported, and `Expect: 100-continue` is answered. Malformed requests get 400 (414 / 431 /
/// 413 / 505 for an oversized target, header, body, or an unsupported version) and the
/// connection is closed. Obsolete line folding in a field value is replaced by spaces
/// (RFC 9112 §5.2), so a handler never sees CR or LF in a value.
/// An HTTP/1.1 request without exactly one Host field is malformed (RFC 9112 §3.2).
///
/// Each thread runs its own event loop and owns its connections, so a synchronous handler
/// runs on the thread that read the request, without any hop. Timeouts are enforced by a
/// per-thread sweep: a connection never waits longer than its deadline plus a short tick.
///
/// HttpServer::start() could not open, bind or listen on its address. what() names host:port,
/// the step, the system's message and, for the usual causes, what to check: EADDRINUSE (another
/// process has the port), EADDRNOTAVAIL (the host is not an address of this machine), EACCES
/// (a port below 1024 without the privilege). code() is the system error.
class ListenError : public Error {
 public:
  ListenError(const std::string& message, std::string step, std::error_code code)
      : Error(message), step_(std::move(step)), code_(code) {}
  /// "socket", "SO_REUSEADDR", "bind" or "listen".
  const std::string& step() const noexcept { return step_; }
  std::error_code code() const noexcept { return code_; }

 private:
  std::string step_;
  std::error_code code_;
};

/// Routes may be added before or after start(), from any thread. start()/stop() must not be
/// called from a handler (stop() joins the server threads and throws when called on one).
class HttpServer {
 public:
  explicit HttpServer(HttpServerOptions options);
  ~HttpServer();  ///< stops (with the default grace)
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Serves `path` with a synchronous handler for `methods` (HEAD is implied by GET). A second
  /// registration of the same path replaces the first. A path ending in "/*" ("/health/*")
  /// serves the whole subtree below it that no exact route claims (the longest such prefix
  /// wins), so per-item endpoints need no route per item; the handler reads request.path. Throws
  /// monitoring::Error for a path that does not start with '/', an invalid method token or an empty
  /// method list.
  void route(std::string path, Handler handler, std::vector<std::string> methods = {"GET"});
  /// Same, for a handler that answers later through its Responder.
  void route_async(std::string path, AsyncHandler handler,
                   std::vector<std::string> methods = {"GET"});

  /// Binds, listens and starts the threads. Throws ListenError when the address cannot be
  /// bound (port in use, address not local, privileged port); monitoring::Error naming
  /// host:port when the address is invalid or the server is already running;
  /// monitoring::ConfigError for invalid options (port outside 0..65535, zero threads or
  /// max_connections, non-positive timeouts, negative stalled_request_grace, a probe path not
  /// starting with '/'). A stopped server can be started again.
  void start();
  /// Stops accepting, closes idle connections at once, lets in-flight requests finish within
  /// `grace`, closes the rest and joins the threads. Idempotent.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(2000));

  /// The bound port (after start()); the configured one before.
  std::uint16_t port() const noexcept;
  const std::string& host() const noexcept;
  bool running() const noexcept;
  /// stop() has begun (no new connections; in-flight responses may still finish). running()
  /// stays true until stop() returns.
  bool stopping() const noexcept;
  HttpServerStats stats() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// True when `authorization` is "Bearer <token>" (scheme case-insensitive, RFC 7235) with
/// exactly `token`; false for an empty `token`. The comparison takes the same time wherever
/// the first difference is.
bool bearer_token_matches(std::string_view authorization, std::string_view token) noexcept;

}  // namespace monitoring::server
