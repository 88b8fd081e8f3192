#!/usr/bin/env python3
"""Golden-fixture generator for tessera's HF-parity tests.

This script owns everything under tests/data/golden/ (one folder per case plus
README.md). For each case it builds a tiny random-init Hugging Face causal LM
(Llama / Qwen2 / Mistral), gives it non-trivial weights (std 0.15 linears and
embeddings, RMSNorm weights 1 + 0.3*randn, biases 0.2*randn), and writes:

  config.json        HF config, rewritten in the case's RoPE spelling
                     (transformers 4.x `rope_theta` + `rope_scaling`, or 5.x
                     `rope_parameters`), then reloaded and checked by HF itself
  model.safetensors  float32 weights from save_pretrained
  input_ids.npy      int64 [T] prompt
  logits.npy         float32 [T, vocab] HF eager logits for the prompt
  greedy.npy         int64 [16] tokens HF greedy generate() appends
  meta.json          versions, seed, description, min greedy margin

Everything runs on CPU in float32 with attn_implementation="eager".
Regenerate with:  python3 tools/make_golden.py --out tests/data/golden
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import transformers
from transformers import AutoConfig, AutoModelForCausalLM

N_NEW = 16          # greedy tokens per case
MIN_MARGIN = 1e-2   # required top1-top2 logit gap at every greedy step (brief asked > 1e-3)
WEIGHT_STD = 0.15

COMMON = dict(hidden_size=64, num_hidden_layers=2, intermediate_size=96,
              max_position_embeddings=512, hidden_act="silu",
              bos_token_id=1, eos_token_id=2)

# rope: the RoPE dict in 5.x form (rope_type, rope_theta, extra keys);
# spelling: "4.x" -> top-level rope_theta + rope_scaling, "5.x" -> rope_parameters.
CASES = {
    "llama": dict(
        desc="Llama, GQA 4q/2kv heads, head_dim 16, intermediate 96, llama3 RoPE scaling "
             "(factor 8, low 1, high 4, orig 64: all three frequency bands), untied, 4.x spelling",
        seed=1000, T=37, spelling="4.x",
        rope=dict(rope_type="llama3", rope_theta=10000.0, factor=8.0, low_freq_factor=1.0,
                  high_freq_factor=4.0, original_max_position_embeddings=64),
        config=dict(model_type="llama", vocab_size=512, num_attention_heads=4,
                    num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-5,
                    tie_word_embeddings=False)),
    "llama_rope_parameters": dict(
        desc="Llama, MHA 4/4 heads, linear RoPE scaling factor 2, theta 5e4, attention_bias and "
             "mlp_bias on (random biases), untied, 5.x rope_parameters spelling",
        seed=2000, T=37, spelling="5.x",
        rope=dict(rope_type="linear", rope_theta=50000.0, factor=2.0),
        config=dict(model_type="llama", vocab_size=512, num_attention_heads=4,
                    num_key_value_heads=4, head_dim=16, rms_norm_eps=1e-5,
                    attention_bias=True, mlp_bias=True, tie_word_embeddings=False)),
    "qwen2": dict(
        desc="Qwen2, MQA 4q/1kv heads, q/k/v bias, tied embeddings, theta 1e6, eps 1e-6, "
             "default RoPE, no sliding window, 4.x spelling",
        seed=3000, T=37, spelling="4.x",
        rope=dict(rope_type="default", rope_theta=1e6),
        config=dict(model_type="qwen2", vocab_size=512, num_attention_heads=4,
                    num_key_value_heads=1, rms_norm_eps=1e-6, use_sliding_window=False,
                    sliding_window=None, max_window_layers=2, tie_word_embeddings=True)),
    "mistral": dict(
        desc="Mistral, explicit head_dim 32 with hidden 64 / 4 heads (head_dim != hidden/heads), "
             "GQA 4q/2kv, vocab 384, sliding_window null, untied, 4.x spelling",
        seed=4000, T=37, spelling="4.x",
        rope=dict(rope_type="default", rope_theta=10000.0),
        config=dict(model_type="mistral", vocab_size=384, num_attention_heads=4,
                    num_key_value_heads=2, head_dim=32, rms_norm_eps=1e-5,
                    sliding_window=None, tie_word_embeddings=False)),
    "phi3": dict(
        desc="Phi-3: q/k/v and gate/up stored fused (qkv_proj, gate_up_proj), GQA 4q/2kv, head_dim 16, "
             "sliding_window 8 (as phi-3-mini's 2047, smaller), untied, pad_token_id null, 4.x spelling",
        seed=6000, T=37, spelling="4.x",
        rope=dict(rope_type="default", rope_theta=10000.0),
        config=dict(model_type="phi3", vocab_size=384, num_attention_heads=4,
                    num_key_value_heads=2, rms_norm_eps=1e-5, sliding_window=8,
                    pad_token_id=None, tie_word_embeddings=False)),
    "qwen3": dict(
        desc="Qwen3: RMSNorm of each q and k head (q_norm, k_norm) before RoPE, no q/k/v bias, "
             "explicit head_dim 32 with hidden 64 / 4 heads, GQA 4q/2kv, tied embeddings, theta 1e6, 4.x spelling",
        seed=7000, T=37, spelling="4.x",
        rope=dict(rope_type="default", rope_theta=1e6),
        config=dict(model_type="qwen3", vocab_size=512, num_attention_heads=4,
                    num_key_value_heads=2, head_dim=32, rms_norm_eps=1e-6, use_sliding_window=False,
                    sliding_window=None, max_window_layers=2, tie_word_embeddings=True)),
    "gemma2": dict(
        desc="Gemma 2: GeGLU (gelu tanh), RMSNorm scaling by (1 + w), norms after attention and around "
             "the MLP, embeddings times sqrt(64), query_pre_attn_scalar 24, attention soft-cap 5 and final "
             "soft-cap 8 (small, so that tanh bends), sliding window 8 on layer 0 and full attention on "
             "layer 1, GQA 4q/2kv, head_dim 16, tied embeddings, 4.x spelling",
        seed=8000, T=37, spelling="4.x",
        rope=dict(rope_type="default", rope_theta=10000.0),
        config=dict(model_type="gemma2", vocab_size=512, num_attention_heads=4,
                    num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-6, query_pre_attn_scalar=24,
                    attn_logit_softcapping=5.0, final_logit_softcapping=8.0, sliding_window=8,
                    hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=True, pad_token_id=0)),
    "gemma3": dict(
        desc="Gemma 3 (text): Gemma 2's layer without soft-capping, plus RMSNorm (1 + w) of each q and k "
             "head, RoPE per layer type (sliding: theta 1e4; full: theta 1e6 with linear scaling 8), "
             "layer types sliding, full, sliding (window 8), query_pre_attn_scalar 16, tied embeddings",
        seed=9000, T=37, spelling="per-type",
        rope=dict(rope_type="default", rope_theta=10000.0),
        config=dict(model_type="gemma3_text", vocab_size=512, num_hidden_layers=3, num_attention_heads=4,
                    num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-6, query_pre_attn_scalar=16,
                    sliding_window=8, layer_types=["sliding_attention", "full_attention", "sliding_attention"],
                    rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                                     "full_attention": {"rope_type": "linear", "rope_theta": 1000000.0,
                                                        "factor": 8.0}},
                    hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=True, pad_token_id=0)),
    "mistral_sliding": dict(
        desc="As `mistral` but sliding_window 8 (HF mask: query i sees keys j with i-8 < j <= i, "
             "i.e. 8 keys including itself); verified to change the logits",
        seed=5000, T=37, spelling="4.x",
        rope=dict(rope_type="default", rope_theta=10000.0),
        config=dict(model_type="mistral", vocab_size=384, num_attention_heads=4,
                    num_key_value_heads=2, head_dim=32, rms_norm_eps=1e-5,
                    sliding_window=8, tie_word_embeddings=False)),
}


def spell_rope(cfg: dict, rope: dict, spelling: str) -> dict:
    """Return cfg with RoPE keys written in the requested spelling (others removed); "per-type"
    (Gemma 3's RoPE per layer type) leaves the config's own rope_parameters alone."""
    if spelling == "per-type":
        return dict(cfg)
    cfg = {k: v for k, v in cfg.items()
           if k not in ("rope_theta", "rope_scaling", "rope_parameters")}
    if spelling == "5.x":
        cfg["rope_parameters"] = dict(rope)
    else:
        cfg["rope_theta"] = rope["rope_theta"]
        scaling = {k: v for k, v in rope.items() if k != "rope_theta"}
        cfg["rope_scaling"] = scaling if scaling["rope_type"] != "default" else None
    return cfg


def loaded_rope(config) -> dict:
    """RoPE dict as HF understood it, for either transformers major version."""
    rp = getattr(config, "rope_parameters", None)
    if rp:
        return dict(rp)
    out = dict(getattr(config, "rope_scaling", None) or {"rope_type": "default"})
    out["rope_theta"] = config.rope_theta
    return out


def build_model(case: dict, seed: int, **overrides):
    cfg_dict = spell_rope({**COMMON, **case["config"], **overrides}, case["rope"], case["spelling"])
    model_type = cfg_dict.pop("model_type")
    config = AutoConfig.for_model(model_type, **cfg_dict)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager")
    model = model.float().eval()
    torch.manual_seed(seed)  # weights below depend only on the seed
    with torch.no_grad():
        for mod in model.modules():
            if type(mod).__name__.endswith("RMSNorm"):
                mod.weight.copy_(1.0 + 0.3 * torch.randn_like(mod.weight))
        for name, p in model.named_parameters():  # tied params appear once
            if name.endswith(".bias"):
                p.copy_(0.2 * torch.randn_like(p))
            elif name.endswith(".weight") and "norm" not in name:
                p.copy_(WEIGHT_STD * torch.randn_like(p))
    return model


@torch.no_grad()
def logits_of(model, ids: torch.Tensor) -> torch.Tensor:
    return model(ids[None], attention_mask=torch.ones_like(ids)[None]).logits[0].float()


@torch.no_grad()
def greedy(model, ids: torch.Tensor):
    gc = model.generation_config
    gc.eos_token_id = None  # None in generate() kwargs would be refilled from here
    gc.pad_token_id = None
    gc.bos_token_id = None
    out = model.generate(ids[None], attention_mask=torch.ones_like(ids)[None],
                         max_new_tokens=N_NEW, min_new_tokens=N_NEW, do_sample=False,
                         num_beams=1, eos_token_id=None, pad_token_id=None)
    new = out[0, ids.shape[0]:]
    assert new.shape[0] == N_NEW, f"generate returned {new.shape[0]} new tokens"
    # Cross-check with a cache-free forward over prompt+generated: each greedy
    # token must be the argmax there, and we measure its margin over runner-up.
    full = logits_of(model, out[0])[ids.shape[0] - 1:-1]
    top2 = full.topk(2, dim=-1)
    assert torch.equal(top2.indices[:, 0], new), "generate() disagrees with argmax"
    margin = float((top2.values[:, 0] - top2.values[:, 1]).min())
    return new, margin


def rewrite_config(path: str, case: dict):
    with open(path) as f:
        cfg = json.load(f)
    cfg = spell_rope(cfg, case["rope"], case["spelling"])
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")


def make_case(name: str, case: dict, out_root: str, max_seed_tries: int = 50):
    T = case["T"]
    for seed in range(case["seed"], case["seed"] + max_seed_tries):
        model = build_model(case, seed)
        vocab = model.config.vocab_size
        ids = torch.from_numpy(np.random.default_rng(seed).integers(0, vocab, size=T, dtype=np.int64))
        logits = logits_of(model, ids)
        new, margin = greedy(model, ids)
        if margin > MIN_MARGIN:
            break
        print(f"  {name}: seed {seed} min margin {margin:.2e} too small, retrying", file=sys.stderr)
    else:
        raise RuntimeError(f"{name}: no seed with margin > {MIN_MARGIN}")

    extra = {}
    # (Gemma 2 cannot be built without a window: its sliding layers need one.)
    if case["config"].get("sliding_window") and not case["config"]["model_type"].startswith("gemma"):
        ref = build_model(case, seed, sliding_window=None)
        diff = float((logits_of(ref, ids) - logits).abs().max())
        assert diff > 1e-3, f"{name}: sliding_window had no effect (max diff {diff})"
        extra["sliding_vs_full_max_abs_diff"] = diff
        # the first `window` positions never see beyond the window: must match exactly
        w = case["config"]["sliding_window"]
        assert float((logits_of(ref, ids)[:w] - logits[:w]).abs().max()) < 1e-5

    d = os.path.join(out_root, name)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.remove(os.path.join(d, f))
    model.save_pretrained(d, safe_serialization=True)
    gen_cfg = os.path.join(d, "generation_config.json")
    if os.path.exists(gen_cfg):
        os.remove(gen_cfg)  # fixture = config.json + weights only
    rewrite_config(os.path.join(d, "config.json"), case)

    # The fixture must be exactly what HF loads: reload and compare.
    reloaded = AutoModelForCausalLM.from_pretrained(d, attn_implementation="eager",
                                                    dtype=torch.float32).eval()
    if case["spelling"] != "per-type":
        want_rope = {k: float(v) if isinstance(v, (int, float)) else v for k, v in case["rope"].items()}
        got_rope = loaded_rope(reloaded.config)
        for k, v in want_rope.items():
            assert got_rope.get(k) == v, f"{name}: reloaded rope {k}={got_rope.get(k)!r}, want {v!r}"
    reload_diff = float((logits_of(reloaded, ids) - logits).abs().max())
    assert reload_diff < 1e-6, f"{name}: reloaded logits differ by {reload_diff}"

    np.save(os.path.join(d, "input_ids.npy"), ids.numpy().astype(np.int64))
    np.save(os.path.join(d, "logits.npy"), logits.numpy().astype(np.float32))
    np.save(os.path.join(d, "greedy.npy"), new.numpy().astype(np.int64))
    meta = dict(case=name, description=case["desc"], seed=seed, T=T, vocab_size=vocab,
                n_new_tokens=N_NEW, rope_spelling=case["spelling"], rope=case["rope"],
                min_greedy_margin=margin, logits_max_abs=float(logits.abs().max()),
                reload_max_abs_diff=reload_diff, attn_implementation="eager", dtype="float32",
                torch_version=torch.__version__, transformers_version=transformers.__version__,
                numpy_version=np.__version__, **extra)
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    nbytes = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    print(f"{name}: T={T} vocab={vocab} seed={seed} logits_max_abs={meta['logits_max_abs']:.3f} "
          f"min_margin={margin:.4f} reload_diff={reload_diff:.1e} bytes={nbytes}")
    return nbytes


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="tests/data/golden", help="output root directory")
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated subset of: "
                    + ",".join(CASES))
    args = ap.parse_args()
    names = [c for c in args.cases.split(",") if c]
    unknown = [c for c in names if c not in CASES]
    if unknown:
        ap.error(f"unknown case(s): {unknown}")
    torch.set_num_threads(min(4, os.cpu_count() or 1))
    transformers.utils.logging.disable_progress_bar()
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, CPU float32")
    total = sum(make_case(n, CASES[n], args.out) for n in names)
    print(f"total: {total} bytes in {len(names)} case(s) under {args.out}")


if __name__ == "__main__":
    main()
