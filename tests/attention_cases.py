"""tests/attention_cases.py — one registry of attention cases, tested by tests/gpu and timed by
bench/kernels (as llama.cpp's test-backend-ops lists each op's cases once).

A case added here is checked against the fp32 reference on the GPU (every prefill case forward in
tests/gpu/test_attention_fwd.py and backward in test_attention_bwd.py, every decode case in
test_decode.py) and, when it carries a `bench` tier, timed by bench/kernels/attention.py or
decode.py. What is not a shape (softmax scales, varlen batches, strides, determinism, block
sizes, split counts) stays with its test.

Torch-free on purpose: the CPU suite checks the registry itself (tests/python/test_attention_cases.py:
unique ids, head dims equal to the kernels' instantiations, every benchmark case tested).

    from attention_cases import prefill_cases, decode_cases
    for c in prefill_cases(group="square"): ...     # what a test parametrizes over
    for c in prefill_cases(bench="quick"): ...      # what bench/kernels/attention.py --quick times
"""

from __future__ import annotations

from dataclasses import dataclass

DTYPES = ("fp16", "bf16")
# Head dims of the prefill kernels (tools/gen_instantiations.py FWD_HEAD_DIMS) and of the decode
# kernel (kernels/attention/decode/instantiations/decode_hdim*.cu, tessera.kvcache.DECODE_HEAD_DIMS);
# tests/python/test_attention_cases.py holds them equal to those lists, and the GPU suite to what
# the built library reports.
HEAD_DIMS = (64, 96, 128, 256)
DECODE_HEAD_DIMS = (64, 96, 128, 256)

# Bench tiers: "quick" cases are timed by --quick and the full run, "full" ones by the full run.
BENCH_TIERS = ("quick", "full")


@dataclass(frozen=True)
class Prefill:
    """Dense (or varlen) attention: q [B, Sq, H, D], k/v [B, Sk, Hkv, D], bottom-right causal."""

    group: str          # square, rectangular, heads (tests), seed, paper (the benchmark's)
    batch: int
    seqlen_q: int
    seqlen_k: int
    heads: int
    kv_heads: int
    head_dim: int
    dtype: str          # "fp16" | "bf16"
    causal: bool
    quick: bool = False  # in the GPU suite's --quick subset
    bench: str = ""      # "" (tested only), "quick" or "full" (see BENCH_TIERS)

    @property
    def id(self) -> str:
        shape = (f"s{self.seqlen_q}" if self.seqlen_q == self.seqlen_k
                 else f"q{self.seqlen_q}-k{self.seqlen_k}")
        heads = "" if (self.heads, self.kv_heads) == (5, 5) else f"-h{self.heads}kv{self.kv_heads}"
        batch = "" if self.batch == 2 else f"-b{self.batch}"
        return (f"{self.group}-{shape}-d{self.head_dim}{heads}{batch}-{self.dtype}-"
                f"{'causal' if self.causal else 'full'}")

    def flops(self, mode: str = "fwd") -> float:
        """4*B*H*Sq*Sk*D for the forward, the causal fraction exact for Sq == Sk (halved, as
        FlashAttention counts); fwd_bwd is 3.5x the forward (backward 2.5x)."""
        f = 4.0 * self.batch * self.heads * self.seqlen_q * self.seqlen_k * self.head_dim
        if self.causal:
            f /= 2
        return f * (3.5 if mode == "fwd_bwd" else 1.0)

    def bench_dict(self) -> dict:
        """The shape as bench/kernels/attention.py has always written it into its JSON."""
        assert self.seqlen_q == self.seqlen_k and self.heads == self.kv_heads, self
        return dict(case=self.group, batch=self.batch, heads=self.heads, seqlen=self.seqlen_q,
                    head_dim=self.head_dim, causal=self.causal, dtype=self.dtype)


@dataclass(frozen=True)
class Decode:
    """Paged decode: one new query token per sequence over `seqlen` cached keys each."""

    batch: int
    seqlen: int
    heads: int = 32
    kv_heads: int = 8
    head_dim: int = 128
    dtype: str = "bf16"
    block_size: int = 16
    quick: bool = False
    bench: str = ""

    @property
    def id(self) -> str:
        return (f"B{self.batch}-L{self.seqlen}-h{self.heads}kv{self.kv_heads}-d{self.head_dim}-"
                f"{self.dtype}-bs{self.block_size}")

    def kv_bytes(self) -> int:
        """Bytes of K and V the attention reads (2 bytes an element)."""
        return self.batch * self.seqlen * self.kv_heads * self.head_dim * 2 * 2


