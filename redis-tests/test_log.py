"""The LOG.* commands: named FasterLogs (durable append-only logs of byte
entries with group commit) served over RESP (docs/COMMANDS.md, "Logs").

What is tested, and why:

- the replies of every command, as a client sees them: LOG.APPEND's
  addresses (the first entry of a log is at 64, later ones increase),
  LOG.READ's [entry, next] chain (next is exactly the following entry's
  address, across page ends too), nil at the tail, binary-safe entries (the
  empty one, zero bytes, CR LF, RESP-looking bytes), the largest entry
  (page size - 8) and one byte more;
- LOG.SCAN's ranges ([from, to), COUNT, continuing from the address it
  returns reproduces every entry exactly once), UNCOMMITTED, and the empty
  scan [from, []];
- every error text the spec names (unknown log, invalid names, addresses
  that are not integers, below begin, beyond the end, not at an entry
  boundary, options, arity), and that an invalid name never reaches the
  file system;
- LOG.TRUNCATE, LOG.INFO (fields and types, RESP2 and RESP3), LOG.LIST,
  LOG.DROP (the log's folder goes);
- durability, the point of the family: under `log-commit-policy always` an
  acknowledged LOG.APPEND survives kill -9, and the recovered log is always
  a gap-free prefix of what was sent (per connection), with every entry at
  the address it was acknowledged with; also with kill -9 at a random
  moment while clients are appending; under `manual` exactly what the last
  LOG.COMMIT covered comes back; under `everysec` what INFO reported
  committed does;
- LOG.TAIL ... BLOCK: wakes on the commit of an entry at `from` (not on
  its append), times out with nil, keeps the worker serving other
  connections (tested with one worker thread, where a blocked worker would
  starve everyone, and with two), holds back the replies of commands
  pipelined after it, and survives a client that disconnects while blocked;
- restart after a clean SHUTDOWN NOSAVE keeps every log and entry.

How the tests know: entries carry their writer and sequence number
(b"t<thread>-entry-<i>-" + random bytes), so a recovered log can be matched
against what each connection sent and what was acknowledged, without
trusting the server for anything.  Durability tests read the whole log back
with LOG.SCAN ... COUNT, checking that each chunk starts exactly where the
previous one said to continue.

Sizes and times: RF_SANITIZE (set by make SANITIZE=...) scales the entry
counts down (100,000 -> 10,000 in the main durability test) and deadlines
up; RF_LOG_ENTRIES=N sets that count; RF_SEED=N replays the random choices
of a failed run (the seed is printed, and named in failures).  Nothing here
uses fixed ports or sleeps for synchronisation: waits poll with deadlines,
and the few fixed pauses are windows in which a reply must NOT arrive.  The
file takes about 12 s on the 2-core development machine (the 100,000-entry
kill -9 test about 3 s).
"""
import os
import random
import re
import select
import socket
import shutil
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import BINARY, free_port, RawConn, RawError, resp, Server, wait_until, WriterThread

SANITIZER = os.environ.get("RF_SANITIZE", "")
SLOW = 4 if SANITIZER else 1
SEED = int(os.environ.get("RF_SEED", random.randrange(1 << 30)))
print("test_log: RF_SEED=%d" % SEED)

FIRST = 64  # the first entry's address in a new log
MAX_ENTRY = 1048576 - 8  # default faster-log-page-size (1 MiB) - 8
DURABLE_ENTRIES = int(os.environ.get("RF_LOG_ENTRIES", 10_000 if SANITIZER else 100_000))
BATCH = 500
SCAN_CHUNK = 5000
RESTART_TIMEOUT = 30.0 * SLOW
# A blocked LOG.TAIL must wake this soon after the commit it waits for.
WAKE_LIMIT = min(1.0 * SLOW, 3.0)
# Windows in which a reply must not arrive (a blocked command's).
QUIET = 0.3

INVALID_NAME = ("ERR invalid log name '%s' (use 1 to 128 letters, digits, '.', '_' "
                "or '-', not starting with '.')")
NOT_INTEGER = "ERR value is not an integer or out of range"


# ---- helpers ------------------------------------------------------------------

def log_append(c, name, *entries):
    return c.execute_command("LOG.APPEND", name, *entries)


def log_info(c, name):
    """LOG.INFO as a dict {str field: value}; values normalised: integers
    stay int, strings (bulk or simple) become str."""
    flat = c.execute_command("LOG.INFO", name)
    assert isinstance(flat, list) and len(flat) % 2 == 0, "LOG.INFO replied %r" % (flat,)
    out = {}
    for k, v in zip(flat[::2], flat[1::2]):
        k = k.decode() if isinstance(k, bytes) else k
        if isinstance(v, bytes):
            v = v.decode()
        out[k] = v
    return out


def parse_scan(reply, what="LOG.SCAN"):
    """[next, [[addr, entry], ...]] -> (next, [(addr, entry), ...]),
    checking the reply's shape."""
    assert isinstance(reply, list) and len(reply) == 2, "%s replied %r" % (what, reply)
    nxt, pairs = reply
    assert isinstance(nxt, int) and isinstance(pairs, list), "%s replied %r" % (what, reply)
    out = []
    for p in pairs:
        assert isinstance(p, list) and len(p) == 2 and isinstance(p[0], int) \
            and isinstance(p[1], bytes), "%s: a pair is %r" % (what, p)
        out.append((p[0], p[1]))
    return nxt, out


def scan(c, name, *args):
    return parse_scan(c.execute_command("LOG.SCAN", name, *args))


def scan_all(c, name, frm=FIRST, count=SCAN_CHUNK, extra=()):
    """Every entry from `frm` on, by LOG.SCAN ... COUNT `count` continued
    from the address each reply returns: [(addr, entry), ...] and the
    address the last (empty) scan returned.  Each chunk must start exactly
    at the address the previous one said to continue from, addresses must
    increase, and the continue address must lie past the chunk's last
    entry."""
    out = []
    while True:
        nxt, pairs = scan(c, name, frm, "COUNT", count, *extra)
        if not pairs:
            assert nxt == frm, "an empty LOG.SCAN from %d returned %d" % (frm, nxt)
            return out, frm
        assert len(pairs) <= count, "COUNT %d gave %d pairs" % (count, len(pairs))
        assert pairs[0][0] == frm, "LOG.SCAN from %d began at %d" % (frm, pairs[0][0])
        for (a, _), (b, _) in zip(pairs, pairs[1:]):
            assert a < b, "LOG.SCAN addresses do not increase: %d then %d" % (a, b)
        assert nxt > pairs[-1][0], "LOG.SCAN continues at %d, before its last entry %d" % (
            nxt, pairs[-1][0])
        out += pairs
        frm = nxt


def name_errors(bad):
    """The error texts LOG.* may answer for the invalid name `bad`: the
    name as given, or shown safely (its first 128 bytes, bytes outside
    printable ASCII as '?'), which the spec leaves open."""
    b = bad.encode()[:128]
    shown = "".join(chr(x) if 32 <= x < 127 else "?" for x in b)
    return (RawError(INVALID_NAME % bad), RawError(INVALID_NAME % shown))


def error_of(raw, *args):
    """The exact error text (with its ERR prefix) a command answers."""
    r = raw.call(*args)
    assert isinstance(r, RawError), "%r replied %r, not an error" % (args, r)
    return str(r)


def shutdown_nosave(srv):
    """SHUTDOWN NOSAVE: the server closes the connection and exits 0."""
    raw = RawConn(srv.port, timeout=30 * SLOW)
    raw.send("SHUTDOWN", "NOSAVE")
    try:
        reply = raw.read()
    except (ConnectionError, OSError):
        reply = None
    raw.close()
    assert reply is None, "SHUTDOWN NOSAVE replied %r" % (reply,)
    assert srv.wait_exit(30 * SLOW) == 0, srv.read_log()[-2000:]


def log_dir(srv, name=None):
    base = os.path.join(srv.dir, "data", "logs")
    return base if name is None else os.path.join(base, name)


def entry_of(t, i, rng, maxpad=120):
    """Entry i of writer t: its identity, then 0..maxpad random bytes
    (zero bytes, CR LF and all)."""
    return b"t%d-entry-%d-" % (t, i) + rng.randbytes(rng.randrange(maxpad + 1))


ENTRY_RE = re.compile(rb"t(\d+)-entry-(\d+)-")


