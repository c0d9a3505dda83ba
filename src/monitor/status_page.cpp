#include "monitor/status_page.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <utility>

#include "catalog/figures.hpp"
#include "monitor/routes.hpp"
#include "monitoring/health/checker.hpp"
#include "monitoring/server/http_server.hpp"

namespace monitoring::detail {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

struct StatusSampler::Reading {
  std::chrono::steady_clock::time_point at;
  metrics::detail::CatalogFigures figures;
};

StatusSampler::StatusSampler(std::chrono::milliseconds interval)
    : interval_(interval),
      capacity_(interval.count() > 0
                    ? std::max<std::size_t>(
                          2, static_cast<std::size_t>(std::chrono::milliseconds(kWindow).count() /
                                                      interval.count()))
                    : 90) {
  errors_subscription_ = logging::subscribe_records(
      [this](const logging::RecordView& record) {
        ErrorEntry entry{std::string(record.timestamp_text), std::string(record.logger),
                         std::string(record.has_error ? record.error_type : std::string_view()),
                         std::string(record.message)};
        std::lock_guard lock(mutex_);
        errors_.push_front(std::move(entry));
        if (errors_.size() > kLastErrors) errors_.pop_back();
      },
      logging::Level::kError);
  sample_now();  // the baseline reading, so the first interval already has a point
  if (interval_.count() > 0) thread_ = std::thread([this] { run(); });
}

StatusSampler::~StatusSampler() {
  stop();
}

void StatusSampler::stop() noexcept {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  errors_subscription_.reset();
}

void StatusSampler::run() {
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, interval_, [this] { return stopping_; })) {
    lock.unlock();
    sample_now();
    lock.lock();
  }
}

namespace {

// The 0.95 quantile of the observations in `counts` (per bucket, +Inf last), interpolated
// linearly inside its bucket as Prometheus' histogram_quantile does; NaN without observations.
double p95(const std::vector<double>& bounds, const std::vector<double>& counts) {
  double total = 0;
  for (double count : counts) total += count;
  if (!(total > 0)) return kNaN;
  const double rank = 0.95 * total;
  double below = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    if (below + counts[i] >= rank && counts[i] > 0) {
      if (i >= bounds.size()) return bounds.empty() ? kNaN : bounds.back();  // the +Inf bucket
      const double lower = i == 0 ? std::min(0.0, bounds[0]) : bounds[i - 1];
      return lower + (bounds[i] - lower) * ((rank - below) / counts[i]);
    }
    below += counts[i];
  }
  return bounds.empty() ? kNaN : bounds.back();
}

}  // namespace

void StatusSampler::sample_now(std::chrono::steady_clock::time_point now) {
  auto reading = std::make_unique<Reading>(Reading{now, metrics::detail::read_catalog_figures()});
  std::lock_guard lock(mutex_);
  if (previous_ != nullptr) {
    const double seconds = std::chrono::duration<double>(now - previous_->at).count();
    const auto& was = previous_->figures;
    const auto& is = reading->figures;
    StatusSample sample;
    sample.at = std::chrono::system_clock::now();
    if (seconds > 0) {
      sample.updates_per_second = std::max(0.0, is.bot_messages - was.bot_messages) / seconds;
      sample.errors_per_second = std::max(0.0, is.errors - was.errors) / seconds;
    }
    std::vector<double> counts = is.handler_counts;
    for (std::size_t i = 0; i < counts.size() && i < was.handler_counts.size(); ++i)
      counts[i] = std::max(0.0, counts[i] - was.handler_counts[i]);
    sample.handler_p95_seconds = p95(is.handler_bounds, counts);
    for (const auto& [system, totals] : is.payments) {
      const auto old = was.payments.find(system);
      const double requests = totals.first - (old != was.payments.end() ? old->second.first : 0);
      const double successes = totals.second - (old != was.payments.end() ? old->second.second : 0);
      sample.payment_success_ratio[system] =
          requests > 0 ? std::clamp(successes / requests, 0.0, 1.0) : kNaN;
    }
    samples_.push_back(std::move(sample));
    while (samples_.size() > capacity_) samples_.pop_front();
  }
  previous_ = std::move(reading);
}

