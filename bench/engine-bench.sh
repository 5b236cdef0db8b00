#!/usr/bin/env bash
# Runs the engine benchmark matrix recorded in docs/PERFORMANCE.md and
# prints, for each configuration, every run's line and the median.
#
#   bench/engine-bench.sh [--keys N] [--seconds S] [--runs R] [--batch B] [--threads "1 2"]
#
# Defaults: 10M keys, 10 s per run, 3 runs, batch 1 (no prefetching),
# threads 1 and 2, mixes 100:0:0 50:50:0 0:0:100, dists uniform and zipf.
set -euo pipefail
cd "$(dirname "$0")/.."

keys=10000000 seconds=10 runs=3 batch=1 threads="1 2"
while [ $# -gt 0 ]; do
  case "$1" in
    --keys) keys=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    *) echo "usage: $0 [--keys N] [--seconds S] [--runs R] [--batch B] [--threads \"1 2\"]" >&2; exit 2 ;;
  esac
done

bin=build/engine-bench
[ -x "$bin" ] || make "$bin" >/dev/null

printf '%-8s %-8s %-7s %-6s %14s %14s\n' mix dist threads batch median_ops_s bytes_per_key
for t in $threads; do
  for dist in uniform zipf; do
    for mix in 100:0:0 50:50:0 0:0:100; do
      vals=() bpk=""
      for _ in $(seq "$runs"); do
        line=$("$bin" --keys "$keys" --seconds "$seconds" --threads "$t" \
                 --dist "$dist" --mix "$mix" --batch "$batch" 2>/dev/null)
        echo "  $line" >&2
        vals+=("$(sed -n 's/.*ops_per_sec=\([0-9]*\).*/\1/p' <<<"$line")")
        bpk=$(sed -n 's/.*bytes_per_key=\([0-9.]*\).*/\1/p' <<<"$line")
      done
      median=$(printf '%s\n' "${vals[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
      printf '%-8s %-8s %-7s %-6s %14s %14s\n' "$mix" "$dist" "$t" "$batch" "$median" "$bpk"
    done
  done
done