def check_recovered(recovered, sent, acked, what):
    """The recovered log [(addr, entry)] against what each writer sent
    (sent[t]: its entries in order) and had acknowledged (acked[t]: the
    addresses of sent[t][:len(acked[t])]): every entry is one that was sent;
    each writer's entries come back as a prefix of what it sent (no gap, no
    reordering), at least as long as what was acknowledged, each
    acknowledged one at its acknowledged address."""
    mine = {t: [] for t in sent}
    for addr, e in recovered:
        m = ENTRY_RE.match(e)
        assert m and int(m.group(1)) in sent, "%s: an entry nobody sent at %d: %r" % (
            what, addr, e[:60])
        mine[int(m.group(1))].append((addr, e))
    for t, got in mine.items():
        s, a = sent[t], acked[t]
        assert len(got) >= len(a), \
            "%s (seed %d): writer %d had %d entries acknowledged, %d came back; first missing: " \
            "entry %d at %d" % (what, SEED, t, len(a), len(got), len(got), a[len(got)])
        assert len(got) <= len(s), "%s: writer %d: %d entries back, %d sent" % (
            what, t, len(got), len(s))
        for i, (addr, e) in enumerate(got):
            if e != s[i]:
                pytest.fail("%s (seed %d): writer %d's entry %d (at %d) is %r, sent %r: "
                            "not a prefix of what it sent" % (what, SEED, t, i, addr, e[:60], s[i][:60]))
            if i < len(a) and addr != a[i]:
                pytest.fail("%s (seed %d): writer %d's entry %d came back at %d, acknowledged "
                            "at %d" % (what, SEED, t, i, addr, a[i]))


def nothing_arrives(sock, seconds):
    """True when no byte is readable on sock for `seconds` (the window in
    which a blocked command's reply must not come)."""
    r, _, _ = select.select([sock], [], [], seconds)
    return not r


# ---- servers --------------------------------------------------------------------

@pytest.fixture(scope="module")
def logsrv():
    """One server for the tests that do not restart it or need a policy:
    the default policy (everysec), spelled out."""
    s = Server(["--log-commit-policy", "everysec"])
    yield s
    s.stop()


@pytest.fixture
def c(logsrv):
    cl = logsrv.client()
    yield cl
    cl.close()


@pytest.fixture
def raw(logsrv):
    conn = RawConn(logsrv.port)
    yield conn
    conn.close()


# ---- 1: APPEND and READ -----------------------------------------------------------

def test_append_read_chain(c):
    """The first entry is at 64; several entries in one APPEND get an
    array of increasing addresses; READ of each returns [entry, next] with
    next the following entry's address; READ at the tail is nil; INFO's
    tail is that address."""
    name = "basic"
    a0 = log_append(c, name, b"first")
    assert a0 == FIRST and type(a0) is int
    more = [b"second", b"third-" * 10, b"4", b"fifth entry"]
    addrs = log_append(c, name, *more)
    assert isinstance(addrs, list) and len(addrs) == len(more), addrs
    assert all(type(a) is int for a in addrs), addrs
    all_a, all_e = [a0] + addrs, [b"first"] + more
    assert all(x < y for x, y in zip(all_a, all_a[1:])), all_a
    nexts = []
    for a, e in zip(all_a, all_e):
        r = c.execute_command("LOG.READ", name, a)
        assert isinstance(r, list) and len(r) == 2, r
        assert r[0] == e and type(r[1]) is int, (a, r)
        nexts.append(r[1])
    assert nexts[:-1] == all_a[1:], (all_a, nexts)
    tail = nexts[-1]
    assert tail > all_a[-1]
    assert c.execute_command("LOG.READ", name, tail) is None
    assert log_info(c, name)["tail"] == tail
    # one more: at the old tail, and a one-entry APPEND is an integer
    a5 = log_append(c, name, b"sixth")
    assert a5 == tail and type(a5) is int
    assert c.execute_command("LOG.READ", name, a5)[0] == b"sixth"


def test_binary_safe_entries(c):
    """Entries are byte strings: the empty one, zero bytes, CR LF,
    RESP-looking bytes, every byte value, every length mod 8; one by one and
    several per APPEND, read back by READ and by SCAN."""
    name = "binary"
    entries = [b"", b"\x00", b"\r\n", b"a\r\nb\x00c", b"\r\n$-1\r\n*3\r\n:1\r\n",
               bytes(range(256)), b"\xff" * 3, b""] + [b"x" * n for n in range(1, 10)]
    singles = [log_append(c, name, e) for e in entries[:5]]
    multi = log_append(c, name, *entries[5:])
    addrs = singles + multi
    assert all(x < y for x, y in zip(addrs, addrs[1:])), addrs
    for a, e in zip(addrs, entries):
        assert c.execute_command("LOG.READ", name, a)[0] == e, (a, e)
    c.execute_command("LOG.COMMIT", name)
    got, _ = scan_all(c, name)
    assert got == list(zip(addrs, entries))
    # an empty entry still takes room: the next one starts after it
    r = c.execute_command("LOG.READ", name, addrs[0])
    assert r == [b"", addrs[1]] and addrs[1] > addrs[0]


def test_largest_entry_and_one_byte_more(c, raw):
    """With the default page size (1 MiB) an entry of 1048568 bytes is
    taken (after a small one, so it has to start on a fresh page: READ's
    next of the small one must say where) and read back whole; one byte
    more is refused with the spec's text, and the log goes on."""
    name = "large"
    a0 = log_append(c, name, b"small")
    big = bytes(random.Random(SEED).randbytes(MAX_ENTRY))
    a1 = log_append(c, name, big)
    assert type(a1) is int and a1 > a0
    assert c.execute_command("LOG.READ", name, a0)[1] == a1
    r = c.execute_command("LOG.READ", name, a1)
    assert len(r[0]) == MAX_ENTRY and r[0] == big
    tail = r[1]
    assert raw.call("LOG.APPEND", name, b"y" * (MAX_ENTRY + 1)) == RawError(
        "ERR entry of %d bytes is larger than the log's largest entry, %d bytes "
        "(faster-log-page-size)" % (MAX_ENTRY + 1, MAX_ENTRY))
    assert log_info(c, name)["tail"] == tail, "a refused APPEND moved the tail"
    assert log_append(c, name, b"after") == tail
    c.execute_command("LOG.COMMIT", name)
    got, _ = scan_all(c, name, count=2)
    assert [a for a, _ in got] == [a0, a1, tail] and got[1][1] == big


def test_small_pages_read_from_device(start_server):
    """--faster-log-page-size 64kb --faster-log-pages 4: entries of random
    sizes (0 .. 20000 bytes) fill ~1.5 MB, far more than the 256 KB of
    memory frames, so most are read back from the device; READ's next
    chain skips page ends exactly (next is the following entry's address,
    on the next page when it did not fit); SCAN in small chunks agrees
    (its continue addresses are entry addresses); the skipped end of a
    page is no entry; INFO shows the page size and the largest entry is
    65528 bytes."""
    rng = random.Random(SEED + 1)
    srv = start_server(["--faster-log-page-size", "64kb", "--faster-log-pages", "4"])
    c = srv.client()
    raw = RawConn(srv.port)
    name = "pages"
    entries, addrs = [], []
    total = 0
    while total < 1_500_000:
        batch = [b"%d:" % (len(entries) + k) + rng.randbytes(rng.randrange(20000))
                 for k in range(rng.randrange(1, 8))]
        r = log_append(c, name, *batch)
        addrs += r if isinstance(r, list) else [r]
        entries += batch
        total += sum(len(e) for e in batch)
    assert addrs[0] == FIRST
    committed = c.execute_command("LOG.COMMIT", name)
    inf = log_info(c, name)
    assert inf["page-size"] == 65536, inf
    assert committed == inf["tail"] == inf["committed"], (committed, inf)
    assert inf["entries"] == len(entries), inf
    assert inf["bytes"] == inf["tail"] - inf["begin"], inf
    p = c.pipeline(transaction=False)
    for a in addrs:
        p.execute_command("LOG.READ", name, a)
    reads = p.execute()
    for i, (a, e, r) in enumerate(zip(addrs, entries, reads)):
        assert r[0] == e, "entry %d at %d differs (len %d, read %d)" % (i, a, len(e), len(r[0]))
        want_next = addrs[i + 1] if i + 1 < len(addrs) else committed
        assert r[1] == want_next, "READ %d: next %d, the following entry is at %d" % (a, r[1], want_next)
    got, end = scan_all(c, name, count=3)
    assert end == committed
    assert got == list(zip(addrs, entries))
    # Where an entry did not fit in the rest of a page, the bytes after the
    # previous one (8-byte header, payload padded to 4: flog.h) are the
    # page's skipped end.  A reader that stopped there (it was the tail
    # then) goes on from it: READ there reads the next page's first entry.
    jumps = 0
    for i, (a, e) in enumerate(zip(addrs[:-1], entries)):
        end_of = a + 8 + (len(e) + 3) // 4 * 4
        if end_of != addrs[i + 1]:
            assert addrs[i + 1] % 65536 == 0, (a, len(e), addrs[i + 1])
            jumps += 1
            r = c.execute_command("LOG.READ", name, end_of)
            assert r[0] == entries[i + 1], "READ at a page's skipped end"
            assert r[1] == (addrs[i + 2] if i + 2 < len(addrs) else committed)
    assert jumps >= 10, "only %d entries started a fresh page" % jumps
    assert raw.call("LOG.APPEND", name, b"y" * 65529) == RawError(
        "ERR entry of 65529 bytes is larger than the log's largest entry, 65528 bytes "
        "(faster-log-page-size)")
    a = log_append(c, name, b"z" * 65528)
    assert c.execute_command("LOG.READ", name, a)[0] == b"z" * 65528
    # Truncated to a page's skipped end, the log begins at the next page.
    for i, (a, e) in enumerate(zip(addrs[:-1], entries)):
        end_of = a + 8 + (len(e) + 3) // 4 * 4
        if end_of != addrs[i + 1]:
            assert c.execute_command("LOG.TRUNCATE", name, end_of) == addrs[i + 1]
            assert log_info(c, name)["begin"] == addrs[i + 1]
            assert log_info(c, name)["entries"] == len(entries) + 1 - (i + 1)
            break
    raw.close()
    c.close()


