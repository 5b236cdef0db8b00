"""The append-only file: every write command is logged to a
FasterLog under dir/appenddirname before it is acknowledged, and a start
recovers the newest checkpoint and then replays the AOF entries written
after it, in order, with their original clock.

What must hold after a crash (kill -9 of the process; the page cache
survives, so this tests what the server logged and committed, not the
disk): with appendfsync always every write acknowledged before the kill
is there, each exactly once; a write sent but not acknowledged may or may
not be; and for each client connection what came back is a prefix of what
it sent (the log is replayed in order).  With everysec and no, the same
holds for writes older than the last commit: the tests wait until INFO's
aof_buffer_length is 0 (or 2.5 s) before the kill.  Checkpoints (BGSAVE)
taken meanwhile must neither lose nor double-apply the writes around them,
a checkpoint that was still running at the kill must not be needed, and a
completed one lets the server drop AOF entries it no longer needs.

How the tests know: four writer threads run a fixed sequence of operations
each (SETs of their own keys, with values derived from the key and of
varied length, INCRs of their own counters and INCRs of counters that all
threads share), two of them one command at a time and two in pipelines of
16.  Since the sequence is fixed, "the state after the first p operations
of thread t" is computable: after a restart each thread's own keys must be
that state for one p between the operations acknowledged and those sent
(exactly the acknowledged ones when the threads had stopped before the
kill), and each shared counter must lie between the sums the threads'
possible prefixes give.  Counters catch double application (a replayed
INCR applied twice) as well as loss.  Commands with TTLs, databases and
non-idempotent updates are checked by dumping every key of every database
(value and PEXPIRETIME) before the kill and after the restart.

Every server here runs with `--save ""` (conftest), so no checkpoint is
taken unless a test asks for one.  A save is complete when INFO
persistence says rdb_bgsave_in_progress:0 and rdb_saves has grown; the
tests poll for it with a deadline, and poll INFO rather than sleep.

Sizes and times: RF_SANITIZE (make SANITIZE=...) scales the operation
counts down (20,000 to 5,000 per writer run) and deadlines up; RF_SEED=N
replays the random kill points of a failed run (the seed is printed).
"""
import os
import random
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import pytest
import redis

from conftest import BINARY, free_port, persistence, RawConn, RawError, resp, saves, wait_saved, wait_until, WriterThread

SANITIZER = os.environ.get("RF_SANITIZE", "")
SLOW = 4 if SANITIZER else 1
BATCH = 1000
TOTAL_OPS = 5_000 if SANITIZER else 20_000  # per writer run, all threads together
RESTART_TIMEOUT = 60.0 * SLOW
SAVE_TIMEOUT = 60.0 * SLOW
TTL_SLACK_MS = 250  # an expiry replayed with its original clock moves at most this much


def aof(fsync="always", *more):
    return ["--appendonly", "yes", "--appendfsync", fsync] + list(more)


# ---- helpers ------------------------------------------------------------------

def bgsave_and_wait(c, raw):
    """BGSAVE, waits until it completes; returns its checkpoint_version."""
    before = saves(c)
    reply = raw.call("BGSAVE")
    assert reply == "Background saving started", reply
    return wait_saved(c, before)["checkpoint_version"]


def wait_aof_synced(c, timeout=10.0 * SLOW):
    """Polls INFO persistence until aof_buffer_length is 0 (everything
    appended is committed)."""
    wait_until(lambda: persistence(c)["aof_buffer_length"] == 0, timeout,
               "aof_buffer_length to reach 0")


def hold_for(c, seconds):
    """Lets `seconds` pass while sampling INFO persistence (the AOF must
    keep reporting ok); a fixed window, bounded."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        inf = persistence(c)
        assert inf["aof_last_write_status"] == "ok", inf
        time.sleep(0.05)  # sampling for a fixed window, bounded


def recovered_version(srv):
    """The N of this run's "Recovered checkpoint N" log line, or None."""
    m = re.search(r"Recovered checkpoint (\d+)", srv.run_log())
    return int(m.group(1)) if m else None


def aof_replayed(srv):
    """The number of entries this run's log says the AOF replay applied
    (the last line with "AOF" and "replayed"), or None when there is no
    such line."""
    lines = [ln for ln in srv.run_log().splitlines() if "AOF" in ln and "replayed" in ln.lower()]
    if not lines:
        return None
    line = lines[-1]
    m = (re.search(r"(\d+)\s+(?:AOF\s+)?(?:entries|entry|records|commands|operations)", line)
         or re.search(r"(?i)replayed\W*(\d+)", line))
    assert m, "no count in the AOF replay line: %r" % line
    return int(m.group(1))


def assert_replayed_some(srv):
    n = aof_replayed(srv)
    assert n is not None and n > 0, \
        "no 'AOF ... replayed N' line with N > 0 in this run's log:\n" + srv.run_log()[-3000:]
    return n


def mget_all(c, keys):
    out = []
    for lo in range(0, len(keys), BATCH):
        out += c.mget(keys[lo:lo + BATCH])
    return out


def read_counters(c, keys):
    return [int(v) if v is not None else 0 for v in mget_all(c, keys)]


def set_many(srv, items):
    """SETs (key, value) pairs in pipelines of BATCH over a bare socket;
    every reply must be +OK."""
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=60 * SLOW)
    try:
        for lo in range(0, len(items), BATCH):
            part = items[lo:lo + BATCH]
            sock.sendall(b"".join(resp("SET", k, v) for k, v in part))
            expected = b"+OK\r\n" * len(part)
            got = bytearray()
            while len(got) < len(expected):
                chunk = sock.recv(65536)
                assert chunk, "connection closed during a SET pipeline"
                got += chunk
                assert got == expected[:len(got)], "SET pipeline replied %r" % bytes(got[-200:])
    finally:
        sock.close()


def check_values(c, keys, values, what):
    got = mget_all(c, keys)
    wrong = [(k, v[:40] if v else v, g[:40] if g else g)
             for k, v, g in zip(keys, values, got) if g != v]
    assert not wrong, "%s: %d of %d keys differ, first (key, expected, got): %r" % (
        what, len(wrong), len(keys), wrong[:5])


