#!/usr/bin/env python3
"""bench/serving/bench_serving.py — `tessera serve` over HTTP at fixed concurrency, measured as
vLLM's `vllm bench serve` measures a server.

For each concurrency level C (default 1, 16, 64, 256) it sends --num-prompts streaming
/v1/completions requests, at most C in flight (a closed loop: a new request starts when one
ends), each with exactly --input-len prompt tokens (random ids drawn from the model's own
vocabulary, so no two prompts share a prefix) and --output-len generated tokens (ignore_eos).
Per level it reports, with vLLM's definitions:
  request throughput   completed requests / wall time of the level
  output throughput    generated tokens (from each stream's usage) / wall time
  TTFT                 send -> first token event, per request
  TPOT                 (latency - TTFT) / (output tokens - 1), per request with > 1 token
  ITL                  gaps between successive token events, over all requests
  E2EL                 send -> last event, per request
as mean, p50 and p99. The client is plain asyncio sockets (HTTP/1.1, chunked SSE parsed as it
arrives), so it adds little latency and needs nothing beyond Python.

Usage:
  bench_serving.py [--url http://127.0.0.1:8000]           an already running server, or
  bench_serving.py [--binary build/cpu/tessera] [--model DIR] [-- extra `tessera serve` flags]
                   [--concurrency 1,16,64,256] [--num-prompts N] [--input-len 1024] [--output-len 128]
                   [--api-key K] [--out DIR]
Prints a Markdown table; writes DIR/bench_serving.json and, when matplotlib is there,
DIR/bench_serving.png. Without --url it starts `tessera serve --port 0` itself and stops it after.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


# ---- a small streaming HTTP client -------------------------------------------------------------

async def stream_completion(url: str, body: dict, api_key: str) -> dict:
    """POSTs `body` (stream: true) and timestamps every SSE event; returns the request's record."""
    u = urllib.parse.urlsplit(url)
    payload = json.dumps(body).encode()
    head = (f"POST /v1/completions HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n")
    if api_key:
        head += f"Authorization: Bearer {api_key}\r\n"
    start = time.perf_counter()
    reader, writer = await asyncio.open_connection(u.hostname, u.port)
    record = {"start": start, "token_times": [], "output_tokens": 0, "error": None}
    try:
        writer.write(head.encode() + b"\r\n" + payload)
        await writer.drain()
        status_line = await reader.readline()
        status = int(status_line.split()[1])
        headers = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            k, _, v = line.decode().partition(":")
            headers[k.strip().lower()] = v.strip()
        if status != 200:
            record["error"] = f"HTTP {status}: {(await reader.read())[:300]!r}"
            return record
        assert headers.get("transfer-encoding") == "chunked", headers
        pending = b""
        while True:
            size = int((await reader.readline()).strip(), 16)
            if size == 0:
                break
            data = await reader.readexactly(size + 2)
            now = time.perf_counter()
            pending += data[:-2]
            while b"\n\n" in pending:
                event, pending = pending.split(b"\n\n", 1)
                if not event.startswith(b"data: "):
                    continue  # a keep-alive comment
                text = event[6:]
                if text == b"[DONE]":
                    continue
                chunk = json.loads(text)
                if "error" in chunk:
                    record["error"] = chunk["error"].get("message")
                if chunk.get("usage"):
                    record["output_tokens"] = chunk["usage"]["completion_tokens"]
                if chunk.get("choices"):
                    record["token_times"].append(now)
        record["end"] = time.perf_counter()
    except (OSError, ValueError, asyncio.IncompleteReadError) as e:
        record["error"] = f"{type(e).__name__}: {e}"
    finally:
        writer.close()
    return record


