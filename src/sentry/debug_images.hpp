#pragma once

// The loaded ELF images (executable and shared objects) with their GNU build ids: Sentry
// needs them (debug_meta.images) to symbolicate native frames of stripped binaries with the
// debug files uploaded for those ids.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sentry/event.hpp"

namespace monitoring::sentry::detail {

/// The images loaded now. Cached: re-read only after objects were loaded or unloaded
/// (dl_iterate_phdr's load/unload counters moved). Background threads.
std::shared_ptr<const std::vector<DebugImage>> loaded_images();

/// Sentry's debug id of an ELF image: the first 16 bytes of the build id (zero-padded) read
/// as a little-endian GUID, "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx".
std::string debug_id_from_build_id(std::string_view build_id);

/// Lowercase hex of `bytes`.
std::string hex_bytes(std::string_view bytes);

}  // namespace monitoring::sentry::detail
