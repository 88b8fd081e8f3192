"""tests/gpu/model_hf_util.py — the pieces of tests/gpu/test_model_hf.py: random-init Hugging Face
checkpoints (Llama, Qwen2, Mistral), HF transformers runs on them, and the `tessera` binary's
`logits` and `generate` commands on the same folder.

Two kinds of weights, for two questions:
  - `random_init` (the logits test): every weight random, scaled by fan-in so that each projection
    keeps its input's RMS (std 1/sqrt(fan_in); embeddings std 1, or 2/sqrt(hidden) when tied to
    the unembedding; RMSNorm weights 1 + 0.3*randn; biases 0.2*randn). tools/make_golden.py's
    fixed std 0.15 suits hidden 64; at hidden 512-1024 it amplifies every projection 3-5x, the
    residual stream explodes and bf16 rounding alone moves the logits by a large fraction of their
    spread (measured: max error 4.3 on logits of std 3.6), which would make "1.5x HF's bf16 error"
    a loose bound. With fan-in scaling the logits have std ~2, and HF's bf16 errors are ~0.7% of
    that on average, ~5% at the worst of ~10^6 logits.
  - `plant_copy_head` (the greedy test): a random model is not confident. Its top-2 logit gaps are
    spread down to zero, and bf16 noise (a few % of the logit spread) flips about 3% of greedy
    steps; one flip changes every later token, so HF bf16 and HF fp32 agree on only ~50% of 32-token
    continuations of the same fan-in model (measured on CPU). Scaling the logits does not help: the
    noise scales with them. So layer 0's attention is replaced by a copy head: RoPE-matched
    constant queries and keys put a score gap of SCORE_GAP (softmax weight e^-40 on any other key)
    on the key exactly `offset` positions back, and values/output projection carry that token's
    embedding into the residual stream, dominating it; the unembedding rows are the embedding
    rows, so the next token is the token `offset` back: x[t+1] = x[t-offset], with a top-2 logit
    gap near half the top logit. Every other weight stays random. Greedy continuations are then
    decided by the decode path (KV append into the right slot, RoPE at the right position, reads
    through block tables across block boundaries, generated tokens' own KV after `offset` steps)
    rather than by rounding noise. Limitation: layers 1.. contribute far less than the copy, so a
    decode bug confined to them shows in the greedy test only when it is large (NaN, wrong scale);
    the logits test covers every layer (in prefill).

Checkpoints are saved in bf16 unless asked otherwise, and the fp32 reference runs on those same
bf16 weights (upcast): the reference then differs from both bf16 runs by compute precision alone.
With fp32 weights, both bf16 runs would share the same weight-rounding error, which would dominate
both errors and push their ratio towards 1 whatever tessera computes.

The binary: $TESSERA_BIN (or $TESSERA_BINARY), else build/cuda/tessera under the repository root.

    python3 tests/gpu/model_hf_util.py --device cpu --binary build/cpu/tessera   # plumbing dry run
"""

from __future__ import annotations

import contextlib
import math
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
SCORE_GAP = 40.0       # copy head: score of the copied key minus the best other key
COPY_SIGNAL = 100.0    # copy head: the copied token's weight in the residual stream (see gamma)
CONST_CHANNEL = 1.0    # copy head: embedding coordinate 0 (every token); others ~ 1/sqrt(hidden)
RUN_TIMEOUT_S = 600


@dataclass
class ArchSpec:
    """One small model of an architecture: HF config kwargs, the copy offset of its greedy test."""
    model_type: str
    config: dict
    copy_offset: int
    rope: dict = field(default_factory=dict)  # rope_type + rope_theta (+ scaling keys)


