#!/usr/bin/env bash
# The log benchmark: durable appends of 100-byte entries, pipelined, on
# redis-faster's FasterLog (LOG.APPEND bench <entry>) and on Debian's
# redis-server as the nearest thing Redis has, a stream in an append-only
# file (XADD s * f <entry>, --appendonly yes).  Both are driven by
# redis-benchmark with the same load (-P pipeline, -c clients, -n
# requests), once per commit policy: ours with --log-commit-policy
# everysec, then always; redis-server with --appendfsync everysec, then
# always.  One line per policy, the medians over the rounds:
#
#   log-bench policy=everysec ours_entries_per_sec=... redis_xadd_per_sec=... ratio=...
#   log-bench policy=always ours_entries_per_sec=... redis_xadd_per_sec=... ratio=...
#
#   bench/log-bench.sh [--rounds K] [--requests N] [--pipeline P]
#       [--clients C] [--warmup W] [--keep]
#
# Defaults: --rounds 3, --requests 300000, --pipeline 64, --clients 50,
# --warmup N/4 (requests of one unmeasured run on each fresh server before
# the rounds: the first run otherwise pays for page faults; 0: none).
# ratio is ours / redis (3 decimals); one LOG.APPEND carries one entry, so
# entries per second are redis-benchmark's requests per second.
#
# For each policy both servers are started afresh on free ports in a
# temporary directory ($TMPDIR or /tmp; a warning when it is tmpfs, where
# fsync costs nothing): ours with --io-threads 1 --save ""; redis-server
# with --save "" and the AOF.  They are pinned to core 0 and
# redis-benchmark to core 1 when the machine has both (taskset), so it is
# one core against one core.  The servers take turns run by run (the order
# flips every round).  After each run the script checks that the work was
# done (LOG.INFO's entries, XLEN: at least N, since redis-benchmark
# rounds up to whole pipelines; under always also committed = tail), then
# empties the log and the stream (LOG.DROP, DEL) so every run starts from
# nothing.  Each run's numbers go to stderr.  --keep keeps the temporary
# directory (logs, data, redis-benchmark outputs) and prints its path.
# RF_BINARY names another redis-faster binary (default build/redis-faster).
# Exits 2 when redis-server or redis-benchmark is missing, 1 on a failure.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."

rounds=3 requests=300000 pipeline=64 clients=50 keep="" warmup=""
policies="everysec always"
entry_size=100

usage() {
  sed -n '14,15p' "$0" | sed 's/^#   //' >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case "$1" in
    --keep)
      keep=1
      shift
      continue
      ;;
    -h | --help) usage ;;
  esac
  [ $# -ge 2 ] || usage
  case "$1" in
    --rounds) rounds=$2 ;;
    -n | --requests) requests=$2 ;;
    -P | --pipeline) pipeline=$2 ;;
    -c | --clients) clients=$2 ;;
    --warmup) warmup=$2 ;;
    *) usage ;;
  esac
  shift 2
done

die() {
  echo "log-bench: $*" >&2
  exit 1
}

