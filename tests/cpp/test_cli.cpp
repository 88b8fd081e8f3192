// The `tessera` binary end to end: each command on a small model, and its flags: every usage
// error one stderr line naming the flag (exit 2), aliases, --help. Bad model files are
// test_cli_files.cpp's. The backend flags (--device, --dtype, ...) and `bench`'s latency
// mode too; the cpu output of generate and logits is pinned to SequenceRunner over LlamaModel,
// the path the commands took before the ModelRunner seam.
#include <algorithm>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "kernels/cpu/sampling.h"
#include "src/core/mapped_file.h"
#include "src/core/npy.h"
#include "src/model/make_model.h"
#include "src/model/sequence_runner.h"
#include "tests/cpp/cli_test_util.h"

namespace tessera {
namespace {

using namespace cli_test;  // NOLINT: the helpers are this file's vocabulary

TEST(Cli, GenerateStreamsTokensFromTheDemoModel) {
  CmdResult r = run("generate -n 5 --seed 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count_lines(r.out), 1);
  std::istringstream ids(r.out);
  int n = 0, id;
  while (ids >> id) {
    EXPECT_GE(id, 0);
    EXPECT_LT(id, 4096);
    ++n;
  }
  EXPECT_EQ(n, 5);
  EXPECT_NE(r.err.find("RANDOM weights"), std::string::npos);
  EXPECT_NE(r.err.find("tok/s"), std::string::npos);
  // Same seed, same tokens; greedy is independent of the seed.
  EXPECT_EQ(run("generate -n 5 --seed 1").out, r.out);
  EXPECT_EQ(run("generate -n 4 --temperature 0 --seed 1").out, run("generate -n 4 --temperature 0 --seed 2").out);
}

TEST(Cli, LogitsPerplexityInfoAndMakeModel) {
  const std::string dir = make_model_dir("good");
  const std::string npy = (kTmp / "logits.npy").string();
  CmdResult r = run("logits --model " + dir + " --prompt-ids 1,2,3,250 --out " + npy);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto a = read_npy(npy);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->shape, (Shape{4, 256}));
  EXPECT_EQ(a->descr, "<f4");

  const std::string ids = (kTmp / "ids.txt").string();
  std::ofstream(ids) << "1 2 3 4 5\n6,7,8\n9 10\n";
  r = run("perplexity --model " + dir + " --file " + ids + " --ctx 4");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("perplexity: "), std::string::npos);
  EXPECT_NE(r.out.find("over 7 predicted tokens"), std::string::npos) << r.out;  // windows of 4,4,2

  r = run("info --model " + dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("LlamaForCausalLM (random weights)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("4 heads, 2 kv heads, head_dim 16"), std::string::npos) << r.out;

  const std::string made = (kTmp / "made").string();
  fs::remove_all(made);
  r = run("make-model --preset tiny --seed 4 --dtype f16 --out " + made);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(made + "/model.safetensors"));
  EXPECT_TRUE(fs::exists(made + "/README.md"));
}

std::string join_ids(const std::vector<int32_t>& ids, const char* sep) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? sep : "") + std::to_string(ids[i]);
  return s;
}

