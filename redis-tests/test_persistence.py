"""Persistence through the server (issue 5): CPR checkpoints taken by SAVE,
BGSAVE, autosave and SHUTDOWN SAVE, and recovery at start-up after a crash
(kill -9).

What a checkpoint must hold: every write acknowledged before the BGSAVE
that started it was sent; it may hold some later ones, but for each client
connection only a prefix of its operations (CPR: a consistent point per
session).  Nothing written after the newest completed checkpoint needs to
survive a crash (there is no AOF yet), and with no later checkpoint started
it must not come back either.

How the tests know: values are derived from their key (and a version), so
a reply can be checked without keeping the data set in the test; counters
are incremented by one thread each, in a fixed round-robin order over its
own keys, recording what was sent and what was acknowledged, so the values
recovered after a crash must lie between the acknowledged values before the
BGSAVE was sent and the values sent before the save was seen complete, and
one thread's counters must be a prefix of its sequence (they differ by at
most one and do not rise along its key order).

Every server here is started with `--save ""` (no autosave, which would
take checkpoints the test does not know of) except where autosave is what
is tested.  A save is "complete" when INFO persistence says
rdb_bgsave_in_progress:0 and rdb_saves has grown; the tests poll for it
with a deadline.

Sizes and times: RF_SANITIZE (set by make SANITIZE=...) scales data down
and deadlines up; RF_SLOW=1 runs the crash loop 100 times instead of 20;
RF_CRASH_LOOPS=N sets that count; RF_SEED=N replays the random choices of
a failed run (the seed is printed, and named in failures).  The file takes
about 55 s on the 2-core development machine (the million keys ~12 s, the
crash loop ~15 s), about 60 s under ASan, and the crash loop ~95 s more
with RF_SLOW=1.
"""
import os
import random
import re
import signal
import socket
import threading
import time

import pytest
import redis

from conftest import persistence, RawConn, RawError, resp, saves, wait_saved, wait_until, WriterThread

MB = 1 << 20
SANITIZER = os.environ.get("RF_SANITIZE", "")
SLOW = 4 if SANITIZER else 1
NO_AUTOSAVE = ["--save", ""]
BATCH = 1000
# Recovery reads the index file and the log's tail back: allow it time.
RESTART_TIMEOUT = 60.0 * SLOW
SAVE_TIMEOUT = 60.0 * SLOW
IN_PROGRESS = "ERR Background save already in progress"


# ---- helpers ------------------------------------------------------------------

def bgsave(raw):
    reply = raw.call("BGSAVE")
    assert reply == "Background saving started", reply


def checkpoint_dirs(srv):
    """{version: folder} of the valid-looking checkpoint folders (name
    ckpt-<20 digits>) in the server's data directory."""
    data = os.path.join(srv.dir, "data")
    out = {}
    for name in os.listdir(data) if os.path.isdir(data) else ():
        m = re.fullmatch(r"ckpt-(\d{20})", name)
        if m:
            out[int(m.group(1))] = os.path.join(data, name)
    return out


def recovered_version(srv):
    """The N of this run's "Recovered checkpoint N" log line (fails when
    the line is missing)."""
    m = re.search(r"Recovered checkpoint (\d+)", srv.run_log())
    assert m, "no 'Recovered checkpoint' line in the log of this run:\n" + srv.run_log()[-3000:]
    return int(m.group(1))


def bulk(v):
    return b"$-1\r\n" if v is None else b"$%d\r\n%s\r\n" % (len(v), v)


class Fast:
    """Pipelines whose replies are known in advance: sends the requests as
    one buffer and compares the reply bytes with the expected ones as they
    arrive (no reply parsing in Python, so a million keys take seconds)."""

    def __init__(self, port, timeout=60 * SLOW):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)

    def close(self):
        self.sock.close()

    def exchange(self, payload, expected):
        """Returns None when the replies were exactly `expected`, else the
        bytes received up to and including the first difference."""
        self.sock.sendall(payload)
        got = bytearray()
        while len(got) < len(expected):
            chunk = self.sock.recv(min(max(65536, len(expected) - len(got)), MB))
            if not chunk:
                return bytes(got) + b"<connection closed>"
            old = len(got)
            got += chunk
            if got[old:] != expected[old:len(got)]:
                return bytes(got)
        return None

    def set_many(self, items):
        """SETs (key, value) pairs in pipelines of BATCH; every reply +OK."""
        for lo in range(0, len(items), BATCH):
            part = items[lo:lo + BATCH]
            bad = self.exchange(b"".join(resp("SET", k, v) for k, v in part), b"+OK\r\n" * len(part))
            assert bad is None, "SET pipeline replied %r" % bad[-200:]

    def mget_equals(self, keys, values):
        """True when MGET keys (in batches of BATCH) returns exactly
        values; False at the first batch that differs."""
        for lo in range(0, len(keys), BATCH):
            ks, vs = keys[lo:lo + BATCH], values[lo:lo + BATCH]
            expected = b"*%d\r\n" % len(ks) + b"".join(bulk(v) for v in vs)
            if self.exchange(resp("MGET", *ks), expected) is not None:
                return False
        return True


