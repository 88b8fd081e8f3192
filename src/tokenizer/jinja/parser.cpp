// src/tokenizer/jinja/parser.cpp — recursive-descent parser for the jinja2 subset chat templates
// use. Precedence, loosest first (as jinja2/parser.py): inline if; or; and; not; comparisons
// (== != < <= > >= in, not in, chained); + -; ~; * / // %; **; unary - +; then postfix
// (.attr, [item], [a:b:c], call) and filters / tests (| f, is t).
#include "src/tokenizer/jinja/parser.h"

#include "src/tokenizer/jinja/builtins.h"

#include <charconv>
#include <cstdlib>

namespace tessera::jinja {
namespace {

class Parser {
 public:
  Parser(const std::vector<Token>& t, int max_depth) : t_(t), max_depth_(max_depth) {}

  Body parse_all() {
    std::string end;
    Body body = parse_body({}, &end);
    return body;
  }

 private:
  struct DepthGuard {
    explicit DepthGuard(Parser* p) : p_(p) {
      if (++p_->depth_ > p_->max_depth_) fail("template nested too deeply (limit " + std::to_string(p_->max_depth_) + ")", p_->cur().line);
    }
    ~DepthGuard() { --p_->depth_; }
    Parser* p_;
  };

  const Token& cur() const { return t_[pos_]; }
  const Token& peek(size_t k = 1) const { return t_[std::min(pos_ + k, t_.size() - 1)]; }
  const Token& next() {
    const Token& tok = t_[pos_];
    if (pos_ + 1 < t_.size()) ++pos_;
    return tok;
  }
  bool is_op(const char* op) const { return cur().kind == TokenKind::kOperator && cur().value == op; }
  bool is_name(const char* n) const { return cur().kind == TokenKind::kName && cur().value == n; }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  [[noreturn]] void unexpected(const std::string& wanted) const {
    std::string got = cur().kind == TokenKind::kOperator || cur().kind == TokenKind::kName
                          ? "'" + cur().value + "'"
                          : token_kind_name(cur().kind);
    fail("expected " + wanted + ", got " + got, cur().line);
  }
  void expect_op(const char* op) {
    if (!skip_op(op)) unexpected(std::string("'") + op + "'");
  }
  std::string expect_name() {
    if (cur().kind != TokenKind::kName) unexpected("a name");
    return next().value;
  }
  void expect_block_end() {
    if (cur().kind != TokenKind::kBlockEnd) unexpected("end of block tag '%}'");
    next();
  }

  // Parses nodes until one of end_tags starts a block (left unconsumed: *end gets its name, the
  // current token is the name). With no end tags, parses to the end of the template.
  Body parse_body(const std::vector<std::string>& end_tags, std::string* end) {
    DepthGuard g(this);
    Body body;
    int open_line = pos_ > 0 ? t_[pos_ - 1].line : cur().line;  // the opening tag's end
    while (true) {
      const Token& tok = cur();
      if (tok.kind == TokenKind::kEof) {
        if (!end_tags.empty()) {
          fail("unexpected end of template: missing '{% " + end_tags.back() + " %}' for the block opened on this line", open_line);
        }
        return body;
      }
      if (tok.kind == TokenKind::kText) {
        auto n = std::make_unique<Node>();
        n->kind = NodeKind::kText;
        n->line = tok.line;
        n->text = tok.value;
        body.push_back(std::move(n));
        next();
      } else if (tok.kind == TokenKind::kVarBegin) {
        auto n = std::make_unique<Node>();
        n->kind = NodeKind::kOutput;
        n->line = tok.line;
        next();
        n->expr = parse_tuple(true);
        if (cur().kind != TokenKind::kVarEnd) unexpected("end of print statement '}}'");
        next();
        body.push_back(std::move(n));
      } else if (tok.kind == TokenKind::kBlockBegin) {
        next();
        if (cur().kind != TokenKind::kName) unexpected("a tag name");
        const std::string& tag = cur().value;
        for (const auto& e : end_tags) {
          if (tag == e) {
            *end = tag;
            return body;
          }
        }
        body.push_back(parse_statement());
      } else {
        unexpected("text or a tag");
      }
    }
  }

