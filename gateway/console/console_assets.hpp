#pragma once
// The console's browser files, compiled into the gateway at build time
// (gateway/console/embed_assets.cmake) so it works with no network at all.
// Built with -DTIDEGATE_CONSOLE=OFF the table is empty. Immutable; any thread.
#include <span>
#include <string_view>

namespace tidegate::console {

struct ConsoleAsset {
  std::string_view path;          // as requested: "/" or "/console/<file>"
  std::string_view content_type;
  std::string_view body;
  std::string_view etag;          // quoted, from the content's SHA-256
};

std::span<const ConsoleAsset> console_assets();

// nullptr when no asset has that path.
inline const ConsoleAsset* find_console_asset(std::string_view path) {
  for (const auto& asset : console_assets())
    if (asset.path == path) return &asset;
  return nullptr;
}

}  // namespace tidegate::console
