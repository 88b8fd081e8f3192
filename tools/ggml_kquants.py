"""tools/ggml_kquants.py — simple quantizers for ggml's Q4_K, Q5_K and Q6_K block formats (numpy).

The `gguf` Python package (PyPI) reads every ggml type but quantizes only the 32-element ones
(Q4_0 ... Q8_0); the K formats need a writer to make test checkpoints. These are plain
round-to-nearest quantizers (no search for the best scales, unlike llama.cpp's): what matters
for a fixture is that the bytes follow the layout, which `check()` confirms by reading them back
with gguf's own dequantizer.

Layouts (one super-block of 256 values; f16 = IEEE half):
  Q4_K  f16 d, f16 dmin, u8 scales[12], u8 qs[128]          8 sub-blocks of 32, 4-bit values
  Q5_K  f16 d, f16 dmin, u8 scales[12], u8 qh[32], u8 qs[128]   5-bit values
  Q6_K  u8 ql[128], u8 qh[64], i8 scales[16], f16 d           16 sub-blocks of 16, 6-bit values
The Q4_K/Q5_K scales pack eight 6-bit (scale, min) pairs: pairs 0-3 in the low 6 bits of bytes 0-3
(scale) and 4-7 (min), pairs 4-7 in the nibbles of bytes 8-11 with their top 2 bits in the top
bits of bytes 0-7. A value is d * scale * q - dmin * min.
"""

from __future__ import annotations

import numpy as np

QK = 256


def _f16(x):
    return np.asarray(x, dtype=np.float32).astype(np.float16)


def _pack_scale_min(sc: np.ndarray, mn: np.ndarray) -> np.ndarray:
    """[n, 8] 6-bit scales and mins -> [n, 12] bytes."""
    sc, mn = sc.astype(np.uint8), mn.astype(np.uint8)
    out = np.zeros((sc.shape[0], 12), dtype=np.uint8)
    out[:, 0:4] = (sc[:, 0:4] & 63) | ((sc[:, 4:8] >> 4) << 6)
    out[:, 4:8] = (mn[:, 0:4] & 63) | ((mn[:, 4:8] >> 4) << 6)
    out[:, 8:12] = (sc[:, 4:8] & 15) | ((mn[:, 4:8] & 15) << 4)
    return out


def _affine(x: np.ndarray, levels: int):
    """Sub-block scales and mins for values [n, 8, 32], and the integer values (0..levels)."""
    lo = np.minimum(x.min(axis=2), 0.0)
    hi = x.max(axis=2)
    scale = (hi - lo) / levels
    offset = -lo
    d = _f16(scale.max(axis=1) / 63)
    dmin = _f16(offset.max(axis=1) / 63)
    dd, dm = d.astype(np.float32), dmin.astype(np.float32)
    sc = np.clip(np.round(np.divide(scale, dd[:, None], out=np.zeros_like(scale), where=dd[:, None] > 0)), 0, 63)
    mn = np.clip(np.round(np.divide(offset, dm[:, None], out=np.zeros_like(offset), where=dm[:, None] > 0)), 0, 63)
    step = dd[:, None] * sc
    shift = dm[:, None] * mn
    q = np.divide(x + shift[:, :, None], step[:, :, None], out=np.zeros_like(x), where=step[:, :, None] > 0)
    q = np.clip(np.round(q), 0, levels).astype(np.uint8)
    return d, dmin, sc, mn, q


def quantize_q4_k(x: np.ndarray) -> np.ndarray:
    """float32 [rows, k * 256] -> uint8 [rows, k * 144]."""
    rows = x.shape[0]
    v = x.reshape(-1, 8, 32).astype(np.float32)
    d, dmin, sc, mn, q = _affine(v, 15)
    qs = (q[:, 0::2, :] | (q[:, 1::2, :] << 4)).reshape(-1, 128)
    blocks = np.concatenate([d.view(np.uint8).reshape(-1, 2), dmin.view(np.uint8).reshape(-1, 2),
                             _pack_scale_min(sc, mn), qs], axis=1)
    return blocks.reshape(rows, -1)


