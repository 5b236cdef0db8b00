"""The keys family (DEL ... FLUSHALL, SCAN, the TTL commands) and the
expired-key sweep, against the real binary.

These tests encode Redis 7's replies: they also run against a real
redis-server when KEYS_TEST_PORT names the port of one (its data is
flushed), e.g.

    redis-server --port 6390 --save '' --appendonly no &
    KEYS_TEST_PORT=6390 /usr/bin/python3 -m pytest -q test_keys.py

Waits for expiry poll the server in loops bounded by a deadline.
"""

import os
import threading
import time

import pytest
import redis

from conftest import RawConn, RawError, Server

EXTERNAL_PORT = os.environ.get("KEYS_TEST_PORT")


class External:
    """A server someone else started (a real redis-server)."""

    def __init__(self, port):
        self.port = int(port)

    def client(self, **kw):
        kw.setdefault("socket_timeout", 30)
        return redis.Redis(port=self.port, **kw)


@pytest.fixture(scope="module")
def server():
    """Overrides conftest's: the module's server, or an external one."""
    if EXTERNAL_PORT:
        yield External(EXTERNAL_PORT)
        return
    s = Server()
    yield s
    s.stop()


# Sanitizer builds (make SANITIZE=..., which sets RF_SANITIZE) run several
# times slower: the expired-key sweep's passes over the index (1 ms of
# each 100 ms cron tick per worker) take ~18 s under ThreadSanitizer.
SLOW = 4 if os.environ.get("RF_SANITIZE") else 1


