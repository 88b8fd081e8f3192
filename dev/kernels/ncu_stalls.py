"""Summarise an ncu SASS source CSV (dev/kernels/ncu_source.sh): stall samples by opcode and reason,
and the top stalled instructions with the instruction before them.
    python3 dev/kernels/ncu_stalls.py src_fwd_d128.csv.gz [top]"""
import csv
import gzip
import sys
from collections import Counter

rows = list(csv.reader(gzip.open(sys.argv[1], "rt")))
top_n = int(sys.argv[2]) if len(sys.argv) > 2 else 30
header, data = rows[1], rows[2:]
col = header.index("Warp Stall Sampling (All Samples)")
reasons = [i for i, h in enumerate(header) if h.startswith("stall_") and "Not Issued" not in h]
total = sum(float(r[col] or 0) for r in data)


def opcode(src):
    parts = src.split()
    if parts and parts[0].startswith("@"):
        parts = parts[1:]
    return parts[0].split(".")[0] if parts else ""


by_op, by_reason = Counter(), Counter()
for r in data:
    by_op[opcode(r[1])] += float(r[col] or 0)
    for i in reasons:
        by_reason[header[i]] += float(r[i] or 0)
print(f"samples {total:.0f}, SASS instructions {len(data)}")
print("by opcode: " + ", ".join(f"{k} {v / total:.1%}" for k, v in by_op.most_common(12)))
print("by reason: " + ", ".join(f"{k[6:]} {v / total:.1%}" for k, v in by_reason.most_common(8)))
order = sorted(range(len(data)), key=lambda i: -float(data[i][col] or 0))[:top_n]
for i in sorted(order):
    r = data[i]
    why = max(reasons, key=lambda j: float(r[j] or 0))
    prev = data[i - 1][1][:44] if i else ""
    print(f"{float(r[col] or 0) / total:6.2%} {header[why][6:]:14s} {r[1][:52]:52s} <- {prev}")
