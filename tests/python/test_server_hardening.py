"""What an attacker or a new user found wrong with `tessera serve` ([serve-hardening]), each as the
case that failed before its fix:

- request smuggling: a Transfer-Encoding whose last coding is not exactly one "chunked" is 400 (501
  for a coding we do not decode) and the connection closes, so its body is never read as a second
  request (RFC 9112 6.1-6.3);
- a client that half-closes (shutdown(SHUT_WR) after sending) gets its whole response, streamed or
  not, while a client that really closes is still cancelled (test_server_lifecycle.py);
- a chat request without max_tokens works when the KV cache holds less than the model's context,
  and an explicit --max-model-len the cache cannot hold is refused at start-up;
- fields that would change the answer and that tessera does not implement (tool_choice, guided_json,
  ...) are 400 naming the field, as are floats that pass as doubles but round to 0 as floats;
- engine errors keep their `param`; absolute-form targets are served; --max-connections leaves
  /health reachable; one access-log line per request, off with --disable-log-requests;
- the heap is handed back after a burst of large /tokenize bodies.
"""

from __future__ import annotations

import json
import re
import resource
import socket
import subprocess
import time

import pytest
import requests

PROMPT = "Once upon a time"


def address(server) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").split(":")
    return host, int(port)


def read_until_closed(s: socket.socket, timeout: float = 30) -> bytes:
    s.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def status_lines(data: bytes) -> list[int]:
    # Not anchored to a line start: a pipelined response follows the previous body directly.
    return [int(m) for m in re.findall(rb"HTTP/1\.[01] (\d{3}) ", data)]


def final_response(data: bytes) -> tuple[int, dict[str, str], bytes]:
    """The one final response in `data`, after any interim (1xx) ones: status, headers, body."""
    while True:
        head, _, rest = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if status >= 200:
            break
        data = rest
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body, pos = b"", 0
        while True:
            end = rest.index(b"\r\n", pos)
            size = int(rest[pos:end], 16)
            if size == 0:
                break
            body += rest[end + 2:end + 2 + size]
            pos = end + 2 + size + 2
        return status, headers, body
    return status, headers, rest


# ---- request smuggling -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "transfer_encoding, status",
    [("xchunked", 400), ("gzip", 400), ("identity", 400), ("chunked, chunked", 400), ("chunked, gzip", 400),
     ("gzip, chunked", 501)],
)
def test_transfer_encoding_other_than_chunked_is_refused_and_closes(server, transfer_encoding, status):
    smuggled = b"GET /v1/models HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    with socket.create_connection(address(server), timeout=30) as s:
        s.sendall(b"POST /tokenize HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: " + transfer_encoding.encode() +
                  b"\r\n\r\n" + smuggled)
        data = read_until_closed(s)
    assert status_lines(data) == [status], data[:600]
    assert b"Connection: close" in data
    assert b'"object": "list"' not in data and b'"object":"list"' not in data  # /v1/models never answered


def test_transfer_encoding_with_content_length_is_refused(server):
    with socket.create_connection(address(server), timeout=30) as s:
        s.sendall(b"POST /tokenize HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"0\r\n\r\nGET /v1/models HTTP/1.1\r\nHost: t\r\n\r\n")
        data = read_until_closed(s)
    assert status_lines(data) == [400], data[:600]


def test_chunked_request_body_still_works(server):
    body = json.dumps({"prompt": "hello"}).encode()
    with socket.create_connection(address(server), timeout=30) as s:
        s.sendall(b"POST /tokenize HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nConnection: close\r\n"
                  b"Transfer-Encoding: Chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
        status, _, payload = final_response(read_until_closed(s))
    assert status == 200, payload
    assert json.loads(payload)["count"] > 0


def test_absolute_form_target_is_served(server):
    host, port = address(server)
    with socket.create_connection((host, port), timeout=30) as s:
        s.sendall(b"GET http://%s:%d/v1/models HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" % (host.encode(), port))
        status, _, payload = final_response(read_until_closed(s))
    assert status == 200, payload
    assert json.loads(payload)["data"][0]["id"] == server.model


# ---- half-closed clients ---------------------------------------------------------------------


def half_closed_request(server, body: dict) -> bytes:
    payload = json.dumps(body).encode()
    with socket.create_connection(address(server), timeout=60) as s:
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload))
        s.shutdown(socket.SHUT_WR)  # done sending; still reading
        return read_until_closed(s, timeout=120)


