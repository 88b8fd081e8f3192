"""What happens around requests rather than in them: clients that vanish mid-request (their engine
request is cancelled and its KV blocks freed within about one engine step, seen in /metrics), and
SIGTERM/SIGINT (running requests finish within --shutdown-timeout, the rest are cancelled, no new
connections, exit status 0).
"""

from __future__ import annotations

import json
import math
import signal
import socket
import threading
import time

import requests

PROMPT = "Once upon a time"
LONG = {"prompt": PROMPT, "max_tokens": 1900, "ignore_eos": True}


def open_request(server, body: dict) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    s = socket.create_connection((host, int(port)), timeout=30)
    payload = json.dumps(body).encode()
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload))
    return s


def read_events(s: socket.socket, count: int) -> bytes:
    data = b""
    while data.count(b"data: ") < count:
        chunk = s.recv(65536)
        assert chunk, f"the server closed the stream early: {data[-500:]!r}"
        data += chunk
    return data


def wait_until(predicate, timeout: float, what: str) -> float:
    t0 = time.monotonic()
    while not predicate():
        assert time.monotonic() - t0 < timeout, f"{what}: not within {timeout} s"
        time.sleep(0.002)
    return time.monotonic() - t0


def engine_idle(server) -> bool:
    m = server.metrics()
    total = lambda name: sum(v for _, v in m[name])  # noqa: E731
    return total("tessera:requests_running") == 0 and total("tessera:kv_cache_usage_ratio") == 0.0


def check_cancelled_within_a_step(server, s: socket.socket) -> None:
    """Closes `s` (a request that runs) and checks that the engine let it go within about a step."""
    # The step time, from the engine's own step counter over a short window while it runs.
    t_a, steps_a = time.monotonic(), server.metric("tessera:engine_steps_total")
    time.sleep(0.2)
    t_b, steps_b = time.monotonic(), server.metric("tessera:engine_steps_total")
    assert steps_b > steps_a, "the request should be running"
    step_s = (t_b - t_a) / (steps_b - steps_a)
    assert server.metric("tessera:requests_running") == 1
    assert server.metric("tessera:kv_cache_usage_ratio") > 0
    aborted = server.metric("tessera:sample_streams_finished_total", finished_reason="abort")
    t_before = time.monotonic()
    steps_before = server.metric("tessera:engine_steps_total")
    s.close()
    t_close = time.monotonic()
    elapsed = wait_until(lambda: engine_idle(server), 10, "running 0 and KV cache empty after the disconnect")
    steps_after = server.metric("tessera:engine_steps_total")
    # Steps between our reading of the counter and the close are the client's time, not the
    # server's: allow those, plus the step in flight when the cancel arrived and one to apply it.
    allowed = math.ceil((t_close - t_before) / step_s) + 2
    assert steps_after - steps_before <= allowed, (
        f"{steps_after - steps_before} engine steps after the disconnect (step {step_s * 1e3:.2f} ms, "
        f"allowed {allowed}); cleanup seen after {elapsed * 1e3:.1f} ms")
    print(f"disconnect: {steps_after - steps_before} steps after (allowed {allowed}, step {step_s * 1e3:.2f} ms), "
          f"cleanup seen after {elapsed * 1e3:.1f} ms")
    assert server.metric("tessera:sample_streams_finished_total", finished_reason="abort") == aborted + 1
    assert server.metric("tessera:requests_waiting") == 0


def test_streaming_client_that_disconnects_is_cancelled_within_a_step(serve):
    server = serve()
    s = open_request(server, {**LONG, "stream": True})
    head = read_events(s, 3)
    assert head.startswith(b"HTTP/1.1 200 OK")
    check_cancelled_within_a_step(server, s)
    assert server.metric("tessera:client_disconnects_total") == 1
    # The server goes on serving.
    r = requests.post(f"{server.url}/v1/completions", json={"prompt": PROMPT, "max_tokens": 3}, timeout=30)
    assert r.json()["usage"]["completion_tokens"] == 3


