// src/tokenizer/jinja/interpreter.cpp — statement execution and expression evaluation.
// Python arithmetic rules (int overflow is an error, not a wrap), jinja2 scoping, and the render
// limits live here; filters, tests and methods are in builtins.cpp / methods.cpp.
#include "src/tokenizer/jinja/interpreter.h"

#include <algorithm>
#include <cmath>

#include "src/tokenizer/jinja/builtins.h"
#include "src/tokenizer/jinja/lexer.h"
#include "src/tokenizer/jinja/parser.h"

namespace tessera::jinja {

std::shared_ptr<const Template> Template::parse(std::string_view source, std::string_view name, int max_depth) {
  auto t = std::make_shared<Template>();
  t->body_ = parse_template(tokenize(source), max_depth);
  t->name_ = std::string(name);
  t->source_ = std::string(source);
  return t;
}

Interpreter::DepthGuard::DepthGuard(Interpreter* in) : in_(in) {
  if (++in_->depth_ > in_->limits_.max_depth) {
    --in_->depth_;
    fail("template rendering nested too deeply (limit " + std::to_string(in_->limits_.max_depth) + ")");
  }
}

void Interpreter::check_size(std::size_t bytes) const {
  if (bytes > limits_.max_output_bytes) {
    fail("output exceeds the limit of " + std::to_string(limits_.max_output_bytes) + " bytes");
  }
}

void Interpreter::step() {
  if (++steps_ > limits_.max_steps) {
    fail("template exceeded the limit of " + std::to_string(limits_.max_steps) + " evaluation steps");
  }
}

void Interpreter::write(std::string_view text) {
  check_size(out_->size() + text.size());
  out_->append(text);
}

std::string Interpreter::render(const Template& tmpl,
                                const std::vector<std::pair<std::string, Value>>& variables) {
  install_globals(&globals_);
  Frame root;
  for (const auto& [k, v] : variables) root[k] = v;
  scopes_ = {&globals_, &root};
  std::string out;
  out_ = &out;
  exec_body(tmpl.body());
  return out;
}

Value Interpreter::lookup(const std::string& name) const {
  for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
    auto found = (*it)->find(name);
    if (found != (*it)->end()) return found->second;
  }
  return Value::undefined("'" + name + "' is undefined");
}

Interpreter::Flow Interpreter::exec_body(const Body& body) {
  DepthGuard g(this);
  for (const auto& n : body) {
    Flow f = exec(*n);
    if (f != Flow::kNormal) return f;
  }
  return Flow::kNormal;
}

Interpreter::Flow Interpreter::exec(const Node& n) {
  try {
    step();
    switch (n.kind) {
      case NodeKind::kText:
        write(n.text);
        return Flow::kNormal;
      case NodeKind::kOutput:
        write(to_str(eval(*n.expr)));
        return Flow::kNormal;
      case NodeKind::kIf:
        for (const auto& [cond, body] : n.branches) {
          if (truthy(eval(*cond))) return exec_body(body);
        }
        return exec_body(n.else_body);
      case NodeKind::kFor:
        return exec_for(n);
      case NodeKind::kSet:
        exec_set(n);
        return Flow::kNormal;
      case NodeKind::kSetBlock: {
        std::string captured;
        std::string* saved = out_;
        out_ = &captured;
        Flow f = exec_body(n.body);
        out_ = saved;
        Value v(std::move(captured));
        if (n.filter) {
          Frame tmp{{"__block__", v}};
          scopes_.push_back(&tmp);
          v = eval(*n.filter);
          scopes_.pop_back();
        }
        assign(n.targets, false, v);
        return f;
      }
      case NodeKind::kMacro: {
        auto c = std::make_shared<Callable>();
        c->name = n.text;
        const Node* macro = &n;
        c->fn = [macro](Interpreter& in, CallArgs& args) { return in.call_macro(*macro, args); };
        (*scopes_.back())[n.text] = Value(c);
        return Flow::kNormal;
      }
      case NodeKind::kBreak:
        return Flow::kBreak;
      case NodeKind::kContinue:
        return Flow::kContinue;
      case NodeKind::kScope: {
        if (!n.new_scope) return exec_body(n.body);
        Frame frame;
        for (const auto& [name, expr] : n.params) frame[name] = eval(*expr);
        scopes_.push_back(&frame);
        Flow f = exec_body(n.body);
        scopes_.pop_back();
        return f;
      }
    }
  } catch (JinjaError& e) {
    if (e.line == 0) e.line = n.line;
    throw;
  }
  return Flow::kNormal;
}

