"""Shared helpers of the `tessera serve` tests (tests/python/test_server_*.py).

`serve` (a fixture) starts `tessera serve` subprocesses on the CPU demo model at a free port the
server picks itself (--port 0; the URL is read from its first line), waits for GET /health, and
stops them at the end of the test with SIGTERM, failing the test if one did not exit cleanly.
`server` is one shared default server per test module.

The binary is $TESSERA_BINARY (ctest sets it), else the first of build/{ci,cpu,cuda,debug}/tessera.
Without the binary, or without the `openai` package, the server tests skip — unless
TESSERA_REQUIRE_SERVER_TESTS=1 (tools/test.sh sets it), where that is a failure instead.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REQUIRED = os.environ.get("TESSERA_REQUIRE_SERVER_TESTS") == "1"
START_TIMEOUT_S = 120


def skip_or_fail(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"{reason} (TESSERA_REQUIRE_SERVER_TESTS=1: the server tests must run)")
    pytest.skip(reason)


def find_binary() -> Path | None:
    env = os.environ.get("TESSERA_BINARY")
    if env:
        return Path(env)
    for preset in ("ci", "cpu", "cuda", "debug"):
        candidate = REPO / "build" / preset / "tessera"
        if candidate.is_file():
            return candidate
    return None


def parse_metrics(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Prometheus text -> {name: [(labels, value), ...]}."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$", line)
        assert m, f"not a Prometheus sample line: {line!r}"
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        out.setdefault(m.group(1), []).append((labels, float(m.group(4))))
    return out


class Serve:
    """One `tessera serve` subprocess; stdout and stderr go to a log file."""

    def __init__(self, binary: Path, args: list[str], env: dict[str, str] | None, log_dir: Path, name: str,
                 max_open_files: int | None = None):
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")
        full_env = dict(os.environ)
        full_env.pop("TESSERA_API_KEY", None)
        full_env.update(env or {})
        self.args = args

        def limit_open_files() -> None:  # in the child, before exec: the server's descriptor budget
            if max_open_files is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (max_open_files, max_open_files))

        self.process = subprocess.Popen(
            [str(binary), "serve", "--host", "127.0.0.1", "--port", "0", *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=full_env,
            preexec_fn=limit_open_files if max_open_files is not None else None,
        )
        self.url = self._wait_for_url()
        self.api_key = ""

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def _wait_for_url(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            m = re.search(r"listening on (http://\S+),", self.log())
            if m:
                return m.group(1)
            if self.process.poll() is not None:
                pytest.fail(f"tessera serve exited with {self.process.returncode}:\n{self.log()[-4000:]}")
            time.sleep(0.02)
        pytest.fail(f"tessera serve printed no URL within {START_TIMEOUT_S} s:\n{self.log()[-4000:]}")

    def wait_ready(self) -> None:
        import requests

        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"tessera serve exited with {self.process.returncode}:\n{self.log()[-4000:]}")
            try:
                # Ready: /health says so, and the server printed its URL for people.
                if requests.get(f"{self.url}/health", timeout=2).status_code == 200 and "ready in" in self.log():
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        pytest.fail(f"/health did not answer 200 within {START_TIMEOUT_S} s:\n{self.log()[-4000:]}")

    @property
    def model(self) -> str:
        m = re.search(r'\(model "([^"]+)"', self.log())
        assert m, self.log()
        return m.group(1)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def client(self, **kwargs):
        import openai

        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("timeout", 120)
        kwargs.setdefault("api_key", self.api_key or "none")
        return openai.OpenAI(base_url=f"{self.url}/v1", **kwargs)

    def async_client(self, **kwargs):
        import openai

        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("timeout", 600)
        kwargs.setdefault("api_key", self.api_key or "none")
        return openai.AsyncOpenAI(base_url=f"{self.url}/v1", **kwargs)

    def metrics(self) -> dict[str, list[tuple[dict[str, str], float]]]:
        import requests

        r = requests.get(f"{self.url}/metrics", headers=self.headers(), timeout=10)
        assert r.status_code == 200, r.text
        return parse_metrics(r.text)

    def metric(self, name: str, **labels: str) -> float:
        """The sum of the samples of `name` whose labels include `labels`."""
        samples = self.metrics().get(name)
        assert samples is not None, f"/metrics has no {name}"
        return sum(v for lab, v in samples if all(lab.get(k) == w for k, w in labels.items()))

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Signals the server and waits for it; returns its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                pytest.fail(f"tessera serve did not exit within {timeout} s of signal {sig}:\n{self.log()[-4000:]}")
        self._log.close()
        return self.process.returncode


@pytest.fixture(scope="session")
def tessera_binary() -> Path:
    try:
        import openai  # noqa: F401
        import requests  # noqa: F401
    except ImportError as e:
        skip_or_fail(f"{e.name} is not installed (tools/setup.sh puts it in build/venv)")
    path = find_binary()
    if path is None or not path.is_file():
        skip_or_fail("no tessera binary: set TESSERA_BINARY or build a preset (cmake --preset cpu)")
    probe = subprocess.run([str(path), "serve", "--help"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        skip_or_fail(f"{path} has no serve command: {(probe.stderr or probe.stdout).strip()[:200]}")
    return path


@pytest.fixture(scope="session")
def log_dir() -> Path:
    env = os.environ.get("TESSERA_TEST_OUT")
    path = Path(env) / "serve_logs" if env else Path(tempfile.mkdtemp(prefix="tessera-serve-"))
    path.mkdir(parents=True, exist_ok=True)
    return path


class ServeFactory:
    def __init__(self, binary: Path, log_dir: Path, prefix: str):
        self.binary, self.log_dir, self.prefix = binary, log_dir, prefix
        self.started: list[Serve] = []

    def __call__(self, *args: str, env: dict[str, str] | None = None, wait: bool = True, api_key: str = "",
                 max_open_files: int | None = None) -> Serve:
        name = f"{self.prefix}-{len(self.started)}"
        server = Serve(self.binary, list(args), env, self.log_dir, name, max_open_files)
        server.api_key = api_key
        self.started.append(server)
        if wait:
            server.wait_ready()
        return server

    def stop_all(self) -> None:
        failures = []
        for server in self.started:
            if server.process.poll() is None or not server._log.closed:
                code = server.stop()
                if code != 0:
                    failures.append(f"{server.args}: exit code {code}\n{server.log()[-2000:]}")
        assert not failures, "tessera serve did not exit cleanly on SIGTERM:\n" + "\n".join(failures)


@pytest.fixture
def serve(tessera_binary, log_dir, request):
    factory = ServeFactory(tessera_binary, log_dir, request.node.name[:60])
    yield factory
    factory.stop_all()


@pytest.fixture(scope="module")
def server(tessera_binary, log_dir, request):
    """A default server shared by the tests of one module."""
    factory = ServeFactory(tessera_binary, log_dir, Path(request.node.name).stem)
    yield factory()
    factory.stop_all()
