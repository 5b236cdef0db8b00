#!/usr/bin/env bash
# The larger-than-memory server benchmark (issue #4): GETs of Zipfian keys
# from a data set RATIO times the engine's log memory, against the same run
# with the whole data set in memory.  Prints, from the median of the rounds:
#
#   ltm-bench dataset_to_memory=10 zipf=0.99 device=uring rps=... inmem_rps=... ratio=...
#   ltm-bench dataset_to_memory=10 zipf=0 device=uring rps=... inmem_rps=... ratio=...
#
# ratio is rps / inmem_rps; the second line is the same with uniform keys.
#
#   bench/larger-than-memory.sh [--mem SIZE] [--ratio R] [--value-size V]
#       [--seconds D] [--warmup W] [--threads T] [--conns C] [--pipeline K]
#       [--zipf THETA] [--device file|uring|null] [--rounds R]
#       [--taskset CPUS] [--client-taskset CPUS] [--io-threads N]
#       [--inmem-mem SIZE] [--dir-base DIR] [--server-args "--opt val ..."]
#       [--no-tier-options]
#
# Defaults: --mem 64mb, --ratio 10, --value-size 200, --seconds 10,
# --warmup 2, --threads 4, --conns 1, --pipeline 1, --zipf 0.99,
# --device uring, --rounds 3 (about three minutes in all).
#
# A round starts two servers in turn (the order flips every round), each
# on a free port with its data under a fresh temporary directory in
# --dir-base (default $TMPDIR or /tmp; it should be a real disk, not
# tmpfs):
#   ltm:   --log-memory-size MEM;
#   inmem: --log-memory-size the next power of two >= 4x the data set (or
#          --inmem-mem),
# both with --device-type DEVICE --storage-tier yes and --server-args.
# build/ltm-client loads N keys, N chosen so that N records take RATIO x
# MEM in the log (a record is 40 bytes of header and key plus the value
# padded to 8 bytes; the log memory size is rounded down to a power of two
# as the server does), then runs --seconds of GETs with Zipf THETA keys and
# --seconds with uniform keys, checking every value; the server is stopped
# by its pid.  --no-tier-options leaves out --device-type and
# --storage-tier (for servers that do not know them yet; then the ltm run
# only fits if MEM holds the data, e.g. --ratio 0.5).  Each run's numbers,
# the log's size after the load and the server's RSS go to stderr.
#
# RF_BINARY names another redis-faster binary (default build/redis-faster,
# built with make); the client is build/ltm-client (make ltm-client).
set -euo pipefail
cd "$(dirname "$0")/.."

mem=64mb ratio=10 value_size=200 seconds=10 warmup=2 threads=4 conns=1
pipeline=1 theta=0.99 device=uring rounds=3 server_cpus="" client_cpus=""
io_threads="" inmem_mem="" dir_base=${TMPDIR:-/tmp} server_extra=""
tier_options=yes load_threads=4

usage() {
  sed -n '11,16p' "$0" | sed 's/^#   //' >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case "$1" in
    --no-tier-options)
      tier_options=no
      shift
      continue
      ;;
  esac
  [ $# -ge 2 ] || usage
  case "$1" in
    --mem) mem=$2 ;;
    --ratio) ratio=$2 ;;
    --value-size) value_size=$2 ;;
    --seconds) seconds=$2 ;;
    --warmup) warmup=$2 ;;
    --threads) threads=$2 ;;
    --conns) conns=$2 ;;
    --pipeline) pipeline=$2 ;;
    --zipf) theta=$2 ;;
    --device) device=$2 ;;
    --rounds) rounds=$2 ;;
    --taskset) server_cpus=$2 ;;
    --client-taskset) client_cpus=$2 ;;
    --io-threads) io_threads=$2 ;;
    --inmem-mem) inmem_mem=$2 ;;
    --dir-base) dir_base=$2 ;;
    --server-args) server_extra=$2 ;;
    *) usage ;;
  esac
  shift 2
done

die() {
  echo "larger-than-memory: $*" >&2
  exit 1
}