def test_half_closed_client_gets_the_whole_response(server):
    data = half_closed_request(server, {"prompt": PROMPT, "max_tokens": 24, "ignore_eos": True})
    status, headers, body = final_response(data)
    assert status == 200, data[:600]
    assert headers["connection"] == "close"
    assert json.loads(body)["usage"]["completion_tokens"] == 24


def test_half_closed_client_gets_the_whole_stream(server):
    data = half_closed_request(server, {"prompt": PROMPT, "max_tokens": 24, "ignore_eos": True, "stream": True,
                                        "stream_options": {"include_usage": True}})
    status, _, body = final_response(data)
    assert status == 200, data[:600]
    events = [line[6:] for line in body.decode().splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    assert json.loads(events[-2])["usage"]["completion_tokens"] == 24


def test_half_closed_client_gets_every_pipelined_answer(server):
    request = b"GET /v1/models HTTP/1.1\r\nHost: t\r\n\r\n"
    with socket.create_connection(address(server), timeout=30) as s:
        s.sendall(request * 3)
        s.shutdown(socket.SHUT_WR)
        data = read_until_closed(s)
    assert status_lines(data) == [200, 200, 200], data[:600]


# ---- context and KV cache --------------------------------------------------------------------


def test_chat_without_max_tokens_fits_a_small_cache(serve):
    server = serve("--num-kv-blocks", "4")  # 64 slots, against the demo model's 2048-token context
    r = requests.post(f"{server.url}/v1/chat/completions",
                      json={"messages": [{"role": "user", "content": "Hi"}], "ignore_eos": True}, timeout=120)
    assert r.status_code == 200, r.text
    usage = r.json()["usage"]
    assert usage["prompt_tokens"] + usage["completion_tokens"] == 65  # what 64 slots hold
    assert r.json()["choices"][0]["finish_reason"] == "length"
    assert "does not fit in the KV cache" in server.log()  # the start-up warning


def test_explicit_context_longer_than_the_cache_is_refused_at_start(serve):
    server = serve("--num-kv-blocks", "4", "--max-model-len", "1024", wait=False)
    assert server.process.wait(timeout=120) == 2  # the flags contradict each other: a usage error
    assert "max_model_len: 1024 tokens do not fit in the KV cache" in server.log()
    server.stop()


def test_huge_max_position_embeddings_serves_what_the_cache_holds(serve, tessera_binary, tmp_path):
    model = tmp_path / "huge-context"
    subprocess.run([str(tessera_binary), "make-model", "--preset", "tiny", "--out", str(model)], check=True,
                   capture_output=True, timeout=120)
    config = json.loads((model / "config.json").read_text())
    config["max_position_embeddings"] = 2**62
    (model / "config.json").write_text(json.dumps(config))
    server = serve("--model", str(model), "--num-kv-blocks", "8")
    r = requests.post(f"{server.url}/v1/completions", json={"prompt": PROMPT}, timeout=120)
    assert r.status_code == 200, r.text
    models = requests.get(f"{server.url}/v1/models", timeout=30).json()
    assert models["data"][0]["max_model_len"] == 8 * 16 + 1


# ---- fields tessera does not implement --------------------------------------------------------


@pytest.mark.parametrize(
    "route, field, value",
    [
        ("chat", "tool_choice", "auto"),
        ("chat", "tool_choice", {"type": "function", "function": {"name": "f"}}),
        ("chat", "functions", [{"name": "f", "parameters": {}}]),
        ("chat", "function_call", "auto"),
        ("chat", "parallel_tool_calls", True),
        ("chat", "modalities", ["text", "audio"]),
        ("chat", "tools", [{"type": "function", "function": {"name": "f"}}]),
        ("chat", "guided_json", {"type": "object"}),
        ("completions", "guided_json", {"type": "object"}),
        ("completions", "guided_regex", "[a-z]+"),
        ("completions", "guided_choice", ["yes", "no"]),
        ("completions", "prompt_logprobs", 1),
        ("completions", "response_format", {"type": "json_object"}),
    ],
)
def test_fields_that_change_the_answer_are_refused(server, route, field, value):
    body = {"max_tokens": 2, field: value}
    if route == "chat":
        body["messages"] = [{"role": "user", "content": "Hi"}]
    else:
        body["prompt"] = PROMPT
    r = requests.post(f"{server.url}/v1/{'chat/completions' if route == 'chat' else 'completions'}", json=body,
                      timeout=30)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] in (field, f"{field}.type"), r.text


@pytest.mark.parametrize("field, value", [("tool_choice", "none"), ("functions", []), ("modalities", ["text"]),
                                          ("parallel_tool_calls", False), ("tools", [])])
