#!/usr/bin/env python3
"""fuzz/make_seeds.py OUT_DIR — small tokenizer.json seeds for fuzz_tokenizer_json, one per
pipeline shape (byte-level with Split or ByteLevel regex or the Digits / Punctuation /
WhitespaceSplit pre-tokenizers, SentencePiece-style with Metaspace or
Prepend+Replace, pair merges, added tokens with flags, post-processors), made with HF
`tokenizers` (build/venv has it).

fuzz/make_seeds.py --model-json OUT_DIR — the deeply nested seeds of fuzz_model_json (too big to
keep in fuzz/seeds/model_json/, which has the others), standard library only: for each of the
three files, a field nested exactly at the parser's depth limit (kMaxJsonDepth = 512 levels
counting the top-level object, so the value reaches the error path and its json_excerpt), one
level past it, and 100,000 levels deep (nlohmann's recursive dump overflowed the stack on that
when an error message quoted the value). The first byte picks the file: '0' config.json, '1'
model.safetensors.index.json, '2' tokenizer_config.json.

fuzz/make_seeds.py --gguf OUT_DIR — small GGUF files for fuzz_gguf, standard library only: the
metadata types, arrays of strings and of arrays, F32 / F16 / Q8_0 / Q4_K tensors, alignments 32
and 64, versions 2 and 3."""
import json, os, struct, sys


