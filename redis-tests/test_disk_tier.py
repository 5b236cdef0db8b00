"""The disk tier through the server (issue 4): a data set several times the
in-memory log, read back through pending disk reads; the server's peak RSS
against a stated bound; concurrent readers of disk-resident keys while
writes continue; replies of pipelines mixing in-memory and on-disk keys in
request order; read-modify-write commands, deletes, multi-key commands,
SCAN/KEYS, databases and FLUSHALL on records that are on disk; clients
closing while their reads are pending; hash chains crossing onto disk; and
the cache mode (storage-tier no), where memory stays bounded, cold keys are
evicted and hot keys survive through copy-reads-to-tail.

Values are derived from their key (and a version), so every reply can be
checked without keeping the data set in the test.  RSS is read from
/proc/<pid>/status (VmHWM, the peak), which does not count the kernel's
page cache for the log's segment files.

Sizes: the large store-mode test loads LARGE_KEYS keys with 200-byte values
into a 64 MB log.  The default is the issue's full size, 2,000,000 keys (a
~458 MB log, 7.2x memory, ~460 MB of segment files; ~45-50 s on the 2-core
development machine, the whole file ~90 s), since it stays well under the
CI budget.  RF_DISK_KEYS=N sets another size for quick runs (1,000,000: a
~229 MB log, 3.6x memory, ~25 s; below ~700,000 the data set would fit the
RSS bound and test_rss_bound fails on purpose; sanitizer builds, with
RF_SANITIZE set by the Makefile, default to 300,000 and skip the RSS
bounds).  The other tests use small
logs (2-32 MB) so that most of their data is on disk after a second or two
of loading.

Restarting a store-mode server is not recovery (issue 5): nothing here
expects data to survive a restart.
"""
import os
import random
import threading
import time

import pytest

from conftest import RawConn, Server, wait_until

MB = 1 << 20
VALUE_SIZE = 200
# Sanitizer builds (make SANITIZE=...) run several times slower and their
# shadow memory inflates RSS: a smaller data set, and no RSS bounds.
SANITIZER = os.environ.get("RF_SANITIZE", "")
LARGE_KEYS = int(os.environ.get("RF_DISK_KEYS",
                                300_000 if SANITIZER else 2_000_000))
BATCH = 1000


# ---- helpers ------------------------------------------------------------------

def key(i, prefix="key"):
    return "%s:%08d" % (prefix, i)