void Interpreter::assign(const std::vector<std::string>& targets, bool unpack, const Value& value) {
  Frame& frame = *scopes_.back();
  if (!unpack) {
    frame[targets[0]] = value;
    return;
  }
  if (value.is_undefined()) fail(value.undefined_hint());
  std::vector<Value> items = iterate(value);
  if (items.size() != targets.size()) {
    fail(items.size() > targets.size()
             ? "too many values to unpack (expected " + std::to_string(targets.size()) + ")"
             : "not enough values to unpack (expected " + std::to_string(targets.size()) + ", got " +
                   std::to_string(items.size()) + ")");
  }
  for (size_t i = 0; i < targets.size(); ++i) frame[targets[i]] = items[i];
}

namespace {

// Whether v is or holds `target` (a namespace): storing it there would make a cycle.
bool contains_container(const Value& v, const Dict* target) {
  if (v.is_dict()) {
    if (v.as_dict().get() == target) return true;
    for (const auto& kv : v.as_dict()->items) {
      if (contains_container(kv.second, target)) return true;
    }
  } else if (v.is_list()) {
    for (const auto& item : v.as_list()->items) {
      if (contains_container(item, target)) return true;
    }
  }
  return false;
}

}  // namespace

void Interpreter::exec_set(const Node& n) {
  Value v = eval(*n.expr);
  if (n.attr.empty()) {
    assign(n.targets, n.unpack, v);
    return;
  }
  Value ns = lookup(n.text);
  if (!ns.is_dict() || !ns.as_dict()->is_namespace) {
    fail("cannot assign attribute on non-namespace object '" + n.text + "'");
  }
  if (contains_container(v, ns.as_dict().get())) {
    fail("cannot store namespace '" + n.text + "' inside itself");
  }
  ns.as_dict()->set(n.attr, std::move(v));
}