def bulk_value(i, version=0):
    unit = b"b%03d.%07d|" % (version, i)
    return (unit * (200 // len(unit) + 1))[:200]


# ---- the writers' operation sequence --------------------------------------------

OWN = 8       # counters of one thread
NSHARED = 4   # counters all threads INCR
THREADS = 4
DEPTHS = (1, 1, 16, 16)  # commands per round trip of each thread


def set_key(ns, t, i):
    return "%s:s:%d:%06d" % (ns, t, i)


def own_key(ns, t, j):
    return "%s:c:%d:%02d" % (ns, t, j)


def shared_key(ns, s):
    return "%s:shared:%d" % (ns, s)


def value(ns, t, i):
    """The value of thread t's i-th operation (a SET): names its key; 16 to
    215 bytes, every 101st 5,000."""
    unit = ("%s|t%d|i%06d|" % (ns, t, i)).encode()
    n = 5000 if i % 101 == 0 else 16 + (i * 37) % 200
    return (unit * (n // len(unit) + 1))[:n]


def op(ns, t, i):
    """Thread t's i-th command: i % 4 in (0, 2): SET of its own key i;
    1: INCR of its own counter (i // 4) % OWN; 3: INCR of the shared
    counter (i // 4 + t) % NSHARED."""
    r = i % 4
    if r in (0, 2):
        return ("SET", set_key(ns, t, i), value(ns, t, i))
    if r == 1:
        return ("INCR", own_key(ns, t, (i // 4) % OWN))
    return ("INCR", shared_key(ns, (i // 4 + t) % NSHARED))


def own_counts(p):
    """Thread's own counters after its first p operations."""
    n = (p + 2) // 4  # operations i < p with i % 4 == 1
    return [n // OWN + (1 if j < n % OWN else 0) for j in range(OWN)]


def shared_counts(t, p):
    """What thread t's first p operations added to each shared counter."""
    n = p // 4  # operations i < p with i % 4 == 3
    return [n // NSHARED + (1 if (s - t) % NSHARED < n % NSHARED else 0) for s in range(NSHARED)]


def sets_before(p):
    return [i for i in range(p) if i % 4 in (0, 2)]


class Writer(WriterThread):
    """One client thread running op(ns, tid, 0..limit-1), `depth` commands
    per round trip (one at a time, or a non-transactional pipeline).
    sent: operations sent (raised before sending); acked: operations whose
    replies came back (a prefix).  Each reply is checked: SET +OK, INCR of
    an own counter exactly the count so far, of a shared one positive."""

    def __init__(self, srv, ns, tid, depth, limit=10 ** 9):
        self.ns, self.tid, self.depth, self.limit = ns, tid, depth, limit
        self.sent = self.acked = 0
        WriterThread.__init__(self, srv)

    def check(self, i, reply):
        kind = i % 4
        if kind in (0, 2):
            ok = reply is True or reply == b"OK"
        elif kind == 1:
            ok = reply == (i // 4) // OWN + 1
        else:
            ok = isinstance(reply, int) and reply >= 1
        if not ok:
            raise AssertionError("thread %d op %d %r replied %r" % (
                self.tid, i, op(self.ns, self.tid, i)[:2], reply))

    lost = (redis.exceptions.RedisError, OSError)

    def work(self, c):
        while not self.stop.is_set() and self.sent < self.limit:
            lo = self.sent
            hi = min(lo + self.depth, self.limit)
            self.sent = hi
            if hi - lo == 1:
                replies = [c.execute_command(*op(self.ns, self.tid, lo))]
            else:
                pipe = c.pipeline(transaction=False)
                for i in range(lo, hi):
                    pipe.execute_command(*op(self.ns, self.tid, i))
                replies = pipe.execute()
            for i, reply in zip(range(lo, hi), replies):
                self.check(i, reply)
            self.acked = hi


def start_writers(srv, ns, limit_total=None):
    per = limit_total // THREADS if limit_total else 10 ** 9
    return [Writer(srv, ns, t, DEPTHS[t], per).start() for t in range(THREADS)]


def finish(writers):
    """Waits for the writers to reach their limit (or stop them), then
    checks none failed."""
    deadline = time.monotonic() + 120 * SLOW
    for w in writers:
        w.thread.join(max(0.1, deadline - time.monotonic()))
    for w in writers:
        w.join()


def wait_ops(writers, n, what):
    """Waits until the writers have acknowledged n more operations in all."""
    start = sum(w.acked for w in writers)

    def enough():
        for w in writers:
            if w.error is not None:
                raise w.error
        return sum(w.acked for w in writers) - start >= n

    wait_until(enough, 60 * SLOW, "%d operations (%s)" % (n, what))


def kill_during(srv, writers):
    """kill -9 while the writers run; returns once they have all stopped."""
    for w in writers:
        w.dying.set()
    assert srv.kill9() == -9
    for w in writers:
        w.join()


def verify(srv, writers, exact, what):
    """Checks what the writers (one namespace) left after a restart: for
    each thread every acknowledged SET has its value, and its own keys are
    the state after some prefix p of its sequence, acked <= p <= sent (p ==
    acked == sent when `exact`); each shared counter lies between the sums
    of the threads' smallest and largest possible prefixes.  Returns a
    fingerprint of what was found (to compare after later restarts)."""
    c = srv.client(socket_timeout=60 * SLOW)
    ns = writers[0].ns
    low = [0] * NSHARED
    high = [0] * NSHARED
    fingerprint = []
    try:
        for w in writers:
            a, s, t = w.acked, w.sent, w.tid
            where = "%s, thread %d (acknowledged %d, sent %d)" % (what, t, a, s)
            if exact:
                assert a == s, where + ": operations were in flight"
            idx = sets_before(a)
            check_values(c, [set_key(ns, t, i) for i in idx], [value(ns, t, i) for i in idx],
                         where + ": acknowledged SETs")
            window = [i for i in range(a, s) if i % 4 in (0, 2)]
            wgot = mget_all(c, [set_key(ns, t, i) for i in window])
            for i, g in zip(window, wgot):
                assert g is None or g == value(ns, t, i), \
                    "%s: unacknowledged SET %s has a value it was never given: %r" % (
                        where, set_key(ns, t, i), g[:60])
            present = [i for i, g in zip(window, wgot) if g is not None]
            own = read_counters(c, [own_key(ns, t, j) for j in range(OWN)])
            prefixes = [p for p in range(a, s + 1)
                        if own == own_counts(p) and present == [i for i in window if i < p]]
            assert prefixes, (
                "%s: the thread's keys are not the state after any prefix of its operations "
                "between the acknowledged and the sent ones: own counters %s (after %d ops: %s, "
                "after %d: %s), unacknowledged SETs present: %s of %s"
                % (where, own, a, own_counts(a), s, own_counts(s), present, window))
            for j, (lo, hi) in enumerate(zip(shared_counts(t, min(prefixes)),
                                             shared_counts(t, max(prefixes)))):
                low[j] += lo
                high[j] += hi
            fingerprint.append((t, tuple(own), tuple(present)))
        shared = read_counters(c, [shared_key(ns, j) for j in range(NSHARED)])
        for j in range(NSHARED):
            assert low[j] <= shared[j] <= high[j], \
                "%s: %s is %d, acknowledged INCRs %d..%d (sent)" % (
                    what, shared_key(ns, j), shared[j], low[j], high[j])
        fingerprint.append(tuple(shared))
    finally:
        c.close()
    return fingerprint


def expected_dbsize(writers):
    """Keys the writers' namespace holds when every thread stopped cleanly."""
    n = 0
    shared = [0] * NSHARED
    for w in writers:
        n += len(sets_before(w.acked)) + sum(1 for v in own_counts(w.acked) if v)
        shared = [x + y for x, y in zip(shared, shared_counts(w.tid, w.acked))]
    return n + sum(1 for v in shared if v)


# ---- 1, 2: appendfsync always, no checkpoint ---------------------------------------

def test_always_every_acknowledged_write_survives_kill9(start_server):
    """appendfsync always and no checkpoint at all: four threads run
    TOTAL_OPS operations (SETs of their own keys, INCRs of their own and
    of shared counters) to the end, kill -9, restart: every SET has its
    value, every counter is exactly the number of INCRs it got, nothing
    else exists, and the log says the AOF replayed entries."""
    srv = start_server(aof("always"))
    t0 = time.monotonic()
    writers = start_writers(srv, "one", TOTAL_OPS)
    finish(writers)
    t_write = time.monotonic() - t0
    assert sum(w.acked for w in writers) == TOTAL_OPS // THREADS * THREADS
    c = srv.client()
    inf = persistence(c)
    assert inf["aof_enabled"] == 1 and inf["aof_last_write_status"] == "ok", inf
    assert inf["aof_current_size"] > 0, inf
    c.close()

    assert srv.kill9() == -9
    t1 = time.monotonic()
    srv.restart(RESTART_TIMEOUT)
    t_restart = time.monotonic() - t1
    assert recovered_version(srv) is None, "a checkpoint was recovered, none was taken"
    n = assert_replayed_some(srv)
    verify(srv, writers, True, "after kill -9")
    c = srv.client()
    assert c.dbsize() == expected_dbsize(writers)
    c.close()
    print("\n%d operations in %.1f s, restart %.1f s, %d AOF entries replayed"
          % (TOTAL_OPS, t_write, t_restart, n))


AOF_CRASH_ROUNDS = 3


def test_always_kill9_while_writing(start_server):
    """appendfsync always: AOF_CRASH_ROUNDS times, four threads write a
    new namespace each and the server is killed after a random number of
    operations, with commands in flight.  After each restart: every write
    acknowledged before the kill is there, each thread's keys are a prefix
    of its operations between acknowledged and sent, shared counters lie
    between the acknowledged and sent INCRs; and what the earlier rounds
    recovered is still exactly there (nothing replayed twice or lost when
    an AOF that was replayed once is replayed again)."""
    seed = int(os.environ.get("RF_SEED", random.randrange(1 << 30)))
    print("\nkill while writing: seed %d (RF_SEED=%d replays it)" % (seed, seed))
    rnd = random.Random(seed)
    srv = start_server(aof("always"))
    history = []
    try:
        for round_ in range(AOF_CRASH_ROUNDS):
            where = "seed %d, round %d" % (seed, round_)
            writers = start_writers(srv, "r%d" % round_)
            wait_ops(writers, rnd.randrange(0, TOTAL_OPS), where)
            kill_during(srv, writers)
            srv.restart(RESTART_TIMEOUT)
            fp = verify(srv, writers, False, where)
            for old_round, (old_writers, old_fp) in enumerate(history):
                assert verify(srv, old_writers, False, where) == old_fp, \
                    "%s: round %d's keys changed across a restart" % (where, old_round)
            history.append((writers, fp))
            print("round %d: %d operations acknowledged, %d sent, %s AOF entries replayed"
                  % (round_, sum(w.acked for w in writers), sum(w.sent for w in writers),
                     aof_replayed(srv)))
    except BaseException as e:
        e.add_note("kill while writing seed: %d (RF_SEED=%d to replay)" % (seed, seed))
        raise


# ---- 3: checkpoints and the AOF ------------------------------------------------------

@pytest.mark.parametrize("variant,ckpt_type", [("one", "foldover"), ("one", "snapshot"),
                                               ("two", "foldover"), ("running", "foldover")])
def test_always_with_checkpoints(start_server, variant, ckpt_type):
    """appendfsync always, four threads writing throughout.
    one: BGSAVE while they write, wait for it, more writes, stop, kill -9:
    the checkpoint is recovered, the AOF after it replayed, and every
    counter is exact (an entry both in the checkpoint and replayed would
    count twice; one in neither would be missing).
    two: the same with two BGSAVEs and writes between and after.
    running: a BGSAVE completes, 40,000 more keys (20,000 under
    sanitizers) are SET, a second BGSAVE
    is paced to last seconds (checkpoint-flush-rate 1mb) and the server is
    killed while it runs and the threads write: the first checkpoint is
    recovered, with everything acknowledged after it from the AOF."""
    extra = ["--checkpoint-type", ckpt_type]
    if variant == "running":
        extra += ["--log-page-size", "1mb", "--checkpoint-flush-rate", "0"]
    srv = start_server(aof("always", *extra))
    c = srv.client()
    raw = RawConn(srv.port, timeout=SAVE_TIMEOUT)
    quarter = TOTAL_OPS // 4
    writers = start_writers(srv, "ck")
    wait_ops(writers, quarter, "before the first BGSAVE")
    v1 = bgsave_and_wait(c, raw)
    wait_ops(writers, quarter, "after the first BGSAVE")
    expect_version = v1
    bulk = []
    if variant == "two":
        v2 = bgsave_and_wait(c, raw)
        assert v2 > v1
        wait_ops(writers, quarter, "after the second BGSAVE")
        expect_version = v2
    if variant == "running":
        nbulk = 40_000 // (2 if SANITIZER else 1)
        bulk = [("bulk:%06d" % i, bulk_value(i)) for i in range(nbulk)]
        set_many(srv, bulk)
        assert c.config_set("checkpoint-flush-rate", "1mb") is True
        assert raw.call("BGSAVE") == "Background saving started"
        wait_ops(writers, quarter, "while the second BGSAVE runs")
        inf = persistence(c)
        assert inf["rdb_bgsave_in_progress"] == 1, \
            "the paced BGSAVE finished before the kill; the test needs a slower one: %r" % inf
        kill_during(srv, writers)
    else:
        for w in writers:
            w.join()  # stops it after its current round trip: acked == sent
        srv.kill9()
    raw.close()
    c.close()

    srv.restart(RESTART_TIMEOUT)
    assert recovered_version(srv) == expect_version, srv.run_log()[-3000:]
    n = assert_replayed_some(srv)
    verify(srv, writers, variant != "running", "%s checkpoint(s), %s" % (variant, ckpt_type))
    c = srv.client(socket_timeout=60 * SLOW)
    if bulk:
        check_values(c, [k for k, _ in bulk], [v for _, v in bulk], "keys SET after the checkpoint")
    else:
        assert c.dbsize() == expected_dbsize(writers)
    c.close()
    print("\n%s: %d operations, %d AOF entries replayed after checkpoint %d"
          % (variant, sum(w.acked for w in writers), n, expect_version))


# ---- 4: every kind of write command, replayed --------------------------------------

def dump(srv, databases=16):
    """{(db, key): (value, PEXPIRETIME)} of every key of every database."""
    out = {}
    for db in range(databases):
        c = srv.client(db=db)
        for k in c.scan_iter(count=1000):
            out[(db, k)] = (c.get(k), c.execute_command("PEXPIRETIME", k))
        c.close()
    return out


def compare_dumps(before, after, what):
    missing = sorted(set(before) - set(after))
    extra = sorted(set(after) - set(before))
    assert not missing and not extra, "%s: keys lost %r, keys that came back %r" % (
        what, missing[:10], extra[:10])
    for k, (v, t) in before.items():
        v2, t2 = after[k]
        assert v2 == v, "%s: %r is %r, was %r" % (what, k, v2, v)
        if t < 0 or t2 < 0:
            assert t2 == t, "%s: %r PEXPIRETIME %d, was %d" % (what, k, t2, t)
        else:
            assert abs(t2 - t) <= TTL_SLACK_MS, \
                "%s: %r expires at %d, was %d (%+d ms: replayed with another clock?)" % (
                    what, k, t2, t, t2 - t)


def now_ms():
    return int(time.time() * 1000)


@pytest.fixture(params=["commands", "effects"])
def effects(request, monkeypatch):
    """Each command logged as itself, or (RF_AOF_EFFECTS=always, a test
    hook) as the state it left in its keys, which is what a command that
    straddles a checkpoint's CPR point logs."""
    if request.param == "effects":
        monkeypatch.setenv("RF_AOF_EFFECTS", "always")
    return request.param


def test_commands_replayed_after_kill9(start_server, effects):
    """appendfsync always, no checkpoint: keys in two databases, FLUSHALL,
    then SET EX/PX/KEEPTTL, EXPIRE, PEXPIREAT, PERSIST, a PEXPIREAT in the
    past, INCRBYFLOAT, INCRBY, DECRBY, APPEND, SETRANGE, DEL of several
    keys, UNLINK, RENAME, RENAMENX, MSET, MSETNX, SETNX, GETSET, GETDEL,
    GETEX EX and PERSIST, SETEX, COPY (also to another database, and with
    REPLACE), SELECT on one connection (the same key in databases 0, 3 and
    4), FLUSHDB of one database, and a key with a 1.5 s TTL that expires
    before the kill.  At least 2.5 s pass between the commands and the
    kill.  After kill -9 and restart: every key of every database has the
    same value and expiry time (within 250 ms: replayed with the original
    clock, not reset to the full TTL), the expired and deleted keys stay
    gone, and the keys from before FLUSHALL do not come back."""
    srv = start_server(aof("always"))
    c = srv.client()
    c3 = srv.client(db=3)
    c5 = srv.client(db=5)
    c6 = srv.client(db=6)
    raw = RawConn(srv.port)

    # before FLUSHALL
    c.set("pre:1", "x")
    c.set("pre:ttl", "y", ex=1000)
    c3.set("pre:3", "z")
    c.set("same", "before flushall")
    assert c.flushall() is True
    assert c.dbsize() == 0 and c3.dbsize() == 0

    t_first = time.monotonic()
    c.set("ttl:ex", "v", ex=100)
    c.set("ttl:px", "v", px=100_000)
    c.set("ttl:short", "gone soon", px=1500)
    c.set("ttl:expire", "v")
    assert c.expire("ttl:expire", 200) is True
    at = now_ms() + 300_000
    c.set("ttl:at", "v")
    assert c.pexpireat("ttl:at", at) is True
    c.set("ttl:persist", "v", ex=50)
    assert c.persist("ttl:persist") is True
    c.set("ttl:past", "v")
    c.pexpireat("ttl:past", now_ms() - 1000)
    c.set("ttl:keep", "old", ex=400)
    c.set("ttl:keep", "new", keepttl=True)
    c.setex("ttl:setex", 600, "v")

    c.set("f", "10.5")
    f1 = raw.call("INCRBYFLOAT", "f", "0.1")  # raw: the reply's exact bytes
    f2 = raw.call("INCRBYFLOAT", "f", "-3.25e-1")
    f3 = raw.call("INCRBYFLOAT", "f:new", "3.0e3")
    c.set("n", "10")
    assert c.incrby("n", 32) == 42
    assert c.decrby("n", 50) == -8

    assert c.append("ap", "x") == 1
    for _ in range(3):
        c.append("ap", "yz")
    c.set("sr", "Hello World")
    assert c.setrange("sr", 6, "Redis") == 11
    assert c.setrange("sr:new", 5, "abc") == 8

    c.mset({"d:1": "1", "d:2": "2", "d:3": "3", "d:4": "4"})
    assert c.delete("d:1", "d:2", "d:3", "d:missing") == 3
    c.set("u:1", "1")
    assert c.unlink("u:1") == 1

    c.set("rn:src", "moved", ex=1000)
    c.set("rn:dst", "old")
    assert c.rename("rn:src", "rn:dst") is True
    c.set("rnx:src", "a")
    c.set("rnx:taken", "b")
    assert c.renamenx("rnx:src", "rnx:taken") is False
    assert c.renamenx("rnx:src", "rnx:free") is True

    c.mset({"m:1": "one", "m:2": "two", "m:3": "three"})
    c.mset({"m:2": "TWO", "m:4": "four"})
    assert c.msetnx({"mx:1": "a", "mx:2": "b"}) is True
    assert c.msetnx({"mx:2": "B", "mx:3": "c"}) is False
    assert c.setnx("nx", "first") is True
    assert c.setnx("nx", "second") is False
    c.set("gs", "old")
    assert c.getset("gs", "new") == b"old"

    c.set("gd", "gv")
    assert c.getdel("gd") == b"gv"
    c.set("ge", "gev")
    assert c.execute_command("GETEX", "ge", "EX", "200") == b"gev"
    c.set("ge:p", "v", ex=300)
    assert c.execute_command("GETEX", "ge:p", "PERSIST") == b"v"

    c.set("cp:src", "copied", ex=500)
    assert c.execute_command("COPY", "cp:src", "cp:dst") == 1
    assert c.execute_command("COPY", "cp:src", "cp:dst7", "DB", "7") == 1
    assert c.execute_command("COPY", "cp:src", "cp:dst") == 0
    c.set("cp:dst2", "old")
    assert c.execute_command("COPY", "cp:src", "cp:dst2", "REPLACE") == 1

    # SELECT: databases kept per connection, and through other connections
    c3.set("only3", "three")
    c3.set("same", "db3")
    c.set("same", "db0")
    assert raw.call("SELECT", "4") == "OK"
    assert raw.call("SET", "same", "db4") == "OK"
    assert raw.call("INCR", "ctr") == 1
    assert raw.call("SELECT", "3") == "OK"
    assert raw.call("APPEND", "same", "+raw") == 7
    assert raw.call("SELECT", "0") == "OK"
    assert raw.call("INCR", "ctr") == 1
    assert raw.call("INCR", "ctr") == 2

    # FLUSHDB of one database
    c5.mset({"k%d" % i: "v%d" % i for i in range(20)})
    c6.mset({"k%d" % i: "v%d" % i for i in range(5)})
    assert c5.flushdb() is True
    c5.set("after:flushdb", "x")

    expected = {
        (0, b"f"): f2,  # the last INCRBYFLOAT's reply is the value
        (0, b"f:new"): f3,
        (0, b"n"): b"-8",
        (0, b"ap"): b"xyzyzyz",
        (0, b"sr"): b"Hello Redis",
        (0, b"sr:new"): b"\x00" * 5 + b"abc",
        (0, b"d:1"): None, (0, b"d:3"): None, (0, b"d:4"): b"4",
        (0, b"u:1"): None,
        (0, b"rn:src"): None, (0, b"rn:dst"): b"moved",
        (0, b"rnx:src"): None, (0, b"rnx:taken"): b"b", (0, b"rnx:free"): b"a",
        (0, b"m:1"): b"one", (0, b"m:2"): b"TWO", (0, b"m:3"): b"three", (0, b"m:4"): b"four",
        (0, b"mx:1"): b"a", (0, b"mx:2"): b"b", (0, b"mx:3"): None,
        (0, b"nx"): b"first", (0, b"gs"): b"new",
        (0, b"gd"): None, (0, b"ge"): b"gev", (0, b"ge:p"): b"v",
        (0, b"cp:src"): b"copied", (0, b"cp:dst"): b"copied", (0, b"cp:dst2"): b"copied",
        (7, b"cp:dst7"): b"copied", (0, b"cp:dst7"): None,
        (0, b"only3"): None, (3, b"only3"): b"three",
        (0, b"same"): b"db0", (3, b"same"): b"db3+raw", (4, b"same"): b"db4",
        (0, b"ctr"): b"2", (4, b"ctr"): b"1",
        (5, b"k1"): None, (5, b"after:flushdb"): b"x", (6, b"k1"): b"v1", (6, b"k4"): b"v4",
        (0, b"ttl:past"): None, (0, b"ttl:keep"): b"new",
        (0, b"pre:1"): None, (0, b"pre:ttl"): None, (3, b"pre:3"): None,
    }

    def check_expected(what):
        for (db, k), v in expected.items():
            cl = srv.client(db=db)
            got = cl.get(k)
            cl.close()
            assert got == v, "%s: db %d %r is %r, expected %r" % (what, db, k, got, v)
        assert c.execute_command("PEXPIRETIME", "ttl:at") == at, what
        assert c.ttl("ttl:persist") == -1 and c.ttl("ge:p") == -1, what
        assert c.ttl("ttl:keep") > 0 and c.ttl("rn:dst") > 0, what
        assert c5.dbsize() == 1, what

    check_expected("before the kill")
    assert f1 == b"10.6", f1
    # let the short TTL run out, and time pass so that a TTL replayed with
    # the restart's clock would differ by > 2 s
    wait_until(lambda: c.get("ttl:short") is None, 10 * SLOW, "ttl:short to expire")
    hold_for(c, max(0.0, 2.5 - (time.monotonic() - t_first)))
    before = dump(srv)
    pttl_before = c.pttl("ttl:ex")
    t_dump = time.monotonic()
    assert (0, b"ttl:short") not in before
    raw.close()
    for cl in (c, c3, c5, c6):
        cl.close()

    srv.kill9()
    srv.restart(RESTART_TIMEOUT)
    assert_replayed_some(srv)
    c = srv.client()
    c5 = srv.client(db=5)
    elapsed_ms = (time.monotonic() - t_dump) * 1000  # at most the time between the two PTTLs
    pttl_after = c.pttl("ttl:ex")
    assert c.get("ttl:short") is None, "a key that had expired came back"
    # the TTL kept running while the server was down: not reset to 100 s
    assert pttl_after <= pttl_before - elapsed_ms + TTL_SLACK_MS, \
        (pttl_before, pttl_after, elapsed_ms)
    assert pttl_after <= 100_000 - 2000, pttl_after
    assert pttl_after > 90_000, pttl_after
    compare_dumps(before, dump(srv), "after kill -9 and restart")
    check_expected("after kill -9 and restart")
    c.close()
    c5.close()


def test_flushes_replayed_over_a_checkpoint(start_server):
    """Keys in databases 0, 5 and 6, BGSAVE; then FLUSHDB of database 5, a
    new key there and an overwrite in 0; kill -9: the checkpoint's keys of
    database 5 stay gone, the others are there.  Then FLUSHALL (no save
    points: nothing saves it) and two new keys, kill -9: only those two
    exist."""
    srv = start_server(aof("always"))
    c = srv.client()
    c5 = srv.client(db=5)
    c6 = srv.client(db=6)
    raw = RawConn(srv.port, timeout=SAVE_TIMEOUT)
    c.mset({"a:%d" % i: "a%d" % i for i in range(100)})
    c5.mset({"b:%d" % i: "b%d" % i for i in range(100)})
    c6.mset({"c:%d" % i: "c%d" % i for i in range(100)})
    version = bgsave_and_wait(c, raw)
    assert c5.flushdb() is True
    c5.set("b:new", "1")
    c.set("a:1", "changed")
    raw.close()
    for cl in (c, c5, c6):
        cl.close()
    srv.kill9()

    srv.restart(RESTART_TIMEOUT)
    assert recovered_version(srv) == version
    c, c5, c6 = srv.client(), srv.client(db=5), srv.client(db=6)
    assert c5.dbsize() == 1 and c5.get("b:new") == b"1" and c5.get("b:1") is None
    assert c.dbsize() == 100 and c.get("a:1") == b"changed" and c.get("a:2") == b"a2"
    assert c6.dbsize() == 100 and c6.get("c:99") == b"c99"

    assert c.flushall() is True
    c.set("post", "1")
    c6.set("c:new", "2")
    for cl in (c, c5, c6):
        cl.close()
    srv.kill9()
    srv.restart(RESTART_TIMEOUT)
    assert recovered_version(srv) == version
    dumped = dump(srv)
    assert dumped == {(0, b"post"): (b"1", -1), (6, b"c:new"): (b"2", -1)}, dumped


# ---- 5: everysec and no -------------------------------------------------------------

@pytest.mark.parametrize("fsync", ["everysec", "no"])
def test_periodic_commit_survives_kill9(start_server, fsync):
    """appendfsync everysec / no: the four threads run to the end, then
    INFO aof_buffer_length is polled until 0 and the server is killed at
    once: everything is there, exactly.  After the restart more writes,
    2.5 s pass (INFO sampled), kill -9: both runs' writes are there.
    (With `no` the commits reach the OS without fsync, which a process
    crash does not lose.)"""
    srv = start_server(aof(fsync))
    c = srv.client()
    assert c.config_get("appendfsync") == {"appendfsync": fsync}
    first = start_writers(srv, "p1", TOTAL_OPS // 2)
    finish(first)
    seen = persistence(c)["aof_buffer_length"]
    wait_aof_synced(c)
    c.close()
    srv.kill9()
    srv.restart(RESTART_TIMEOUT)
    assert_replayed_some(srv)
    verify(srv, first, True, "%s, killed once aof_buffer_length was 0" % fsync)

    second = start_writers(srv, "p2", TOTAL_OPS // 2)
    finish(second)
    c = srv.client()
    hold_for(c, 2.5)
    c.close()
    srv.kill9()
    srv.restart(RESTART_TIMEOUT)
    verify(srv, first, True, "%s, first run after the second kill" % fsync)
    verify(srv, second, True, "%s, killed 2.5 s after the last write" % fsync)
    c = srv.client()
    assert c.dbsize() == expected_dbsize(first) + expected_dbsize(second)
    c.close()
    print("\n%s: aof_buffer_length right after the writes: %d" % (fsync, seen))


# ---- 6: restarts in a row -----------------------------------------------------------

def test_restart_twice_no_double_application(start_server):
    """appendfsync always: writers and a client doing INCR, APPEND and
    INCRBYFLOAT on the same keys in each run; kill -9, restart, more of the
    same, kill -9, restart; then kill -9 and restart with no write between.
    After each restart every write of every run is there exactly once: the
    counters equal the acknowledged INCRs of all runs together, the APPENDed
    string is the runs' pieces in order."""
    srv = start_server(aof("always"))
    k = 500 // (2 if SANITIZER else 1)
    log_expected = b""
    runs = []

    def run(tag, base):
        nonlocal log_expected
        writers = start_writers(srv, tag, TOTAL_OPS // 4)
        c = srv.client()
        for i in range(k):
            assert c.incr("both:ctr") == base + i + 1
            piece = ("%s%d;" % (tag, i)).encode()
            log_expected += piece
            assert c.append("both:log", piece) == len(log_expected)
            c.execute_command("INCRBYFLOAT", "both:f", "0.5")
        c.close()
        finish(writers)
        runs.append(writers)

    def check(what, total):
        for w in runs:
            verify(srv, w, True, what)
        c = srv.client()
        assert c.get("both:ctr") == b"%d" % total, (what, c.get("both:ctr"), total)
        assert c.get("both:log") == log_expected, what
        assert float(c.get("both:f")) == 0.5 * total, (what, c.get("both:f"))
        assert c.dbsize() == sum(expected_dbsize(w) for w in runs) + 3, what
        c.close()

    run("x1", 0)
    srv.kill9()
    srv.restart(RESTART_TIMEOUT)
    n1 = assert_replayed_some(srv)
    check("after the first restart", k)

    run("x2", k)
    srv.kill9()
    srv.restart(RESTART_TIMEOUT)
    n2 = assert_replayed_some(srv)
    check("after the second restart", 2 * k)

    srv.kill9()
    srv.restart(RESTART_TIMEOUT)
    n3 = aof_replayed(srv)
    check("after a third restart with no write between", 2 * k)
    print("\nAOF entries replayed: %s, %s, %s" % (n1, n2, n3))


# ---- 7: INFO, CONFIG, refusals -------------------------------------------------------

AOF_INFO = ("aof_enabled", "aof_last_write_status", "aof_current_size", "aof_base_size",
            "aof_buffer_length", "aof_rewrite_in_progress")


def test_info_and_config(start_server):
    """INFO persistence has the aof_* fields with sensible values (size
    grows with writes, nothing left unwritten once an always-write replied);
    CONFIG GET appendonly/appendfsync/appenddirname; CONFIG SET appendonly
    refused either way (it stays on); CONFIG SET appendfsync to everysec,
    no and back to always accepted, a bad value refused; the AOF folder is
    dir/appendonlydir; and after all that a write acknowledged under
    always survives kill -9."""
    srv = start_server(aof("always"))
    c = srv.client()
    inf = persistence(c)
    for field in AOF_INFO:
        assert field in inf, (field, inf)
    assert inf["aof_enabled"] == 1, inf
    assert inf["aof_last_write_status"] == "ok", inf
    assert inf["aof_rewrite_in_progress"] == 0, inf
    for field in ("aof_current_size", "aof_base_size", "aof_buffer_length"):
        assert isinstance(inf[field], int) and inf[field] >= 0, (field, inf)
    size0 = inf["aof_current_size"]
    set_many(srv, [("i:%05d" % i, bulk_value(i)) for i in range(2000)])
    inf = persistence(c)
    assert inf["aof_current_size"] >= size0 + 2000 * 200, (size0, inf)
    assert inf["aof_buffer_length"] == 0, \
        "always: the replies came, yet bytes are not durable: %r" % inf
    assert inf["aof_last_write_status"] == "ok", inf

    assert c.config_get("appendonly") == {"appendonly": "yes"}
    assert c.config_get("appendfsync") == {"appendfsync": "always"}
    assert c.config_get("appenddirname") == {"appenddirname": "appendonlydir"}
    aof_dir = os.path.join(srv.dir, "data", "appendonlydir")
    assert os.path.isdir(aof_dir) and os.listdir(aof_dir), aof_dir

    for v in ("no", "yes"):
        with pytest.raises(redis.exceptions.ResponseError) as e:
            c.config_set("appendonly", v)
        assert str(e.value).startswith("CONFIG SET failed") or \
            str(e.value).startswith("ERR CONFIG SET failed"), str(e.value)
    assert c.config_get("appendonly") == {"appendonly": "yes"}
    assert persistence(c)["aof_enabled"] == 1

    raw = RawConn(srv.port)
    reply = raw.call("CONFIG", "SET", "appendonly", "no")
    assert isinstance(reply, RawError) and str(reply).startswith("ERR CONFIG SET failed"), reply
    for v in ("everysec", "no", "always"):
        assert c.config_set("appendfsync", v) is True
        assert c.config_get("appendfsync") == {"appendfsync": v}
        c.set("fsync:%s" % v, v)
    reply = raw.call("CONFIG", "SET", "appendfsync", "sometimes")
    assert isinstance(reply, RawError) and str(reply).startswith("ERR CONFIG SET failed"), reply
    assert c.config_get("appendfsync") == {"appendfsync": "always"}
    assert raw.call("SET", "last", "acknowledged") == "OK"
    raw.close()
    c.close()

    srv.kill9()
    srv.restart(RESTART_TIMEOUT)
    c = srv.client()
    assert c.get("last") == b"acknowledged"
    assert c.mget("fsync:everysec", "fsync:no", "fsync:always") == [b"everysec", b"no", b"always"]
    check_values(c, ["i:%05d" % i for i in range(2000)], [bulk_value(i) for i in range(2000)],
                 "pipelined SETs")
    c.close()


def test_appendonly_off(start_server):
    """Without --appendonly: aof_enabled:0, CONFIG GET appendonly no, and a
    kill -9 loses the writes since the last checkpoint (which shows the
    kill in these tests is a real crash)."""
    srv = start_server()
    c = srv.client()
    inf = persistence(c)
    assert inf.get("aof_enabled") == 0, inf
    assert c.config_get("appendonly") == {"appendonly": "no"}
    c.set("k", "v")
    c.close()
    srv.kill9()
    srv.restart(RESTART_TIMEOUT)
    c = srv.client()
    assert c.get("k") is None
    assert aof_replayed(srv) in (None, 0)
    c.close()


def test_appenddirname(start_server):
    """--appenddirname custom-aof: the AOF lives in dir/custom-aof (no
    appendonlydir), CONFIG GET says so, and the restart replays it."""
    srv = start_server(aof("always", "--appenddirname", "custom-aof"))
    c = srv.client()
    assert c.config_get("appenddirname") == {"appenddirname": "custom-aof"}
    c.set("where", "custom")
    c.close()
    data = os.path.join(srv.dir, "data")
    custom = os.path.join(data, "custom-aof")
    assert os.path.isdir(custom) and os.listdir(custom), custom
    assert not os.path.exists(os.path.join(data, "appendonlydir"))
    srv.kill9()
    srv.restart(RESTART_TIMEOUT)
    c = srv.client()
    assert c.get("where") == b"custom"
    c.close()


def test_appendonly_in_cache_mode_is_refused():
    """--appendonly yes with --storage-tier no (a cache: no device to
    replay onto) is refused at start: the process exits non-zero with a
    message naming the options."""
    d = tempfile.mkdtemp(prefix="rf-test-")
    cmd = [BINARY, "--port", str(free_port()), "--dir", os.path.join(d, "data"),
           "--log-memory-size", "256mb", "--index-size", "16mb", "--hugepages", "no",
           "--save", "", "--appendonly", "yes", "--storage-tier", "no"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=d)
    try:
        out, _ = proc.communicate(timeout=10 * SLOW)
    except subprocess.TimeoutExpired:
        proc.kill()  # by its pid
        proc.wait()
        pytest.fail("the server started with appendonly yes and storage-tier no")
    finally:
        shutil.rmtree(d, ignore_errors=True)
    text = out.decode(errors="replace")
    assert proc.returncode > 0, (proc.returncode, text)
    assert re.search(r"(?i)append|storage-tier", text), text


# ---- 8: checkpoints truncate the AOF -------------------------------------------------

def test_checkpoints_bound_the_aof(start_server):
    """ROUND keys (200 bytes) are overwritten five times, with a BGSAVE
    after each round.  The first checkpoint keeps the AOF as a spare; from
    the second one on, the AOF shrinks below its size before that BGSAVE,
    and it stays within about two rounds' worth however many rounds run.
    Then kill -9: the newest checkpoint is recovered, no entry after it is
    replayed, and every key has its last value."""
    srv = start_server(aof("always"))
    c = srv.client()
    raw = RawConn(srv.port, timeout=SAVE_TIMEOUT)
    n = 5_000 if SANITIZER else 20_000
    keys = ["t:%06d" % i for i in range(n)]
    sizes = []
    round_bytes = None
    version = None
    for round_ in range(5):
        start = persistence(c)["aof_current_size"]
        set_many(srv, [(k, bulk_value(i, round_)) for i, k in enumerate(keys)])
        before = persistence(c)["aof_current_size"]
        if round_bytes is None:
            round_bytes = before - start
            assert round_bytes >= n * 200, (start, before)
        version = bgsave_and_wait(c, raw)
        if round_ >= 1:
            wait_until(lambda: persistence(c)["aof_current_size"] < before, 10 * SLOW,
                       "the AOF to shrink after checkpoint %d (%d bytes before it)"
                       % (round_ + 1, before))
            after = persistence(c)["aof_current_size"]
            assert after <= 2.5 * round_bytes, (round_, after, round_bytes)
        sizes.append((before, persistence(c)["aof_current_size"]))
    inf = persistence(c)
    assert inf["aof_last_write_status"] == "ok" and inf["aof_base_size"] >= 0, inf
    raw.close()
    c.close()
    print("\nAOF size before/after each checkpoint (one round %d bytes): %s" % (round_bytes, sizes))

    srv.kill9()
    srv.restart(RESTART_TIMEOUT)
    assert recovered_version(srv) == version
    replayed = aof_replayed(srv)
    assert replayed in (None, 0), \
        "%s entries replayed after a checkpoint with no write after it" % replayed
    c = srv.client()
    check_values(c, keys, [bulk_value(i, 4) for i in range(n)], "after the last checkpoint")
    c.set("after", "restart")
    c.close()
    srv.kill9()
    srv.restart(RESTART_TIMEOUT)
    c = srv.client()
    assert c.get("after") == b"restart"
    check_values(c, keys, [bulk_value(i, 4) for i in range(n)], "after a second restart")
    c.close()


# ---- commands that straddle a checkpoint's CPR point ----------------------------

def test_renames_straddling_a_checkpoint_survive_kill9(start_server):
    """RENAME takes its source out, then writes its destination: two
    engine operations, and a session can move to the next checkpoint
    version between them.  The checkpoint then holds the source deleted
    and no destination; replaying the whole RENAME over it would find no
    source and lose the value.  The AOF logs the resulting state of the
    keys of such a command instead.  Each round: threads pass tokens back
    and forth by RENAME in large raw pipelines while one BGSAVE runs; once
    every reply is in, kill -9 and restart: every token is still there,
    under the name it had, and the replay reports no failed command.
    (Without the fix the test failed 5 runs of 7, in one of its first
    rounds.)"""
    srv = start_server(aof("always", "--io-threads", "2"))
    c = srv.client()
    raw = RawConn(srv.port)
    n = 6
    names = ["r%s%d" % (x, i) for i in range(n) for x in "ab"]
    for i in range(n):
        c.set("ra%d" % i, "token%d" % i)
    want = {"ra%d" % i: b"token%d" % i for i in range(n)}

    def state(cl):
        # (Not KEYS: millions of RENAMEs leave long chains for it to walk.)
        return {k: v for k, v in zip(names, cl.mget(names)) if v is not None}

    def mover(i, stop, errors):
        # Raw batches of 2000 RENAMEs (an even number: the token ends
        # each batch where it started), so that a worker runs long
        # stretches of them and refreshes inside some.
        a, b = b"ra%d" % i, b"rb%d" % i
        batch = (resp("RENAME", a, b) + resp("RENAME", b, a)) * 1000
        size = 5 * 2000  # "+OK\r\n" each
        try:
            with socket.create_connection(("127.0.0.1", srv.port), timeout=60) as s:
                while not stop.is_set():
                    s.sendall(batch)
                    got = b""
                    while len(got) < size:
                        chunk = s.recv(65536)
                        assert chunk, "connection closed"
                        got += chunk
                    assert got == b"+OK\r\n" * 2000, got[:200]
        except Exception as e:  # recorded, checked below
            errors.append(repr(e))

    for rnd in range(8 if not SANITIZER else 3):
        stop, errors = threading.Event(), []
        threads = [threading.Thread(target=mover, args=(i, stop, errors)) for i in range(n)]
        for t in threads:
            t.start()
        bgsave_and_wait(c, raw)
        stop.set()
        for t in threads:
            t.join()
        assert not errors, errors
        assert state(c) == want, (rnd, state(c))
        srv.kill9()
        srv.restart(timeout=RESTART_TIMEOUT)
        c = srv.client()
        raw = RawConn(srv.port)
        after = state(c)
        assert after == want, "round %d: after the restart %r" % (rnd, after)
        assert "replaying" not in srv.run_log(), srv.run_log()[-2000:]