def wait_until(pred, timeout=10.0, interval=0.01):
    """Polls pred() until it is true; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("condition not met within %ss" % timeout)
        time.sleep(interval)


def err(raw, *args):
    """The error line a command gets, as a string."""
    got = raw.call(*args)
    assert isinstance(got, RawError), "no error for %r: %r" % (args, got)
    return str(got)


def full_scan(c, count=None, match=None, _type=None):
    """Every key a complete SCAN iteration returns, in order, repeats kept."""
    out = []
    cursor = 0
    for _ in range(10 ** 6):
        args = ["SCAN", cursor]
        if match is not None:
            args += ["MATCH", match]
        if count is not None:
            args += ["COUNT", count]
        if _type is not None:
            args += ["TYPE", _type]
        cursor, keys = c.execute_command(*args)  # redis-py: cursor an int
        out += keys
        if int(cursor) == 0:
            return out
    raise AssertionError("SCAN never finished")


# ---- DEL, UNLINK, EXISTS, TOUCH, TYPE --------------------------------------


def test_del_counts_each_deleted_key_once(r):
    r.mset({"a": 1, "b": 2, "c": 3})
    assert r.execute_command("DEL", "a", "a", "nokey", "b") == 2
    assert r.exists("a", "b") == 0
    assert r.exists("c") == 1
    assert r.execute_command("DEL", "nokey") == 0
    assert r.execute_command("UNLINK", "c", "c", "x") == 1
    assert r.get("c") is None


def test_exists_and_touch_count_repeats(r):
    r.set("a", "1")
    assert r.execute_command("EXISTS", "a", "a", "a", "nokey") == 3
    assert r.execute_command("TOUCH", "a", "a", "nokey") == 2
    assert r.execute_command("EXISTS", "nokey") == 0


def test_type_is_a_status_reply(r, raw):
    r.set("s", "v")
    assert raw.call("TYPE", "s") == "string"
    assert raw.call("TYPE", "nokey") == "none"


def test_binary_keys(r):
    k1, k2 = b"a\x00b", b"a\x00c"
    r.set(k1, "1")
    assert r.exists(k1) == 1 and r.exists(b"a") == 0
    assert r.execute_command("RENAME", k1, k2) is True
    assert r.keys(b"a\x00*") == [k2]
    assert r.delete(k2) == 1


def test_wrong_arity_errors(raw):
    for cmd, args in [("DEL", []), ("UNLINK", []), ("EXISTS", []),
                      ("TOUCH", []), ("TYPE", []), ("TYPE", ["a", "b"]),
                      ("EXPIRE", ["k"]), ("PEXPIRE", ["k"]),
                      ("EXPIREAT", ["k"]), ("PEXPIREAT", ["k"]),
                      ("TTL", []), ("PTTL", ["a", "b"]),
                      ("EXPIRETIME", []), ("PEXPIRETIME", []),
                      ("PERSIST", []), ("RENAME", ["a"]),
                      ("RENAMENX", ["a", "b", "c"]), ("KEYS", []),
                      ("SCAN", []), ("RANDOMKEY", ["x"]), ("DBSIZE", ["x"]),
                      ("COPY", ["a"])]:
        assert err(raw, cmd, *args) == (
            "ERR wrong number of arguments for '%s' command" % cmd.lower())


# ---- EXPIRE and friends -------------------------------------------------------


def test_expire_sets_ttl_and_ttl_rounds(r, raw):
    r.set("k", "v")
    assert raw.call("EXPIRE", "k", "100") == 1
    assert raw.call("TTL", "k") == 100
    assert 99000 < raw.call("PTTL", "k") <= 100000
    assert raw.call("PEXPIRE", "k", "1499") == 1
    assert raw.call("TTL", "k") in (1, 2)  # 1499 ms rounds to 1 s
    assert raw.call("PEXPIRE", "k", "5600") == 1
    assert raw.call("TTL", "k") in (5, 6)
    assert r.get("k") == b"v", "EXPIRE keeps the value"


def test_expireat_and_expiretime(r, raw):
    r.set("k", "v")
    at = int(time.time()) + 1000
    assert raw.call("EXPIREAT", "k", at) == 1
    assert raw.call("EXPIRETIME", "k") == at
    assert raw.call("PEXPIRETIME", "k") == at * 1000
    assert 998 <= raw.call("TTL", "k") <= 1000
    assert raw.call("PEXPIREAT", "k", at * 1000 + 400) == 1
    assert raw.call("PEXPIRETIME", "k") == at * 1000 + 400
    assert raw.call("EXPIRETIME", "k") == at  # rounded to nearest
    assert raw.call("PEXPIREAT", "k", at * 1000 + 600) == 1
    assert raw.call("EXPIRETIME", "k") == at + 1


def test_ttl_of_missing_and_persistent_keys(r, raw):
    for cmd in ("TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"):
        assert raw.call(cmd, "nokey") == -2
    r.set("k", "v")
    for cmd in ("TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"):
        assert raw.call(cmd, "k") == -1


def test_expire_on_missing_key_is_zero(raw):
    for cmd in ("EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"):
        assert raw.call(cmd, "nokey", "100") == 0
        assert raw.call(cmd, "nokey", "100", "NX") == 0
        assert raw.call(cmd, "nokey", "0") == 0
    assert raw.call("EXISTS", "nokey") == 0


def test_expire_in_the_past_deletes(r, raw):
    for cmd, t in [("EXPIRE", "0"), ("EXPIRE", "-5"), ("PEXPIRE", "-1"),
                   ("EXPIREAT", "1"), ("PEXPIREAT", "0"),
                   ("PEXPIREAT", int(time.time() * 1000) - 10)]:
        r.set("k", "v")
        assert raw.call(cmd, "k", t) == 1, cmd
        assert raw.call("EXISTS", "k") == 0, cmd
        assert raw.call("TTL", "k") == -2
    # A condition that fails keeps the key.
    r.set("k", "v")
    assert raw.call("EXPIRE", "k", "-1", "GT") == 0
    assert raw.call("EXPIRE", "k", "-1", "XX") == 0
    assert raw.call("GET", "k") == b"v"
    assert raw.call("EXPIRE", "k", "-1", "LT") == 1
    assert raw.call("EXISTS", "k") == 0
    # The same on a key with a TTL.
    r.set("k", "v", ex=100)
    assert raw.call("EXPIRE", "k", "-1", "NX") == 0
    assert raw.call("EXPIRE", "k", "-1", "XX") == 1
    assert raw.call("EXISTS", "k") == 0


@pytest.mark.parametrize("has_ttl,opts,secs,want", [
    (False, ["NX"], 100, 1), (True, ["NX"], 100, 0),
    (False, ["XX"], 100, 0), (True, ["XX"], 100, 1),
    (False, ["GT"], 100, 0), (True, ["GT"], 600, 1),
    (True, ["GT"], 100, 0), (True, ["GT"], 500, 0),
    (False, ["LT"], 100, 1), (True, ["LT"], 100, 1),
    (True, ["LT"], 600, 0), (True, ["LT"], 500, 0),
    (True, ["XX", "GT"], 600, 1), (False, ["XX", "LT"], 100, 0),
    (False, ["nx"], 100, 1), (True, ["gt", "xx"], 1000, 1),
    (False, ["NX", "NX"], 100, 1),
])
def test_expire_conditions(r, raw, has_ttl, opts, secs, want):
    r.set("k", "v")
    if has_ttl:
        # A whole-second expiry, so that "equal" is exactly equal.
        at = int(time.time()) + 500
        assert raw.call("EXPIREAT", "k", at) == 1
        secs = at - 500 + secs
        cmd = "EXPIREAT"
    else:
        cmd = "EXPIRE"
    before = raw.call("PEXPIRETIME", "k")
    assert raw.call(cmd, "k", secs, *opts) == want
    after = raw.call("PEXPIRETIME", "k")
    if want:
        assert after != before and after > 0
    else:
        assert after == before


def test_expire_option_errors(r, raw):
    r.set("k", "v")
    nx = "ERR NX and XX, GT or LT options at the same time are not compatible"
    gtlt = "ERR GT and LT options at the same time are not compatible"
    for cmd in ("EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"):
        assert err(raw, cmd, "k", "10", "NX", "XX") == nx
        assert err(raw, cmd, "k", "10", "GT", "NX") == nx
        assert err(raw, cmd, "k", "10", "nx", "lt") == nx
        assert err(raw, cmd, "k", "10", "GT", "LT") == gtlt
        assert err(raw, cmd, "k", "10", "XX", "GT", "LT") == gtlt
        assert err(raw, cmd, "k", "10", "Foo") == "ERR Unsupported option Foo"
        assert err(raw, cmd, "k", "10", "NX", "bar") == (
            "ERR Unsupported option bar")
        # Options are checked before the time.
        assert err(raw, cmd, "k", "abc", "NX", "XX") == nx
        assert err(raw, cmd, "k", "abc") == (
            "ERR value is not an integer or out of range")
        assert err(raw, cmd, "k", "1.5") == (
            "ERR value is not an integer or out of range")
        assert err(raw, cmd, "nokey", " 1") == (
            "ERR value is not an integer or out of range")
    assert raw.call("TTL", "k") == -1


def test_expire_time_overflow(r, raw):
    r.set("k", "v")
    for cmd, t in [("EXPIRE", "9223372036854776"),
                   ("EXPIRE", "-9223372036854776"),
                   ("EXPIRE", "9223372036854775"),
                   ("PEXPIRE", "9223372036854775807"),
                   ("EXPIREAT", "9223372036854776")]:
        for key in ("k", "nokey"):
            assert err(raw, cmd, key, t) == (
                "ERR invalid expire time in '%s' command" % cmd.lower())
    # No base to add: the largest times are fine.
    assert raw.call("PEXPIREAT", "k", "9223372036854775807") == 1
    assert raw.call("PEXPIRETIME", "k") == 9223372036854775807
    assert raw.call("EXPIREAT", "k", "9223372036854775") == 1
    assert raw.call("PEXPIRE", "nokey", "-9223372036854775808") == 0
    assert raw.call("GET", "k") == b"v"


def test_persist(r, raw):
    assert raw.call("PERSIST", "nokey") == 0
    r.set("k", "v")
    assert raw.call("PERSIST", "k") == 0
    r.expire("k", 100)
    assert raw.call("PERSIST", "k") == 1
    assert raw.call("TTL", "k") == -1
    assert raw.call("PERSIST", "k") == 0
    assert r.get("k") == b"v"
    # After PERSIST the key can get an expiry again.
    assert raw.call("EXPIRE", "k", "50", "NX") == 1
    assert raw.call("TTL", "k") == 50


def test_keys_expire_by_themselves(r, raw):
    r.set("short", "v", px=100)
    r.set("long", "v", ex=100)
    r.set("plain", "v")
    assert 0 < raw.call("PTTL", "short") <= 100
    wait_until(lambda: raw.call("EXISTS", "short") == 0, timeout=5)
    assert raw.call("TTL", "short") == -2
    assert raw.call("TYPE", "short") == "none"
    assert r.get("short") is None
    assert sorted(r.keys("*")) == [b"long", b"plain"]
    assert sorted(full_scan(r)) == [b"long", b"plain"]
    assert raw.call("PERSIST", "short") == 0
    assert raw.call("EXPIRE", "short", "10") == 0


def test_pexpire_then_expiry(r, raw):
    r.set("k", "v")
    assert raw.call("PEXPIRE", "k", "80") == 1
    wait_until(lambda: raw.call("EXISTS", "k") == 0, timeout=5)
    assert raw.call("DEL", "k") == 0


# ---- RENAME, RENAMENX, COPY ------------------------------------------------


def test_rename(r, raw):
    r.set("a", "1")
    assert raw.call("RENAME", "a", "b") == "OK"
    assert r.get("a") is None and r.get("b") == b"1"
    # Overwrites the destination, and keeps the source's TTL (or none).
    r.set("c", "3", ex=100)
    assert raw.call("RENAME", "b", "c") == "OK"
    assert r.get("c") == b"1"
    assert raw.call("TTL", "c") == -1
    r.set("d", "4", ex=100)
    assert raw.call("RENAME", "d", "e") == "OK"
    assert 99 <= raw.call("TTL", "e") <= 100
    assert err(raw, "RENAME", "nokey", "x") == "ERR no such key"
    assert err(raw, "RENAME", "nokey", "nokey") == "ERR no such key"
    assert raw.call("RENAME", "e", "e") == "OK"
    assert r.get("e") == b"4"


def test_renamenx(r, raw):
    r.set("a", "1")
    r.set("b", "2")
    assert raw.call("RENAMENX", "a", "b") == 0
    assert r.get("a") == b"1" and r.get("b") == b"2"
    assert raw.call("RENAMENX", "a", "c") == 1
    assert r.get("a") is None and r.get("c") == b"1"
    assert raw.call("RENAMENX", "c", "c") == 0
    assert err(raw, "RENAMENX", "nokey", "x") == "ERR no such key"
    assert err(raw, "RENAMENX", "nokey", "b") == "ERR no such key"
    r.set("t", "v", px=100000)
    assert raw.call("RENAMENX", "t", "u") == 1
    assert 99000 < raw.call("PTTL", "u") <= 100000


def test_copy(r, raw):
    assert raw.call("COPY", "nokey", "x") == 0
    r.set("a", "1", ex=100)
    assert raw.call("COPY", "a", "b") == 1
    assert r.get("b") == b"1" and r.get("a") == b"1"
    assert 99 <= raw.call("TTL", "b") <= 100
    r.set("c", "3")
    assert raw.call("COPY", "c", "b") == 0
    assert r.get("b") == b"1"
    assert raw.call("COPY", "c", "b", "REPLACE") == 1
    assert r.get("b") == b"3" and raw.call("TTL", "b") == -1
    assert raw.call("COPY", "c", "b", "replace", "db", "0") == 1


def test_copy_errors(r, raw):
    r.set("a", "1")
    same = "ERR source and destination objects are the same"
    assert err(raw, "COPY", "a", "a") == same
    assert err(raw, "COPY", "nokey", "nokey") == same
    assert err(raw, "COPY", "a", "a", "DB", "0") == same
    assert err(raw, "COPY", "a", "a", "REPLACE") == same
    assert err(raw, "COPY", "a", "b", "DB", "16") == (
        "ERR DB index is out of range")
    assert err(raw, "COPY", "a", "b", "DB", "-1") == (
        "ERR DB index is out of range")
    assert err(raw, "COPY", "a", "b", "DB", "x") == (
        "ERR value is not an integer or out of range")
    assert err(raw, "COPY", "a", "b", "DB", "4294967296") == (
        "ERR value is out of range, value must between -2147483648 and "
        "2147483647")
    assert err(raw, "COPY", "a", "b", "DB", "99999999999999999999") == (
        "ERR value is not an integer or out of range")
    assert err(raw, "COPY", "a", "b", "DB") == "ERR syntax error"
    assert err(raw, "COPY", "a", "b", "FOO") == "ERR syntax error"
    assert raw.call("EXISTS", "b") == 0


def test_copy_to_another_database(server, r):
    r1 = server.client(db=1)
    try:
        r.set("a", "1", ex=100)
        assert r.execute_command("COPY", "a", "a", "DB", "1") == 1
        assert r1.get("a") == b"1"
        assert 99 <= r1.ttl("a") <= 100
        r.set("a", "2")
        assert r.execute_command("COPY", "a", "a", "DB", "1") == 0
        assert r.execute_command("COPY", "a", "a", "DB", "1",
                                 "REPLACE") == 1
        assert r1.get("a") == b"2"
        assert r1.execute_command("COPY", "a", "b", "DB", "0") == 1
        assert r.get("b") == b"2"
    finally:
        r1.close()


# ---- KEYS ------------------------------------------------------------------


def test_keys_patterns(r):
    names = ["a", "ab", "a[b", "a*b", "a?b", "axb", "-", "_", "]", "b", "x",
             "bx", "", "hello", "hallo", "hxllo", "heeeello", "hllo"]
    for k in names:
        r.set(k, "1")

    def keys(p):
        return sorted(k.decode() for k in r.keys(p))

    assert keys("*") == sorted(names)
    assert keys("**") == sorted(n for n in names if n)  # "" only by "*"
    assert keys("?") == sorted(["-", "]", "_", "a", "b", "x"])
    assert keys("h?llo") == ["hallo", "hello", "hxllo"]
    assert keys("h*llo") == ["hallo", "heeeello", "hello", "hllo", "hxllo"]
    assert keys("h[ae]llo") == ["hallo", "hello"]
    assert keys("h[^e]llo") == ["hallo", "hxllo"]
    assert keys("h[a-b]llo") == ["hallo"]
    assert keys("h[b-a]llo") == ["hallo"]  # a reversed range
    assert keys("[c-a]x") == ["bx"]
    assert keys("a\\*b") == ["a*b"]
    assert keys("a\\?b") == ["a?b"]
    assert keys("a[\\[]b") == ["a[b"]
    assert keys("a[*]b") == ["a*b"]
    assert keys("a[b") == ["ab"]  # an unterminated class
    assert keys("a[") == []
    assert keys("a[^") == ["ab"]
    assert keys("[a-]") == ["]", "_", "a"]  # the range ends at ']'
    assert keys("[^a-c]*") == ["-", "]", "_", "hallo", "heeeello", "hello",
                               "hllo", "hxllo", "x"]
    assert keys("\\") == []
    assert keys("nomatch*") == []
    assert keys("*b") == ["a*b", "a?b", "a[b", "ab", "axb", "b"]


def test_keys_abusive_pattern_is_fast(r):
    r.set("a" * 100, "1")
    start = time.monotonic()
    assert r.keys("a*" * 50 + "b") == []
    assert time.monotonic() - start < 5


# ---- SCAN ------------------------------------------------------------------


def test_scan_reply_shape(r, raw):
    r.set("k", "v")
    reply = raw.call("SCAN", "0", "COUNT", "1000000")
    assert isinstance(reply, list) and len(reply) == 2
    assert isinstance(reply[0], bytes) and reply[0].isdigit()
    assert isinstance(reply[1], list)
    assert sorted(full_scan(r, count=1000000)) == [b"k"]


def test_scan_cursor_and_option_errors(r, raw):
    for c in ("abc", " 1", "1 ", "18446744073709551616", "1.0", "0x10"):
        assert err(raw, "SCAN", c) == "ERR invalid cursor", c
    # strtoul's forms are accepted.
    for c in ("", "+0", "00"):
        assert isinstance(raw.call("SCAN", c), list), c
    syntax = "ERR syntax error"
    assert err(raw, "SCAN", "0", "COUNT", "0") == syntax
    assert err(raw, "SCAN", "0", "COUNT", "-1") == syntax
    assert err(raw, "SCAN", "0", "COUNT") == syntax
    assert err(raw, "SCAN", "0", "MATCH") == syntax
    assert err(raw, "SCAN", "0", "TYPE") == syntax
    assert err(raw, "SCAN", "0", "FOO", "bar") == syntax
    assert err(raw, "SCAN", "0", "COUNT", "10", "MATCH") == syntax
    assert err(raw, "SCAN", "0", "COUNT", "abc") == (
        "ERR value is not an integer or out of range")
    assert err(raw, "SCAN", "abc", "COUNT", "0") == "ERR invalid cursor"


def test_scan_match_type_and_huge_count(r):
    for i in range(200):
        r.set("user:%d" % i, "1")
        r.set("item:%d" % i, "1")
    users = set(b"user:%d" % i for i in range(200))
    assert set(full_scan(r, match="user:*")) == users
    assert set(full_scan(r, match="user:1?", count=7)) == set(
        b"user:1%d" % i for i in range(10))
    assert len(set(full_scan(r, _type="string"))) == 400
    assert len(set(full_scan(r, _type="STRING", match="*"))) == 400
    assert full_scan(r, _type="hash") == []
    assert full_scan(r, _type="nosuchtype") == []
    # A COUNT far beyond anything: bounded work per call, no crash.
    for count in ("9223372036854775807", "4294967296", "100000000"):
        got = full_scan(r, count=count)
        assert len(got) == 400 and len(set(got)) == 400
    assert r.ping()


def test_scan_returns_every_key_exactly_once(r):
    n = 10000
    pipe = r.pipeline(transaction=False)
    for start in range(0, n, 1000):
        pipe.mset({"key:%d" % i: i for i in range(start, start + 1000)})
    pipe.execute()
    assert r.dbsize() == n
    got = full_scan(r, count=100)
    assert len(got) == n, "a key returned twice or missed"
    assert set(got) == set(b"key:%d" % i for i in range(n))
    got = full_scan(r, count=1000, match="key:1*")
    assert sorted(got) == sorted(
        b"key:%d" % i for i in range(n) if str(i).startswith("1"))


def test_scan_completes_under_concurrent_writes(server, r):
    stable = set(b"stable:%d" % i for i in range(3000))
    r.mset({k: "1" for k in stable})
    stop = threading.Event()
    done = {"writes": 0}
    failures = []

    def writer():
        w = server.client()
        try:
            i = 0
            while not stop.is_set():
                p = w.pipeline(transaction=False)
                for j in range(50):
                    p.set("churn:%d" % (i + j), "x")
                    if i + j >= 500:
                        p.delete("churn:%d" % (i + j - 500))
                p.execute()
                i += 50
                done["writes"] += 50
        except Exception as e:  # reported by the test thread
            failures.append(e)
        finally:
            w.close()

    t = threading.Thread(target=writer)
    t.start()
    try:
        wait_until(lambda: done["writes"] >= 500, timeout=10)
        before = done["writes"]
        seen = set(full_scan(r, count=20))
        during = done["writes"] - before
    finally:
        stop.set()
        t.join(30)
    assert not failures, failures
    assert during > 0, "the writer made no progress during the scan"
    missing = stable - seen
    assert not missing, "%d stable keys missed" % len(missing)
    assert all(k in stable or k.startswith(b"churn:") for k in seen)


# ---- RANDOMKEY, DBSIZE, FLUSHDB, FLUSHALL ----------------------------------


def test_randomkey(r, raw):
    assert raw.call("RANDOMKEY") is None
    r.set("only", "1")
    assert raw.call("RANDOMKEY") == b"only"
    for i in range(20):
        r.set("k%d" % i, "1")
    names = set([b"only"] + [b"k%d" % i for i in range(20)])
    picks = set(raw.call("RANDOMKEY") for _ in range(200))
    assert picks <= names and len(picks) > 1


def test_randomkey_null_in_resp3(server, r):
    c = RawConn(server.port)
    try:
        assert isinstance(c.call("HELLO", "3"), dict)
        c.send("RANDOMKEY")
        c.sock.settimeout(10)
        while b"\r\n" not in c.buf:
            c._fill()
        assert c.buf == b"_\r\n"
    finally:
        c.close()


def test_randomkey_skips_expired_keys(r, raw):
    r.set("gone", "1", px=50)
    wait_until(lambda: raw.call("EXISTS", "gone") == 0, timeout=5)
    assert raw.call("RANDOMKEY") is None


def test_dbsize(r, raw):
    assert raw.call("DBSIZE") == 0
    r.mset({"a": 1, "b": 2, "c": 3})
    assert raw.call("DBSIZE") == 3
    r.delete("a")
    assert raw.call("DBSIZE") == 2


def test_flush_modes_and_errors(server, r, raw):
    for args in ([], ["ASYNC"], ["sync"], ["SYNC"], ["async"]):
        r.mset({"a": 1, "b": 2})
        assert raw.call("FLUSHDB", *args) == "OK"
        assert raw.call("DBSIZE") == 0
        r.mset({"a": 1, "b": 2})
        assert raw.call("FLUSHALL", *args) == "OK"
        assert raw.call("DBSIZE") == 0
    for cmd in ("FLUSHDB", "FLUSHALL"):
        assert err(raw, cmd, "foo") == "ERR syntax error"
        assert err(raw, cmd, "SYNC", "ASYNC") == "ERR syntax error"
        assert err(raw, cmd, "ASYNC", "ASYNC") == "ERR syntax error"


def test_flushall_many_keys_then_reuse(r):
    r.mset({"f:%d" % i: i for i in range(5000)})
    assert r.dbsize() == 5000
    assert r.flushall() is True
    assert r.dbsize() == 0
    assert r.keys("*") == []
    r.mset({"f:%d" % i: i for i in range(100)})
    assert r.dbsize() == 100
    assert r.get("f:7") == b"7"


# ---- Databases ------------------------------------------------------------


def test_select_isolation(server, r):
    r1 = server.client(db=1)
    try:
        r1.mset({"one": "1", "shared": "db1"})
        r1.expire("one", 100)
        set_at = time.monotonic()
        r.set("shared", "db0")
        assert r.exists("one") == 0 and r1.exists("one") == 1
        assert r.get("shared") == b"db0" and r1.get("shared") == b"db1"
        assert r.keys("*") == [b"shared"]
        assert sorted(r1.keys("*")) == [b"one", b"shared"]
        assert full_scan(r) == [b"shared"]
        assert sorted(full_scan(r1)) == [b"one", b"shared"]
        assert r.dbsize() == 1 and r1.dbsize() == 2
        assert r.execute_command("TYPE", "one") == b"none"
        # the TTL counts down from 100 by the seconds spent since EXPIRE
        # (a slow sanitizer build can take more than one)
        left = r1.ttl("one")
        elapsed = int(time.monotonic() - set_at)
        assert r.ttl("one") == -2 and 100 - elapsed - 1 <= left <= 100
        assert r.randomkey() == b"shared"
        assert r.delete("one") == 0 and r1.exists("one") == 1
        assert r.rename("shared", "mine") is True
        assert r1.get("shared") == b"db1" and r1.exists("mine") == 0
        # FLUSHDB empties only the current database.
        assert r.flushdb() is True
        assert r.dbsize() == 0 and r1.dbsize() == 2
        r.set("back", "1")
        assert r1.flushdb() is True
        assert r1.dbsize() == 0 and r.dbsize() == 1
        # FLUSHALL empties them all.
        r1.set("x", "1")
        assert r.flushall() is True
        assert r.dbsize() == 0 and r1.dbsize() == 0
    finally:
        r1.close()


# ---- The expired-key sweep -------------------------------------------------


def expired_keys(c):
    return c.info("stats")["expired_keys"]


def test_expired_keys_are_reclaimed(server, r):
    r1 = server.client(db=3)
    try:
        start = expired_keys(r)
        pipe = r.pipeline(transaction=False)
        for i in range(1000):
            pipe.set("vol:%d" % i, "x", px=50)
        pipe.execute()
        r1.set("kept", "1", ex=1000)
        r1.set("vol", "1", px=50)
        wait_until(lambda: r.dbsize() == 0, timeout=10)
        # Reclaimed by the server by itself: nobody touches the keys.
        wait_until(lambda: expired_keys(r) - start >= 1001, timeout=20 * SLOW,
                   interval=0.05)
        assert r1.dbsize() == 1 and r1.get("kept") == b"1"
        assert r.keys("*") == [] and full_scan(r) == []
    finally:
        r1.close()


def test_deletes_are_not_counted_as_expired(r):
    r.mset({"d:%d" % i: i for i in range(200)})
    start = expired_keys(r)
    for i in range(0, 200, 2):
        r.delete("d:%d" % i)
    for i in range(1, 200, 4):
        r.expire("d:%d" % i, -1)  # a time in the past: deleted
    r.set("probe", "1", px=30)
    # The probe's expiry shows that a sweep has run since the deletes.
    wait_until(lambda: expired_keys(r) - start >= 1, timeout=20 * SLOW,
               interval=0.05)
    assert expired_keys(r) - start == 1


# ---- The command table -----------------------------------------------------


@pytest.mark.parametrize("name,arity,flags,first,last,step", [
    ("del", -2, ["write"], 1, -1, 1),
    ("unlink", -2, ["write", "fast"], 1, -1, 1),
    ("exists", -2, ["readonly", "fast"], 1, -1, 1),
    ("touch", -2, ["readonly", "fast"], 1, -1, 1),
    ("type", 2, ["readonly", "fast"], 1, 1, 1),
    ("expire", -3, ["write", "fast"], 1, 1, 1),
    ("pexpire", -3, ["write", "fast"], 1, 1, 1),
    ("expireat", -3, ["write", "fast"], 1, 1, 1),
    ("pexpireat", -3, ["write", "fast"], 1, 1, 1),
    ("ttl", 2, ["readonly", "fast"], 1, 1, 1),
    ("pttl", 2, ["readonly", "fast"], 1, 1, 1),
    ("expiretime", 2, ["readonly", "fast"], 1, 1, 1),
    ("pexpiretime", 2, ["readonly", "fast"], 1, 1, 1),
    ("persist", 2, ["write", "fast"], 1, 1, 1),
    ("rename", 3, ["write"], 1, 2, 1),
    ("renamenx", 3, ["write", "fast"], 1, 2, 1),
    ("copy", -3, ["write", "denyoom"], 1, 2, 1),
    ("keys", 2, ["readonly"], 0, 0, 0),
    ("scan", -2, ["readonly"], 0, 0, 0),
    ("randomkey", 1, ["readonly"], 0, 0, 0),
    ("dbsize", 1, ["readonly", "fast"], 0, 0, 0),
    ("flushdb", -1, ["write"], 0, 0, 0),
    ("flushall", -1, ["write"], 0, 0, 0),
])
def test_command_info(raw, name, arity, flags, first, last, step):
    info = raw.call("COMMAND", "INFO", name)[0]
    assert info[0] == name.encode()
    assert info[1] == arity
    assert sorted(f if isinstance(f, str) else f.decode()
                  for f in info[2]) == sorted(flags)
    assert info[3:6] == [first, last, step]


# ---- Across index growth (redis-faster only) -------------------------------


@pytest.mark.skipif(EXTERNAL_PORT is not None,
                    reason="redis-faster's own index growth")
def test_walks_across_index_growth(start_server):
    """A 1024-bucket index doubles several times while KEYS, SCAN and
    DBSIZE walk it: KEYS never repeats a key, SCAN misses none."""
    s = start_server(args=["--index-size", "64kb"])
    c = s.client()
    static = set(b"static:%d" % i for i in range(2000))
    c.mset({k: "1" for k in static})
    stop = threading.Event()
    written = {"n": 0}
    failures = []

    def writer():
        w = s.client()
        try:
            i = 0
            while not stop.is_set() and i < 60000:
                w.mset({"grow:%d" % j: "x" for j in range(i, i + 500)})
                i += 500
                written["n"] = i
        except Exception as e:  # reported by the test thread
            failures.append(e)
        finally:
            w.close()

    t = threading.Thread(target=writer)
    t.start()
    try:
        rounds = 0
        while t.is_alive() and rounds < 200:
            got = c.keys("static:*")
            assert len(got) == len(set(got)), "KEYS repeated a key"
            assert set(got) == static
            assert static <= set(full_scan(c, count=200, match="static:*"))
            assert c.dbsize() >= 2000
            rounds += 1
    finally:
        stop.set()
        t.join(60)
    assert not failures, failures
    assert int(c.info("engine")["index_grows"]) > 0, "the index never grew"
    assert c.dbsize() == 2000 + written["n"]
    got = c.keys("*")
    assert len(got) == len(set(got)) == 2000 + written["n"]
    c.close()
