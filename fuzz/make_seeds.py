#!/usr/bin/env python3
"""fuzz/make_seeds.py OUT_DIR — small tokenizer.json seeds for fuzz_tokenizer_json, one per
pipeline shape (byte-level with Split or ByteLevel regex, SentencePiece-style with Metaspace or
Prepend+Replace, pair merges, added tokens with flags, post-processors), made with HF
`tokenizers` (build/venv has it).

fuzz/make_seeds.py --model-json OUT_DIR — the deeply nested seeds of fuzz_model_json (too big to
keep in fuzz/seeds/model_json/, which has the others), standard library only: for each of the
three files, a field nested exactly at the parser's depth limit (kMaxJsonDepth = 512 levels
counting the top-level object, so the value reaches the error path and its json_excerpt), one
level past it, and 100,000 levels deep (nlohmann's recursive dump overflowed the stack on that
when an error message quoted the value). The first byte picks the file: '0' config.json, '1'
model.safetensors.index.json, '2' tokenizer_config.json."""
import json, os, sys


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

from tokenizers import Tokenizer, AddedToken, Regex, decoders, models, normalizers, pre_tokenizers, processors, trainers

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
text = ["Hello world, the quick brown fox's 123 jumps.", "naïve café 日本語 🦙 don't\r\n\tx = [1, 2]"] * 20
LLAMA3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
for i, kind in enumerate(["split", "bytelevel", "metaspace", "prepend"]):
    if kind in ("split", "bytelevel"):
        tok = Tokenizer(models.BPE(ignore_merges=(kind == "split")))
        tok.pre_tokenizer = (pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(LLAMA3), "isolated"), pre_tokenizers.ByteLevel(use_regex=False)])
                             if kind == "split" else pre_tokenizers.ByteLevel(add_prefix_space=False))
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
print("seeds in", out, [os.path.getsize(os.path.join(out, f)) for f in os.listdir(out)])
