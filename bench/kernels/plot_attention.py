"""bench/kernels/plot_attention.py — PNG plots from bench/kernels/attention.py's JSON.

One figure per mode (attention_fwd.png, attention_fwd_bwd.png): TFLOP/s against sequence length
on the FlashAttention-3 paper shapes, one panel per (head dim, causal), one line per
implementation. Imported by attention.py when matplotlib is there; otherwise run it anywhere:

    python3 bench/kernels/plot_attention.py gpu-out/attention_bench.json [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

_STYLE = {"tessera": ("C3", "o", 2.5), "flash": ("C0", "s", 1.5), "cudnn": ("C2", "^", 1.5),
          "efficient": ("C1", "v", 1.5), "math": ("C7", "x", 1.0)}


def plot(json_path: str, out_dir: str) -> list[str]:
    with open(json_path) as f:
        data = json.load(f)
    rows = [r for r in data["results"] if r["shape"]["case"] == "paper"]
    written = []
    for mode in sorted({r["mode"] for r in rows}):
        panels = sorted({(r["shape"]["head_dim"], r["shape"]["causal"]) for r in rows
                         if r["mode"] == mode})
        fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8), squeeze=False)
        for ax, (d, causal) in zip(axes[0], panels):
            sel = sorted((r for r in rows if r["mode"] == mode and r["shape"]["head_dim"] == d
                          and r["shape"]["causal"] == causal), key=lambda r: r["shape"]["seqlen"])
            impls = list(sel[0]["impls"]) if sel else []
            for impl in impls:
                pts = [(r["shape"]["seqlen"], r["impls"][impl]["tflops"]) for r in sel
                       if "tflops" in r["impls"].get(impl, {})]
                if not pts:
                    continue
                color, marker, width = _STYLE.get(impl, ("k", ".", 1.0))
                ax.plot([p[0] for p in pts], [p[1] for p in pts], label=impl, color=color,
                        marker=marker, linewidth=width)
            ax.set_xscale("log", base=2)
            ax.set_xlabel("sequence length (B*S = 16k, H*D = 2048)")
            ax.set_title(f"D={d}, {'causal' if causal else 'non-causal'}")
            ax.grid(alpha=0.3)
        axes[0][0].set_ylabel("TFLOP/s")
        axes[0][-1].legend(fontsize=8)
        meta = data.get("meta", {})
        fig.suptitle(f"attention {mode.replace('_', '+')}, bf16 — {meta.get('device', '')}, "
                     f"torch {meta.get('torch', '')}")
        fig.tight_layout()
        path = os.path.join(out_dir, f"attention_{mode}.png")
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
    return written


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json")
    ap.add_argument("--out", default=None, help="folder for the PNGs (default: next to the JSON)")
    a = ap.parse_args()
    for p in plot(a.json, a.out or os.path.dirname(os.path.abspath(a.json))):
        print(f"wrote {p}")
