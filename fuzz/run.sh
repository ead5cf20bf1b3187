#!/usr/bin/env bash
# Runs every libFuzzer target for FUZZ_SECONDS each (default 60) and prints, per target, the
# executions, the coverage (edges) and the corpus size reached, and whether it found anything.
#   fuzz/run.sh BUILD_DIR [TARGET...]
# The committed seeds are copied into BUILD_DIR/fuzz-corpus/<target>, where new inputs
# accumulate between runs; crashing inputs land in BUILD_DIR/fuzz-artifacts/<target>/. To keep
# a crash as a regression case, fix it and copy the input into fuzz/corpus/<target>/.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: fuzz/run.sh BUILD_DIR [TARGET...]}
shift
seconds=${FUZZ_SECONDS:-60}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(gguf safetensors tokenizer_load tokenizer_roundtrip chat openai_request json_constraint json_schema)
fi
status=0
printf '%-22s %12s %8s %8s %8s  %s\n' target executions cov ft corpus result
for t in "${targets[@]}"; do
  bin="$build/fuzz/fuzz_$t"
  [ -x "$bin" ] || { echo "fuzz: $bin is missing (make fuzz builds it)"; exit 2; }
  corpus="$build/fuzz-corpus/$t"
  artifacts="$build/fuzz-artifacts/$t/"
  mkdir -p "$corpus" "$artifacts"
  cp -n "$here/corpus/$t/"* "$corpus/" 2>/dev/null
  log="$build/fuzz-$t.log"
  # -rss_limit_mb: a parser that allocates without bound is a finding too.
  "$bin" "$corpus" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 \
    -timeout=60 -max_len=65536 -artifact_prefix="$artifacts" >"$log" 2>&1
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
  if [ $rc -eq 0 ]; then result=ok; else result="FOUND (exit $rc; see $log, $artifacts)"; status=1; fi
  printf '%-22s %12s %8s %8s %8s  %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result"
done
exit $status
