"""`tessera serve` through the official `openai` client: completions and chat, streamed and not,
usage (also stream_options.include_usage), stop strings, n, seed, logprobs, models, /tokenize and
/detokenize. CPU backend, demo model (random weights: the text is gibberish, but deterministic).
"""

from __future__ import annotations

import requests

PROMPT = "Once upon a time"


def whole_text(client, model, **kwargs) -> str:
    r = client.completions.create(model=model, prompt=PROMPT, **kwargs)
    return r.choices[0].text


def test_completion_whole_has_text_usage_and_finish_reason(server):
    client = server.client()
    r = client.completions.create(model=server.model, prompt=PROMPT, max_tokens=8, temperature=0)
    assert r.object == "text_completion"
    assert r.id.startswith("cmpl-")
    assert r.model == server.model
    assert len(r.choices) == 1 and r.choices[0].index == 0
    assert isinstance(r.choices[0].text, str) and r.choices[0].text
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 8
    assert r.usage.prompt_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + 8


def test_completion_stream_equals_whole(server):
    client = server.client()
    whole = whole_text(client, server.model, max_tokens=12, temperature=0)
    chunks = list(client.completions.create(model=server.model, prompt=PROMPT, max_tokens=12, temperature=0, stream=True))
    assert len(chunks) >= 2, "a streamed answer comes in several events"
    assert all(c.id == chunks[0].id for c in chunks)
    assert "".join(c.choices[0].text for c in chunks if c.choices) == whole
    assert chunks[-1].choices[0].finish_reason == "length"
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    assert all(c.usage is None for c in chunks), "usage only when stream_options.include_usage"


def test_stream_include_usage_ends_with_a_usage_chunk(server):
    client = server.client()
    chunks = list(
        client.completions.create(
            model=server.model, prompt=PROMPT, max_tokens=5, stream=True, stream_options={"include_usage": True}
        )
    )
    last = chunks[-1]
    assert last.choices == []
    assert last.usage.completion_tokens == 5
    assert last.usage.total_tokens == last.usage.prompt_tokens + 5
    assert all(c.usage is None for c in chunks[:-1])


def test_chat_whole_and_streamed(server):
    client = server.client()
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hi"}]
    r = client.chat.completions.create(model=server.model, messages=messages, max_tokens=6, temperature=0)
    assert r.object == "chat.completion"
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 6
    stream = client.chat.completions.create(
        model=server.model, messages=messages, max_tokens=6, temperature=0, stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].object == "chat.completion.chunk"
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == r.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["length"]
    assert chunks[-1].usage.completion_tokens == 6


def test_stop_string_cuts_the_text(server):
    client = server.client()
    full = whole_text(client, server.model, max_tokens=24, temperature=0)
    stop = full[6:10]
    assert len(stop) == 4, full
    expected = full[: full.index(stop)]
    r = client.completions.create(model=server.model, prompt=PROMPT, max_tokens=24, temperature=0, stop=[stop, "\x00never"])
    assert r.choices[0].text == expected
    assert r.choices[0].finish_reason == "stop"
    streamed = client.completions.create(model=server.model, prompt=PROMPT, max_tokens=24, temperature=0, stop=stop, stream=True)
    chunks = list(streamed)
    assert "".join(c.choices[0].text for c in chunks) == expected
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_n_completions_each_with_its_index(server):
    client = server.client()
    r = client.completions.create(model=server.model, prompt=PROMPT, max_tokens=6, n=3, seed=7, temperature=1.0)
    assert sorted(c.index for c in r.choices) == [0, 1, 2]
    assert all(c.finish_reason == "length" for c in r.choices)
    assert r.usage.completion_tokens == 18
    assert len({c.text for c in r.choices}) > 1, "independent samples should differ"
    chunks = list(client.completions.create(model=server.model, prompt=PROMPT, max_tokens=6, n=2, seed=7, stream=True))
    texts = {0: "", 1: ""}
    finishes = {}
    for c in chunks:
        for choice in c.choices:
            texts[choice.index] += choice.text
            if choice.finish_reason:
                finishes[choice.index] = choice.finish_reason
    assert finishes == {0: "length", 1: "length"}
    # Stream i of a seeded request equals the same request's choice i, streamed or not.
    assert texts[0] == r.choices[0].text and texts[1] == r.choices[1].text


def test_same_seed_same_text(server):
    client = server.client()
    a = whole_text(client, server.model, max_tokens=16, temperature=1.0, seed=1234)
    b = whole_text(client, server.model, max_tokens=16, temperature=1.0, seed=1234)
    c = whole_text(client, server.model, max_tokens=16, temperature=1.0, seed=4321)
    assert a == b
    assert a != c


def test_completion_logprobs(server):
    client = server.client()
    r = client.completions.create(model=server.model, prompt=PROMPT, max_tokens=5, temperature=0, logprobs=3)
    lp = r.choices[0].logprobs
    assert len(lp.tokens) == 5 and len(lp.token_logprobs) == 5 and len(lp.top_logprobs) == 5
    assert "".join(lp.tokens) == r.choices[0].text
    for token, logprob, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs):
        assert logprob <= 0.0
        assert 1 <= len(top) <= 3
        # Greedy: the chosen token is the most likely one.
        assert abs(max(top.values()) - logprob) < 1e-4
    assert lp.text_offset == sorted(lp.text_offset)


def test_chat_logprobs(server):
    client = server.client()
    r = client.chat.completions.create(
        model=server.model, messages=[{"role": "user", "content": "hi"}], max_tokens=4, logprobs=True, top_logprobs=2
    )
    content = r.choices[0].logprobs.content
    assert len(content) == 4
    assert "".join(t.token for t in content) == r.choices[0].message.content
    for t in content:
        assert t.logprob <= 0.0
        assert len(t.top_logprobs) == 2
        assert t.top_logprobs[0].logprob >= t.top_logprobs[1].logprob


def test_models(server):
    client = server.client()
    models = client.models.list()
    assert [m.id for m in models.data] == [server.model]
    assert client.models.retrieve(server.model).id == server.model


def test_tokenize_detokenize_round_trip(server):
    r = requests.post(f"{server.url}/tokenize", json={"prompt": "hello world", "add_special_tokens": False}, timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == len(body["tokens"]) > 0
    d = requests.post(f"{server.url}/detokenize", json={"tokens": body["tokens"]}, timeout=10)
    assert d.status_code == 200, d.text
    assert d.json()["prompt"] == "hello world"


def test_keep_alive_serves_many_requests_on_one_connection(server):
    with requests.Session() as s:
        for _ in range(5):
            r = s.post(f"{server.url}/v1/completions", json={"prompt": PROMPT, "max_tokens": 1}, timeout=30)
            assert r.status_code == 200
            assert r.headers["Connection"] == "keep-alive"
            assert r.headers["X-Request-Id"] == r.json()["id"]
