"""tests/gpu/sanitize_attention.py — a short driver for compute-sanitizer (memcheck, racecheck) over
the attention kernels through the Python bindings: small shapes that still hit every code path
(partial tiles, causal with Sq > Sk and Sq < Sk, GQA, varlen with 1- and 0-length sequences, every
head dim, both backward modes). tools/gpu.sh runs it as

    compute-sanitizer --tool memcheck --kernel-name kns=attention_ --target-processes all \
        --error-exitcode 1 python3 tests/gpu/sanitize_attention.py

It only launches; correctness is tests/gpu's job. Exits 0 when every launch returned.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

import torch  # noqa: E402

import tessera  # noqa: E402


def fixed(b, sq, sk, h, hk, d, dtype, causal, backward, deterministic=False):
    q = torch.randn(b, sq, h, d, dtype=dtype, device="cuda", requires_grad=backward)
    k = torch.randn(b, sk, hk, d, dtype=dtype, device="cuda", requires_grad=backward)
    v = torch.randn(b, sk, hk, d, dtype=dtype, device="cuda", requires_grad=backward)
    out = tessera.flash_attn_func(q, k, v, causal=causal, deterministic=deterministic)
    if backward:
        out.backward(torch.randn_like(out))


def varlen(lens_q, lens_k, h, hk, d, causal):
    def cu(lens):
        return torch.tensor([0] + torch.tensor(lens).cumsum(0).tolist(), dtype=torch.int32,
                            device="cuda")
    q = torch.randn(sum(lens_q), h, d, dtype=torch.bfloat16, device="cuda", requires_grad=True)
    k = torch.randn(sum(lens_k), hk, d, dtype=torch.bfloat16, device="cuda", requires_grad=True)
    v = torch.randn_like(k, requires_grad=True)
    out = tessera.flash_attn_varlen_func(q, k, v, cu(lens_q), cu(lens_k), max(lens_q),
                                         max(lens_k), causal=causal)
    out.backward(torch.randn_like(out))


def main():
    torch.manual_seed(0)
    bwd_dims = tessera.supported_head_dims(backward=True)
    n = 0
    for d in tessera.supported_head_dims():
        for causal in (False, True):
            fixed(1, 77, 77, 2, 2, d, torch.float16, causal, backward=d in bwd_dims)
            n += 1
    for causal in (False, True):
        fixed(2, 130, 33, 4, 2, 64, torch.bfloat16, causal, backward=True)          # Sq > Sk
        fixed(1, 17, 200, 4, 1, 128, torch.bfloat16, causal, backward=True,
              deterministic=True)                                                    # Sq < Sk, MQA
        varlen([1, 70, 0, 5], [3, 70, 9, 0], 4, 2, 64, causal)
        n += 3
    torch.cuda.synchronize()
    print(f"sanitize_attention: {n} cases launched")


if __name__ == "__main__":
    main()
