"""Browser test of the web UI that `tessera serve` embeds (web/), in headless Chromium.

Drives Debian's chromium through chromedriver with selenium against `tessera serve` on the CPU demo
model (conftest.py's `server` and `serve` fixtures: free port, GET /health, clean SIGTERM), and
checks what a person would: the page loads from the binary alone, a chat message streams back (the
text grows while the answer is still running, not only at the end), Stop ends a stream and the
server lets the request go, an OpenAI error is shown, the dashboard counts the generated tokens,
every metric the dashboard reads is one the server exports, the JS parsers (Prometheus text,
server-sent events) handle the awkward cases, and a server with --api-key works once the key is
typed: a message sent before that asks for the key and stays in the composer, out of the
transcript, to be sent as it is once the key is in. Saves web-ui.png into $TESSERA_TEST_OUT/web_ui (or a temporary folder).

Without selenium, chromium or chromedriver the tests skip with the reason (fail instead under
TESSERA_REQUIRE_SERVER_TESTS=1, as conftest.py does for the server itself).
"""

from __future__ import annotations

import os
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import skip_or_fail

try:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # the browser fixture skips (or fails) and says why
    By = Keys = WebDriverWait = None

CHROMIUM = os.environ.get("TESSERA_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("TESSERA_CHROMEDRIVER", "/usr/bin/chromedriver")
WINDOW = (1440, 1000)
STREAM_TIMEOUT_S = 120


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.fixture(scope="module")
def out_dir() -> Path:
    env = os.environ.get("TESSERA_TEST_OUT")
    if env:
        path = Path(env) / "web_ui"
        path.mkdir(parents=True, exist_ok=True)
        return path
    return Path(tempfile.mkdtemp(prefix="tessera-web-ui-"))


@pytest.fixture(scope="module")
def browser(out_dir):
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service
    except ImportError as e:
        skip_or_fail(f"selenium is not installed ({e}); tools/setup.sh puts it in build/venv")
    for path, what in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromedriver")):
        if not (Path(path).is_file() and os.access(path, os.X_OK)):
            skip_or_fail(f"{what} not found at {path} (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",  # containers run as root, where the sandbox cannot start
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(
            service=Service(CHROMEDRIVER, log_output=str(out_dir / "chromedriver.log")), options=options
        )
    except WebDriverException as e:
        skip_or_fail(f"chromium could not start: {e.msg}")
    driver.set_script_timeout(30)
    yield driver
    driver.quit()


def open_ui(driver, server, api_key: str = "") -> None:
    """Loads the UI fresh (no key or settings from an earlier test) and waits for a model."""
    driver.get(f"{server.url}/")
    driver.execute_script("localStorage.clear();")
    if api_key:
        driver.execute_script("localStorage.setItem('tessera.apiKey', arguments[0]);", api_key)
    driver.get(f"{server.url}/")
    WebDriverWait(driver, 20).until(
        lambda d: d.execute_script("return document.getElementById('model-select').value") != ""
    )


def severe_console_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


# The MutationObserver sees every change of the answer's text as the page makes it, with the time:
# selenium's own polling is too coarse to tell "streamed" from "all at once" on a fast model.
WATCH_ANSWER_JS = """
window.__answerTrace = [];
const list = document.getElementById('messages');
new MutationObserver(() => {
  const bodies = list.querySelectorAll('.message.role-assistant .message-body');
  if (bodies.length === 0) return;
  const last = bodies[bodies.length - 1];
  const trace = window.__answerTrace;
  const length = last.textContent.length;
  if (trace.length === 0 || trace[trace.length - 1].length !== length) {
    trace.push({t: performance.now(), length});
  }
}).observe(list, {subtree: true, childList: true, characterData: true, attributes: true});
"""


def last_answer_outcome(driver) -> str:
    return driver.execute_script(
        "const m = document.querySelectorAll('.message.role-assistant');"
        "return m.length ? (m[m.length - 1].dataset.outcome || '') : '';"
    )


def set_field(driver, element_id: str, value: str) -> None:
    element = driver.find_element(By.ID, element_id)
    element.clear()
    if value:
        element.send_keys(value)


def parse_count(text: str) -> float:
    """Reads the dashboard's formatCount output back ('–', '12', '3.4k', '1.20M')."""
    text = text.strip()
    if text in ("", "–"):
        return float("nan")
    scale = {"k": 1e3, "M": 1e6}.get(text[-1], 1)
    return float(text[:-1] if scale != 1 else text) * scale


def test_page_and_assets_come_from_the_binary(server):
    status, body = http_get(f"{server.url}/")
    assert status == 200
    assert b"<!doctype html>" in body and b"main.js" in body
    for asset in ("main.js", "chat.js", "dashboard.js", "metrics.js", "sse.js", "api.js", "style.css"):
        status, _ = http_get(f"{server.url}/{asset}")
        assert status == 200, asset
    status, _ = http_get(f"{server.url}/no-such-file.js")
    assert status == 404


def test_chat_streams_and_dashboard_counts(server, browser, out_dir):
    open_ui(browser, server)
    set_field(browser, "max-tokens", "160")
    set_field(browser, "seed", "7")
    browser.find_element(By.ID, "ignore-eos").click()  # random weights end early at random
    browser.execute_script(WATCH_ANSWER_JS)
    browser.find_element(By.ID, "prompt").send_keys("Tell me about mosaics.")
    browser.find_element(By.ID, "send").click()
    WebDriverWait(browser, STREAM_TIMEOUT_S, poll_frequency=0.05).until(lambda d: last_answer_outcome(d) != "")
    error = browser.find_element(By.ID, "chat-error")
    assert last_answer_outcome(browser) == "finished", error.text
    assert not error.is_displayed(), error.text

    trace = browser.execute_script("return window.__answerTrace;")
    final = browser.find_elements(By.CSS_SELECTOR, ".message.role-assistant .message-body")[-1]
    final_length = len(browser.execute_script("return arguments[0].textContent;", final))
    assert final_length > 0, "the answer is empty"
    # Streamed: text was on the page well before the whole answer, and grew in steps over time.
    shown = [p for p in trace if p["length"] > 0]
    assert len({p["length"] for p in shown}) >= 3, f"text did not grow in steps: {trace}"
    assert shown[0]["length"] < final_length, f"all text arrived at once: {trace}"
    assert shown[-1]["length"] == final_length
    assert shown[-1]["t"] > shown[0]["t"], f"every step came in the same instant: {trace}"
    assert "160 completion tokens" in browser.find_element(By.ID, "generation-stats").text
    note = browser.find_elements(By.CSS_SELECTOR, ".message.role-assistant .message-note")[-1]
    assert note.text == "finish: length"

    # The dashboard, polling /metrics each second, has counted the generated tokens.
    WebDriverWait(browser, 10).until(
        lambda d: parse_count(d.find_element(By.ID, "stat-generation-total").text) > 0
    )
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "q-e2e").text.startswith("n="))
    assert browser.find_element(By.ID, "metrics-status").text == "live"
    time.sleep(1.5)  # one more poll, so the throughput plot has a point after the answer
    shot = out_dir / "web-ui.png"
    assert browser.save_screenshot(str(shot)), "screenshot failed"
    assert shot.stat().st_size > 10_000
    assert severe_console_errors(browser) == []


