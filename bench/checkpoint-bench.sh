#!/usr/bin/env bash
# The checkpoint benchmark: BGSAVE under a steady SET/GET load, and the
# recovery that follows, on redis-faster (CPR checkpoints, no fork) and on
# Debian's redis-server (BGSAVE forks a child that writes an RDB).  Prints
# one line per server (the median of the rounds, field by field):
#
#   checkpoint-bench keys=10000000 steady_rps=... during_bgsave_rps=... ratio=... bgsave_sec=... peak_rss_ratio=... recovery_sec=... server=redis-faster peak_pss_ratio=... value_size=16 rounds=1
#   checkpoint-bench keys=10000000 ... server=redis ...
#
#   bench/checkpoint-bench.sh [--keys N] [--value-size V] [--rounds R]
#       [--seconds S] [--warmup W] [--server redis-faster|redis|both]
#       [--binary PATH] [--threads T] [--clients C] [--pipeline P]
#       [--server-cpus CPUS] [--client-cpus CPUS] [--log-memory-size SIZE]
#       [--index-size SIZE] [--ours-args "--opt val ..."]
#       [--redis-args "--opt val ..."] [--dir-base DIR] [--timeout SECONDS]
#
# Defaults: --keys 10000000, --value-size 16, --rounds 1, --seconds 10,
# --warmup 3, --server both, --binary build/redis-faster (or $RF_BINARY),
# --threads 1 (our io-threads), --clients 50, --pipeline 8, --server-cpus 0,
# --client-cpus 1, --log-memory-size the next power of two >= 3x the data
# set (records of 40 bytes of header and key plus the value padded to 8
# bytes; 2gb for 10M keys of 16 bytes), --index-size 256mb, --timeout 600
# (the longest BGSAVE or recovery).  --server-cpus "" --client-cpus ""
# runs unpinned.  KEEP_TMP=1 keeps the temporary directory (the servers'
# logs and the redis-benchmark outputs).
#
# A round, for each server in turn (the order flips every round):
#  1. start it on a free port with an empty directory under --dir-base
#     (default $TMPDIR or /tmp), pinned to --server-cpus (its BGSAVE work,
#     Redis's forked child included, runs on those cpus too): ours with
#     --io-threads T --log-memory-size --index-size --save "", redis-server
#     with --save "" --appendonly no;
#  2. load keys key:000000000000 .. key:N-1 (the names redis-benchmark's -r
#     draws) with V-byte values: awk writes the SETs, redis-cli --pipe sends
#     them (unpinned, not measured); the load must get N replies and no
#     error;
#  3. start the steady load: two redis-benchmark processes (-t set and
#     -t get, C/2 clients each, -P P, -r N, -d V), pinned to --client-cpus;
#  4. after --warmup seconds, measure --seconds of steady load, then send
#     BGSAVE and poll INFO every 50 ms until rdb_bgsave_in_progress is 0
#     and rdb_saves has grown.  steady_rps and during_bgsave_rps are
#     total_commands_processed's growth over the steady window and over
#     BGSAVE-to-completion (less the monitor's own INFO calls); bgsave_sec
#     is that second window's length; peak_rss_ratio is the peak, during
#     BGSAVE, of the summed VmRSS of the server and all its descendants
#     (Redis's fork child: its shared pages count twice) over that sum just
#     before BGSAVE, and peak_pss_ratio the same with Pss (shared pages
#     count once: the memory really used);
#  5. stop the load, kill -9 the server, start it again on the same
#     directory with the same options; recovery_sec runs from that launch
#     until it answers PING with loading:0 and GETs of 100 sample keys
#     (the first, the last and 98 spread over the range) all find a value;
#     for redis-server also until DBSIZE is N (ours' DBSIZE walks the whole
#     data set, so only the sample is asked there).
# Any failure (a server that exits, a load error, a BGSAVE error or
# timeout, keys missing after recovery) stops the script with a message
# and the server's log.  Each round's numbers go to stderr, with more
# (load_sec, RSS and Pss in kB, first_pong_sec: when the restarted server
# first answered PING, the data directory's size).
set -euo pipefail
cd "$(dirname "$0")/.."