def gguf_bytes(version, alignment, kvs, tensors):
    """kvs: [(key, type, packed value bytes)]; tensors: [(name, extents, ggml type, bytes)]."""
    s = lambda t: struct.pack("<Q", len(t)) + t  # noqa: E731
    head = struct.pack("<IIQQ", 0x46554747, version, len(tensors), len(kvs) + (alignment != 32))
    for key, vtype, value in kvs:
        head += s(key.encode()) + struct.pack("<I", vtype) + value
    if alignment != 32:
        head += s(b"general.alignment") + struct.pack("<II", 4, alignment)
    data, offsets = b"", []
    for _, _, _, nbytes in tensors:
        offsets.append(len(data))
        data += bytes(range(256)) * (nbytes // 256) + bytes(nbytes % 256)
        data += bytes(-len(data) % alignment)
    for (name, extents, gtype, _), off in zip(tensors, offsets):
        head += s(name.encode()) + struct.pack("<I", len(extents)) + b"".join(struct.pack("<Q", e) for e in extents)
        head += struct.pack("<IQ", gtype, off)
    return head + bytes(-len(head) % alignment) + data


def gguf_seeds(out):
    os.makedirs(out, exist_ok=True)
    st = lambda t: struct.pack("<Q", len(t.encode())) + t.encode()  # noqa: E731
    tokens = struct.pack("<IQ", 8, 3) + st("a") + st("<s>") + st("\u0120b")
    kvs = [("general.architecture", 8, st("llama")), ("llama.block_count", 4, struct.pack("<I", 1)),
           ("llama.rope.freq_base", 6, struct.pack("<f", 10000.0)), ("tokenizer.ggml.tokens", 9, tokens),
           ("tokenizer.ggml.scores", 9, struct.pack("<IQfff", 6, 3, 0.0, -1.0, -2.5)),
           ("tokenizer.ggml.add_bos_token", 7, b"\x01"), ("general.file_type", 4, struct.pack("<I", 7)),
           ("nested", 9, struct.pack("<IQ", 9, 1) + struct.pack("<IQi", 5, 1, -3))]
    tensors = [("token_embd.weight", [32, 4], 0, 512), ("blk.0.attn_q.weight", [32, 2], 8, 68),
               ("output_norm.weight", [8], 1, 16), ("blk.0.ffn_down.weight", [256], 12, 144)]
    for name, version, alignment, t in [("v3_a32", 3, 32, tensors), ("v2_a32", 2, 32, tensors[:2]),
                                        ("v3_a64", 3, 64, tensors), ("meta_only", 3, 32, [])]:
        with open(os.path.join(out, f"gguf_{name}"), "wb") as f:
            f.write(gguf_bytes(version, alignment, kvs, t))
    # A whole little model with a byte-level BPE vocabulary (config, tokenizer, dequantization).
    u32 = lambda v: struct.pack("<I", v)  # noqa: E731
    words = ["<|endoftext|>", "a", "b", "\u0120", "ab", "\u0120a", "\u0120ab", "c", "1"]
    strs = lambda xs: struct.pack("<IQ", 8, len(xs)) + b"".join(st(x) for x in xs)  # noqa: E731
    model_kvs = [("general.architecture", 8, st("llama")), ("llama.block_count", 4, u32(1)),
                 ("llama.embedding_length", 4, u32(32)), ("llama.feed_forward_length", 4, u32(32)),
                 ("llama.attention.head_count", 4, u32(2)), ("llama.attention.head_count_kv", 4, u32(1)),
                 ("llama.attention.layer_norm_rms_epsilon", 6, struct.pack("<f", 1e-5)),
                 ("tokenizer.ggml.model", 8, st("gpt2")), ("tokenizer.ggml.pre", 8, st("llama-bpe")),
                 ("tokenizer.ggml.tokens", 9, strs(words)),
                 ("tokenizer.ggml.token_type", 9, struct.pack("<IQ", 5, len(words)) + struct.pack(
                     f"<{len(words)}i", 3, *([1] * (len(words) - 1)))),
                 ("tokenizer.ggml.merges", 9, strs(["a b", "\u0120 a", "\u0120a b"])),
                 ("tokenizer.ggml.bos_token_id", 4, u32(0)), ("tokenizer.chat_template", 8, st("{{ messages }}"))]
    n = len(words)
    model_tensors = [("token_embd.weight", [32, n], 8, 34 * n), ("output_norm.weight", [32], 0, 128),
                     ("blk.0.attn_norm.weight", [32], 0, 128), ("blk.0.attn_q.weight", [32, 32], 8, 34 * 32),
                     ("blk.0.attn_k.weight", [32, 16], 1, 1024), ("blk.0.attn_v.weight", [32, 16], 30, 1024),
                     ("blk.0.attn_output.weight", [32, 32], 2, 18 * 32), ("blk.0.ffn_norm.weight", [32], 0, 128),
                     ("blk.0.ffn_gate.weight", [32, 32], 3, 20 * 32), ("blk.0.ffn_up.weight", [32, 32], 6, 22 * 32),
                     ("blk.0.ffn_down.weight", [32, 32], 7, 24 * 32)]
    with open(os.path.join(out, "gguf_model_gpt2_vocab"), "wb") as f:
        f.write(gguf_bytes(3, 32, model_kvs, model_tensors))
    # The repository's own GGUF fixtures (tools/make_gguf_golden.py), when this runs in a checkout.
    data = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data")
    for rel in ["gguf/dequant.gguf", "golden/gguf_q4_k/model.gguf", "golden/gguf_qwen2_q8_0/model.gguf",
                "golden/gguf_phi3_q6_k/model.gguf", "golden/gguf_gemma2_q8_0/model.gguf",
                "golden/gguf_llama3_rope_freqs/model.gguf"]:
        path = os.path.join(data, rel)
        if os.path.exists(path):
            with open(path, "rb") as src, open(os.path.join(out, "gguf_" + rel.replace("/", "_")), "wb") as dst:
                dst.write(src.read())
    print("seeds in", out, sorted(os.listdir(out)))


def model_json_seeds(out):
    os.makedirs(out, exist_ok=True)
    # (selector, name, text before the value, text after it); the value is the nested arrays.
    files = [("0", "config", '{"architectures": ["LlamaForCausalLM"], "hidden_size": ',
              ', "intermediate_size": 128, "num_hidden_layers": 1, "num_attention_heads": 2, "vocab_size": 64}'),
             ("1", "index", '{"metadata": {"total_size": 1}, "weight_map": {"a": ', '}}'),
             ("2", "tokcfg", '{"bos_token": "<s>", "chat_template": ', '}')]
    for sel, name, head, tail in files:
        opened = head.count("{") + head.count("[") - head.count("}") - head.count("]")
        for label, levels in [("at_limit", 512 - opened), ("past_limit", 513 - opened), ("100k", 100000)]:
            value = "[" * levels + "1" + "]" * levels
            with open(os.path.join(out, f"{name}_deep_{label}"), "w") as f:
                f.write(sel + head + value + tail)
    # The original report: 100,000 '[' never closed, in a config field.
    with open(os.path.join(out, "config_deep_100k_unclosed"), "w") as f:
        f.write('0{"architectures": ["LlamaForCausalLM"], "rope_scaling": ' + "[" * 100000)
    print("seeds in", out, sorted(os.listdir(out)))


if len(sys.argv) == 3 and sys.argv[1] == "--model-json":
    model_json_seeds(sys.argv[2])
    sys.exit(0)
if len(sys.argv) == 3 and sys.argv[1] == "--gguf":
    gguf_seeds(sys.argv[2])
    sys.exit(0)

from tokenizers import Tokenizer, AddedToken, Regex, decoders, models, normalizers, pre_tokenizers, processors, trainers

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
text = ["Hello world, the quick brown fox's 123 jumps.", "naïve café 日本語 🦙 don't\r\n\tx = [1, 2]"] * 20
LLAMA3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
CHARS = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation(behavior="merged_with_next"),
                                 pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(use_regex=False)])
