// web_assets.cpp — looks a request path up in the table web_assets.cmake generates from web/.
// The table is sorted by path, so a lookup is a binary search; nothing here touches the file system.
#include "src/server/web_assets.h"

#include <algorithm>
#include <string>

namespace tessera::server {

const WebAsset* find_web_asset(std::string_view path) {
  // The query string and fragment never name a different file.
  path = path.substr(0, path.find_first_of("?#"));
  if (path.empty() || path.front() != '/') return nullptr;
  std::string key(path);
  if (key.back() == '/') key += "index.html";

  const auto files = detail::embedded_web_files();
  const auto it = std::lower_bound(
      files.begin(), files.end(), key,
      [](const detail::EmbeddedWebFile& file, const std::string& k) { return file.path < k; });
  if (it == files.end() || it->path != key) return nullptr;
  return &it->asset;
}

}  // namespace tessera::server