def http_json(url: str, path: str, api_key: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(url + path, data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": f"Bearer {api_key}"} if api_key else {})})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)


# ---- the benchmark -----------------------------------------------------------------------------

def vocabulary_sample(url: str, api_key: str, seed: int) -> list[int]:
    """Token ids of the model's tokenizer: those of a long random text through /tokenize."""
    rng = random.Random(seed)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(4000)]
    text = " ".join(words) + " " + " ".join(str(rng.randint(0, 10**6)) for _ in range(500))
    ids = http_json(url, "/tokenize", api_key, {"prompt": text, "add_special_tokens": False})["tokens"]
    return sorted(set(ids))


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"mean": 0.0, "p50": 0.0, "p99": 0.0, "n": 0}
    v = sorted(values)

    def pct(q):  # linear between order statistics, as numpy.percentile
        pos = q * (len(v) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(v) - 1)
        return v[lo] + (v[hi] - v[lo]) * (pos - lo)

    return {"mean": statistics.fmean(v), "p50": pct(0.5), "p99": pct(0.99), "n": len(v)}


async def run_level(args, model: str, vocab: list[int], concurrency: int, num_prompts: int, seed: int) -> dict:
    rng = random.Random(seed)
    prompts = [[rng.choice(vocab) for _ in range(args.input_len)] for _ in range(num_prompts)]
    sem = asyncio.Semaphore(concurrency)

    async def one(prompt):
        async with sem:
            return await stream_completion(args.url, {
                "model": model, "prompt": prompt, "max_tokens": args.output_len, "temperature": 0.0,
                "ignore_eos": True, "stream": True, "stream_options": {"include_usage": True},
            }, args.api_key)

    t0 = time.perf_counter()
    records = await asyncio.gather(*(one(p) for p in prompts))
    duration = time.perf_counter() - t0
    ok = [r for r in records if r["error"] is None and r["token_times"]]
    errors = [r["error"] for r in records if r not in ok]
    ttft = [(r["token_times"][0] - r["start"]) * 1e3 for r in ok]
    e2el = [(r["end"] - r["start"]) * 1e3 for r in ok]
    tpot = [((r["end"] - r["start"]) - (r["token_times"][0] - r["start"])) * 1e3 / (r["output_tokens"] - 1)
            for r in ok if r["output_tokens"] > 1]
    itl = [(b - a) * 1e3 for r in ok for a, b in zip(r["token_times"], r["token_times"][1:])]
    output_tokens = sum(r["output_tokens"] for r in ok)
    return {
        "concurrency": concurrency, "num_prompts": num_prompts, "completed": len(ok), "failed": len(errors),
        "errors": errors[:5], "duration_s": duration,
        "request_throughput": len(ok) / duration, "output_throughput": output_tokens / duration,
        "total_token_throughput": (output_tokens + len(ok) * args.input_len) / duration,
        "ttft_ms": percentiles(ttft), "tpot_ms": percentiles(tpot), "itl_ms": percentiles(itl),
        "e2el_ms": percentiles(e2el),
    }


