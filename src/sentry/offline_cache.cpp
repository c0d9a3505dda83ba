// Writing, bounding and reading back the cache directory.

#include "sentry/offline_cache.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "sentry/ids.hpp"

namespace monitoring::sentry::detail {

namespace fs = std::filesystem;

CachedEnvelope cache_envelope(const std::string& dir_name, const std::string& envelope,
                              std::size_t max_files) {
  CachedEnvelope out;
  std::error_code error;
  const fs::path dir(dir_name);
  fs::create_directories(dir, error);
  const auto stamp = std::chrono::duration_cast<std::chrono::nanoseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  const fs::path final_path = dir / (std::to_string(stamp) + "-" + new_event_id() + ".envelope");
  const fs::path temp_path = final_path.string() + ".tmp";
  {
    std::ofstream file(temp_path, std::ios::binary | std::ios::trunc);
    file.write(envelope.data(), static_cast<std::streamsize>(envelope.size()));
    if (!file) {
      fs::remove(temp_path, error);
      return out;
    }
  }
  fs::rename(temp_path, final_path, error);
  if (error) return out;
  out.path = final_path.string();
  // Bounded: the oldest envelopes go first (names start with a timestamp).
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir, error))
    if (entry.path().extension() == ".envelope") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  for (std::size_t i = 0; files.size() - i > max_files; ++i) {
    fs::remove(files[i], error);
    ++out.evicted;
  }
  return out;
}

std::vector<CachedFile> load_cache_dir(const std::string& dir_name) {
  std::vector<CachedFile> out;
  std::error_code error;
  const fs::path dir(dir_name);
  if (!fs::is_directory(dir, error)) return out;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    if (entry.path().extension() == ".envelope" || entry.path().extension() == ".crash" ||
        entry.path().extension() == ".session")
      files.push_back(entry.path());
    if (entry.path().extension() == ".tmp") fs::remove(entry.path(), error);  // torn write
  }
  std::sort(files.begin(), files.end());
  for (const fs::path& file : files) {
    CachedFile cached;
    cached.path = file.string();
    if (file.extension() == ".crash" || file.extension() == ".session") {
      cached.crash_record = file.extension() == ".crash";
      cached.session = !cached.crash_record;
      out.push_back(std::move(cached));
      continue;
    }
    std::ifstream in(file, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    cached.envelope = text.str();
    if (cached.envelope.empty()) {
      fs::remove(file, error);
      continue;
    }
    out.push_back(std::move(cached));
  }
  return out;
}

void remove_cached(const std::string& path) noexcept {
  std::error_code ignored;
  fs::remove(path, ignored);
}

}  // namespace monitoring::sentry::detail
