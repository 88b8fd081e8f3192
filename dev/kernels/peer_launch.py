"""dev/kernels/peer_launch.py — three calls each of tessera's paged decode attention and of SDPA
(cudnn, flash) at one shape (Hq 32 / Hkv 8 / D 128, bf16, block size 16, shuffled blocks), for ncu to
show how each launches and what it reads:

    ncu --section LaunchStats python3 dev/kernels/peer_launch.py B L
"""
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

import tessera

B, L = (int(x) for x in (sys.argv[1:3] if len(sys.argv) > 2 else (64, 8192)))
HQ, HKV, D, BS = 32, 8, 128, 16
nb = (L + BS - 1) // BS
q4 = torch.randn(B, 1, HQ, D, device="cuda", dtype=torch.bfloat16)
kc = torch.randn(B * nb, BS, HKV, D, device="cuda", dtype=torch.bfloat16)
vc = torch.randn(B * nb, BS, HKV, D, device="cuda", dtype=torch.bfloat16)
table = torch.randperm(B * nb, device="cuda", dtype=torch.int32).view(B, nb)
lens = torch.full((B,), L, dtype=torch.int32, device="cuda")
for _ in range(3):
    tessera.flash_attn_with_kvcache(q4, kc, vc, cache_seqlens=lens, block_table=table)
torch.cuda.synchronize()
del kc, vc
q = torch.randn(B, HQ, 1, D, device="cuda", dtype=torch.bfloat16)
k = torch.randn(B, HKV, L, D, device="cuda", dtype=torch.bfloat16)
v = torch.randn(B, HKV, L, D, device="cuda", dtype=torch.bfloat16)
for be in (SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION):
    with sdpa_kernel(be):
        for _ in range(3):
            F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
torch.cuda.synchronize()