# head_dim 128 for llama and mistral, 64 for qwen2 (the GPU kernels take 64, 96, 128, 256); GQA 8/2;
# sizes that are no powers of two where real models have them (intermediate, vocab).
ARCHS = {
    "llama": ArchSpec(
        "llama", dict(hidden_size=1024, num_hidden_layers=4, num_attention_heads=8,
                      num_key_value_heads=2, head_dim=128, intermediate_size=2816,
                      vocab_size=4096, max_position_embeddings=16384, rms_norm_eps=1e-5,
                      tie_word_embeddings=False),
        copy_offset=19,  # Llama, GQA 8/2, head_dim 128, untied, rope theta 5e5
        rope=dict(rope_type="default", rope_theta=500000.0)),
    "llama_rope_llama3": ArchSpec(
        "llama", dict(hidden_size=1024, num_hidden_layers=4, num_attention_heads=8,
                      num_key_value_heads=2, head_dim=128, intermediate_size=2816,
                      vocab_size=4096, max_position_embeddings=131072, rms_norm_eps=1e-5,
                      tie_word_embeddings=False),
        copy_offset=23,  # Llama 3.1 RoPE scaling (llama3: factor 8, low 1, high 4, orig 8192)
        rope=dict(rope_type="llama3", rope_theta=500000.0, factor=8.0, low_freq_factor=1.0,
                  high_freq_factor=4.0, original_max_position_embeddings=8192)),
    "qwen2": ArchSpec(
        "qwen2", dict(hidden_size=512, num_hidden_layers=4, num_attention_heads=8,
                      num_key_value_heads=2, intermediate_size=1408, vocab_size=3000,
                      max_position_embeddings=8192, rms_norm_eps=1e-6, use_sliding_window=False,
                      sliding_window=None, tie_word_embeddings=True),
        copy_offset=11,  # Qwen2, GQA 8/2, head_dim 64, q/k/v bias, tied, rope theta 1e6
        rope=dict(rope_type="default", rope_theta=1e6)),
    # Mistral's window (4096, as Mistral-7B-v0.1) is far beyond every sequence here (<= 340
    # tokens): the GPU runtime rejects sequences past the window at first, and within it the
    # window changes nothing.
    "mistral": ArchSpec(
        "mistral", dict(hidden_size=512, num_hidden_layers=3, num_attention_heads=8,
                        num_key_value_heads=2, head_dim=128, intermediate_size=1792,
                        vocab_size=5120, max_position_embeddings=8192, rms_norm_eps=1e-5,
                        sliding_window=4096, tie_word_embeddings=False),
        copy_offset=7,  # Mistral, GQA 8/2, head_dim 128 != hidden/heads (512/8), window 4096
        rope=dict(rope_type="default", rope_theta=10000.0)),
}


# ---- the tessera binary ------------------------------------------------------------------------

def find_binary() -> Path:
    env = os.environ.get("TESSERA_BIN") or os.environ.get("TESSERA_BINARY")
    return Path(env) if env else ROOT / "build" / "cuda" / "tessera"


