// src/model/demo.h — the built-in demo model: a `make-model --preset tiny` checkpoint with random
// weights, created on first use under $TESSERA_HOME (default $XDG_CACHE_HOME/tessera or
// ~/.cache/tessera) as demo-tiny/. Creation writes to a temporary folder and renames it, so an
// interrupted first run never leaves a half-written model behind.
#pragma once

#include <string>

#include "tessera/status.h"

namespace tessera {

std::string tessera_home();
// Returns the demo model's folder, creating it if needed.
Expected<std::string> ensure_demo_model();

}  // namespace tessera
