"""Small templates, one per Jinja construct chat templates use, rendered by
gen_chat_template_fixtures.py with jinja2 (HF settings) into tests/data/chat_templates/constructs.json.
Each entry: (name, template source, variables)."""

M = [{"role": "system", "content": "sys"}, {"role": "user", "content": "Hi"},
     {"role": "assistant", "content": "Yo", "tool_calls": [{"function": {"name": "f", "arguments": {"b": 1, "a": [1, 2.5, None, True]}}}]}]
D = {"z": 1, "a": {"y": "x<>&'\"", "list": [1, "two", 3.0]}, "u": "日本 é", "e": [], "o": {}}

CONSTRUCTS = [
    # output and literals
    ("text_only", "plain text\n", {}),
    ("literals", "{{ 1 }}|{{ -2 }}|{{ 1.5 }}|{{ 1e3 }}|{{ 'a' 'b' }}|{{ \"q\\\"\" }}|{{ true }}|{{ none }}|{{ False }}", {}),
    ("escapes", "{{ 'a\\nb\\tc\\\\d\\x41\\u00e9\\U0001F600\\'' }}", {}),
    ("print_containers", "{{ [1, 'a', none, true, 1.5, {'k': 'v\\'s'}] }}{{ (1,) }}{{ (1, 'b') }}{{ {} }}{{ [] }}", {}),
    ("print_repr_quotes", "{{ [\"it's\", 'say \"hi\"', 'both \\' \"', 'nl\\n', 'tab\\t'] }}", {}),
    ("print_dict_input", "{{ d }}", {"d": D}),
    ("floats", "{{ 10/4 }} {{ 10/2 }} {{ 1e16 }} {{ 1e15 }} {{ 0.0001 }} {{ 0.00001 }} {{ 1/3 }} {{ 2.0**70 }} {{ -0.0 }}", {}),
    ("int_math", "{{ 7//2 }} {{ -7//2 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 2**10 }} {{ 3*4 }} {{ 5-8 }} {{ 7.5//2 }} {{ -7.5 % 2 }}", {}),
    ("string_ops", "{{ 'ab' * 3 }}|{{ 'x' + 'y' }}|{{ 1 ~ 'a' ~ none ~ true ~ undefined_var }}|{{ [1] + [2] }}", {}),
    ("unary", "{{ -(3) }} {{ +3 }} {{ not 0 }} {{ not 'x' }} {{ - 2 ** 2 }}", {}),
    # whitespace control
    ("ws_minus", "a  {{- 'b' -}}  c\n  {%- if true -%}  d  {%- endif -%}  \n e", {}),
    ("ws_trim_lstrip", "line1\n    {% if true %}\n    inner\n    {% endif %}\n  {{ 'v' }}\nend\n", {}),
    ("ws_plus", "x\n    {%+ if true +%}\ny{% endif %}", {}),
    ("ws_comment", "a\n  {# comment #}\nb {#- c -#} d\n{# multi\nline #}\ne", {}),
    ("ws_trailing_newlines", "a\n\n", {}),
    ("ws_crlf", "a\r\n{% if true %}\r\nb\r\n{% endif %}\rc", {}),
    ("ws_tabs_lstrip", "x\n\t \t{% if true %}y{% endif %}\n\t{{ 'z' }}", {}),
    ("ws_var_no_trim", "{{ 'a' }}\nb", {}),
    ("raw", "{% raw %}{{ not evaluated }}{% endraw %}|", {}),
    # control flow
    ("if_elif_else", "{% for x in [1,2,3,4] %}{% if x == 1 %}one{% elif x == 2 %}two{% elif x > 3 %}big{% else %}other{% endif %},{% endfor %}", {}),
    ("for_loop_vars", "{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.previtem }}{{ loop.nextitem }}{{ loop.cycle('o', 'e') }};{% endfor %}", {}),
    ("for_else", "{% for x in [] %}x{% else %}empty{% endfor %}{% for x in [1] if x > 5 %}x{% else %}filtered{% endfor %}", {}),
    ("for_filter", "{% for m in messages if m.role != 'system' %}{{ loop.index }}:{{ m.role }}/{{ loop.length }} {% endfor %}", {"messages": M}),
    ("for_dict", "{% for k in d %}{{ k }},{% endfor %}{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k, v in d|items %}{{ k }}{% endfor %}", {"d": {"b": 1, "a": 2}}),
    ("for_tuple_target", "{% for (a, b) in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %}", {}),
    ("for_nested_loop", "{% for a in [1,2] %}{% for b in [3,4] %}{{ loop.index }}{{ a }}{{ b }} {% endfor %}{{ loop.index }}|{% endfor %}", {}),
    ("break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("scoping_loop", "{% set x = 5 %}{% for i in [1,2] %}[{{ x }}]{% set x = i %}({{ x }}){% endfor %}{{ x }}", {}),
    ("scoping_if", "{% if true %}{% set y = 1 %}{% endif %}{{ y }}", {}),
    ("namespace", "{% set ns = namespace(n=0, found=false) %}{% for i in [1,2,3] %}{% set ns.n = ns.n + i %}{% if i == 2 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.n }} {{ ns.found }}", {}),
    ("set_tuple", "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t = 1, 'x' %}{{ t }}", {}),
    ("set_block", "{% set blk %}  inner {{ 1 + 1 }}  {% endset %}[{{ blk }}]{% set b2 | trim | upper %}  shout  {% endset %}[{{ b2 }}]", {}),
    ("macro", "{% macro greet(name, punct='!') %}Hello {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', '?') }} {{ greet(punct='.', name='C') }}", {}),
    ("macro_scope", "{% set x = 1 %}{% macro m() %}{{ x }}{% endmacro %}{% set x = 2 %}{{ m() }}{% for x in [9] %}{{ m() }}{% endfor %}", {}),
    ("macro_recursive", "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * (fact(n - 1) | int) }}{% endif %}{% endmacro %}{{ fact(5) }}", {}),
    ("with", "{% with a = 1, b = 'x' %}{{ a }}{{ b }}{% endwith %}{{ a }}", {}),
    ("generation", "{% generation %}gen{{ 1 }}{% endgeneration %}", {}),
    ("inline_if", "{{ 'y' if true else 'n' }}{{ 'y' if false else 'n' }}{{ 'y' if false }}|{{ (none if false) is defined }}", {}),
    # comparisons and logic
    ("compare", "{{ 1 < 2 }}{{ 2 <= 2 }}{{ 'a' < 'b' }}{{ 1 == 1.0 }}{{ true == 1 }}{{ [1,2] == [1,2] }}{{ {'a':1} == {'a':1} }}{{ 1 < 2 < 3 }}{{ 3 > 2 > 2 }}{{ none == none }}{{ 1 != 2 }}", {}),
    ("in_not_in", "{{ 'a' in 'cat' }}{{ 2 in [1,2] }}{{ 'k' in {'k': 1} }}{{ 'z' not in 'abc' }}{{ 'tool_calls' in m }}{{ 'x' in undefined_thing }}", {"m": M[2]}),
    ("and_or_values", "{{ 0 or 'b' }}|{{ 'a' and 'b' }}|{{ '' and 'x' }}|{{ none or none }}|{{ not (true and false) }}", {}),
    # tests
    ("tests_types", "{{ 1 is number }}{{ 1.5 is float }}{{ 1 is integer }}{{ true is integer }}{{ true is boolean }}{{ 'a' is string }}{{ d is mapping }}{{ [1] is sequence }}{{ 'a' is iterable }}{{ 1 is iterable }}{{ none is none }}{{ x is defined }}{{ x is undefined }}{{ d.nope is defined }}{{ d is callable }}{{ true is number }}", {"d": D}),
    ("tests_values", "{{ 4 is even }}{{ 3 is odd }}{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(2) }}{{ 'a' is equalto 'a' }}{{ 2 is eq 2 }}{{ 1 is lt 2 }}{{ 2 is gt 1 }}{{ 2 is in [1,2] }}{{ 'abc' is lower }}{{ 'ABC' is upper }}{{ false is false }}{{ true is true }}{{ none is sameas none }}{{ 3 is ne 4 }}{{ 1 is ge 1 }}{{ 1 is le 0 }}", {}),
    ("tests_not", "{{ x is not defined }}{{ 1 is not string }}{{ not x is defined }}", {}),
    ("undefined_semantics", "[{{ x }}][{{ x|length }}][{{ x|default('d') }}][{{ x is iterable }}][{% for i in x %}no{% endfor %}][{{ x == x }}][{{ x|string }}][{{ d.missing }}][{{ d['missing'] }}][{{ [1][5] }}][{{ 'ab'[9] }}]", {"d": D}),
    # filters
    ("f_trim", "[{{ '  a b \n\t'|trim }}][{{ 'xxaxx'|trim('x') }}][{{ '\u3000wide\u00a0'|trim }}]", {}),
    ("f_case", "{{ 'hello wORLD'|upper }} {{ 'HeLLo'|lower }} {{ 'hello wORLD-foo(bar'|title }} {{ 'hELLO world'|capitalize }} {{ 'ÉCOLE straße Ωμέγα'|lower }} {{ 'école straße'|upper }} {{ 'they\\'re bill\\'s'|title }}", {}),
    ("f_length", "{{ 'héllo'|length }} {{ [1,2]|length }} {{ d|length }} {{ 'abc'|count }}", {"d": D}),
    ("f_tojson", "{{ d|tojson }}\n{{ d|tojson(indent=2) }}\n{{ m|tojson }}\n{{ 'é<\\n>'|tojson }}\n{{ [1.0, 1e20, -0.5, none, true]|tojson }}\n{{ d|tojson(sort_keys=true) }}\n{{ d|tojson(ensure_ascii=true) }}\n{{ d|tojson(separators=(',', ':')) }}\n{{ {}|tojson(indent=2) }}{{ []|tojson(indent=2) }}", {"d": D, "m": M}),
    ("f_tojson_indent4", "{{ m|tojson(indent=4) }}", {"m": M}),
    ("f_join_map", "{{ [1,2,3]|join(', ') }}|{{ m|map(attribute='role')|join('/') }}|{{ ['a','b']|map('upper')|list }}|{{ m|map(attribute='nope', default='-')|join }}|{{ 'abc'|join('.') }}", {"m": M}),
    ("f_select", "{{ m|selectattr('role', 'equalto', 'user')|list|length }}|{{ m|rejectattr('role', 'eq', 'user')|map(attribute='role')|join(',') }}|{{ [0,1,2,3]|select('odd')|list }}|{{ [0,1,'',none,'x']|select|list }}|{{ [1,2,3]|reject('gt', 1)|list }}|{{ m|selectattr('tool_calls')|list|length }}|{{ m|selectattr('tool_calls', 'defined')|map(attribute='role')|first }}", {"m": M}),
    ("f_first_last", "{{ [1,2,3]|first }}{{ [1,2,3]|last }}{{ 'abc'|first }}{{ 'abc'|last }}{{ []|first }}|{{ m|first|tojson }}", {"m": M}),
    ("f_default", "{{ x|default('dflt') }}|{{ ''|default('e', true) }}|{{ ''|default('e') }}|{{ none|default('n') }}|{{ x|d('d') }}", {}),
    ("f_replace", "{{ 'aaa'|replace('a', 'b') }}|{{ 'aaa'|replace('a', 'b', 2) }}|{{ 'ab'|replace('', '-') }}|{{ 'x'.replace('x', 'yy') }}", {}),
    ("f_misc", "{{ [3,1,2]|sort }}{{ ['b','A','c']|sort }}{{ [3,1,2]|sort(reverse=true) }}{{ [1,2,2,1]|unique|list }}{{ [1,2,3]|sum }}{{ [1,5,3]|max }}{{ [4,2,8]|min }}{{ -3|abs }}{{ '42'|int }}{{ '4.7'|int }}{{ 'x'|int }}{{ '1.5'|float }}{{ 3.7|int }}{{ 2.5|round }}{{ 3.14159|round(2) }}{{ 'abc'|reverse }}{{ [1,2,3]|reverse|list }}{{ [1,'a']|string }}{{ 5|string }}{{ '<a>'|e }}{{ '<a>'|safe }}{{ d|dictsort }}{{ m|sort(attribute='role')|map(attribute='role')|list }}", {"d": {"b": 1, "a": 2}, "m": M}),
    ("f_indent", "{{ 'a\nb\n\nc'|indent }}|{{ 'a\nb'|indent(2, true) }}|{{ 'a\n\nb'|indent(2, blank=true) }}|{{ 'x'|indent('>>', first=true) }}", {}),
    ("f_items_list", "{{ d|items|list }}{{ d|list }}{{ 'ab'|list }}{{ range(3)|list }}{{ range(1, 10, 3)|list }}", {"d": {"b": 1, "a": 2}}),
    ("f_attr", "{{ d|attr('z') }}", {"d": D}),
    # subscripts and slicing
    ("slicing", "{{ 'hello'[1:3] }}|{{ 'hello'[::-1] }}|{{ 'hello'[-3:] }}|{{ [1,2,3,4,5][::2] }}|{{ [1,2,3][-1] }}|{{ 'héllo'[1] }}|{{ [1,2,3,4][1:-1] }}|{{ [1,2,3,4][5:] }}|{{ 'abcdef'[4:1:-1] }}|{{ m[1:]|length }}|{{ 'abc'[:-1] }}", {"m": M}),
    ("attr_item_access", "{{ m[1].role }}{{ m[1]['role'] }}{{ m.0.role }}{{ m[2].tool_calls[0].function.name }}{{ d.a.list[1] }}{{ d['a']['y'] }}", {"m": M, "d": D}),
    ("dict_methods", "{{ d.get('z') }}{{ d.get('nope') }}{{ d.get('nope', 'dflt') }}{{ d.keys()|list }}{{ d['a'].values()|list }}{% for k, v in d.items() %}{{ k }}{% endfor %}{{ d.a.items()|list }}", {"d": D}),
    ("string_methods", "{{ '  x  '.strip() }}|{{ 'xxyxx'.strip('x') }}|{{ '  x  '.lstrip() }}|{{ '  x  '.rstrip() }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}|{{ 'a,b,c'.rsplit(',', 1) }}|{{ 'abc'.startswith('ab') }}|{{ 'abc'.endswith(('x', 'bc')) }}|{{ 'Ab'.upper() }}{{ 'Ab'.lower() }}|{{ 'hello world'.title() }}|{{ 'hELLO'.capitalize() }}|{{ 'abcabc'.find('c') }}|{{ 'abcabc'.rfind('c') }}|{{ 'abcabc'.count('bc') }}|{{ '-'.join(['a', 'b']) }}|{{ 'a\nb\r\nc'.splitlines() }}|{{ '12'.isdigit() }}|{{ ' '.isspace() }}", {}),
    ("qwen3_think_split", "{% set content = c %}{% if '</think>' in content %}{{ content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}|{{ content.split('</think>')[-1].lstrip('\\n') }}{% endif %}", {"c": "<think>\nabc\n</think>\n\nanswer"}),
    ("messages_reverse", "{% for m in messages[::-1] %}{{ m.role }},{% endfor %}{{ (messages|length - 1) - 0 }}", {"messages": M}),
    ("strftime", "{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M') }}", {}),
    ("list_literals", "{{ [1, [2, [3]]][1][1][0] }}{{ {'a': {'b': 'c'}}['a'].b }}{{ ('x', 'y')[1] }}{{ [1,2,] }}{{ {'k': 1,} }}", {}),
    ("loop_over_string_chars", "{% for c in 'héy' %}[{{ c }}]{% endfor %}", {}),
    # errors: each must fail in both
    ("err_raise", "{% if true %}{{ raise_exception('Bad role order!') }}{% endif %}", {}),
    ("err_undefined_attr", "{{ x.y }}", {}),
    ("err_undefined_attr2", "{{ d.nope.deeper }}", {"d": D}),
    ("err_undefined_call", "{{ nofunc() }}", {}),
    ("err_add_types", "{{ 'a' + 1 }}", {}),
    ("err_add_undefined", "{{ 'a' + x }}", {}),
    ("err_div_zero", "{{ 1 / 0 }}", {}),
    ("err_mod_zero", "{{ 1 % 0 }}", {}),
    ("err_compare_types", "{{ 1 < 'a' }}", {}),
    ("err_in_types", "{{ 1 in 'abc' }}", {}),
    ("err_iterate_int", "{% for x in 5 %}{% endfor %}", {}),
    ("err_tojson_undefined", "{{ x|tojson }}", {}),
    ("err_unsafe_append", "{% set l = [1] %}{{ l.append(2) }}", {}),
    ("err_unsafe_update", "{% set d = {} %}{{ d.update({'a': 1}) }}", {}),
    ("err_namespace_assign", "{% set x = {} %}{% set x.a = 1 %}", {}),
    ("err_unknown_filter", "{{ 1|nosuchfilter }}", {}),
    ("err_unknown_test", "{{ 1 is nosuchtest }}", {}),
    ("err_unknown_tag", "{% nosuchtag %}", {}),
    ("err_unclosed_if", "{% if true %}x", {}),
    ("err_unclosed_for", "{% for x in y %}", {}),
    ("err_endif_extra", "{% endif %}", {}),
    ("err_unterminated_var", "{{ x ", {}),
    ("err_unterminated_string", "{{ 'abc }}", {}),
    ("err_unterminated_comment", "{# abc", {}),
    ("err_bad_token", "{{ x $ y }}", {}),
    ("err_break_outside", "{% break %}", {}),
    ("err_len_generator", "{{ [1]|map('string')|length }}", {}),
    ("err_unpack", "{% for a, b in [[1, 2, 3]] %}{% endfor %}", {}),
    ("err_range_too_big", "{{ range(1000000)|length }}", {}),
    ("err_extends", "{% extends 'base.html' %}", {}),
    ("err_int_undefined", "{{ x|int }}", {}),
    ("err_slice_step_zero", "{{ 'abc'[::0] }}", {}),
    ("err_macro_bad_kwarg", "{% macro m(a) %}{% endmacro %}{{ m(b=1) }}", {}),
    ("err_split_empty_sep", "{{ 'abc'.split('') }}", {}),
]


# ---- whole templates in the style of other well-known checkpoints (not in ../shared/data) ------
LLAMA2 = ("{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}"
          "{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
          "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
          "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
          "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
          "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}")
PY_TYPES = """{%- macro json_to_python_type(json_spec) %}
{%- set basic_type_map = {"string": "str", "number": "float", "integer": "int", "boolean": "bool"} %}
{%- if basic_type_map[json_spec.type] is defined %}
    {{- basic_type_map[json_spec.type] }}
{%- elif json_spec.type == "array" %}
    {{- "list[" +  json_to_python_type(json_spec["items"]) + "]"}}
{%- elif json_spec.type == "object" %}
    {%- if json_spec.additionalProperties is defined %}
        {{- "dict[str, " + json_to_python_type(json_spec.additionalProperties) + ']'}}
    {%- else %}
        {{- "dict" }}
    {%- endif %}
{%- elif json_spec.type is iterable %}
    {{- "Union[" }}
    {%- for t in json_spec.type %}
      {{- json_to_python_type({"type": t}) }}
      {%- if not loop.last %}{{- "," }}{%- endif %}
    {%- endfor %}
    {{- "]" }}
{%- else %}
    {{- "Any" }}
{%- endif %}
{%- endmacro %}
{%- for tool in tools %}
    {%- if tool.function is defined %}{%- set tool = tool.function %}{%- endif %}
{{ tool.name }}({% for param_name, param_fields in tool.parameters.properties|items %}{{ param_name }}: {{ json_to_python_type(param_fields) }}{% if not loop.last %}, {% endif %}{% endfor %})
    {%- if tool.description is defined %}
  \"\"\"{{ tool.description | trim | indent(2) }}\"\"\"
    {%- endif %}
{% endfor %}
<tools>{{ tools | tojson(indent=2) }}</tools>
"""
TOOLS = [{"type": "function", "function": {"name": "search", "description": "  Search the web.\nReturns results.  ",
          "parameters": {"type": "object", "properties": {
              "query": {"type": "string"}, "limit": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string"}},
              "opts": {"type": "object", "additionalProperties": {"type": "number"}}, "mode": {"type": ["string", "integer"]},
              "flag": {"type": "boolean"}, "blob": {}}}}},
         {"name": "plain", "parameters": {"type": "object", "properties": {}}}]
CONVO = [{"role": "system", "content": "Be nice."}, {"role": "user", "content": " Hi "}, {"role": "assistant", "content": "Hello "},
         {"role": "user", "content": "Bye"}]
CONSTRUCTS += [
    ("llama2_system", LLAMA2, {"messages": CONVO, "bos_token": "<s>", "eos_token": "</s>"}),
    ("llama2_no_system", LLAMA2, {"messages": CONVO[1:], "bos_token": "<s>", "eos_token": "</s>"}),
    ("llama2_bad_order", LLAMA2, {"messages": CONVO[2:], "bos_token": "<s>", "eos_token": "</s>"}),
    ("hermes_style_python_types", PY_TYPES, {"tools": TOOLS}),
]


# ---- random expressions: a seeded differential check of values, operators, filters, tests and
# methods in combination (jinja2's result, output or error, is the truth). -------------------------
import random
import re

_ATOMS = ["0", "1", "-3", "2.5", "1e20", "0.1", "'abc'", "''", "' Hé llo \\n'", "'日本'", "'a,b,,c'", "\"it's\"",
          "'AbC dEf'", "none", "true", "false", "[1, 2, 3]", "['b', 'A', 'c']", "[]", "{'k': 1, 'a': 'x'}", "{}",
          "x", "m", "m[0]", "m[1].content", "d", "s", "n", "(1, 'two')", "[3, 1.5, -2]", "[none, '', 0, 'z']"]
_BINOPS = ["+", "-", "*", "/", "//", "%", "~", "==", "!=", "<", ">", "<=", ">=", "in", "not in", "and", "or"]
_FILTERS = ["trim", "length", "lower", "upper", "title", "capitalize", "string", "tojson", "tojson(indent=2)",
            "first", "last", "list", "sort", "sort(reverse=true)", "unique|list", "reverse|list", "join(',')",
            "default('z')", "default('z', true)", "int", "float", "abs", "items|list", "round", "round(1)",
            "indent(2)", "replace('a', 'b')", "map('string')|list", "select|list", "reject|list", "sum", "max",
            "min", "dictsort", "safe", "e", "count", "selectattr('role', 'equalto', 'user')|list",
            "map(attribute='role')|join('/')", "trim('a')", "batch(2)"]
_TESTS = ["string", "number", "defined", "undefined", "none", "mapping", "iterable", "sequence", "integer",
          "float", "boolean", "odd", "even", "true", "false", "lower", "upper", "callable"]
_METHODS = [".strip()", ".split()", ".split(',')", ".upper()", ".lower()", ".startswith('a')", ".endswith('c')",
            ".replace('a', 'X')", ".title()", ".get('k')", ".get('role', 'dflt')", ".items()|list", ".keys()|list",
            ".values()|list", ".rstrip('\\n')", ".lstrip()", ".count('a')", ".find('b')", ".splitlines()",
            ".capitalize()", ".rsplit(',', 1)", ".index(2)"]
_SUBSCRIPTS = ["[0]", "[-1]", "[1:]", "[::-1]", "[:2]", "[1:-1]", "['k']", ".k", ".role", "[5]"]

RANDOM_VARIABLES = {
    "m": [{"role": "user", "content": "Hi <&>"}, {"role": "assistant", "content": " Yo ", "extra": [1, {"z": None}]}],
    "d": {"k": 1, "b": [1, "two"], "c": {"x": "y"}, "é": "ü"},
    "s": "  Mixed Case ßtraße Ωμέγα \t",
    "n": 42,
}


def _expr(rng, depth):
    r = rng.random()
    if depth <= 0 or r < 0.3:
        return rng.choice(_ATOMS)
    if r < 0.45:
        return f"({_expr(rng, depth - 1)} {rng.choice(_BINOPS)} {_expr(rng, depth - 1)})"
    if r < 0.65:
        return f"({_expr(rng, depth - 1)})|{rng.choice(_FILTERS)}"
    if r < 0.75:
        neg = "not " if rng.random() < 0.3 else ""
        return f"({_expr(rng, depth - 1)} is {neg}{rng.choice(_TESTS)})"
    if r < 0.85:
        return f"({_expr(rng, depth - 1)}){rng.choice(_METHODS)}"
    if r < 0.93:
        # jinja2's optimizer folds all-constant subscripts through a different path than runtime
        # ones (e.g. 1e20[1:] folds to undefined, n[1:] raises); real templates subscript variables.
        inner = _expr(rng, depth - 1)
        if not re.search(r"\b(x|m|d|s|n)\b", re.sub(r"'[^']*'|\"[^\"]*\"", "", inner)):
            inner = rng.choice(["x", "m", "d", "s", "n", "m[1]"])
        return f"({inner}){rng.choice(_SUBSCRIPTS)}"
    if r < 0.97:
        return f"({_expr(rng, depth - 1)} if {_expr(rng, depth - 1)} else {_expr(rng, depth - 1)})"
    return f"(not {_expr(rng, depth - 1)})"


def random_constructs(count=1500, seed=1234):
    rng = random.Random(seed)
    out = []
    for i in range(count):
        e = _expr(rng, 3)
        form = rng.random()
        if form < 0.7:
            src = "{{ " + e + " }}"
        elif form < 0.85:
            src = "{% for v in " + e + " %}[{{ v }}]{% else %}empty{% endfor %}"
        else:
            src = "{% if " + e + " %}T{% else %}F{% endif %}"
        out.append((f"random_{i}", src, dict(RANDOM_VARIABLES)))
    return out


CONSTRUCTS += random_constructs()