def _prefill() -> list[Prefill]:
    out: list[Prefill] = []
    # Square: every head dim and dtype at odd and long lengths. Quick: 17 and 128 at d 64 and 128.
    for seqlen in (1, 17, 97, 128, 1025, 4096):
        for head_dim in HEAD_DIMS:
            for dtype in DTYPES:
                for causal in (False, True):
                    long = seqlen >= 1025
                    out.append(Prefill(
                        "square", 1 if long else 2, seqlen, seqlen, 3 if long else 5,
                        3 if long else 5, head_dim, dtype, causal,
                        quick=seqlen in (17, 128) and head_dim in (64, 128)))
    # Sq != Sk both ways; with causal and Sq > Sk the first Sq - Sk rows see no key.
    for sq, sk in ((1, 97), (17, 1025), (97, 4096), (128, 17), (1025, 97), (4096, 128), (17, 1)):
        for head_dim in (64, 128, 256):
            for dtype in DTYPES:
                for causal in (False, True):
                    out.append(Prefill("rectangular", 2, sq, sk, 4, 4, head_dim, dtype, causal,
                                       quick=(sq, sk) in ((1, 97), (128, 17))))
    # MHA, GQA and MQA with non-power-of-two head counts, Sq != Sk.
    for heads, kv_heads in ((6, 6), (6, 2), (6, 1), (7, 7), (12, 3), (16, 1)):
        for dtype in DTYPES:
            for causal in (False, True):
                out.append(Prefill("heads", 2, 97, 130, heads, kv_heads, 128, dtype, causal,
                                   quick=True))
    # Benchmark shapes. The seed shape, then the FlashAttention-3 paper's: bf16, B*S = 16384,
    # H*D = 2048, S = 512 .. 16384 (--quick: 512 and 4096).
    for causal in (False, True):
        out.append(Prefill("seed", 1, 512, 512, 8, 8, 64, "fp16", causal, quick=True,
                           bench="quick"))
    for head_dim in (64, 128):
        for causal in (False, True):
            for s in (512, 1024, 2048, 4096, 8192, 16384):
                out.append(Prefill("paper", 16384 // s, s, s, 2048 // head_dim, 2048 // head_dim,
                                   head_dim, "bf16", causal,
                                   bench="quick" if s in (512, 4096) else "full"))
    return out


def _decode() -> list[Decode]:
    # The decode benchmark's grid: Llama-3-8B heads (32 / 8, D 128), bf16, block size 16.
    # --quick: B in {1, 64} x L in {4096, 8192, 32768}, the rows with targets in the issue.
    out = []
    for batch in (1, 8, 64):
        for seqlen in (512, 1024, 2048, 4096, 8192, 16384, 32768):
            quick = batch in (1, 64) and seqlen in (4096, 8192, 32768)
            out.append(Decode(batch, seqlen, quick=batch == 1 and seqlen == 4096,
                              bench="quick" if quick else "full"))
    return out


_PREFILL = _prefill()
_DECODE = _decode()


def _tier_ok(case_tier: str, wanted: str | None) -> bool:
    if wanted is None:
        return True
    if wanted not in BENCH_TIERS:
        raise ValueError(f"bench tier {wanted!r}: expected one of {BENCH_TIERS}")
    # The full run times every benchmark case; --quick only the "quick" ones.
    return case_tier == "quick" or (wanted == "full" and case_tier == "full")


def prefill_cases(group: str | None = None, bench: str | None = None) -> list[Prefill]:
    """Cases of one test group (None: all) and/or one bench tier (None: timed or not)."""
    if group is not None and group not in {c.group for c in _PREFILL}:
        raise ValueError(f"no prefill group {group!r}")
    return [c for c in _PREFILL if (group is None or c.group == group)
            and (bench is None or (c.bench and _tier_ok(c.bench, bench)))]


def decode_cases(bench: str | None = None) -> list[Decode]:
    return [c for c in _DECODE if bench is None or (c.bench and _tier_ok(c.bench, bench))]