for i, kind in enumerate(["split", "bytelevel", "chars", "metaspace", "prepend"]):
    if kind in ("split", "bytelevel", "chars"):
        tok = Tokenizer(models.BPE(ignore_merges=(kind == "split")))
        tok.pre_tokenizer = (pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(LLAMA3), "isolated"), pre_tokenizers.ByteLevel(use_regex=False)])
                             if kind == "split" else CHARS if kind == "chars" else pre_tokenizers.ByteLevel(add_prefix_space=False))
        tok.normalizer = normalizers.NFC() if kind == "split" else None
        tok.decoder = decoders.ByteLevel()
        tok.train_from_iterator(text, trainers.BpeTrainer(vocab_size=290, special_tokens=["<s>", "</s>"], show_progress=False,
                                                          initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
        tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 1)])
    else:
        tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
        if kind == "metaspace":
            tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first", split=False)
        else:
            tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
        tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)])
        tok.train_from_iterator(text, trainers.BpeTrainer(vocab_size=120, special_tokens=["<unk>", "<s>", "<0x41>", "<0xC3>", "<0xA9>"], show_progress=False))
        tok.post_processor = processors.RobertaProcessing(("</s>", 1), ("<s>", 1)) if kind == "prepend" else None
    tok.add_tokens([AddedToken("<|x|>", lstrip=True, rstrip=True, special=True, normalized=False), AddedToken("word", single_word=True)])
    s = tok.to_str()
    if kind == "prepend":  # merges as "a b" strings
        j = json.loads(s)
        j["model"]["merges"] = [" ".join(m) for m in j["model"]["merges"]]
        s = json.dumps(j, ensure_ascii=False)
    open(os.path.join(out, f"seed_{kind}.json"), "w", encoding="utf-8").write(s)
uni = Tokenizer(models.Unigram())
uni.pre_tokenizer = pre_tokenizers.Metaspace()
uni.train_from_iterator(text, trainers.UnigramTrainer(vocab_size=120, special_tokens=["<unk>"], unk_token="<unk>", show_progress=False))
j = json.loads(uni.to_str())
j["model"]["vocab"] += [["<0x41>", -30.0], ["<0xC3>", -30.0]]
j["model"]["byte_fallback"] = True
open(os.path.join(out, "seed_unigram.json"), "w", encoding="utf-8").write(json.dumps(j, ensure_ascii=False))
print("seeds in", out, [os.path.getsize(os.path.join(out, f)) for f in os.listdir(out)])