def check_exact(srv, keys, values, what):
    """Every key has exactly its value (None: absent).  Compares raw reply
    bytes; on a difference, names the first keys that differ."""
    f = Fast(srv.port)
    try:
        if f.mget_equals(keys, values):
            return
    finally:
        f.close()
    c = srv.client()
    wrong = []
    for lo in range(0, len(keys), BATCH):
        got = c.mget(keys[lo:lo + BATCH])
        for k, v, g in zip(keys[lo:lo + BATCH], values[lo:lo + BATCH], got):
            if g != v:
                wrong.append((k, v, g))
    c.close()
    pytest.fail("%s: %d of %d keys differ, first: %r" % (what, len(wrong), len(keys), wrong[:5]))


def mget_all(c, keys):
    out = []
    for lo in range(0, len(keys), BATCH):
        out += c.mget(keys[lo:lo + BATCH])
    return out


def short_value(i):
    """~36 bytes that name the key's number."""
    return (b"v%d." % i) * max(1, 36 // (len(str(i)) + 2))


VALUE_SIZE = 200


def long_value(i, version=0):
    """200 bytes that name the key's number and a version."""
    unit = b"v%05d.k%09d|" % (version, i)
    return (unit * (VALUE_SIZE // len(unit) + 1))[:VALUE_SIZE]


def parse_long_value(v):
    """(key number, version) of a value made by long_value(), or None when
    v is not one."""
    if v is None or len(v) != VALUE_SIZE or b"|" not in v:
        return None
    unit = v[:v.index(b"|") + 1]
    try:
        version, i = int(unit[1:6]), int(unit[8:17])
    except ValueError:
        return None
    return (i, version) if v == long_value(i, version) else None


def engine(c):
    out = {}
    for section in ("engine", "memory"):
        out.update(c.info(section))
    return out


# ---- counters incremented by threads, for the race and crash tests -------------

class CounterWriter(WriterThread):
    """One client thread that INCRs its own keys in a fixed round-robin
    order, one command at a time.  sent[j] counts the INCRs of key j sent
    (raised before sending), acked[j] the value the last reply returned;
    both start at the key's current value.  Each reply must be exactly the
    acknowledged value plus one (nobody else writes these keys)."""

    def __init__(self, srv, tid, nkeys, start=None):
        self.keys = ["c:%d:%03d" % (tid, j) for j in range(nkeys)]
        start = list(start) if start is not None else [0] * nkeys
        self.acked = list(start)
        self.sent = list(start)
        self.pos = sum(start) % nkeys  # the next key of the sequence
        self.ops = 0
        WriterThread.__init__(self, srv)

    lost = (redis.exceptions.ConnectionError, OSError)

    def work(self, c):
        while not self.stop.is_set():
            j = self.pos
            self.sent[j] += 1
            v = c.incr(self.keys[j])
            if v != self.acked[j] + 1:
                raise AssertionError("INCR %s returned %d after %d was acknowledged"
                                     % (self.keys[j], v, self.acked[j]))
            self.acked[j] = v
            self.pos = (j + 1) % len(self.keys)
            self.ops += 1


def wait_ops(writers, n, what):
    """Waits until the writers have done n more operations in all (a
    random amount of work instead of a random sleep)."""
    start = sum(w.ops for w in writers)

    def enough():
        for w in writers:
            if w.error is not None:
                raise w.error
        return sum(w.ops for w in writers) - start >= n

    wait_until(enough, 60 * SLOW, "%d operations (%s)" % (n, what))


def check_prefix(keys, values, what):
    """One thread's counters, recovered: the state after a prefix of its
    round-robin sequence (values non-increasing along the key order, and
    the first at most one more than the last)."""
    ok = all(a >= b for a, b in zip(values, values[1:])) and values[0] - values[-1] <= 1
    assert ok, "%s: %s..%s are not a prefix of the round-robin sequence: %s" % (
        what, keys[0], keys[-1], values)


def read_counters(c, keys):
    return [int(v) if v is not None else 0 for v in mget_all(c, keys)]


# ---- 1: a million keys survive kill -9 -------------------------------------------

ONE_M = 200_000 if SANITIZER else 1_000_000


def test_bgsave_million_keys_survive_kill9(start_server):
    """ONE_M keys (1,000,000; 200,000 under sanitizers) SET in pipelines,
    BGSAVE, wait until it completes (rdb_saves, checkpoint_version and
    LASTSAVE move), kill -9, restart on the same directory: the log says
    which checkpoint was recovered (the one INFO named), and every key has
    its value (MGET in batches of 1,000)."""
    t0 = time.monotonic()
    srv = start_server(NO_AUTOSAVE)
    assert re.search(r"No valid checkpoint.*starting empty", srv.run_log()), srv.run_log()[-2000:]
    c = srv.client()
    raw = RawConn(srv.port, timeout=30 * SLOW)
    inf0 = persistence(c)
    assert inf0["loading"] == 0 and inf0["rdb_bgsave_in_progress"] == 0, inf0
    lastsave0 = raw.call("LASTSAVE")
    keys = ["k:%07d" % i for i in range(ONE_M)]
    values = [short_value(i) for i in range(ONE_M)]
    f = Fast(srv.port)
    f.set_many(list(zip(keys, values)))
    f.close()
    t_load = time.monotonic() - t0
    assert persistence(c)["rdb_changes_since_last_save"] >= ONE_M

    t1 = time.monotonic()
    bgsave(raw)
    inf = wait_saved(c, inf0["rdb_saves"])
    t_save = time.monotonic() - t1
    assert inf["checkpoint_version"] != inf0["checkpoint_version"], (inf0, inf)
    assert inf["checkpoint_size"] > 0, inf
    assert raw.call("LASTSAVE") >= lastsave0
    assert inf["rdb_last_save_time"] >= lastsave0
    version = inf["checkpoint_version"]
    assert version in checkpoint_dirs(srv), (version, checkpoint_dirs(srv))
    raw.close()
    c.close()

    assert srv.kill9() == -9
    t2 = time.monotonic()
    srv.restart(RESTART_TIMEOUT)
    t_restart = time.monotonic() - t2
    assert recovered_version(srv) == version
    c = srv.client()
    assert persistence(c)["loading"] == 0
    assert c.dbsize() == ONE_M
    t3 = time.monotonic()
    check_exact(srv, keys, values, "after kill -9 and restart")
    print("\n%d keys: load %.1f s, BGSAVE %.1f s, restart %.1f s, check %.1f s"
          % (ONE_M, t_load, t_save, t_restart, time.monotonic() - t3))
    c.close()


# ---- 2: writes racing with BGSAVE ----------------------------------------------

@pytest.mark.parametrize("ckpt_type", ["foldover", "snapshot"])
def test_writes_racing_with_bgsave(start_server, ckpt_type):
    """Four threads INCR their own 20 keys each while BGSAVE runs (over
    100,000 other keys, so that the save takes a while).  After kill -9 and
    restart each counter is at least what was acknowledged before BGSAVE
    was sent, at most what had been sent when the save was seen complete
    (and so at most its final acknowledged value), and each thread's
    counters are a prefix of its round-robin sequence.  Both checkpoint
    types."""
    srv = start_server(NO_AUTOSAVE + ["--checkpoint-type", ckpt_type])
    f = Fast(srv.port)
    f.set_many([("base:%06d" % i, short_value(i)) for i in range(100_000 // SLOW)])
    f.close()
    c = srv.client()
    raw = RawConn(srv.port, timeout=30 * SLOW)
    writers = [CounterWriter(srv, t, 20) for t in range(4)]
    for w in writers:
        w.start()
    wait_ops(writers, 2000, "writes before BGSAVE")
    before = saves(c)
    lower = [list(w.acked) for w in writers]
    bgsave(raw)
    after_reply = [list(w.acked) for w in writers]
    wait_saved(c, before)
    upper = [list(w.sent) for w in writers]
    wait_ops(writers, 2000, "writes after the save")
    for w in writers:
        w.join()
    final = [list(w.acked) for w in writers]
    raw.close()
    c.close()

    srv.kill9()
    srv.restart(RESTART_TIMEOUT)
    recovered_version(srv)
    c = srv.client()
    moved = 0
    for t, w in enumerate(writers):
        got = read_counters(c, w.keys)
        for j, k in enumerate(w.keys):
            assert lower[t][j] <= got[j] <= upper[t][j] <= final[t][j], \
                "%s: recovered %d, acknowledged before BGSAVE %d, sent before the save " \
                "completed %d, final %d" % (k, got[j], lower[t][j], upper[t][j], final[t][j])
            moved += got[j] > after_reply[t][j]
        check_prefix(w.keys, got, "thread %d" % t)
    assert c.get("base:000007") == short_value(7)
    print("\nrace: %d of 80 counters hold writes acknowledged after BGSAVE's reply" % moved)
    c.close()


# ---- 3: SHUTDOWN SAVE / NOSAVE ------------------------------------------------------

def shutdown(srv, *args):
    """Sends SHUTDOWN args; the server closes the connection without a
    reply and exits 0."""
    raw = RawConn(srv.port, timeout=30 * SLOW)
    raw.send("SHUTDOWN", *args)
    try:
        reply = raw.read()
    except (ConnectionError, OSError):
        reply = None
    raw.close()
    assert reply is None, "SHUTDOWN %s replied %r" % (" ".join(args), reply)
    assert srv.wait_exit(SAVE_TIMEOUT) == 0, srv.read_log()[-2000:]


def test_shutdown_save_and_nosave(start_server):
    """SHUTDOWN SAVE (with no save points configured) takes a final
    checkpoint: after a restart every key is there.  Then BGSAVE, more
    writes (new keys, overwrites, a delete), SHUTDOWN NOSAVE: after a
    restart the keys are as at the BGSAVE, and none of the later writes is
    there."""
    srv = start_server(NO_AUTOSAVE)
    n = 20_000
    keys = ["s:%05d" % i for i in range(n)]
    f = Fast(srv.port)
    f.set_many([(k, short_value(i)) for i, k in enumerate(keys)])
    f.close()
    shutdown(srv, "SAVE")
    assert "Recovered checkpoint" not in srv.run_log()

    srv.restart(RESTART_TIMEOUT)
    recovered_version(srv)
    check_exact(srv, keys, [short_value(i) for i in range(n)], "after SHUTDOWN SAVE")

    c = srv.client()
    raw = RawConn(srv.port)
    c.set("pre:1", "one")
    before = saves(c)
    bgsave(raw)
    version = wait_saved(c, before)["checkpoint_version"]
    raw.close()
    c.set("post:1", "two")
    c.set("s:00001", "overwritten")
    c.delete("s:00002")
    c.incr("post:counter")
    c.close()
    shutdown(srv, "NOSAVE")

    srv.restart(RESTART_TIMEOUT)
    assert recovered_version(srv) == version
    c = srv.client()
    assert c.get("pre:1") == b"one"
    assert c.get("post:1") is None
    assert c.get("post:counter") is None
    assert c.get("s:00001") == short_value(1)
    assert c.get("s:00002") == short_value(2)
    assert c.dbsize() == n + 1
    c.close()


def test_shutdown_save_keeps_every_acknowledged_write(start_server):
    """SHUTDOWN SAVE while four threads INCR their counters: the final
    checkpoint is taken after the workers stop, so after a restart every
    counter holds at least its last acknowledged value (and at most what
    was sent)."""
    srv = start_server(NO_AUTOSAVE)
    writers = [CounterWriter(srv, t, 20) for t in range(4)]
    for w in writers:
        w.start()
    wait_ops(writers, 3000, "writes before SHUTDOWN SAVE")
    for w in writers:
        w.dying.set()
    shutdown(srv, "SAVE")
    for w in writers:
        w.join()
    srv.restart(RESTART_TIMEOUT)
    recovered_version(srv)
    c = srv.client()
    for t, w in enumerate(writers):
        got = read_counters(c, w.keys)
        for j, k in enumerate(w.keys):
            assert w.acked[j] <= got[j] <= w.sent[j], \
                "%s: recovered %d, last acknowledged %d, sent %d" % (k, got[j], w.acked[j], w.sent[j])
        check_prefix(w.keys, got, "thread %d" % t)
    c.close()


def test_shutdown_default_saves_only_with_save_points(start_server):
    """Plain SHUTDOWN saves when save points are configured (CONFIG SET
    save) and not when `save ""`; so does SIGTERM."""
    srv = start_server(NO_AUTOSAVE)
    c = srv.client()
    c.set("a", "1")
    c.close()
    shutdown(srv)
    srv.restart(RESTART_TIMEOUT)
    c = srv.client()
    assert c.get("a") is None, "SHUTDOWN saved with no save points configured"
    assert c.config_set("save", "3600 1") is True
    assert c.config_get("save") == {"save": "3600 1"}
    c.set("b", "2")
    c.close()
    shutdown(srv)
    srv.restart(RESTART_TIMEOUT)
    v = recovered_version(srv)
    c = srv.client()
    assert c.get("b") == b"2"
    # SIGTERM is a default SHUTDOWN: it saves as well (save points come
    # from the command line again: "" until CONFIG SET)
    assert c.config_set("save", "3600 1") is True
    c.set("c", "3")
    c.close()
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.wait_exit(SAVE_TIMEOUT) == 0
    srv.restart(RESTART_TIMEOUT)
    assert recovered_version(srv) > v
    c = srv.client()
    assert c.mget("a", "b", "c") == [None, b"2", b"3"]
    c.close()


def test_flushall_with_save_points_is_saved(start_server):
    """With save points set FLUSHALL takes a checkpoint before it replies,
    so a crash right after it cannot bring the cleared keys back."""
    srv = start_server(["--save", "3600 1"])
    f = Fast(srv.port)
    f.set_many([("f:%05d" % i, short_value(i)) for i in range(10_000)])
    f.close()
    c = srv.client()
    assert c.save() is True
    n = saves(c)
    assert c.flushall() is True
    assert saves(c) == n + 1
    c.close()
    srv.kill9()
    srv.restart(RESTART_TIMEOUT)
    recovered_version(srv)
    c = srv.client()
    assert c.dbsize() == 0
    assert c.get("f:00001") is None
    c.close()


def test_save_in_cache_mode_is_refused(start_server):
    """Without the log on a device (storage-tier no) there is nothing a
    checkpoint can be made of: SAVE and BGSAVE answer errors and INFO
    counts no save."""
    srv = start_server(NO_AUTOSAVE + ["--storage-tier", "no"])
    raw = RawConn(srv.port)
    assert raw.call("SET", "k", "v") == "OK"
    assert raw.call("SAVE") == RawError("ERR checkpoints need the log on a device (storage-tier yes)")
    reply = raw.call("BGSAVE")
    assert isinstance(reply, RawError) and str(reply).startswith("ERR"), reply
    c = srv.client()
    assert saves(c) == 0
    assert raw.call("GET", "k") == b"v"
    raw.close()
    c.close()


# ---- 4: autosave ----------------------------------------------------------------

def test_autosave(start_server):
    """--save "1 1": one write makes the server save within about a second
    (polled up to 10 s); after kill -9 and restart the key is there.  Then
    CONFIG SET save "" stops autosaving and CONFIG SET save "1 1" starts it
    again."""
    srv = start_server(["--save", "1 1"])
    c = srv.client()
    raw = RawConn(srv.port)
    assert c.config_get("save") == {"save": "1 1"}
    before = saves(c)
    lastsave0 = raw.call("LASTSAVE")
    c.set("auto:1", "x")
    inf = wait_saved(c, before, timeout=10 * SLOW)
    assert raw.call("LASTSAVE") >= lastsave0
    assert inf["rdb_last_save_time"] >= lastsave0
    raw.close()
    c.close()
    srv.kill9()
    srv.restart(RESTART_TIMEOUT)
    recovered_version(srv)
    c = srv.client()
    assert c.get("auto:1") == b"x"

    # autosave off: changes pile up, nothing is saved
    assert c.config_set("save", "") is True
    n = saves(c)
    c.set("auto:2", "y")
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:  # long enough for "1 1" to fire twice
        assert saves(c) == n, "saved with save \"\""
        time.sleep(0.05)  # sampling INFO for a fixed window, bounded
    assert persistence(c)["rdb_changes_since_last_save"] >= 1
    assert c.config_set("save", "1 1") is True
    wait_saved(c, n, timeout=10 * SLOW)
    assert persistence(c)["rdb_changes_since_last_save"] == 0
    c.close()


# ---- 5: BGSAVE, BGSAVE SCHEDULE, SAVE, LASTSAVE -----------------------------------

def test_save_commands_and_info(start_server):
    """A second BGSAVE while one runs gets "-ERR Background save already in
    progress" (or starts, when the first has already finished); BGSAVE
    SCHEDULE is scheduled (and then runs) or starts; SAVE while a
    background save runs gets the same error, otherwise +OK; LASTSAVE,
    rdb_saves, checkpoint_version and rdb_changes_since_last_save move as
    saves complete; at most checkpoint-keep (2) checkpoints are kept."""
    t_start = int(time.time())
    srv = start_server(NO_AUTOSAVE)
    t_up = int(time.time())
    c = srv.client()
    raw = RawConn(srv.port, timeout=SAVE_TIMEOUT)
    lastsave0 = raw.call("LASTSAVE")
    assert isinstance(lastsave0, int) and t_start - 1 <= lastsave0 <= t_up + 1, lastsave0
    inf = persistence(c)
    for field in ("loading", "rdb_changes_since_last_save", "rdb_bgsave_in_progress",
                  "rdb_last_save_time", "rdb_last_bgsave_status", "rdb_last_bgsave_time_sec",
                  "rdb_saves", "checkpoint_version", "checkpoint_size"):
        assert field in inf, (field, inf)
    assert inf["rdb_saves"] == 0 and inf["rdb_bgsave_in_progress"] == 0, inf
    assert c.config_get("checkpoint-keep") == {"checkpoint-keep": "2"}
    # enough data that a save takes a while (the log and index go to disk)
    f = Fast(srv.port)
    f.set_many([("d:%06d" % i, short_value(i)) for i in range(300_000 // SLOW)])
    f.close()

    # BGSAVE SCHEDULE with no save running starts one
    n = saves(c)
    assert raw.call("BGSAVE", "SCHEDULE") == "Background saving started"
    inf = wait_saved(c, n)
    assert inf["rdb_last_bgsave_time_sec"] >= 0, inf

    # two BGSAVEs in one pipeline
    n = saves(c)
    raw.send("BGSAVE")
    raw.send("BGSAVE")
    r1, r2 = raw.read(), raw.read()
    assert r1 == "Background saving started", r1
    assert r2 == RawError(IN_PROGRESS) or r2 == "Background saving started", r2
    wait_saved(c, n, 1 if isinstance(r2, RawError) else 2)
    print("\nsecond BGSAVE: %r" % r2)

    # BGSAVE then BGSAVE SCHEDULE: the scheduled one runs after the first
    n = saves(c)
    v0 = persistence(c)["checkpoint_version"]
    raw.send("BGSAVE")
    raw.send("BGSAVE", "SCHEDULE")
    r1, r2 = raw.read(), raw.read()
    assert r1 == "Background saving started", r1
    assert r2 in ("Background saving scheduled", "Background saving started"), r2
    inf = wait_saved(c, n, 2)
    assert inf["rdb_saves"] == n + 2, inf
    assert inf["checkpoint_version"] > v0, inf
    print("BGSAVE SCHEDULE: %r" % r2)

    # SAVE while a background save runs, then alone
    n = saves(c)
    raw.send("BGSAVE")
    raw.send("SAVE")
    r1, r2 = raw.read(), raw.read()
    assert r1 == "Background saving started", r1
    assert r2 == RawError(IN_PROGRESS) or r2 == "OK", r2
    wait_saved(c, n, 1 if isinstance(r2, RawError) else 2)
    print("SAVE during BGSAVE: %r" % r2)

    inf0 = persistence(c)
    c.set("after", "1")
    assert persistence(c)["rdb_changes_since_last_save"] >= 1
    assert raw.call("SAVE") == "OK"
    inf = persistence(c)  # SAVE returned: the checkpoint is complete
    assert inf["rdb_saves"] == inf0["rdb_saves"] + 1, (inf0, inf)
    assert inf["rdb_bgsave_in_progress"] == 0
    assert inf["checkpoint_version"] > inf0["checkpoint_version"]
    assert inf["rdb_changes_since_last_save"] == 0, inf
    assert inf["rdb_last_bgsave_status"] == "ok"
    assert inf["checkpoint_size"] > 0
    lastsave = raw.call("LASTSAVE")
    assert lastsave >= inf0["rdb_last_save_time"] and lastsave >= lastsave0
    assert lastsave == inf["rdb_last_save_time"]
    assert lastsave <= int(time.time()) + 1

    # retention: the two newest, the newest being the last one saved
    wait_until(lambda: len(checkpoint_dirs(srv)) <= 2, 10 * SLOW, "old checkpoints to be removed")
    dirs = checkpoint_dirs(srv)
    assert len(dirs) == 2 and max(dirs) == inf["checkpoint_version"], (dirs, inf)
    raw.close()
    c.close()


def test_save_is_durable_when_it_replies(start_server):
    """SAVE replies once its checkpoint is durable: kill -9 right after the
    +OK, and the restart recovers that checkpoint with the write before
    it."""
    srv = start_server(NO_AUTOSAVE)
    f = Fast(srv.port)
    f.set_many([("d:%05d" % i, short_value(i)) for i in range(50_000)])
    f.close()
    raw = RawConn(srv.port, timeout=SAVE_TIMEOUT)
    assert raw.call("SET", "last", "before SAVE") == "OK"
    assert raw.call("SAVE") == "OK"
    srv.kill9()
    srv.restart(RESTART_TIMEOUT)
    c = srv.client()
    version = recovered_version(srv)
    assert persistence(c)["checkpoint_version"] == version
    assert c.get("last") == b"before SAVE"
    check_exact(srv, ["d:%05d" % i for i in range(50_000)], [short_value(i) for i in range(50_000)],
                "after SAVE and kill -9")
    c.close()


# ---- 6: crash loop ----------------------------------------------------------------

CRASH_LOOPS = int(os.environ.get("RF_CRASH_LOOPS",
                                 100 if os.environ.get("RF_SLOW") else (10 if SANITIZER else 20)))
CRASH_THREADS = 4
CRASH_KEYS = 50


@pytest.mark.parametrize("ckpt_type", ["foldover", "snapshot"])
def test_crash_loop(start_server, ckpt_type):
    """CRASH_LOOPS times: start (restart) the server, four threads INCR
    their own 50 keys round-robin, BGSAVE after a random amount of work
    and wait for it (once or twice), write a random amount more (sometimes
    starting one more BGSAVE, which the kill may interrupt), kill -9.
    After each restart every counter is at least what was acknowledged
    before the last completed BGSAVE was sent, at most what was sent
    before that save was seen complete (or, when one more was started, at
    most what was sent before the kill), and each thread's counters are a
    prefix of its sequence.  The recovered values are where the next
    round goes on from.  Both checkpoint types."""
    seed = int(os.environ.get("RF_SEED", random.randrange(1 << 30)))
    print("\ncrash loop: seed %d (RF_SEED=%d replays it), %d rounds" % (seed, seed, CRASH_LOOPS))
    rnd = random.Random(seed)
    # A 32 MB log (4 MB pages): the rounds stay quick, and after a few of
    # them the log is larger than memory.
    srv = start_server(NO_AUTOSAVE + ["--log-memory-size", "32mb", "--checkpoint-type", ckpt_type])
    state = [[0] * CRASH_KEYS for _ in range(CRASH_THREADS)]
    second_saves = recovered_second = 0
    try:
        for round_ in range(CRASH_LOOPS):
            where = "seed %d, round %d" % (seed, round_)
            c = srv.client()
            raw = RawConn(srv.port, timeout=30 * SLOW)
            writers = [CounterWriter(srv, t, CRASH_KEYS, state[t]) for t in range(CRASH_THREADS)]
            for w in writers:
                w.start()
            for _ in range(rnd.choice((1, 1, 2))):
                wait_ops(writers, rnd.randrange(0, 3000), where)
                before = saves(c)
                lower = [list(w.acked) for w in writers]
                bgsave(raw)
                wait_saved(c, before)
                upper = [list(w.sent) for w in writers]
            wait_ops(writers, rnd.randrange(0, 2000), where)
            second = rnd.random() < 0.3
            if second:
                second_saves += 1
                reply = raw.call("BGSAVE")
                assert reply == "Background saving started", (where, reply)
                wait_ops(writers, rnd.randrange(0, 1500), where)
            for w in writers:
                w.dying.set()
            srv.kill9()
            for w in writers:
                w.join()
            at_kill = [list(w.sent) for w in writers]
            raw.close()
            c.close()

            srv.restart(RESTART_TIMEOUT)
            version = recovered_version(srv)
            c = srv.client()
            for t, w in enumerate(writers):
                got = read_counters(c, w.keys)
                high = at_kill[t] if second else upper[t]
                for j, k in enumerate(w.keys):
                    assert lower[t][j] <= got[j] <= high[j], \
                        "%s: %s recovered %d, acknowledged before BGSAVE %d, sent before " \
                        "%s %d (checkpoint %d)" % (where, k, got[j], lower[t][j],
                                                   "the kill" if second else "the save completed",
                                                   high[j], version)
                check_prefix(w.keys, got, "%s, thread %d" % (where, t))
                if second and any(g > u for g, u in zip(got, upper[t])):
                    recovered_second += 1
                state[t] = got
            c.close()
        print("crash loop: %d rounds, %d with a second BGSAVE before the kill, "
              "%d thread-states recovered from it" % (CRASH_LOOPS, second_saves, recovered_second))
    except BaseException as e:
        e.add_note("crash loop seed: %d (RF_SEED=%d to replay)" % (seed, seed))
        raise


# ---- 7: checkpoints of a store larger than memory ---------------------------------

LOG_MB = 16
BIG_KEYS = 150_000 if SANITIZER else 350_000  # ~5x (2x) a 16 MB log


def test_checkpoint_larger_than_memory(start_server):
    """--log-memory-size 16mb: BIG_KEYS 200-byte values (~5x memory), BGSAVE,
    then overwrites, deletes and new keys, kill -9, restart.  Keys not
    touched after the checkpoint have their checkpointed value exactly;
    overwritten keys have the old or the new value, deleted ones the old
    value or none, new keys their value or none; no key has a value it
    never had."""
    srv = start_server(NO_AUTOSAVE + ["--log-memory-size", "%dmb" % LOG_MB,
                                      "--storage-tier", "yes"])
    c = srv.client(socket_timeout=60 * SLOW)
    raw = RawConn(srv.port, timeout=SAVE_TIMEOUT)
    key = lambda i, p="big": "%s:%07d" % (p, i)  # noqa: E731
    f = Fast(srv.port)
    f.set_many([(key(i), long_value(i)) for i in range(BIG_KEYS)])
    inf = engine(c)
    data_bytes = inf["log_tail_address"] - inf["log_begin_address"]
    assert data_bytes > (2 if SANITIZER else 4) * LOG_MB * MB, inf
    assert inf["log_head_address"] > inf["log_begin_address"] + LOG_MB * MB, inf

    before = saves(c)
    bgsave(raw)
    version = wait_saved(c, before)["checkpoint_version"]
    rnd = random.Random(11)
    overwritten = set(rnd.sample(range(BIG_KEYS), BIG_KEYS // 10))
    deleted = set(rnd.sample(sorted(set(range(BIG_KEYS)) - overwritten), 2000))
    f.set_many([(key(i), long_value(i, 1)) for i in sorted(overwritten)])
    for lo in range(0, len(deleted), BATCH):
        assert c.delete(*[key(i) for i in sorted(deleted)[lo:lo + BATCH]]) > 0
    new = BIG_KEYS // 5
    f.set_many([(key(i, "new"), long_value(i)) for i in range(new)])
    f.close()
    raw.close()
    c.close()

    srv.kill9()
    srv.restart(RESTART_TIMEOUT)
    assert recovered_version(srv) == version
    untouched = [i for i in range(BIG_KEYS) if i not in overwritten and i not in deleted]
    check_exact(srv, [key(i) for i in untouched], [long_value(i) for i in untouched],
                "keys not touched after the checkpoint")
    c = srv.client(socket_timeout=60 * SLOW)
    counts = {"old": 0, "new": 0, "gone": 0, "new_keys": 0}
    for i, v in zip(sorted(overwritten), mget_all(c, [key(i) for i in sorted(overwritten)])):
        assert parse_long_value(v) in ((i, 0), (i, 1)), (key(i), v)
        counts["old" if parse_long_value(v) == (i, 0) else "new"] += 1
    for i, v in zip(sorted(deleted), mget_all(c, [key(i) for i in sorted(deleted)])):
        assert v is None or parse_long_value(v) == (i, 0), (key(i), v)
        counts["gone"] += v is None
    for i, v in enumerate(mget_all(c, ["new:%07d" % i for i in range(new)])):
        assert v is None or parse_long_value(v) == (i, 0), ("new:%07d" % i, v)
        counts["new_keys"] += v is not None
    print("\nlarger than memory: %.0f MB of log (%.1fx memory); after the checkpoint, of %d "
          "overwrites %d came back, of %d deletes %d, of %d new keys %d"
          % (data_bytes / MB, data_bytes / (LOG_MB * MB), len(overwritten), counts["new"],
             len(deleted), counts["gone"], new, counts["new_keys"]))
    c.close()


# ---- 8: a damaged checkpoint ---------------------------------------------------------

@pytest.mark.parametrize("ckpt_type", ["foldover", "snapshot"])
def test_damaged_checkpoint_falls_back_to_older(start_server, ckpt_type):
    """Two BGSAVEs with different data, kill -9, one byte of the newest
    checkpoint's meta flipped (in its payload): the restart says that
    checkpoint is not valid, recovers the older one, and the data is the
    older checkpoint's.  A save after that, kill -9 and restart then
    recover the new data.  Both checkpoint types."""
    srv = start_server(NO_AUTOSAVE + ["--checkpoint-type", ckpt_type])
    c = srv.client()
    raw = RawConn(srv.port, timeout=SAVE_TIMEOUT)
    n = 20_000
    a_keys = ["a:%05d" % i for i in range(n)]
    f = Fast(srv.port)
    f.set_many([(k, long_value(i)) for i, k in enumerate(a_keys)])
    before = saves(c)
    bgsave(raw)
    v1 = wait_saved(c, before)["checkpoint_version"]
    f.set_many([(k, long_value(i, 1)) for i, k in enumerate(a_keys)])
    f.set_many([("b:%05d" % i, long_value(i)) for i in range(n)])
    bgsave(raw)
    v2 = wait_saved(c, before + 1)["checkpoint_version"]
    f.close()
    raw.close()
    c.close()
    assert v2 > v1
    srv.kill9()

    dirs = checkpoint_dirs(srv)
    assert v1 in dirs and v2 in dirs, (v1, v2, dirs)
    meta = os.path.join(dirs[v2], "meta")
    with open(meta, "r+b") as fh:
        fh.seek(40)  # past the 32-byte header: in the payload
        b = fh.read(1)
        assert len(b) == 1, "meta is shorter than 41 bytes"
        fh.seek(40)
        fh.write(bytes([b[0] ^ 0x5A]))
    srv.restart(RESTART_TIMEOUT)
    log = srv.run_log()
    assert re.search(r"(?i)(not valid|invalid|corrupt|damaged)", log), log[-3000:]
    assert recovered_version(srv) == v1
    assert v2 not in checkpoint_dirs(srv), checkpoint_dirs(srv)
    check_exact(srv, a_keys, [long_value(i) for i in range(n)], "a:* after falling back")
    check_exact(srv, ["b:%05d" % i for i in range(n)], [None] * n, "b:* after falling back")
    c = srv.client()
    assert c.dbsize() == n

    # the server goes on saving from there
    c.set("c:1", "after the fallback")
    c.delete(a_keys[0])
    raw = RawConn(srv.port, timeout=SAVE_TIMEOUT)
    before = saves(c)
    bgsave(raw)
    v3 = wait_saved(c, before)["checkpoint_version"]
    raw.close()
    c.close()
    srv.kill9()
    srv.restart(RESTART_TIMEOUT)
    assert recovered_version(srv) == v3
    c = srv.client()
    assert c.get("c:1") == b"after the fallback"
    assert c.get(a_keys[0]) is None and c.get(a_keys[1]) == long_value(1)
    assert c.dbsize() == n
    c.close()
