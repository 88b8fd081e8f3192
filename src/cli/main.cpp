// src/cli/main.cpp — the `tessera` command: dispatch to a subcommand (naming the nearest one for
// a typo), print errors as one line.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "src/cli/args.h"
#include "src/cli/commands.h"

namespace {

void print_usage() {
  std::printf("tessera — LLM inference engine\n\nusage: tessera <command> [flags]   (tessera <command> --help)\n\ncommands:\n");
  for (const auto& c : tessera::cli::commands()) std::printf("  %-12s %s\n", c.name, c.summary);
  std::printf(
      "\nThe model is -m DIR, --model DIR or a bare DIR (tessera serve DIR); with none,\n"
      "commands use the built-in demo model (random weights).\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") ||
      !std::strcmp(argv[1], "help")) {
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
  std::vector<std::string> names;
  for (const auto& c : tessera::cli::commands()) names.emplace_back(c.name);
  if (auto near = tessera::cli::nearest_name(argv[1], names)) {
    std::fprintf(stderr, "tessera: unknown command '%s' (did you mean %s?)\n", argv[1],
                 near->c_str());
  } else {
    std::fprintf(stderr, "tessera: unknown command '%s' (try tessera --help)\n", argv[1]);
  }
  return 2;
}