def test_those_fields_set_to_off_are_accepted(server, field, value):
    r = requests.post(f"{server.url}/v1/chat/completions",
                      json={"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2, field: value}, timeout=60)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("field, value", [("top_p", 1e-320), ("repetition_penalty", 1e-300)])
def test_floats_that_round_to_zero_are_400_naming_the_field(server, field, value):
    r = requests.post(f"{server.url}/v1/completions", json={"prompt": PROMPT, "max_tokens": 2, field: value},
                      timeout=30)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == field
    assert "32-bit float" in r.json()["error"]["message"]


# ---- connections -----------------------------------------------------------------------------


def test_health_answers_when_idle_clients_hold_every_connection(serve):
    server = serve("--max-connections", "4")
    idle = [socket.create_connection(address(server), timeout=30) for _ in range(5)]  # 4 + one overflow slot
    try:
        time.sleep(0.2)
        t0 = time.monotonic()
        r = requests.get(f"{server.url}/health", timeout=10)
        assert r.status_code == 200
        assert time.monotonic() - t0 < 2
        r = requests.get(f"{server.url}/v1/models", timeout=10)
        assert r.status_code == 503, r.text
        assert "max-connections" in r.json()["error"]["message"]
    finally:
        for s in idle:
            s.close()
    deadline = time.monotonic() + 10
    while requests.get(f"{server.url}/v1/models", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "the slots were not given back"
        time.sleep(0.05)


def test_health_within_seconds_when_descriptors_run_out(serve):
    """The issue's case: 256 descriptors, more idle sockets than that; /health used to wait 30 s."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1024:  # this test holds 300 sockets itself
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    server = serve(max_open_files=256)
    idle = []
    try:
        for _ in range(300):
            try:
                idle.append(socket.create_connection(address(server), timeout=5))
            except OSError:
                break
        time.sleep(0.5)
        deadline = time.monotonic() + 5
        while True:
            try:
                if requests.get(f"{server.url}/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "/health did not answer within 5 s"
            time.sleep(0.1)
    finally:
        for s in idle:
            s.close()


# ---- logs and memory -------------------------------------------------------------------------


def test_one_log_line_per_request(serve):
    server = serve()
    r = requests.post(f"{server.url}/v1/completions", json={"prompt": PROMPT, "max_tokens": 5, "ignore_eos": True},
                      timeout=60)
    request_id = r.headers["X-Request-Id"]
    requests.post(f"{server.url}/v1/completions", json={"prompt": PROMPT, "top_p": 7}, timeout=60)
    requests.get(f"{server.url}/v1/models", timeout=30)
    time.sleep(0.2)
    log = server.log()
    line = re.search(r"POST /v1/completions 200 127\.0\.0\.1:\d+ prompt_tokens=(\d+) completion_tokens=5 "
                     r"[\d.]+ms id=" + re.escape(request_id), log)
    assert line, log[-2000:]
    assert int(line.group(1)) == r.json()["usage"]["prompt_tokens"]
    assert re.search(r"POST /v1/completions 400 127\.0\.0\.1:\d+ [\d.]+ms", log), log[-2000:]
    assert re.search(r"GET /v1/models 200 127\.0\.0\.1:\d+ [\d.]+ms", log), log[-2000:]
    assert "GET /health" not in log  # polled routes only at debug level


def test_disable_log_requests(serve):
    server = serve("--disable-log-requests")
    requests.post(f"{server.url}/v1/completions", json={"prompt": PROMPT, "max_tokens": 2}, timeout=60)
    time.sleep(0.2)
    assert "POST /v1/completions" not in server.log()


def test_memory_goes_back_after_large_tokenize_bodies(serve):
    server = serve()
    text = "the quick brown fox jumps over the lazy dog " * 150_000  # ~6.6 MB
    requests.post(f"{server.url}/tokenize", json={"prompt": "warm up"}, timeout=60)
    time.sleep(1.0)
    before = server.rss_bytes()
    for _ in range(3):
        r = requests.post(f"{server.url}/tokenize", json={"prompt": text}, timeout=120)
        assert r.status_code == 200
    peak = server.rss_bytes()
    deadline = time.monotonic() + 5
    while server.rss_bytes() > before + 48 * 2**20:
        assert time.monotonic() < deadline, (
            f"RSS {server.rss_bytes() / 2**20:.0f} MiB stays above {before / 2**20:.0f} MiB + 48 (peak "
            f"{peak / 2**20:.0f} MiB)")
        time.sleep(0.1)
