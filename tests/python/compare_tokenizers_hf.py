#!/usr/bin/env python3
"""tests/python/compare_tokenizers_hf.py — tessera's tokenizer against HF `tokenizers`, exactly.

For every real tokenizer in ../shared/data/tokenizers (skipped, with a message, when absent) and
for small tokenizers this script trains itself with HF (byte-level BPE; SentencePiece-style BPE
with byte_fallback; variants with pair-form merges, ignore_merges, added tokens with
lstrip/rstrip/single_word/normalized, Prepend+Replace normalizers, Roberta/Template post-
processors; the Digits, Punctuation (each split behavior) and WhitespaceSplit pre-tokenizers;
Unigram models with and without byte fallback), it builds a corpus of >= 10,000 strings (random code points from every plane, emoji
ZWJ sequences, CJK, Devanagari with combining marks, combining-mark soup for NFC, whitespace runs,
\\r\\n, code, long digit runs, contractions, special tokens inside text, the empty string) and
checks through the `tessera` binary:
  * encode without and with special tokens == HF's ids;
  * decode(ids) and decode(ids, skip_special_tokens) == HF's text (so decode(encode(s)) == s
    wherever HF's round trip holds);
  * the streaming decoder's concatenated output == decode(ids);
  * invalid UTF-8 input is a clear error (HF's Python API cannot even take such input).
Usage: compare_tokenizers_hf.py TESSERA_BINARY SHARED_DATA_DIR [--count N] [--seed S]
Exits 1 on any mismatch, printing the first few.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import zlib

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers, AddedToken, Regex

LLAMA3_RE = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN2_RE = LLAMA3_RE.replace(r"\p{N}{1,3}", r"\p{N}")

PLANES = [(0x0, 0xFFFF), (0x10000, 0x1FFFF), (0x20000, 0x2FFFF), (0x30000, 0x3FFFF), (0xE0000, 0xEFFFF),
          (0xF0000, 0xFFFFF), (0x100000, 0x10FFFF)]
EMOJI = ["👩‍💻", "👨‍👩‍👧‍👦", "🏳️‍🌈", "👍🏽", "🧑🏿‍🚀", "❤️‍🔥", "🇯🇵", "🦙", "😀", "🫠", "#️⃣", "👁‍🗨"]
CODE = ["def f(x):\n    return x**2  # square\n", "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}\r\n",
        "if x != None and y >= 3:\n        print(f'{x!r}')", "<div class=\"a\">&nbsp;</div>", "SELECT * FROM t WHERE id=42;",
        "fn main() { println!(\"hi\"); }", "    \n\n\t\t  x = [1, 2, 3]\n", "λx. x ++ \"ünïcödé\" // ok",
        "#include <vector>\nint main(){return 0;}", "a->b; c::d; e=>f; g<=h; i!==j; k...l"]
WORDS = ["Hello", "world", "the", "quick", "brown", "fox", "don't", "I'M", "they'RE", "we've", "you'll", "she'd",
         "it'S", "'ſ", "'ll", "Äpfel", "naïve", "café", "Москва", "日本語", "中文字符", "한국어", "ελληνικά", "עברית",
         "العربية", "हिन्दी", "नमस्ते", "क़", "ﬁ", "Ⅻ", "½", "²", "١٢٣", "٣٤٥٦"]
WS = [" ", "  ", "   ", "\t", "\n", "\r\n", "\n\n", " \n ", "\u00a0", "\u3000", "\u2009", "\u200b", "\r", "\x0b", "\x0c", "\u0085", "\u2028"]
MARKS = [0x300, 0x301, 0x302, 0x303, 0x308, 0x316, 0x323, 0x327, 0x328, 0x345, 0x5b0, 0x93c, 0x94d, 0x1dfa, 0xc3c,
         0x3099, 0x309a, 0x1161, 0x11a8, 0x0f71, 0x0f72, 0x0f74]


def rand_cp(rng):
    while True:
        lo, hi = rng.choice(PLANES)
        if rng.random() < 0.5:  # bias toward assigned blocks of plane 0/1
            lo, hi = rng.choice([(0x20, 0x2FFF), (0x3000, 0x9FFF), (0xA000, 0xFFFD), (0x10000, 0x1FBFF)])
        c = rng.randint(lo, hi)
        if not 0xD800 <= c < 0xE000:
            return chr(c)


def gen_random_unicode(rng):
    return "".join(rand_cp(rng) for _ in range(rng.randint(1, 40)))


def gen_emoji(rng):
    return "".join(rng.choice(EMOJI + [" ", "a", "\u200d", "\ufe0f"]) for _ in range(rng.randint(1, 12)))


def gen_cjk(rng):
    return "".join(chr(rng.randint(0x4E00, 0x9FFF)) if rng.random() < 0.8 else rng.choice(["，", "。", " ", "a", "1"])
                   for _ in range(rng.randint(1, 40)))


def gen_devanagari(rng):
    return "".join(chr(rng.randint(0x900, 0x97F)) if rng.random() < 0.85 else rng.choice([" ", "\u093c", "\u094d", "\u200d"])
                   for _ in range(rng.randint(1, 40)))


def gen_marks(rng):  # NFC: bases with marks in random order, Hangul jamo
    out = []
    for _ in range(rng.randint(1, 12)):
        out.append(rng.choice(["a", "e", "o", "A", "ᄀ", "가", "\u0915", "ω", "Å", "ﬁ", " ", "\u0344", "\u212b", "\u2126"]))
        out.extend(chr(rng.choice(MARKS)) for _ in range(rng.randint(0, 4)))
    return "".join(out)


def gen_whitespace(rng):
    return "".join(rng.choice(WS + ["a", "b", "1", ".", "Hello"]) for _ in range(rng.randint(1, 20)))


def gen_code(rng):
    return "".join(rng.choice(CODE) for _ in range(rng.randint(1, 3)))


def gen_digits(rng):
    return rng.choice(["", " ", "x"]) + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 60))) + rng.choice(["", " ", ".5", "a"])


def gen_words(rng):
    return "".join(rng.choice(WORDS) + rng.choice([" ", " ", "", ", ", ".\n", "  ", "'s "]) for _ in range(rng.randint(1, 15)))


def make_corpus(rng, n, specials):
    gens = [gen_random_unicode, gen_emoji, gen_cjk, gen_devanagari, gen_marks, gen_whitespace, gen_code, gen_digits, gen_words]
    corpus = ["", " ", "\n", "\r\n", "a", "  a", "'s", "'S", "'ſ", "0" * 200, " " * 50, "\t\n\r\n  \n"]
    while len(corpus) < n:
        k = rng.random()
        if k < 0.7:
            s = rng.choice(gens)(rng)
        else:  # a mix of several kinds, sometimes with special tokens inside
            parts = [rng.choice(gens)(rng) for _ in range(rng.randint(2, 4))]
            if specials and rng.random() < 0.6:
                for _ in range(rng.randint(1, 3)):
                    parts.insert(rng.randint(0, len(parts)), rng.choice(["", " ", "  ", "\n"]) + rng.choice(specials) + rng.choice(["", " ", "  ", "\n", "x"]))
            s = "".join(parts)
        corpus.append(s)
    return corpus


INVALID_UTF8 = [b"\xff", b"abc\x80", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"ok \xf0\x9f\x98"]


def run(cmd, inp_lines, path):
    with open(path, "w") as f:
        f.write("\n".join(inp_lines) + ("\n" if inp_lines else ""))
    res = subprocess.run(cmd + [path], capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {res.stderr.strip()}")
    return res.stdout.split("\n")[:len(inp_lines)]


class Report:
    def __init__(self):
        self.failures = 0

    def fail(self, name, what, s, want, got):
        self.failures += 1
        if self.failures <= 12:
            print(f"  MISMATCH [{name}] {what}: input {s!r}\n    hf      {want}\n    tessera {got}")


def compare(name, hf, model_dir, binary, corpus, report, tmp):
    specials_in_hf = True
    enc = [hf.encode(s, add_special_tokens=False).ids for s in corpus]
    enc_sp = [hf.encode(s, add_special_tokens=True).ids for s in corpus]
    hexes = [s.encode().hex() for s in corpus]
    base = [binary, "tokenize", "--model", model_dir]
    got = run(base + ["--no-special", "--batch"], hexes, f"{tmp}/in.hex")
    got_sp = run(base + ["--batch"], hexes, f"{tmp}/in.hex")
    bad = 0
    for s, want, want_sp, g, gs in zip(corpus, enc, enc_sp, got, got_sp):
        if json.dumps(want, separators=(", ", ": ")) != g:
            report.fail(name, "encode", s, want, g)
            bad += 1
        elif json.dumps(want_sp, separators=(", ", ": ")) != gs:
            report.fail(name, "encode+special", s, want_sp, gs)
            bad += 1
    # Decoding: the ids of the corpus, plus random id soup (byte tokens, specials, partial UTF-8).
    rng = random.Random(len(corpus))
    vocab = hf.get_vocab_size(with_added_tokens=True)
    id_lists = enc_sp + [[rng.randrange(vocab) for _ in range(rng.randint(0, 12))] for _ in range(2000)]
    lines = [" ".join(map(str, ids)) for ids in id_lists]
    dbase = [binary, "detokenize", "--model", model_dir]
    for flags, skip in (([], False), (["--skip-special"], True)):
        want = [hf.decode(ids, skip_special_tokens=skip) for ids in id_lists]
        got = run(dbase + flags + ["--batch"], lines, f"{tmp}/ids.txt")
        stream = run(dbase + flags + ["--stream", "--batch"], lines, f"{tmp}/ids.txt")
        for k, (ids, w, g, st) in enumerate(zip(id_lists, want, got, stream)):
            gt = bytes.fromhex(g).decode("utf-8", errors="surrogateescape")
            if w != gt:
                report.fail(name, f"decode(skip={skip})", ids, repr(w), repr(gt))
                bad += 1
            # Streaming must equal decode on real encodings; random soups can hold byte-fallback
            # groups that turn invalid later, which no stream can take back (HF's errors there).
            elif k < len(enc_sp) and bytes.fromhex(st).decode("utf-8", errors="surrogateescape") != w:
                report.fail(name, f"stream(skip={skip})", ids, repr(w), repr(bytes.fromhex(st)))
                bad += 1
    roundtrip = sum(hf.decode(e) == s for s, e in zip(corpus, enc))
    inv = run(base + ["--no-special", "--batch"], [b.hex() for b in INVALID_UTF8], f"{tmp}/inv.hex")
    for b, g in zip(INVALID_UTF8, inv):
        if not g.startswith("error: text is not valid UTF-8"):
            report.fail(name, "invalid utf-8", b, "a clear error", g)
            bad += 1
    print(f"{name}: {len(corpus)} strings, {len(id_lists)} id lists: {'OK' if bad == 0 else f'{bad} MISMATCHES'}"
          f" (HF round trip holds on {roundtrip}/{len(corpus)}; {len(INVALID_UTF8)} invalid UTF-8 inputs rejected)")
    return bad == 0


def train_small(kind, corpus, out_dir):
    """Small tokenizers built here with HF: each exercises one part of the pipeline."""
    text = [s for s in corpus[:3000] if s]
    special = ["<s>", "</s>", "<|user|>", "<unk>"]
    if kind.startswith("unigram"):  # SentencePiece-Unigram: Metaspace, Viterbi over scored pieces
        tok = Tokenizer(models.Unigram())
        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
        tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
        trainer = trainers.UnigramTrainer(vocab_size=800, special_tokens=["<unk>", "<s>", "</s>"], unk_token="<unk>",
                                          show_progress=False, max_piece_length=12)
        # Trained on the mostly-Latin strings only, so that the rest of the corpus (every plane)
        # exercises the unk and byte-fallback paths.
        tok.train_from_iterator([t for t in text if all(ord(ch) < 0x250 for ch in t)], trainer)
        if kind == "unigram-bytefallback":  # byte pieces at the end of the vocabulary, byte_fallback on
            j = json.loads(tok.to_str())
            low = min(score for _, score in j["model"]["vocab"])
            j["model"]["vocab"] += [[f"<0x{b:02X}>", low - 1.0] for b in range(256)]
            j["model"]["byte_fallback"] = True
            j["decoder"] = {"type": "Sequence", "decoders": [
                {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
            tok = Tokenizer.from_str(json.dumps(j, ensure_ascii=False))
        tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 1), ("</s>", 2)])
    elif kind.startswith("chars-"):  # the per-character pre-tokenizers before byte-level BPE
        tok = Tokenizer(models.BPE())
        if kind == "chars-digits":  # SmolLM2's pipeline: every digit alone, then GPT-2's regex
            steps = [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
        else:
            behavior = kind.split("-", 2)[2]
            steps = [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation(behavior=behavior),
                     pre_tokenizers.Digits(individual_digits=False),
                     pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
        tok.pre_tokenizer = pre_tokenizers.Sequence(steps)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=1500, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                      show_progress=False)
        tok.train_from_iterator(text, trainer)
    elif kind.startswith("bytelevel"):
        tok = Tokenizer(models.BPE(ignore_merges=(kind == "bytelevel-ignore-merges")))
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(LLAMA3_RE), "isolated"),
                                                     pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]) \
            if kind != "bytelevel-gpt2" else pre_tokenizers.ByteLevel(add_prefix_space=True)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=2000, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                      show_progress=False)
        tok.train_from_iterator(text, trainer)
        if kind == "bytelevel-gpt2":
            tok.post_processor = processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")))
        else:
            tok.normalizer = normalizers.NFC()
            tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", tok.token_to_id("<s>")), ("</s>", tok.token_to_id("</s>"))])
        tok.add_tokens([AddedToken("[tool]", lstrip=True, rstrip=True), AddedToken("word", single_word=True, normalized=True),
                        AddedToken("<x>", special=True, normalized=False)])
    else:  # SentencePiece-style: byte_fallback, unk, Metaspace or Prepend+Replace
        tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
        if kind == "spm-metaspace":
            tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
        else:
            tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
        tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)])
        byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
        trainer = trainers.BpeTrainer(vocab_size=1500, special_tokens=special + byte_tokens, show_progress=False,
                                      limit_alphabet=200)
        tok.train_from_iterator(text, trainer)
        tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))])
        tok.add_tokens([AddedToken("<|user|>", special=True, rstrip=True, normalized=False), AddedToken("<|end|>", lstrip=True, normalized=False),
                        AddedToken("quick", normalized=True)])  # matched as its normalized form "▁quick"
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "tokenizer.json")
    tok.save(path)
    if kind == "spm-prepend":  # the same model with merges written the old way, "a b"
        j = json.load(open(path, encoding="utf-8"))
        j["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m for m in j["model"]["merges"]]
        json.dump(j, open(path, "w", encoding="utf-8"), ensure_ascii=False)
    return Tokenizer.from_file(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("shared_data")
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    report = Report()
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        base_corpus = make_corpus(random.Random(args.seed), args.count, [])
        for kind in ("bytelevel-llama3", "bytelevel-gpt2", "bytelevel-ignore-merges", "spm-metaspace", "spm-prepend"):
            if args.only and args.only not in kind:
                continue
            d = os.path.join(tmp, kind)
            hf = train_small(kind, base_corpus, d)
            specials = ["<s>", "</s>", "<|user|>", "<|end|>", "[tool]", "word", "<x>"]
            corpus = make_corpus(random.Random(args.seed + 1), args.count, specials)
            ok &= compare(kind, hf, d, args.binary, corpus, report, tmp)
        # Digits, Punctuation (every behavior) and WhitespaceSplit, and Unigram models, on a quarter
        # of the corpus each.
        for kind in ("unigram-metaspace", "unigram-bytefallback", "chars-digits", "chars-punct-isolated", "chars-punct-removed", "chars-punct-merged_with_previous",
                     "chars-punct-merged_with_next", "chars-punct-contiguous"):
            if args.only and args.only not in kind:
                continue
            d = os.path.join(tmp, kind)
            hf = train_small(kind, base_corpus, d)
            corpus = make_corpus(random.Random(args.seed + 3), max(1000, args.count // 4), ["<s>", "</s>"])
            ok &= compare(kind, hf, d, args.binary, corpus, report, tmp)
        # The demo tokenizer that `tessera make-model` writes (C++-built JSON; HF must read it alike).
        if not args.only or "demo" in args.only:
            d = os.path.join(tmp, "demo")
            subprocess.run([args.binary, "make-model", "--preset", "tiny", "--out", d], check=True, capture_output=True)
            ok &= compare("demo (make-model)", Tokenizer.from_file(os.path.join(d, "tokenizer.json")), d, args.binary,
                          make_corpus(random.Random(args.seed + 2), args.count, ["<|begin_of_text|>", "<|end_of_text|>"]), report, tmp)
        tok_root = os.path.join(args.shared_data, "tokenizers")
        if not os.path.isdir(tok_root):
            print(f"SKIP real tokenizers: {tok_root} is absent")
        else:
            for name in sorted(os.listdir(tok_root)):
                if args.only and args.only not in name:
                    continue
                path = os.path.join(tok_root, name, "tokenizer.json")
                if not os.path.exists(path):
                    continue
                try:
                    hf = Tokenizer.from_file(path)
                except Exception as e:  # gpt2's old-format file: covered by the llama.cpp vectors
                    print(f"SKIP {name}: HF tokenizers {__import__('tokenizers').__version__} cannot load it ({str(e)[:60]})")
                    continue
                specials = [t.content for t in hf.get_added_tokens_decoder().values()][:40]
                corpus = make_corpus(random.Random(args.seed + zlib.crc32(name.encode()) % 1000), args.count, specials)
                ok &= compare(name, hf, os.path.dirname(path), args.binary, corpus, report, tmp)
    print("ALL OK" if ok else f"FAILED: {report.failures} mismatches")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
