// src/tokenizer/jinja/ast.h — the parsed form of a template: expression and statement nodes.
// Built once by the parser, read-only during rendering (shared across threads).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "src/tokenizer/jinja/value.h"

namespace tessera::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

enum class ExprKind {
  kLiteral,   // literal (scalar)
  kName,      // name
  kList,      // children
  kTuple,     // children
  kDict,      // kwargs-like pairs in dict_items
  kGetAttr,   // children[0].name
  kGetItem,   // children[0][children[1]]
  kSlice,     // children[0][a:b:c]; children[1..3] may be null
  kCall,      // children[0](args)
  kFilter,    // children[0] | name(args)
  kTest,      // children[0] is [not] name(args)
  kUnary,     // name = "-", "+", "not"
  kBinary,    // name = + - * / // % ** ~ and or
  kCompare,   // children[0] ops[i] children[i+1] ...
  kCondExpr,  // children[1] if children[0] else children[2] (children[2] may be null)
};

struct Expr {
  ExprKind kind;
  int line = 0;
  Value literal;
  std::string name;
  bool negated = false;                               // kTest: "is not"
  std::vector<ExprPtr> children;                      // operands / items / positional args
  std::vector<std::pair<std::string, ExprPtr>> kwargs;  // call / filter / test keyword args
  std::vector<std::pair<ExprPtr, ExprPtr>> dict_items;
  std::vector<std::string> ops;                       // kCompare
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

enum class NodeKind {
  kText,      // text
  kOutput,    // {{ expr }}
  kIf,        // branches (cond, body); else_body
  kFor,       // targets in expr [if cond]: body; else_body
  kSet,       // targets = expr, or ns.attr = expr (attr non-empty)
  kSetBlock,  // {% set name [| filters] %} body {% endset %}; filter expr applied to a placeholder
  kMacro,     // name(params) body
  kBreak,
  kContinue,
  kScope,     // {% with a = x %} body, and {% generation %} (no scope, plain body)
};

struct Node {
  NodeKind kind;
  int line = 0;
  std::string text;                 // kText; kMacro/kSet*: name; kSet: namespace name
  std::string attr;                 // kSet: namespace attribute
  ExprPtr expr;                     // kOutput, kFor (iterable), kSet (value)
  ExprPtr cond;                     // kFor filter
  ExprPtr filter;                   // kSetBlock filters, applied to a kName "__block__"
  std::vector<std::string> targets; // kFor / kSet / kScope names
  bool unpack = false;              // kFor/kSet: targets written as a tuple
  std::vector<std::pair<ExprPtr, Body>> branches;  // kIf
  Body body;
  Body else_body;
  std::vector<std::pair<std::string, ExprPtr>> params;  // kMacro (default may be null); kScope assignments
  bool new_scope = false;           // kScope: with (true) vs generation (false)
};

}  // namespace tessera::jinja