def run_tessera(binary: Path, *args: str) -> str:
    """Runs `tessera args...`, returns stdout; a failure raises with the command and its stderr."""
    cmd = [str(binary), *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    if p.returncode != 0:
        shown = " ".join(a if len(a) < 200 else a[:60] + "..." for a in cmd)
        raise RuntimeError(f"`{shown}` exited with {p.returncode}:\n{p.stderr[-4000:]}")
    return p.stdout


def ids_arg(ids) -> str:
    return ",".join(str(int(i)) for i in ids)


def device_args(device: str) -> list[str]:
    """--device, plus on a GPU a memory share that leaves room for this (pytest) process's own
    CUDA context and cached blocks: the runner's default takes 90% of the GPU."""
    return ["--device", device] + (["--gpu-memory-fraction", "0.5"] if device != "cpu" else [])


def tessera_logits(binary: Path, model_dir: Path, ids, device: str) -> np.ndarray:
    """float32 [T, vocab]: the logits of every prompt token."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "logits.npy"
        run_tessera(binary, "logits", "--model", str(model_dir), *device_args(device),
                    "--prompt-ids", ids_arg(ids), "--out", str(out))
        return np.load(out)


def tessera_greedy(binary: Path, model_dir: Path, ids, n: int, device: str) -> list[int]:
    out = run_tessera(binary, "generate", "--model", str(model_dir), *device_args(device),
                      "--prompt-ids", ids_arg(ids), "-n", str(n), "--temperature", "0",
                      "--ignore-eos")
    lines = [line for line in out.splitlines() if line.strip()]
    if len(lines) != 1:
        raise RuntimeError(f"tessera generate: expected one line of token ids, got {out!r}")
    return [int(t) for t in lines[0].split()]


# ---- building checkpoints ----------------------------------------------------------------------

def _rope_kwargs(rope: dict) -> dict:
    """RoPE keys for AutoConfig in the installed transformers' spelling (5.x: rope_parameters)."""
    import transformers

    if int(transformers.__version__.split(".")[0]) >= 5:
        return {"rope_parameters": dict(rope)}
    scaling = {k: v for k, v in rope.items() if k != "rope_theta"}
    return {"rope_theta": rope["rope_theta"],
            "rope_scaling": scaling if scaling["rope_type"] != "default" else None}


def make_config(spec: ArchSpec):
    from transformers import AutoConfig

    return AutoConfig.for_model(spec.model_type, hidden_act="silu", bos_token_id=1,
                                eos_token_id=2, **spec.config, **_rope_kwargs(spec.rope))


@torch.no_grad()
def random_init(spec: ArchSpec, seed: int):
    """fp32 CPU model, every weight random with fan-in scaling (see the module docstring)."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(make_config(spec)).float().eval()
    gen = torch.Generator().manual_seed(seed)

    def randn_like(p):
        return torch.randn(p.shape, generator=gen, dtype=p.dtype)

    for name, p in model.named_parameters():  # a tied lm_head appears once, as the embedding
        if "norm" in name:
            p.copy_(1.0 + 0.3 * randn_like(p))
        elif name.endswith(".bias"):
            p.copy_(0.2 * randn_like(p))
        elif "embed_tokens" in name:
            # Tied: the embedding is also the unembedding, scaled so the logits have std ~2
            # (as untied lm_head below); the first RMSNorm undoes the scale for the layers.
            tied = model.config.tie_word_embeddings
            p.copy_(randn_like(p) * (2.0 / math.sqrt(p.shape[1]) if tied else 1.0))
        else:  # [out, in]: output RMS ~ input RMS; lm_head 2x, so the logits have std ~2
            gain = 2.0 if "lm_head" in name else 1.0
            p.copy_(randn_like(p) * (gain / math.sqrt(p.shape[1])))
    return model


def rope_inv_freq(model) -> tuple[torch.Tensor, float]:
    """The rotary frequencies HF applies (llama3/linear scaling included) and its output scale."""
    rot = model.model.rotary_emb
    return rot.inv_freq.double().cpu(), float(getattr(rot, "attention_scaling", 1.0))


def copy_score_profile(inv_freq: torch.Tensor, offset: int, max_len: int):
    """Pair weights a_j (sum 1) and f(d) = sum_j a_j cos(theta_j (d - offset)), d in [0, max_len).

    a_j ~ theta_j leans on the fast pairs (a sharp peak) while the slow ones keep far distances
    from aliasing; the worst other distance sits ~20% of the peak lower for the RoPE bases here.
    """
    a = inv_freq / inv_freq.sum()
    d = torch.arange(max_len, dtype=torch.float64)
    f = torch.cos(torch.outer(d - offset, inv_freq)) @ a
    return a, f


@torch.no_grad()
def plant_copy_head(model, offset: int, max_len: int, seed: int) -> dict:
    """Makes `model` predict x[t+1] = x[t-offset] with a large margin (module docstring).

    Layout: embedding row v = [c, z_v] / sqrt(hidden) with c = CONST_CHANNEL*sqrt(hidden) the same
    for every token and z_v random of fixed norm sqrt(hidden-1), so layer 0's RMSNorm output has
    the same coordinate 0 for every token (the 1/sqrt(hidden) keeps tied logits of order 10).
    Layer 0: q/k read only that coordinate, giving one constant query and key per head whose RoPE
    rotations score sum_j a_j cos(theta_j (t - s - offset)) (peak at s = t - offset); v = P x with
    P [kv_heads*head_dim, hidden] orthonormal rows off coordinate 0; o_proj = gamma * P^T per kv
    group, so the attention output is gamma * P^T P x[t-offset]. Unembedding rows:
    [0, z_v] / sqrt(hidden) (untied; tied models keep the embedding's [c, z_v] / sqrt(hidden),
    whose c shifts every logit alike).
    """
    cfg = model.config
    d, heads, kv = cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads
    hd = getattr(cfg, "head_dim", None) or d // heads
    group, r = heads // kv, kv * hd
    if r >= d:
        raise ValueError(f"copy head needs kv_heads*head_dim ({r}) < hidden ({d})")
    gen = torch.Generator().manual_seed(seed + 1)
    vocab = cfg.vocab_size

    z = torch.randn(vocab, d - 1, generator=gen, dtype=torch.float64)
    z *= math.sqrt(d - 1) / z.norm(dim=1, keepdim=True)
    const = CONST_CHANNEL * math.sqrt(d)
    scale = 1.0 / math.sqrt(d)
    emb = torch.cat([torch.full((vocab, 1), const, dtype=torch.float64), z], dim=1) * scale
    model.model.embed_tokens.weight.copy_(emb)
    if not cfg.tie_word_embeddings:
        model.lm_head.weight.copy_(torch.cat([torch.zeros(vocab, 1, dtype=torch.float64), z], 1)
                                   * scale)

    layer = model.model.layers[0]
    attn = layer.self_attn
    layer.input_layernorm.weight[0] = 1.0  # the constant channel passes the norm unscaled
    eps = float(getattr(cfg, "rms_norm_eps", 1e-6))
    rms = math.sqrt(scale ** 2 * (const ** 2 + (d - 1)) / d + eps)
    x0 = scale * const / rms  # coordinate 0 of layer 0's normalized input, for every token

    inv_freq, attn_scale = rope_inv_freq(model)
    a, f = copy_score_profile(inv_freq, offset, max_len)
    others = torch.cat([f[:offset], f[offset + 1:]])
    rel_gap = float(f[offset] - others.max())
    if rel_gap < 0.05:
        raise ValueError(f"RoPE profile gap {rel_gap:.3f} too small for a sharp copy head")
    # score = (q_rot . k_rot) * attn_scale^2 / sqrt(hd) = s2 * f(t - s) * attn_scale^2 / sqrt(hd)
    s2 = SCORE_GAP * math.sqrt(hd) / (rel_gap * attn_scale ** 2)
    amp = torch.sqrt(a * s2)
    angle = inv_freq * offset
    qvec = torch.cat([amp, torch.zeros_like(amp)])
    kvec = torch.cat([amp * torch.cos(angle), amp * torch.sin(angle)])
    for proj in (attn.q_proj, attn.k_proj, attn.v_proj):
        proj.weight.zero_()
        if proj.bias is not None:
            proj.bias.zero_()
    attn.q_proj.weight[:, 0] = qvec.repeat(heads) / x0
    attn.k_proj.weight[:, 0] = kvec.repeat(kv) / x0

    q_mat, _ = torch.linalg.qr(torch.randn(d - 1, r, generator=gen, dtype=torch.float64))
    p = torch.zeros(r, d, dtype=torch.float64)
    p[:, 1:] = q_mat.T  # orthonormal rows, zero on the constant channel
    attn.v_proj.weight.copy_(p)
    # Along the copied token's unit direction z_s/|z_s| the attention output puts
    # gamma * (r/d) * |x_z| with |x_z| = sqrt(d / (1 + CONST^2)) the normalized input's z part:
    # COPY_SIGNAL. Each random sublayer adds a vector of RMS ~1 per coordinate, i.e. ~N(0, 1)
    # along any unit direction (max ~4 over a vocabulary); the current token's embedding adds 1.
    gamma = COPY_SIGNAL * math.sqrt(d * (1.0 + CONST_CHANNEL ** 2)) / r
    o = torch.zeros(d, heads * hd, dtype=torch.float64)
    for h in range(heads):
        g = h // group
        o[:, h * hd:(h + 1) * hd] = (gamma / group) * p[g * hd:(g + 1) * hd].T
    attn.o_proj.weight.copy_(o)
    if getattr(attn.o_proj, "bias", None) is not None:
        attn.o_proj.bias.zero_()
    return {"offset": offset, "rope_rel_gap": rel_gap, "score_gap": SCORE_GAP, "gamma": gamma}


def copy_continuation(prompt, offset: int, n: int) -> list[int]:
    """What a planted model generates: x[t+1] = x[t-offset], continued over its own tokens."""
    seq = [int(t) for t in prompt]
    for _ in range(n):
        seq.append(seq[len(seq) - 1 - offset])
    return seq[len(prompt):]


@torch.no_grad()
def save_checkpoint(model, out_dir: Path, dtype: torch.dtype) -> None:
    """save_pretrained as safetensors in `dtype`; nothing but config.json and the weights."""
    out_dir = Path(out_dir)
    model.to(dtype).save_pretrained(out_dir, safe_serialization=True)
    model.float()
    gen_cfg = out_dir / "generation_config.json"
    if gen_cfg.exists():
        gen_cfg.unlink()


# ---- HF runs -----------------------------------------------------------------------------------

@contextlib.contextmanager
def exact_fp32():
    """fp32 matmuls without TF32 for the reference; the previous settings come back after."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
             torch.get_float32_matmul_precision())
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved[:2]
        torch.set_float32_matmul_precision(saved[2])


