"""tests/gpu/conftest.py — pytest setup for the GPU suite (runs on the H200 through tools/gpu.sh).

Puts python/ (the tessera package, with the _C module the CUDA build writes there), tests/ (the
case registry, attention_cases.py) and this folder on sys.path; skips everything without a CUDA device or without tessera._C; `--quick` (or
TESSERA_QUICK=1) keeps only tests marked `quick`. Inputs are fresh random numbers every run
(attention_ref.fresh_seed; TESSERA_TEST_SEED reproduces a failure).
"""

import os
import sys

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(os.path.dirname(_HERE))
for p in (os.path.join(_ROOT, "python"), os.path.join(_ROOT, "tests"), _HERE):
    if p not in sys.path:
        sys.path.insert(0, p)


def pytest_addoption(parser):
    parser.addoption("--quick", action="store_true", default=False,
                     help="run only the tests marked quick (a few seconds)")


def pytest_configure(config):
    config.addinivalue_line("markers", "quick: part of the quick subset (--quick)")
    config.addinivalue_line("markers", "slow: large shapes (memory test, 4096-long sequences)")


def pytest_collection_modifyitems(config, items):
    import torch

    quick = config.getoption("--quick") or os.environ.get("TESSERA_QUICK") == "1"
    skip_gpu = None
    if not torch.cuda.is_available():
        skip_gpu = pytest.mark.skip(reason="no CUDA device")
    else:
        import tessera

        if not tessera.is_built():
            skip_gpu = pytest.mark.skip(reason="tessera._C not built (-DTESSERA_PYTHON=ON)")
    kept, dropped = [], []
    for item in items:
        if quick and "quick" not in item.keywords:
            dropped.append(item)
            continue
        if skip_gpu is not None:
            item.add_marker(skip_gpu)
        kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
