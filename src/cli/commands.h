// src/cli/commands.h — the `tessera` subcommands. Each returns a Status; main() prints a non-ok
// one as a single line and exits non-zero (2 for usage errors, 1 otherwise).
#pragma once

#include <string>
#include <vector>

#include "tessera/status.h"

namespace tessera::cli {

struct Command {
  const char* name;
  const char* summary;
  Status (*run)(const std::vector<std::string>& args);
};

const std::vector<Command>& commands();

class Args;

// The folder of --model, or the built-in demo model (made on first use); notes random weights on
// stderr. Shared by every command that loads a model.
Expected<std::string> resolve_model_dir(const Args& args);

// `tessera bench --offline` (src/cli/bench.cpp).
Status cmd_bench(const std::vector<std::string>& args);
// `tessera serve` (src/cli/serve.cpp; built when the server library is).
Status cmd_serve(const std::vector<std::string>& args);

}  // namespace tessera::cli
