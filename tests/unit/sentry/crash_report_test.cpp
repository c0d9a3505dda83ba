// Crash reports that name the crash: the faulting function as the innermost frame (the signal
// PC symbolized as is, the handler and trampoline frames gone), the thread's last log line as
// the last breadcrumb, and debug_meta images with the build ids Sentry symbolicates with.

#include <dlfcn.h>
#include <elf.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "ingest_peer.hpp"
#include "monitoring/logging.hpp"
#include "monitoring/sentry.hpp"
#include "sentry/debug_images.hpp"

namespace {

namespace sentry = monitoring::sentry;
namespace logging = monitoring::logging;
using sentry_test::IngestPeer;
using namespace std::chrono_literals;

sentry::Options options_for(const IngestPeer& peer) {
  sentry::Options options;
  options.dsn = peer.dsn();
  options.environment = "test";
  options.capture_logs = false;
  options.retry_backoff = 20ms;
  options.http_timeout = 2000ms;
  return options;
}

class CrashReport : public ::testing::Test {
 protected:
  void TearDown() override { sentry::close(2s); }
};

std::string self_path() {
  return std::filesystem::read_symlink("/proc/self/exe").string();
}

/// The GNU build id of an ELF file as hex, read from its .note.gnu.build-id section (the
/// section headers: another route than the client's, which reads the loaded segments).
std::string build_id_of_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (file.size() < sizeof(Elf64_Ehdr)) return {};
  Elf64_Ehdr header;
  std::memcpy(&header, file.data(), sizeof header);
  for (unsigned i = 0; i < header.e_shnum; ++i) {
    Elf64_Shdr section;
    std::memcpy(&section, file.data() + header.e_shoff + i * header.e_shentsize, sizeof section);
    if (section.sh_type != SHT_NOTE) continue;
    Elf64_Nhdr note;
    std::memcpy(&note, file.data() + section.sh_offset, sizeof note);
    if (note.n_type != NT_GNU_BUILD_ID) continue;
    const char* desc = file.data() + section.sh_offset + sizeof note + ((note.n_namesz + 3) & ~3u);
    std::string hex;
    char digits[3];
    for (unsigned j = 0; j < note.n_descsz; ++j) {
      std::snprintf(digits, sizeof digits, "%02x", static_cast<unsigned char>(desc[j]));
      hex += digits;
    }
    return hex;
  }
  return {};
}

/// Sentry's ELF debug id for a build id: its first 16 bytes as a little-endian GUID.
std::string expected_debug_id(const std::string& hex) {
  std::string h = hex.substr(0, 32);
  h.resize(32, '0');
  const auto swap = [&](std::size_t at, std::size_t bytes) {
    std::string out;
    for (std::size_t i = bytes; i-- > 0;) out += h.substr(at + 2 * i, 2);
    return out;
  };
  return swap(0, 4) + "-" + swap(8, 2) + "-" + swap(12, 2) + "-" + h.substr(16, 4) + "-" +
         h.substr(20, 12);
}

/// A string member, "" when absent.
std::string member(const test_json::Value& value, std::string_view key) {
  return value.has(key) ? value[key].string : std::string();
}

/// The debug_meta image of this test executable (null when absent).
const test_json::Value* own_image(const test_json::Value& event) {
  const std::string self = self_path();
  for (const auto& image : event["debug_meta"]["images"].array)
    if (image["code_file"].string == self) return &image;
  return nullptr;
}

int* volatile g_card = nullptr;

// A leaf taking a pointer: the faulting store is its first instruction, so the byte before
// the signal PC belongs to whatever function precedes it.
[[gnu::noinline]] void charge_card(int* card) {
  *card = 4242;
}

std::filesystem::path fresh_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("monitoring-crash-report-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir;
}