# ---- 2: SCAN ------------------------------------------------------------------------

def test_scan_ranges_count_and_continuation(c):
    """After LOG.COMMIT (which answers the committed address, the tail):
    SCAN from 64 returns every entry and the committed address; `to` stops
    before the entry at `to` and returns it as the continue address; COUNT
    caps the pairs and continues at the first one left out; continuing
    with COUNT 7 returns every entry exactly once; `to` beyond the commit
    is capped; a huge COUNT is fine; an empty scan is [from, []]."""
    name = "scan"
    entries = [b"scan-%d-" % i + b"." * (i % 13) for i in range(50)]
    addrs = log_append(c, name, *entries)
    committed = c.execute_command("LOG.COMMIT", name)
    assert type(committed) is int and committed == log_info(c, name)["tail"]
    pairs = list(zip(addrs, entries))

    assert scan(c, name, FIRST) == (committed, pairs)
    assert scan(c, name, FIRST, addrs[10]) == (addrs[10], pairs[:10])
    assert scan(c, name, addrs[5], addrs[12]) == (addrs[12], pairs[5:12])
    assert scan(c, name, FIRST, "COUNT", 7) == (addrs[7], pairs[:7])
    assert scan(c, name, addrs[5], addrs[12], "COUNT", 3) == (addrs[8], pairs[5:8])
    assert scan(c, name, addrs[5], addrs[12], "COUNT", 30) == (addrs[12], pairs[5:12])
    assert scan(c, name, FIRST, 1 << 62) == (committed, pairs)
    assert scan(c, name, FIRST, "COUNT", 9223372036854775807) == (committed, pairs)
    assert scan(c, name, "64", "COUNT", "50") == (committed, pairs)

    got, end = scan_all(c, name, count=7)
    assert got == pairs and end == committed
    # empty scans
    assert scan(c, name, committed) == (committed, [])
    assert scan(c, name, addrs[3], addrs[3]) == (addrs[3], [])
    assert scan(c, name, committed, "COUNT", 5) == (committed, [])


def test_scan_uncommitted_under_manual(start_server):
    """--log-commit-policy manual: appended entries are readable (READ) and
    shown by SCAN ... UNCOMMITTED (options in either order, with `to` and
    COUNT) but a plain SCAN shows none, and INFO's committed stays 64,
    until LOG.COMMIT; then the plain SCAN shows them all."""
    srv = start_server(["--log-commit-policy", "manual"])
    c = srv.client()
    name = "manual"
    entries = [b"u%d" % i for i in range(5)]
    addrs = log_append(c, name, *entries)
    pairs = list(zip(addrs, entries))
    inf = log_info(c, name)
    tail = inf["tail"]
    assert inf["committed"] == FIRST and tail > addrs[-1], inf
    assert scan(c, name, FIRST) == (FIRST, [])
    assert scan(c, name, FIRST, "UNCOMMITTED") == (tail, pairs)
    assert scan(c, name, FIRST, "UNCOMMITTED", "COUNT", 2) == (addrs[2], pairs[:2])
    assert scan(c, name, FIRST, "COUNT", 2, "UNCOMMITTED") == (addrs[2], pairs[:2])
    assert scan(c, name, FIRST, addrs[3], "UNCOMMITTED") == (addrs[3], pairs[:3])
    assert scan(c, name, FIRST, 1 << 62, "uncommitted") == (tail, pairs)
    for a, e in pairs:
        assert c.execute_command("LOG.READ", name, a)[0] == e
    commits = inf["commits"]
    assert c.execute_command("LOG.COMMIT", name) == tail
    inf = log_info(c, name)
    assert inf["committed"] == tail and inf["commits"] >= commits + 1, inf
    assert scan(c, name, FIRST) == (tail, pairs)
    c.close()


# ---- 3: errors ----------------------------------------------------------------------

def test_unknown_log(raw):
    """Every command on a log that does not exist: ERR no such log; DROP
    answers 0; a blocking TAIL on it errors at once."""
    want = RawError("ERR no such log 'nope'")
    for args in [("LOG.READ", "nope", FIRST), ("LOG.SCAN", "nope", FIRST),
                 ("LOG.SCAN", "nope", FIRST, "UNCOMMITTED"), ("LOG.TAIL", "nope", FIRST),
                 ("LOG.INFO", "nope"), ("LOG.COMMIT", "nope"), ("LOG.TRUNCATE", "nope", FIRST)]:
        assert raw.call(*args) == want, args
    t0 = time.monotonic()
    assert raw.call("LOG.TAIL", "nope", FIRST, "BLOCK", 5000) == want
    assert time.monotonic() - t0 < 2.5
    assert raw.call("LOG.DROP", "nope") == 0
    assert b"nope" not in raw.call("LOG.LIST")


def test_invalid_names(logsrv, raw):
    """Names are 1..128 of [A-Za-z0-9._-], not starting with '.'; any
    other is refused with the spec's text by APPEND, READ, INFO and DROP
    (the name in it may be shown truncated to 128 bytes, non-printable
    bytes as '?'),
    and nothing is created under dir/logs (no '..', no 'a/b' escaping into
    other folders).  A name with CR LF is refused without breaking the
    connection's protocol.  Valid edge cases work."""
    for bad in ["", ".hidden", ".", "..", "a/b", "../x", "x" * 129, "a b", "\xe9t\xe9",
                "a*", "a:b"]:
        want = name_errors(bad)
        assert raw.call("LOG.APPEND", bad, "e") in want, bad
        assert raw.call("LOG.READ", bad, FIRST) in want, bad
        assert raw.call("LOG.INFO", bad) in want, bad
        assert raw.call("LOG.DROP", bad) in want, bad
    r = raw.call("LOG.APPEND", "a\r\nb", "e")
    assert isinstance(r, RawError) and str(r).startswith("ERR invalid log name"), r
    assert raw.call("PING") == "PONG"
    base = log_dir(logsrv)
    listed = os.listdir(base) if os.path.isdir(base) else []
    for bad in ["a", "..", "x" * 129, ".hidden"]:
        assert bad not in listed, listed
    assert not os.path.exists(os.path.join(logsrv.dir, "x")), "'../x' escaped dir/logs"
    assert not os.path.exists(os.path.join(logsrv.dir, "data", "x"))

    for good in ["n" * 128, "A.b_c-9", "9", "_x", "-x", "x."]:
        assert raw.call("LOG.APPEND", good, "e") == FIRST, good
        assert good.encode() in raw.call("LOG.LIST")
        assert raw.call("LOG.DROP", good) == 1