def aborted_streams(server) -> float:
    return server.metric("tessera:sample_streams_finished_total", finished_reason="abort")


def wait_for(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.05)


def test_stop_aborts_the_stream_and_the_server_lets_go(server, browser):
    open_ui(browser, server)
    aborted_before = aborted_streams(server)
    set_field(browser, "max-tokens", "2000")  # the demo model's context is 2048
    browser.find_element(By.ID, "ignore-eos").click()  # long enough to stop it for sure
    browser.find_element(By.ID, "prompt").send_keys("Write a long story.")
    browser.find_element(By.ID, "send").click()
    error = browser.find_element(By.ID, "chat-error")
    WebDriverWait(browser, STREAM_TIMEOUT_S, poll_frequency=0.05).until(
        lambda d: error.is_displayed()
        or d.execute_script(
            "const b = document.querySelectorAll('.message.role-assistant .message-body');"
            "return b.length ? b[b.length - 1].textContent.length : 0;"
        )
        > 0
    )
    assert not error.is_displayed(), error.text
    assert browser.find_element(By.ID, "stop").is_enabled()
    browser.find_element(By.ID, "stop").click()
    WebDriverWait(browser, 10).until(lambda d: last_answer_outcome(d) == "stopped")
    assert browser.find_element(By.ID, "send").is_enabled()
    assert not error.is_displayed(), error.text
    # The closed connection cancelled the request on the server (finish reason abort, long before
    # its 2000 tokens), and the dashboard shows nothing left running.
    wait_for(lambda: aborted_streams(server) == aborted_before + 1, 10, "the server to abort the stream")
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "stat-running").text == "0")
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "stat-waiting").text == "0")