def load_hf(model_dir: Path, dtype: torch.dtype, attn: str, device: str):
    """AutoModelForCausalLM from the folder tessera reads, in `dtype` with `attn` attention."""
    import transformers
    from transformers import AutoModelForCausalLM

    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    dtype_kw = "dtype" if (major, minor) >= (4, 56) else "torch_dtype"
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), attn_implementation=attn,
                                                 **{dtype_kw: dtype})
    return model.to(device).eval()


@torch.no_grad()
def hf_logits(model, ids) -> torch.Tensor:
    """float32 [T, vocab] on the CPU: every position's logits, one forward without a cache."""
    dev = next(model.parameters()).device
    x = torch.as_tensor(np.asarray(ids), dtype=torch.long, device=dev)[None]
    return model(x, attention_mask=torch.ones_like(x), use_cache=False).logits[0].float().cpu()


@torch.no_grad()
def hf_greedy(model, ids, n: int) -> list[int]:
    """generate(): exactly n greedy tokens, end-of-sequence ignored (eos unset, min = max)."""
    dev = next(model.parameters()).device
    x = torch.as_tensor(np.asarray(ids), dtype=torch.long, device=dev)[None]
    gc = model.generation_config
    gc.eos_token_id = None  # generate() would refill eos from here when the kwarg is None
    gc.bos_token_id = None
    gc.pad_token_id = 0     # only silences the "no pad token" notice; nothing is padded
    out = model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=n,
                         min_new_tokens=n, do_sample=False, num_beams=1, eos_token_id=None)
    new = out[0, x.shape[1]:].tolist()
    if len(new) != n:
        raise RuntimeError(f"HF generate returned {len(new)} tokens, asked for {n}")
    return new


