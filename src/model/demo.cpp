// src/model/demo.cpp — the demo model, made on first use.
#include "src/model/demo.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "src/core/logging.h"
#include "src/model/make_model.h"

namespace tessera {

std::string tessera_home() {
  if (const char* h = std::getenv("TESSERA_HOME"); h && *h) return h;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/tessera";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.cache/tessera";
  return "/tmp/tessera";
}

Expected<std::string> ensure_demo_model() {
  namespace fs = std::filesystem;
  const std::string dir = tessera_home() + "/demo-tiny";
  if (fs::exists(dir + "/config.json") && fs::exists(dir + "/model.safetensors")) return dir;
  LOG_INFO("creating the demo model (preset 'tiny', RANDOM weights) in " << dir);
  const std::string tmp = dir + ".tmp-" + std::to_string(::getpid());
  std::error_code ec;
  fs::remove_all(tmp, ec);
  MakeModelOptions o;
  o.preset = "tiny";
  o.out_dir = tmp;
  o.seed = 0;
  TESSERA_RETURN_IF_ERROR(make_random_model(o));
  fs::remove_all(dir, ec);
  fs::rename(tmp, dir, ec);
  if (ec) return io_error(dir + ": cannot move the demo model into place: " + ec.message());
  return dir;
}

}  // namespace tessera