[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "--rounds wants a positive count"
[[ $requests =~ ^[1-9][0-9]*$ ]] || die "--requests wants a positive count"
[[ $pipeline =~ ^[1-9][0-9]*$ ]] || die "--pipeline wants a positive count"
[[ $clients =~ ^[1-9][0-9]*$ ]] || die "--clients wants a positive count"
[ -n "$warmup" ] || warmup=$((requests / 4))
[[ $warmup =~ ^[0-9]+$ ]] || die "--warmup wants a count"

for tool in redis-server redis-benchmark redis-cli; do
  if ! command -v "$tool" >/dev/null; then
    echo "log-bench: $tool is not installed (apt-get install redis-server redis-tools)" >&2
    exit 2
  fi
done
command -v python3 >/dev/null || die "python3 is not installed (it finds free ports)"
ours_bin=${RF_BINARY:-build/redis-faster}
if [ ! -x "$ours_bin" ] && [ "$ours_bin" = build/redis-faster ]; then
  make build/redis-faster >/dev/null || die "cannot build build/redis-faster"
fi
[ -x "$ours_bin" ] || die "no server binary $ours_bin"

# Pinning needs two cores; on a smaller machine everything runs unpinned.
pin_server=() pin_client=()
if command -v taskset >/dev/null && taskset -c 0 true 2>/dev/null && taskset -c 1 true 2>/dev/null; then
  pin_server=(taskset -c 0)
  pin_client=(taskset -c 1)
else
  echo "log-bench: fewer than 2 cores (or no taskset): running unpinned" >&2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/log-bench.XXXXXX")
if [ "$(stat -f -c %T "$tmp")" = tmpfs ]; then
  echo "log-bench: warning: $tmp is on tmpfs: fsync is free there (set TMPDIR to a real disk)" >&2
fi
ours_pid="" redis_pid=""

# Stops a server by its pid: SIGTERM, then SIGKILL after 10 s.
stop_pid() {
  local pid=$1 _
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1 # polling for the exit, bounded
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop_pid "$ours_pid"
  stop_pid "$redis_pid"
  ours_pid="" redis_pid=""
  if [ -n "$keep" ]; then
    echo "log-bench: kept $tmp" >&2
  else
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits (bounded: 10 s) until the server on port $1 with pid $2 answers PING.
wait_ping() {
  local port=$1 pid=$2 log=$3 _
  for _ in $(seq 200); do
    kill -0 "$pid" 2>/dev/null || die "server on port $port exited; its log:
$(cat "$log")"
    if [ "$(redis-cli -h 127.0.0.1 -p "$port" PING 2>/dev/null)" = PONG ]; then
      return 0
    fi
    sleep 0.05 # polling the port, bounded by the loop
  done
  die "server on port $port did not answer PING in 10 s; its log:
$(cat "$log")"
}

cli() {
  local port=$1
  shift
  redis-cli -h 127.0.0.1 -p "$port" "$@"
}

# The entry: $entry_size bytes of letters and digits.
entry=$(head -c "$entry_size" < <(yes 'log-bench-entry-0123456789abcdefghijklmnopqrstuvwxyz' | tr -d '\n'))
[ "${#entry}" = "$entry_size" ] || die "could not make a $entry_size-byte entry"

# One redis-benchmark run of the given command on port $1; prints its
# requests per second.  $2 names the run (for the output file); $n
# (default --requests) is the number of requests.
run_bench() {
  local port=$1 tag=$2 out rps
  shift 2
  out=$("${pin_client[@]}" redis-benchmark -h 127.0.0.1 -p "$port" -c "$clients" \
    -n "${n:-$requests}" -P "$pipeline" --csv "$@" 2>&1) ||
    die "redis-benchmark -p $port $1 failed:
$out"
  printf '%s\n' "$out" >"$tmp/$tag.csv"
  if grep -q 'Error from server' <<<"$out"; then
    die "redis-benchmark -p $port $1 got errors:
$(grep -m 3 'Error from server' <<<"$out")"
  fi
  rps=$(awk -F'","' 'NR > 1 && NF >= 2 { r = $2 } END { print r }' <<<"$out")
  [[ $rps =~ ^[0-9]+([.][0-9]+)?$ ]] || die "no requests/sec from redis-benchmark -p $port $1:
$out"
  echo "$rps"
}

# LOG.INFO bench as "field value" lines.
log_info() {
  cli "$1" LOG.INFO bench | paste - -
}
log_field() {
  awk -v f="$2" '$1 == f { print $2 }' <<<"$1"
}

# Runs the load on ours (port $1, policy $2, tag $3), checks and empties
# the log; prints entries per second.  $n: requests (default --requests).
run_ours() {
  local port=$1 policy=$2 tag=$3 rps info entries committed tail want=${n:-$requests}
  rps=$(run_bench "$port" "$tag" LOG.APPEND bench "$entry")
  info=$(log_info "$port")
  entries=$(log_field "$info" entries)
  committed=$(log_field "$info" committed)
  tail=$(log_field "$info" tail)
  if ! [[ $entries =~ ^[0-9]+$ ]] || [ "$entries" -lt "$want" ]; then
    die "after $want LOG.APPENDs the log holds ${entries:-?} entries; LOG.INFO:
$info"
  fi
  if [ "$policy" = always ] && [ "$committed" != "$tail" ]; then
    die "policy always: committed $committed != tail $tail after the run"
  fi
  [ "$(cli "$port" LOG.DROP bench)" = 1 ] || die "LOG.DROP bench failed"
  echo "$rps"
}

# Runs the load on redis-server (port $1, tag $2), checks and empties the
# stream; prints XADDs per second.
run_redis() {
  local port=$1 tag=$2 rps len want=${n:-$requests}
  rps=$(run_bench "$port" "$tag" XADD s '*' f "$entry")
  len=$(cli "$port" XLEN s)
  if ! [[ $len =~ ^[0-9]+$ ]] || [ "$len" -lt "$want" ]; then
    die "after $want XADDs the stream holds ${len:-?} entries"
  fi
  [ "$(cli "$port" DEL s)" = 1 ] || die "DEL s failed"
  echo "$rps"
}

median() {
  printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {
    if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

echo "log-bench: $rounds rounds, $requests requests, pipeline $pipeline, $clients clients," \
  "$entry_size-byte entries, in $tmp" >&2

for policy in $policies; do
  mkdir -p "$tmp/ours-$policy" "$tmp/redis-$policy"
  ours_port=$(free_port)
  "${pin_server[@]}" "$ours_bin" --port "$ours_port" --io-threads 1 --save '' \
    --dir "$tmp/ours-$policy/data" --log-commit-policy "$policy" \
    >"$tmp/ours-$policy.log" 2>&1 &
  ours_pid=$!
  wait_ping "$ours_port" "$ours_pid" "$tmp/ours-$policy.log"

  redis_port=$(free_port)
  "${pin_server[@]}" redis-server --port "$redis_port" --bind 127.0.0.1 --save '' \
    --appendonly yes --appendfsync "$policy" --dir "$tmp/redis-$policy" \
    >"$tmp/redis-$policy.log" 2>&1 &
  redis_pid=$!
  wait_ping "$redis_port" "$redis_pid" "$tmp/redis-$policy.log"
  echo "log-bench: policy $policy: ours pid $ours_pid port $ours_port," \
    "redis-server pid $redis_pid port $redis_port" >&2

  if [ "$warmup" -gt 0 ]; then
    rps=$(n=$warmup run_ours "$ours_port" "$policy" "ours-$policy-warmup")
    echo "  policy=$policy warmup server=ours per_sec=$rps" >&2
    rps=$(n=$warmup run_redis "$redis_port" "redis-$policy-warmup")
    echo "  policy=$policy warmup server=redis per_sec=$rps" >&2
  fi

  ours_runs="" redis_runs=""
  for round in $(seq "$rounds"); do
    # flip which server goes first every round
    if [ $((round % 2)) = 1 ]; then order="ours redis"; else order="redis ours"; fi
    for who in $order; do
      if [ "$who" = ours ]; then
        rps=$(run_ours "$ours_port" "$policy" "ours-$policy-$round")
        ours_runs+=" $rps"
      else
        rps=$(run_redis "$redis_port" "redis-$policy-$round")
        redis_runs+=" $rps"
      fi
      echo "  policy=$policy round=$round server=$who per_sec=$rps" >&2
    done
  done

  stop_pid "$ours_pid"
  ours_pid=""
  stop_pid "$redis_pid"
  redis_pid=""

  # shellcheck disable=SC2086 # the lists are space-separated numbers
  o=$(median $ours_runs)
  # shellcheck disable=SC2086
  r=$(median $redis_runs)
  ratio=$(awk -v o="$o" -v r="$r" 'BEGIN { if (r > 0) printf "%.3f", o / r; else print "nan" }')
  echo "log-bench policy=$policy ours_entries_per_sec=$o redis_xadd_per_sec=$r ratio=$ratio"
done