def max_abs_err(x, ref) -> float:
    """NaN counts as an infinite error (an unwritten or broken logit must fail)."""
    dif = np.abs(np.asarray(x, dtype=np.float64) - np.asarray(ref, dtype=np.float64))
    return float(np.nan_to_num(dif, nan=np.inf).max())


def mean_abs_err(x, ref) -> float:
    return float(np.abs(np.asarray(x, dtype=np.float64) - np.asarray(ref, dtype=np.float64)).mean())


def top2_margins(logits) -> np.ndarray:
    """[T]: top-1 minus top-2 logit per row."""
    top = torch.as_tensor(logits).double().topk(2, dim=-1).values
    return (top[:, 0] - top[:, 1]).numpy()


def random_prompt(seed: int, vocab: int, length: int) -> list[int]:
    return np.random.default_rng(seed).integers(0, vocab, size=length).tolist()


# ---- the two comparisons -----------------------------------------------------------------------

@dataclass
class LogitsResult:
    tessera_max: float
    hf_bf16_max: float
    hf_bf16_eager_max: float
    tessera_mean: float
    hf_bf16_mean: float
    logits_std: float
    tessera_argmax_agree: float

    def __str__(self) -> str:
        return (f"max|err| vs fp32: tessera {self.tessera_max:.4f}, HF bf16 sdpa "
                f"{self.hf_bf16_max:.4f} (eager {self.hf_bf16_eager_max:.4f}), ratio "
                f"{self.tessera_max / max(self.hf_bf16_max, 1e-30):.2f}; mean|err|: tessera "
                f"{self.tessera_mean:.5f}, HF bf16 {self.hf_bf16_mean:.5f}; logits std "
                f"{self.logits_std:.2f}; argmax agreement with fp32 "
                f"{self.tessera_argmax_agree:.3f}")


