#!/usr/bin/env python3
"""bench/tokenizer/bench_tokenizer.py — single-thread encode throughput, tessera vs HF `tokenizers`,
in the same run, on English text and on code.

Corpora (built from files every Debian machine has, so the numbers can be reproduced anywhere):
  english: the licence texts in /usr/share/common-licenses plus this repo's Markdown;
  code:    this repo's C++/CUDA/Python sources plus libstdc++ headers;
each cut into documents of about 4 KB at line ends (a prompt-sized unit), about 1 MB in all.
HF runs with one thread (RAYON_NUM_THREADS=1, TOKENIZERS_PARALLELISM=false); its time is the better
of encode() per document and encode_batch() of all documents. tessera runs `tessera tokenize
--batch F --repeat N` (the same documents, one thread). Times are medians of N passes after a
warm-up pass; both must produce the same number of tokens.

Usage: bench_tokenizer.py [--binary build/cpu/tessera] [--data ../shared/data] [--runs 5] [--out DIR]
Prints a Markdown table; writes DIR/tokenizer_bench.json.
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
from tokenizers import Tokenizer  # noqa: E402  (after the thread settings)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TARGET_BYTES = 1 << 20


def read_files(patterns):
    out = []
    for pat in patterns:
        for path in sorted(glob.glob(pat, recursive=True)):
            try:
                out.append(open(path, encoding="utf-8").read())
            except (UnicodeDecodeError, IsADirectoryError, OSError):
                pass
    return out


def documents(texts, size=4096):
    docs, cur, total = [], [], 0
    while total < TARGET_BYTES and texts:
        for t in texts:
            for line in t.splitlines(keepends=True):
                cur.append(line)
                if sum(map(len, cur)) >= size:
                    docs.append("".join(cur))
                    total += len(docs[-1].encode())
                    cur = []
                if total >= TARGET_BYTES:
                    return docs
    return docs


def corpora():
    english = read_files(["/usr/share/common-licenses/*", f"{ROOT}/**/*.md"])
    code = read_files([f"{ROOT}/src/**/*.cpp", f"{ROOT}/src/**/*.h", f"{ROOT}/kernels/**/*.cu*", f"{ROOT}/python/**/*.py",
                       "/usr/include/c++/12/bits/*.h"])
    return {"english": documents(english), "code": documents(code)}


def time_hf(tok, docs, runs):
    def per_doc():
        return sum(len(tok.encode(d, add_special_tokens=False).ids) for d in docs)

    def batch():
        return sum(len(e.ids) for e in tok.encode_batch(docs, add_special_tokens=False))

    best, tokens = None, None
    for fn in (per_doc, batch):
        tokens = fn()  # warm-up
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        best = med if best is None else min(best, med)
    return best, tokens


def time_tessera(binary, model_dir, docs, runs, tmp):
    path = os.path.join(tmp, "docs.hex")
    with open(path, "w") as f:
        for d in docs:
            f.write(d.encode().hex() + "\n")
    res = subprocess.run([binary, "tokenize", "--model", model_dir, "--batch", path, "--no-special", "--repeat", str(runs + 1)],
                         capture_output=True, text=True, check=True)
    r = json.loads(res.stdout)
    return r["median_s"], r["tokens"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, "build/cpu/tessera"))
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench-tokenizer"))
    args = ap.parse_args()
    names = ["llama-3.1-instruct", "qwen2", "mistral-7b-v0.1", "phi-3-mini"]
    models = [(n, os.path.join(args.data, "tokenizers", n)) for n in names
              if os.path.exists(os.path.join(args.data, "tokenizers", n, "tokenizer.json"))]
    if not models:
        print(f"SKIP: no tokenizers under {args.data}/tokenizers")
        return 0
    docs = corpora()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, d in models:
            hf = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
            for kind, ds in docs.items():
                nbytes = sum(len(x.encode()) for x in ds)
                hf_s, hf_tokens = time_hf(hf, ds, args.runs)
                ts_s, ts_tokens = time_tessera(args.binary, d, ds, args.runs, tmp)
                if hf_tokens != ts_tokens:
                    print(f"ERROR {name}/{kind}: HF made {hf_tokens} tokens, tessera {ts_tokens}", file=sys.stderr)
                    return 1
                rows.append({"tokenizer": name, "corpus": kind, "documents": len(ds), "bytes": nbytes, "tokens": ts_tokens,
                             "hf_s": hf_s, "tessera_s": ts_s, "hf_mb_s": nbytes / hf_s / 1e6,
                             "tessera_mb_s": nbytes / ts_s / 1e6, "ratio": hf_s / ts_s})
                r = rows[-1]
                print(f"{name:20s} {kind:8s} HF {r['hf_mb_s']:6.2f} MB/s  tessera {r['tessera_mb_s']:6.2f} MB/s  x{r['ratio']:.2f}",
                      file=sys.stderr)
    os.makedirs(args.out, exist_ok=True)
    import tokenizers
    meta = {"hf_tokenizers": tokenizers.__version__, "threads": 1, "runs": args.runs, "cpu": cpu_name()}
    json.dump({"meta": meta, "rows": rows}, open(os.path.join(args.out, "tokenizer_bench.json"), "w"), indent=1)
    print(f"| tokenizer | corpus | docs / MB / tokens | HF tokenizers {meta['hf_tokenizers']} MB/s | tessera MB/s | tessera / HF |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['tokenizer']} | {r['corpus']} | {r['documents']} / {r['bytes'] / 1e6:.2f} / {r['tokens']} | "
              f"{r['hf_mb_s']:.2f} | {r['tessera_mb_s']:.2f} | **{r['ratio']:.2f}x** |")
    return 0


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    sys.exit(main())
