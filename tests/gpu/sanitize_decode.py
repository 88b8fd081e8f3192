"""tests/gpu/sanitize_decode.py — a short driver for compute-sanitizer (memcheck, racecheck) over
the paged KV cache kernels through the Python bindings: small shapes that still reach every path
(append with and without RoPE, q rotated, padding slots, odd block sizes; attention with one and
several new tokens, GQA, every head dim, no split and forced splits with the combine pass, rows
that see no key, a sequence with no new token). tools/gpu.sh runs it as

    compute-sanitizer --tool memcheck --kernel-name kns=paged_ --target-processes all \
        --error-exitcode 1 python3 tests/gpu/sanitize_decode.py

It only launches; correctness is tests/gpu/test_decode*.py's job. Exits 0 when every launch
returned.
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(_HERE, "..", "..", "python"), _HERE]

import torch  # noqa: E402

import tessera  # noqa: E402
import decode_ref as dr  # noqa: E402


def attention(lens, q_lens, heads, kv_heads, head_dim, block_size, num_splits, causal=True):
    b = dr.make_batch(lens, q_lens, heads, kv_heads, head_dim, torch.bfloat16, block_size)
    tessera.paged_attention(b.q, b.k_cache, b.v_cache, b.cu_seqlens_q, b.seq_lens, b.block_table,
                            max(1, max(q_lens)), max(1, max(lens)), causal=causal,
                            num_splits=num_splits, return_lse=True)


def append(num_tokens, heads, kv_heads, head_dim, block_size, rope, rotary_dim):
    qkv = torch.randn(num_tokens, heads + 2 * kv_heads, head_dim, dtype=torch.float16,
                      device="cuda")
    q, k, v = qkv[:, :heads], qkv[:, heads:heads + kv_heads], qkv[:, heads + kv_heads:]
    num_blocks = num_tokens // block_size + 3
    cache = torch.randn(num_blocks, block_size, kv_heads, head_dim, dtype=torch.float16,
                        device="cuda")
    slots = torch.randperm(num_blocks * block_size, device="cuda")[:num_tokens]
    slots[::4] = -1
    kwargs = {}
    if rope:
        cos, sin = dr.rope_tables(dr.inv_freq_llama3(rotary_dim), 64, "cuda")
        pos = torch.randint(0, 80, (num_tokens,), dtype=torch.int32, device="cuda")  # some clamped
        kwargs = dict(positions=pos, rotary_cos=cos, rotary_sin=sin,
                      rotary_interleaved=rope == "interleaved", q=q)
    tessera.paged_kv_append(k, v, cache, cache.clone(), slots, **kwargs)


def main():
    torch.manual_seed(0)
    n = 0
    for head_dim in tessera.kvcache.DECODE_HEAD_DIMS:
        attention([1, 17, 97, 300], [1, 1, 1, 1], 8, 2, head_dim, 16, 1)
        attention([1, 17, 97, 300], [1, 5, 3, 33], 8, 2, head_dim, 16, 5)
        append(37, 4, 2, head_dim, 16, "half", head_dim // 2)
        n += 3
    attention([0, 3, 40, 0, 2000], [1, 5, 0, 0, 2], 12, 3, 128, 64, 0)     # keyless rows, q_len 0
    attention([1025, 7, 129], [1, 1, 1], 16, 1, 128, 128, 17, causal=False)  # MQA, many splits
    attention([33, 65], [33, 2], 4, 4, 64, 32, 0)                            # q_len == seq_len
    append(50, 8, 1, 128, 7, "interleaved", 128)
    append(50, 8, 1, 128, 32, None, 0)
    tessera.flash_attn_with_kvcache(
        torch.randn(2, 3, 8, 128, dtype=torch.bfloat16, device="cuda"),
        torch.randn(3, 100, 2, 128, dtype=torch.bfloat16, device="cuda"),
        torch.randn(3, 100, 2, 128, dtype=torch.bfloat16, device="cuda"),
        torch.randn(2, 3, 2, 128, dtype=torch.bfloat16, device="cuda"),
        torch.randn(2, 3, 2, 128, dtype=torch.bfloat16, device="cuda"),
        *dr.rope_tables(dr.inv_freq_default(64), 100, "cuda"),
        cache_seqlens=torch.tensor([0, 90], dtype=torch.int32, device="cuda"), causal=True)
    n += 6
    torch.cuda.synchronize()
    print(f"sanitize_decode: {n} cases launched")


if __name__ == "__main__":
    main()
