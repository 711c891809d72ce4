// The gateway built without its console (-DTIDEGATE_CONSOLE=OFF): no assets;
// "/" answers that the console is not built in (docs/console.md).
#include "gateway/console/console_assets.hpp"

namespace tidegate::console {

std::span<const ConsoleAsset> console_assets() { return {}; }

}  // namespace tidegate::console
