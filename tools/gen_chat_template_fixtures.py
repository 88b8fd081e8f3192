#!/usr/bin/env python3
"""Renders chat templates with Python's jinja2, set up exactly as Hugging Face transformers sets it
up for apply_chat_template, and writes the results as fixtures for the C++ chat-template tests.

  python3 tools/gen_chat_template_fixtures.py            # writes tests/data/chat_templates/*.json

HF's environment (transformers/utils/chat_template_utils.py, _compile_jinja_template):
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]),
filters["tojson"] = json.dumps(x, ensure_ascii=False, indent, separators, sort_keys=False),
globals raise_exception (TemplateError) and strftime_now. render() gets messages, tools,
documents, add_generation_prompt, then the special tokens and extra kwargs.

Outputs (committed, small):
  real_templates.json  every template in ../shared/data/chat_templates (and the chat templates in
                       ../shared/data/tokenizers/*/tokenizer_config.json) x message sets x
                       add_generation_prompt; the C++ test skips these when shared data is absent.
  constructs.json      small templates, one per construct, with their jinja2 output or error.
"""
import datetime
import hashlib
import json
import os
import re
import sys

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared", "data")
OUT = os.path.join(ROOT, "tests", "data", "chat_templates")
NOW = 1721952000  # 2024-07-26 00:00:00 UTC; the C++ side pins ChatContext::now_unix_seconds to it