Interpreter::Flow Interpreter::exec_for(const Node& n) {
  Value iterable = eval(*n.expr);
  if (!iterable.is_undefined() && !iterable.is_list() && !iterable.is_dict() && !iterable.is_string()) {
    fail("'" + type_name(iterable) + "' object is not iterable");
  }
  std::vector<Value> items = iterate(iterable);
  if (n.cond) {
    std::vector<Value> kept;
    for (auto& item : items) {
      step();
      Frame frame;
      scopes_.push_back(&frame);
      assign(n.targets, n.unpack, item);
      bool keep = truthy(eval(*n.cond));
      scopes_.pop_back();
      if (keep) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) return exec_body(n.else_body);
  const auto length = static_cast<std::int64_t>(items.size());
  auto cycle = std::make_shared<Callable>();
  cycle->name = "loop.cycle";
  auto position = std::make_shared<std::int64_t>(0);  // shared: a stored loop.cycle outlives the loop
  cycle->fn = [position](Interpreter&, CallArgs& args) -> Value {
    if (args.positional.empty()) fail("no items for cycling given");
    return args.positional[static_cast<size_t>(*position) % args.positional.size()];
  };
  for (std::int64_t index0 = 0; index0 < length; ++index0) {
    *position = index0;
    step();
    Frame frame;
    scopes_.push_back(&frame);
    assign(n.targets, n.unpack, items[static_cast<size_t>(index0)]);
    auto loop = make_dict();
    loop->items = {
        {"index", Value(index0 + 1)},
        {"index0", Value(index0)},
        {"revindex", Value(length - index0)},
        {"revindex0", Value(length - index0 - 1)},
        {"first", Value(index0 == 0)},
        {"last", Value(index0 == length - 1)},
        {"length", Value(length)},
        {"depth", Value(1)},
        {"depth0", Value(0)},
        {"previtem", index0 > 0 ? items[static_cast<size_t>(index0 - 1)]
                                : Value::undefined("there is no previous item")},
        {"nextitem", index0 + 1 < length ? items[static_cast<size_t>(index0 + 1)]
                                         : Value::undefined("there is no next item")},
        {"cycle", Value(cycle)},
    };
    for (const auto& kv : loop->items) loop->depth = std::max(loop->depth, depth_of(kv.second) + 1);
    if (loop->depth > kMaxValueDepth) fail("value nested too deeply (limit " + std::to_string(kMaxValueDepth) + ")");
    frame["loop"] = Value(loop);
    Flow f = exec_body(n.body);
    scopes_.pop_back();
    if (f == Flow::kBreak) break;
  }
  return Flow::kNormal;
}

Value Interpreter::call_macro(const Node& macro, CallArgs& args) {
  DepthGuard g(this);
  if (args.positional.size() > macro.params.size()) {
    fail("macro '" + macro.text + "' takes not more than " + std::to_string(macro.params.size()) +
         " argument(s)");
  }
  Frame local;
  std::vector<Frame*> saved = scopes_;
  scopes_ = {saved[0], saved[1], &local};
  std::vector<bool> bound(macro.params.size(), false);
  for (size_t i = 0; i < args.positional.size(); ++i) {
    local[macro.params[i].first] = args.positional[i];
    bound[i] = true;
  }
  for (auto& [key, value] : args.keyword) {
    size_t i = 0;
    while (i < macro.params.size() && macro.params[i].first != key) ++i;
    if (i == macro.params.size()) fail("macro '" + macro.text + "' takes no keyword argument '" + key + "'");
    if (bound[i]) fail("macro '" + macro.text + "' got multiple values for argument '" + key + "'");
    local[key] = value;
    bound[i] = true;
  }
  for (size_t i = 0; i < macro.params.size(); ++i) {
    if (bound[i]) continue;
    const auto& [pname, def] = macro.params[i];
    local[pname] = def ? eval(*def) : Value::undefined("parameter '" + pname + "' was not provided");
  }
  std::string captured;
  std::string* saved_out = out_;
  out_ = &captured;
  exec_body(macro.body);
  out_ = saved_out;
  scopes_ = std::move(saved);
  return Value(std::move(captured));
}

Value Interpreter::call(const Value& callee, CallArgs& args) {
  if (callee.is_undefined()) fail(callee.undefined_hint());
  if (!callee.is_callable()) fail("'" + type_name(callee) + "' object is not callable");
  return callee.as_callable()->fn(*this, args);
}

CallArgs Interpreter::eval_args(const Expr& e, size_t first_positional) {
  CallArgs args;
  args.line = e.line;
  for (size_t i = first_positional; i < e.children.size(); ++i) args.positional.push_back(eval(*e.children[i]));
  for (const auto& [k, v] : e.kwargs) args.keyword.emplace_back(k, eval(*v));
  return args;
}

Value Interpreter::eval(const Expr& e) {
  try {
    DepthGuard g(this);
    step();
    return eval_inner(e);
  } catch (JinjaError& err) {
    if (err.line == 0) err.line = e.line;
    throw;
  }
}

Value Interpreter::eval_inner(const Expr& e) {
  switch (e.kind) {
    case ExprKind::kLiteral:
      return e.literal;
    case ExprKind::kName:
      return lookup(e.name);
    case ExprKind::kList:
    case ExprKind::kTuple: {
      std::vector<Value> items;
      for (const auto& c : e.children) items.push_back(eval(*c));
      return Value(make_list(std::move(items), e.kind == ExprKind::kTuple ? ListFlavor::kTuple : ListFlavor::kList));
    }
    case ExprKind::kDict: {
      auto d = make_dict();
      for (const auto& [k, v] : e.dict_items) {
        Value key = eval(*k);
        if (!key.is_string()) fail("dict literals with non-string keys are not supported");
        d->set(key.as_string(), eval(*v));
      }
      return Value(d);
    }
    case ExprKind::kGetAttr: {
      Value obj = eval(*e.children[0]);
      if (obj.is_undefined()) fail(obj.undefined_hint());
      return get_attr(obj, e.name);
    }
    case ExprKind::kGetItem: {
      Value obj = eval(*e.children[0]);
      if (obj.is_undefined()) fail(obj.undefined_hint());
      return get_item(obj, eval(*e.children[1]));
    }
    case ExprKind::kSlice: {
      Value obj = eval(*e.children[0]);
      if (obj.is_undefined()) fail(obj.undefined_hint());
      Value parts[3];
      for (int i = 0; i < 3; ++i) parts[i] = e.children[1 + i] ? eval(*e.children[1 + i]) : Value(None{});
      return get_slice(*this, obj, parts[0], parts[1], parts[2]);
    }
    case ExprKind::kCall: {
      Value callee = eval(*e.children[0]);
      CallArgs args = eval_args(e, 1);
      return call(callee, args);
    }
    case ExprKind::kFilter: {
      Value input = eval(*e.children[0]);
      CallArgs args = eval_args(e, 1);
      return call_filter(*this, e.name, input, args);
    }
    case ExprKind::kTest: {
      Value input = eval(*e.children[0]);
      CallArgs args = eval_args(e, 1);
      return Value(call_test(*this, e.name, input, args) != e.negated);
    }
    case ExprKind::kUnary: {
      Value v = eval(*e.children[0]);
      if (e.name == "not") return Value(!truthy(v));
      if (v.is_undefined()) fail(v.undefined_hint());
      if (!v.is_number()) fail("bad operand type for unary " + e.name + ": '" + type_name(v) + "'");
      if (e.name == "+") return v.is_bool() ? Value(static_cast<std::int64_t>(v.as_bool())) : v;
      if (v.is_float()) return Value(-v.as_float());
      std::int64_t i = v.is_bool() ? v.as_bool() : v.as_int();
      if (i == INT64_MIN) fail("integer overflow");
      return Value(-i);
    }
    case ExprKind::kBinary:
      return eval_binary(e);
    case ExprKind::kCompare:
      return eval_compare(e);
    case ExprKind::kCondExpr: {
      if (truthy(eval(*e.children[0]))) return eval(*e.children[1]);
      if (e.children[2]) return eval(*e.children[2]);
      return Value::undefined("the inline if-expression on line " + std::to_string(e.line) +
                              " evaluated to false and no else section was defined");
    }
  }
  fail("internal error: unknown expression");
}

namespace {

[[noreturn]] void bad_operands(const std::string& op, const Value& a, const Value& b) {
  if (a.is_undefined()) fail(a.undefined_hint());
  if (b.is_undefined()) fail(b.undefined_hint());
  if (op == "+" && a.is_string()) fail("can only concatenate str (not \"" + type_name(b) + "\") to str");
  fail("unsupported operand type(s) for " + op + ": '" + type_name(a) + "' and '" + type_name(b) + "'");
}

std::int64_t as_i64(const Value& v) { return v.is_bool() ? v.as_bool() : v.as_int(); }

Value repeat(Interpreter& in, const Value& seq, std::int64_t n) {
  if (n < 0) n = 0;
  if (seq.is_string()) {
    const std::string& s = seq.as_string();
    if (!s.empty() && static_cast<std::uint64_t>(n) > in.limits().max_output_bytes / s.size()) {
      in.check_size(SIZE_MAX);
    }
    std::string out;
    for (std::int64_t i = 0; i < n; ++i) out += s;
    return Value(std::move(out));
  }
  const auto& items = seq.as_list()->items;
  if (!items.empty() && static_cast<std::uint64_t>(n) > in.limits().max_output_bytes / 16 / items.size()) {
    in.check_size(SIZE_MAX);
  }
  std::vector<Value> out;
  for (std::int64_t i = 0; i < n; ++i) out.insert(out.end(), items.begin(), items.end());
  return Value(make_list(std::move(out), seq.as_list()->flavor));
}

// Python's str % args for the conversions templates use (%s %r %d %i %%, optionally %(key)s);
// flags, width and precision are refused rather than guessed.
std::string percent_format(const std::string& fmt, const Value& args) {
  const bool is_tuple = args.is_list() && args.as_list()->flavor == ListFlavor::kTuple;
  // CPython treats anything with __getitem__ but tuple and str as a mapping (no leftover check);
  // jinja2's Undefined has __getitem__ too.
  const bool is_mapping = (args.is_dict() || args.is_list() || args.is_undefined()) && !is_tuple;
  std::vector<Value> positional = is_tuple ? args.as_list()->items : std::vector<Value>{args};
  size_t next = 0;
  std::string out;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out += fmt[i];
      continue;
    }
    if (++i >= fmt.size()) fail("incomplete format");
    if (fmt[i] == '%') {
      out += '%';
      continue;
    }
    Value arg;
    if (fmt[i] == '(') {
      size_t close = fmt.find(')', i);
      if (close == std::string::npos) fail("incomplete format key");
      if (args.is_undefined()) fail(args.undefined_hint());
      if (!args.is_dict()) fail("format requires a mapping");
      const Value* v = args.as_dict()->find(std::string_view(fmt).substr(i + 1, close - i - 1));
      if (v == nullptr) fail("KeyError in % formatting");
      arg = *v;
      i = close + 1;
      if (i >= fmt.size()) fail("incomplete format");
    } else {
      if (next >= positional.size()) fail("not enough arguments for format string");
      arg = positional[next++];
    }
    char conv = fmt[i];
    if (conv == 's') {
      out += to_str(arg);
    } else if (conv == 'r') {
      out += repr(arg);
    } else if (conv == 'd' || conv == 'i') {
      if (arg.is_int() || arg.is_bool()) {
        out += std::to_string(arg.is_bool() ? arg.as_bool() : arg.as_int());
      } else if (arg.is_float() && std::isfinite(arg.as_float()) && std::fabs(arg.as_float()) < 9.2e18) {
        out += std::to_string(static_cast<std::int64_t>(arg.as_float()));
      } else {
        fail(std::string("%") + conv + " format: a real number is required, not " + type_name(arg));
      }
    } else {
      fail(std::string("'%") + conv + "' in a % format string is not supported");
    }
  }
  if (!is_mapping && next < positional.size()) fail("not all arguments converted during string formatting");
  return out;
}