def test_address_errors(c, raw):
    """Addresses: not an integer, beyond the tail, not at an entry
    boundary (address + 4, inside an entry's header, and + 12, inside its
    payload), for READ and SCAN; option errors."""
    name = "errs"
    addrs = log_append(c, name, b"0123456789" * 10, b"second entry, also long enough", b"x")
    tail = c.execute_command("LOG.COMMIT", name)
    for bad in ["abc", "1.5", "", "64x", "99999999999999999999999"]:
        assert raw.call("LOG.READ", name, bad) == RawError(NOT_INTEGER), bad
        assert raw.call("LOG.SCAN", name, bad) == RawError(NOT_INTEGER), bad
        assert raw.call("LOG.TAIL", name, bad) == RawError(NOT_INTEGER), bad
        assert raw.call("LOG.TRUNCATE", name, bad) == RawError(NOT_INTEGER), bad
    assert raw.call("LOG.SCAN", name, FIRST, "COUNT", "x") == RawError(NOT_INTEGER)
    # a third argument that is neither an address nor an option
    assert raw.call("LOG.SCAN", name, FIRST, "x1") in (RawError(NOT_INTEGER),
                                                       RawError("ERR syntax error"))
    assert raw.call("LOG.TAIL", name, FIRST, "BLOCK", "x") == RawError(NOT_INTEGER)
    assert raw.call("LOG.TAIL", name, FIRST, "COUNT", "1.0") == RawError(NOT_INTEGER)
    assert raw.call("LOG.SCAN", name, FIRST, "COUNT", -1) == RawError("ERR COUNT must be positive")
    assert raw.call("LOG.TAIL", name, FIRST, "COUNT", -1) == RawError("ERR COUNT must be positive")
    assert raw.call("LOG.TAIL", name, FIRST, "BLOCK", -1) == RawError("ERR timeout is negative")
    assert raw.call("LOG.SCAN", name, FIRST, tail, "FOO") == RawError("ERR syntax error")
    assert raw.call("LOG.SCAN", name, FIRST, "COUNT") == RawError("ERR syntax error")
    assert raw.call("LOG.TAIL", name, FIRST, "UNCOMMITTED") == RawError("ERR syntax error")
    assert raw.call("LOG.TAIL", name, FIRST, "BLOCK") == RawError("ERR syntax error")

    for beyond in [tail + 4, tail + 8, tail + 4096, 1 << 62]:
        assert raw.call("LOG.READ", name, beyond) == RawError(
            "ERR address %d is beyond the end address %d" % (beyond, tail)), beyond
        r = raw.call("LOG.SCAN", name, beyond)
        assert isinstance(r, RawError) and str(r).startswith("ERR address %d is beyond the " % beyond), r
    for off in (4, 12):
        a = addrs[0] + off
        assert raw.call("LOG.READ", name, a) == RawError("ERR no entry starts at address %d" % a)
        assert raw.call("LOG.SCAN", name, a) == RawError("ERR no entry starts at address %d" % a)
    a = addrs[1] + 4
    assert raw.call("LOG.READ", name, a) == RawError("ERR no entry starts at address %d" % a)
    # the log is unharmed
    assert raw.call("LOG.READ", name, addrs[2]) == [b"x", tail]


def test_arity_and_case(raw):
    """Wrong argument counts answer Redis's arity error with the command's
    lower-case name; command names are case-insensitive."""
    cases = [("LOG.APPEND",), ("LOG.APPEND", "a"), ("LOG.READ", "a"), ("LOG.READ", "a", 64, 65),
             ("LOG.SCAN", "a"), ("LOG.TAIL", "a"), ("LOG.TRUNCATE", "a"),
             ("LOG.TRUNCATE", "a", 64, 65), ("LOG.INFO",), ("LOG.INFO", "a", "b"),
             ("LOG.LIST", "x"), ("LOG.DROP",), ("LOG.DROP", "a", "b"), ("LOG.COMMIT",),
             ("LOG.COMMIT", "a", "b"), ("LOG.SCAN",), ("LOG.TAIL",), ("LOG.READ",)]
    for args in cases:
        assert raw.call(*args) == RawError(
            "ERR wrong number of arguments for '%s' command" % args[0].lower()), args
    assert raw.call("log.append", "casetest", "x") == FIRST
    assert raw.call("Log.Read", "casetest", FIRST)[0] == b"x"
    assert raw.call("log.drop", "casetest") == 1


def test_logs_work_in_cache_mode(start_server):
    """A cache (storage-tier no) keeps its keys in memory only, but its
    logs are files of their own under dir/logs: they work, and survive a
    restart."""
    srv = start_server(["--storage-tier", "no", "--log-commit-policy", "always"])
    c = srv.client()
    a = c.execute_command("LOG.APPEND", "x", "y")
    assert a == FIRST
    assert c.execute_command("LOG.LIST") == [b"x"]
    assert os.path.isdir(os.path.join(srv.dir, "data", "logs", "x"))
    srv.kill9()
    srv.restart()
    c = srv.client()
    assert c.execute_command("LOG.READ", "x", FIRST)[0] == b"y"


def test_bad_commit_policy_is_refused():
    """An unknown --log-commit-policy stops the server at start."""
    d = tempfile.mkdtemp(prefix="rf-test-")
    try:
        try:
            p = subprocess.run([BINARY, "--port", str(free_port()), "--dir",
                                os.path.join(d, "data"), "--log-commit-policy", "sometimes",
                                "--save", ""],
                               cwd=d, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=10 * SLOW)
        except subprocess.TimeoutExpired:
            pytest.fail("the server started with --log-commit-policy sometimes")
        assert p.returncode != 0, p.stdout[-2000:]
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ---- 4: TRUNCATE -------------------------------------------------------------------

@pytest.mark.parametrize("stop", ["kill9", "shutdown"])
def test_truncate(start_server, stop):
    """--log-commit-policy manual.  TRUNCATE to an entry answers the new
    begin; READ below it errors; INFO's begin, entries and bytes follow; a
    lower `until` changes nothing; one not at a boundary or beyond the
    committed address errors and changes nothing; truncating to the
    committed address keeps the uncommitted entries above it.  Then kill -9
    (or SHUTDOWN NOSAVE) and restart: begin, entries and the remaining
    entries are as before; truncating to the end empties the log, and new
    appends go on at that address."""
    srv = start_server(["--log-commit-policy", "manual"])
    c = srv.client()
    raw = RawConn(srv.port)
    name = "trunc"
    entries = [b"tr-%02d-" % i + b"#" * i for i in range(10)]
    addrs = log_append(c, name, *entries)
    committed = c.execute_command("LOG.COMMIT", name)

    assert c.execute_command("LOG.TRUNCATE", name, addrs[4]) == addrs[4]
    inf = log_info(c, name)
    assert inf["begin"] == addrs[4] and inf["entries"] == 6, inf
    assert inf["bytes"] == inf["tail"] - addrs[4] == committed - addrs[4], inf
    for a in (addrs[3], FIRST):
        assert raw.call("LOG.READ", name, a) == RawError(
            "ERR address %d is below the log's begin address %d" % (a, addrs[4]))
    assert c.execute_command("LOG.READ", name, addrs[4])[0] == entries[4]
    assert scan(c, name, addrs[4]) == (committed, list(zip(addrs, entries))[4:])
    # at or below begin: nothing changes
    assert c.execute_command("LOG.TRUNCATE", name, addrs[2]) == addrs[4]
    assert c.execute_command("LOG.TRUNCATE", name, addrs[4]) == addrs[4]
    # not at a boundary
    a = addrs[6] + 4
    assert raw.call("LOG.TRUNCATE", name, a) == RawError("ERR no entry starts at address %d" % a)
    assert log_info(c, name)["begin"] == addrs[4]

    # uncommitted entries above the committed address
    more = [b"late-1", b"late-2"]
    late = log_append(c, name, *more)
    assert late[0] == committed
    assert raw.call("LOG.TRUNCATE", name, late[1]) == RawError(
        "ERR address %d is beyond the committed address %d" % (late[1], committed))
    assert log_info(c, name)["begin"] == addrs[4]
    assert c.execute_command("LOG.TRUNCATE", name, committed) == committed
    inf = log_info(c, name)
    assert inf["begin"] == committed and inf["entries"] == 2, inf
    assert inf["bytes"] == inf["tail"] - committed, inf
    tail = c.execute_command("LOG.COMMIT", name)
    assert tail == inf["tail"]
    raw.close()
    c.close()

    if stop == "kill9":
        srv.kill9()
    else:
        shutdown_nosave(srv)
    srv.restart(RESTART_TIMEOUT)
    c = srv.client()
    raw = RawConn(srv.port)
    inf = log_info(c, name)
    assert inf["begin"] == committed and inf["tail"] == tail and inf["committed"] == tail, inf
    assert inf["entries"] == 2 and inf["bytes"] == tail - committed, inf
    assert raw.call("LOG.READ", name, addrs[9]) == RawError(
        "ERR address %d is below the log's begin address %d" % (addrs[9], committed))
    assert scan(c, name, committed) == (tail, list(zip(late, more)))

    # truncate everything: empty log, appends go on at the same address
    assert c.execute_command("LOG.TRUNCATE", name, tail) == tail
    inf = log_info(c, name)
    assert inf["begin"] == inf["tail"] == tail and inf["entries"] == 0 and inf["bytes"] == 0, inf
    assert c.execute_command("LOG.READ", name, tail) is None
    assert scan(c, name, tail) == (tail, [])
    assert log_append(c, name, b"fresh") == tail
    assert c.execute_command("LOG.COMMIT", name) > tail
    raw.close()
    c.close()