// generate (greedy, top-k 1 and sampled) and logits on the cpu give exactly what SequenceRunner
// over LlamaModel gives: 512-token prompt chunks, the sampler's draws, whatever --block-size.
TEST(Cli, CpuOutputMatchesSequenceRunnerOverLlamaModel) {
  const std::string dir = make_model_dir("pinned");
  auto model = LlamaModel::load(dir).value();
  const int64_t vocab = model->config().vocab_size;
  std::vector<int32_t> prompt;
  for (int32_t i = 0; i < 600; ++i)
    prompt.push_back((i * 37 + 5) % static_cast<int32_t>(vocab));  // > one chunk
  const int64_t n = 6;

  // Tokens the old generate loop picks: sample_token on the last logits, draw (seed, i).
  auto expected_tokens = [&](const kernels::cpu::SamplingParams& sp, uint64_t seed) {
    auto seq = SequenceRunner::create(*model, static_cast<int64_t>(prompt.size()) + n).value();
    auto logits = seq.append(prompt).value();
    std::vector<int32_t> out;
    for (int64_t i = 0; i < n; ++i) {
      out.push_back(kernels::cpu::sample_token(
          logits.data(), vocab, sp, kernels::cpu::uniform_from(seed, static_cast<uint64_t>(i))));
      if (i + 1 < n) logits = seq.append({out.back()}).value();
    }
    return join_ids(out, " ") + "\n";
  };
  const std::string base =
      "generate --model " + dir + " -n 6 --ignore-eos --prompt-ids " + join_ids(prompt, ",");
  kernels::cpu::SamplingParams greedy;
  greedy.temperature = 0.0f;
  CmdResult r = run(base + " --temperature 0");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, expected_tokens(greedy, 0));
  EXPECT_EQ(run(base + " --temperature 0 --device cpu --dtype f32 --block-size 5").out, r.out);
  EXPECT_EQ(run(base + " --temperature 0.7 --top-k 1").out, r.out);  // top-k 1 is greedy too
  kernels::cpu::SamplingParams sampled;
  sampled.temperature = 1.5f;
  r = run(base + " --temperature 1.5 --seed 9");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, expected_tokens(sampled, 9));

  const std::string npy = (kTmp / "pinned.npy").string();
  r = run("logits --model " + dir + " --block-size 32 --out " + npy + " --prompt-ids " +
          join_ids(prompt, ","));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto a = read_npy(npy).value();
  ASSERT_EQ(a.shape, (Shape{600, vocab}));
  auto seq = SequenceRunner::create(*model, 600).value();
  const std::vector<float> want = seq.append(prompt, /*all_logits=*/true).value();
  ASSERT_EQ(a.data.size(), want.size() * sizeof(float));
  EXPECT_EQ(std::memcmp(a.data.data(), want.data(), a.data.size()), 0)
      << "logits differ from SequenceRunner's";
}

// --device and the flags that go with it: cuda is a clear error on a build without CUDA, and
// every bad value is rejected before a model is loaded.
TEST(CliErrors, DeviceFlags) {
#ifndef TESSERA_WITH_CUDA
  for (const std::string cmd : {"generate -n 1", "logits --prompt-ids 1,2 --out /tmp/x.npy",
                                "bench --batch 1 --input-len 4 --output-len 2"})
    expect_one_error(run(cmd + " --device cuda"), "cuda", "no CUDA support");
  expect_one_error(run("generate -n 1 --device cuda:1 --dtype f16"), "cuda:1", "no CUDA support");
#endif
  const std::string ids = (kTmp / "ppl_ids.txt").string();
  std::ofstream(ids) << "1 2 3\n";
  expect_one_error(run("perplexity --file " + ids + " --device gpu"), "--device",
                   "must be cpu, cuda or cuda:N, got 'gpu'");
  expect_one_error(run("generate --device tpu"), "--device",
                   "must be cpu, cuda or cuda:N, got 'tpu'");
  expect_one_error(run("generate --device cuda:x"), "--device", "got 'cuda:x'");
  expect_one_error(run("generate --device cuda:"), "--device", "got 'cuda:'");
  expect_one_error(run("generate --dtype bf16"), "--dtype bf16", "the cpu computes in f32");
  expect_one_error(run("logits --prompt-ids 1 --out /tmp/x.npy --device cuda --dtype f32"),
                   "--dtype", "bf16 or f16");
  expect_one_error(run("generate --device cuda --dtype int8"), "--dtype", "got 'int8'");
  expect_one_error(run("generate --gpu-memory-fraction 0.5"), "--gpu-memory-fraction",
                   "applies to --device cuda");
  expect_one_error(run("generate --device cuda --gpu-memory-fraction 0"), "--gpu-memory-fraction",
                   "(0, 1]");
  expect_one_error(run("generate --device cuda --gpu-memory-fraction 1.5"), "--gpu-memory-fraction",
                   "(0, 1]");
  expect_one_error(run("generate --block-size 0"), "--block-size", "must be in");
  // f32 is what the cpu computes in: accepted.
  CmdResult r = run("generate -n 2 --device cpu --dtype f32");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find(" on cpu in "), std::string::npos) << r.err;
}

