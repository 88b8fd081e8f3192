"""Load on loopback, bounded in count and time: 512 concurrent streaming requests through the async
`openai` client against the CPU demo model all complete correctly; afterwards no request runs or
waits, every KV block is free, and the server's resident memory is back near its level before
the load.

Correctly means: each stream ends with finish_reason "length" after exactly MAX_TOKENS tokens
(EOS ignored), its usage chunk says so, and — the server runs batch-invariant, so a request's
tokens do not depend on what ran beside it — a sample of the streams equals the same seeded
request sent alone afterwards, not streamed.

Memory: RSS is measured after a warm-up round (which sizes the engine's step buffers for this
batch shape) and again after the load, each time once the server has been idle long enough to
hand freed heap pages back (it trims half a second after a burst ends); it may grow by at most
RSS_TOLERANCE (relative) + RSS_SLACK_BYTES, about 12 MiB on the ~75 MiB server: a leak of 32 KiB
per request (16 MiB over 512) fails it. The KV cache is kept small (1024 blocks, all touched by the
warm-up) so that pages of it touched for the first time do not pass for a leak.
"""

from __future__ import annotations

import asyncio
import time

N = 512
MAX_TOKENS = 16
WARMUP = 128
TIME_LIMIT_S = 300
RSS_TOLERANCE = 0.05
RSS_SLACK_BYTES = 8 << 20
IDLE_S = 1.5  # the server trims its heap within 0.5-1 s of going idle


async def one_stream(client, model: str, i: int) -> dict:
    stream = await client.completions.create(
        model=model, prompt=f"Story {i}: once upon a time", max_tokens=MAX_TOKENS, temperature=1.0, seed=i,
        stream=True, stream_options={"include_usage": True}, extra_body={"ignore_eos": True},
    )
    text, finish, usage, events = "", None, None, 0
    async for chunk in stream:
        events += 1
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.text
            if choice.finish_reason is not None:
                assert finish is None, f"request {i}: two finish reasons"
                finish = choice.finish_reason
    return {"i": i, "text": text, "finish": finish, "usage": usage, "events": events}


async def run_streams(server, count: int) -> list[dict]:
    # The client's default pool allows 1000 connections: one each.
    async with server.async_client() as client:
        return await asyncio.wait_for(
            asyncio.gather(*(one_stream(client, server.model, i) for i in range(count))), TIME_LIMIT_S
        )


def wait_idle(server, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        running = server.metric("tessera:requests_running")
        waiting = server.metric("tessera:requests_waiting")
        usage = server.metric("tessera:kv_cache_usage_ratio")
        if running == waiting == usage == 0:
            return
        assert time.monotonic() < deadline, f"not idle: running {running}, waiting {waiting}, KV usage {usage}"
        time.sleep(0.05)


def test_512_concurrent_streams(serve):
    server = serve("--batch-invariant", "--max-num-seqs", "64", "--num-kv-blocks", "1024")
    asyncio.run(run_streams(server, WARMUP))
    wait_idle(server)
    time.sleep(IDLE_S)
    rss_before = server.rss_bytes()
    finished_before = server.metric("tessera:sample_streams_finished_total", finished_reason="length")

    t0 = time.monotonic()
    results = asyncio.run(run_streams(server, N))
    elapsed = time.monotonic() - t0

    assert len(results) == N
    for r in results:
        assert r["finish"] == "length", r
        assert r["usage"] is not None and r["usage"].completion_tokens == MAX_TOKENS, r
        assert r["usage"].total_tokens == r["usage"].prompt_tokens + MAX_TOKENS, r
        assert r["text"], r
    finished = server.metric("tessera:sample_streams_finished_total", finished_reason="length") - finished_before
    assert finished == N
    assert server.metric("tessera:client_disconnects_total") == 0

    # Every KV block free, nothing running or waiting.
    wait_idle(server)
    time.sleep(IDLE_S)
    rss_after = server.rss_bytes()
    print(f"\n{N} streams in {elapsed:.1f} s ({N * MAX_TOKENS / elapsed:.0f} tok/s); "
          f"RSS {rss_before / 2**20:.1f} MiB before, {rss_after / 2**20:.1f} MiB after")
    assert rss_after <= rss_before * (1 + RSS_TOLERANCE) + RSS_SLACK_BYTES, (
        f"RSS grew from {rss_before / 2**20:.1f} MiB to {rss_after / 2**20:.1f} MiB")

    # A sample of the streams, sent again alone and not streamed, gives the same text.
    client = server.client()
    for r in results[:: N // 8]:
        alone = client.completions.create(model=server.model, prompt=f"Story {r['i']}: once upon a time",
                                          max_tokens=MAX_TOKENS, temperature=1.0, seed=r["i"],
                                          extra_body={"ignore_eos": True})
        assert alone.choices[0].text == r["text"], r["i"]
