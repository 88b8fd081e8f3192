// src/tokenizer/jinja/parser.h — builds the AST from tokens with jinja2's grammar and operator
// precedence. Tags outside the chat-template subset (extends, block, include, import, call,
// filter blocks, recursive loops) are rejected with a message naming the tag and line.
#pragma once

#include <vector>

#include "src/tokenizer/jinja/ast.h"
#include "src/tokenizer/jinja/lexer.h"

namespace tessera::jinja {

// Throws JinjaError with the line. max_depth caps nesting of blocks and expressions.
Body parse_template(const std::vector<Token>& tokens, int max_depth);

}  // namespace tessera::jinja