/// Forks a child that logs into `dir`/logs (keeping `backtrace` records per thread) with a
/// Sentry client caching into `dir` and capturing logs, and runs `crash` there, which must end
/// in a segfault. Then starts a client on `dir` as the next run would and returns the crash
/// event it sends (a failure unless there is exactly one).
template <class Crash>
test_json::Value crash_event_of_child(IngestPeer& peer, const std::filesystem::path& dir,
                                      std::size_t backtrace, Crash crash) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    logging::LoggingOptions logging_options;
    logging_options.log_dir = (dir / "logs").string();
    logging_options.console = logging::ConsoleTarget::kNone;
    logging_options.backtrace = backtrace;
    logging::configure(logging_options);
    sentry::Options options;
    options.dsn = "http://0123456789abcdef0123456789abcdef@127.0.0.1:9/42";
    options.cache_dir = dir.string();
    options.capture_logs = true;
    sentry::init(options);
    crash();
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV)
      << "the child ended with status " << status << ", not by SIGSEGV";
  auto options = options_for(peer);
  options.cache_dir = dir.string();
  sentry::init(options);
  EXPECT_TRUE(sentry::flush(10s));
  const auto envelopes = peer.with_item("event");
  EXPECT_EQ(envelopes.size(), 1u);
  return envelopes.empty() ? test_json::Value{} : *envelopes[0].item("event");
}

TEST_F(CrashReport, ASegfaultNamesTheFaultingFunctionCarriesTheLastLogLineAndTheImages) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "the sanitizer runtime owns SIGSEGV (it reports the fault and exits itself)";
#endif
  const auto dir = fresh_dir("segv");
  IngestPeer peer;
  const test_json::Value event = crash_event_of_child(peer, dir, 0, [] {
    sentry::set_user({.id = "77", .username = "payer"});
    monitoring::StructuredLogger logger("billing");
    logger.info("about to charge", {{"amount", 990}});
    charge_card(g_card);
  });
  ASSERT_TRUE(event.has("exception"));

  const auto& values = event["exception"]["values"].array;
  ASSERT_EQ(values.size(), 1u);
  const auto& frames = values[0]["stacktrace"]["frames"].array;
  ASSERT_FALSE(frames.empty());
  const auto& innermost = frames.back();  // Sentry lists frames oldest call first
  EXPECT_NE(member(innermost, "function").find("charge_card"), std::string::npos)
      << "innermost: " << member(innermost, "function") << " in " << member(innermost, "package");
  for (const auto& frame : frames) {
    EXPECT_EQ(member(frame, "function").find("on_fatal_signal"), std::string::npos);
    EXPECT_EQ(member(frame, "filename").find("sigaction"), std::string::npos);
  }

  ASSERT_TRUE(event.has("breadcrumbs")) << "the log line before the crash is missing";
  const auto& crumbs = event["breadcrumbs"]["values"].array;
  ASSERT_FALSE(crumbs.empty()) << "the log line before the crash is missing";
  EXPECT_EQ(crumbs.back()["message"].string, "about to charge");
  EXPECT_EQ(crumbs.back()["category"].string, "billing");
  EXPECT_EQ(event["user"]["id"].string, "77");

  const std::string build_id = build_id_of_file(self_path());
  ASSERT_FALSE(build_id.empty()) << "the test binary has no build id";
  const test_json::Value* image = own_image(event);
  ASSERT_NE(image, nullptr) << "the executable is not among debug_meta.images";
  EXPECT_EQ((*image)["type"].string, "elf");
  EXPECT_EQ((*image)["code_id"].string, build_id);
  EXPECT_EQ((*image)["debug_id"].string, expected_debug_id(build_id));
  EXPECT_TRUE((*image)["image_addr"].string.starts_with("0x"));
  EXPECT_GT((*image)["image_size"].number, 0.0);
  std::filesystem::remove_all(dir);
}

// With LOG_BACKTRACE the records the crashing thread kept (below its level) become the
// crash report's last breadcrumbs, oldest first, after the records it wrote.
TEST_F(CrashReport, ACrashReportCarriesTheCrashingThreadsBacktrace) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "the sanitizer runtime owns SIGSEGV (it reports the fault and exits itself)";
#endif
  const auto dir = fresh_dir("backtrace");
  IngestPeer peer;
  const test_json::Value event = crash_event_of_child(peer, dir, 3, [] {
    monitoring::StructuredLogger logger("billing");
    for (int i = 1; i <= 5; ++i) logger.debug("step " + std::to_string(i));
    logger.info("about to charge");
    charge_card(g_card);
  });
  std::vector<std::string> messages;
  for (const auto& crumb : event["breadcrumbs"]["values"].array)
    messages.push_back(crumb["message"].string);
  // The last ones: the breadcrumb log is the process's, so earlier tests' may come first.
  ASSERT_GE(messages.size(), 4u);
  EXPECT_EQ(std::vector<std::string>(messages.end() - 4, messages.end()),
            (std::vector<std::string>{"about to charge", "step 3", "step 4", "step 5"}));
  EXPECT_EQ(std::count(messages.begin(), messages.end(), "step 2"), 0) << "more than 3 kept";
  std::filesystem::remove_all(dir);
}