std::vector<StatusSample> StatusSampler::samples() const {
  std::lock_guard lock(mutex_);
  return {samples_.begin(), samples_.end()};
}

std::vector<StatusSampler::ErrorEntry> StatusSampler::last_errors() const {
  std::lock_guard lock(mutex_);
  return {errors_.begin(), errors_.end()};
}

// --- Rendering ------------------------------------------------------------------------------

namespace {

void escape_into(std::string& out, std::string_view text) {
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
}

std::string number(double value, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}

struct Line {
  std::string name;
  std::vector<std::pair<std::chrono::system_clock::time_point, double>> points;
};

constexpr const char* kPalette[] = {"#2563eb", "#dc2626", "#16a34a",
                                    "#d97706", "#7c3aed", "#0891b2"};

// An inline SVG line chart over the last 15 minutes. Gaps (NaN) break the line.
void chart(std::string& out, std::string_view id, std::string_view title, std::string_view unit,
           const std::vector<Line>& lines, double fixed_max,
           std::chrono::system_clock::time_point start, std::chrono::system_clock::time_point now) {
  constexpr double kWidth = 400, kHeight = 150, kLeft = 40, kBottom = 20, kTop = 8;
  double max = fixed_max;
  std::size_t points = 0;
  if (!(max > 0)) {
    max = 0;
    for (const auto& line : lines)
      for (const auto& [at, value] : line.points)
        if (std::isfinite(value)) max = std::max(max, value);
    if (!(max > 0)) max = 1;
    max *= 1.1;
  }
  const double span = std::max(1.0, std::chrono::duration<double>(now - start).count());
  auto x = [&](std::chrono::system_clock::time_point at) {
    const double seconds = std::chrono::duration<double>(at - start).count();
    return kLeft + (kWidth - kLeft - 4) * std::clamp(seconds / span, 0.0, 1.0);
  };
  auto y = [&](double value) {
    return kTop + (kHeight - kTop - kBottom) * (1 - std::clamp(value / max, 0.0, 1.0));
  };
  std::string body;
  for (std::size_t l = 0; l < lines.size(); ++l) {
    const char* color = kPalette[l % std::size(kPalette)];
    std::string path;
    bool pen_down = false;
    for (const auto& [at, value] : lines[l].points) {
      if (!std::isfinite(value)) {
        pen_down = false;
        continue;
      }
      path += pen_down ? " L" : " M";
      path += number(x(at), 1) + "," + number(y(value), 1);
      pen_down = true;
      ++points;
    }
    if (!path.empty()) {
      body += "<path fill=\"none\" stroke-width=\"2\" stroke=\"";
      body += color;
      body += "\" d=\"" + path + "\"/>";
    }
  }
  out += "<figure class=\"chart\" id=\"";
  escape_into(out, id);
  out += "\" data-points=\"" + std::to_string(points) + "\"><figcaption>";
  escape_into(out, title);
  out += " <span class=\"unit\">";
  escape_into(out, unit);
  out += "</span>";
  if (lines.size() > 1 || (lines.size() == 1 && !lines[0].name.empty())) {
    out += "<span class=\"legend\">";
    for (std::size_t l = 0; l < lines.size(); ++l) {
      out += "<span style=\"color:";
      out += kPalette[l % std::size(kPalette)];
      out += "\">&#9632; ";
      escape_into(out, lines[l].name);
      out += "</span>";
    }
    out += "</span>";
  }
  out += "</figcaption><svg viewBox=\"0 0 400 150\" role=\"img\" aria-label=\"";
  escape_into(out, title);
  out += "\"><line class=\"axis\" x1=\"40\" y1=\"130\" x2=\"396\" y2=\"130\"/>";
  out += "<line class=\"axis\" x1=\"40\" y1=\"8\" x2=\"40\" y2=\"130\"/>";
  out += "<text x=\"36\" y=\"18\" text-anchor=\"end\">" +
         number(fixed_max > 0 ? fixed_max : max, max < 10 ? 2 : 0) + "</text>";
  out += "<text x=\"36\" y=\"130\" text-anchor=\"end\">0</text>";
  const long long shown = static_cast<long long>(span + 0.5);
  out += "<text x=\"40\" y=\"147\">-" +
         (shown >= 120 ? std::to_string(shown / 60) + " min" : std::to_string(shown) + " s") +
         "</text>";
  out += "<text x=\"396\" y=\"147\" text-anchor=\"end\">now</text>";
  out += body;
  if (points == 0)
    out += "<text class=\"empty\" x=\"218\" y=\"75\" text-anchor=\"middle\">no data yet</text>";
  out += "</svg></figure>";
}

std::string_view status_class(health::Status status) {
  switch (status) {
    case health::Status::healthy:
      return "ok";
    case health::Status::degraded:
      return "warn";
    default:
      return "fail";
  }
}

}  // namespace