keys=10000000 value_size=16 rounds=1 seconds=10 warmup=3 which=both
ours_bin=${RF_BINARY:-build/redis-faster} threads=1 clients=50 pipeline=8
server_cpus=0 client_cpus=1 log_mem="" index_size=256mb ours_extra=""
redis_extra="" dir_base=${TMPDIR:-/tmp} timeout=600

usage() {
  sed -n '10,15p' "$0" | sed 's/^#   //' >&2
  exit 2
}
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || usage
  case "$1" in
    --keys) keys=$2 ;;
    --value-size) value_size=$2 ;;
    --rounds) rounds=$2 ;;
    --seconds) seconds=$2 ;;
    --warmup) warmup=$2 ;;
    --server) which=$2 ;;
    --binary) ours_bin=$2 ;;
    --threads) threads=$2 ;;
    --clients) clients=$2 ;;
    --pipeline) pipeline=$2 ;;
    --server-cpus) server_cpus=$2 ;;
    --client-cpus) client_cpus=$2 ;;
    --log-memory-size) log_mem=$2 ;;
    --index-size) index_size=$2 ;;
    --ours-args) ours_extra=$2 ;;
    --redis-args) redis_extra=$2 ;;
    --dir-base) dir_base=$2 ;;
    --timeout) timeout=$2 ;;
    *) usage ;;
  esac
  shift 2
done

die() {
  echo "checkpoint-bench: $*" >&2
  exit 1
}

if ! [[ $keys =~ ^[1-9][0-9]{0,9}$ ]] || [ "$keys" -gt 2147483647 ]; then
  die "--keys wants a count from 1 to 2147483647"
fi
[[ $value_size =~ ^[1-9][0-9]*$ ]] || die "--value-size wants bytes"
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "--rounds wants a positive count"
[[ $seconds =~ ^[0-9]+([.][0-9]+)?$ ]] || die "--seconds wants a number"
[[ $warmup =~ ^[0-9]+([.][0-9]+)?$ ]] || die "--warmup wants a number"
[[ $timeout =~ ^[1-9][0-9]*$ ]] || die "--timeout wants seconds"
[[ $clients =~ ^[1-9][0-9]*$ ]] || die "--clients wants a count"
[[ $pipeline =~ ^[1-9][0-9]*$ ]] || die "--pipeline wants a count"
case "$which" in
  both) servers="redis-faster redis" ;;
  redis-faster | redis) servers=$which ;;
  *) die "--server wants redis-faster, redis or both" ;;
esac
half_clients=$(((clients + 1) / 2))

pow2_ceil() {
  local p=1
  while [ "$p" -lt "$1" ]; do p=$((p * 2)); done
  echo "$p"
}
if [ -z "$log_mem" ]; then
  record_bytes=$((40 + (value_size + 7) / 8 * 8))
  log_bytes=$(pow2_ceil $((3 * keys * record_bytes)))
  [ "$log_bytes" -ge $((64 << 20)) ] || log_bytes=$((64 << 20))
  log_mem=$((log_bytes >> 20))mb
fi

if [[ " $servers " = *" redis-faster "* ]]; then
  if [ ! -x "$ours_bin" ] && [ "$ours_bin" = build/redis-faster ]; then
    make build/redis-faster >/dev/null || die "cannot build build/redis-faster"
  fi
  [ -x "$ours_bin" ] || die "no server binary $ours_bin"
fi
if ! command -v redis-cli >/dev/null || ! command -v redis-benchmark >/dev/null ||
  { [[ " $servers " = *" redis "* ]] && ! command -v redis-server >/dev/null; }; then
  [ "${SKIP_DEPS:-}" = 1 ] || scripts/install-deps.sh redis-server redis-tools
fi
command -v redis-cli >/dev/null || die "redis-cli is not installed (redis-tools)"
command -v redis-benchmark >/dev/null || die "redis-benchmark is not installed (redis-tools)"
if [[ " $servers " = *" redis "* ]]; then
  command -v redis-server >/dev/null || die "redis-server is not installed"
fi
command -v python3 >/dev/null || die "python3 is not installed"

pin_server=() pin_client=()
if [ -n "$server_cpus" ] && [ -n "$client_cpus" ] && command -v taskset >/dev/null &&
  taskset -c "$server_cpus" true 2>/dev/null && taskset -c "$client_cpus" true 2>/dev/null; then
  pin_server=(taskset -c "$server_cpus")
  pin_client=(taskset -c "$client_cpus")
