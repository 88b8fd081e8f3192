// tests/cpp/server/test_prometheus.cpp — the /metrics exposition: a strict parser of Prometheus
// text format 0.0.4 (HELP/TYPE once per family and before its samples, valid names, escaped label
// values, Go-parsable numbers, no duplicate series, contiguous families, cumulative histogram
// buckets ending at +Inf = _count with _sum), plus the values of a known EngineMetrics and
// ServerCounters under concurrent use.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <regex>
#include <set>
#include <thread>

#include "src/server/prometheus.h"

namespace tessera::server {
namespace {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Parsed {
  std::map<std::string, std::string> types;  // family -> type
  std::vector<Sample> samples;
};

double parse_value(const std::string& s) {
  if (s == "+Inf") return INFINITY;
  if (s == "-Inf") return -INFINITY;
  if (s == "NaN") return NAN;
  size_t used = 0;
  double v = NAN;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
  }
  EXPECT_TRUE(used == s.size() && !s.empty()) << "value '" << s << "'";
  return v;
}

// The family a sample belongs to: its name, or without _bucket/_sum/_count for histograms.
std::string family_of(const std::string& name, const std::map<std::string, std::string>& types) {
  if (types.count(name)) return name;
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string s(suffix);
    if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
      const std::string base = name.substr(0, name.size() - s.size());
      if (types.count(base) && types.at(base) == "histogram") return base;
    }
  }
  return "";
}

Parsed parse_strict(const std::string& text) {
  Parsed p;
  static const std::regex kName("[a-zA-Z_:][a-zA-Z0-9_:]*");
  static const std::regex kLabel(R"(([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\n]|\\\\|\\\"|\\n)*)\")");
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n') << "the exposition ends with a newline";
  std::set<std::string> helped, closed, series;
  std::string current;  // the family whose samples come now
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();  // a last line without newline (reported above)
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    EXPECT_FALSE(line.empty()) << "no blank lines";
    if (line.rfind("# HELP ", 0) == 0) {
      const std::string rest = line.substr(7);
      const std::string name = rest.substr(0, rest.find(' '));
      EXPECT_TRUE(std::regex_match(name, kName)) << line;
      EXPECT_TRUE(helped.insert(name).second) << "HELP twice: " << name;
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream in(line.substr(7));
      std::string name, type, extra;
      in >> name >> type;
      EXPECT_FALSE(in >> extra) << line;
      EXPECT_TRUE(std::regex_match(name, kName)) << line;
      EXPECT_TRUE(type == "counter" || type == "gauge" || type == "histogram" || type == "summary" || type == "untyped")
          << line;
      EXPECT_FALSE(p.types.count(name)) << "TYPE twice: " << name;
      EXPECT_TRUE(helped.count(name)) << "HELP before TYPE: " << name;
      p.types[name] = type;
      if (!current.empty()) closed.insert(current);
      current = name;
      continue;
    }
    EXPECT_NE(line[0], '#') << "unknown comment: " << line;
    Sample s;
    const size_t brace = line.find('{');
    const size_t close = line.rfind('}');
    EXPECT_TRUE(brace != std::string::npos && close != std::string::npos && close > brace) << line;
    if (brace == std::string::npos || close == std::string::npos) continue;
    s.name = line.substr(0, brace);
    EXPECT_TRUE(std::regex_match(s.name, kName)) << line;
    std::string labels = line.substr(brace + 1, close - brace - 1);
    for (std::sregex_iterator it(labels.begin(), labels.end(), kLabel), end; it != end; ++it) {
      EXPECT_FALSE(s.labels.count((*it)[1])) << "label twice: " << line;
      s.labels[(*it)[1]] = (*it)[2];
    }
    // The labels must be exactly "k=\"v\"" pairs joined by commas.
    std::string rebuilt;
    for (std::sregex_iterator it(labels.begin(), labels.end(), kLabel), end; it != end; ++it) {
      if (!rebuilt.empty()) rebuilt += ',';
      rebuilt += it->str();
    }
    EXPECT_EQ(rebuilt, labels) << line;
    EXPECT_EQ(line[close + 1], ' ') << line;
    s.value = parse_value(line.substr(close + 2));
    const std::string fam = family_of(s.name, p.types);
    EXPECT_FALSE(fam.empty()) << "sample before its TYPE: " << line;
    EXPECT_EQ(fam, current) << "samples of a family are contiguous: " << line;
    EXPECT_FALSE(closed.count(fam)) << line;
    EXPECT_TRUE(series.insert(s.name + "{" + labels + "}").second) << "duplicate series: " << line;
    p.samples.push_back(std::move(s));
  }
  // Histograms: buckets ascending in le, cumulative, +Inf last and equal to _count; _sum present.
  for (const auto& [name, type] : p.types) {
    if (type != "histogram") continue;
    std::vector<std::pair<double, double>> buckets;
    double count = -1, sum = NAN;
    for (const Sample& s : p.samples) {
      if (s.name == name + "_bucket") buckets.emplace_back(parse_value(s.labels.at("le")), s.value);
      if (s.name == name + "_count") count = s.value;
      if (s.name == name + "_sum") sum = s.value;
    }
    EXPECT_GE(buckets.size(), 2u) << name;
    for (size_t i = 1; i < buckets.size(); ++i) {
      EXPECT_LT(buckets[i - 1].first, buckets[i].first) << name;
      EXPECT_LE(buckets[i - 1].second, buckets[i].second) << name << " buckets are cumulative";
    }
    EXPECT_TRUE(std::isinf(buckets.back().first)) << name;
    EXPECT_EQ(buckets.back().second, count) << name;
    EXPECT_FALSE(std::isnan(sum)) << name << "_sum";
  }
  return p;
}