# ---- 5: INFO, LIST, DROP --------------------------------------------------------------

def test_info_fields_resp2_and_resp3(logsrv, c):
    """LOG.INFO: begin, tail, committed, entries, bytes, commits, page-size
    (integers) and status ("ok"), a flat field/value array in RESP2 and a
    map in RESP3; the numbers match what APPEND and COMMIT answered."""
    name = "info"
    addrs = log_append(c, name, b"one", b"two", b"three")
    committed = c.execute_command("LOG.COMMIT", name)
    inf = log_info(c, name)
    fields = {"begin", "tail", "committed", "entries", "bytes", "commits", "page-size", "status"}
    assert fields <= set(inf), inf
    for f in fields - {"status"}:
        assert type(inf[f]) is int, (f, inf)
    assert inf["status"] == "ok", inf
    assert inf["begin"] == FIRST and addrs[0] == FIRST, inf
    assert inf["tail"] == inf["committed"] == committed, inf
    assert inf["entries"] == 3 and inf["bytes"] == committed - FIRST, inf
    assert inf["commits"] >= 1 and inf["page-size"] == 1048576, inf

    r3 = RawConn(logsrv.port)
    hello = r3.call("HELLO", "3")
    assert isinstance(hello, dict), hello
    m = r3.call("LOG.INFO", name)
    assert isinstance(m, dict), "LOG.INFO in RESP3 is not a map: %r" % (m,)
    m = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
         for k, v in m.items()}
    assert {k: m[k] for k in fields} == {k: inf[k] for k in fields}, (m, inf)
    nxt, pairs = parse_scan(r3.call("LOG.SCAN", name, FIRST))
    assert nxt == committed and [e for _, e in pairs] == [b"one", b"two", b"three"]
    r3.close()


def test_list_and_drop(start_server):
    """LOG.LIST: the logs' names, sorted (byte order), none at first.
    LOG.DROP: 1, then 0; the log is gone from LIST and INFO and its folder
    from dir/logs, the others stay; APPEND to the name again starts a new
    log at 64; after a restart the dropped log stays dropped."""
    srv = start_server()
    c = srv.client()
    raw = RawConn(srv.port)
    assert c.execute_command("LOG.LIST") == []
    names = ["b", "a", "C", "a-1", "a.1", "_z", "0", "zz"]
    for n in names:
        assert log_append(c, n, b"entry of " + n.encode()) == FIRST
        c.execute_command("LOG.COMMIT", n)
    want = sorted(n.encode() for n in names)
    assert c.execute_command("LOG.LIST") == want
    for n in names:
        d = log_dir(srv, n)
        assert os.path.isdir(d), d
        files = os.listdir(d)
        assert "commit" in files and any(f.startswith("data.") for f in files), files

    assert c.execute_command("LOG.DROP", "a") == 1
    assert c.execute_command("LOG.DROP", "a") == 0
    want.remove(b"a")
    assert c.execute_command("LOG.LIST") == want
    assert not os.path.exists(log_dir(srv, "a")), os.listdir(log_dir(srv, "a"))
    assert raw.call("LOG.INFO", "a") == RawError("ERR no such log 'a'")
    assert raw.call("LOG.READ", "a", FIRST) == RawError("ERR no such log 'a'")
    assert c.execute_command("LOG.READ", "a-1", FIRST)[0] == b"entry of a-1"

    assert log_append(c, "zz", b"second") > FIRST
    assert c.execute_command("LOG.DROP", "zz") == 1
    assert log_append(c, "zz", b"reborn") == FIRST, "a dropped log came back with its old tail"
    assert c.execute_command("LOG.READ", "zz", FIRST)[0] == b"reborn"
    c.execute_command("LOG.COMMIT", "zz")
    assert c.execute_command("LOG.DROP", "b") == 1
    want.remove(b"b")
    raw.close()
    c.close()

    shutdown_nosave(srv)
    srv.restart(RESTART_TIMEOUT)
    c = srv.client()
    assert c.execute_command("LOG.LIST") == want
    assert scan(c, "zz", FIRST)[1] == [(FIRST, b"reborn")]
    assert c.execute_command("LOG.DROP", "b") == 0
    c.close()


# ---- 6: durability ------------------------------------------------------------------------

class Appender(WriterThread):
    """One connection appending its own entries (entry_of(tid, i)) to a
    log in pipelined batches over a raw socket: sent[] grows before a batch
    is written, acked[] with each reply (the address), so after a kill -9
    acked is exactly what the server acknowledged.  Each reply must be an
    integer greater than the previous one."""

    def __init__(self, srv, name, tid, batch, seed):
        self.name, self.tid, self.batch = name, tid, batch
        self.rng = random.Random(seed)
        self.sent, self.acked = [], []
        WriterThread.__init__(self, srv)

    lost = (ConnectionError, OSError)
    what = "an appender thread"

    def connect(self):
        return RawConn(self.srv.port, timeout=60 * SLOW)

    def work(self, conn):
        while not self.stop.is_set():
            n0 = len(self.sent)
            batch = [entry_of(self.tid, n0 + k, self.rng) for k in range(self.batch)]
            self.sent.extend(batch)
            conn.send_raw(b"".join(resp("LOG.APPEND", self.name, e) for e in batch))
            for _ in batch:
                r = conn.read()
                if type(r) is not int or (self.acked and r <= self.acked[-1]):
                    raise AssertionError("writer %d: APPEND replied %r after %r"
                                         % (self.tid, r, self.acked[-1:]))
                self.acked.append(r)


def recover_and_check(srv, name, sent, acked, what):
    """Restarts the (killed) server and checks the recovered log against
    sent/acked (check_recovered), and INFO against it.  Returns the
    recovered [(addr, entry)]."""
    srv.restart(RESTART_TIMEOUT)
    c = srv.client(socket_timeout=60 * SLOW)
    got, end = scan_all(c, name)
    check_recovered(got, sent, acked, what)
    inf = log_info(c, name)
    assert inf["begin"] == FIRST and inf["committed"] == inf["tail"] == end, inf
    assert inf["entries"] == len(got) and inf["status"] == "ok", inf
    assert not got or got[0][0] == FIRST
    # the log goes on where the recovered part ends
    assert log_append(c, name, b"after recovery") == end
    c.close()
    return got


def test_always_every_acknowledged_entry_survives_kill9(start_server):
    """--log-commit-policy always: one client appends DURABLE_ENTRIES
    (100,000; 10,000 under sanitizers) distinct entries with redis-py
    pipelines of 500, keeping every acknowledged address; then it writes
    one more batch without reading the replies and the server is killed
    (kill -9) at once.  After restart, LOG.SCAN from 64 to the end returns
    every acknowledged entry at its address, in order, followed by at most
    a prefix of the last batch: nothing missing, nothing reordered."""
    rng = random.Random(SEED + 2)
    srv = start_server(["--log-commit-policy", "always"])
    c = srv.client(socket_timeout=60 * SLOW)
    name = "durable"
    sent, acked = [], []
    t0 = time.monotonic()
    for lo in range(0, DURABLE_ENTRIES, BATCH):
        batch = [entry_of(0, i, rng) for i in range(lo, min(lo + BATCH, DURABLE_ENTRIES))]
        sent += batch
        p = c.pipeline(transaction=False)
        for e in batch:
            p.execute_command("LOG.APPEND", name, e)
        r = p.execute()
        assert all(type(a) is int for a in r), r[:5]
        acked += r
    t_append = time.monotonic() - t0
    assert acked[0] == FIRST
    assert all(x < y for x, y in zip(acked, acked[1:])), "APPEND addresses do not increase"
    inf = log_info(c, name)
    assert inf["committed"] == inf["tail"], "under policy always an acknowledged APPEND " \
        "is committed: %r" % inf
    c.close()
    # one more batch, sent and not waited for, then the crash
    last = [entry_of(0, i, rng) for i in range(len(sent), len(sent) + BATCH)]
    sent += last
    s = socket.create_connection(("127.0.0.1", srv.port))
    s.sendall(b"".join(resp("LOG.APPEND", name, e) for e in last))
    assert srv.kill9() == -9
    s.close()
    t1 = time.monotonic()
    got = recover_and_check(srv, name, {0: sent}, {0: acked}, "after kill -9")
    print("\n%d entries appended in %.1f s (policy always, pipelines of %d); recovered %d "
          "(+%d of the unacknowledged batch) in %.1f s"
          % (len(acked), t_append, BATCH, len(got), len(got) - len(acked), time.monotonic() - t1))