elif [ -n "$server_cpus$client_cpus" ]; then
  echo "checkpoint-bench: cannot pin to cpus $server_cpus and $client_cpus: running unpinned" >&2
fi

mkdir -p "$dir_base"
if [ "$(stat -f -c %T "$dir_base")" = tmpfs ]; then
  echo "checkpoint-bench: warning: $dir_base is tmpfs: the \"disk\" is memory" \
    "(use --dir-base or TMPDIR for a real disk)" >&2
fi
tmp=$(mktemp -d "$dir_base/checkpoint-bench.XXXXXX")
server_pid="" load_pids=()

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
# Kills the server at once (a crash, as far as it can tell).
kill_server() {
  local pid=$server_pid
  server_pid=""
  [ -n "$pid" ] || return 0
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
stop_load() {
  local pid
  for pid in "${load_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${load_pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  load_pids=()
}
cleanup() {
  stop_load
  stop_server
  [ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The helper that measures: a small RESP client, the INFO poller and the
# process-tree memory sampler.
#   monitor.py measure PORT PID WARMUP SECONDS TIMEOUT
#     prints: steady_rps= during_bgsave_rps= bgsave_sec= rss_before_kb=
#     peak_rss_kb= pss_before_kb= peak_pss_kb= (exit 1 with a message
#     when BGSAVE fails or does not end in TIMEOUT seconds)
#   monitor.py ready PORT PID T0 KEYS CHECK_DBSIZE TIMEOUT
#     waits until PING, loading:0, the sample keys (and DBSIZE == KEYS
#     when CHECK_DBSIZE is 1); prints recovery_sec= and first_pong_sec=
#     (since T0, an epoch time); exit 1 when the server exits or TIMEOUT
#     passes
# It asks INFO for the sections it reads only (INFO stats persistence):
# ours' full INFO counts the keys for its Keyspace section, seconds at
# millions of keys.
cat >"$tmp/monitor.py" <<'EOF'
import os, socket, sys, time


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.sent = 0

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise ValueError("bad reply %r" % line)

    def cmd(self, *args):
        return self.pipeline([args])[0]

    def pipeline(self, cmds):
        out = []
        for args in cmds:
            out.append(b"*%d\r\n" % len(args))
            for a in args:
                a = a if isinstance(a, bytes) else str(a).encode()
                out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.s.sendall(b"".join(out))
        self.sent += len(cmds)
        return [self._reply() for _ in cmds]

    def info(self, *sections):
        r = self.cmd("INFO", *sections)
        if isinstance(r, Exception):
            raise r
        d = {}
        for line in r.decode().split("\r\n"):
            if ":" in line and not line.startswith("#"):
                k, v = line.split(":", 1)
                d[k] = v
        return d


def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)


def proc_field(pid, path, field):
    try:
        with open("/proc/%d/%s" % (pid, path)) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree(pid):
    """The pid and all its descendants (no /proc/*/children here: ppids)."""
    kids = {}
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % e) as f:
                s = f.read()
        except OSError:
            continue
        ppid = int(s[s.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(e))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def memory(pid):
    ps = tree(pid)
    return (sum(proc_field(p, "status", "VmRSS") for p in ps),
            sum(proc_field(p, "smaps_rollup", "Pss") for p in ps), len(ps))


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
        return s[s.rindex(")") + 2] not in "ZX"
    except OSError:
        return False


def measure(port, pid, warmup, seconds, timeout):
    c = Conn(port)
    time.sleep(warmup)
    a = c.info("stats", "persistence")
    ta, sa = time.time(), c.sent
    end = ta + seconds
    steady_peak = 0
    while time.time() < end:
        time.sleep(min(0.1, max(0.0, end - time.time())))
        steady_peak = max(steady_peak, memory(pid)[0])
    rss0, pss0, _ = memory(pid)
    b = c.info("stats", "persistence")
    tb, sb = time.time(), c.sent
    saves0 = int(b.get("rdb_saves", "-1"))
    r = c.cmd("BGSAVE")
    if isinstance(r, Exception) or r is None:
        fail("BGSAVE failed: %s" % r)
    reply = r if isinstance(r, str) else repr(r)
    peak_rss, peak_pss, nprocs = rss0, pss0, 1
    polls = 0
    while True:
        time.sleep(0.05)
        rss, pss, n = memory(pid)
        peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
        nprocs = max(nprocs, n)
        d = c.info("stats", "persistence")
        polls += 1
        now = time.time()
        if (d.get("rdb_bgsave_in_progress") == "0" and
                (saves0 < 0 or int(d.get("rdb_saves", "0")) > saves0)):
            break
        if now - tb > timeout:
            fail("BGSAVE did not end in %d s (rdb_bgsave_in_progress=%s, "
                 "checkpoint_phase=%s)" % (timeout,
                 d.get("rdb_bgsave_in_progress"), d.get("checkpoint_phase")))
    if d.get("rdb_last_bgsave_status") != "ok":
        fail("BGSAVE ended with rdb_last_bgsave_status=%s" %
             d.get("rdb_last_bgsave_status"))
    td, sd = now, c.sent
    ca, cb, cd = (int(x["total_commands_processed"]) for x in (a, b, d))
    steady = (cb - ca - (sb - sa)) / (tb - ta)
    during = (cd - cb - (sd - sb)) / (td - tb)
    print("steady_rps=%.0f during_bgsave_rps=%.0f bgsave_sec=%.2f "
          "rss_before_kb=%d peak_rss_kb=%d pss_before_kb=%d peak_pss_kb=%d "
          "steady_peak_rss_kb=%d procs=%d polls=%d "
          "rdb_last_bgsave_time_sec=%s bgsave_reply=%s" %
          (steady, during, td - tb, rss0, peak_rss, pss0, peak_pss,
           steady_peak, nprocs, polls, d.get("rdb_last_bgsave_time_sec"),
           reply.replace(" ", "_")))


def sample_keys(n):
    ks = {0, n - 1}
    for i in range(1, 99):
        ks.add(i * n // 99 + (i * 7919) % max(1, n // 99))
    return sorted(k for k in ks if 0 <= k < n)


def ready(port, pid, t0, nkeys, check_dbsize, timeout):
    ks = sample_keys(nkeys)
    gets = [("GET", "key:%012d" % k) for k in ks]
    c, why, pong = None, "no answer", None
    while True:
        now = time.time()
        if not alive(pid):
            fail("the server exited while recovering")
        if now - t0 > timeout:
            fail("not recovered in %d s: %s" % (timeout, why))
        try:
            if c is None:
                c = Conn(port)
            r = c.cmd("PING")
            if r != "PONG":
                why = "PING: %s" % r
            elif pong is None:
                pong = time.time() - t0
                continue
            elif c.info("persistence").get("loading") != "0":
                why = "loading"
            else:
                miss = [k for k, v in zip(ks, c.pipeline(gets))
                        if not isinstance(v, bytes)]
                size = c.cmd("DBSIZE") if check_dbsize else nkeys
                if miss:
                    why = "%d of %d sample keys missing (key:%012d ...)" % (
                        len(miss), len(ks), miss[0])
                elif size != nkeys:
                    why = "DBSIZE %s, not %d" % (size, nkeys)
                else:
                    print("recovery_sec=%.3f first_pong_sec=%.3f" %
                          (time.time() - t0, pong))
                    return
        except OSError as e:
            why = str(e)
            c = None
        time.sleep(0.01)


if sys.argv[1] == "measure":
    measure(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]),
            float(sys.argv[5]), float(sys.argv[6]))
else:
    ready(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]),
          int(sys.argv[5]), sys.argv[6] == "1", float(sys.argv[7]))
