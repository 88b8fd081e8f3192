import torch, torch.nn.functional as F
from torch.nn.attention import sdpa_kernel, SDPBackend
def med(fn, reps=20):
    for _ in range(3): fn()
    ts=[]
    for _ in range(reps):
        a=torch.cuda.Event(enable_timing=True); b=torch.cuda.Event(enable_timing=True)
        a.record(); fn(); b.record(); b.synchronize(); ts.append(a.elapsed_time(b))
    ts.sort(); return ts[len(ts)//2]
print("SDPA flash (FA2) bf16")
for d in (64,128):
  for causal in (False,True):
    for s in (512,1024,2048,4096,8192,16384):
      b=16384//s; h=2048//d
      q,k,v=[torch.randn(b,h,s,d,device='cuda',dtype=torch.bfloat16,requires_grad=True) for _ in range(3)]
      with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        o=F.scaled_dot_product_attention(q,k,v,is_causal=causal)
        g=torch.randn_like(o)
        fwd=med(lambda: F.scaled_dot_product_attention(q,k,v,is_causal=causal))
        fb=med(lambda: torch.autograd.grad(F.scaled_dot_product_attention(q,k,v,is_causal=causal),(q,k,v),g))
      fl=4*b*h*s*s*d/(2 if causal else 1)
      print(f"{s:6d} {d:4d} {int(causal):6d} {b:6d} {fwd:10.3f} {fl/fwd/1e9:10.1f} {fb-fwd:10.3f} {2.5*fl/(fb-fwd)/1e9:10.1f}")