# Bytes in a size written as the server reads it: 64mb = 64 MiB,
# 64m = 64,000,000, a plain number is bytes.
to_bytes() {
  local s=${1,,} n unit
  [[ $s =~ ^([0-9]+)([kmg]?b?)$ ]] || die "bad size '$1' (e.g. 64mb, 1gb)"
  n=${BASH_REMATCH[1]} unit=${BASH_REMATCH[2]}
  case "$unit" in
    "" | b) echo "$n" ;;
    k) echo $((n * 1000)) ;;
    kb) echo $((n * 1024)) ;;
    m) echo $((n * 1000 * 1000)) ;;
    mb) echo $((n * 1024 * 1024)) ;;
    g) echo $((n * 1000 * 1000 * 1000)) ;;
    gb) echo $((n * 1024 * 1024 * 1024)) ;;
  esac
}
pow2_floor() {
  local p=1
  while [ $((p * 2)) -le "$1" ]; do p=$((p * 2)); done
  echo "$p"
}
pow2_ceil() {
  local p=1
  while [ "$p" -lt "$1" ]; do p=$((p * 2)); done
  echo "$p"
}

[[ $value_size =~ ^[0-9]+$ ]] || die "--value-size wants bytes"
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "--rounds wants a positive count"
mem_bytes=$(pow2_floor "$(to_bytes "$mem")")
record_bytes=$((40 + (value_size + 7) / 8 * 8))
keys=$(awk -v r="$ratio" -v m="$mem_bytes" -v b="$record_bytes" \
  'BEGIN { printf "%d", r * m / b }')
[ "$keys" -ge 1 ] || die "no keys for --ratio $ratio --mem $mem"
[ "$keys" -le 4294967295 ] || die "too many keys ($keys): the ids are 32-bit"
data_bytes=$((keys * record_bytes))
if [ -n "$inmem_mem" ]; then
  inmem_bytes=$(to_bytes "$inmem_mem")
else
  inmem_bytes=$(pow2_ceil $((4 * data_bytes)))
fi
if [ "$tier_options" = yes ]; then label=$device; else label=none; fi

server_bin=${RF_BINARY:-build/redis-faster}
if [ -z "${RF_BINARY:-}" ]; then
  make build/redis-faster >/dev/null || die "cannot build build/redis-faster"
fi
[ -x "$server_bin" ] || die "no server binary $server_bin"
make ltm-client >/dev/null || die "cannot build build/ltm-client"
client_bin=build/ltm-client
if ! command -v redis-cli >/dev/null; then
  [ "${SKIP_DEPS:-}" = 1 ] || scripts/install-deps.sh redis-tools
fi
command -v redis-cli >/dev/null || die "redis-cli is not installed (redis-tools)"

pin_server=() pin_client=()
if [ -n "$server_cpus" ]; then
  taskset -c "$server_cpus" true || die "cannot pin to cpus $server_cpus"
  pin_server=(taskset -c "$server_cpus")
fi
if [ -n "$client_cpus" ]; then
  taskset -c "$client_cpus" true || die "cannot pin to cpus $client_cpus"
  pin_client=(taskset -c "$client_cpus")
fi

mkdir -p "$dir_base"
if [ "$(stat -f -c %T "$dir_base")" = tmpfs ]; then
  echo "larger-than-memory: warning: $dir_base is tmpfs: the \"disk\" is memory" \
    "(use --dir-base or TMPDIR for a real disk)" >&2
fi
tmp=$(mktemp -d "$dir_base/ltm-bench.XXXXXX")
server_pid=""

