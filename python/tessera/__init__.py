"""tessera — hand-written attention kernels for PyTorch (the Python face of the tessera engine).

    import tessera
    out = tessera.flash_attn_func(q, k, v, causal=True)          # q, k, v: [B, S, H, D] fp16/bf16
    out = tessera.flash_attn_varlen_func(q, k, v, cu_q, cu_k, max_q, max_k, causal=True)
    from tessera import flash_attn_interface as flash_attn       # FlashAttention-2's signatures

The functions are torch custom ops (tessera::attention_fwd, ...) with autograd: they run on the
current CUDA stream, trace under torch.compile(fullgraph=True) and can be captured in CUDA graphs.
The compiled kernels live in tessera._C (built by python/CMakeLists.txt); without it the package
still imports (fake tensors, signatures) and the ops raise a clear error when run.
"""

from . import _ops
from ._ops import attention_bwd_into, attention_fwd_into, supported_head_dims
from .attention import flash_attn_func, flash_attn_varlen_func
from . import flash_attn_interface
from . import kvcache
from .kvcache import flash_attn_with_kvcache, paged_attention, paged_kv_append

__all__ = [
    "flash_attn_func",
    "flash_attn_varlen_func",
    "flash_attn_interface",
    "flash_attn_with_kvcache",
    "paged_attention",
    "paged_kv_append",
    "kvcache",
    "attention_fwd_into",
    "attention_bwd_into",
    "supported_head_dims",
    "is_built",
]

__version__ = "0.1.0"


def is_built() -> bool:
    """True when the CUDA extension tessera._C was found."""
    return _ops._C is not None
