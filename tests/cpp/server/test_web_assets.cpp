// Tests of the embedded web UI: every file under web/ is in the binary byte for byte with the
// right content type, the table is sorted (find_web_asset binary-searches it), and lookups map "/"
// to index.html, ignore query strings, and never resolve anything outside the table.
#include "src/server/web_assets.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>

namespace tessera::server {
namespace {

namespace fs = std::filesystem;

// web/ lies beside tests/ in the source tree.
fs::path web_dir() { return fs::path(TESSERA_TEST_DATA) / ".." / ".." / "web"; }

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// What a browser needs for each kind of file the UI ships (a module script must be JavaScript).
std::string expected_content_type(const std::string& ext) {
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".png") return "image/png";
  if (ext == ".svg") return "image/svg+xml";
  return "(a type for " + ext + ")";
}

TEST(WebAssets, RootServesIndexHtml) {
  const WebAsset* root = find_web_asset("/");
  ASSERT_NE(root, nullptr);
  EXPECT_EQ(root->content_type, "text/html; charset=utf-8");
  EXPECT_NE(root->body.find("<!doctype html>"), std::string_view::npos);
  EXPECT_EQ(root, find_web_asset("/index.html"));
}

TEST(WebAssets, QueryStringAndFragmentAreIgnored) {
  const WebAsset* root = find_web_asset("/");
  EXPECT_EQ(find_web_asset("/?model=demo"), root);
  EXPECT_EQ(find_web_asset("/index.html?x=1#top"), root);
  EXPECT_EQ(find_web_asset("/#chat"), root);
}

TEST(WebAssets, UnknownAndHostilePathsFindNothing) {
  for (std::string_view path :
       {"", "index.html", "/nope.html", "/../CMakeLists.txt", "/./index.html", "//index.html",
        "/INDEX.HTML", "/index.html/", "/v1/models", "?", "/index.htm"}) {
    EXPECT_EQ(find_web_asset(path), nullptr) << "path: " << path;
  }
  // An embedded NUL must not truncate the comparison.
  EXPECT_EQ(find_web_asset(std::string_view("/index.html\0", 12)), nullptr);
}

TEST(WebAssets, TableIsSortedAndUnique) {
  const auto files = detail::embedded_web_files();
  ASSERT_FALSE(files.empty());
  for (std::size_t i = 1; i < files.size(); ++i) {
    EXPECT_LT(files[i - 1].path, files[i].path) << "at " << i;
  }
  for (const auto& file : files) {
    ASSERT_FALSE(file.path.empty());
    EXPECT_EQ(file.path.front(), '/');
    EXPECT_EQ(find_web_asset(file.path), &file.asset) << file.path;
  }
}

// Every file under web/ (hidden files and editor backups aside) is embedded, byte for byte, with
// the content type its extension calls for; nothing else is.
TEST(WebAssets, EmbedsEveryWebFileExactly) {
  const fs::path dir = web_dir();
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  std::set<std::string> on_disk;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    const std::string rel = fs::relative(entry.path(), dir).generic_string();
    if (rel.front() == '.' || rel.find("/.") != std::string::npos || rel.back() == '~') continue;
    on_disk.insert("/" + rel);
    const WebAsset* asset = find_web_asset("/" + rel);
    ASSERT_NE(asset, nullptr) << rel << " is not embedded (rebuild tessera_server?)";
    EXPECT_TRUE(asset->body == read_file(entry.path())) << rel << " differs from the file on disk";
    EXPECT_EQ(asset->content_type, expected_content_type(entry.path().extension().string()))
        << rel;
  }
  std::set<std::string> embedded;
  for (const auto& file : detail::embedded_web_files()) embedded.insert(std::string(file.path));
  EXPECT_EQ(embedded, on_disk);
}

}  // namespace
}  // namespace tessera::server