def build_checkpoint(arch: str, seed: int, out_dir: Path, dtype=torch.bfloat16,
                     copy_len: int | None = None):
    """Random model of ARCHS[arch] saved into out_dir; copy_len plants the copy head for greedy
    runs up to that many tokens. Returns the plant's info (or {})."""
    spec = ARCHS[arch]
    model = random_init(spec, seed)
    info = plant_copy_head(model, spec.copy_offset, copy_len, seed) if copy_len else {}
    save_checkpoint(model, out_dir, dtype)
    return info


def compare_logits(binary: Path, model_dir: Path, ids, device: str, tessera_device: str):
    """fp32 eager reference (no TF32), HF bf16 (sdpa, HF's default; eager printed too) and
    tessera, all on the checkpoint in model_dir."""
    with exact_fp32():
        ref_model = load_hf(model_dir, torch.float32, "eager", device)
        ref = hf_logits(ref_model, ids)
    del ref_model
    bf16_sdpa = hf_logits(load_hf(model_dir, torch.bfloat16, "sdpa", device), ids)
    bf16_eager = hf_logits(load_hf(model_dir, torch.bfloat16, "eager", device), ids)
    if device == "cuda":
        torch.cuda.empty_cache()
    ours = tessera_logits(binary, model_dir, ids, tessera_device)
    if ours.shape != tuple(ref.shape):
        raise AssertionError(f"tessera logits shape {ours.shape}, HF {tuple(ref.shape)}")
    ref_np = ref.numpy()
    return LogitsResult(
        tessera_max=max_abs_err(ours, ref_np), hf_bf16_max=max_abs_err(bf16_sdpa, ref_np),
        hf_bf16_eager_max=max_abs_err(bf16_eager, ref_np), tessera_mean=mean_abs_err(ours, ref_np),
        hf_bf16_mean=mean_abs_err(bf16_sdpa, ref_np), logits_std=float(ref.std()),
        tessera_argmax_agree=float((ours.argmax(-1) == ref_np.argmax(-1)).mean()))


