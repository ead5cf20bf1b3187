#!/usr/bin/env python3
"""hearth beside its peers on the same machine, the same files and the same thread count.

    bench/side_by_side.py [--rounds 3] [--threads 2] [-p 512] [-n 32] \\
        --peer llama.cpp=/path/to/llama-bench \\
        --peer 'ik_llama.cpp=/path/to/llama-bench:-rtr 1' \\
        MODEL.gguf [MODEL.gguf ...]

Each round runs, one after the other, `hearth bench` and every peer's `llama-bench` on each model.
Every engine reads a fresh copy of the file, written just before its run (weights that sat in the
page cache read slower on some machines, and each engine should meet its file alike). The table
gives the median of each engine's figures and the median of the per-round ratios hearth/peer;
hearth's decode speed is also put against the read bandwidth it measured in the same run.
Not part of `make test`; the peers are built by whoever runs this, outside the repository.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def fresh_copy(model, scratch):
    dst = os.path.join(scratch, "fresh-" + os.path.basename(model))
    if os.path.exists(dst):
        os.remove(dst)
    shutil.copyfile(model, dst)
    # Write the copy back before the engine starts: otherwise the kernel's writeback of gigabytes
    # of dirty pages runs during the engine's timed tests, taking memory bandwidth from whichever
    # engine loads fastest (hearth decoded 0.76-0.85x as fast as ik_llama.cpp that way, and level
    # or ahead of it in the same session without fresh copies).
    os.sync()
    return dst


def run_hearth(hearth, model, args):
    cmd = [hearth, "bench", model, "-p", str(args.p), "-n", str(args.n), "-r", "1", "-t",
           str(args.threads), "--json"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    j = json.loads(out)
    figs = {r["test"]: r["tokens_per_s"] for r in j["results"]}
    return figs, j["tg_bandwidth_fraction"], j["read_bandwidth_gbs"]


def run_peer(binary, extra, model, args):
    cmd = [binary, "-m", model, "-p", str(args.p), "-n", str(args.n), "-r", "1", "-t",
           str(args.threads), "-o", "json"] + extra
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    figs = {}
    for e in json.loads(out):
        name = f"pp{e['n_prompt']}" if e.get("n_gen", 0) == 0 else f"tg{e['n_gen']}"
        figs[name] = e["avg_ts"]
    return figs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--peer", action="append", default=[],
                    help="NAME=PATH[:extra llama-bench arguments]")
    ap.add_argument("--hearth", default=os.path.join(HERE, "..", "build", "hearth"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("-p", type=int, default=512)
    ap.add_argument("-n", type=int, default=32)
    ap.add_argument("--scratch", default=None, help="where the fresh copies go (default: beside "
                    "the first model)")
    ap.add_argument("--json", help="also write every figure to this file")
    args = ap.parse_args()
    peers = []
    for spec in args.peer:
        name, _, rest = spec.partition("=")
        path, _, extra = rest.partition(":")
        if not name or not os.access(path, os.X_OK):
            sys.exit(f"side_by_side: --peer {spec}: expected NAME=PATH to an executable llama-bench")
        peers.append((name, path, extra.split()))
    scratch = args.scratch or tempfile.mkdtemp(dir=os.path.dirname(os.path.abspath(args.models[0])))
    tests = [f"pp{args.p}", f"tg{args.n}"]
    engines = ["hearth"] + [p[0] for p in peers]
    data = {m: {e: {t: [] for t in tests} for e in engines} for m in args.models}
    frac = {m: [] for m in args.models}
    bw = {m: [] for m in args.models}
    try:
        for r in range(args.rounds):
            for m in args.models:
                f = fresh_copy(m, scratch)
                figs, fr, b = run_hearth(args.hearth, f, args)
                frac[m].append(fr)
                bw[m].append(b)
                for t in tests:
                    data[m]["hearth"][t].append(figs.get(t))
                for name, path, extra in peers:
                    f = fresh_copy(m, scratch)
                    pf = run_peer(path, extra, f, args)
                    for t in tests:
                        data[m][name][t].append(pf.get(t))
                print(f"round {r + 1}/{args.rounds}: {os.path.basename(m)} done", file=sys.stderr)
    finally:
        if args.scratch is None:
            shutil.rmtree(scratch, ignore_errors=True)

    for m in args.models:
        print(f"\n{os.path.basename(m)}, {args.threads} threads, {args.rounds} interleaved rounds, "
              f"medians (tok/s); hearth's read-bandwidth probe "
              f"{statistics.median(bw[m]):.1f} GB/s, tg{args.n} at "
              f"{statistics.median(frac[m]):.0%} of its limit")
        head = ["test", "hearth"] + [x for p in peers for x in (p[0], f"hearth / {p[0]}")]
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for t in tests:
            h = data[m]["hearth"][t]
            row = [t, f"{statistics.median(h):.2f}"]
            for name, _, _ in peers:
                pv = data[m][name][t]
                ratios = [a / b for a, b in zip(h, pv) if a and b]
                row += [f"{statistics.median(pv):.2f}",
                        f"{statistics.median(ratios):.2f}x" if ratios else ""]
            print("| " + " | ".join(row) + " |")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"rounds": args.rounds, "threads": args.threads, "figures": data,
                       "tg_bandwidth_fraction": frac, "read_bandwidth_gbs": bw}, out, indent=1)


if __name__ == "__main__":
    main()