def quantize_q5_k(x: np.ndarray) -> np.ndarray:
    """float32 [rows, k * 256] -> uint8 [rows, k * 176]."""
    rows = x.shape[0]
    v = x.reshape(-1, 8, 32).astype(np.float32)
    d, dmin, sc, mn, q = _affine(v, 31)
    low = q & 15
    qs = (low[:, 0::2, :] | (low[:, 1::2, :] << 4)).reshape(-1, 128)
    qh = np.zeros((v.shape[0], 32), dtype=np.uint8)
    for j in range(8):  # bit j of qh[l] is sub-block j's fifth bit of value l
        qh |= ((q[:, j, :] >> 4) & 1) << j
    blocks = np.concatenate([d.view(np.uint8).reshape(-1, 2), dmin.view(np.uint8).reshape(-1, 2),
                             _pack_scale_min(sc, mn), qh, qs], axis=1)
    return blocks.reshape(rows, -1)


def quantize_q6_k(x: np.ndarray) -> np.ndarray:
    """float32 [rows, k * 256] -> uint8 [rows, k * 210]."""
    rows = x.shape[0]
    v = x.reshape(-1, 16, 16).astype(np.float32)
    amax = np.abs(v).max(axis=2)
    scale = amax / 31
    d = _f16(scale.max(axis=1) / 127)
    dd = d.astype(np.float32)
    sc = np.clip(np.round(np.divide(scale, dd[:, None], out=np.zeros_like(scale), where=dd[:, None] > 0)), -128, 127)
    step = dd[:, None] * sc
    q = np.divide(v, step[:, :, None], out=np.zeros_like(v), where=step[:, :, None] != 0)
    u = (np.clip(np.round(q), -32, 31) + 32).astype(np.uint8).reshape(-1, 256)
    n = u.shape[0]
    ql = np.zeros((n, 128), dtype=np.uint8)
    qh = np.zeros((n, 64), dtype=np.uint8)
    for half in range(2):
        base = u[:, 128 * half:128 * half + 128]
        u0, u1, u2, u3 = base[:, 0:32], base[:, 32:64], base[:, 64:96], base[:, 96:128]
        ql[:, 64 * half:64 * half + 32] = (u0 & 15) | ((u2 & 15) << 4)
        ql[:, 64 * half + 32:64 * half + 64] = (u1 & 15) | ((u3 & 15) << 4)
        qh[:, 32 * half:32 * half + 32] = (u0 >> 4) | ((u1 >> 4) << 2) | ((u2 >> 4) << 4) | ((u3 >> 4) << 6)
    blocks = np.concatenate([ql, qh, sc.astype(np.int8).view(np.uint8), d.view(np.uint8).reshape(-1, 2)], axis=1)
    return blocks.reshape(rows, -1)


QUANTIZERS = {"Q4_K": quantize_q4_k, "Q5_K": quantize_q5_k, "Q6_K": quantize_q6_k}


def quantize(x: np.ndarray, type_name: str) -> np.ndarray:
    """Any type the `gguf` package quantizes, and the three K types above."""
    if type_name in QUANTIZERS:
        return QUANTIZERS[type_name](x)
    import gguf

    return gguf.quants.quantize(x, gguf.GGMLQuantizationType[type_name])


def check(type_name: str, seed: int = 0) -> float:
    """Round trip through gguf's dequantizer: the relative error of a random matrix."""
    import gguf

    x = np.random.default_rng(seed).standard_normal((8, 512)).astype(np.float32)
    y = gguf.quants.dequantize(quantize(x, type_name), gguf.GGMLQuantizationType[type_name])
    return float(np.abs(y - x).max() / np.abs(x).max())


if __name__ == "__main__":
    for t in ("Q4_K", "Q5_K", "Q6_K"):
        print(t, f"max error / max |x| = {check(t):.4f}")
