#!/usr/bin/env bash
# GPU verification of the CUDA backend (issue #6), run from the repository root on a machine with
# an NVIDIA GPU: build with CUDA, run the Cuda* unit tests, then bench Llama-3.1-8B-shaped random
# models (bf16 and Q4_0) on the GPU, with and without CUDA graphs for the decode step. Prints the
# GPU's name first and each bench as one JSON line.
# Budget: under 8 minutes on one H100 with 16 cores.
#   HEARTH_GPU_BUILD   build directory (default build-gpu)
#   HEARTH_GPU_MODELS  where the synthetic models go (default /tmp); existing ones are reused
#   HEARTH_GPU_REPS    bench repetitions (default 3)
set -uo pipefail

BUILD=${HEARTH_GPU_BUILD:-build-gpu}
MODELS=${HEARTH_GPU_MODELS:-/tmp}
REPS=${HEARTH_GPU_REPS:-3}
JOBS=$(nproc)
status=0
t0=$(date +%s)
stamp() { echo "== [$(($(date +%s) - t0))s] $*"; }

stamp "GPU"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || {
  echo "nvidia-smi failed: no NVIDIA GPU here"
  exit 1
}

stamp "configure + build ($BUILD, -j$JOBS)"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S . -B "$BUILD" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DHEARTH_CUDA=ON \
  -DHEARTH_BUILD_BENCH=OFF >/dev/null || exit 1
cmake --build "$BUILD" -j"$JOBS" --target hearth hearth_unit_tests || exit 1

stamp "unit tests: Cuda*"
"$BUILD"/tests/hearth_unit_tests --gtest_filter='Cuda*' || status=1
stamp "unit tests: Cuda* with every decode step as a CUDA graph"
HEARTH_CUDA_GRAPHS=1 "$BUILD"/tests/hearth_unit_tests --gtest_filter='Cuda*' --gtest_brief=1 ||
  status=1

for type in bf16 q4_0; do
  model="$MODELS/hearth-llama-3.1-8b-$type.gguf"
  if [[ ! -s "$model" ]]; then
    stamp "synth $type -> $model"
    "$BUILD"/hearth synth --shape llama-3.1-8b --type "$type" -q "$model" || { status=1; continue; }
  fi
  stamp "bench $type: pp2048, tg128, 32 sequences x 128 tokens"
  "$BUILD"/hearth bench "$model" --device cuda -p 2048 -n 128 -b 32 -r "$REPS" --json || status=1
  stamp "bench $type: tg128 with the decode step as a CUDA graph (HEARTH_CUDA_GRAPHS=1)"
  HEARTH_CUDA_GRAPHS=1 "$BUILD"/hearth bench "$model" --device cuda -p 0 -n 128 -r "$REPS" --json ||
    status=1
done

stamp "done (exit $status)"
exit $status
