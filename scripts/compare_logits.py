#!/usr/bin/env python3
"""Compares two `hearth logits --all` outputs (the CPU's float32 reference first) and prints one
JSON line: the largest absolute difference over every position, the largest |logit|, and whether
the arg-max token agrees at every position. Used by scripts/gpu-check.sh."""
import json
import sys

model, n, ref_path, got_path = sys.argv[1:5]
ref = json.load(open(ref_path))["logits"]
got = json.load(open(got_path))["logits"]
if len(ref) != len(got) or any(len(a) != len(b) for a, b in zip(ref, got)):
    print(json.dumps({"kind": "logits", "model": model, "tokens": int(n), "error": "shape differs"}))
    sys.exit(1)
worst = max(abs(a - b) for ra, rb in zip(ref, got) for a, b in zip(ra, rb))
scale = max(abs(a) for r in ref for a in r)
argmax_same = all(max(range(len(a)), key=a.__getitem__) == max(range(len(b)), key=b.__getitem__)
                  for a, b in zip(ref, got))
print(json.dumps({"kind": "logits", "model": model, "tokens": int(n), "positions": len(ref),
                  "max_abs_diff": worst, "max_abs_logit": scale, "argmax_same": argmax_same,
                  "within_2e-2": worst < 2e-2}))
