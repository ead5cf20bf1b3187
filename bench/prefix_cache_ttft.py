#!/usr/bin/env python3
"""Time to first token with and without a cached prefix, through `hearth serve`.

    bench/prefix_cache_ttft.py --hearth build/hearth [--rounds 5] [--prefix 1500] [--suffix 24] \\
        [--threads 2] MODEL.gguf

Starts the server (prefix cache on), then per round sends two /v1/completions requests that
share a `--prefix`-token prefix and differ in a `--suffix`-token tail: the first (a fresh prefix
each round, so a miss) and the second (a hit). Both ask for max_tokens=1, so a request's latency
is its time to first token (the prompt's prefill, one sampled token, the HTTP round trip). The
rounds interleave cold and warm requests; the table gives the medians, their ratio, and each
warm request's usage.prompt_tokens_details.cached_tokens against what it must be
(the prefix rounded down to whole 16-token blocks). Not part of `make test`.
"""
import argparse
import json
import random
import statistics
import subprocess
import sys
import time
import urllib.request

BLOCK = 16


def start_server(args):
    cmd = [args.hearth, "serve", args.model, "--port", "0", "--threads", str(args.threads),
           "--ctx", str(args.prefix + args.suffix + 64), "--max-seqs", "1"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        if "listening on http://" in line:
            port = int(line.split("http://", 1)[1].split(" ", 1)[0].rsplit(":", 1)[1])
            return proc, f"http://127.0.0.1:{port}"
    raise SystemExit("hearth serve did not start")


def complete(base, model, tokens):
    body = json.dumps({"model": model, "prompt": tokens, "max_tokens": 1, "temperature": 0})
    req = urllib.request.Request(base + "/v1/completions", body.encode(),
                                 {"Content-Type": "application/json"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=3600) as r:
        reply = json.load(r)
    return time.perf_counter() - t0, reply["usage"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hearth", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--prefix", type=int, default=1500)
    ap.add_argument("--suffix", type=int, default=24)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("model")
    args = ap.parse_args()
    proc, base = start_server(args)
    model = json.load(urllib.request.urlopen(base + "/v1/models"))["data"][0]["id"]
    rng = random.Random(7)
    word = lambda: rng.randrange(1000, 120000)  # ordinary (non-special) token ids
    cold, warm, cached = [], [], []
    try:
        complete(base, model, [word() for _ in range(32)])  # first-request set-up off the clock
        for r in range(args.rounds):
            prefix = [word() for _ in range(args.prefix)]  # new each round: the first one misses
            t_cold, _ = complete(base, model, prefix + [word() for _ in range(args.suffix)])
            t_warm, usage = complete(base, model, prefix + [word() for _ in range(args.suffix)])
            cold.append(t_cold)
            warm.append(t_warm)
            cached.append(usage["prompt_tokens_details"]["cached_tokens"])
            if not args.json:
                print(f"round {r + 1}: cold {t_cold:.3f} s, warm {t_warm:.3f} s, "
                      f"cached_tokens {cached[-1]}", file=sys.stderr)
    finally:
        proc.terminate()
        proc.wait()
    want = args.prefix // BLOCK * BLOCK
    out = {"prefix_tokens": args.prefix, "suffix_tokens": args.suffix, "rounds": args.rounds,
           "cold_ttft_s_median": statistics.median(cold),
           "warm_ttft_s_median": statistics.median(warm),
           "speedup": statistics.median(cold) / statistics.median(warm),
           "cached_tokens": cached, "cached_tokens_expected": want,
           "cold_s": cold, "warm_s": warm}
    if args.json:
        print(json.dumps(out))
    else:
        print(f"cold (prefix computed): median {out['cold_ttft_s_median']:.3f} s")
        print(f"warm (prefix cached):   median {out['warm_ttft_s_median']:.3f} s")
        print(f"speedup {out['speedup']:.1f}x; cached_tokens {cached} (expected {want} each)")
    return 0 if all(c == want for c in cached) else 1


if __name__ == "__main__":
    sys.exit(main())