def value(i, version=0):
    """200 bytes that name their key's number and a version."""
    unit = b"v%05d.k%09d|" % (version, i)
    return (unit * (VALUE_SIZE // len(unit) + 1))[:VALUE_SIZE]


def parse_value(v):
    """(key number, version) of a value made by value(); asserts its shape."""
    assert v is not None and len(v) == VALUE_SIZE, v
    unit = v[:v.index(b"|") + 1]
    version, i = int(unit[1:6]), int(unit[8:17])
    assert v == value(i, version), v
    return i, version


def load(c, n, start=0, prefix="key", version=0):
    """SETs keys start..start+n-1 in pipelines of BATCH."""
    for lo in range(start, start + n, BATCH):
        p = c.pipeline(transaction=False)
        for i in range(lo, min(start + n, lo + BATCH)):
            p.set(key(i, prefix), value(i, version))
        assert all(p.execute())


def check_all(c, indices, prefix="key", version=0):
    """GETs the keys in pipelines of BATCH and compares every reply;
    returns the number of keys checked."""
    indices = list(indices)
    for lo in range(0, len(indices), BATCH):
        chunk = indices[lo:lo + BATCH]
        p = c.pipeline(transaction=False)
        for i in chunk:
            p.get(key(i, prefix))
        got = p.execute()
        for i, v in zip(chunk, got):
            if v != value(i, version):
                pytest.fail("GET %s: expected %r..., got %r" % (key(i, prefix), value(i, version)[:20],
                                                                 v if v is None else v[:40]))
    return len(indices)


def engine(c):
    """The fields of INFO engine, memory and stats as one dict, numbers as
    ints.  (Not INFO all: its keyspace section counts the keys by scanning
    the whole log, disk included, which takes seconds here.)"""
    out = {}
    for section in ("engine", "memory", "stats"):
        out.update(c.info(section))
    return out


def proc_mem(srv):
    """VmRSS and VmHWM of the server process, in bytes."""
    out = {}
    with open("/proc/%d/status" % srv.proc.pid) as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                k, v = line.split(":")
                out[k] = int(v.split()[0]) * 1024
    return out


def getrange(s, start, end):
    """GETRANGE's result, as Redis computes it."""
    n = len(s)
    if start < 0:
        start += n
    if end < 0:
        end += n
    start, end = max(start, 0), max(end, 0)
    end = min(end, n - 1)
    if n == 0 or start > end:
        return b""
    return s[start:end + 1]


def next_pow2(n):
    p = 1
    while p < n:
        p <<= 1
    return p


# Every disk read through the device's I/O threads, commands going pending,
# even though the kernel has the segment files cached (with the default,
# cached records are read on the worker thread and nothing goes pending).
ASYNC_READS = ("--cached-reads-inline", "no")


def store_args(log_mb, index_mb=16, read_cache_mb=16, read_cache=True, device="file", extra=()):
    return ["--storage-tier", "yes", "--device-type", device,
            "--log-memory-size", "%dmb" % log_mb, "--index-size", "%dmb" % index_mb,
            "--read-cache", "yes" if read_cache else "no",
            "--read-cache-memory-size", "%dmb" % read_cache_mb] + list(extra)


def on_disk_prefix(c, n):
    """How many of the first keys loaded (of n loaded in order into an empty
    server) lie wholly below the head address, with a 10% safety margin."""
    inf = engine(c)
    per_record = (inf["log_tail_address"] - inf["log_begin_address"]) / n
    return int((inf["log_head_address"] - inf["log_begin_address"]) / per_record * 0.9)


def run_threads(targets):
    """Runs callables on threads; re-raises the first exception any raised."""
    errors = []

    def wrap(fn):
        def run():
            try:
                fn()
            except BaseException as e:  # noqa: B902 - reported below
                errors.append(e)
        return run

    threads = [threading.Thread(target=wrap(t)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
        assert not t.is_alive(), "a client thread hung"
    if errors:
        raise errors[0]


# ---- 1 and 2: larger than memory, store mode ---------------------------------

# Sanitizer builds load fewer keys: a smaller log keeps them several times
# its memory.
LOG_MB = 16 if SANITIZER else 64
READ_CACHE_MB = 16
# Index: 16 bytes per key, rounded up to a power of two (it may also grow
# online; the bound below uses the size INFO reports).
INDEX_MB = max(16, next_pow2(LARGE_KEYS * 16) // MB)
# What the server may use besides the log, the index and the read cache:
# heap (client buffers, pending commands, jemalloc's arenas), stacks, the
# binary.  Measured 7-14 MB: peak RSS 103 MB at 1M keys (16 MB index, 96
# MB of log + index + read cache) and 120-126 MB at 2M keys (32 MB index,
# 112 MB); the margin is more than three times that.
RSS_MARGIN = 48 * MB


@pytest.fixture(scope="module")
def large():
    """A store-mode server with a 64 MB log and LARGE_KEYS keys loaded (two
    worker threads, so that the RSS bound does not depend on the number of
    cores)."""
    srv = Server(args=store_args(LOG_MB, INDEX_MB, READ_CACHE_MB, extra=["--io-threads", "2"]))
    c = srv.client(socket_timeout=120)
    t0 = time.monotonic()
    load(c, LARGE_KEYS)
    srv.load_seconds = time.monotonic() - t0
    srv.verified = False
    yield srv
    c.close()
    srv.stop()


def test_larger_than_memory_store(large):
    """LARGE_KEYS (2M unless RF_DISK_KEYS says otherwise) 200-byte values
    into a 64 MB log, then every key read back with pipelines and compared;
    the head has moved far from the beginning, most of the log is on disk,
    and the reads went to the device."""
    c = large.client(socket_timeout=120)
    inf = engine(c)
    assert inf["storage_tier"] == "store"
    assert inf["log_memory_size"] == LOG_MB * MB
    log_bytes = inf["log_tail_address"] - inf["log_begin_address"]
    assert log_bytes > 3 * LOG_MB * MB, inf
    # The head left the beginning far behind: most of the log is on disk.
    assert inf["log_head_address"] - inf["log_begin_address"] > log_bytes - LOG_MB * MB - 8 * MB, inf
    assert inf["log_tail_address"] - inf["log_head_address"] <= LOG_MB * MB, inf
    assert inf["log_bytes_on_disk"] > 2 * LOG_MB * MB, inf
    assert inf["log_flushed_until_address"] >= inf["log_head_address"], inf
    assert inf["log_flush_error"] == "none"
    reads_before = inf["disk_reads"]

    t0 = time.monotonic()
    assert check_all(c, range(LARGE_KEYS)) == LARGE_KEYS
    large.verified = True
    read_s = time.monotonic() - t0

    inf = engine(c)
    on_disk = on_disk_prefix(c, LARGE_KEYS)
    assert on_disk > LARGE_KEYS // 2
    # Every key below the head was read from disk or from the read cache,
    # and most of them from disk (the read cache holds 16 MB).
    assert inf["disk_reads"] - reads_before > on_disk // 2, inf
    assert inf["pending_reads"] == 0, inf
    assert inf["log_flush_error"] == "none"
    print("\nlarge: %d keys, log %d MB (%.1fx memory), load %.1f s, read %.1f s, disk_reads %d"
          % (LARGE_KEYS, log_bytes // MB, log_bytes / (LOG_MB * MB), large.load_seconds, read_s,
             inf["disk_reads"]))
    c.close()


def test_rss_bound(large):
    """Peak RSS of the store-mode server with a data set several times its
    memory: VmHWM <= log-memory-size + index (INFO's
    used_memory_engine_index) + read-cache-memory-size + RSS_MARGIN (48 MB).
    Runs after test_larger_than_memory_store when the module runs whole,
    so the peak covers the load and reading every key back; alone, it reads
    a random sample itself."""
    if SANITIZER:
        pytest.skip("RSS bounds do not hold under the %s sanitizer (shadow "
                    "memory, quarantine)" % SANITIZER)
    c = large.client(socket_timeout=120)
    if not large.verified:
        rnd = random.Random(2)
        check_all(c, rnd.sample(range(LARGE_KEYS), min(200_000, LARGE_KEYS)))
    inf = engine(c)
    log_bytes = inf["log_tail_address"] - inf["log_begin_address"]
    index = inf["used_memory_engine_index"]
    assert index >= INDEX_MB * MB
    bound = LOG_MB * MB + index + READ_CACHE_MB * MB + RSS_MARGIN
    # The bound means something only if the data set does not fit in it.
    assert log_bytes > bound + 32 * MB, (log_bytes, bound)
    mem = proc_mem(large)
    print("\nrss: VmHWM %.1f MB, VmRSS %.1f MB, bound %.1f MB (log %d + index %d + read cache %d + margin %d), "
          "data %.1f MB, INFO used_memory_rss %.1f MB"
          % (mem["VmHWM"] / MB, mem["VmRSS"] / MB, bound / MB, LOG_MB, index // MB, READ_CACHE_MB,
             RSS_MARGIN // MB, log_bytes / MB, inf["used_memory_rss"] / MB))
    assert mem["VmHWM"] <= bound, (mem, bound)
    assert inf["used_memory_rss"] <= bound
    c.close()


# ---- 3: concurrent readers while writes continue ------------------------------

ROUNDS = 90


@pytest.mark.parametrize("device", ["file", "uring"])
def test_concurrent_readers_of_disk_keys(start_server, device):
    """50 clients (threads, one connection each) GET random disk-resident
    keys, singly and in pipelines, while one client writes new keys and
    another keeps overwriting 400 of the read keys with rising versions.
    Untouched keys return their loaded value; overwritten keys return a
    version at least as new as the last one acknowledged to the writer
    before the GET was sent; no errors.  A 16 MB log, 4 MB read cache."""
    n = 200_000  # ~46 MB of log
    srv = start_server(store_args(16, 16, 4, device=device,
                                  extra=ASYNC_READS if device == "uring" else ()))
    c = srv.client()
    load(c, n)
    disk = on_disk_prefix(c, n)
    assert disk > n // 2
    rnd = random.Random(3)
    hot = sorted(rnd.sample(range(disk), 400))  # overwritten while read
    acked = {i: 0 for i in hot}  # newest version acknowledged per hot key
    done = threading.Event()
    stats = {"gets": 0, "newer": 0, "new_keys": 0, "versions": 0}
    lock = threading.Lock()
    reads0 = engine(c)["disk_reads"]

    def overwriter():
        w = srv.client()
        version = 0
        while not done.is_set() or version < 2:
            version += 1
            order = hot[:]
            random.Random(version).shuffle(order)
            for lo in range(0, len(order), 50):
                p = w.pipeline(transaction=False)
                for i in order[lo:lo + 50]:
                    p.set(key(i), value(i, version))
                assert all(p.execute())
                for i in order[lo:lo + 50]:
                    acked[i] = version
        stats["versions"] = version
        w.close()

    def new_writer():
        w = srv.client()
        lo = 0
        while not done.is_set() or lo < 20_000:
            load(w, BATCH, start=lo, prefix="new")
            lo += BATCH
        stats["new_keys"] = lo
        w.close()

    def reader(seed):
        r = srv.client()
        rnd = random.Random(seed)
        gets = newer = 0
        for round_ in range(ROUNDS):
            if round_ % 3 == 0:
                picks = [rnd.choice(hot) if rnd.random() < 0.3 else rnd.randrange(disk)]
            else:
                picks = [rnd.choice(hot) if rnd.random() < 0.2 else rnd.randrange(disk)
                         for _ in range(25)]
            floor = [acked.get(i, 0) for i in picks]
            if len(picks) == 1:
                got = [r.get(key(picks[0]))]
            else:
                p = r.pipeline(transaction=False)
                for i in picks:
                    p.get(key(i))
                got = p.execute()
            for i, lo_version, v in zip(picks, floor, got):
                assert v is not None, "GET %s returned nil" % key(i)
                j, version = parse_value(v)
                assert j == i, "GET %s returned the value of %s" % (key(i), key(j))
                if i in acked:
                    assert version >= lo_version, \
                        "GET %s: version %d after version %d was acknowledged" % (key(i), version, lo_version)
                    newer += version > 0
                else:
                    assert version == 0, "GET %s: untouched key has version %d" % (key(i), version)
            gets += len(picks)
        r.close()
        with lock:
            stats["gets"] += gets
            stats["newer"] += newer

    readers = [lambda s=s: reader(s) for s in range(50)]
    t0 = time.monotonic()

    def readers_then_stop():
        try:
            run_threads(readers)
        finally:
            done.set()

    run_threads([readers_then_stop, overwriter, new_writer])
    elapsed = time.monotonic() - t0
    inf = engine(c)
    assert stats["gets"] == 50 * sum(1 if r % 3 == 0 else 25 for r in range(ROUNDS))
    assert inf["disk_reads"] - reads0 > 1000, inf
    assert inf["pending_reads"] == 0
    # After the writers stopped: every hot key holds its last version, the
    # new keys all read back, untouched keys are unchanged.
    for i in hot:
        assert acked[i] == stats["versions"]
    check_all(c, hot, version=stats["versions"])
    check_all(c, range(stats["new_keys"]), prefix="new")
    hot_set = set(hot)
    check_all(c, [i for i in range(0, n, 7) if i not in hot_set])
    print("\nconcurrent (%s): %d GETs by 50 clients in %.1f s, %d saw newer versions, "
          "%d overwrite rounds, %d new keys, disk_reads %d"
          % (device, stats["gets"], elapsed, stats["newer"], stats["versions"], stats["new_keys"],
             inf["disk_reads"] - reads0))
    c.close()


# ---- 4: pipelined replies in request order ------------------------------------

class Model:
    """The expected state of the keys a pipeline touches: loaded keys start
    with value(i), counters with their initial integers."""

    def __init__(self, n, counters, ttl_keys):
        self.n = n
        self.over = {}  # key -> bytes or None (deleted)
        self.counters = dict(counters)
        self.ttl_keys = dict(ttl_keys)  # key -> seconds set before loading

    def get(self, k):
        if k in self.over:
            return self.over[k]
        if k in self.counters:
            return str(self.counters[k]).encode()
        if k in self.ttl_keys:
            return b"ttl-value"
        if k.startswith("key:") and int(k[4:]) < self.n:
            return value(int(k[4:]))
        return None

    def set(self, k, v):
        self.over[k] = v
        self.ttl_keys.pop(k, None)


def test_pipelined_gets_in_request_order(start_server):
    """One pipeline of ~7,000 commands: 5,000 GETs of random keys (on disk,
    in memory and missing) interleaved with INCR/INCRBY of on-disk
    counters, SET, GETRANGE, STRLEN, EXISTS, DEL then GET, TTL, APPEND and
    same-key sequences (GET, SET, GET) on on-disk keys; every reply is
    checked against a model, in order.  A 4 MB log without read cache, so
    each read of a disk-resident key goes to the device."""
    n = 100_000  # ~23 MB of log
    srv = start_server(store_args(4, 16, read_cache=False, extra=ASYNC_READS))
    c = srv.client()
    counters = {"ctr:%d" % j: 1000 * j for j in range(10)}
    ttl_keys = {"ttl:%d" % j: 5000 + j for j in range(5)}
    for k, v in counters.items():
        c.set(k, v)
    for k, s in ttl_keys.items():
        c.set(k, "ttl-value", ex=s)
    load(c, n)
    disk = on_disk_prefix(c, n)
    assert disk > n // 2
    inf0 = engine(c)
    m = Model(n, counters, ttl_keys)
    rnd = random.Random(4)

    def disk_key():
        return key(rnd.randrange(disk))

    def mem_key():
        return key(rnd.randrange(n - 5000, n))

    def any_key():
        x = rnd.random()
        if x < 0.6:
            return disk_key()
        if x < 0.85:
            return mem_key()
        return "missing:%d" % rnd.randrange(10 ** 6)

    cmds = []  # (name, args, expected or a predicate)
    gets = 0
    while gets < 5000:
        x = rnd.random()
        if x < 0.75:
            k = any_key()
            cmds.append(("get", (k,), m.get(k)))
            gets += 1
        elif x < 0.78:
            k = rnd.choice(list(counters))
            by = rnd.randrange(1, 100)
            m.counters[k] += by
            cmds.append(("incrby", (k, by), m.counters[k]))
        elif x < 0.80:
            k = rnd.choice(list(counters))
            m.counters[k] += 1
            cmds.append(("incr", (k,), m.counters[k]))
        elif x < 0.82:
            k = disk_key() if rnd.random() < 0.7 else mem_key()
            v = b"set-%d" % len(cmds)
            m.set(k, v)
            cmds.append(("set", (k, v), True))
        elif x < 0.84:
            k = any_key()
            a, b = rnd.randrange(0, 50), rnd.randrange(-10, 250)
            cmds.append(("getrange", (k, a, b), getrange(m.get(k) or b"", a, b)))
        elif x < 0.86:
            k = any_key()
            cmds.append(("strlen", (k,), len(m.get(k) or b"")))
        elif x < 0.88:
            ks = [any_key() for _ in range(rnd.randrange(1, 5))]
            cmds.append(("exists", tuple(ks), sum(m.get(k) is not None for k in ks)))
        elif x < 0.90:
            k = disk_key()
            cmds.append(("delete", (k,), int(m.get(k) is not None)))
            m.set(k, None)
            cmds.append(("get", (k,), None))
            gets += 1
        elif x < 0.92:
            k = rnd.choice(list(ttl_keys)) if rnd.random() < 0.5 else any_key()
            if k in m.ttl_keys and m.get(k) is not None:
                s = m.ttl_keys[k]
                exp = lambda t, s=s: s - 60 <= t <= s
            else:
                exp = -1 if m.get(k) is not None else -2
            cmds.append(("ttl", (k,), exp))
        elif x < 0.94:
            k = disk_key()
            cur = m.get(k) or b""
            m.set(k, cur + b"+app")
            cmds.append(("append", (k, b"+app"), len(cur) + 4))
        else:
            # same key: the pending GET must see the value before the SET
            k = disk_key()
            old = m.get(k)
            new = b"new-%d" % len(cmds)
            cmds.append(("get", (k,), old))
            cmds.append(("set", (k, new), True))
            m.set(k, new)
            cmds.append(("get", (k,), new))
            cmds.append(("strlen", (k,), len(new)))
            gets += 2

    p = c.pipeline(transaction=False)
    for name, args, _ in cmds:
        getattr(p, name)(*args)
    t0 = time.monotonic()
    replies = p.execute(raise_on_error=False)
    elapsed = time.monotonic() - t0
    assert len(replies) == len(cmds)
    for pos, ((name, args, exp), got) in enumerate(zip(cmds, replies)):
        ok = exp(got) if callable(exp) else got == exp
        if not ok:
            ctx = ["%d %s%r -> %r" % (q, cmds[q][0], cmds[q][1], replies[q])
                   for q in range(max(0, pos - 3), min(len(cmds), pos + 3))]
            pytest.fail("reply %d of %d: %s%r expected %r, got %r\ncontext:\n  %s"
                        % (pos, len(cmds), name.upper(), args, exp, got, "\n  ".join(ctx)))
    inf = engine(c)
    assert inf["disk_reads"] - inf0["disk_reads"] > 1000, inf
    assert inf["pending_reads"] == 0
    # The state the pipeline left behind, read again one by one.
    for k in list(m.over)[:300] + list(counters):
        assert c.get(k) == m.get(k), k
    # DBSIZE counts the keys on disk too, without the deleted ones
    deleted = sum(1 for v in m.over.values() if v is None)
    assert deleted > 10
    assert c.dbsize() == n + len(counters) + len(ttl_keys) - deleted
    print("\npipeline: %d commands (%d GETs) in %.2f s, disk_reads %d"
          % (len(cmds), gets, elapsed, inf["disk_reads"] - inf0["disk_reads"]))
    c.close()


def test_pipelined_gets_raw_socket_order(start_server):
    """The same ordering seen on the wire: 3,000 GETs of random on-disk,
    in-memory and missing keys written to the socket in one write, and the
    replies read back one by one."""
    n = 100_000
    srv = start_server(store_args(4, 16, read_cache=False, extra=ASYNC_READS))
    c = srv.client()
    load(c, n)
    disk = on_disk_prefix(c, n)
    rnd = random.Random(5)
    picks = []
    for _ in range(3000):
        x = rnd.random()
        picks.append(rnd.randrange(disk) if x < 0.7 else
                     rnd.randrange(n - 5000, n) if x < 0.9 else n + rnd.randrange(10 ** 6))
    raw = RawConn(srv.port, timeout=60)
    out = b"".join(b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(key(i)), key(i).encode()) for i in picks)
    raw.send_raw(out)
    for pos, i in enumerate(picks):
        got = raw.read()
        exp = value(i) if i < n else None
        assert got == exp, "reply %d (GET %s): expected %r, got %r" % (pos, key(i), exp, got)
    raw.close()
    c.close()


# ---- 5: read-modify-write and deletes on disk-resident keys --------------------

@pytest.mark.parametrize("read_cache", [True, False], ids=["read-cache", "no-read-cache"])
def test_rmw_and_deletes_on_disk(start_server, read_cache):
    """Keys written first and then pushed to disk by 3.5x memory of other
    keys: INCR/INCRBY/DECRBY/INCRBYFLOAT (exact values), APPEND, SETRANGE,
    DEL of several keys (the count), EXISTS of several, SETNX and SET NX/XX/GET,
    GETSET, GETDEL, EXPIRE/TTL/PERSIST/PEXPIRE, and with the read cache:
    a value read from disk (so cached), then changed or deleted, reads back
    changed.  A 4 MB log."""
    srv = start_server(store_args(4, 16, 2, read_cache=read_cache,
                                  extra=() if read_cache else ASYNC_READS))
    c = srv.client()
    strs = {"s:%d" % j: value(10_000_000 + j) for j in range(40)}
    for k, v in strs.items():
        c.set(k, v)
    for j in range(20):
        c.set("c:%d" % j, j)
    c.set("f:0", "1.5")
    c.set("e:long", "x", ex=7000)
    load(c, 60_000)  # ~14 MB: everything above is far below the head
    inf0 = engine(c)
    assert inf0["log_head_address"] > 8 * MB

    def disk_reads():
        return engine(c)["disk_reads"]

    # counters
    r0 = disk_reads()
    assert c.incr("c:0") == 1
    assert disk_reads() > r0  # it was on disk
    assert c.incrby("c:1", 10) == 11
    assert c.decrby("c:2", 5) == -3
    assert c.incrbyfloat("f:0", 2.25) == 3.75
    assert c.get("c:0") == b"1" and c.get("c:1") == b"11" and c.get("c:2") == b"-3"
    # strings
    assert c.append("s:0", "xyz") == VALUE_SIZE + 3
    assert c.get("s:0") == strs["s:0"] + b"xyz"
    assert c.setrange("s:1", 5, "HELLO") == VALUE_SIZE
    assert c.get("s:1") == strs["s:1"][:5] + b"HELLO" + strs["s:1"][10:]
    assert c.strlen("s:2") == VALUE_SIZE
    assert c.getrange("s:3", 0, 9) == strs["s:3"][:10]
    # deletes and existence
    assert c.delete("s:4", "s:5", "s:6", "nosuch:1") == 3
    assert c.get("s:4") is None and c.get("s:5") is None
    assert c.exists("s:4", "s:7", "s:8", "nosuch:2", "s:7") == 3
    assert c.delete("s:4") == 0
    # conditional sets
    assert c.setnx("s:9", "other") is False
    assert c.get("s:9") == strs["s:9"]
    assert c.set("s:10", "nx", nx=True) is None
    assert c.get("s:10") == strs["s:10"]
    assert c.set("s:11", "xx", xx=True) is True
    assert c.get("s:11") == b"xx"
    assert c.set("s:12", "new12", get=True) == strs["s:12"]
    assert c.get("s:12") == b"new12"
    assert c.getset("s:13", "new13") == strs["s:13"]
    assert c.get("s:13") == b"new13"
    assert c.getdel("s:14") == strs["s:14"]
    assert c.get("s:14") is None and c.getdel("s:14") is None
    # expiry
    assert c.ttl("s:15") == -1
    assert 6900 <= c.ttl("e:long") <= 7000
    assert c.expire("s:15", 1000) is True
    assert 940 <= c.ttl("s:15") <= 1000
    assert c.get("s:15") == strs["s:15"]
    assert c.persist("e:long") is True and c.ttl("e:long") == -1
    assert c.pexpire("s:16", 30) is True
    wait_until(lambda: c.get("s:16") is None, 10, "s:16 to expire")
    assert c.exists("s:16") == 0
    assert c.ttl("nosuch:3") == -2

    # a value read from disk (and so in the read cache when it is on),
    # then changed: the change is what reads see
    for k in ("s:20", "s:21", "s:22", "s:23", "s:24"):
        assert c.get(k) == strs[k]
        assert c.get(k) == strs[k]
    c.set("s:20", "changed")
    assert c.get("s:20") == b"changed"
    assert c.delete("s:21") == 1
    assert c.get("s:21") is None and c.exists("s:21") == 0
    assert c.append("s:22", "!") == VALUE_SIZE + 1
    assert c.get("s:22") == strs["s:22"] + b"!"
    assert c.getdel("s:23") == strs["s:23"]
    assert c.get("s:23") is None
    assert c.expire("s:24", 500) and 440 <= c.ttl("s:24") <= 500

    # push everything to disk again and re-read the results from there
    load(c, 60_000, start=60_000)
    assert c.get("c:0") == b"1" and c.get("c:1") == b"11" and c.get("c:2") == b"-3"
    assert c.get("f:0") == b"3.75"
    assert c.get("s:0") == strs["s:0"] + b"xyz"
    for k in ("s:4", "s:5", "s:6", "s:14", "s:16", "s:21", "s:23"):
        assert c.get(k) is None, k
    assert c.get("s:20") == b"changed" and c.get("s:22") == strs["s:22"] + b"!"
    assert c.get("s:13") == b"new13" and c.get("s:9") == strs["s:9"]
    assert 440 <= c.ttl("s:24") <= 500 and c.ttl("e:long") == -1
    assert c.exists(*strs) == len(strs) - 7

    # concurrent increments of counters that keep moving to disk: 8
    # clients each add 1..3 to every counter 25 times while another client
    # writes 3x memory of new keys: no increment is lost
    incs = {"c:%d" % j: 0 for j in range(3, 20)}
    lock = threading.Lock()

    def incrementer(seed):
        w = srv.client()
        rnd = random.Random(seed)
        mine = {k: 0 for k in incs}
        for _ in range(25):
            p = w.pipeline(transaction=False)
            order = list(incs)
            rnd.shuffle(order)
            for k in order:
                by = rnd.randrange(1, 4)
                mine[k] += by
                p.incrby(k, by)
            p.execute()
        with lock:
            for k, v in mine.items():
                incs[k] += v
        w.close()

    def filler():
        w = srv.client()
        load(w, 60_000, start=200_000)
        w.close()

    run_threads([filler] + [lambda s=s: incrementer(s) for s in range(8)])
    for k, added in incs.items():
        assert int(c.get(k)) == int(k[2:]) + added, k
    inf = engine(c)
    assert inf["log_flush_error"] == "none" and inf["pending_reads"] == 0
    if read_cache:
        assert inf["read_cache_hits"] > 0, inf
    c.close()


# ---- multi-key commands, SCAN/KEYS, databases, FLUSHALL, closing clients -------

def test_multi_key_commands_on_disk(start_server):
    """Commands on several keys wait for the disk in place: MGET of a mix of
    on-disk, in-memory and missing keys (order of the reply), MSET over
    on-disk keys, MSETNX with one key on disk (nothing set), RENAME,
    RENAMENX, COPY, TYPE, TOUCH, UNLINK and GETEX on on-disk keys.  A 4 MB
    log without read cache."""
    n = 60_000
    srv = start_server(store_args(4, 16, read_cache=False, extra=ASYNC_READS))
    c = srv.client()
    load(c, n)
    disk = on_disk_prefix(c, n)
    assert disk > n // 2
    rnd = random.Random(6)
    picks = [rnd.randrange(disk) if x % 3 else
             (rnd.randrange(n - 2000, n) if x % 2 else n + x) for x in range(600)]
    got = c.mget([key(i) for i in picks])
    assert got == [value(i) if i < n else None for i in picks]

    a, b, d, e = 10, 11, 12, 13  # all on disk
    assert c.mset({key(a): "A", key(b): "B"}) is True
    assert c.mget(key(a), key(b), key(d)) == [b"A", b"B", value(d)]
    assert c.msetnx({"fresh:1": "x", key(d): "y"}) is False
    assert c.get("fresh:1") is None and c.get(key(d)) == value(d)
    assert c.rename(key(e), "renamed:13") is True
    assert c.get(key(e)) is None and c.get("renamed:13") == value(e)
    assert c.renamenx(key(14), key(15)) is False
    assert c.get(key(14)) == value(14) and c.get(key(15)) == value(15)
    assert c.copy(key(16), "copy:16") is True
    assert c.get("copy:16") == value(16) and c.get(key(16)) == value(16)
    assert c.copy(key(17), key(18)) is False
    assert c.type(key(19)) == b"string" and c.type("nosuch") == b"none"
    assert c.touch(key(20), key(21), "nosuch") == 2
    assert c.unlink(key(22), key(23), "nosuch") == 2
    assert c.mget(key(22), key(23), key(24)) == [None, None, value(24)]
    assert c.getex(key(25), ex=900) == value(25)
    assert 840 <= c.ttl(key(25)) <= 900
    # and once more after all of it went to disk
    load(c, 30_000, start=n)
    assert c.mget(key(a), key(b), key(d), key(e), "renamed:13", "copy:16", key(22), key(25)) == \
        [b"A", b"B", value(d), None, value(e), value(16), None, value(25)]
    assert 840 <= c.ttl(key(25)) <= 900
    c.close()


def test_scan_keys_and_databases_on_disk(start_server):
    """SCAN and KEYS see keys whose records are on disk (each key once,
    deleted ones not at all); the same key names in two databases stay
    apart on disk; DBSIZE counts them."""
    n = 40_000
    srv = start_server(store_args(4, 16))
    c = srv.client()
    c1 = srv.client(db=1)
    load(c1, 2000)  # db 1: the same names as db 0's first keys ...
    for i in range(0, 2000, 100):
        c1.set(key(i), "db1-%d" % i)  # ... some with other values
    load(c, n)
    load(c, 30_000, start=n, prefix="fill")  # push all of the above to disk
    for i in range(0, 1000, 10):
        c.delete(key(i))
    expect = {key(i).encode() for i in range(n) if not (i < 1000 and i % 10 == 0)}
    expect |= {key(i, "fill").encode() for i in range(n, n + 30_000)}
    seen = []
    for k in c.scan_iter(count=1000):
        seen.append(k)
    assert len(seen) == len(set(seen)) == len(expect)
    assert set(seen) == expect
    assert sorted(c.keys("key:0000012*")) == [key(i).encode() for i in range(121, 130)]
    assert c.dbsize() == len(expect)
    assert c1.dbsize() == 2000
    for i in range(0, 2000, 50):
        assert c1.get(key(i)) == (b"db1-%d" % i if i % 100 == 0 else value(i)), i
        assert c.get(key(i)) == (None if i < 1000 and i % 10 == 0 else value(i)), i
    c.close()
    c1.close()


def test_flushall_with_data_on_disk(start_server):
    """FLUSHALL of a store whose records are mostly on disk: the keys are
    gone (disk included), new writes and reads work, and a fresh data set
    pushed to disk again reads back."""
    n = 30_000  # ~7 MB in a 2 MB log
    srv = start_server(store_args(2, 16))
    c = srv.client()
    load(c, n)
    assert engine(c)["log_head_address"] > 4 * MB
    assert c.flushall() is True
    assert c.dbsize() == 0
    assert c.mget([key(i) for i in range(0, n, 300)]) == [None] * 100
    assert c.get(key(5)) is None and c.exists(key(5)) == 0
    load(c, n, version=1)
    check_all(c, range(0, n, 3), version=1)
    assert c.dbsize() == n
    c.close()


def test_clients_close_while_reads_pending(start_server):
    """Clients that send pipelines of GETs of on-disk keys and close their
    connection before the replies come: the server keeps serving, and
    other clients' replies are right."""
    n = 60_000
    srv = start_server(store_args(4, 16, read_cache=False, extra=ASYNC_READS))
    c = srv.client()
    load(c, n)
    disk = on_disk_prefix(c, n)
    rnd = random.Random(7)
    for round_ in range(3):
        conns = [RawConn(srv.port) for _ in range(20)]
        for conn in conns:
            conn.send_raw(b"".join(b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(key(i)), key(i).encode())
                                   for i in (rnd.randrange(disk) for _ in range(300))))
        for conn in conns:
            conn.close()
        picks = [rnd.randrange(disk) for _ in range(500)]
        assert c.mget([key(i) for i in picks]) == [value(i) for i in picks]
    assert c.ping() is True
    wait_until(lambda: c.info("clients")["connected_clients"] == 1, 10, "closed clients to go")
    inf = engine(c)
    assert inf["pending_reads"] == 0
    c.close()


def test_small_index_chains_cross_to_disk(start_server):
    """With the smallest index (64 KB: 1,024 buckets, not grown) nearly
    every key shares its hash bucket and tag with others, so reads follow
    hash chains from memory onto disk: every key still reads back its own
    value, also after overwrites and deletes of some."""
    n = 50_000
    args = store_args(4, 16, 1, extra=["--index-auto-grow", "no"])
    args[args.index("--index-size") + 1] = "64kb"
    srv = start_server(args)
    c = srv.client()
    load(c, n)
    for i in range(0, n, 5):
        if i % 10:
            c.set(key(i), value(i, 1))
        else:
            c.delete(key(i))
    load(c, 20_000, prefix="fill")
    inf = engine(c)
    assert inf["index_grows"] == 0 and inf["index_buckets"] <= 1024, inf
    r0 = inf["disk_reads"]
    for lo in range(0, n, BATCH):
        p = c.pipeline(transaction=False)
        for i in range(lo, lo + BATCH):
            p.get(key(i))
        for i, v in zip(range(lo, lo + BATCH), p.execute()):
            exp = value(i) if i % 5 else (value(i, 1) if i % 10 else None)
            assert v == exp, key(i)
    assert engine(c)["disk_reads"] - r0 > n // 2
    c.close()


# ---- 6: cache mode --------------------------------------------------------------

CACHE_MB = 32
CACHE_INDEX_MB = 16
CACHE_MARGIN = 48 * MB


def test_cache_mode_hot_keys_survive(start_server):
    """storage-tier no, maxmemory 32mb (which sets the log memory),
    copy-reads-to-tail yes: 600,000 keys (~140 MB of records, 4x memory)
    are written while 100 hot keys are read after every batch of 1,000.
    The hot keys are always there with their values; nearly all of the
    first 20,000 cold keys are gone (GET nil) and any left are correct;
    INFO evicted_keys > 0; no log files are written; peak RSS stays under
    log memory + index + 48 MB (no read cache: nothing is read from a
    device in cache mode)."""
    n = 600_000
    srv = start_server(["--storage-tier", "no", "--maxmemory", "%dmb" % CACHE_MB,
                        "--log-memory-size", "256mb", "--index-size", "%dmb" % CACHE_INDEX_MB,
                        "--copy-reads-to-tail", "yes"])
    c = srv.client()
    inf = engine(c)
    assert inf["storage_tier"] == "cache"
    assert inf["log_memory_size"] == CACHE_MB * MB, "maxmemory should set the log memory"
    hot = list(range(100))
    load(c, len(hot), prefix="hot")
    t0 = time.monotonic()
    for lo in range(0, n, BATCH):
        load(c, BATCH, start=lo)
        p = c.pipeline(transaction=False)
        for i in hot:
            p.get(key(i, "hot"))
        got = p.execute()
        for i, v in zip(hot, got):
            assert v == value(i), "hot key %s after %d cold keys: %r" % (key(i, "hot"), lo + BATCH, v)
    elapsed = time.monotonic() - t0
    inf = engine(c)
    assert inf["evicted_keys"] > n // 2, inf
    assert inf["evicted_records"] >= inf["evicted_keys"]
    assert inf["copies_to_tail"] > 0, inf
    assert inf["log_tail_address"] - inf["log_head_address"] <= CACHE_MB * MB
    assert inf["log_bytes_on_disk"] == 0
    check_all(c, hot, prefix="hot")
    # cold keys: the first ones are gone; whatever is left is right
    p = c.pipeline(transaction=False)
    for i in range(20_000):
        p.get(key(i))
    got = p.execute()
    present = 0
    for i, v in enumerate(got):
        if v is not None:
            present += 1
            assert v == value(i), key(i)
    assert present < 200, "%d of the first 20000 keys still present" % present
    # the newest keys are all there
    check_all(c, range(n - 20_000, n))
    # what is left fits in memory: at most log memory / record size keys
    per_record = (inf["log_tail_address"] - inf["log_begin_address"]) / inf["upserts"] * 0.9
    assert c.dbsize() <= CACHE_MB * MB / per_record, (c.dbsize(), per_record)
    assert c.dbsize() >= 100 + 20_000
    data = os.path.join(srv.dir, "data")
    files = os.listdir(data) if os.path.isdir(data) else []
    assert not [f for f in files if "hlog" in f], files
    mem = proc_mem(srv)
    bound = CACHE_MB * MB + inf["used_memory_engine_index"] + CACHE_MARGIN
    print("\ncache: %d keys in %.1f s, evicted %d, copies_to_tail %d, dbsize %d, VmHWM %.1f MB "
          "(bound %.1f MB)" % (n, elapsed, inf["evicted_keys"], inf["copies_to_tail"], c.dbsize(),
                               mem["VmHWM"] / MB, bound / MB))
    if not SANITIZER:  # shadow memory inflates RSS under sanitizers
        assert mem["VmHWM"] <= bound, (mem, bound)
    c.close()


def test_cache_mode_without_copy_reads_evicts_read_keys(start_server):
    """The control: with copy-reads-to-tail no, keys that are only read
    fall off the head like any other (so the survival above is the copy's
    doing).  An 8 MB cache, 120,000 keys (~3.5x memory)."""
    srv = start_server(["--storage-tier", "no", "--log-memory-size", "8mb",
                        "--copy-reads-to-tail", "no"])
    c = srv.client()
    hot = list(range(20))
    load(c, len(hot), prefix="hot")
    for lo in range(0, 120_000, BATCH):
        load(c, BATCH, start=lo)
        p = c.pipeline(transaction=False)
        for i in hot:
            p.get(key(i, "hot"))
        for i, v in zip(hot, p.execute()):
            assert v in (None, value(i))
    inf = engine(c)
    assert inf["copies_to_tail"] == 0
    assert inf["evicted_keys"] > 0
    assert all(c.get(key(i, "hot")) is None for i in hot)
    c.close()


def test_mget_of_more_keys_than_the_read_cache_holds(start_server):
    """An MGET of 40,000 on-disk keys with every read asynchronous and the
    smallest read cache (4 MiB, about 11,000 records): its reads cannot all
    stay cached until it runs again, so after going pending twice it waits
    for the disk in place, and it completes with every value right."""
    n = 60_000
    srv = start_server(store_args(4, 16, read_cache=False, extra=ASYNC_READS))
    c = srv.client(socket_timeout=120)
    load(c, n)
    disk = on_disk_prefix(c, n)
    assert disk >= 40_000, disk
    want = list(range(0, 40_000))
    got = c.mget([key(i) for i in want])
    assert len(got) == len(want)
    for i, v in zip(want, got):
        assert v == value(i), i
    assert c.ping() is True
    c.close()
