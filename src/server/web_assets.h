// web_assets.h — the browser UI (web/) compiled into the binary, so `tessera serve` needs no files
// beside it. web_assets.cmake turns every file under web/ into a byte string in a generated .cpp at
// build time; this header is the one way in. Invariants: every asset lives for the whole program
// (string_views into static storage), paths are URL paths beginning with '/', and a lookup is an
// exact match against the embedded table, so no request path can reach a file outside web/.
#pragma once

#include <span>
#include <string_view>

namespace tessera::server {

struct WebAsset {
  std::string_view content_type;  // e.g. "text/html; charset=utf-8"
  std::string_view body;          // the file's bytes, exactly as they are in web/
};

// The asset served for a GET of `path` (the request target; a query string or fragment is
// ignored). "/" and any path ending in '/' name that folder's index.html. nullptr when no asset
// has that path.
const WebAsset* find_web_asset(std::string_view path);

namespace detail {
// One embedded file; the generated table is sorted by path (byte order) and has no duplicates.
struct EmbeddedWebFile {
  std::string_view path;  // "/index.html"
  WebAsset asset;
};
// Defined by the .cpp that web_assets.cmake generates.
std::span<const EmbeddedWebFile> embedded_web_files();
}  // namespace detail

}  // namespace tessera::server