@dataclass
class GreedyResult:
    prompts: list
    hf: list          # HF bf16 continuations
    tessera: list
    expected: list    # the planted copy rule's continuations
    min_margin: float  # smallest fp32 top-2 gap over the generated steps
    hf_bf16_max_err: float  # HF bf16's max |logit error| over the same rows

    @property
    def agreement(self) -> float:
        pairs = [(a, b) for h, t in zip(self.hf, self.tessera) for a, b in zip(h, t)]
        total = sum(len(h) for h in self.hf)
        return sum(a == b for a, b in pairs) / total

    def __str__(self) -> str:
        lines = [f"greedy agreement with HF bf16: {self.agreement:.3f} over "
                 f"{sum(len(h) for h in self.hf)} tokens; fp32 min top-2 gap {self.min_margin:.2f}"
                 f" vs HF bf16 max logit error {self.hf_bf16_max_err:.3f}"]
        for p, h, t in zip(self.prompts, self.hf, self.tessera):
            lines.append(f"  prompt len {len(p)}: " + "".join("." if a == b else "x"
                                                             for a, b in zip(h, t)))
        return "\n".join(lines)


def compare_greedy(binary: Path, model_dir: Path, prompts, n: int, offset: int, device: str,
                   tessera_device: str) -> GreedyResult:
    """HF bf16 generate vs tessera generate on each prompt, plus the fp32 checks that make the
    comparison meaningful (the planted rule holds, margins far above bf16 noise)."""
    hf_bf16 = load_hf(model_dir, torch.bfloat16, "sdpa", device)
    hf_runs = [hf_greedy(hf_bf16, p, n) for p in prompts]
    full = [list(p) + h for p, h in zip(prompts, hf_runs)]
    bf16_logits = [hf_logits(hf_bf16, s) for s in full]
    del hf_bf16
    with exact_fp32():
        ref_model = load_hf(model_dir, torch.float32, "eager", device)
        ref_logits = [hf_logits(ref_model, s) for s in full]
    del ref_model
    if device == "cuda":
        torch.cuda.empty_cache()
    # Only the rows that chose a generated token: prompt rows before `offset` have no key to copy.
    rows = [slice(len(p) - 1, len(p) - 1 + n) for p in prompts]
    margins = [top2_margins(r[i]) for i, r in zip(rows, ref_logits)]
    err = max(max_abs_err(b[i], r[i]) for i, b, r in zip(rows, bf16_logits, ref_logits))
    ours = [tessera_greedy(binary, model_dir, p, n, tessera_device) for p in prompts]
    return GreedyResult(prompts=[list(p) for p in prompts], hf=hf_runs, tessera=ours,
                        expected=[copy_continuation(p, offset, n) for p in prompts],
                        min_margin=float(min(m.min() for m in margins)), hf_bf16_max_err=err)


def main():
    """Plumbing dry run outside pytest (e.g. --device cpu with a CPU build): prints the numbers."""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--binary", default=str(find_binary()))
    ap.add_argument("--device", default="cuda", help="torch device of the HF runs")
    ap.add_argument("--tessera-device", default=None, help="tessera's --device (default: --device)")
    ap.add_argument("--archs", default="llama,qwen2,mistral")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--length", type=int, default=100)
    args = ap.parse_args()
    tdev = args.tessera_device or args.device
    for arch in args.archs.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            ckpt = Path(tmp) / "logits"
            build_checkpoint(arch, args.seed, ckpt)
            ids = random_prompt(args.seed, ARCHS[arch].config["vocab_size"], args.length)
            print(f"{arch} logits T={args.length}: "
                  f"{compare_logits(Path(args.binary), ckpt, ids, args.device, tdev)}")
            ckpt = Path(tmp) / "greedy"
            info = build_checkpoint(arch, args.seed, ckpt, copy_len=args.length + 40)
            prompts = [random_prompt(args.seed + i, ARCHS[arch].config["vocab_size"], n)
                       for i, n in enumerate((24, args.length))]
            res = compare_greedy(Path(args.binary), ckpt, prompts, 32, info["offset"],
                                 args.device, tdev)
            print(f"{arch} {info}\n{res}\n  HF == copy rule: "
                  f"{[h == e for h, e in zip(res.hf, res.expected)]}")


if __name__ == "__main__":
    main()
