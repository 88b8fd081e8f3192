"""bench/kernels/plot_decode.py — decode_bandwidth.png from bench/kernels/decode.py's JSON: K+V
bandwidth (TB/s) against keys per sequence, one panel per batch size, one line per implementation,
the copy ceiling of the same run dashed. Imported by decode.py when matplotlib is there; otherwise
run it anywhere:

    python3 bench/kernels/plot_decode.py gpu-out/decode_bench.json [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

_STYLE = {"tessera": ("C3", "o", 2.5), "cudnn": ("C2", "^", 1.5), "flash": ("C0", "s", 1.5)}


def plot(data: dict, out_dir: str) -> str:
    rows = data["results"]
    batches = sorted({r["batch"] for r in rows})
    impls = [i for i in _STYLE if any(i in r["impls"] for r in rows)]
    copy_tbps = data.get("copy", {}).get("tbps")
    fig, axes = plt.subplots(1, len(batches), figsize=(4.4 * len(batches), 3.8), squeeze=False,
                             sharey=True)
    # One y range for the shared axes, fixed up front: set_ylim(bottom=0) per panel would freeze the
    # top at the first panel's autoscale and clip the others.
    top = max([copy_tbps or 0.0] + [v["tbps"] for r in rows for v in r["impls"].values() if "tbps" in v])
    for ax, batch in zip(axes[0], batches):
        sel = sorted((r for r in rows if r["batch"] == batch), key=lambda r: r["seqlen"])
        for impl in impls:
            pts = [(r["seqlen"], r["impls"][impl]["tbps"]) for r in sel
                   if "tbps" in r["impls"].get(impl, {})]
            if not pts:
                continue
            color, marker, width = _STYLE[impl]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], label=impl, color=color,
                    marker=marker, linewidth=width)
        if copy_tbps:
            ax.axhline(copy_tbps, color="0.4", linestyle="--", linewidth=1,
                       label=f"copy ceiling {copy_tbps:.2f}")
        ax.set_xscale("log", base=2)
        ax.set_ylim(0, top * 1.08)
        ax.set_xlabel("keys per sequence (L)")
        ax.set_title(f"B={batch}")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("K+V bandwidth (TB/s)")
    axes[0][-1].legend(fontsize=8)
    meta = data.get("meta", {})
    fig.suptitle(f"decode attention, q_len 1, Hq={meta.get('heads')}, Hkv={meta.get('kv_heads')}, "
                 f"D={meta.get('head_dim')}, bf16 — {meta.get('device', '')}, torch "
                 f"{meta.get('torch', '')}", fontsize=10)
    fig.tight_layout()
    path = os.path.join(out_dir, "decode_bandwidth.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json")
    ap.add_argument("--out", default=None, help="folder for the PNG (default: next to the JSON)")
    a = ap.parse_args()
    with open(a.json) as f:
        print(f"wrote {plot(json.load(f), a.out or os.path.dirname(os.path.abspath(a.json)))}")