@pytest.mark.parametrize("policy,writers", [("always", 1), ("always", 3), ("everysec", 1)])
def test_kill9_while_appending(start_server, policy, writers):
    """Writers append in pipelined batches (of 50) while the server is
    killed (kill -9) after a random amount of acknowledged work.  After
    restart each writer's entries are a gap-free prefix of what it sent, at
    the addresses acknowledged; under policy always every acknowledged
    entry is there (under everysec only the prefix property is promised)."""
    rng = random.Random(SEED + 3 + writers)
    srv = start_server(["--log-commit-policy", policy])
    name = "racing"
    apps = [Appender(srv, name, t, 50, rng.randrange(1 << 30)) for t in range(writers)]
    for a in apps:
        a.start()
    target = rng.randrange(2000, 20000) // SLOW

    def enough():
        for a in apps:
            if a.error is not None:
                raise a.error
        return sum(len(a.acked) for a in apps) >= target

    wait_until(enough, 120 * SLOW, "%d acknowledged appends" % target)
    for a in apps:
        a.dying.set()
    assert srv.kill9() == -9
    for a in apps:
        a.join()
    sent = {a.tid: list(a.sent) for a in apps}
    acked = {a.tid: list(a.acked) for a in apps}
    if policy != "always":
        acked = {t: [] for t in acked}
    got = recover_and_check(srv, name, sent, acked, "policy %s, %d writers, kill -9 after %d "
                            "acknowledged" % (policy, writers, target))
    if policy == "always":
        # the writers' acknowledged addresses are all recovered addresses
        addrs = {a for a, _ in got}
        for a in apps:
            missing = [x for x in a.acked if x not in addrs]
            assert not missing, "writer %d: acknowledged addresses missing: %r" % (a.tid, missing[:5])
    print("\n%s/%d: %d sent, %d acknowledged, %d recovered" % (
        policy, writers, sum(len(a.sent) for a in apps), sum(len(a.acked) for a in apps), len(got)))


def test_manual_keeps_exactly_what_was_committed(start_server):
    """--log-commit-policy manual, 64 KB pages: entries before the last
    LOG.COMMIT survive kill -9; the ones appended after it (enough to fill
    several pages, which reach the device but are not committed) do not:
    the log comes back with its tail at the committed address.  An append
    then goes at that address and reads back as itself (not the stale bytes
    the crash left there), and after another commit and kill -9 the log is
    the committed part plus that entry."""
    rng = random.Random(SEED + 4)
    srv = start_server(["--log-commit-policy", "manual", "--faster-log-page-size", "64kb",
                        "--faster-log-pages", "4"])
    c = srv.client()
    name = "man"
    first = [entry_of(0, i, rng, 500) for i in range(500)]
    addrs = []
    for lo in range(0, len(first), 50):
        addrs += log_append(c, name, *first[lo:lo + 50])
    committed = c.execute_command("LOG.COMMIT", name)
    assert committed == log_info(c, name)["tail"]
    later = [entry_of(0, i, rng, 500) for i in range(500, 3000)]
    for lo in range(0, len(later), 50):
        log_append(c, name, *later[lo:lo + 50])
    inf = log_info(c, name)
    assert inf["committed"] == committed and inf["tail"] > committed + 6 * 65536, inf
    c.close()
    srv.kill9()

    srv.restart(RESTART_TIMEOUT)
    c = srv.client()
    inf = log_info(c, name)
    assert inf["committed"] == committed, inf
    assert inf["tail"] == committed, "uncommitted entries came back after kill -9 " \
        "under policy manual: %r" % inf
    got, end = scan_all(c, name, count=100)
    assert got == list(zip(addrs, first)) and end == committed
    assert scan(c, name, FIRST, "UNCOMMITTED", "COUNT", 10000)[1] == got
    assert log_append(c, name, b"new one") == committed
    r = c.execute_command("LOG.READ", name, committed)
    assert r[0] == b"new one", "the entry appended after recovery reads back as %r" % (r[0][:60],)
    assert c.execute_command("LOG.READ", name, r[1]) is None, \
        "stale bytes past the recovered tail read as an entry"
    assert scan(c, name, committed, "UNCOMMITTED") == (r[1], [(committed, b"new one")])
    end2 = c.execute_command("LOG.COMMIT", name)
    c.close()
    srv.kill9()
    srv.restart(RESTART_TIMEOUT)
    c = srv.client()
    got, end = scan_all(c, name, count=100)
    assert got == list(zip(addrs, first)) + [(committed, b"new one")] and end == end2
    c.close()


def test_everysec_commits_within_seconds_and_survives_kill9(start_server):
    """--log-commit-policy everysec: without any LOG.COMMIT, INFO's
    committed reaches the tail within a few seconds (polled); after that a
    kill -9 keeps every entry."""
    rng = random.Random(SEED + 5)
    srv = start_server(["--log-commit-policy", "everysec"])
    c = srv.client()
    name = "everysec"
    entries = [entry_of(0, i, rng) for i in range(3000)]
    addrs = []
    for lo in range(0, len(entries), 100):
        addrs += log_append(c, name, *entries[lo:lo + 100])
    tail = log_info(c, name)["tail"]
    t0 = time.monotonic()
    wait_until(lambda: log_info(c, name)["committed"] >= tail, 5.0 * SLOW,
               "the everysec commit to reach the tail %d" % tail)
    print("\ncommitted %.2f s after the last append" % (time.monotonic() - t0))
    assert log_info(c, name)["commits"] >= 1
    c.close()
    srv.kill9()
    srv.restart(RESTART_TIMEOUT)
    c = srv.client()
    got, end = scan_all(c, name)
    assert got == list(zip(addrs, entries)) and end == tail
    c.close()


# ---- 7: LOG.TAIL ------------------------------------------------------------------------

def test_tail_without_block(start_server):
    """Without BLOCK, TAIL answers at once with the committed entries at
    `from` (COUNT caps them), and [from, []] when there are none, even with
    entries appended but not committed (policy manual)."""
    srv = start_server(["--log-commit-policy", "manual"])
    c = srv.client()
    name = "tail0"
    addrs = log_append(c, name, b"a", b"b", b"c")
    assert parse_scan(c.execute_command("LOG.TAIL", name, FIRST)) == (FIRST, [])
    committed = c.execute_command("LOG.COMMIT", name)
    pairs = list(zip(addrs, [b"a", b"b", b"c"]))
    assert parse_scan(c.execute_command("LOG.TAIL", name, FIRST)) == (committed, pairs)
    assert parse_scan(c.execute_command("LOG.TAIL", name, FIRST, "COUNT", 2)) == (addrs[2], pairs[:2])
    assert parse_scan(c.execute_command("LOG.TAIL", name, addrs[1], "COUNT", 1)) == (addrs[2], pairs[1:2])
    assert parse_scan(c.execute_command("LOG.TAIL", name, committed)) == (committed, [])
    # with BLOCK and entries already committed: no wait
    t0 = time.monotonic()
    assert parse_scan(c.execute_command("LOG.TAIL", name, addrs[1], "BLOCK", 5000)) == (
        committed, pairs[1:])
    assert time.monotonic() - t0 < 1.0 * SLOW
    c.close()


def ping_while_blocked(srv, blocked, seconds):
    """For `seconds`, PINGs the server on another connection (each must
    answer within a second) while checking that the blocked connection gets
    no reply.  Returns the PINGs done."""
    other = RawConn(srv.port, timeout=5)
    n = 0
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            assert other.call("PING") == "PONG"
            assert time.monotonic() - t0 < 1.0 * SLOW, "PING waited while a client was blocked"
            n += 1
            assert nothing_arrives(blocked.sock, 0.02), "the blocked command replied early"
    finally:
        other.close()
    return n


