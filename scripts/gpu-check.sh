#!/usr/bin/env bash
# The GPU verification of the CUDA backend, as one prepared run on a bare NVIDIA machine (CUDA
# toolkit, CMake, Ninja, a C++ compiler, Python; no Debian packages, no network):
#   scripts/gpu-check.sh LOGDIR [STEP...]
# Steps (default: all, in this order):
#   build   configure + build hearth and the unit tests (dependencies from .deps/root when the
#           system lacks them: scripts/fetch-build-deps.sh, run beforehand where apt works)
#   unit    the Cuda* unit tests, with CUDA graphs (the default) and without
#   synth   Llama-3.1-8B-shaped random models: bf16, q4_0, q4_k_m (reused if present)
#   logits  CPU float32 vs GPU logits on the 8B bf16 and q4_0 models, 6 tokens (GEMV) and 12
#           (GEMM), every position
#   profile GPU time per op (HEARTH_CUDA_PROFILE=1, graphs off) of pp512, tg32 and 32 sequences
#   bench   hearth bench on each model: pp512/pp2048, tg128, 32 and 64 sequences decoding
#           together, and tg128 without graphs
# Every step runs under `timeout` and writes its whole log to LOGDIR; the console gets one line per
# step and, at the end, the summary table of scripts/gpu_summary.py (also in LOGDIR/summary.md).
# Environment: HEARTH_GPU_BUILD (build-gpu), HEARTH_GPU_MODELS (/dev/shm/hearth-models, or /tmp),
# HEARTH_GPU_REPS (3), HEARTH_GPU_TYPES (bf16 q4_0 q4_k_m), HEARTH_GPU_ARCH (90),
# HEARTH_GPU_SHAPE (llama-3.1-8b), HEARTH_GPU_DEVICE (cuda; cpu rehearses the script's plumbing on
# a machine without a GPU), HEARTH_GPU_EAGER (1: also run the unit tests with graphs off), HEARTH_GPU_NOGRAPHS_TYPES (bf16:
# the types also benched with graphs off).
set -uo pipefail
cd "$(dirname "$0")/.."

LOG=${1:?usage: scripts/gpu-check.sh LOGDIR [build unit synth logits bench]}
shift
STEPS=${*:-build unit synth logits profile bench}
mkdir -p "$LOG"
LOG=$(cd "$LOG" && pwd)
BUILD=${HEARTH_GPU_BUILD:-build-gpu}
REPS=${HEARTH_GPU_REPS:-3}
TYPES=${HEARTH_GPU_TYPES:-bf16 q4_0 q4_k_m}
ARCH=${HEARTH_GPU_ARCH:-90}
if [[ -z "${HEARTH_GPU_MODELS:-}" ]]; then
  HEARTH_GPU_MODELS=/tmp/hearth-models
  # tmpfs when it has room for the three models (about 27 GB): no disk writes to wait for.
  if [[ -d /dev/shm ]] && (($(df -k --output=avail /dev/shm | tail -1) > 40000000)); then
    HEARTH_GPU_MODELS=/dev/shm/hearth-models
  fi
fi
MODELS=$HEARTH_GPU_MODELS
mkdir -p "$MODELS"
JOBS=$(nproc)
BIN=$BUILD/hearth
SHAPE=${HEARTH_GPU_SHAPE:-llama-3.1-8b}
DEV=${HEARTH_GPU_DEVICE:-cuda}
# bench sizes (a rehearsal on a CPU wants smaller ones)
PP=${HEARTH_GPU_PP:-512,2048} UB=${HEARTH_GPU_UBATCH:-2048} TG=${HEARTH_GPU_TG:-128}
B1=${HEARTH_GPU_B1:-32} B2=${HEARTH_GPU_B2:-64}
t0=$(date +%s)
status=0
RESULTS=$LOG/results.jsonl  # one JSON object per measured thing, read by gpu_summary.py
: >"$RESULTS"