EOF

# Starts server $1 (redis-faster or redis) on port $2 with its data in $3,
# logging to $4; sets server_pid.
start_server() {
  local who=$1 port=$2 dir=$3 log=$4 args
  if [ "$who" = redis-faster ]; then
    args=(--port "$port" --dir "$dir" --io-threads "$threads"
      --log-memory-size "$log_mem" --index-size "$index_size" --save "")
    # shellcheck disable=SC2206 # ours_extra is split on purpose
    [ -z "$ours_extra" ] || args+=($ours_extra)
    "${pin_server[@]}" "$ours_bin" "${args[@]}" >>"$log" 2>&1 &
  else
    args=(--port "$port" --bind 127.0.0.1 --save "" --appendonly no
      --dir "$dir" --dbfilename dump.rdb)
    # shellcheck disable=SC2206 # redis_extra is split on purpose
    [ -z "$redis_extra" ] || args+=($redis_extra)
    "${pin_server[@]}" redis-server "${args[@]}" >>"$log" 2>&1 &
  fi
  server_pid=$!
}

# Stops the script: message $1, how the server ended when it has (bash
# reaps it, so only `wait` in this shell can tell), and the end of its
# log $2.
fail_server() {
  local msg=$1 log=$2 rc=0 note=""
  if [ -n "$server_pid" ] && ! kill -0 "$server_pid" 2>/dev/null; then
    wait "$server_pid" 2>/dev/null || rc=$?
    if [ "$rc" -gt 128 ]; then
      note="the server (pid $server_pid) was killed by signal $((rc - 128))"
      note+=" (SIG$(kill -l $((rc - 128)) 2>/dev/null || echo '?'))"
    else
      note="the server (pid $server_pid) exited with status $rc"
    fi
    server_pid=""
    note+=$'\n'
  fi
  die "$msg
${note}the server's log ($log):
$(tail -n 30 "$log")"
}