@pytest.mark.parametrize("io_threads", ["1", "2"])
@pytest.mark.parametrize("policy", ["manual", "always", "everysec"])
def test_tail_block_wakes_on_commit(start_server, policy, io_threads):
    """Two connections send LOG.TAIL name <tail> BLOCK 5000 (one with BLOCK
    0: no limit).  While they wait, another connection's PINGs are answered
    (one worker thread: the blocked connections must not hold it).  Another
    client appends an entry: under manual nothing wakes them until
    LOG.COMMIT; under always the append's own commit does; under everysec
    the next periodic commit.  Each gets [next, [[tail, entry]]], well
    within the 5 s (WAKE_LIMIT after the commit; everysec: 2 s + that)."""
    srv = start_server(["--log-commit-policy", policy, "--io-threads", io_threads])
    c = srv.client()
    name = "tailb"
    log_append(c, name, b"existing")
    tail = c.execute_command("LOG.COMMIT", name)
    waiters = [RawConn(srv.port, timeout=10 * SLOW) for _ in range(2)]
    waiters[0].send("LOG.TAIL", name, tail, "BLOCK", 5000)
    waiters[1].send("LOG.TAIL", name, tail, "BLOCK", 0, "COUNT", 10)
    assert ping_while_blocked(srv, waiters[0], QUIET) >= 1
    assert nothing_arrives(waiters[1].sock, 0)

    writer = srv.client()
    addr = log_append(writer, name, b"the new entry")
    assert addr == tail
    if policy == "manual":
        # appended, not committed: still nothing
        assert nothing_arrives(waiters[0].sock, QUIET), "TAIL woke before the commit (manual)"
        t0 = time.monotonic()
        committed = writer.execute_command("LOG.COMMIT", name)
        limit = WAKE_LIMIT
    else:
        t0 = time.monotonic()
        limit = WAKE_LIMIT + (2.0 if policy == "everysec" else 0)
        committed = None
    for w in waiters:
        r = w.read()
        dt = time.monotonic() - t0
        assert r is not None, "LOG.TAIL BLOCK timed out instead of waking on the commit"
        nxt, pairs = parse_scan(r, "LOG.TAIL")
        assert pairs == [(tail, b"the new entry")], pairs
        if committed is not None:
            assert nxt == committed
        assert dt < limit, "LOG.TAIL woke %.2f s after the commit (policy %s)" % (dt, policy)
    for w in waiters:
        assert w.call("PING") == "PONG"
        w.close()
    writer.close()
    c.close()


def test_tail_block_times_out_with_nil(start_server):
    """LOG.TAIL ... BLOCK 100 with nothing committed at `from`: nil after
    about 100 ms (not much sooner, not much later); the connection then
    works as usual."""
    srv = start_server(["--log-commit-policy", "manual", "--io-threads", "1"])
    c = srv.client()
    name = "tailt"
    log_append(c, name, b"x")
    tail = c.execute_command("LOG.COMMIT", name)
    log_append(c, name, b"uncommitted")
    raw = RawConn(srv.port)
    for ms in (100, 300):
        t0 = time.monotonic()
        assert raw.call("LOG.TAIL", name, tail, "BLOCK", ms) is None
        dt = time.monotonic() - t0
        assert ms / 1000 * 0.9 <= dt < ms / 1000 + 1.5 * SLOW, "BLOCK %d answered after %.3f s" % (ms, dt)
    assert raw.call("PING") == "PONG"
    raw.close()
    c.close()


def test_tail_block_holds_pipelined_replies(start_server):
    """Commands pipelined after a blocking TAIL on the same connection wait
    for it: nothing (not PING's reply either) comes while it waits, and
    after the append the replies arrive in order: the TAIL's, PONG, the
    READ's.  Same with a BLOCK that times out: nil, then PONG."""
    srv = start_server(["--log-commit-policy", "always", "--io-threads", "1"])
    c = srv.client()
    name = "tailp"
    a0 = log_append(c, name, b"zero")
    tail = c.execute_command("LOG.READ", name, a0)[1]
    raw = RawConn(srv.port, timeout=10 * SLOW)
    raw.send_raw(resp("LOG.TAIL", name, tail, "BLOCK", 5000) + resp("PING") +
                 resp("LOG.READ", name, a0))
    assert ping_while_blocked(srv, raw, QUIET) >= 1
    assert log_append(c, name, b"one") == tail
    nxt, pairs = parse_scan(raw.read(), "LOG.TAIL")
    assert pairs == [(tail, b"one")]
    assert raw.read() == "PONG"
    assert raw.read() == [b"zero", tail]

    raw.send_raw(resp("LOG.TAIL", name, nxt, "BLOCK", 200) + resp("PING"))
    assert raw.read() is None
    assert raw.read() == "PONG"
    raw.close()
    c.close()


def test_tail_block_client_disconnects(start_server):
    """A client that disconnects while blocked in LOG.TAIL: the server
    goes on; a later commit at that address (waking nobody) and other
    blocked clients are fine."""
    srv = start_server(["--log-commit-policy", "manual", "--io-threads", "1"])
    c = srv.client()
    name = "taild"
    log_append(c, name, b"x")
    tail = c.execute_command("LOG.COMMIT", name)
    gone = RawConn(srv.port)
    gone.send("LOG.TAIL", name, tail, "BLOCK", 0)
    stays = RawConn(srv.port, timeout=10 * SLOW)
    stays.send("LOG.TAIL", name, tail, "BLOCK", 5000)
    assert ping_while_blocked(srv, stays, QUIET) >= 1
    gone.close()
    assert ping_while_blocked(srv, stays, 0.1) >= 1
    log_append(c, name, b"y")
    c.execute_command("LOG.COMMIT", name)
    assert parse_scan(stays.read(), "LOG.TAIL")[1] == [(tail, b"y")]
    assert c.ping()
    assert c.execute_command("LOG.READ", name, tail)[0] == b"y"
    stays.close()
    c.close()


# ---- 8: restart -------------------------------------------------------------------------------

def test_restart_after_shutdown_keeps_logs(start_server):
    """Three logs with committed entries (one truncated), SHUTDOWN NOSAVE,
    restart on the same directory: LOG.LIST lists them, SCAN returns every
    entry at its address, INFO's begin, tail, committed, entries and bytes
    are as before, and appends go on at the old tail; again after a second
    restart."""
    rng = random.Random(SEED + 6)
    srv = start_server(["--log-commit-policy", "everysec"])
    c = srv.client()
    logs = {}
    for n, count in [("orders", 2000), ("audit.trail", 10), ("x", 1)]:
        entries = [entry_of(0, i, rng) for i in range(count)]
        addrs = []
        for lo in range(0, count, 200):
            r = log_append(c, n, *entries[lo:lo + 200])
            addrs += r if isinstance(r, list) else [r]
        c.execute_command("LOG.COMMIT", n)
        logs[n] = list(zip(addrs, entries))
    begin = c.execute_command("LOG.TRUNCATE", "orders", logs["orders"][100][0])
    assert begin == logs["orders"][100][0]
    logs["orders"] = logs["orders"][100:]
    before = {n: log_info(c, n) for n in logs}
    c.close()

    for round_ in range(2):
        shutdown_nosave(srv)
        srv.restart(RESTART_TIMEOUT)
        c = srv.client()
        assert c.execute_command("LOG.LIST") == sorted(n.encode() for n in logs)
        for n, pairs in logs.items():
            inf = log_info(c, n)
            for f in ("begin", "tail", "committed", "entries", "bytes", "page-size"):
                assert inf[f] == before[n][f], (round_, n, f, inf, before[n])
            got, end = scan_all(c, n, frm=inf["begin"], count=700)
            assert got == pairs and end == inf["tail"], (round_, n)
        a = log_append(c, "x", b"after restart %d" % round_)
        assert a == before["x"]["tail"]
        c.execute_command("LOG.COMMIT", "x")
        logs["x"].append((a, b"after restart %d" % round_))
        before["x"] = log_info(c, "x")
        c.close()


# ---- found in review: each of these failed before its fix --------------------------

def test_held_reply_goes_out_while_a_later_command_blocks(start_server):
    """Under always, LOG.APPEND a x then LOG.TAIL b <tail> BLOCK 0 in one
    pipeline: the APPEND's reply goes out once log a commits, although the
    TAIL behind it still waits for b."""
    srv = start_server(["--log-commit-policy", "always"])
    c = srv.client()
    log_append(c, "b", b"x")
    t = log_info(c, "b")["tail"]
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10 * SLOW) as s:
        s.sendall(resp("LOG.APPEND", "a", "hello") + resp("LOG.TAIL", "b", t, "BLOCK", 0))
        assert s.recv(100) == b":64\r\n"
        log_append(c, "b", b"y")
        got = b""
        while not got.endswith(b"y\r\n"):
            chunk = s.recv(1000)
            assert chunk, "closed"
            got += chunk
        assert got.startswith(b"*2\r\n:%d\r\n" % (t + 12)), got


