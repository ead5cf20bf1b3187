#!/usr/bin/env python3
"""The compact summary of a scripts/gpu-check.sh run, from its results.jsonl: unit tests, logits
agreement, and per model type the decode, prefill and batched-decode figures against the limits
measured in the same run and against issue 13's targets."""
import json
import sys

TG_TARGET = {"bf16": 0.92, "q4_0": 0.75, "q4_k_m": 0.70}
PP_TARGET = 0.50      # bf16 pp2048: fraction of the measured bf16 tensor-core peak
BATCH_TARGET = {32: 20.0, 64: 35.0}
TG = "tg128"

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip().startswith("{")]
out = []

units = [r for r in rows if r.get("kind") == "unit"]
if units:
    out.append("| unit tests | passed | skipped | failed |")
    out.append("|---|---|---|---|")
    for u in units:
        failed = ", ".join(u["failed"]) or ("none" if u["finished"] else "did not finish")
        out.append(f"| {u['name']} | {u['passed']} | {u['skipped']} | {failed} |")
    out.append("")

logits = [r for r in rows if r.get("kind") == "logits"]
if logits:
    out.append("| logits (GPU vs CPU float32) | tokens | max abs diff | max abs logit | < 2e-2 | argmax same |")
    out.append("|---|---|---|---|---|---|")
    for g in logits:
        if "error" in g:
            out.append(f"| {g['model']} | {g['tokens']} | {g['error']} | | no | |")
            continue
        out.append(f"| {g['model']} | {g['tokens']} | {g['max_abs_diff']:.3g} | "
                   f"{g['max_abs_logit']:.3g} | {'yes' if g['within_2e-2'] else 'NO'} | "
                   f"{'yes' if g['argmax_same'] else 'NO'} |")
    out.append("")

benches = [r for r in rows if "results" in r]
device = next((b for b in benches if b.get("device") == "cuda"), None)
if device:
    out.append(f"GPU: {device.get('device_name', '?')}; device copy bandwidth "
               f"{device['read_bandwidth_gbs']:.0f} GB/s; bf16 cuBLAS GEMM "
               f"{device.get('device_bf16_tflops', 0):.0f} TFLOP/s (measured in this run)")
    out.append("")


def result(b, test):
    for r in b["results"]:
        if r["test"] == test:
            return r["tokens_per_s"]
    return None


def mark(ok):
    return "" if ok is None else (" ok" if ok else " MISS")


by_type = {}
for b in benches:
    by_type.setdefault(b["type"], []).append(b)


def tests_of(bs, kind):
    names = {r["test"] for b in bs for r in b["results"]}
    if kind == "tg":
        return sorted(n for n in names if n.startswith("tg") and "_b" not in n)
    if kind == "pp":
        return sorted((n for n in names if n.startswith("pp")), key=lambda n: int(n[2:]))
    return sorted((n for n in names if "_b" in n), key=lambda n: int(n.split("_b")[1]))


if by_type:
    all_b = [b for bs in by_type.values() for b in bs]
    tg_name = (tests_of(all_b, "tg") or ["tg"])[0]
    pps = tests_of(all_b, "pp")
    batches = tests_of(all_b, "batch")
    head = [f"type", f"{tg_name} tok/s", "ms/token", "GB/s", "of copy BW", "target",
            "no graphs tok/s"]
    for p in pps:
        head += [f"{p} tok/s", f"{p} TFLOP/s", "of bf16 peak"]
    head += [f"{name} agg tok/s (x tg)" for name in batches] + ["graphs"]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "---|" * len(head))
for t, bs in by_type.items():
    main = next((b for b in bs if any(result(b, p) for p in pps)), bs[0])
    tg = result(main, tg_name)
    cells = [t]
    if tg:
        frac = main["tg_bandwidth_fraction"]
        tgt = TG_TARGET.get(t)
        cells += [f"{tg:.1f}", f"{1000 / tg:.2f}", f"{tg * main['bytes_per_token'] / 1e9:.0f}",
                  f"{frac:.0%}", f">= {tgt:.0%}{mark(frac >= tgt)}" if tgt else ""]
    else:
        cells += ["", "", "", "", ""]
    nog = next((b for b in bs if b.get("graphs_off_run")), None)
    cells.append(f"{result(nog, tg_name):.1f}" if nog and result(nog, tg_name) else "")
    for p in pps:
        v = result(main, p)
        if not v:
            cells += ["", "", ""]
            continue
        ntok = int(p[2:])
        flops = main["matmul_flops_per_token"] + main["attention_flops_per_token_per_key"] * (ntok + 1) / 2
        tf = v * flops / 1e12
        peak = main.get("device_bf16_tflops")
        last = p == pps[-1]
        cells += [f"{v:.0f}", f"{tf:.1f}",
                  (f"{tf / peak:.0%}" + (mark(tf / peak >= PP_TARGET) if t == "bf16" and last else ""))
                  if peak else ""]
    for name in batches:
        nseq = int(name.split("_b")[1])
        src = next((b for b in bs if result(b, name) is not None), None)
        if src and result(src, tg_name):
            agg = result(src, name)
            ratio = agg / result(src, tg_name)
            tgt = BATCH_TARGET.get(nseq)
            cells.append(f"{agg:.0f} ({ratio:.1f}x{mark(ratio >= tgt) if tgt else ''})")
        else:
            cells.append("")
    g = main.get("graphs")
    cells.append(f"{'on' if g['enabled'] else 'OFF'} ({g['captured']} captured, {g['replayed']} "
                 f"replayed, {g['diverged']} diverged{', ' + g['off_reason'] if g['off_reason'] else ''})"
                 if g else "")
    out.append("| " + " | ".join(cells) + " |")

print("\n".join(out))