# Waits (bounded: 30 s) until the server on port $1 answers PING.
wait_ping() {
  local port=$1 log=$2 _
  for _ in $(seq 600); do
    kill -0 "$server_pid" 2>/dev/null || fail_server "the server exited" "$log"
    if [ "$(redis-cli -h 127.0.0.1 -p "$port" PING 2>/dev/null)" = PONG ]; then
      return 0
    fi
    sleep 0.05 # polling the port, bounded by the loop
  done
  fail_server "the server did not answer PING in 30 s" "$log"
}

# Loads keys key:000000000000 .. key:N-1 into the server on port $1.
load_keys() {
  local port=$1 log=$2 out
  out=$(awk -v n="$keys" -v vs="$value_size" 'BEGIN {
      v = sprintf("%*s", vs, ""); gsub(/ /, "v", v)
      for (i = 0; i < n; i++)
        printf "*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$%d\r\n%s\r\n", i, vs, v
    }' | redis-cli -h 127.0.0.1 -p "$port" --pipe 2>&1) ||
    fail_server "loading failed:
$out" "$log"
  grep -q "errors: 0, replies: $keys\$" <<<"$out" ||
    fail_server "loading did not get $keys replies without error:
$out" "$log"
}

info_field() { # info_field PORT SECTION FIELD
  redis-cli -h 127.0.0.1 -p "$1" INFO "$2" 2>/dev/null | tr -d '\r' |
    awk -F: -v f="$3" '$1 == f { print $2 }'
}

field() { # field NAME "k=v k=v ..."
  tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p" | head -n 1
}