def test_openai_error_is_shown(server, browser):
    open_ui(browser, server)
    set_field(browser, "temperature", "5")
    browser.find_element(By.ID, "prompt").send_keys("Hi")
    browser.find_element(By.ID, "send").click()
    error = browser.find_element(By.ID, "chat-error")
    WebDriverWait(browser, 20).until(lambda d: error.is_displayed())
    assert "400" in error.text and "temperature" in error.text, error.text
    # The failed attempt leaves no empty answer behind; the question stays to retry.
    assert browser.find_elements(By.CSS_SELECTOR, ".message.role-assistant") == []
    assert len(browser.find_elements(By.CSS_SELECTOR, ".message.role-user")) == 1


def test_dashboard_metric_names_are_exported(server, browser):
    """The one table of names in metrics.js against what GET /metrics really serves."""
    open_ui(browser, server)
    names = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "import('/metrics.js').then((m) => done(m.METRIC_NAMES), (e) => done(String(e)));"
    )
    assert isinstance(names, dict), names
    status, body = http_get(f"{server.url}/metrics")
    assert status == 200
    text = body.decode()
    sample_names = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    missing = []
    for key, name in names.items():
        if name.endswith("_seconds"):  # histograms
            if f"{name}_bucket" not in sample_names or f"{name}_count" not in sample_names:
                missing.append(f"{key}: {name}_bucket/_count")
        elif name not in sample_names:
            missing.append(f"{key}: {name}")
    assert not missing, f"metrics.js names the server does not export: {missing}"


PARSER_CASES_JS = """
const done = arguments[arguments.length - 1];
Promise.all([import('/metrics.js'), import('/sse.js')]).then(([m, s]) => {
  const text = [
    '# HELP a:b_total help text with "quotes"',
    '# TYPE a:b_total counter',
    'a:b_total{model="x",path="C:\\\\\\\\dir",q="say \\\\"hi\\\\"\\\\n"} 3 1700000000000',
    'a:b_total{model="y"} 4.5e1',
    'g NaN',
    'h_bucket{le="0.1"} 2', 'h_bucket{le="0.2"} 6', 'h_bucket{le="+Inf"} 8',
    'h_sum 1.1', 'h_count 8',
    'bad{unterminated="x} 1', '9starts_with_digit 1', 'novalue', 'x{a="1"} 1 2 3', 'y 12abc',
  ].join('\\r\\n');
  const p = m.parsePrometheusText(text);
  const labels = p.samples.get('a:b_total')[0].labels;
  const h = m.histogram(p, 'h');
  const sse = new s.SseParser();
  const events = [];
  for (const piece of ['data: {"a"', ':1}\\r', '\\n\\r\\n: comment\\n', 'data:x\\ndata: y\\n',
                       'event: ping\\nid: 3\\n\\n', 'data: [DONE]\\r\\r', 'data: cut']) {
    events.push(...sse.push(piece));
  }
  done({
    total: m.metricValue(p, 'a:b_total'),
    type: p.types.get('a:b_total'),
    labels,
    isNaN: Number.isNaN(m.metricValue(p, 'g')),
    errors: p.errors,
    missing: m.metricValue(p, 'nope'),
    bounds: h.bounds.map(String),
    counts: m.bucketCounts(h),
    count: h.count,
    p50: m.histogramQuantile(h, 0.5),
    p25: m.histogramQuantile(h, 0.25),
    p99: m.histogramQuantile(h, 0.99),
    rate: m.counterRate(10, 40, 2),
    reset: m.counterRate(40, 10, 2),
    huge: m.parsePrometheusText('x'.repeat((4 << 20) + 1)).errors,
    events,
  });
}, (e) => done(String(e)));
"""


def test_js_parsers_handle_the_awkward_cases(server, browser):
    open_ui(browser, server)
    r = browser.execute_async_script(PARSER_CASES_JS)
    assert isinstance(r, dict), r
    assert r["total"] == 48 and r["type"] == "counter"
    assert r["labels"] == {"model": "x", "path": "C:\\dir", "q": 'say "hi"\n'}
    assert r["isNaN"] and r["missing"] is None
    assert r["errors"] == 5  # the five malformed sample lines, nothing else
    assert r["bounds"] == ["0.1", "0.2", "Infinity"] and r["counts"] == [2, 4, 2] and r["count"] == 8
    assert abs(r["p50"] - 0.15) < 1e-9  # rank 4 of 8: halfway through the (0.1, 0.2] bucket
    assert abs(r["p25"] - 0.1) < 1e-9
    assert r["p99"] == 0.2  # in the +Inf bucket: the largest finite bound
    assert r["rate"] == 15 and r["reset"] is None
    assert r["huge"] == 1
    # \\r\\n split across chunks, comments, other fields ignored, multi-line data joined, \\r\\r
    # as two line ends, and an event the stream never finished is not delivered.
    assert r["events"] == ['{"a":1}', "x\ny", "[DONE]"]