class AssistantTracker(jinja2.ext.Extension):
    """transformers' {% generation %} tag: marks assistant text for training masks; the body
    renders unchanged (the masks are not needed here)."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.datetime.fromtimestamp(NOW, datetime.timezone.utc).strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


ENV = make_env()


def render(source, messages, add_generation_prompt, ctx):
    try:
        tmpl = ENV.from_string(source)
    except (jinja2.TemplateSyntaxError, SyntaxError) as e:
        return {"error": "syntax: " + str(e), "error_kind": "syntax"}
    kwargs = dict(messages=messages, tools=ctx.get("tools"), documents=ctx.get("documents"),
                  add_generation_prompt=add_generation_prompt)
    for k in ("bos_token", "eos_token", "unk_token", "pad_token"):
        if ctx.get(k) is not None:
            kwargs[k] = ctx[k]
    kwargs.update(ctx.get("variables", {}))
    try:
        return {"expected": tmpl.render(**kwargs)}
    except jinja2.TemplateError as e:
        kind = "raise" if type(e) is jinja2.exceptions.TemplateError else "runtime"
        return {"error": str(e), "error_kind": kind}
    except Exception as e:  # TypeError, ValueError, ... from Python operations
        return {"error": f"{type(e).__name__}: {e}", "error_kind": "runtime"}


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location <city> & 'state'",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7.5},
            },
            "required": ["location"],
        },
    },
}

TOOL_CALL = {"id": "call12345", "type": "function",
             "function": {"name": "get_current_weather", "arguments": {"location": "Paris, FR", "unit": "celsius"}}}

MESSAGE_SETS = {
    "user": [{"role": "user", "content": "Hello!"}],
    "system_user": [{"role": "system", "content": "You are a helpful assistant."},
                    {"role": "user", "content": "What is 2+2?"}],
    "multi_turn": [{"role": "user", "content": "Hi there"},
                   {"role": "assistant", "content": "Hello! How can I help?"},
                   {"role": "user", "content": "Tell me a joke."}],
    "system_multi_turn": [{"role": "system", "content": "Be brief."},
                          {"role": "user", "content": "One"},
                          {"role": "assistant", "content": "Two"},
                          {"role": "user", "content": "Three"},
                          {"role": "assistant", "content": "Four"}],
    "whitespace_unicode": [{"role": "user", "content": "  héllo wörld — 日本語 🎉 \n\n"},
                           {"role": "assistant", "content": "\tΣίσυφος ß\n"},
                           {"role": "user", "content": "<b>&'\"</b>\r\nnext"}],
    "assistant_first": [{"role": "assistant", "content": "I speak first"},
                        {"role": "user", "content": "ok"}],
    "two_users": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
    "empty": [],
    "tool_flow": [{"role": "system", "content": "You can call tools."},
                  {"role": "user", "content": "Weather in Paris?"},
                  {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]},
                  {"role": "tool", "content": "{\"temperature\": 22}", "tool_call_id": "call12345",
                   "name": "get_current_weather"},
                  {"role": "assistant", "content": "It is 22°C in Paris."}],
    "think": [{"role": "user", "content": "Solve it"},
              {"role": "assistant", "content": "<think>\nreasoning here\n</think>\n\nThe answer is 4."},
              {"role": "user", "content": "Thanks"}],
}

TOKENS = {
    "chatml": {},
    "gemma-2-it": {"bos_token": "<bos>", "eos_token": "<eos>"},
    "llama-3-instruct": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "llama-3.1-instruct": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "llama-3.2-instruct": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "mistral-7b-instruct-v0.1": {"bos_token": "<s>", "eos_token": "</s>"},
    "mistral-nemo-instruct-2407": {"bos_token": "<s>", "eos_token": "</s>"},
    "phi-3-mini-4k-instruct": {"bos_token": "<s>", "eos_token": "<|endoftext|>"},
    "phi-3.5-mini-instruct": {"bos_token": "<s>", "eos_token": "<|endoftext|>"},
    "qwen2.5-instruct": {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
}


def real_templates():
    out = []
    tdir = os.path.join(SHARED, "chat_templates")
    for fname in sorted(os.listdir(tdir)):
        if fname.endswith(".jinja"):
            name = fname[:-len(".jinja")]
            with open(os.path.join(tdir, fname), encoding="utf-8") as f:
                out.append(("chat_templates/" + fname, name, f.read(), TOKENS.get(name, {})))
    kdir = os.path.join(SHARED, "tokenizers")
    for model in sorted(os.listdir(kdir)):
        path = os.path.join(kdir, model, "tokenizer_config.json")
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as f:
            cfg = json.load(f)
        tpl = cfg.get("chat_template")
        if not isinstance(tpl, str):
            continue
        toks = {}
        for k in ("bos_token", "eos_token", "unk_token", "pad_token"):
            v = cfg.get(k)
            if isinstance(v, dict):
                v = v.get("content")
            if v is not None:
                toks[k] = v
        out.append((f"tokenizers/{model}/tokenizer_config.json", model, tpl, toks))
    return out


def real_cases():
    cases = []
    for path, name, source, toks in real_templates():
        for set_name, messages in MESSAGE_SETS.items():
            variants = [("", {})]
            if set_name == "tool_flow":
                variants = [("", {}), ("+tools", {"tools": [WEATHER_TOOL]}),
                            ("+tools_in_system", {"tools": [WEATHER_TOOL], "variables": {"tools_in_user_message": False}})]
            if set_name == "user":
                variants += [("+date", {"variables": {"date_string": "01 Jan 2025"}}),
                             ("+no_thinking", {"variables": {"enable_thinking": False}})]
            for suffix, extra in variants:
                for agp in (False, True):
                    ctx = dict(toks)
                    ctx.update(extra)
                    case = {"template": path, "template_sha256": hashlib.sha256(source.encode()).hexdigest(),
                            "name": f"{name}/{set_name}{suffix}/agp={int(agp)}", "messages": messages,
                            "add_generation_prompt": agp, "context": ctx}
                    case.update(render(source, messages, agp, ctx))
                    cases.append(case)
    return cases


def construct_cases():
    # (name, template, variables): one per construct; jinja2's output (or error) is the truth.
    from construct_templates import CONSTRUCTS  # noqa: E402  (next to this script)
    cases = []
    for name, source, variables in CONSTRUCTS:
        ctx = {"variables": variables}
        case = {"name": name, "source": source, "messages": [], "add_generation_prompt": False, "context": ctx}
        case.update(render(source, [], False, ctx))
        if re.search(r"at0x[0-9a-f]{6,}", re.sub(r"[^a-z0-9]", "", case.get("expected", "").lower())):
            continue  # jinja2 printed a Python object address: not reproducible, tessera refuses it
        cases.append(case)
    return cases


def main():
    os.makedirs(OUT, exist_ok=True)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    cases = real_cases()
    with open(os.path.join(OUT, "real_templates.json"), "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False, indent=1)
    n_err = sum(1 for c in cases if "error" in c)
    print(f"real_templates.json: {len(cases)} cases ({n_err} expected errors)")
    cases = construct_cases()
    with open(os.path.join(OUT, "constructs.json"), "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False, indent=1)
    n_err = sum(1 for c in cases if "error" in c)
    print(f"constructs.json: {len(cases)} cases ({n_err} expected errors)")


if __name__ == "__main__":
    main()