// `tessera bench` latency mode on the cpu: bench/e2e/decode.py's JSON schema, numbers that agree.
TEST(Cli, BenchLatencyWritesTheJsonSchema) {
  const std::string dir = make_model_dir("bench");
  const ModelConfig cfg = load_model_config(dir).value();
  const std::string json = (kTmp / "bench.json").string();
  fs::remove(json);
  CmdResult r =
      run("bench --model " + dir + " --batch 1,2 --input-len 8 --output-len 4 --json " + json);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("| batch | prefill ms"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("|     1 |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("|     2 |"), std::string::npos) << r.out;
  const Json j = parse_json(read_text_file(json).value(), json).value();
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.push_back(k);
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys,
            (std::vector<std::string>{"device", "dtype", "input_len", "model", "num_parameters",
                                      "output_len", "results", "weights_bytes"}));
  EXPECT_EQ(j["model"], dir);
  EXPECT_EQ(j["device"], "cpu");
  EXPECT_EQ(j["dtype"], "f32");
  EXPECT_EQ(j["input_len"], 8);
  EXPECT_EQ(j["output_len"], 4);
  EXPECT_EQ(j["num_parameters"], cfg.num_parameters());
  EXPECT_EQ(j["weights_bytes"], cfg.num_parameters() * 4);  // fp32 on the cpu
  // Two sequences of 8 + 4 tokens, one 16-token block each: K and V of every layer, fp32.
  const int64_t kv_bytes = 2 * (2 * cfg.num_layers * 16 * cfg.kv_size() * 4);
  ASSERT_EQ(j["results"].size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const Json& row = j["results"][i];
    const double b = static_cast<double>(i + 1);
    EXPECT_EQ(row.size(), 7u) << row.dump();
    EXPECT_EQ(row["batch"], i + 1);
    EXPECT_EQ(row["kv_cache_bytes"], kv_bytes);
    EXPECT_EQ(row["peak_memory_bytes"], cfg.num_parameters() * 4 + kv_bytes);
    const double prefill_ms = row["prefill_ms"], step_ms = row["decode_ms_per_step"];
    EXPECT_GT(prefill_ms, 0.0);
    EXPECT_LT(prefill_ms, 60e3);
    EXPECT_GT(step_ms, 0.0);
    EXPECT_NEAR(row["prefill_tokens_per_s"].get<double>(), b * 8 / (prefill_ms / 1e3),
                1e-6 * b * 8 / (prefill_ms / 1e3));
    EXPECT_NEAR(row["decode_tokens_per_s"].get<double>(), b / (step_ms / 1e3),
                1e-6 * b / (step_ms / 1e3));
  }

  // One output token: no decode step to time, so the decode numbers are null, not zero.
  r = run("bench --model " + dir + " --batch 3 --input-len 5 --output-len 1 --warmup 0 --json " +
          json);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json one = parse_json(read_text_file(json).value(), json).value();
  EXPECT_TRUE(one["results"][0]["decode_ms_per_step"].is_null());
  EXPECT_TRUE(one["results"][0]["decode_tokens_per_s"].is_null());
  EXPECT_GT(one["results"][0]["prefill_ms"].get<double>(), 0.0);
}

TEST(CliErrors, BenchLatencyFlags) {
  const std::string m = "bench --input-len 4 --output-len 2";
  expect_one_error(run("bench"), "--batch", "--offline");
  expect_one_error(run(m + " --batch 1,x"), "--batch", "got '1,x'");
  expect_one_error(run(m + " --batch 1,,2"), "--batch", "separated by commas");
  expect_one_error(run(m + " --batch ''"), "--batch", "separated by commas");
  expect_one_error(run(m + " --batch 0,4"), "--batch", "must be in [1, 65536], got 0");
  expect_one_error(run(m + " --batch -1"), "--batch", "separated by commas");
  expect_one_error(run("bench --batch 1 --input-len 0"), "--input-len", "must be in");
  expect_one_error(run("bench --batch 1 --output-len 0"), "--output-len", "must be in");
  expect_one_error(run("bench --batch 1 --warmup x"), "--warmup", "must be an integer");
  expect_one_error(run("bench --batch 1 --input-len 2000 --output-len 49"), "2049 tokens",
                   "context of 2048");
  expect_one_error(run(m + " --batch 1 --num-prompts 3"), "--num-prompts",
                   "applies to bench --offline only");
  expect_one_error(run("bench --offline --batch 3"), "--batch",
                   "applies to bench without --offline only");
  // The engine's device flags are checked before anything loads.
  expect_one_error(run("bench --offline --device gpu"), "--device", "cpu, cuda or cuda:N");
  expect_one_error(run("bench --offline --gpu-memory-fraction 0.5"), "--gpu-memory-fraction", "not cpu");
}

TEST(CliErrors, UsageErrors) {
  CmdResult r = run("frobnicate");
  EXPECT_EQ(r.exit_code, 2);
  expect_one_error(run("generate --temprature 0.5"), "--temprature", "unknown flag");
  expect_one_error(run("generate -n abc"), "-n", "must be an integer");
  expect_one_error(run("generate --n abc"), "--n", "must be an integer");
  expect_one_error(run("generate --n 3 -n 4"), "--n", "given twice");
  expect_one_error(run("make-model stray"), "stray", "unexpected argument");
  // A bare word on a command that takes a model is the model folder, and the error says so.
  expect_one_error(run("generate stray"), "stray", "no such model folder or GGUF file (a bare argument is the model");
  expect_one_error(run("generate --top-p 2"), "--top-p", "must be in");
  expect_one_error(run("generate --prompt-ids 1,x"), "--prompt-ids", "expected token ids");
  expect_one_error(run("generate --prompt-ids 99999"), "99999", "outside the vocabulary");
  expect_one_error(run("make-model --preset gpt-9 --out /tmp/x"), "gpt-9", "unknown preset");
  expect_one_error(run("generate --model /nonexistent/model"), "/nonexistent/model", "no such model folder");
  expect_one_error(run("perplexity --file /nonexistent/ids.txt"), "/nonexistent/ids.txt", "no such file");
}

// `serve` rejects bad flags before it binds a port or loads anything (so none of these hangs).
TEST(CliErrors, ServeFlags) {
  expect_one_error(run("serve --port abc"), "--port", "must be an integer");
  expect_one_error(run("serve --port 70000"), "--port", "must be in [0, 65535]");
  expect_one_error(run("serve --max-num-seqs 0"), "--max-num-seqs", "must be in");
  expect_one_error(run("serve --max-queue x"), "--max-queue", "must be an integer");
  expect_one_error(run("serve --bogus"), "--bogus", "unknown flag");
  expect_one_error(run("serve --model /nonexistent/model"), "/nonexistent/model", "no such model folder");
  expect_one_error(run("serve --max-connections -1"), "--max-connections", "must be in [0, ");
  expect_one_error(run("serve --max-connections x"), "--max-connections", "must be an integer");
  expect_one_error(run("serve --disable-log-requests --enable-log-requests"),
                   "--disable-log-requests and --enable-log-requests", "give one");
  expect_one_error(run("serve --disable-log-requests=1"), "--disable-log-requests", "takes no value");
}

// The spellings vLLM and llama.cpp users type: the model as a bare argument (`vllm serve DIR`) or
// -m (llama.cpp), --gpu-memory-utilization and --max-tokens, each the same flag as tessera's name.
TEST(Cli, ModelAsArgumentAndFlagAliases) {
  const std::string dir = make_model_dir("aliases");
  const CmdResult by_flag = run("info --model " + dir);
  ASSERT_EQ(by_flag.exit_code, 0) << by_flag.err;
  for (const std::string& form : {"info " + dir, "info -m " + dir, "info --model=" + dir}) {
    const CmdResult r = run(form);
    ASSERT_EQ(r.exit_code, 0) << form << ": " << r.err;
    EXPECT_EQ(r.out, by_flag.out) << form;
  }
  // generate: -m, a bare DIR after the flags, --max-tokens = -n = --n.
  const CmdResult n3 = run("generate -m " + dir + " -n 3 --temperature 0");
  ASSERT_EQ(n3.exit_code, 0) << n3.err;
  std::istringstream ids(n3.out);
  int count = 0, id;
  while (ids >> id) ++count;
  EXPECT_EQ(count, 3) << n3.out;
  EXPECT_EQ(run("generate --temperature 0 --max-tokens 3 " + dir).out, n3.out);
  EXPECT_EQ(run("generate --temperature 0 --n=3 --model " + dir).out, n3.out);
  // tokenize and detokenize take it too.
  const CmdResult tok = run("tokenize " + dir + " --text hi");
  ASSERT_EQ(tok.exit_code, 0) << tok.err;
  EXPECT_EQ(tok.out, run("tokenize --model " + dir + " --text hi").out);
  EXPECT_EQ(run("detokenize -m " + dir + " --ids 106,107").out,
            run("detokenize --ids 106,107 " + dir).out);
  expect_one_error(run("detokenize /nonexistent/model --ids 1"), "/nonexistent/model",
                   "no such model folder");
  // serve and bench accept it: the error is the next flag's, not "unexpected argument".
  expect_one_error(run("serve " + dir + " --port abc"), "--port", "must be an integer");
  expect_one_error(run("serve -m " + dir + " --max-connections -1"), "--max-connections",
                   "must be in [0, ");
  expect_one_error(run("bench " + dir + " --batch 0"), "--batch", "must be in [1, 65536]");
  expect_one_error(run("serve /nonexistent/model"), "/nonexistent/model", "no such model folder");
  // --gpu-memory-utilization is --gpu-memory-fraction, and errors name the flag as typed.
  expect_one_error(run("generate --gpu-memory-utilization 0.5"), "--gpu-memory-utilization",
                   "applies to --device cuda");
  expect_one_error(run("generate --device cuda --gpu-memory-utilization 1.5"),
                   "--gpu-memory-utilization", "(0, 1]");
  expect_one_error(run("serve --gpu-memory-utilization 0.5"), "--gpu-memory-utilization",
                   "applies to --device cuda");
  expect_one_error(run("bench --offline --gpu-memory-utilization 0.5"), "--gpu-memory-utilization",
                   "not cpu");
}

TEST(CliErrors, ArgumentAndAliasMistakes) {
  const std::string dir = make_model_dir("mistakes");
  // The model twice: two bare arguments, or a bare one and --model; the error names both.
  expect_one_error(run("info " + dir + " /other/model"), "'" + dir + "' and '/other/model'",
                   "--model given twice");
  expect_one_error(run("serve " + dir + " -m /other/model"),
                   "as the argument '" + dir + "' and as -m /other/model", "given twice");
  expect_one_error(run("generate --model /other/model " + dir), "'" + dir + "'", "given twice");
  // An alias with its main name (or a second alias) is the flag given twice.
  expect_one_error(run("generate --device cuda --gpu-memory-fraction 0.5 --gpu-memory-utilization 0.5"),
                   "--gpu-memory-fraction given twice", "--gpu-memory-utilization");
  expect_one_error(run("generate -n 2 --max-tokens 3"), "--max-tokens given twice", "(as -n and");
  expect_one_error(run("generate -m " + dir + " --model " + dir), "--model given twice", "-m");
  expect_one_error(run("bench --offline --kv-cache-mb 1 --kv-cache-bytes 1048576"),
                   "--kv-cache-bytes given twice", "--kv-cache-mb");
  // One-letter flags exist only where declared: -x is not --x.
  expect_one_error(run("generate -x 1"), "unknown flag -x", "unknown flag");
  expect_one_error(run("info -n 3"), "unknown flag -n", "unknown flag");
  expect_one_error(run("bench --offline -n 2"), "unknown flag -n", "(did you mean --n?)");
  expect_one_error(run("generate --m " + dir), "unknown flag --m", "(did you mean -m?)");
  expect_one_error(run("generate -model " + dir), "'-model'", "(did you mean --model?)");
  // Did you mean: the nearest name or alias of that command.
  expect_one_error(run("generate --max-token 3"), "unknown flag --max-token",
                   "(did you mean --max-tokens?)");
  expect_one_error(run("generate --temprature 0.5"), "unknown flag --temprature",
                   "(did you mean --temperature?)");
  expect_one_error(run("serve --gpu-memory-utilisation 0.5"), "--gpu-memory-utilisation",
                   "(did you mean --gpu-memory-utilization?)");
  expect_one_error(run("serve --max-conections 5"), "--max-conections",
                   "(did you mean --max-connections?)");
  expect_one_error(run("serve --disable-log-request"), "--disable-log-request",
                   "(did you mean --disable-log-requests?)");
  expect_one_error(run("bench --offline --kv-cache-byte 1"), "--kv-cache-byte",
                   "(did you mean --kv-cache-bytes?)");
  expect_one_error(run("serve --bogus"), "unknown flag --bogus", "unknown flag");
  EXPECT_EQ(run("serve --bogus").err.find("did you mean"), std::string::npos);
  const CmdResult r = run("serv");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown command 'serv' (did you mean serve?)"), std::string::npos) << r.err;
}

// Every value flag has a placeholder that says what it takes, and aliases show beside the name.
TEST(Cli, HelpShowsPlaceholdersAndAliases) {
  for (const std::string cmd : {"generate", "logits", "perplexity", "make-model", "info", "tokenize",
                                "detokenize", "bench", "bench --offline", "serve"}) {
    const CmdResult r = run(cmd + " --help");
    ASSERT_EQ(r.exit_code, 0) << cmd << ": " << r.err;
    std::istringstream lines(r.out);
    std::string line;
    int flags = 0;
    while (std::getline(lines, line)) {
      const size_t start = line.find_first_not_of(' ');
      if (start == std::string::npos || start > 6 || line[start] != '-') continue;
      ++flags;
      const std::string label = line.substr(0, line.find("  ", start));
      EXPECT_EQ(label.find(" V"), std::string::npos) << cmd << ": " << line;
    }
    EXPECT_GE(flags, 2) << cmd << ":\n" << r.out;
  }
  const std::string generate = run("generate -h").out;
  for (const char* want : {"-m, --model DIR", "-n, --max-tokens, --n N", "-p, --prompt TEXT",
                           "--prompt-ids IDS", "--gpu-memory-fraction, --gpu-memory-utilization F",
                           "-h, --help", "usage: tessera generate [DIR]"})
    EXPECT_NE(generate.find(want), std::string::npos) << want << " in:\n" << generate;
  const std::string serve = run("serve --help").out;
  for (const char* want : {"-m, --model DIR", "--host HOST", "--port PORT", "--api-key KEY",
                           "--max-connections N", "--disable-log-requests", "--enable-log-requests",
                           "--kv-cache-bytes, --kv-cache-mb N",
                           "--gpu-memory-fraction, --gpu-memory-utilization F"})
    EXPECT_NE(serve.find(want), std::string::npos) << want << " in:\n" << serve;
  EXPECT_NE(run("bench --offline --help").out.find("--kv-cache-bytes, --kv-cache-mb N"),
            std::string::npos);
}

// serve and bench --offline size the KV cache with the same flags: --kv-cache-bytes in bytes, or
// --kv-cache-mb in MiB.
TEST(Cli, KvCacheFlagsOnServeAndBenchOffline) {
  const std::string dir = make_model_dir("kvflags");
  const std::string json = (kTmp / "offline.json").string();
  auto blocks = [&](const std::string& flag) -> int64_t {
    fs::remove(json);
    const CmdResult r = run("bench --offline " + dir + " --num-prompts 2 --input-len 4 --output-len 2 " +
                            flag + " --json " + json);
    EXPECT_EQ(r.exit_code, 0) << flag << ": " << r.err;
    if (r.exit_code != 0) return -1;
    return parse_json(read_text_file(json).value(), json).value()["config"]["num_kv_blocks"].get<int64_t>();
  };
  const int64_t by_bytes = blocks("--kv-cache-bytes 1048576");
  EXPECT_GT(by_bytes, 0);
  EXPECT_EQ(blocks("--kv-cache-mb 1"), by_bytes);
  EXPECT_EQ(blocks("--kv-cache-bytes 2097152"), 2 * by_bytes);
  expect_one_error(run("bench --offline --kv-cache-bytes 0"), "--kv-cache-bytes", "must be in [1, ");
  expect_one_error(run("serve --kv-cache-mb 0"), "--kv-cache-mb", "must be in [1, ");
  expect_one_error(run("serve --kv-cache-bytes x"), "--kv-cache-bytes", "must be an integer");
}

}  // namespace
}  // namespace tessera
