// A binary whose only test skips: gtest_main_reports_skipped (tests/cpp/CMakeLists.txt) checks that
// our main() exits 77 for it, the code ctest turns into "Skipped" (GoogleTest's main exits 0).
#include <gtest/gtest.h>

TEST(GtestMain, EveryTestSkips) {
  GTEST_SKIP() << "this binary exists to be skipped";
}