double value_of(const Parsed& p, const std::string& name, const std::map<std::string, std::string>& labels = {}) {
  for (const Sample& s : p.samples) {
    if (s.name != name) continue;
    bool match = true;
    for (const auto& [k, v] : labels) match = match && s.labels.count(k) && s.labels.at(k) == v;
    if (match) return s.value;
  }
  ADD_FAILURE() << "no sample " << name;
  return NAN;
}

// How many failures the parser reports on `text` (intercepted, so the test itself passes).
int parser_failures(const std::string& text) {
  ::testing::TestPartResultArray results;
  {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &results);
    parse_strict(text);
  }
  return results.size();
}

TEST(Prometheus, TheParserIsStrict) {
  const std::string ok = "# HELP a:b_total x\n# TYPE a:b_total counter\na:b_total{m=\"v\"} 3\n";
  EXPECT_EQ(parser_failures(ok), 0);
  EXPECT_GT(parser_failures("a:b_total{m=\"v\"} 3\n"), 0) << "sample without TYPE";
  EXPECT_GT(parser_failures("# TYPE a counter\na{} 3\n"), 0) << "TYPE without HELP";
  EXPECT_GT(parser_failures("# HELP a x\n# TYPE a counter\na{m=\"v\"} 3"), 0) << "no final newline";
  EXPECT_GT(parser_failures("# HELP a x\n# TYPE a counter\na{m=\"a\"b\"} 3\n"), 0) << "unescaped quote";
  EXPECT_GT(parser_failures("# HELP a x\n# TYPE a counter\na{m=\"v\"} 3\na{m=\"v\"} 4\n"), 0) << "duplicate";
  EXPECT_GT(parser_failures("# HELP a x\n# TYPE a counter\na{m=\"v\"} three\n"), 0) << "value";
  EXPECT_GT(parser_failures("# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
                            "h_sum{} 1\nh_count{} 1\n"),
            0)
      << "buckets not cumulative";
  EXPECT_GT(parser_failures("# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
                            "h_sum{} 1\nh_count{} 3\n"),
            0)
      << "+Inf != count";
}

TEST(Prometheus, EmptyMetricsParse) {
  const Parsed p = parse_strict(prometheus_text(EngineMetrics{}, ServerCounters::Snapshot{}, "demo"));
  for (const char* name : {"tessera:requests_running", "tessera:requests_waiting", "tessera:kv_cache_usage_ratio",
                           "tessera:prompt_tokens_total", "tessera:generation_tokens_total",
                           "tessera:num_preemptions_total", "tessera:prefix_cache_queries_total",
                           "tessera:prefix_cache_hits_total", "tessera:time_to_first_token_seconds",
                           "tessera:inter_token_latency_seconds", "tessera:e2e_request_latency_seconds"})
    EXPECT_TRUE(p.types.count(name)) << name;
  EXPECT_EQ(p.types.at("tessera:requests_running"), "gauge");
  EXPECT_EQ(p.types.at("tessera:prompt_tokens_total"), "counter");
  EXPECT_EQ(p.types.at("tessera:time_to_first_token_seconds"), "histogram");
  for (const Sample& s : p.samples) EXPECT_EQ(s.labels.at("model_name"), "demo") << s.name;
}