def test_api_key_from_the_page(serve, browser):
    """A server with --api-key: the page asks for the key, and works once it is given."""
    key = "s3cret-key"
    server = serve("--api-key", key, api_key=key)
    browser.get(f"{server.url}/")
    browser.execute_script("localStorage.clear();")
    browser.get(f"{server.url}/")
    status = browser.find_element(By.ID, "server-status")
    WebDriverWait(browser, 20).until(lambda d: status.text == "API key needed")
    assert "401" in browser.find_element(By.ID, "model-select").get_attribute("title")
    browser.find_element(By.ID, "api-key").send_keys(key + Keys.ENTER)
    WebDriverWait(browser, 20).until(
        lambda d: d.execute_script("return document.getElementById('model-select').value") == server.model
    )
    assert browser.execute_script("return localStorage.getItem('tessera.apiKey')") == key
    WebDriverWait(browser, 20).until(lambda d: status.text == "ready")
    set_field(browser, "max-tokens", "8")
    browser.find_element(By.ID, "prompt").send_keys("Hi")
    browser.find_element(By.ID, "send").click()
    WebDriverWait(browser, STREAM_TIMEOUT_S).until(lambda d: last_answer_outcome(d) != "")
    assert last_answer_outcome(browser) == "finished", browser.find_element(By.ID, "chat-error").text
    # /metrics needs the key too: the dashboard reads it with the key from the page.
    WebDriverWait(browser, 10).until(lambda d: parse_count(d.find_element(By.ID, "stat-generation-total").text) > 0)
    browser.execute_script("localStorage.clear();")


def test_send_without_the_key_asks_for_it_and_keeps_the_message(serve, browser):
    """A server with --api-key and no key typed: Send says the key is needed (not "No model"), marks
    and focuses the key field, and leaves the transcript empty with the text still in the composer;
    once the key is typed, that same text is sent and the answer streams."""
    key = "k3y-for-the-composer"
    server = serve("--api-key", key, api_key=key)
    browser.get(f"{server.url}/")
    browser.execute_script("localStorage.clear();")
    browser.get(f"{server.url}/")
    status = browser.find_element(By.ID, "server-status")
    WebDriverWait(browser, 20).until(lambda d: status.text == "API key needed")
    text = "Is this sent once the key is in?"
    prompt = browser.find_element(By.ID, "prompt")
    prompt.send_keys(text)
    browser.find_element(By.ID, "send").click()
    error = browser.find_element(By.ID, "chat-error")
    WebDriverWait(browser, 10).until(lambda d: error.is_displayed())
    assert "needs an API key" in error.text and "No model" not in error.text, error.text
    assert browser.find_elements(By.CSS_SELECTOR, "#messages .message") == []
    assert prompt.get_attribute("value") == text
    key_input = browser.find_element(By.ID, "api-key")
    assert "needs-key" in key_input.get_attribute("class").split()
    assert key_input.get_attribute("aria-invalid") == "true"
    assert browser.execute_script("return document.activeElement.id") == "api-key"

    # Type the key where the cursor already is, and send right away, before the model list has
    # come back: the send waits for it instead of judging the empty list.
    browser.switch_to.active_element.send_keys(key + Keys.ENTER)
    set_field(browser, "max-tokens", "64")
    browser.find_element(By.ID, "ignore-eos").click()  # random weights end early at random
    browser.execute_script(WATCH_ANSWER_JS)
    browser.find_element(By.ID, "send").click()
    WebDriverWait(browser, STREAM_TIMEOUT_S, poll_frequency=0.05).until(lambda d: last_answer_outcome(d) != "")
    assert last_answer_outcome(browser) == "finished", error.text
    assert not error.is_displayed(), error.text
    users = browser.find_elements(By.CSS_SELECTOR, ".message.role-user .message-body")
    assert [u.text for u in users] == [text]
    assert prompt.get_attribute("value") == ""
    assert browser.execute_script("return document.getElementById('model-select').value") == server.model
    assert "needs-key" not in key_input.get_attribute("class").split()
    trace = browser.execute_script("return window.__answerTrace;")
    assert len({p["length"] for p in trace if p["length"] > 0}) >= 2, f"the answer did not stream: {trace}"
    WebDriverWait(browser, 20).until(lambda d: status.text == "ready")
    browser.execute_script("localStorage.clear();")
