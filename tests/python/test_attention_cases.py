"""tests/python/test_attention_cases.py — the attention case registry (tests/attention_cases.py),
checked without a GPU: what it claims about the kernels matches the kernels' own lists, every case
has a unique test id, every benchmark case is one the GPU suite tests, and the tiers nest.
"""

import ast
import pathlib
import re
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

import attention_cases as ac  # noqa: E402


def _assigned_list(path: pathlib.Path, name: str):
    """The literal a module assigns to `name`, read without importing it (tessera needs torch)."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    raise AssertionError(f"{path} assigns no {name}")


def test_prefill_head_dims_are_the_generated_instantiations():
    gen = _assigned_list(ROOT / "tools" / "gen_instantiations.py", "FWD_HEAD_DIMS")
    assert ac.HEAD_DIMS == gen
    files = sorted((ROOT / "kernels" / "attention" / "instantiations").glob("fwd_*hdim*_bf16.cu"))
    assert {int(re.search(r"hdim(\d+)", f.name).group(1)) for f in files} == set(ac.HEAD_DIMS)


def test_decode_head_dims_are_the_decode_instantiations():
    files = (ROOT / "kernels" / "attention" / "decode" / "instantiations").glob("decode_hdim*.cu")
    built = {int(re.search(r"hdim(\d+)", f.name).group(1)) for f in files}
    assert set(ac.DECODE_HEAD_DIMS) == built
    assert ac.DECODE_HEAD_DIMS == _assigned_list(ROOT / "python" / "tessera" / "kvcache.py",
                                                 "DECODE_HEAD_DIMS")


def test_ids_are_unique():
    for cases in (ac.prefill_cases(), ac.decode_cases()):
        ids = [c.id for c in cases]
        assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]


def test_square_group_covers_every_head_dim_dtype_and_mask():
    square = ac.prefill_cases(group="square")
    for d in ac.HEAD_DIMS:
        for dt in ac.DTYPES:
            for causal in (False, True):
                assert any(c.head_dim == d and c.dtype == dt and c.causal == causal
                           for c in square), (d, dt, causal)
    assert any(c.quick for c in square) and not all(c.quick for c in square)


def test_every_case_is_valid():
    for c in ac.prefill_cases():
        assert c.head_dim in ac.HEAD_DIMS and c.dtype in ac.DTYPES, c
        assert c.heads % c.kv_heads == 0 and c.batch >= 1 and c.seqlen_q >= 1, c
        assert c.bench in ("",) + ac.BENCH_TIERS, c
    for c in ac.decode_cases():
        assert c.head_dim in ac.DECODE_HEAD_DIMS and c.heads % c.kv_heads == 0, c


def test_bench_tiers_nest_and_every_timed_case_is_tested():
    for select in (ac.prefill_cases, ac.decode_cases):
        quick, full = select(bench="quick"), select(bench="full")
        assert quick and set(quick) < set(full)
        assert set(full) <= set(select())  # the GPU suite parametrizes over select()
    # bench/kernels/attention.py's JSON shape: square, MHA.
    for c in ac.prefill_cases(bench="full"):
        d = c.bench_dict()
        assert d["seqlen"] == c.seqlen_q and d["case"] == c.group
    # The FlashAttention-3 paper's shapes: B*S = 16384 and H*D = 2048 throughout.
    for c in ac.prefill_cases(group="paper"):
        assert c.batch * c.seqlen_q == 16384 and c.heads * c.head_dim == 2048, c


def test_flops():
    c = ac.Prefill("x", 2, 100, 300, 4, 2, 64, "bf16", False)
    assert c.flops() == 4 * 2 * 4 * 100 * 300 * 64
    assert c.flops("fwd_bwd") == 3.5 * c.flops()
    assert ac.Prefill("x", 2, 100, 100, 4, 2, 64, "bf16", True).flops() == 2 * 2 * 4 * 100 * 100 * 64


def test_unknown_selections_are_refused():
    with pytest.raises(ValueError, match="group"):
        ac.prefill_cases(group="nope")
    with pytest.raises(ValueError, match="tier"):
        ac.decode_cases(bench="fast")