  NodePtr parse_statement() {
    const Token& tag_tok = next();
    const std::string tag = tag_tok.value;
    int line = tag_tok.line;
    auto n = std::make_unique<Node>();
    n->line = line;
    if (tag == "if") {
      n->kind = NodeKind::kIf;
      ExprPtr cond = parse_tuple(false);
      expect_block_end();
      while (true) {
        std::string end;
        Body body = parse_body({"elif", "else", "endif"}, &end);
        n->branches.emplace_back(std::move(cond), std::move(body));
        next();  // the end tag name
        if (end == "elif") {
          cond = parse_tuple(false);
          expect_block_end();
          continue;
        }
        if (end == "else") {
          expect_block_end();
          n->else_body = parse_body({"endif"}, &end);
          next();
        }
        expect_block_end();
        break;
      }
    } else if (tag == "for") {
      n->kind = NodeKind::kFor;
      parse_targets(n.get());
      if (!is_name("in")) unexpected("'in'");
      next();
      n->expr = parse_tuple(false, /*no_condexpr=*/true);
      if (is_name("if")) {
        next();
        n->cond = parse_expression();
      }
      if (is_name("recursive")) fail("recursive for loops are not supported", line);
      expect_block_end();
      std::string end;
      ++loop_depth_;
      n->body = parse_body({"else", "endfor"}, &end);
      --loop_depth_;
      next();
      if (end == "else") {
        expect_block_end();
        n->else_body = parse_body({"endfor"}, &end);
        next();
      }
      expect_block_end();
    } else if (tag == "set") {
      if (cur().kind == TokenKind::kName && peek().kind == TokenKind::kOperator && peek().value == "." ) {
        n->kind = NodeKind::kSet;
        n->text = next().value;
        next();
        n->attr = expect_name();
        expect_op("=");
        n->expr = parse_tuple(false);
        expect_block_end();
      } else {
        parse_targets(n.get());
        if (skip_op("=")) {
          n->kind = NodeKind::kSet;
          n->expr = parse_tuple(false);
          expect_block_end();
        } else {
          if (n->unpack || n->targets.size() != 1) fail("a block set assigns one name", line);
          n->kind = NodeKind::kSetBlock;
          if (is_op("|")) {
            auto placeholder = std::make_unique<Expr>();
            placeholder->kind = ExprKind::kName;
            placeholder->name = "__block__";
            placeholder->line = line;
            n->filter = parse_filters(std::move(placeholder));
          }
          expect_block_end();
          std::string end;
          n->body = parse_body({"endset"}, &end);
          next();
          expect_block_end();
        }
      }
    } else if (tag == "macro") {
      n->kind = NodeKind::kMacro;
      n->text = expect_name();
      expect_op("(");
      while (!is_op(")")) {
        if (!n->params.empty()) expect_op(",");
        if (is_op(")")) break;
        std::string pname = expect_name();
        ExprPtr def;
        if (skip_op("=")) def = parse_expression();
        n->params.emplace_back(pname, std::move(def));
      }
      next();
      expect_block_end();
      std::string end;
      int saved_loop_depth = loop_depth_;
      loop_depth_ = 0;
      n->body = parse_body({"endmacro"}, &end);
      loop_depth_ = saved_loop_depth;
      next();
      if (cur().kind == TokenKind::kName) next();  // {% endmacro name %}
      expect_block_end();
    } else if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) fail("'{% " + tag + " %}' outside a for loop", line);
      n->kind = tag == "break" ? NodeKind::kBreak : NodeKind::kContinue;
      expect_block_end();
    } else if (tag == "with") {
      n->kind = NodeKind::kScope;
      n->new_scope = true;
      while (cur().kind != TokenKind::kBlockEnd) {
        if (!n->params.empty()) expect_op(",");
        std::string name = expect_name();
        expect_op("=");
        n->params.emplace_back(name, parse_expression());
      }
      expect_block_end();
      std::string end;
      n->body = parse_body({"endwith"}, &end);
      next();
      expect_block_end();
    } else if (tag == "generation") {
      // transformers' AssistantTracker tag: it marks assistant text for training masks and
      // renders its body unchanged.
      n->kind = NodeKind::kScope;
      expect_block_end();
      std::string end;
      n->body = parse_body({"endgeneration"}, &end);
      next();
      expect_block_end();
    } else {
      static const char* kKnownUnsupported[] = {"extends", "block", "include", "import", "from",
                                                "call", "filter", "do", "autoescape", "trans"};
      for (const char* k : kKnownUnsupported) {
        if (tag == k) fail("the '{% " + tag + " %}' tag is not supported in chat templates", line);
      }
      fail("unknown tag '" + tag + "'", line);
    }
    return n;
  }

