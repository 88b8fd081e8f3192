"""bench/e2e/plot_decode.py — e2e_decode.png from bench/e2e/decode.py's JSON: decode tokens/s
against batch size, one panel per preset, tessera and each HF attention implementation as lines,
the HBM floor (weights + KV cache read once per step at 4.1 TB/s) dashed, and the issue's decode
targets as markers where the JSON's criteria name them. Imported by decode.py when matplotlib is
there; otherwise run it anywhere:

    python3 bench/e2e/plot_decode.py gpu-out/e2e_decode.json [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

_STYLE = {"tessera": ("C3", "o", 2.5), "hf_sdpa": ("C0", "s", 1.5), "hf_eager": ("C2", "^", 1.5)}
_LABEL = {"tessera": "tessera", "hf_sdpa": "HF transformers (sdpa)",
          "hf_eager": "HF transformers (eager)"}


def plot(data: dict, out_dir: str) -> str:
    presets = data["presets"]
    fig, axes = plt.subplots(1, len(presets), figsize=(5.2 * len(presets), 4.2), squeeze=False)
    for ax, p in zip(axes[0], presets):
        rows = sorted(p["rows"], key=lambda r: r["batch"])
        batches = [r["batch"] for r in rows]
        for key, (color, marker, width) in _STYLE.items():
            field = ("tessera_decode_tokens_per_s" if key == "tessera"
                     else f"{key}_decode_tokens_per_s")
            pts = [(r["batch"], r[field]) for r in rows if r.get(field)]
            if pts:
                ax.plot([b for b, _ in pts], [v for _, v in pts], color=color, marker=marker,
                        linewidth=width, label=_LABEL[key])
        ax.plot(batches, [r["floor_tokens_per_s"] for r in rows], color="0.4", linestyle="--",
                linewidth=1, label=f"HBM floor ({p['floor_tokens_per_s_batch1']:,.0f} at b=1)")
        for c in data.get("criteria", []):
            if c["preset"] == p["preset"] and c["what"] == "decode_tokens_per_s":
                ax.plot([c["at"]], [c["value"]], marker="_", markersize=18, color="C3",
                        markeredgewidth=2, linestyle="none")
                ax.annotate(f"target {c['value']:,.0f}", (c["at"], c["value"]), fontsize=7,
                            xytext=(6, -10), textcoords="offset points", color="C3")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(batches)
        ax.set_xticklabels([str(b) for b in batches])
        ax.set_xlabel("batch (sequences decoding together)")
        dtype = p.get("tessera", {}).get("latency", {}).get("dtype", "bf16")
        ax.set_title(f"{p['preset']} ({p['weights_bytes'] / 1e9:.3g} GB of {dtype} weights)")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("decode tokens/s (all sequences)")
    axes[0][-1].legend(fontsize=7, loc="best")
    meta = data.get("meta", {})
    fig.suptitle(f"decode after {meta.get('input_len')}-token prompts, bf16 — "
                 f"{meta.get('device', '')}, torch {meta.get('torch', '')}, transformers "
                 f"{meta.get('transformers', '')}", fontsize=9)
    fig.tight_layout()
    path = os.path.join(out_dir, "e2e_decode.png")
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