TEST(Prometheus, ValuesOfKnownMetrics) {
  EngineMetrics m;
  m.num_running = 3;
  m.num_waiting = 7;
  m.kv_cache_usage = 0.375;
  m.num_kv_blocks = 512;
  m.num_preemptions = 2;
  m.prefix_cache_query_tokens = 1000;
  m.prefix_cache_hit_tokens = 250;
  m.generated_tokens = 4321;
  m.computed_tokens = 9000;
  m.num_steps = 77;
  m.requests_finished[0] = 5;
  m.requests_finished[1] = 6;
  m.requests_finished[2] = 1;
  for (double v : {0.0005, 0.003, 0.003, 0.2, 500.0}) m.time_to_first_token_s.observe(v);
  m.e2e_latency_s.observe(1.5);
  ServerCounters counters;
  counters.count_admitted(40);
  counters.count_admitted(2);
  counters.count_response("/v1/completions", 200);
  counters.count_response("/v1/completions", 200);
  counters.count_response("/v1/completions", 400);
  counters.count_response("/weird\"route\\\n", 404);
  counters.count_disconnect();
  const Parsed p = parse_strict(prometheus_text(m, counters.snapshot(), "my \"model\"\n"));
  const std::map<std::string, std::string> none;
  EXPECT_EQ(value_of(p, "tessera:requests_running"), 3);
  EXPECT_EQ(value_of(p, "tessera:requests_waiting"), 7);
  EXPECT_EQ(value_of(p, "tessera:kv_cache_usage_ratio"), 0.375);
  EXPECT_EQ(value_of(p, "tessera:kv_cache_blocks"), 512);
  EXPECT_EQ(value_of(p, "tessera:prompt_tokens_total"), 42);
  EXPECT_EQ(value_of(p, "tessera:requests_admitted_total"), 2);
  EXPECT_EQ(value_of(p, "tessera:generation_tokens_total"), 4321);
  EXPECT_EQ(value_of(p, "tessera:num_preemptions_total"), 2);
  EXPECT_EQ(value_of(p, "tessera:prefix_cache_queries_total"), 1000);
  EXPECT_EQ(value_of(p, "tessera:prefix_cache_hits_total"), 250);
  EXPECT_EQ(value_of(p, "tessera:sample_streams_finished_total", {{"finished_reason", "length"}}), 6);
  EXPECT_EQ(value_of(p, "tessera:sample_streams_finished_total", {{"finished_reason", "abort"}}), 1);
  EXPECT_EQ(value_of(p, "tessera:http_requests_total", {{"route", "/v1/completions"}, {"code", "200"}}), 2);
  EXPECT_EQ(value_of(p, "tessera:http_requests_total", {{"route", "/v1/completions"}, {"code", "400"}}), 1);
  EXPECT_EQ(value_of(p, "tessera:http_requests_total", {{"route", "/weird\\\"route\\\\\\n"}}), 1) << "escaped";
  EXPECT_EQ(value_of(p, "tessera:client_disconnects_total"), 1);
  EXPECT_EQ(p.samples[0].labels.at("model_name"), "my \\\"model\\\"\\n");
  // TTFT: 0.0005 <= 0.001; 0.003 twice <= 0.005; 0.2 <= 0.25; 500 only in +Inf.
  const std::string ttft = "tessera:time_to_first_token_seconds";
  EXPECT_EQ(value_of(p, ttft + "_bucket", {{"le", "0.001"}}), 1);
  EXPECT_EQ(value_of(p, ttft + "_bucket", {{"le", "0.0025"}}), 1);
  EXPECT_EQ(value_of(p, ttft + "_bucket", {{"le", "0.005"}}), 3);
  EXPECT_EQ(value_of(p, ttft + "_bucket", {{"le", "0.25"}}), 4);
  EXPECT_EQ(value_of(p, ttft + "_bucket", {{"le", "100"}}), 4);
  EXPECT_EQ(value_of(p, ttft + "_bucket", {{"le", "+Inf"}}), 5);
  EXPECT_EQ(value_of(p, ttft + "_count"), 5);
  EXPECT_DOUBLE_EQ(value_of(p, ttft + "_sum"), 0.0005 + 0.003 + 0.003 + 0.2 + 500.0);
  EXPECT_EQ(value_of(p, "tessera:e2e_request_latency_seconds_bucket", {{"le", "2.5"}}), 1);
  EXPECT_EQ(value_of(p, "tessera:e2e_request_latency_seconds_bucket", {{"le", "1"}}), 0);
}

TEST(Prometheus, RoutesAreBoundedAndCountersThreadSafe) {
  ServerCounters c;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&c, t] {
      for (int i = 0; i < 1000; ++i) {
        std::string route = "/r";  // appended: GCC 12's -Wrestrict misfires on "/r" + string at -O3
        route += std::to_string((t * 1000 + i) % 50);
        c.count_response(route, 200);
        c.count_admitted(3);
      }
    });
  for (auto& t : threads) t.join();
  const ServerCounters::Snapshot s = c.snapshot();
  EXPECT_EQ(s.admitted, 8000);
  EXPECT_EQ(s.prompt_tokens, 24000);
  std::set<std::string> routes;
  int64_t total = 0;
  for (const auto& [key, n] : s.responses) {
    routes.insert(key.first);
    total += n;
  }
  EXPECT_EQ(total, 8000);
  EXPECT_EQ(routes.size(), ServerCounters::kMaxRoutes + 1) << "32 routes and \"other\"";
  EXPECT_TRUE(routes.count("other"));
  parse_strict(prometheus_text(EngineMetrics{}, s, "demo"));
}

}  // namespace
}  // namespace tessera::server
