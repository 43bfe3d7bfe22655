#!/usr/bin/env bash
# Long fuzz runs: every target at once, each for SECONDS_PER_TARGET seconds, restarted after a native crash.
#
#   fuzz/run_long.sh [seconds per target, default 3600] [output directory, default $TMPDIR/ie-core-fuzz]
#
# Per target, OUT/<target>/ holds the growing corpus, the libFuzzer log and findings/ (findings.log: one line
# per distinct finding; the inputs; libFuzzer's crash-*/timeout-* files). The summary at the end gives each
# target's executions and distinct findings. PYTHON selects the interpreter (default: python3).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-3600}
OUT=${2:-${TMPDIR:-/tmp}/ie-core-fuzz}
PYTHON=${PYTHON:-python3}
TARGETS=${TARGETS:-"reader_v11:v11 reader_legacy:legacy cpu_infer:v11 cpu_vs_reference:v11"}

mkdir -p "$OUT"
"$PYTHON" fuzz/seeds.py "$OUT/seeds"
for entry in $TARGETS; do
    target=${entry%%:*}
    dir="$OUT/$target"
    mkdir -p "$dir/corpus" "$dir/findings"
    cp -n "$OUT/seeds/${entry##*:}"/* "$dir/corpus/"
    (
        deadline=$((SECONDS + SECONDS_PER_TARGET))
        while [ "$SECONDS" -lt "$deadline" ]; do
            IE_FUZZ_KEEP_GOING=1 IE_FUZZ_FINDINGS="$dir/findings" IE_FUZZ_SCRATCH="$dir/scratch" \
                "$PYTHON" "fuzz/fuzz_$target.py" "$dir/corpus" -dict=fuzz/ir.dict -timeout=30 -rss_limit_mb=4096 \
                -max_total_time=$((deadline - SECONDS)) -artifact_prefix="$dir/findings/" >>"$dir/log" 2>&1 || sleep 1
        done
    ) &
done
wait
for entry in $TARGETS; do
    target=${entry%%:*}
    dir="$OUT/$target"
    # executions: the last "#N" progress count of each libFuzzer process (each one starts with "INFO: Seed:")
    runs=$(awk '/^INFO: Seed:/ {total += last; last = 0} /^#[0-9]+/ {last = substr($1, 2)}
                END {print total + last}' "$dir/log")
    findings=$({ cut -f1 "$dir/findings/findings.log" 2>/dev/null || true; } | sort -u | wc -l)
    crashes=$(find "$dir/findings" -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' | wc -l)
    echo "$target: $runs executions in ${SECONDS_PER_TARGET} s, $findings distinct findings," \
        "$crashes crash/timeout/oom inputs"
done