  void parse_targets(Node* n) {
    bool paren = skip_op("(");
    n->targets.push_back(expect_name());
    while (skip_op(",")) {
      n->unpack = true;
      if (cur().kind != TokenKind::kName) break;
      n->targets.push_back(expect_name());
    }
    if (paren) {
      expect_op(")");
      n->unpack = true;
    }
  }

  ExprPtr make(ExprKind kind, int line) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = line;
    return e;
  }

  // expr, expr, ... → tuple (a single expr without a comma stays itself).
  ExprPtr parse_tuple(bool allow_empty_end, bool no_condexpr = false) {
    int line = cur().line;
    ExprPtr first = no_condexpr ? parse_or() : parse_expression();
    if (!is_op(",")) return first;
    auto tuple = make(ExprKind::kTuple, line);
    tuple->children.push_back(std::move(first));
    while (skip_op(",")) {
      if (cur().kind == TokenKind::kBlockEnd || cur().kind == TokenKind::kVarEnd || is_name("in") || is_name("if")) break;
      tuple->children.push_back(no_condexpr ? parse_or() : parse_expression());
    }
    return tuple;
  }

  ExprPtr parse_expression() {
    DepthGuard g(this);
    int line = cur().line;
    ExprPtr expr = parse_or();
    while (is_name("if")) {
      next();
      auto cond = make(ExprKind::kCondExpr, line);
      cond->children.push_back(parse_or());
      cond->children.insert(cond->children.begin() + 1, std::move(expr));
      if (is_name("else")) {
        next();
        cond->children.push_back(parse_expression());
      } else {
        cond->children.push_back(nullptr);
      }
      expr = std::move(cond);
    }
    return expr;
  }

  ExprPtr binary(const char* op, ExprPtr a, ExprPtr b, int line) {
    auto e = make(ExprKind::kBinary, line);
    e->name = op;
    e->children.push_back(std::move(a));
    e->children.push_back(std::move(b));
    return e;
  }

  ExprPtr parse_or() {
    int line = cur().line;
    ExprPtr e = parse_and();
    while (is_name("or")) {
      next();
      e = binary("or", std::move(e), parse_and(), line);
    }
    return e;
  }

  ExprPtr parse_and() {
    int line = cur().line;
    ExprPtr e = parse_not();
    while (is_name("and")) {
      next();
      e = binary("and", std::move(e), parse_not(), line);
    }
    return e;
  }

  ExprPtr parse_not() {
    DepthGuard g(this);
    if (is_name("not")) {
      int line = next().line;
      auto e = make(ExprKind::kUnary, line);
      e->name = "not";
      e->children.push_back(parse_not());
      return e;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    int line = cur().line;
    ExprPtr e = parse_math1();
    ExprPtr cmp;
    while (true) {
      std::string op;
      if (cur().kind == TokenKind::kOperator &&
          (cur().value == "==" || cur().value == "!=" || cur().value == "<" || cur().value == "<=" ||
           cur().value == ">" || cur().value == ">=")) {
        op = next().value;
      } else if (is_name("in")) {
        next();
        op = "in";
      } else if (is_name("not") && peek().kind == TokenKind::kName && peek().value == "in") {
        next();
        next();
        op = "notin";
      } else {
        break;
      }
      if (!cmp) {
        cmp = make(ExprKind::kCompare, line);
        cmp->children.push_back(std::move(e));
      }
      cmp->ops.push_back(op);
      cmp->children.push_back(parse_math1());
    }
    return cmp ? std::move(cmp) : std::move(e);
  }

  ExprPtr parse_math1() {
    int line = cur().line;
    ExprPtr e = parse_concat();
    while (is_op("+") || is_op("-")) {
      std::string op = next().value;
      e = binary(op == "+" ? "+" : "-", std::move(e), parse_concat(), line);
    }
    return e;
  }

  ExprPtr parse_concat() {
    int line = cur().line;
    ExprPtr e = parse_math2();
    while (skip_op("~")) e = binary("~", std::move(e), parse_math2(), line);
    return e;
  }

  ExprPtr parse_math2() {
    int line = cur().line;
    ExprPtr e = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      std::string op = next().value;
      auto b = binary("", std::move(e), parse_pow(), line);
      b->name = op;
      e = std::move(b);
    }
    return e;
  }

  ExprPtr parse_pow() {
    int line = cur().line;
    ExprPtr e = parse_unary(true);
    while (skip_op("**")) e = binary("**", std::move(e), parse_unary(true), line);
    return e;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard g(this);
    int line = cur().line;
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      std::string op = next().value;
      e = make(ExprKind::kUnary, line);
      e->name = op;
      e->children.push_back(parse_unary(false));
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filters(std::move(e));
    return e;
  }

  ExprPtr parse_primary() {
    const Token& tok = cur();
    int line = tok.line;
    if (tok.kind == TokenKind::kName) {
      next();
      auto e = make(ExprKind::kLiteral, line);
      if (tok.value == "true" || tok.value == "True") {
        e->literal = Value(true);
      } else if (tok.value == "false" || tok.value == "False") {
        e->literal = Value(false);
      } else if (tok.value == "none" || tok.value == "None") {
        e->literal = Value(None{});
      } else {
        e->kind = ExprKind::kName;
        e->name = tok.value;
      }
      return e;
    }
    if (tok.kind == TokenKind::kString) {
      std::string s;
      while (cur().kind == TokenKind::kString) s += next().value;  // adjacent literals concatenate
      auto e = make(ExprKind::kLiteral, line);
      e->literal = Value(std::move(s));
      return e;
    }
    if (tok.kind == TokenKind::kInteger) {
      next();
      auto e = make(ExprKind::kLiteral, line);
      std::int64_t v = 0;
      auto res = std::from_chars(tok.value.data(), tok.value.data() + tok.value.size(), v);
      if (res.ec != std::errc()) fail("integer literal " + tok.value + " is too large", line);
      e->literal = Value(v);
      return e;
    }
    if (tok.kind == TokenKind::kFloat) {
      next();
      auto e = make(ExprKind::kLiteral, line);
      e->literal = Value(std::strtod(tok.value.c_str(), nullptr));
      return e;
    }
    if (skip_op("(")) {
      if (skip_op(")")) return make(ExprKind::kTuple, line);
      ExprPtr first = parse_expression();
      if (skip_op(")")) return first;
      auto tuple = make(ExprKind::kTuple, line);
      tuple->children.push_back(std::move(first));
      while (skip_op(",")) {
        if (is_op(")")) break;
        tuple->children.push_back(parse_expression());
      }
      expect_op(")");
      return tuple;
    }
    if (skip_op("[")) {
      auto list = make(ExprKind::kList, line);
      while (!is_op("]")) {
        if (!list->children.empty()) expect_op(",");
        if (is_op("]")) break;
        list->children.push_back(parse_expression());
      }
      next();
      return list;
    }
    if (skip_op("{")) {
      auto dict = make(ExprKind::kDict, line);
      while (!is_op("}")) {
        if (!dict->dict_items.empty()) expect_op(",");
        if (is_op("}")) break;
        ExprPtr key = parse_expression();
        expect_op(":");
        dict->dict_items.emplace_back(std::move(key), parse_expression());
      }
      next();
      return dict;
    }
    unexpected("an expression");
  }

  ExprPtr parse_postfix(ExprPtr e) {
    while (true) {
      int line = cur().line;
      if (skip_op(".")) {
        if (cur().kind == TokenKind::kInteger) {
          auto item = make(ExprKind::kGetItem, line);
          auto idx = make(ExprKind::kLiteral, line);
          idx->literal = Value(static_cast<std::int64_t>(std::strtoll(next().value.c_str(), nullptr, 10)));
          item->children.push_back(std::move(e));
          item->children.push_back(std::move(idx));
          e = std::move(item);
        } else {
          auto attr = make(ExprKind::kGetAttr, line);
          attr->name = expect_name();
          attr->children.push_back(std::move(e));
          e = std::move(attr);
        }
      } else if (skip_op("[")) {
        e = parse_subscript(std::move(e), line);
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr target, int line) {
    ExprPtr parts[3];
    bool is_slice = false;
    int idx = 0;
    while (!is_op("]")) {
      if (skip_op(":")) {
        is_slice = true;
        if (++idx > 2) unexpected("']'");
        continue;
      }
      if (parts[idx]) unexpected("':' or ']'");
      parts[idx] = parse_expression();
      if (!is_slice && is_op(",")) fail("tuple subscripts are not supported", line);
    }
    next();
    if (!is_slice) {
      if (!parts[0]) fail("empty subscript", line);
      auto e = make(ExprKind::kGetItem, line);
      e->children.push_back(std::move(target));
      e->children.push_back(std::move(parts[0]));
      return e;
    }
    auto e = make(ExprKind::kSlice, line);
    e->children.push_back(std::move(target));
    for (auto& p : parts) e->children.push_back(std::move(p));
    return e;
  }

  void parse_call_args(Expr* call) {
    expect_op("(");
    bool first = true;
    while (!is_op(")")) {
      if (!first) expect_op(",");
      first = false;
      if (is_op(")")) break;
      if (is_op("*") || is_op("**")) fail("*args / **kwargs in calls are not supported", cur().line);
      if (cur().kind == TokenKind::kName && peek().kind == TokenKind::kOperator && peek().value == "=") {
        std::string key = next().value;
        next();
        call->kwargs.emplace_back(key, parse_expression());
      } else {
        if (!call->kwargs.empty()) fail("positional argument after a keyword argument", cur().line);
        call->children.push_back(parse_expression());
      }
    }
    next();
  }

  ExprPtr parse_call(ExprPtr callee) {
    auto call = make(ExprKind::kCall, cur().line);
    call->children.push_back(std::move(callee));
    parse_call_args(call.get());
    return call;
  }

  ExprPtr parse_filters(ExprPtr e) {
    while (true) {
      int line = cur().line;
      if (skip_op("|")) {
        auto f = make(ExprKind::kFilter, line);
        f->name = expect_name();
        while (skip_op(".")) { f->name += '.'; f->name += expect_name(); }
        if (!is_known_filter(f->name)) fail("no filter named '" + f->name + "'", line);
        f->children.push_back(std::move(e));
        if (is_op("(")) parse_call_args(f.get());
        e = std::move(f);
      } else if (is_name("is")) {
        next();
        auto t = make(ExprKind::kTest, line);
        if (is_name("not")) {
          next();
          t->negated = true;
        }
        t->name = expect_name();
        if (!is_known_test(t->name)) fail("no test named '" + t->name + "'", line);
        t->children.push_back(std::move(e));
        if (is_op("(")) {
          parse_call_args(t.get());
        } else if ((cur().kind == TokenKind::kName || cur().kind == TokenKind::kString ||
                    cur().kind == TokenKind::kInteger || cur().kind == TokenKind::kFloat || is_op("[") ||
                    is_op("{")) &&
                   !is_name("else") && !is_name("or") && !is_name("and")) {
          if (is_name("is")) fail("you cannot chain multiple tests with 'is'", line);
          t->children.push_back(parse_postfix(parse_primary()));
        }
        e = std::move(t);
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  const std::vector<Token>& t_;
  size_t pos_ = 0;
  int depth_ = 0;
  int max_depth_;
  int loop_depth_ = 0;  // enclosing for bodies (a macro body resets it)
};

}  // namespace

Body parse_template(const std::vector<Token>& tokens, int max_depth) {
  return Parser(tokens, max_depth).parse_all();
}

}  // namespace tessera::jinja