note() { echo "== [$(($(date +%s) - t0))s] $*"; }
want() { [[ " $STEPS " == *" $1 "* ]]; }
# run NAME SECONDS CMD...: the command's output to LOG/NAME.log; one console line with the result.
run() {
  local name=$1 secs=$2
  shift 2
  local s=$(date +%s)
  timeout --kill-after=10 "$secs" "$@" >"$LOG/$name.log" 2>&1
  local rc=$?
  local how="ok"
  ((rc == 124 || rc == 137)) && how="TIMED OUT after ${secs}s"
  ((rc != 0 && rc != 124 && rc != 137)) && how="FAILED (exit $rc)"
  echo "   $name: $how in $(($(date +%s) - s))s (log: $name.log)"
  if ((rc != 0)); then
    status=1
    tail -n 5 "$LOG/$name.log" | sed 's/^/     | /'
  fi
  return $rc
}
record() { echo "$1" >>"$RESULTS"; }

note "preflight"
{
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader
  nvcc --version | tail -2
  "${CXX:-c++}" --version | head -1
  cmake --version | head -1
  ninja --version
  python3 --version
  nproc
  free -g | head -2
  df -h "$MODELS" | tail -1
} >"$LOG/preflight.log" 2>&1
cat "$LOG/preflight.log" | sed 's/^/   /'
missing=()
tools=(nvcc cmake ninja python3 timeout)
[[ "$DEV" == cuda ]] && tools+=(nvidia-smi)
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
DEPS_ARGS=()
if [[ -d .deps/root ]]; then
  DEPS_ARGS=(-DHEARTH_DEPS="$PWD/.deps/root")
fi
for h in nlohmann/json.hpp CLI/CLI.hpp pcre2.h httplib.h gtest/gtest.h gmock/gmock.h; do
  [[ -e .deps/root/usr/include/$h || -e /usr/include/$h ]] || missing+=("header $h")