# Stops the server by its pid: SIGTERM, then SIGKILL after 30 s.
stop_server() {
  local pid=$server_pid _
  server_pid=""
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1 # polling for the exit, bounded
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop_server
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits (bounded: 30 s) until the server on port $1 answers PING.
wait_ping() {
  local port=$1 log=$2 _
  for _ in $(seq 600); do
    kill -0 "$server_pid" 2>/dev/null || die "the server exited; its log:
$(cat "$log")"
    if [ "$(redis-cli -h 127.0.0.1 -p "$port" PING 2>/dev/null)" = PONG ]; then
      return 0
    fi
    sleep 0.05 # polling the port, bounded by the loop
  done
  die "the server did not answer PING in 30 s; its log:
$(cat "$log")"
}

# The server's arguments for a run with $1 bytes of log memory, into the
# array `args`.  The engine's options are set here, in one place.
server_args() {
  local log_mem=$1 port=$2 dir=$3
  args=(--port "$port" --dir "$dir" --log-memory-size "$log_mem")
  if [ "$tier_options" = yes ]; then
    args+=(--device-type "$device" --storage-tier yes)
  fi
  [ -z "$io_threads" ] || args+=(--io-threads "$io_threads")
  # shellcheck disable=SC2206 # server_extra is split on purpose
  [ -z "$server_extra" ] || args+=($server_extra)
}

info_field() {
  redis-cli -h 127.0.0.1 -p "$1" INFO 2>/dev/null | tr -d '\r' |
    awk -F: -v f="$2" '$1 == f { print $2 }'
}

# One run: start a server with $2 bytes of log memory, load, then the
# Zipf and the uniform GET phases; appends their rps to results[$1/zipf]
# and results[$1/uniform] ($1 is ltm or inmem).
declare -A results=()
run_one() {
  local kind=$1 log_mem=$2 round=$3 port dir log out rps t
  port=$(free_port)
  dir="$tmp/$kind-$round"
  log="$tmp/$kind-$round.log"
  mkdir -p "$dir"
  server_args "$log_mem" "$port" "$dir"
  "${pin_server[@]}" "$server_bin" "${args[@]}" >"$log" 2>&1 &
  server_pid=$!
  wait_ping "$port" "$log"
  local common=(--port "$port" --keys "$keys" --value-size "$value_size")
  out=$("${pin_client[@]}" "$client_bin" load "${common[@]}" \
    --load-threads "$load_threads" 2>&1) || die "load failed:
$out
the server's log:
$(tail -n 20 "$log")"
  echo "  round=$round run=$kind log_memory=$log_mem $out" \
    "log_bytes=$(info_field "$port" log_bytes)" \
    "log_head_address=$(info_field "$port" log_head_address)" \
    "rss_kb=$(ps -o rss= -p "$server_pid" | tr -d ' ')" >&2
  for t in "$theta" 0; do
    out=$("${pin_client[@]}" "$client_bin" get "${common[@]}" \
      --threads "$threads" --conns "$conns" --pipeline "$pipeline" \
      --seconds "$seconds" --warmup "$warmup" --zipf "$t" \
      --seed "$round" 2>&1) || die "get (zipf $t) failed:
$out
the server's log:
$(tail -n 20 "$log")"
    echo "  round=$round run=$kind $out" \
      "rss_kb=$(ps -o rss= -p "$server_pid" | tr -d ' ')" >&2
    rps=$(sed -n 's/.* rps=\([0-9.]*\) .*/\1/p' <<<"$out" | tail -n 1)
    [ -n "$rps" ] || die "no rps from ltm-client: $out"
    if [ "$t" = 0 ]; then
      results[$kind/uniform]+=" $rps"
    else
      results[$kind/zipf]+=" $rps"
    fi
  done
  stop_server
  rm -rf "$dir"
}

median() {
  printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {
    if (NR % 2) print a[(NR + 1) / 2]; else printf "%.0f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

echo "larger-than-memory: keys=$keys value_size=$value_size" \
  "data=$((data_bytes / 1048576))MiB log_memory=$((mem_bytes / 1048576))MiB" \
  "inmem_log_memory=$((inmem_bytes / 1048576))MiB device=$label" \
  "threads=$threads conns=$conns pipeline=$pipeline seconds=$seconds" \
  "warmup=$warmup rounds=$rounds dir=$tmp" >&2

for round in $(seq "$rounds"); do
  if [ $((round % 2)) = 1 ]; then order="ltm inmem"; else order="inmem ltm"; fi
  for kind in $order; do
    if [ "$kind" = ltm ]; then
      run_one ltm "$mem_bytes" "$round"
    else
      run_one inmem "$inmem_bytes" "$round"
    fi
  done
done

line() {
  local t=$1 l=$2 i=$3 ratio_v
  ratio_v=$(awk -v l="$l" -v i="$i" 'BEGIN { if (i > 0) printf "%.2f", l / i; else print "nan" }')
  echo "ltm-bench dataset_to_memory=$ratio zipf=$t device=$label rps=$l inmem_rps=$i ratio=$ratio_v"
}
# shellcheck disable=SC2086 # the lists are space-separated numbers
line "$theta" "$(median ${results[ltm/zipf]})" "$(median ${results[inmem/zipf]})"
# shellcheck disable=SC2086
line 0 "$(median ${results[ltm/uniform]})" "$(median ${results[inmem/uniform]})"