declare -A results=()
# One round on server $1: start, load, steady load + BGSAVE, kill -9,
# recovery.  Appends its numbers to results[$1/FIELD].
run_one() {
  local who=$1 round=$2 port dir log t0 t1 out rec rss pid ratio prr ppr lpid
  port=$(free_port)
  dir="$tmp/$who-$round"
  log="$tmp/$who-$round.log"
  mkdir -p "$dir"
  start_server "$who" "$port" "$dir" "$log"
  wait_ping "$port" "$log"

  t0=$EPOCHREALTIME
  load_keys "$port" "$log"
  t1=$EPOCHREALTIME
  rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$server_pid/status")
  echo "  round=$round server=$who loaded keys=$keys value_size=$value_size" \
    "load_sec=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')" \
    "rss_kb=$rss used_memory=$(info_field "$port" memory used_memory)" >&2

  local bench=(redis-benchmark -h 127.0.0.1 -p "$port" -c "$half_clients"
    -P "$pipeline" -n 2000000000 -r "$keys" -d "$value_size" -q)
  for t in set get; do
    "${pin_client[@]}" "${bench[@]}" -t "$t" >"$tmp/load-$t.log" 2>&1 &
    load_pids+=($!)
  done
  if ! out=$("${pin_client[@]}" python3 "$tmp/monitor.py" measure "$port" \
    "$server_pid" "$warmup" "$seconds" "$timeout" 2>&1); then
    fail_server "$who: $out" "$log"
  fi
  for lpid in "${load_pids[@]}"; do
    kill -0 "$lpid" 2>/dev/null || fail_server "$who: redis-benchmark exited early:
$(tr '\r' '\n' <"$tmp/load-set.log" | tail -n 5)
$(tr '\r' '\n' <"$tmp/load-get.log" | tail -n 5)" "$log"
  done
  stop_load
  kill -0 "$server_pid" 2>/dev/null || fail_server "$who exited during the run" "$log"
  echo "  round=$round server=$who $out" >&2

  # the crash and the recovery
  kill_server
  echo "--- restart after kill -9 ---" >>"$log"
  t0=$EPOCHREALTIME
  start_server "$who" "$port" "$dir" "$log"
  pid=$server_pid
  if ! rec=$("${pin_client[@]}" python3 "$tmp/monitor.py" ready "$port" "$pid" \
    "$t0" "$keys" "$([ "$who" = redis ] && echo 1 || echo 0)" "$timeout" 2>&1); then
    fail_server "$who: recovery: $rec" "$log"
  fi
  rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status")
  echo "  round=$round server=$who $rec rss_kb=$rss" \
    "data_dir_kb=$(du -sk "$dir" | cut -f1)" >&2
  kill_server
  [ -n "${KEEP_TMP:-}" ] || rm -rf "$dir"

  ratio=$(awk -v d="$(field during_bgsave_rps "$out")" -v s="$(field steady_rps "$out")" \
    'BEGIN { if (s > 0) printf "%.3f", d / s; else print "nan" }')
  prr=$(awk -v p="$(field peak_rss_kb "$out")" -v b="$(field rss_before_kb "$out")" \
    'BEGIN { if (b > 0) printf "%.3f", p / b; else print "nan" }')
  ppr=$(awk -v p="$(field peak_pss_kb "$out")" -v b="$(field pss_before_kb "$out")" \
    'BEGIN { if (b > 0) printf "%.3f", p / b; else print "nan" }')
  results[$who/steady_rps]+=" $(field steady_rps "$out")"
  results[$who/during_bgsave_rps]+=" $(field during_bgsave_rps "$out")"
  results[$who/ratio]+=" $ratio"
  results[$who/bgsave_sec]+=" $(field bgsave_sec "$out")"
  results[$who/peak_rss_ratio]+=" $prr"
  results[$who/peak_pss_ratio]+=" $ppr"
  results[$who/recovery_sec]+=" $(field recovery_sec "$rec")"
}

# The median of the numbers $2..., printed with printf format $1.
median() {
  local fmt=$1
  shift
  printf '%s\n' "$@" | sort -g | awk -v fmt="$fmt" '{a[NR] = $1} END {
    if (NR % 2) m = a[(NR + 1) / 2]; else m = (a[NR / 2] + a[NR / 2 + 1]) / 2
    printf fmt "\n", m }'
}

echo "checkpoint-bench: keys=$keys value_size=$value_size rounds=$rounds" \
  "seconds=$seconds warmup=$warmup servers=\"$servers\" clients=$clients" \
  "pipeline=$pipeline ours=$ours_bin io_threads=$threads log_memory=$log_mem" \
  "index_size=$index_size server_cpus=${pin_server[*]:-unpinned}" \
  "client_cpus=${pin_client[*]:-unpinned} dir=$tmp" >&2

for round in $(seq "$rounds"); do
  order=$servers
  if [ $((round % 2)) = 0 ]; then order=$(tr ' ' '\n' <<<"$servers" | tac | tr '\n' ' '); fi
  for who in $order; do
    run_one "$who" "$round"
  done
done

for who in $servers; do
  line="checkpoint-bench keys=$keys"
  for f in steady_rps during_bgsave_rps ratio bgsave_sec peak_rss_ratio recovery_sec; do
    case "$f" in
      *_rps) fmt=%.0f ;;
      *) fmt=%.3f ;;
    esac
    # shellcheck disable=SC2086 # the lists are space-separated numbers
    line+=" $f=$(median "$fmt" ${results[$who/$f]})"
  done
  # shellcheck disable=SC2086
  line+=" server=$who peak_pss_ratio=$(median %.3f ${results[$who/peak_pss_ratio]})"
  line+=" value_size=$value_size rounds=$rounds"
  echo "$line"
done