done
if ((${#missing[@]})); then
  echo "preflight: missing ${missing[*]}; run scripts/fetch-build-deps.sh where apt works and carry .deps"
  exit 2
fi
[[ "$DEV" != cuda ]] || nvidia-smi -L >/dev/null 2>&1 || {
  echo "preflight: nvidia-smi sees no GPU"
  exit 2
}

if want build; then
  note "build ($BUILD, sm_$ARCH, -j$JOBS)"
  run configure 120 cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DHEARTH_CUDA=ON \
    -DHEARTH_BUILD_BENCH=OFF -DHEARTH_WERROR=OFF -DCMAKE_CUDA_ARCHITECTURES="$ARCH" \
    -DCMAKE_CUDA_FLAGS=-allow-unsupported-compiler \
    "${DEPS_ARGS[@]}" || exit 1
  run build 300 cmake --build "$BUILD" -j"$JOBS" --target hearth hearth_cuda_tests || exit 1
  grep -c "warning" "$LOG/build.log" | sed 's/^/   compiler warnings: /'
  run smoke 30 "$BIN" --help || exit 1
fi

gtest_summary() {  # name log: one JSON line with the counts and the failed tests
  python3 - "$1" "$2" >>"$RESULTS" <<'EOF'
import json, re, sys
name, path = sys.argv[1], sys.argv[2]
text = open(path, errors="replace").read()
passed = re.search(r"\[  PASSED  \] (\d+) test", text)
skipped = re.search(r"\[  SKIPPED \] (\d+) test", text)
failed = sorted(set(re.findall(r"\[  FAILED  \] ([\w/.]+)", text)))
print(json.dumps({"kind": "unit", "name": name, "passed": int(passed.group(1)) if passed else 0,
                  "skipped": int(skipped.group(1)) if skipped else 0, "failed": failed,
                  "finished": "tests ran." in text or "test suites ran." in text}))
EOF
}

if want unit; then
  note "unit tests"
  run unit_graphs 150 "$BUILD"/tests/hearth_cuda_tests --gtest_filter='Cuda*'
  gtest_summary "Cuda* (graphs on)" "$LOG/unit_graphs.log"
  if [[ "${HEARTH_GPU_EAGER:-1}" == 1 ]]; then
    HEARTH_CUDA_GRAPHS=0 run unit_eager 150 "$BUILD"/tests/hearth_cuda_tests \
      --gtest_filter='Cuda*' --gtest_brief=1
    gtest_summary "Cuda* (graphs off)" "$LOG/unit_eager.log"
  fi
fi

model() { echo "$MODELS/$SHAPE-$1.gguf"; }

if want synth; then
  note "synthetic $SHAPE models in $MODELS"
  for type in $TYPES; do
    m=$(model "$type")
    [[ -s "$m" ]] || run "synth_$type" 150 "$BIN" synth --shape "$SHAPE" --type "$type" -q "$m"
  done
fi

if want logits; then
  note "logits: CPU float32 vs GPU, every position"
  six="128000 791 3938 315 9822 374"
  twelve="$six 264 1633 14198 11 1511 1701"
  for type in bf16 q4_0; do
    m=$(model "$type")
    [[ -s "$m" ]] || continue
    for toks in "$six" "$twelve"; do
      n=$(wc -w <<<"$toks")
      ids=${toks// /,}
      cpu_json=$LOG/logits_${type}_${n}_cpu.json gpu_json=$LOG/logits_${type}_${n}_gpu.json
      run "logits_${type}_${n}_cpu" 120 bash -c '"$0" logits "$1" --tokens "$2" --all --device cpu >"$3"' \
        "$BIN" "$m" "$ids" "$cpu_json" &&
        run "logits_${type}_${n}_gpu" 90 bash -c '"$0" logits "$1" --tokens "$2" --all --device "$4" >"$3"' \
          "$BIN" "$m" "$ids" "$gpu_json" "$DEV" &&
        python3 scripts/compare_logits.py "$type" "$n" "$cpu_json" "$gpu_json" | tee -a "$RESULTS" |
        sed 's/^/   /'
      rm -f "$cpu_json" "$gpu_json"
    done
  done
fi

if want profile; then
  note "profile: GPU time per op, eager (the top of each table; all of it in profile_*.log)"
  for type in $TYPES; do
    m=$(model "$type")
    [[ -s "$m" ]] || continue
    HEARTH_CUDA_GRAPHS=0 HEARTH_CUDA_PROFILE=1 run "profile_$type" 120 "$BIN" bench "$m" \
      --device "$DEV" -p 512 -n 32 -b 32 -r 1 -q
    grep -A 22 "GPU op profile" "$LOG/profile_$type.log" | sed "s/^/   $type | /"
  done
fi

if want bench; then
  note "bench"
  for type in $TYPES; do
    m=$(model "$type")
    [[ -s "$m" ]] || continue
    b="$BIN bench $m --device $DEV -r $REPS --json"
    run "bench_${type}_pp_tg_b$B1" 120 $b -p "$PP" -u "$UB" -n "$TG" -b "$B1" &&
      tail -n 1 "$LOG/bench_${type}_pp_tg_b$B1.log" >>"$RESULTS"
    run "bench_${type}_b$B2" 90 $b -p 0 -n "$TG" -b "$B2" &&
      tail -n 1 "$LOG/bench_${type}_b$B2.log" >>"$RESULTS"
    if [[ " ${HEARTH_GPU_NOGRAPHS_TYPES:-bf16} " == *" $type "* ]]; then
      HEARTH_CUDA_GRAPHS=0 run "bench_${type}_nographs" 90 $b -p 0 -n "$TG" &&
        tail -n 1 "$LOG/bench_${type}_nographs.log" | sed 's/^{/{"graphs_off_run":true,/' >>"$RESULTS"
    fi
  done
fi

note "summary"
python3 scripts/gpu_summary.py "$RESULTS" | tee "$LOG/summary.md"
note "done (exit $status)"
exit $status
