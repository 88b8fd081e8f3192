// src/tokenizer/jinja/interpreter.h — renders a parsed template: scopes as jinja2 has them (a
// for-loop iteration and a macro call get their own scope; if does not), loop.*, macros,
// namespaces, break/continue, and the limits that bound any render (steps, depth, output size).
//
// Template holds the AST and is immutable; an Interpreter is one render (not shared).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "src/tokenizer/jinja/ast.h"

namespace tessera::jinja {

struct RenderLimits {
  std::size_t max_output_bytes = 64u << 20;
  int max_depth = 200;
  std::int64_t max_steps = 50'000'000;
};

class Template {
 public:
  // Throws JinjaError on a syntax error.
  static std::shared_ptr<const Template> parse(std::string_view source, std::string_view name, int max_depth);
  const Body& body() const { return body_; }
  const std::string& name() const { return name_; }
  const std::string& source() const { return source_; }

 private:
  Body body_;
  std::string name_;
  std::string source_;
};

using Frame = std::unordered_map<std::string, Value>;

class Interpreter {
 public:
  Interpreter(const RenderLimits& limits, std::optional<std::int64_t> now_unix_seconds)
      : limits_(limits), now_unix_seconds_(now_unix_seconds) {}

  // Renders with these variables (messages, tools, bos_token, ...) over the builtin globals.
  // Throws JinjaError.
  std::string render(const Template& tmpl, const std::vector<std::pair<std::string, Value>>& variables);

  // For builtins.
  Value call(const Value& callee, CallArgs& args);
  void check_size(std::size_t bytes) const;
  void step();
  std::optional<std::int64_t> now_unix_seconds() const { return now_unix_seconds_; }
  const RenderLimits& limits() const { return limits_; }

 private:
  enum class Flow { kNormal, kBreak, kContinue };
  struct DepthGuard {
    explicit DepthGuard(Interpreter* in);
    ~DepthGuard() { --in_->depth_; }
    Interpreter* in_;
  };

  Flow exec_body(const Body& body);
  Flow exec(const Node& node);
  Flow exec_for(const Node& node);
  void exec_set(const Node& node);
  Value call_macro(const Node& macro, CallArgs& args);
  void assign(const std::vector<std::string>& targets, bool unpack, const Value& value);
  Value eval(const Expr& e);
  Value eval_inner(const Expr& e);
  Value eval_binary(const Expr& e);
  Value eval_compare(const Expr& e);
  CallArgs eval_args(const Expr& e, size_t first_positional);
  Value lookup(const std::string& name) const;
  void write(std::string_view text);

  RenderLimits limits_;
  std::optional<std::int64_t> now_unix_seconds_;
  Frame globals_;
  std::vector<Frame*> scopes_;  // innermost last; [0] = globals, [1] = template root
  std::string* out_ = nullptr;
  std::int64_t steps_ = 0;
  int depth_ = 0;
};

}  // namespace tessera::jinja
