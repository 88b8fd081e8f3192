"""Every error path of `tessera serve`, through the `openai` client where it has an exception for
it and raw HTTP where the status or headers matter: 400 (bad fields, bad JSON), 401 (API key),
404 (model, route), 405, 413 (body size), 429 (queue full, Retry-After), 503 (loading), and CORS
off by default, on for the allowed origins only.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import openai
import pytest
import requests

PROMPT = "Once upon a time"


def assert_openai_error(r: requests.Response, status: int, param: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert isinstance(err["message"], str) and err["message"]
    if param is not None:
        assert err["param"] == param, err
    return err


# ---- 400 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, param",
    [
        ({"prompt": PROMPT, "max_tokens": -1}, "max_tokens"),
        ({"prompt": PROMPT, "temperature": "hot"}, "temperature"),
        ({"prompt": PROMPT, "n": 0}, "n"),
        ({"prompt": PROMPT, "logprobs": 21}, "logprobs"),
        ({"prompt": PROMPT, "stop": ["a"] * 17}, "stop"),
        ({"prompt": PROMPT, "max_tokens": 1_000_000}, "max_tokens"),
        ({}, "prompt"),
    ],
)
def test_bad_completion_fields_are_400_naming_the_field(server, body, param):
    r = requests.post(f"{server.url}/v1/completions", json=body, timeout=30)
    err = assert_openai_error(r, 400, param)
    assert err["type"] == "invalid_request_error"


def test_bad_fields_raise_bad_request_in_the_client(server):
    client = server.client()
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model=server.model, prompt=PROMPT, max_tokens=-5)
    assert "max_tokens" in str(e.value)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=server.model, messages=[{"role": "wizard", "content": "x"}])


def test_invalid_json_is_400(server):
    r = requests.post(f"{server.url}/v1/chat/completions", data=b"{not json", timeout=30,
                      headers={"Content-Type": "application/json"})
    assert_openai_error(r, 400)
    r = requests.post(f"{server.url}/tokenize", data=b"[1, 2", timeout=30)
    assert_openai_error(r, 400)


def test_malformed_http_is_400(server):
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost x\r\n\r\n")
        data = s.recv(65536)
    assert data.startswith(b"HTTP/1.1 400 "), data


# ---- 404 / 405 -------------------------------------------------------------------------------


def test_unknown_model_is_404(server):
    client = server.client()
    with pytest.raises(openai.NotFoundError) as e:
        client.completions.create(model="no-such-model", prompt=PROMPT, max_tokens=1)
    assert e.value.status_code == 404
    r = requests.post(f"{server.url}/v1/completions", json={"model": "no-such-model", "prompt": "x"}, timeout=30)
    assert assert_openai_error(r, 404)["code"] == "model_not_found"
    r = requests.get(f"{server.url}/v1/models/no-such-model", timeout=30)
    assert_openai_error(r, 404)


def test_unknown_route_is_404_and_wrong_method_405(server):
    assert_openai_error(requests.get(f"{server.url}/v2/completions", timeout=30), 404)
    assert_openai_error(requests.post(f"{server.url}/v1/embeddings", json={}, timeout=30), 404)
    r = requests.get(f"{server.url}/v1/completions", timeout=30)
    assert_openai_error(r, 405)
    assert "POST" in r.headers["Allow"]


# ---- 413 -------------------------------------------------------------------------------------


def test_body_over_the_limit_is_413(serve):
    server = serve("--max-body-bytes", "65536")
    body = json.dumps({"prompt": "x" * 70_000}).encode()
    r = requests.post(f"{server.url}/v1/completions", data=body, timeout=30)
    err = assert_openai_error(r, 413)
    assert "65536" in err["message"]
    # Just under the limit is parsed (and here refused for its length, a 400).
    ok = requests.post(f"{server.url}/tokenize", json={"prompt": "hello " * 1000}, timeout=30)
    assert ok.status_code == 200
    client = server.client()
    with pytest.raises(openai.APIStatusError) as e:
        client.completions.create(model=server.model, prompt="y" * 70_000, max_tokens=1)
    assert e.value.status_code == 413
    assert server.metric("tessera:http_requests_total", route="transport", code="413") == 2


# ---- 401 and CORS ----------------------------------------------------------------------------

KEY = "sk-tessera-test"
ORIGIN = "http://ui.example"


@pytest.fixture(scope="module")
def secured(tessera_binary, log_dir):
    from conftest import ServeFactory

    factory = ServeFactory(tessera_binary, log_dir, "secured")
    yield factory("--api-key", KEY, "--cors-origin", f"{ORIGIN}, http://other.example", api_key=KEY)
    factory.stop_all()


def test_api_key_is_required_on_every_route_but_health(secured):
    assert requests.get(f"{secured.url}/health", timeout=10).status_code == 200
    for method, path in [("GET", "/v1/models"), ("GET", "/metrics"), ("POST", "/v1/completions"),
                         ("POST", "/v1/chat/completions"), ("POST", "/tokenize"), ("POST", "/detokenize"),
                         ("GET", "/v1/models/x"), ("GET", "/no/such/route")]:
        for headers in [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}, {"Authorization": f"Basic {KEY}"}]:
            r = requests.request(method, f"{secured.url}{path}", headers=headers, json={}, timeout=10)
            err = assert_openai_error(r, 401)
            assert err["code"] == "invalid_api_key", (method, path, headers)
            assert r.headers["WWW-Authenticate"] == "Bearer"
    r = requests.get(f"{secured.url}/v1/models", headers={"Authorization": f"Bearer {KEY}"}, timeout=10)
    assert r.status_code == 200


def test_the_client_needs_the_key(secured):
    bad = secured.client(api_key="sk-wrong")
    with pytest.raises(openai.AuthenticationError):
        bad.completions.create(model=secured.model, prompt=PROMPT, max_tokens=1)
    good = secured.client()
    assert good.completions.create(model=secured.model, prompt=PROMPT, max_tokens=2).usage.completion_tokens == 2


def test_api_key_from_the_environment(serve):
    server = serve(env={"TESSERA_API_KEY": "sk-from-env"}, api_key="sk-from-env")
    assert requests.get(f"{server.url}/v1/models", timeout=10).status_code == 401
    assert requests.get(f"{server.url}/v1/models", headers=server.headers(), timeout=10).status_code == 200


def test_cors_headers_only_for_allowed_origins(secured):
    auth = {"Authorization": f"Bearer {KEY}"}
    r = requests.get(f"{secured.url}/v1/models", headers={**auth, "Origin": ORIGIN}, timeout=10)
    assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Origin" in r.headers["Vary"]
    r = requests.get(f"{secured.url}/v1/models", headers={**auth, "Origin": "http://evil.example"}, timeout=10)
    assert r.status_code == 200
    assert "Access-Control-Allow-Origin" not in r.headers
    # Errors carry them too, so the page can read the message.
    r = requests.get(f"{secured.url}/v1/models", headers={"Origin": ORIGIN}, timeout=10)
    assert r.status_code == 401 and r.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_cors_preflight(secured):
    pre = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "authorization, content-type"}
    r = requests.options(f"{secured.url}/v1/chat/completions", headers=pre, timeout=10)  # no key: preflights have none
    assert r.status_code == 204, r.text
    assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in r.headers["Access-Control-Allow-Methods"]
    assert "authorization" in r.headers["Access-Control-Allow-Headers"].lower()
    r = requests.options(f"{secured.url}/v1/chat/completions", headers={**pre, "Origin": "http://evil.example"}, timeout=10)
    assert r.status_code == 403
    assert "Access-Control-Allow-Origin" not in r.headers


def test_cors_is_off_by_default(server):
    r = requests.get(f"{server.url}/v1/models", headers={"Origin": ORIGIN}, timeout=10)
    assert r.status_code == 200
    assert not any(h.lower().startswith("access-control-") for h in r.headers)
    pre = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    r = requests.options(f"{server.url}/v1/completions", headers=pre, timeout=10)
    assert r.status_code == 403
    assert not any(h.lower().startswith("access-control-") for h in r.headers)


# ---- 429 -------------------------------------------------------------------------------------


def test_queue_full_is_429_with_retry_after(serve):
    # One request runs, one may wait: the third is refused until one of them ends.
    server = serve("--max-num-seqs", "1", "--max-queue", "1")
    client = server.client()
    long = dict(model=server.model, prompt=PROMPT, max_tokens=1500, extra_body={"ignore_eos": True}, stream=True)
    running = client.completions.create(**long)
    next(iter(running))  # it runs
    waiting = client.completions.create(**long)  # admitted: the stream begins at once, it waits
    with pytest.raises(openai.RateLimitError) as e:
        client.completions.create(model=server.model, prompt=PROMPT, max_tokens=1)
    assert e.value.status_code == 429
    r = requests.post(f"{server.url}/v1/completions", json={"prompt": PROMPT, "max_tokens": 1}, timeout=30)
    err = assert_openai_error(r, 429)
    assert err["type"] == "rate_limit_error"
    assert int(r.headers["Retry-After"]) >= 1
    assert server.metric("tessera:http_requests_total", route="/v1/completions", code="429") == 2
    running.close()
    waiting.close()
    # Both are cancelled when their clients leave; then there is room again.
    deadline = time.monotonic() + 30
    while server.metric("tessera:requests_running") + server.metric("tessera:requests_waiting") > 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert client.completions.create(model=server.model, prompt=PROMPT, max_tokens=1).usage.completion_tokens == 1


# ---- 503 -------------------------------------------------------------------------------------


def test_health_and_api_are_503_while_the_model_loads(serve):
    server = serve(env={"TESSERA_SERVE_TEST_LOAD_DELAY_MS": "3000"}, wait=False)
    r = requests.get(f"{server.url}/health", timeout=10)
    err = assert_openai_error(r, 503)
    assert "loading" in err["message"]
    r = requests.post(f"{server.url}/v1/completions", json={"prompt": PROMPT}, timeout=10)
    assert_openai_error(r, 503)
    with pytest.raises(openai.InternalServerError) as e:
        server.client().models.list()
    assert e.value.status_code == 503
    server.wait_ready()
    assert requests.get(f"{server.url}/health", timeout=10).status_code == 200


def test_errors_keep_the_connection_alive(server):
    # Many bad requests on one kept-alive connection, then a good one.
    with requests.Session() as s:
        for _ in range(3):
            assert s.post(f"{server.url}/v1/completions", json={"n": -1}, timeout=10).status_code == 400
        assert s.post(f"{server.url}/v1/completions", json={"prompt": PROMPT, "max_tokens": 1}, timeout=30).status_code == 200


def test_concurrent_bad_and_good_requests(server):
    results = []

    def worker(i):
        body = {"prompt": PROMPT, "max_tokens": 2} if i % 2 else {"prompt": PROMPT, "top_p": 2}
        results.append((i % 2, requests.post(f"{server.url}/v1/completions", json=body, timeout=60).status_code))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [(0, 400)] * 8 + [(1, 200)] * 8
