#!/usr/bin/env python3
"""The compact summary of a scripts/gpu-check.sh run, from its results.jsonl: unit tests, logits
agreement, and per model type the decode, prefill and batched-decode figures against the limits
measured in the same run and against issue 13's targets."""
import json
import sys

TG_TARGET = {"bf16": 0.92, "q4_0": 0.75, "q4_k_m": 0.70}
PP_TARGET = 0.50      # bf16 pp2048: fraction of the measured bf16 tensor-core peak
BATCH_TARGET = {32: 20.0, 64: 35.0}

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

if by_type:
    out.append("| type | tg128 tok/s | ms/token | GB/s | of copy BW | target | no graphs tok/s | "
               "pp512 tok/s | pp2048 tok/s | pp2048 TFLOP/s | of bf16 peak | b32 agg tok/s (x tg) | "
               "b64 agg tok/s (x tg) | graphs |")
    out.append("|" + "---|" * 14)
for t, bs in by_type.items():
    main = next((b for b in bs if result(b, "pp2048") is not None), bs[0])
    tg = result(main, "tg128")
    cells = [t]
    if tg:
        frac = main["tg_bandwidth_fraction"]
        tgt = TG_TARGET.get(t)
        cells += [f"{tg:.1f}", f"{1000 / tg:.2f}", f"{tg * main['bytes_per_token'] / 1e9:.0f}",
                  f"{frac:.0%}", f">= {tgt:.0%}{mark(frac >= tgt)}" if tgt else ""]
    else:
        cells += ["", "", "", "", ""]
    nog = next((b for b in bs if b.get("graphs_off_run")), None)
    cells.append(f"{result(nog, 'tg128'):.1f}" if nog and result(nog, "tg128") else "")
    pp512, pp2048 = result(main, "pp512"), result(main, "pp2048")
    cells.append(f"{pp512:.0f}" if pp512 else "")
    if pp2048:
        flops = main["matmul_flops_per_token"] + main["attention_flops_per_token_per_key"] * 1024.5
        tf = pp2048 * flops / 1e12
        peak = main.get("device_bf16_tflops")
        cells += [f"{pp2048:.0f}", f"{tf:.0f}",
                  (f"{tf / peak:.0%}" + (mark(tf / peak >= PP_TARGET) if t == "bf16" else ""))
                  if peak else ""]
    else:
        cells += ["", "", ""]
    for nseq in (32, 64):
        name = f"tg128_b{nseq}"
        src = next((b for b in bs if result(b, name) is not None), None)
        if src and result(src, "tg128"):
            agg = result(src, name)
            ratio = agg / result(src, "tg128")
            cells.append(f"{agg:.0f} ({ratio:.1f}x{mark(ratio >= BATCH_TARGET[nseq])})")
        else:
            cells.append("")
    g = main.get("graphs")
    cells.append(f"{'on' if g['enabled'] else 'OFF'} ({g['captured']} captured, {g['replayed']} "
                 f"replayed, {g['diverged']} diverged{', ' + g['off_reason'] if g['off_reason'] else ''})"
                 if g else "")
    out.append("| " + " | ".join(cells) + " |")

print("\n".join(out))
