// src/tokenizer/jinja/lexer.h — splits template source into tokens the way jinja2's lexer does,
// with HF's settings: trim_blocks and lstrip_blocks on, keep_trailing_newline off.
//
// Whitespace control is applied here, so the parser sees final text: "{%-"/"-%}" strip all
// whitespace before/after a tag; lstrip_blocks removes spaces/tabs before a block or comment tag
// that starts its line (unless "{%+"); trim_blocks removes the first newline after a block or
// comment tag (unless "+%}"). Newlines are normalized to "\n" and one trailing newline is dropped.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tessera::jinja {

enum class TokenKind {
  kText,        // literal template text
  kVarBegin,    // {{
  kVarEnd,      // }}
  kBlockBegin,  // {%
  kBlockEnd,    // %}
  kName,
  kString,      // value holds the unescaped string
  kInteger,
  kFloat,
  kOperator,    // + - * / // % ** ~ == != < <= > >= = . : | , ( ) [ ] { } ;
  kEof,
};

struct Token {
  TokenKind kind;
  std::string value;
  int line;
};

struct LexerOptions {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
};

// Throws JinjaError (with the line) on an unterminated tag, comment or string, or a stray character.
std::vector<Token> tokenize(std::string_view source, const LexerOptions& options = {});

const char* token_kind_name(TokenKind kind);

}  // namespace tessera::jinja
