#!/usr/bin/env bash
# Compares redis-faster with Debian's redis-server under redis-benchmark:
# SET, GET and INCR, 50 clients, pipeline 1 and 16, keys drawn from a
# space of 1M (-r).  Both servers run on one core (core 0, taskset) and
# redis-benchmark on another (core 1); our server gets --io-threads 1, so
# the comparison is one core against one core.  The servers take turns
# test by test (the order flips every round), and each line reports the
# median over the rounds:
#
#   server-bench test=GET pipeline=16 ours_rps=... redis_rps=... ratio=...
#
# ratio is ours_rps / redis_rps.  Each run's numbers go to stderr.
#
#   bench/server-bench.sh [--rounds R] [-n REQUESTS] [--clients C]
#       [--keyspace K] [--tests "SET GET INCR"] [--pipelines "1 16"]
#       [--server-cpu N] [--client-cpu N] [--ours-args "--opt val ..."]
#       [--redis-args "--opt val ..."]
#
# --ours-args and --redis-args are added to each server's command line
# (for example "--appendonly yes --appendfsync always" to both, to compare
# the append-only files).
#
# Defaults: 3 rounds, 300000 requests a run.  Both servers are started on
# free ports in a temporary directory and stopped by pid on exit.  RF_BINARY
# names another redis-faster binary (default build/redis-faster).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=3 requests=300000 clients=50 keyspace=1000000
tests="SET GET INCR" pipelines="1 16"
server_cpu=0 client_cpu=1 ours_args="" redis_args="--appendonly no"

usage() {
  sed -n '14,17p' "$0" | sed 's/^#   //' >&2
  exit 2
}
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || usage
  case "$1" in
    --rounds) rounds=$2 ;;
    -n | --requests) requests=$2 ;;
    --clients) clients=$2 ;;
    --keyspace) keyspace=$2 ;;
    --tests) tests=$2 ;;
    --pipelines) pipelines=$2 ;;
    --server-cpu) server_cpu=$2 ;;
    --client-cpu) client_cpu=$2 ;;
    --ours-args) ours_args=$2 ;;
    --redis-args) redis_args=$2 ;;
    *) usage ;;
  esac
  shift 2
done

die() {
  echo "server-bench: $*" >&2
  exit 1
}

ours_bin=${RF_BINARY:-build/redis-faster}
[ -x "$ours_bin" ] || make "$ours_bin" >/dev/null
if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
  [ "${SKIP_DEPS:-}" = 1 ] || scripts/install-deps.sh redis-server redis-tools
fi
command -v redis-server >/dev/null || die "redis-server is not installed"
command -v redis-benchmark >/dev/null || die "redis-benchmark is not installed (redis-tools)"

# Pinning needs both cores; on a smaller machine everything runs unpinned.
pin_server=() pin_client=()
if command -v taskset >/dev/null && taskset -c "$server_cpu" true 2>/dev/null &&
  taskset -c "$client_cpu" true 2>/dev/null; then
  pin_server=(taskset -c "$server_cpu")
  pin_client=(taskset -c "$client_cpu")
else
  echo "server-bench: cannot pin to cores $server_cpu and $client_cpu: running unpinned" >&2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/server-bench.XXXXXX")
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
  rm -rf "$tmp"
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

ours_port=$(free_port)
mkdir -p "$tmp/ours" "$tmp/redis"
# shellcheck disable=SC2086 # ours_args is split on purpose
"${pin_server[@]}" "$ours_bin" --port "$ours_port" --io-threads 1 \
  --dir "$tmp/ours/data" $ours_args >"$tmp/ours.log" 2>&1 &
ours_pid=$!
wait_ping "$ours_port" "$ours_pid" "$tmp/ours.log"

redis_port=$(free_port)
# shellcheck disable=SC2086 # redis_args is split on purpose
"${pin_server[@]}" redis-server --port "$redis_port" --bind 127.0.0.1 \
  --save '' --dir "$tmp/redis" $redis_args >"$tmp/redis.log" 2>&1 &
redis_pid=$!
wait_ping "$redis_port" "$redis_pid" "$tmp/redis.log"

echo "server-bench: ours pid $ours_pid port $ours_port, redis-server pid $redis_pid port $redis_port," \
  "$rounds rounds, $requests requests, $clients clients, keyspace $keyspace" >&2

# One redis-benchmark run; prints its requests per second.
run_one() {
  local port=$1 test=$2 pipeline=$3 out rps
  out=$("${pin_client[@]}" redis-benchmark -h 127.0.0.1 -p "$port" -c "$clients" \
    -n "$requests" -r "$keyspace" -P "$pipeline" -t "$test" --csv 2>&1) ||
    die "redis-benchmark -p $port -t $test -P $pipeline failed:
$out"
  rps=$(awk -F'","' -v t="$test" 'tolower($1) == "\"" tolower(t) { print $2 }' <<<"$out")
  [ -n "$rps" ] || die "no $test result from redis-benchmark -p $port:
$out"
  echo "$rps"
}

median() {
  printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {
    if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

declare -A ours redis
for round in $(seq "$rounds"); do
  for pipeline in $pipelines; do
    for test in $tests; do
      # flip which server goes first every round
      if [ $((round % 2)) = 1 ]; then order="ours redis"; else order="redis ours"; fi
      for who in $order; do
        if [ "$who" = ours ]; then port=$ours_port; else port=$redis_port; fi
        rps=$(run_one "$port" "$test" "$pipeline")
        echo "  round=$round test=$test pipeline=$pipeline server=$who rps=$rps" >&2
        key="$test/$pipeline"
        if [ "$who" = ours ]; then ours[$key]+=" $rps"; else redis[$key]+=" $rps"; fi
      done
    done
  done
done

for pipeline in $pipelines; do
  for test in $tests; do
    key="$test/$pipeline"
    # shellcheck disable=SC2086 # the lists are space-separated numbers
    o=$(median ${ours[$key]})
    # shellcheck disable=SC2086
    r=$(median ${redis[$key]})
    ratio=$(awk -v o="$o" -v r="$r" 'BEGIN { if (r > 0) printf "%.2f", o / r; else print "nan" }')
    echo "server-bench test=$test pipeline=$pipeline ours_rps=$o redis_rps=$r ratio=$ratio"
  done
done