def test_waiting_client_that_disconnects_is_cancelled_within_a_step(serve):
    server = serve()
    s = open_request(server, LONG)  # not streamed: nothing comes back until the end
    wait_until(lambda: server.metric("tessera:generation_tokens_total") > 10, 30, "the request generates")
    check_cancelled_within_a_step(server, s)
    assert server.metric("tessera:client_disconnects_total") == 1


def test_many_clients_that_disconnect_free_every_block(serve):
    server = serve()
    sockets = [open_request(server, {**LONG, "stream": i % 2 == 0, "max_tokens": 500 + i}) for i in range(24)]
    wait_until(lambda: server.metric("tessera:requests_running") == 24, 60, "24 requests running")
    for s in sockets:
        s.close()
    wait_until(lambda: engine_idle(server) and server.metric("tessera:requests_waiting") == 0, 30, "all cancelled")
    assert server.metric("tessera:client_disconnects_total") == 24
    assert server.metric("tessera:sample_streams_finished_total", finished_reason="abort") == 24


def test_sigterm_lets_running_requests_finish_and_exits_0(serve):
    server = serve()
    client = server.client()
    stream = client.completions.create(model=server.model, prompt=PROMPT, max_tokens=300,
                                       extra_body={"ignore_eos": True}, stream=True)
    chunks = [next(iter(stream))]
    idle = requests.Session()
    assert idle.get(f"{server.url}/health", timeout=10).status_code == 200  # a kept-alive idle connection
    server.process.send_signal(signal.SIGTERM)
    # New connections are refused soon after.
    host, port = server.url.removeprefix("http://").split(":")

    def refused() -> bool:
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
            return False
        except OSError:
            return True

    wait_until(refused, 10, "connections refused after SIGTERM")
    # The running stream ends normally.
    chunks += list(stream)
    assert chunks[-1].choices[0].finish_reason == "length"
    assert sum(len(c.choices[0].text) > 0 for c in chunks) > 100
    assert server.process.wait(timeout=30) == 0
    log = server.log()
    assert "shutting down" in log and "stopped" in log and "cancelling" not in log


def test_sigterm_cancels_what_outlives_the_shutdown_timeout(serve):
    server = serve("--shutdown-timeout", "0.5")
    client = server.client()
    stream = client.completions.create(model=server.model, prompt=PROMPT, max_tokens=1900,
                                       extra_body={"ignore_eos": True}, stream=True)
    first = next(iter(stream))
    assert first.choices[0].finish_reason is None
    t0 = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    rest = list(stream)
    assert rest[-1].choices[0].finish_reason == "abort"
    assert server.process.wait(timeout=30) == 0
    assert time.monotonic() - t0 < 10
    assert "cancelling 1 requests still running" in server.log()


def test_sigint_on_an_idle_server_exits_0_at_once(serve):
    server = serve()
    t0 = time.monotonic()
    assert server.stop(signal.SIGINT) == 0
    assert time.monotonic() - t0 < 5


def test_sigterm_while_loading_exits_0(serve):
    server = serve(env={"TESSERA_SERVE_TEST_LOAD_DELAY_MS": "1500"}, wait=False)
    assert requests.get(f"{server.url}/health", timeout=10).status_code == 503
    assert server.stop(signal.SIGTERM) == 0
    assert "while loading" in server.log()


def test_second_signal_cuts_the_grace_short(serve):
    server = serve("--shutdown-timeout", "60")
    client = server.client()
    stream = client.completions.create(model=server.model, prompt=PROMPT, max_tokens=1900,
                                       extra_body={"ignore_eos": True}, stream=True)
    next(iter(stream))
    done = threading.Event()
    last = []

    def drain():
        for chunk in stream:
            last[:] = [chunk]
        done.set()

    threading.Thread(target=drain, daemon=True).start()
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert server.process.poll() is None, "still draining"
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=15) == 0
    assert done.wait(10)
    # Cut short, not cut off: the request was cancelled and its stream ended properly.
    assert last[0].choices[0].finish_reason == "abort"