std::string render_status_page(const StatusPageInput& input) {
  const auto now = std::chrono::system_clock::now();
  std::string out;
  out.reserve(16384);
  out +=
      "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
      "<meta http-equiv=\"refresh\" content=\"" +
      std::to_string(std::max<long long>(1, input.refresh.count() / 1000)) + "\"><title>";
  escape_into(out, input.service);
  out +=
      " status</title><style>"
      "body{font:15px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;"
      "color:#111;background:#f6f7f9}"
      "main{max-width:980px;margin:0 auto;padding:12px}"
      "h1{font-size:1.3em;margin:.2em 0}h2{font-size:1.05em;margin:1.2em 0 .4em}"
      ".badge{display:inline-block;padding:1px 8px;border-radius:9px;color:#fff;font-weight:600}"
      ".ok{background:#16a34a}.warn{background:#d97706}.fail{background:#dc2626}"
      ".scroll{overflow-x:auto}"
      "table{border-collapse:collapse;width:100%;background:#fff}"
      "td,th{padding:4px 8px;border-bottom:1px solid #e5e7eb;text-align:left;"
      "vertical-align:top;overflow-wrap:anywhere}"
      ".charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(280px,1fr));gap:10px}"
      ".chart{margin:0;background:#fff;padding:6px;border:1px solid #e5e7eb;border-radius:6px}"
      ".chart svg{width:100%;height:auto;display:block}"
      ".chart text{font-size:13px;fill:#555}.axis{stroke:#999;stroke-width:1}"
      ".unit{color:#666;font-size:.85em}.legend span{margin-left:8px;font-size:.85em}"
      ".muted{color:#666}"
      "</style></head><body><main><h1>";
  escape_into(out, input.service);
  out += " <span class=\"badge " + std::string(status_class(input.health.status)) + "\">";
  escape_into(out, health::to_string(input.health.status));
  const double up = input.health.uptime_seconds;
  out += "</span></h1><p class=\"muted\">up " +
         (up < 120    ? number(up, 0) + " s"
          : up < 7200 ? number(up / 60, 0) + " min"
                      : number(up / 3600, 1) + " h") +
         " &middot; refreshes every " +
         std::to_string(std::max<long long>(1, input.refresh.count() / 1000)) + " s</p>";

  out +=
      "<h2>Checks</h2><div class=\"scroll\"><table id=\"checks\"><tr><th>check</th>"
      "<th>status</th><th>latency</th><th>message</th></tr>";
  for (const auto& check : input.health.checks) {
    out += "<tr data-check=\"";
    escape_into(out, check.name);
    out += "\"><td>";
    escape_into(out, check.name);
    if (!check.critical) out += " <span class=\"muted\">(optional)</span>";
    out += "</td><td><span class=\"badge " + std::string(status_class(check.status)) + "\">";
    escape_into(out, health::to_string(check.status));
    out += "</span></td><td>" + number(check.latency_ms, 1) + " ms</td><td>";
    escape_into(out, check.message);
    out += "</td></tr>";
  }
  if (input.health.checks.empty())
    out += "<tr><td colspan=\"4\" class=\"muted\">no checks</td></tr>";
  out += "</table></div>";

  out +=
      "<h2>Heartbeats</h2><div class=\"scroll\"><table id=\"heartbeats\"><tr><th>loop</th>"
      "<th>last beat</th><th>max age</th><th>state</th></tr>";
  for (const auto& beat : input.heartbeats) {
    out += "<tr><td>";
    escape_into(out, beat.name);
    out += "</td><td>" + number(beat.age_seconds, 1) + " s ago</td><td>" +
           number(beat.max_age_seconds, 0) + " s</td><td><span class=\"badge " +
           (beat.stale ? "fail\">stalled" : "ok\">alive") + "</span></td></tr>";
  }
  if (input.heartbeats.empty())
    out += "<tr><td colspan=\"4\" class=\"muted\">no heartbeats</td></tr>";
  out += "</table></div>";

  out += "<h2>Last 15 minutes</h2><div class=\"charts\">";
  Line updates{"", {}}, errors{"", {}}, latency{"", {}};
  std::map<std::string, Line> payments;
  for (const auto& sample : input.samples) {
    updates.points.emplace_back(sample.at, sample.updates_per_second);
    errors.points.emplace_back(sample.at, sample.errors_per_second);
    latency.points.emplace_back(sample.at, sample.handler_p95_seconds * 1000.0);
    for (const auto& [system, ratio] : sample.payment_success_ratio) {
      Line& line = payments[system];
      line.name = system;
      line.points.emplace_back(sample.at, ratio * 100.0);
    }
  }
  // The window is 15 minutes, or what there is of it yet: a process started a minute ago
  // shows that minute across the whole width, not squeezed to the right edge.
  auto start = now - StatusSampler::kWindow;
  if (!input.samples.empty()) start = std::max(start, std::min(now, input.samples.front().at));
  std::vector<Line> payment_lines;
  for (auto& [system, line] : payments) payment_lines.push_back(std::move(line));
  chart(out, "chart-updates", "Bot updates", "per second", {updates}, 0, start, now);
  chart(out, "chart-handler-p95", "Handler p95", "ms", {latency}, 0, start, now);
  chart(out, "chart-payments", "Payment success", "%", payment_lines, 100, start, now);
  chart(out, "chart-errors", "Errors", "per second", {errors}, 0, start, now);
  out += "</div>";

  out +=
      "<h2>Last errors</h2><div class=\"scroll\"><table id=\"errors\"><tr><th>time</th>"
      "<th>logger</th><th>error</th></tr>";
  for (const auto& error : input.errors) {
    out += "<tr><td>";
    escape_into(out, error.time);
    out += "</td><td>";
    escape_into(out, error.logger);
    out += "</td><td>";
    if (!error.type.empty()) {
      out += "<b>";
      escape_into(out, error.type);
      out += "</b>: ";
    }
    escape_into(out, error.message);
    out += "</td></tr>";
  }
  if (input.errors.empty()) out += "<tr><td colspan=\"3\" class=\"muted\">none</td></tr>";
  out += "</table></div></main></body></html>\n";
  return out;
}

void install_status_route(server::HttpServer& server, const health::HealthChecker& health,
                          std::shared_ptr<StatusSampler> sampler, std::string auth_token,
                          std::string service) {
  server.route_async("/status", [&health, sampler = std::move(sampler),
                                 token = std::move(auth_token), service = std::move(service)](
                                    const server::Request& request, server::Responder respond) {
    if (auto refused = refuse_unauthorized(request, token)) {
      respond(std::move(*refused));
      return;
    }
    health.check_async([sampler, service, respond](health::HealthReport report) {
      StatusPageInput input;
      input.service = service;
      input.health = std::move(report);
      input.heartbeats = health::HeartbeatRegistry::global().snapshot();
      input.samples = sampler->samples();
      input.errors = sampler->last_errors();
      if (sampler->interval().count() > 0) input.refresh = sampler->interval();
      server::Response response;
      response.content_type = "text/html; charset=utf-8";
      response.body = render_status_page(input);
      response.headers.emplace_back("Cache-Control", "no-store");
      // The page needs nothing from elsewhere; say so, so a browser refuses anything else.
      response.headers.emplace_back("Content-Security-Policy",
                                    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                                    "frame-ancestors 'none'");
      respond(std::move(response));
    });
  });
}

}  // namespace monitoring::detail
