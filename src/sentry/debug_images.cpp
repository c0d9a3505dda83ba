// Reading the loaded images through dl_iterate_phdr: address range from the PT_LOAD
// segments, build id from the NT_GNU_BUILD_ID note of a PT_NOTE segment (already mapped, so
// no file is opened).

#include "sentry/debug_images.hpp"

#include <elf.h>
#include <link.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <limits>
#include <mutex>

namespace monitoring::sentry::detail {
namespace {

std::string_view build_id_of(const dl_phdr_info& info) {
  for (int i = 0; i < info.dlpi_phnum; ++i) {
    const auto& header = info.dlpi_phdr[i];
    if (header.p_type != PT_NOTE) continue;
    const std::size_t align = header.p_align >= 8 ? 8 : 4;
    const auto* data = reinterpret_cast<const char*>(info.dlpi_addr + header.p_vaddr);
    std::size_t offset = 0;
    while (offset + sizeof(ElfW(Nhdr)) <= header.p_memsz) {
      ElfW(Nhdr) note;
      std::memcpy(&note, data + offset, sizeof note);
      const std::size_t name_at = offset + sizeof note;
      const std::size_t desc_at = name_at + ((note.n_namesz + align - 1) & ~(align - 1));
      const std::size_t next = desc_at + ((note.n_descsz + align - 1) & ~(align - 1));
      if (desc_at + note.n_descsz > header.p_memsz) break;
      if (note.n_type == NT_GNU_BUILD_ID && note.n_namesz == 4 &&
          std::memcmp(data + name_at, "GNU", 4) == 0 && note.n_descsz > 0)
        return {data + desc_at, note.n_descsz};
      offset = next;
    }
  }
  return {};
}

int collect_image(dl_phdr_info* info, std::size_t, void* data) {
  auto* images = static_cast<std::vector<DebugImage>*>(data);
  std::uintptr_t low = std::numeric_limits<std::uintptr_t>::max();
  std::uintptr_t high = 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const auto& header = info->dlpi_phdr[i];
    if (header.p_type != PT_LOAD) continue;
    low = std::min<std::uintptr_t>(low, info->dlpi_addr + header.p_vaddr);
    high = std::max<std::uintptr_t>(high, info->dlpi_addr + header.p_vaddr + header.p_memsz);
  }
  if (high == 0) return 0;
  DebugImage image;
  image.code_file = info->dlpi_name != nullptr ? info->dlpi_name : "";
  if (image.code_file.empty()) {  // the main program
    char exe[4096];
    const ssize_t length = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (length <= 0) return 0;
    image.code_file.assign(exe, static_cast<std::size_t>(length));
  }
  const long page = ::sysconf(_SC_PAGESIZE);
  image.image_addr = low & ~static_cast<std::uintptr_t>((page > 0 ? page : 4096) - 1);
  image.image_size = high - image.image_addr;
  const std::string_view build_id = build_id_of(*info);
  if (!build_id.empty()) {
    image.code_id = hex_bytes(build_id);
    image.debug_id = debug_id_from_build_id(build_id);
  }
  images->push_back(std::move(image));
  return 0;
}

struct LoadCounters {
  unsigned long long adds = 0;
  unsigned long long subs = 0;
  bool operator==(const LoadCounters&) const = default;
};

int read_counters(dl_phdr_info* info, std::size_t size, void* data) {
  auto* counters = static_cast<LoadCounters*>(data);
  if (size >= offsetof(dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
    counters->adds = info->dlpi_adds;
    counters->subs = info->dlpi_subs;
  }
  return 1;  // the counters are the same in every entry: the first suffices
}

}  // namespace

std::string hex_bytes(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) {
    const auto byte = static_cast<unsigned char>(c);
    out.push_back(kDigits[byte >> 4]);
    out.push_back(kDigits[byte & 15]);
  }
  return out;
}

std::string debug_id_from_build_id(std::string_view build_id) {
  unsigned char guid[16] = {};
  std::memcpy(guid, build_id.data(), std::min<std::size_t>(build_id.size(), sizeof guid));
  // The first three GUID fields (4, 2 and 2 bytes) are little-endian: reversed in the text.
  std::reverse(guid, guid + 4);
  std::reverse(guid + 4, guid + 6);
  std::reverse(guid + 6, guid + 8);
  const std::string hex =
      hex_bytes(std::string_view(reinterpret_cast<const char*>(guid), sizeof guid));
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20);
}

std::shared_ptr<const std::vector<DebugImage>> loaded_images() {
  // Leaked on purpose: a Sentry worker close() gave up on may still ask during exit.
  struct Cache {
    std::mutex mutex;
    LoadCounters seen;
    std::shared_ptr<const std::vector<DebugImage>> images;
  };
  static Cache* cache = new Cache();
  LoadCounters now;
  dl_iterate_phdr(read_counters, &now);
  std::lock_guard lock(cache->mutex);
  if (cache->images && now == cache->seen) return cache->images;
  auto images = std::make_shared<std::vector<DebugImage>>();
  dl_iterate_phdr(collect_image, images.get());
  cache->images = std::move(images);
  cache->seen = now;
  return cache->images;
}

}  // namespace monitoring::sentry::detail