// An object opened after init (a plugin) is in the crash record too: the worker refreshes the
// handler's module map when objects were loaded since.
TEST_F(CrashReport, ObjectsLoadedAfterInitAreListedInTheCrashRecord) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "the sanitizer runtime owns SIGSEGV (it reports the fault and exits itself)";
#endif
  // Part of glibc, and nothing here links it: loaded only by the dlopen below.
  constexpr const char* kLibrary = "libBrokenLocale.so.1";
  const auto dir = fresh_dir("dlopen");
  const pid_t pid = ::fork();
  if (pid == 0) {
    sentry::Options options;
    options.dsn = "http://0123456789abcdef0123456789abcdef@127.0.0.1:9/42";
    options.cache_dir = dir.string();
    options.capture_logs = false;
    options.http_timeout = 200ms;
    options.retry_backoff = 10ms;
    sentry::init(options);
    if (::dlopen(kLibrary, RTLD_NOW) == nullptr) ::_exit(3);
    sentry::capture_message("the worker looks at the loaded objects with every item");
    sentry::flush(5s);
    charge_card(g_card);
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 3) GTEST_SKIP() << kLibrary << " is missing";
  ASSERT_TRUE(WIFSIGNALED(status));
  // Images are listed as this process has them loaded (where the frames are moved to).
  ASSERT_NE(::dlopen(kLibrary, RTLD_NOW), nullptr);

  IngestPeer peer;
  auto options = options_for(peer);
  options.cache_dir = dir.string();
  sentry::init(options);
  ASSERT_TRUE(sentry::flush(10s));
  bool listed = false;
  for (const auto& envelope : peer.with_item("event")) {
    const test_json::Value& event = *envelope.item("event");
    if (!event.has("exception")) continue;  // the child's message, resent from the cache
    for (const auto& image : event["debug_meta"]["images"].array)
      listed |= image["code_file"].string.find(kLibrary) != std::string::npos;
  }
  EXPECT_TRUE(listed) << kLibrary << " is missing from the crash event's images";
  std::filesystem::remove_all(dir);
}

TEST(CrashReportDebugId, IsTheBuildIdsFirstSixteenBytesAsALittleEndianGuid) {
  std::string build_id;
  for (int i = 1; i <= 20; ++i) build_id.push_back(static_cast<char>(i));
  EXPECT_EQ(sentry::detail::debug_id_from_build_id(build_id),
            "04030201-0605-0807-090a-0b0c0d0e0f10");
  EXPECT_EQ(sentry::detail::hex_bytes(build_id), "0102030405060708090a0b0c0d0e0f1011121314");
  // A short build id is padded with zeros.
  EXPECT_EQ(sentry::detail::debug_id_from_build_id(std::string("\xab\xcd", 2)),
            "0000cdab-0000-0000-0000-000000000000");
}

[[gnu::noinline]] void refund_failed() {
  throw std::runtime_error("refund failed");
}

TEST_F(CrashReport, EveryEventWithNativeFramesListsTheLoadedImages) {
  IngestPeer peer;
  sentry::init(options_for(peer));
  try {
    refund_failed();
  } catch (...) {
    ASSERT_FALSE(sentry::capture_exception(std::current_exception()).empty());
  }
  ASSERT_FALSE(sentry::capture_message("no frames here").empty());
  ASSERT_TRUE(sentry::flush(10s));
  const auto envelopes = peer.with_item("event");
  ASSERT_EQ(envelopes.size(), 2u);
  bool saw_exception = false, saw_message = false;
  for (const auto& envelope : envelopes) {
    const test_json::Value& event = *envelope.item("event");
    if (event.has("exception")) {
      saw_exception = true;
      const test_json::Value* image = own_image(event);
      ASSERT_NE(image, nullptr);
      EXPECT_EQ((*image)["code_id"].string, build_id_of_file(self_path()));
      // libc is loaded too: every image is listed, not only the executable.
      EXPECT_GT(event["debug_meta"]["images"].array.size(), 1u);
    } else {
      saw_message = true;
      EXPECT_FALSE(event.has("debug_meta")) << "no native frames, no images";
    }
  }
  EXPECT_TRUE(saw_exception);
  EXPECT_TRUE(saw_message);
}

}  // namespace