def test_many_logs_in_one_pipeline_while_logs_are_dropped(start_server):
    """A client waits under always on more logs at once than fit its
    inline wait slots, while other clients create and drop logs (which
    take the registry's write lock): every pipeline completes (a wait
    inside a handler used to take the registry's read lock a second time
    and deadlock against the waiting writer)."""
    srv = start_server(["--log-commit-policy", "always", "--io-threads", "4"])
    stop = threading.Event()
    errors = []

    def appender(i):
        cl = srv.client()
        try:
            for _ in range(20 if not SANITIZER else 5):
                p = cl.pipeline(transaction=False)
                for k in range(6):
                    p.execute_command("LOG.APPEND", "m%d" % k, "x%d" % i)
                assert all(isinstance(a, int) for a in p.execute())
        except Exception as e:  # recorded, checked below
            errors.append(repr(e))

    def dropper(i):
        cl = srv.client()
        n = 0
        try:
            while not stop.is_set():
                name = "d%d-%d" % (i, n)
                cl.execute_command("LOG.APPEND", name, "x")
                assert cl.execute_command("LOG.DROP", name) == 1
                n += 1
        except Exception as e:  # recorded, checked below
            errors.append(repr(e))

    drops = [threading.Thread(target=dropper, args=(i,)) for i in range(2)]
    apps = [threading.Thread(target=appender, args=(i,)) for i in range(3)]
    for t in drops + apps:
        t.start()
    for t in apps:
        t.join(60 * SLOW)
    stop.set()
    for t in drops:
        t.join(60 * SLOW)
    assert not any(t.is_alive() for t in apps + drops), "stuck (deadlock)"
    assert not errors, errors
    assert srv.client().ping()


def test_tail_between_committed_and_tail_is_empty(start_server):
    """An address appended but not committed yet (manual policy) reads as
    nothing there yet, as the committed address does, not as an error."""
    srv = start_server(["--log-commit-policy", "manual"])
    c = srv.client()
    log_append(c, "t", b"a")
    c.execute_command("LOG.COMMIT", "t")
    a = log_append(c, "t", b"b")
    tail = log_info(c, "t")["tail"]
    assert tail > a >= FIRST
    assert c.execute_command("LOG.TAIL", "t", tail) == [tail, []]
    assert c.execute_command("LOG.SCAN", "t", tail) == [tail, []]
    assert c.execute_command("LOG.SCAN", "t", a, "UNCOMMITTED") == [tail, [[a, b"b"]]]


def test_block_timeout_out_of_range_and_idle_timeout(start_server):
    """BLOCK beyond what the clock can add is refused as Redis does; a
    blocked client is not closed by the idle timeout."""
    srv = start_server(["--timeout", "1", "--log-commit-policy", "manual"])
    raw = RawConn(srv.port)
    raw.call("LOG.APPEND", "b", "x")
    raw.call("LOG.COMMIT", "b")
    t = raw.call("LOG.INFO", "b")[3]
    assert raw.call("LOG.TAIL", "b", t, "BLOCK", 2**63 - 1) == \
        RawError("ERR timeout is out of range")
    t0 = time.monotonic()
    assert raw.call("LOG.TAIL", "b", t, "BLOCK", 2500) is None
    assert time.monotonic() - t0 >= 2.4, "closed or woken early"
    raw.close()


def test_reads_at_odd_and_page_end_addresses(start_server):
    """Addresses that are not 4-aligned are no entry's; the last bytes of
    a page (where no header fits) read on from the next page; neither
    reads past the memory frames (this overflowed a heap buffer, seen by
    ASan)."""
    srv = start_server(["--faster-log-page-size", "4kb", "--faster-log-pages", "2"])
    c = srv.client()
    raw = RawConn(srv.port)
    addrs = [log_append(c, "o", b"z" * 1000) for _ in range(12)]
    c.execute_command("LOG.COMMIT", "o")
    for a in addrs:
        assert raw.call("LOG.READ", "o", a + 1) == RawError("ERR no entry starts at address %d" % (a + 1))
    for page in range(1, 3):
        end = page * 4096 - 4
        r = raw.call("LOG.READ", "o", end)
        assert isinstance(r, list) or isinstance(r, RawError), r
        assert raw.call("PING") == "PONG"
    raw.close()


def test_open_logs_are_capped(start_server):
    """faster-log-max-logs bounds the logs open at once (each holds its
    pages and a thread): one more is refused with the option named, and a
    LOG.DROP makes room; a page size that is not a power of two stops the
    server at start."""
    srv = start_server(["--faster-log-max-logs", "3"])
    c = srv.client()
    raw = RawConn(srv.port)
    for k in range(3):
        log_append(c, "cap%d" % k, b"x")
    assert raw.call("LOG.APPEND", "cap3", "x") == \
        RawError("ERR too many open logs (faster-log-max-logs is 3)")
    assert c.execute_command("LOG.LIST") == [b"cap0", b"cap1", b"cap2"]
    assert c.execute_command("LOG.DROP", "cap1") == 1
    assert log_append(c, "cap3", b"x") == FIRST
    raw.close()
    d = tempfile.mkdtemp(prefix="rf-test-")
    try:
        p = subprocess.run([BINARY, "--port", str(free_port()), "--dir", os.path.join(d, "data"),
                            "--faster-log-page-size", "5000", "--save", ""],
                           cwd=d, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=10 * SLOW)
        assert p.returncode != 0
        assert b"faster-log-page-size must be a power of two" in p.stdout
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_client_unblock_ends_a_blocked_tail(start_server):
    """CLIENT UNBLOCK id [TIMEOUT|ERROR] ends another client's LOG.TAIL
    BLOCK as Redis does for its blocking commands: TIMEOUT (the default)
    gives the timeout's nil reply, ERROR gives -UNBLOCKED; the reply is 1,
    or 0 for a client that is not blocked."""
    srv = start_server(["--log-commit-policy", "manual"])
    c = srv.client()
    log_append(c, "u", b"x")
    c.execute_command("LOG.COMMIT", "u")
    t = log_info(c, "u")["tail"]
    for how, want in ((None, b"*-1\r\n"),
                      ("ERROR", b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n")):
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10 * SLOW) as s:
            s.sendall(resp("CLIENT", "ID"))
            cid = int(s.recv(100)[1:-2])
            assert c.execute_command("CLIENT", "UNBLOCK", cid) == 0, "not blocked yet"
            s.sendall(resp("LOG.TAIL", "u", t, "BLOCK", 0) + resp("PING"))
            assert nothing_arrives(s, 0.2)
            args = ["CLIENT", "UNBLOCK", cid] + ([how] if how else [])
            wait_until(lambda: c.execute_command(*args) == 1, 5 * SLOW, "the unblock")
            got = b""
            while not got.endswith(b"+PONG\r\n"):
                chunk = s.recv(1000)
                assert chunk, "closed"
                got += chunk
            assert got == want + b"+PONG\r\n", got


def test_kill_and_unblock_together_run_nothing_more(start_server):
    """CLIENT KILL then CLIENT UNBLOCK ... ERROR of a blocked client in
    one pipeline: the client is closed, and the command it had pipelined
    behind the blocked LOG.TAIL never runs."""
    srv = start_server(["--log-commit-policy", "manual"])
    c = srv.client()
    log_append(c, "k", b"e0")
    c.execute_command("LOG.COMMIT", "k")
    t = log_info(c, "k")["tail"]
    for i in range(10 if not SANITIZER else 3):
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10 * SLOW) as s:
            s.sendall(resp("CLIENT", "ID"))
            cid = int(s.recv(100)[1:-2])
            s.sendall(resp("LOG.TAIL", "k", t, "BLOCK", 0) + resp("SET", "side%d" % i, "ran"))
            wait_until(lambda: any(cl.get("id") == str(cid) and cl.get("cmd") == "log.tail"
                                   for cl in c.client_list()), 5 * SLOW, "the block")
            p = c.pipeline(transaction=False)
            p.execute_command("CLIENT", "KILL", "ID", cid)
            p.execute_command("CLIENT", "UNBLOCK", cid, "ERROR")
            p.execute()
            got = b""
            while True:  # the server closes it
                chunk = s.recv(1000)
                if not chunk:
                    break
                got += chunk
            assert b"UNBLOCKED" not in got, got
        assert c.get("side%d" % i) is None, "a killed client's command ran"
