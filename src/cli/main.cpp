// src/cli/main.cpp — the `tessera` command: dispatch to a subcommand, print errors as one line.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "src/cli/commands.h"

namespace {

void print_usage() {
  std::printf("tessera — LLM inference engine\n\nusage: tessera <command> [flags]   (tessera <command> --help)\n\ncommands:\n");
  for (const auto& c : tessera::cli::commands()) std::printf("  %-12s %s\n", c.name, c.summary);
  std::printf("\nWith no --model, commands use the built-in demo model (random weights).\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "help")) {
    print_usage();
    return argc < 2 ? 2 : 0;
  }
  if (!std::strcmp(argv[1], "--version")) {
    std::printf("tessera 0.1.0\n");
    return 0;
  }
  std::vector<std::string> args(argv + 2, argv + argc);
  for (const auto& c : tessera::cli::commands()) {
    if (c.name != std::string(argv[1])) continue;
    try {
      tessera::Status s = c.run(args);
      if (s.is_ok()) return 0;
      std::fprintf(stderr, "tessera %s: error: %s\n", c.name, s.message().c_str());
      return s.code() == tessera::StatusCode::kInvalidArgument ? 2 : 1;
    } catch (const std::exception& e) {  // e.g. std::bad_alloc: still one line, no abort
      std::fprintf(stderr, "tessera %s: error: %s\n", c.name, e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "tessera: unknown command '%s' (try tessera --help)\n", argv[1]);
  return 2;
}
