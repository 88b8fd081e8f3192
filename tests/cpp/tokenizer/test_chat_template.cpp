// tests/cpp/tokenizer/test_chat_template.cpp — ChatTemplate API behaviour that fixtures cannot
// show: error messages name the template and line, render limits (steps, depth, output size)
// stop hostile templates with a clear error, and the HF context (tools, special tokens, kwargs,
// message extras in order) reaches the template.
#include <gtest/gtest.h>

#include "src/tokenizer/chat_template.h"

namespace tessera {
namespace {

std::string render_ok(std::string_view src, const std::vector<ChatMessage>& msgs = {}, bool agp = false,
                      const ChatContext& ctx = {}) {
  auto t = ChatTemplate::parse(src, "t.jinja");
  EXPECT_TRUE(t.has_value()) << t.status().message();
  if (!t) return "<parse error>";
  auto out = t->render(msgs, agp, ctx);
  EXPECT_TRUE(out.has_value()) << out.status().message();
  return out ? *out : "<render error>";
}

std::string parse_error(std::string_view src) {
  auto t = ChatTemplate::parse(src, "t.jinja");
  EXPECT_FALSE(t.has_value()) << "parsed: " << src;
  return t ? "" : t.status().message();
}

std::string render_error(std::string_view src, const std::vector<ChatMessage>& msgs = {},
                         const ChatTemplateLimits* limits = nullptr) {
  auto t = ChatTemplate::parse(src, "t.jinja");
  EXPECT_TRUE(t.has_value()) << t.status().message();
  if (!t) return "";
  if (limits) t->set_limits(*limits);
  auto out = t->render(msgs, false);
  EXPECT_FALSE(out.has_value()) << "rendered: " << (out ? *out : "");
  return out ? "" : out.status().message();
}

TEST(ChatTemplate, RendersMessagesAndGenerationPrompt) {
  const char* chatml =
      "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
      "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
  std::vector<ChatMessage> msgs = {{"system", "S"}, {"user", "U"}};
  EXPECT_EQ(render_ok(chatml, msgs, false), "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n");
  EXPECT_EQ(render_ok(chatml, msgs, true),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplate, SpecialTokensAndVariables) {
  ChatContext ctx;
  ctx.bos_token = "<s>";
  ctx.variables = {{"enable_thinking", false}, {"date_string", "1 Jan"}};
  EXPECT_EQ(render_ok("{{ bos_token }}|{{ eos_token is defined }}|{{ enable_thinking is false }}|{{ date_string }}",
                      {}, false, ctx),
            "<s>|False|True|1 Jan");
  // tools and documents are always defined (none when not given), as in transformers.
  EXPECT_EQ(render_ok("{{ tools is defined }}{{ tools is none }}{{ documents is none }}"), "TrueTrueTrue");
}

TEST(ChatTemplate, MessageExtrasKeepOrderInTojson) {
  OrderedJson call = OrderedJson::parse(R"({"name": "f", "arguments": {"zeta": 1, "alpha": "<&>"}})");
  std::vector<ChatMessage> msgs = {{"assistant", nullptr, {{"tool_calls", OrderedJson::array({call})}}}};
  EXPECT_EQ(render_ok("{{ messages[0].tool_calls[0].arguments | tojson }}|{{ messages[0].content is none }}|"
                      "{{ messages[0] | tojson }}",
                      msgs),
            R"({"zeta": 1, "alpha": "<&>"}|True|{"role": "assistant", "content": null, "tool_calls": )"
            R"([{"name": "f", "arguments": {"zeta": 1, "alpha": "<&>"}}]})");
}

TEST(ChatTemplate, StrftimeNowUsesPinnedClock) {
  ChatContext ctx;
  ctx.now_unix_seconds = 1721952000;
  EXPECT_EQ(render_ok("{{ strftime_now('%d %b %Y') }}", {}, false, ctx), "26 Jul 2024");
}

TEST(ChatTemplate, RaiseExceptionCarriesMessageAndLine) {
  std::string err = render_error("line one\n{% if messages[0].role != 'user' %}\n"
                                 "{{ raise_exception('Conversation must start with user') }}{% endif %}",
                                 {{"assistant", "x"}});
  EXPECT_NE(err.find("Conversation must start with user"), std::string::npos) << err;
  EXPECT_NE(err.find("t.jinja, line 3"), std::string::npos) << err;
}

TEST(ChatTemplate, SyntaxErrorsNameTheLine) {
  EXPECT_NE(parse_error("a\nb\n{% if x %}\nunclosed").find("line 3"), std::string::npos);
  EXPECT_NE(parse_error("{{ x }}\n{{ 1 +* 2 }}").find("line 2"), std::string::npos);
  EXPECT_NE(parse_error("\n\n{% include 'x' %}").find("'{% include %}' tag is not supported"), std::string::npos);
  EXPECT_NE(parse_error("{% for x in y recursive %}{% endfor %}").find("recursive"), std::string::npos);
  EXPECT_NE(parse_error("{{ x | frobnicate }}").find("no filter named 'frobnicate'"), std::string::npos);
  EXPECT_NE(parse_error("{{ x is frobnicated }}").find("no test named 'frobnicated'"), std::string::npos);
  EXPECT_NE(parse_error("{% call m() %}{% endcall %}").find("not supported"), std::string::npos);
  EXPECT_NE(parse_error("{{ 'abc }}").find("unterminated string"), std::string::npos);
  EXPECT_NE(parse_error("{{ 99999999999999999999 }}").find("too large"), std::string::npos);
  EXPECT_NE(parse_error("{{ f(*args) }}").find("not supported"), std::string::npos);
  EXPECT_NE(parse_error("{% continue %}").find("outside a for loop"), std::string::npos);
}

TEST(ChatTemplate, RuntimeErrorsNameTheLine) {
  EXPECT_NE(render_error("\n{{ x.y }}").find("line 2: 'x' is undefined"), std::string::npos);
  EXPECT_NE(render_error("{{ 'a' + 1 }}").find("can only concatenate str"), std::string::npos);
  EXPECT_NE(render_error("\n\n{{ 1 // 0 }}").find("line 3"), std::string::npos);
  EXPECT_NE(render_error("{{ [1].append(2) }}").find("unsafe"), std::string::npos);
  EXPECT_NE(render_error("{{ '%5s' % 1 }}").find("not supported"), std::string::npos);
  EXPECT_NE(render_error("{{ 'x'.format(1) }}").find("'format' is not supported"), std::string::npos);
  EXPECT_NE(render_error("{{ 'x' | wordwrap }}").find("not supported"), std::string::npos);
  EXPECT_NE(render_error("{{ [1]|map('upper') }}").find("generator"), std::string::npos);
  EXPECT_NE(render_error("{{ 9223372036854775807 + 1 }}").find("integer overflow"), std::string::npos);
}

TEST(ChatTemplate, LimitsStopHostileTemplates) {
  ChatTemplateLimits limits;
  limits.max_steps = 100000;
  limits.max_output_bytes = 1 << 16;
  limits.max_depth = 50;
  EXPECT_NE(render_error("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", {},
                         &limits)
                .find("evaluation steps"),
            std::string::npos);
  EXPECT_NE(render_error("{% for i in range(70000) %}xxxxxxxx{% endfor %}", {}, &limits).find("output exceeds"),
            std::string::npos);
  EXPECT_NE(render_error("{{ 'x' * 100000000 }}", {}, &limits).find("output exceeds"), std::string::npos);
  EXPECT_NE(render_error("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
                         "{% endfor %}",
                         {}, &limits)
                .find("exceeds"),
            std::string::npos);
  EXPECT_NE(render_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", {}, &limits).find("nested too deeply"),
            std::string::npos);
  // Deeply nested source is refused by the parser, not by a stack overflow.
  std::string deep(5000, '(');
  EXPECT_NE(parse_error("{{ " + deep + "1" + std::string(5000, ')') + " }}").find("nested too deeply"),
            std::string::npos);
  std::string ifs;
  for (int i = 0; i < 1000; ++i) ifs += "{% if true %}";
  EXPECT_NE(parse_error(ifs).find("nested too deeply"), std::string::npos);
}

TEST(ChatTemplate, ValuesCannotNestWithoutBoundOrFormCycles) {
  // Each round wraps the previous value once more: stopped at the value depth limit, so printing,
  // comparing and freeing it never recurse past the stack.
  EXPECT_NE(render_error("{% set ns = namespace(x=1) %}{% for i in range(2000) %}{% set ns.x = [ns.x] %}"
                         "{% endfor %}{{ ns.x }}")
                .find("nested too deeply"),
            std::string::npos);
  EXPECT_NE(render_error("{% set ns = namespace() %}{% set ns.me = [ns] %}").find("inside itself"),
            std::string::npos);
  // A loop.cycle kept after its loop still works.
  EXPECT_EQ(render_ok("{% set ns = namespace() %}{% for x in [1, 2] %}{% set ns.c = loop.cycle %}{% endfor %}"
                      "{{ ns.c('a', 'b') }}"),
            "b");
}

TEST(ChatTemplate, MalformedInputIsAnError) {
  auto t = ChatTemplate::parse("{{ messages }}", "t");
  ASSERT_TRUE(t.has_value());
  EXPECT_FALSE(t->render_json(OrderedJson::object(), false).has_value());
  ChatContext ctx;
  ctx.variables = OrderedJson::array();
  EXPECT_FALSE(t->render({}, false, ctx).has_value());
  std::vector<ChatMessage> bad = {{"user", "x", OrderedJson::array()}};
  EXPECT_FALSE(t->render(bad, false).has_value());
}

TEST(ChatTemplate, InvalidUtf8PassesThroughUnchanged) {
  std::vector<ChatMessage> msgs = {{"user", std::string("a\xff\xfe b")}};
  EXPECT_EQ(render_ok("{{ messages[0].content }}|{{ messages[0].content|length }}", msgs), "a\xff\xfe b|5");
}

TEST(ChatTemplate, NameAndSourceKept) {
  auto t = ChatTemplate::parse("hi", "x.jinja");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->name(), "x.jinja");
  EXPECT_EQ(t->source(), "hi");
  ChatTemplate unparsed;
  EXPECT_EQ(unparsed.name(), "");
  EXPECT_EQ(unparsed.render({}, false).status().code(), StatusCode::kInternal);
}

}  // namespace
}  // namespace tessera