def plot(results: list[dict], title: str, path: str) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot", file=sys.stderr)
        return
    c = [r["concurrency"] for r in results]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.plot(c, [r["output_throughput"] for r in results], "o-", label="output tokens/s")
    a.set_xscale("log", base=2)
    a.set_xlabel("concurrent requests")
    a.set_ylabel("output tokens/s")
    a.legend()
    for key, label in (("ttft_ms", "TTFT"), ("tpot_ms", "TPOT"), ("itl_ms", "ITL")):
        b.plot(c, [r[key]["p50"] for r in results], "o-", label=f"{label} p50")
        b.plot(c, [r[key]["p99"] for r in results], "x--", label=f"{label} p99")
    b.set_xscale("log", base=2)
    b.set_yscale("log")
    b.set_xlabel("concurrent requests")
    b.set_ylabel("ms")
    b.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def start_server(args, extra: list[str]) -> tuple[subprocess.Popen, str, str]:
    log_path = os.path.join(args.out, "bench_serving_server.log")
    log = open(log_path, "wb")
    cmd = [args.binary, "serve", "--port", "0", *(["--model", args.model] if args.model else []), *extra]
    if args.api_key:
        cmd += ["--api-key", args.api_key]
    print("$ " + " ".join(cmd), file=sys.stderr)
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        text = open(log_path, errors="replace").read()
        m = re.search(r"ready in \S+ at (http://[^\s/]+)", text)
        if m:
            return proc, m.group(1), log_path
        if proc.poll() is not None:
            sys.exit(f"tessera serve exited with {proc.returncode}:\n{text[-3000:]}")
        time.sleep(0.1)
    proc.kill()
    sys.exit("tessera serve did not get ready within 600 s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default=None, help="a running server (default: start one)")
    p.add_argument("--binary", default=os.path.join(ROOT, "build", "cpu", "tessera"))
    p.add_argument("--model", default=None, help="checkpoint folder for the server we start (default: the demo model)")
    p.add_argument("--api-key", default=os.environ.get("TESSERA_API_KEY", ""))
    p.add_argument("--concurrency", default="1,16,64,256")
    p.add_argument("--num-prompts", type=int, default=0, help="requests per level (default: 4 x concurrency, 16 to 1024)")
    p.add_argument("--input-len", type=int, default=1024)
    p.add_argument("--output-len", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=os.path.join(ROOT, "build", "bench-serving"))
    args, extra = p.parse_known_args()
    extra = [e for e in extra if e != "--"]
    os.makedirs(args.out, exist_ok=True)
    if args.output_len < 1 or args.input_len < 1:
        sys.exit("--input-len and --output-len must be >= 1")

    proc = None
    if args.url is None:
        proc, args.url, _ = start_server(args, extra)
    elif extra:
        sys.exit(f"server flags {extra} need a server we start (leave out --url)")
    try:
        model = http_json(args.url, "/v1/models", args.api_key)["data"][0]
        if args.input_len + args.output_len > model.get("max_model_len", 1 << 30):
            sys.exit(f"--input-len + --output-len exceed the model's context of {model['max_model_len']} tokens")
        vocab = vocabulary_sample(args.url, args.api_key, args.seed)
        # One warm-up request (first-use allocations, page faults) outside the measurement.
        asyncio.run(run_level(args, model["id"], vocab, 1, 1, args.seed + 999))
        results = []
        for i, c in enumerate(int(x) for x in args.concurrency.split(",")):
            n = args.num_prompts or min(1024, max(16, 4 * c))
            print(f"concurrency {c}: {n} requests ...", file=sys.stderr)
            results.append(asyncio.run(run_level(args, model["id"], vocab, c, n, args.seed + i)))
            if results[-1]["failed"]:
                print(f"  {results[-1]['failed']} failed, e.g. {results[-1]['errors'][0]}", file=sys.stderr)
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=120)

    title = f"tessera serve, {model['id']}: {args.input_len} in / {args.output_len} out tokens per request"
    print(title + "\n")
    print("| concurrency | requests | req/s | output tok/s | TTFT p50 / p99 (ms) | TPOT p50 / p99 (ms) "
          "| ITL p50 / p99 (ms) | E2E p50 (ms) | failed |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(f"| {r['concurrency']} | {r['num_prompts']} | {r['request_throughput']:.2f} | {r['output_throughput']:,.0f} "
              f"| {r['ttft_ms']['p50']:.1f} / {r['ttft_ms']['p99']:.1f} | {r['tpot_ms']['p50']:.2f} / {r['tpot_ms']['p99']:.2f} "
              f"| {r['itl_ms']['p50']:.2f} / {r['itl_ms']['p99']:.2f} | {r['e2el_ms']['p50']:.0f} | {r['failed']} |")
    config = {k: getattr(args, k) for k in ("url", "model", "concurrency", "input_len", "output_len", "seed")}
    config["served_model"] = model["id"]
    with open(os.path.join(args.out, "bench_serving.json"), "w") as f:
        json.dump({"config": config, "server_flags": extra, "results": results}, f, indent=2)
    plot(results, title, os.path.join(args.out, "bench_serving.png"))
    print(f"\nwrote {os.path.join(args.out, 'bench_serving.json')}", file=sys.stderr)
    if any(r["failed"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