bool plain_sequence(const Value& v) {
  return v.is_list() && (v.as_list()->flavor == ListFlavor::kList || v.as_list()->flavor == ListFlavor::kTuple);
}

}  // namespace

Value Interpreter::eval_binary(const Expr& e) {
  const std::string& op = e.name;
  if (op == "and") {
    Value a = eval(*e.children[0]);
    return truthy(a) ? eval(*e.children[1]) : a;
  }
  if (op == "or") {
    Value a = eval(*e.children[0]);
    return truthy(a) ? a : eval(*e.children[1]);
  }
  Value a = eval(*e.children[0]);
  Value b = eval(*e.children[1]);
  if (op == "~") {
    std::string s = to_str(a);
    std::string t = to_str(b);
    check_size(s.size() + t.size());
    return Value(s + t);
  }
  const bool ints = (a.is_int() || a.is_bool()) && (b.is_int() || b.is_bool());
  const bool nums = a.is_number() && b.is_number();
  if (op == "+") {
    if (ints) {
      std::int64_t r;
      if (__builtin_add_overflow(as_i64(a), as_i64(b), &r)) fail("integer overflow");
      return Value(r);
    }
    if (nums) return Value(a.to_double() + b.to_double());
    if (a.is_string() && b.is_string()) {
      check_size(a.as_string().size() + b.as_string().size());
      return Value(a.as_string() + b.as_string());
    }
    if (plain_sequence(a) && plain_sequence(b) && a.as_list()->flavor == b.as_list()->flavor) {
      std::vector<Value> items = a.as_list()->items;
      const auto& more = b.as_list()->items;
      check_size((items.size() + more.size()) * 16);
      items.insert(items.end(), more.begin(), more.end());
      return Value(make_list(std::move(items), a.as_list()->flavor));
    }
    bad_operands(op, a, b);
  }
  if (op == "-") {
    if (ints) {
      std::int64_t r;
      if (__builtin_sub_overflow(as_i64(a), as_i64(b), &r)) fail("integer overflow");
      return Value(r);
    }
    if (nums) return Value(a.to_double() - b.to_double());
    bad_operands(op, a, b);
  }
  if (op == "*") {
    if (ints) {
      std::int64_t r;
      if (__builtin_mul_overflow(as_i64(a), as_i64(b), &r)) fail("integer overflow");
      return Value(r);
    }
    if (nums) return Value(a.to_double() * b.to_double());
    if ((a.is_string() || plain_sequence(a)) && (b.is_int() || b.is_bool())) return repeat(*this, a, as_i64(b));
    if ((b.is_string() || plain_sequence(b)) && (a.is_int() || a.is_bool())) return repeat(*this, b, as_i64(a));
    bad_operands(op, a, b);
  }
  if (op == "/" || op == "//" || op == "%") {
    if (a.is_string() && op == "%") {
      std::string formatted = percent_format(a.as_string(), b);
      check_size(formatted.size());
      return Value(std::move(formatted));
    }
    if (!nums) bad_operands(op, a, b);
    if (b.to_double() == 0) fail(op == "%" ? "integer modulo by zero" : "division by zero");
    if (op == "/") return Value(a.to_double() / b.to_double());
    if (ints) {
      std::int64_t x = as_i64(a), y = as_i64(b);
      if (x == INT64_MIN && y == -1) fail("integer overflow");
      std::int64_t q = x / y, r = x % y;
      if (r != 0 && ((r < 0) != (y < 0))) {
        --q;
        r += y;
      }
      return Value(op == "//" ? q : r);
    }
    double x = a.to_double(), y = b.to_double();
    double r = std::fmod(x, y);
    if (r != 0 && ((r < 0) != (y < 0))) r += y;
    if (op == "%") return Value(r);
    return Value(std::floor((x - r) / y + 0.0));
  }
  if (op == "**") {
    if (ints && as_i64(b) >= 0) {
      std::int64_t base = as_i64(a), exp = as_i64(b), r = 1;
      if (base == 0 || base == 1) return Value(exp == 0 ? std::int64_t{1} : base);
      if (base == -1) return Value(exp % 2 == 0 ? std::int64_t{1} : std::int64_t{-1});
      for (std::int64_t i = 0; i < exp; ++i) {  // |base| >= 2: overflows within 63 steps
        if (__builtin_mul_overflow(r, base, &r)) fail("integer overflow");
      }
      return Value(r);
    }
    if (nums) return Value(std::pow(a.to_double(), b.to_double()));
    bad_operands(op, a, b);
  }
  fail("unknown operator '" + op + "'");
}

Value Interpreter::eval_compare(const Expr& e) {
  Value left = eval(*e.children[0]);
  for (size_t i = 0; i < e.ops.size(); ++i) {
    Value right = eval(*e.children[i + 1]);
    const std::string& op = e.ops[i];
    bool r;
    if (op == "==") r = equals(left, right);
    else if (op == "!=") r = !equals(left, right);
    else if (op == "<") r = less_than(left, right);
    else if (op == ">") r = less_than(right, left);
    else if (op == "<=") r = less_than(left, right) || equals(left, right);
    else if (op == ">=") r = less_than(right, left) || equals(left, right);
    else if (op == "in") r = contains(right, left);
    else r = !contains(right, left);
    if (!r) return Value(false);
    left = std::move(right);
  }
  return Value(true);
}

}  // namespace tessera::jinja
