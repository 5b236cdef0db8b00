"""The string family (GET, SET and its variants, MGET/MSET/MSETNX, the
counters, APPEND, STRLEN, GETRANGE/SUBSTR, SETRANGE) against the real
binary.

These tests encode what Redis itself replies.  To check them against a
real Redis, start one and point the tests at it:

    redis-server --port 7777 --save '' --appendonly no &
    RF_REDIS_PORT=7777 /usr/bin/python3 -m pytest -q test_strings.py

Tests of redis-faster's own limits (the engine's page size, a full log)
are skipped there.  Every test uses its own key names (a per-run prefix),
so nothing depends on FLUSHALL, and waits on expiry poll with a deadline
instead of sleeping a fixed time.
"""

import os
import threading
import time
import uuid

import pytest
import redis

from conftest import RawConn, RawError, Server

REF_PORT = os.environ.get("RF_REDIS_PORT")
ours_only = pytest.mark.skipif(REF_PORT is not None,
                               reason="redis-faster's own limits")

RUN = uuid.uuid4().hex[:8]
INT64_MAX = 2**63 - 1
INT64_MIN = -2**63


class PlainServer:
    """A server someone else runs (a real Redis, for reference)."""

    def __init__(self, port):
        self.port = port

    def client(self, **kw):
        kw.setdefault("socket_timeout", 30)
        return redis.Redis(port=self.port, **kw)


@pytest.fixture(scope="module")
def server():
    if REF_PORT is not None:
        yield PlainServer(int(REF_PORT))
        return
    s = Server()
    yield s
    s.stop()


@pytest.fixture
def c(server):
    cl = server.client()
    yield cl
    cl.close()


@pytest.fixture
def raw(server):
    conn = RawConn(server.port)
    yield conn
    conn.close()


@pytest.fixture
def key(request, server):
    """key("a") gives a name no other test (or earlier run) uses; the keys
    are removed (with GETDEL) after the test."""
    made = []
    prefix = "str:%s:%s:" % (RUN, request.node.name)

    def make(name="k"):
        k = prefix + name
        made.append(k)
        return k

    yield make
    cl = server.client()
    for k in made:
        try:
            cl.execute_command("GETDEL", k)
        except redis.RedisError:
            pass
    cl.close()


def wait_gone(c, k, timeout=2.0):
    """Polls GET until the key is gone; True if it went within timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if c.get(k) is None:
            return True
        time.sleep(0.01)
    return c.get(k) is None


def E(text):
    return RawError(text)


SYNTAX = E("ERR syntax error")
NOT_INT = E("ERR value is not an integer or out of range")
NOT_FLOAT = E("ERR value is not a valid float")
OVERFLOW = E("ERR increment or decrement would overflow")
TOO_BIG = E("ERR string exceeds maximum allowed size (proto-max-bulk-len)")


def arity(name):
    return E("ERR wrong number of arguments for '%s' command" % name)


def invalid_expire(name):
    return E("ERR invalid expire time in '%s' command" % name)


# ---- GET / SET -----------------------------------------------------------


def test_get_set_basic(c, raw, key):
    k = key()
    assert c.get(k) is None
    assert raw.call("SET", k, "v1") == "OK"
    assert c.get(k) == b"v1"
    assert raw.call("SET", k, "v2") == "OK"
    assert c.get(k) == b"v2"
    assert raw.call("SET", k, "") == "OK"
    assert c.get(k) == b""
    assert raw.call("GET", key("missing")) is None


def test_get_set_resp2_resp3_nulls(raw, key):
    raw.send("GET", key("missing"))
    assert raw._line() == b"$-1"
    assert raw.call("HELLO", "3")[b"proto"] == 3
    raw.send("GET", key("missing"))
    assert raw._line() == b"_"
    raw.send("SET", key("missing"), "v", "XX")
    assert raw._line() == b"_"
    raw.send("MGET", key("missing"), key("missing"))
    assert raw._line() == b"*2"
    assert raw._line() == b"_"
    assert raw._line() == b"_"


def test_binary_values_and_keys(c, key):
    every_byte = bytes(range(256))
    values = [b"\x00", b"a\x00b", b"\r\n", b"$-1\r\n", every_byte * 3,
              b"\x00" * 1000]
    for i, v in enumerate(values):
        k = key("b%d" % i)
        assert c.set(k, v) is True
        assert c.get(k) == v
        assert c.strlen(k) == len(v)
    bk = key("bin\x00key\r\n")
    c.set(bk, b"x")
    assert c.get(bk) == b"x"
    assert c.get(key("bin")) is None


def test_wrong_arity(raw, key):
    k = key()
    for args, name in [(("GET",), "get"), (("GET", k, k), "get"),
                       (("SET", k), "set"), (("SETNX", k), "setnx"),
                       (("SETEX", k, "1"), "setex"),
                       (("PSETEX", k, "1"), "psetex"),
                       (("GETSET", k), "getset"), (("GETDEL",), "getdel"),
                       (("GETEX",), "getex"), (("MGET",), "mget"),
                       (("MSET", k), "mset"), (("MSET", k, "1", k), "mset"),
                       (("MSETNX", k, "1", k), "msetnx"),
                       (("INCR",), "incr"), (("INCR", k, "1"), "incr"),
                       (("DECR",), "decr"), (("INCRBY", k), "incrby"),
                       (("DECRBY", k), "decrby"),
                       (("INCRBYFLOAT", k), "incrbyfloat"),
                       (("APPEND", k), "append"), (("STRLEN",), "strlen"),
                       (("GETRANGE", k, "0"), "getrange"),
                       (("SUBSTR", k, "0"), "substr"),
                       (("SETRANGE", k, "0"), "setrange")]:
        assert raw.call(*args) == arity(name), args


def test_command_names_any_case(raw, key):
    k = key()
    assert raw.call("sEt", k, "1") == "OK"
    assert raw.call("incr", k) == 2
    assert raw.call("Get", k) == b"2"


# ---- SET options ---------------------------------------------------------


def test_set_option_syntax_errors(raw, key):
    k = key()
    bad = [("EX", "10", "PX", "10"), ("PX", "10", "EX", "10"),
           ("EX", "10", "EXAT", "9999999999"), ("PXAT", "1", "EXAT", "1"),
           ("NX", "XX"), ("XX", "NX"), ("KEEPTTL", "EX", "1"),
           ("EX", "1", "KEEPTTL"), ("PX", "1", "KEEPTTL"), ("EX",),
           ("PX",), ("EXAT",), ("PXAT",), ("NX", "EX"), ("foo",),
           ("PERSIST",), ("GET", "foo"), ("EX", "10", "foo"), ("NXX",),
           ("KEEPTTL", "PERSIST"), ("E",)]
    for opts in bad:
        assert raw.call("SET", k, "v", *opts) == SYNTAX, opts
    assert raw.call("GET", k) is None  # nothing was set


def test_set_option_repeats_allowed(raw, key):
    k = key()
    assert raw.call("SET", k, "v", "NX", "NX") == "OK"
    assert raw.call("SET", k, "w", "XX", "xx") == "OK"
    assert raw.call("SET", k, "x", "GET", "get") == b"w"
    assert raw.call("SET", k, "y", "EX", "100", "ex", "200") == "OK"
    assert raw.call("SET", k, "z", "KEEPTTL", "KEEPTTL") == "OK"
    assert raw.call("set", k, "a", "nx") is None
    assert raw.call("GET", k) == b"z"


def test_set_expire_errors(raw, key):
    k = key()
    cases = [("EX", "0"), ("EX", "-1"), ("PX", "0"), ("PX", "-100"),
             ("EXAT", "0"), ("PXAT", "0"), ("EXAT", "-5"),
             ("EX", str(INT64_MAX)), ("EX", "9223372036854776"),
             ("PX", str(INT64_MAX)), ("PX", str(INT64_MAX - 1000))]
    for opts in cases:
        assert raw.call("SET", k, "v", *opts) == invalid_expire("set"), opts
    for opts in [("EX", "abc"), ("PX", "1.5"), ("EX", " 1"),
                 ("EX", "9223372036854775808"), ("PXAT", "")]:
        assert raw.call("SET", k, "v", *opts) == NOT_INT, opts
    # errors come before NX/XX/GET are looked at
    assert raw.call("SET", k, "v", "NX", "GET", "EX", "0") == \
        invalid_expire("set")
    assert raw.call("GET", k) is None
    # the largest EX that does not overflow is fine
    assert raw.call("SET", k, "v", "EX", "9223372036854") == "OK"
    assert raw.call("SET", k, "v", "PXAT", str(INT64_MAX)) == "OK"
    assert raw.call("GET", k) == b"v"


def test_set_nx_xx(raw, key):
    k = key()
    assert raw.call("SET", k, "1", "XX") is None
    assert raw.call("GET", k) is None
    assert raw.call("SET", k, "1", "NX") == "OK"
    assert raw.call("SET", k, "2", "NX") is None
    assert raw.call("GET", k) == b"1"
    assert raw.call("SET", k, "3", "XX") == "OK"
    assert raw.call("GET", k) == b"3"


def test_set_get(raw, key):
    k = key()
    assert raw.call("SET", k, "a", "GET") is None
    assert raw.call("GET", k) == b"a"
    assert raw.call("SET", k, "b", "GET") == b"a"
    assert raw.call("GET", k) == b"b"
    # NX GET on an existing key: the old value, nothing set
    assert raw.call("SET", k, "c", "NX", "GET") == b"b"
    assert raw.call("GET", k) == b"b"
    # XX GET on a missing key: null, nothing set
    k2 = key("k2")
    assert raw.call("SET", k2, "c", "XX", "GET") is None
    assert raw.call("GET", k2) is None
    assert raw.call("SET", k2, "d", "NX", "GET") is None
    assert raw.call("GET", k2) == b"d"
    assert raw.call("SET", k2, "e", "XX", "GET") == b"d"
    assert raw.call("GET", k2) == b"e"
    # binary old values come back whole
    assert raw.call("SET", k, b"\x00\r\n\x00", "GET") == b"b"
    assert raw.call("SET", k, "z", "GET") == b"\x00\r\n\x00"


def test_set_get_resp3(raw, key):
    raw.call("HELLO", "3")
    k = key()
    raw.send("SET", k, "a", "GET")
    assert raw._line() == b"_"
    assert raw.call("SET", k, "b", "GET") == b"a"


def test_set_px_expires(c, raw, key):
    k = key()
    assert raw.call("SET", k, "v", "PX", "100") == "OK"
    assert c.get(k) == b"v"
    assert wait_gone(c, k)
    # after expiry the key behaves as missing for every command
    assert raw.call("SET", k, "w", "XX") is None
    assert raw.call("SET", k, "w", "NX") == "OK"
    assert c.get(k) == b"w"


def test_set_ex_exat_pxat_future(c, raw, key):
    now = int(time.time())
    k = key()
    assert raw.call("SET", k, "a", "EX", "100") == "OK"
    assert c.get(k) == b"a"
    assert raw.call("SET", k, "b", "EXAT", str(now + 100)) == "OK"
    assert c.get(k) == b"b"
    soon = int(time.time() * 1000) + 150
    assert raw.call("SET", k, "c", "PXAT", str(soon)) == "OK"
    assert wait_gone(c, k, 3.0)


def test_set_in_the_past_deletes(c, raw, key):
    k = key()
    c.set(k, "old")
    assert raw.call("SET", k, "new", "EXAT", "1") == "OK"
    assert c.get(k) is None
    c.set(k, "old")
    assert raw.call("SET", k, "new", "PXAT", "1", "GET") == b"old"
    assert c.get(k) is None
    # on a missing key it sets nothing
    assert raw.call("SET", k, "new", "PXAT", "1") == "OK"
    assert c.get(k) is None
    assert raw.call("SET", k, "new", "NX", "PXAT", "1") == "OK"
    assert c.get(k) is None
    assert raw.call("SET", k, "new", "XX", "PXAT", "1") is None
    c.set(k, "old", px=100000)
    assert raw.call("SET", k, "new", "XX", "EXAT", "1", "GET") == b"old"
    assert c.get(k) is None


def test_set_clears_ttl_keepttl_keeps_it(c, raw, key):
    a, b, ctl = key("a"), key("b"), key("ctl")
    c.set(a, "1", px=150)
    c.set(b, "1", px=150)
    c.set(ctl, "1", px=150)
    assert raw.call("SET", a, "2") == "OK"              # TTL cleared
    assert raw.call("SET", b, "2", "KEEPTTL") == "OK"   # TTL kept
    assert c.get(b) == b"2"
    assert wait_gone(c, ctl)
    assert wait_gone(c, b)
    assert c.get(a) == b"2"


def test_setnx(raw, key):
    k = key()
    assert raw.call("SETNX", k, "a") == 1
    assert raw.call("SETNX", k, "b") == 0
    assert raw.call("GET", k) == b"a"


def test_setex_psetex(c, raw, key):
    k = key()
    assert raw.call("SETEX", k, "100", "v") == "OK"
    assert c.get(k) == b"v"
    assert raw.call("PSETEX", k, "100", "w") == "OK"
    assert c.get(k) == b"w"
    assert wait_gone(c, k)
    for ex in ["0", "-1", str(INT64_MAX)]:
        assert raw.call("SETEX", k, ex, "v") == invalid_expire("setex")
    for ex in ["0", "-1", str(INT64_MAX)]:
        assert raw.call("PSETEX", k, ex, "v") == invalid_expire("psetex")
    assert raw.call("SETEX", k, "1x", "v") == NOT_INT
    assert raw.call("PSETEX", k, "", "v") == NOT_INT
    assert c.get(k) is None


def test_getset(c, raw, key):
    k, ctl = key(), key("ctl")
    assert raw.call("GETSET", k, "a") is None
    assert raw.call("GETSET", k, "b") == b"a"
    assert c.get(k) == b"b"
    # GETSET clears the TTL
    c.set(k, "c", px=150)
    c.set(ctl, "c", px=150)
    assert raw.call("GETSET", k, "d") == b"c"
    assert wait_gone(c, ctl)
    assert c.get(k) == b"d"


def test_getdel(c, raw, key):
    k = key()
    assert raw.call("GETDEL", k) is None
    c.set(k, b"v\x00v")
    assert raw.call("GETDEL", k) == b"v\x00v"
    assert c.get(k) is None
    assert raw.call("GETDEL", k) is None
    # a deleted key can be created again, by any command
    assert raw.call("INCR", k) == 1
    assert raw.call("GETDEL", k) == b"1"
    assert raw.call("APPEND", k, "x") == 1
    assert raw.call("GETDEL", k) == b"x"
    assert raw.call("SET", k, "y", "NX") == "OK"


def test_getex(c, raw, key):
    k, ctl = key(), key("ctl")
    assert raw.call("GETEX", k) is None
    assert raw.call("GETEX", k, "EX", "10") is None
    assert raw.call("GETEX", k, "PERSIST") is None
    assert c.get(k) is None           # GETEX never creates a key
    c.set(k, "v")
    assert raw.call("GETEX", k) == b"v"
    assert raw.call("GETEX", k, "PX", "100") == b"v"
    assert wait_gone(c, k)
    # PERSIST removes the TTL
    c.set(k, "w", px=150)
    c.set(ctl, "w", px=150)
    assert raw.call("GETEX", k, "PERSIST") == b"w"
    assert raw.call("GETEX", k, "PERSIST", "persist") == b"w"
    assert wait_gone(c, ctl)
    assert c.get(k) == b"w"
    # EX / EXAT / PXAT in the future keep the key for now
    now = int(time.time())
    assert raw.call("GETEX", k, "EX", "100") == b"w"
    assert raw.call("GETEX", k, "EXAT", str(now + 100)) == b"w"
    assert raw.call("GETEX", k, "PXAT", str(now * 1000 + 100000)) == b"w"
    assert c.get(k) == b"w"
    # an absolute time in the past deletes it (after replying the value)
    assert raw.call("GETEX", k, "EXAT", "1") == b"w"
    assert c.get(k) is None
    c.set(k, "x")
    assert raw.call("GETEX", k, "PXAT", "1") == b"x"
    assert c.get(k) is None


def test_getex_errors(c, raw, key):
    k, missing = key(), key("missing")
    c.set(k, "v")
    for opts in [("EX",), ("EX", "1", "PX", "1"), ("PERSIST", "EX", "1"),
                 ("EX", "1", "PERSIST"), ("KEEPTTL",), ("NX",), ("XX",),
                 ("GET",), ("foo",), ("EXAT", "1", "PXAT", "1")]:
        assert raw.call("GETEX", k, *opts) == SYNTAX, opts
        # the syntax is checked before the key is looked up
        assert raw.call("GETEX", missing, *opts) == SYNTAX, opts
    for opts in [("EX", "0"), ("PX", "-1"), ("EXAT", "0"),
                 ("EX", str(INT64_MAX)), ("PX", str(INT64_MAX))]:
        assert raw.call("GETEX", k, *opts) == invalid_expire("getex"), opts
        # a bad expiry on a missing key is just a null
        assert raw.call("GETEX", missing, *opts) is None
    assert raw.call("GETEX", k, "EX", "abc") == NOT_INT
    assert raw.call("GETEX", missing, "EX", "abc") is None
    assert c.get(k) == b"v"


# ---- MGET / MSET / MSETNX ------------------------------------------------


def test_mget(c, raw, key):
    a, b, m = key("a"), key("b"), key("m")
    c.set(a, "1")
    c.set(b, b"\x00")
    assert raw.call("MGET", a, m, b, a) == [b"1", None, b"\x00", b"1"]
    assert raw.call("MGET", m) == [None]


def test_mset(c, raw, key):
    a, b = key("a"), key("b")
    assert raw.call("MSET", a, "1", b, "2") == "OK"
    assert c.mget(a, b) == [b"1", b"2"]
    # the last value of a repeated key wins
    assert raw.call("MSET", a, "x", a, "y") == "OK"
    assert c.get(a) == b"y"


def test_mset_clears_ttl(c, raw, key):
    a, ctl = key("a"), key("ctl")
    c.set(a, "1", px=150)
    c.set(ctl, "1", px=150)
    assert raw.call("MSET", a, "2") == "OK"
    assert wait_gone(c, ctl)
    assert c.get(a) == b"2"


def test_msetnx(c, raw, key):
    a, b, d = key("a"), key("b"), key("d")
    assert raw.call("MSETNX", a, "1", b, "2") == 1
    assert c.mget(a, b) == [b"1", b"2"]
    assert raw.call("MSETNX", d, "3", b, "4") == 0
    assert c.get(d) is None            # nothing set when one key exists
    assert c.get(b) == b"2"
    assert raw.call("MSETNX", d, "x", d, "y") == 1
    assert c.get(d) == b"y"


# ---- INCR family ---------------------------------------------------------


def test_incr_decr_basic(c, raw, key):
    k = key()
    assert raw.call("INCR", k) == 1
    assert raw.call("INCR", k) == 2
    assert raw.call("DECR", k) == 1
    assert raw.call("INCRBY", k, "10") == 11
    assert raw.call("INCRBY", k, "-20") == -9
    assert raw.call("DECRBY", k, "-9") == 0
    assert raw.call("DECRBY", k, "5") == -5
    assert c.get(k) == b"-5"
    assert raw.call("DECR", key("d")) == -1
    assert raw.call("DECRBY", key("e"), "7") == -7
    assert raw.call("INCRBY", key("f"), "0") == 0


def test_incr_grows_and_shrinks_digits(c, raw, key):
    k = key()
    c.set(k, "99")
    assert raw.call("INCR", k) == 100
    assert c.get(k) == b"100"
    assert raw.call("INCRBY", k, str(INT64_MAX - 100)) == INT64_MAX
    assert c.get(k) == str(INT64_MAX).encode()
    assert raw.call("DECRBY", k, str(INT64_MAX - 1)) == 1
    assert c.get(k) == b"1"
    # a value that was once long keeps working when short again
    c.set(k, "x" * 100)
    c.set(k, "5")
    assert raw.call("INCR", k) == 6
    assert c.get(k) == b"6"
    assert c.strlen(k) == 1


def test_incr_not_an_integer(c, raw, key):
    k = key()
    for v in ["abc", "1.5", " 1", "1 ", "01", "-0", "+1", "", "1e3",
              "0x10", "9223372036854775808", "-9223372036854775809",
              "1\x00", "123456789012345678901"]:
        c.set(k, v)
        for cmd in (("INCR", k), ("DECR", k), ("INCRBY", k, "1"),
                    ("DECRBY", k, "1")):
            assert raw.call(*cmd) == NOT_INT, (v, cmd)
        assert c.get(k) == v.encode()     # untouched
    for arg in ["abc", "1.0", "", " 1", "9223372036854775808"]:
        assert raw.call("INCRBY", k, arg) == NOT_INT
        assert raw.call("DECRBY", k, arg) == NOT_INT


def test_incr_overflow(c, raw, key):
    k = key()
    c.set(k, str(INT64_MAX))
    assert raw.call("INCR", k) == OVERFLOW
    assert raw.call("INCRBY", k, "1") == OVERFLOW
    assert raw.call("DECRBY", k, "-1") == OVERFLOW
    assert c.get(k) == str(INT64_MAX).encode()
    assert raw.call("DECR", k) == INT64_MAX - 1
    c.set(k, str(INT64_MIN))
    assert raw.call("DECR", k) == OVERFLOW
    assert raw.call("INCRBY", k, "-1") == OVERFLOW
    assert raw.call("INCRBY", k, str(INT64_MAX)) == -1
    c.set(k, "0")
    assert raw.call("DECRBY", k, str(INT64_MIN)) == \
        E("ERR decrement would overflow")
    assert raw.call("INCRBY", k, str(INT64_MIN)) == INT64_MIN
    assert c.get(k) == str(INT64_MIN).encode()
    c.set(k, "-1")
    assert raw.call("INCRBY", k, str(INT64_MIN)) == OVERFLOW
    c.set(k, "1")
    assert raw.call("DECRBY", k, str(INT64_MAX)) == INT64_MIN + 2


def test_incr_keeps_ttl(c, raw, key):
    k, a, s = key(), key("a"), key("s")
    c.set(k, "1", px=150)
    c.set(a, "x", px=150)
    c.set(s, "abc", px=150)
    assert raw.call("INCR", k) == 2
    assert raw.call("INCRBYFLOAT", k, "0.5") == b"2.5"
    assert raw.call("APPEND", a, "y") == 2
    assert raw.call("SETRANGE", s, "1", "X") == 3
    assert wait_gone(c, k)
    assert wait_gone(c, a)
    assert wait_gone(c, s)


def test_incr_pipeline_10k(server, key):
    k = key()
    cl = server.client()
    p = cl.pipeline(transaction=False)
    for _ in range(10000):
        p.incr(k)
    res = p.execute()
    assert res == list(range(1, 10001))
    assert cl.get(k) == b"10000"
    cl.close()


def test_incr_50_threads_10_keys(server, key):
    keys = [key("t%d" % i) for i in range(10)]
    per_thread = 200
    errors = []

    def worker(n):
        try:
            cl = server.client()
            for i in range(per_thread):
                cl.incr(keys[(n + i) % 10])
            cl.close()
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    cl = server.client()
    vals = [int(v) for v in cl.mget(keys)]
    assert vals == [50 * per_thread // 10] * 10
    assert sum(vals) == 50 * per_thread
    cl.close()


def test_append_and_incrbyfloat_threads(server, key):
    a, f = key("a"), key("f")
    errors = []

    def worker():
        try:
            cl = server.client()
            p = cl.pipeline(transaction=False)
            for _ in range(100):
                p.append(a, "xy")
                p.incrbyfloat(f, "0.5")
            p.execute()
            cl.close()
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    cl = server.client()
    assert cl.strlen(a) == 20 * 100 * 2
    assert cl.get(a) == b"xy" * 2000
    assert cl.get(f) == b"1000"
    cl.close()


# ---- INCRBYFLOAT ---------------------------------------------------------


def test_incrbyfloat_formatting(c, raw, key):
    k = key()
    assert raw.call("INCRBYFLOAT", k, "10.5") == b"10.5"
    assert raw.call("INCRBYFLOAT", k, "5.0e3") == b"5010.5"
    assert c.get(k) == b"5010.5"
    assert raw.call("INCRBYFLOAT", k, "-5010.5") == b"0"
    assert raw.call("INCRBYFLOAT", k, "-0.1") == b"-0.1"
    cases = [("0.1", "0.2", b"0.3"), ("3.0", "0", b"3"), ("1", "1e-20", b"1"),
             ("-0.0", "0", b"0"), ("5", "-5", b"0"), ("10", "0x10", b"26"),
             ("1.5", "1.5", b"3"), ("1e3", "0", b"1000"),
             ("100", "-100.000001", b"-0.000001"), ("7", "0.125", b"7.125"),
             (str(INT64_MAX), "1", b"9223372036854775808")]
    for start, incr, want in cases:
        c.set(k, start)
        assert raw.call("INCRBYFLOAT", k, incr) == want, (start, incr)
        assert c.get(k) == want
    # big values are printed in full, never with an exponent
    c.set(k, "0")
    big = raw.call("INCRBYFLOAT", k, "1e300")
    assert len(big) == 301 and big.startswith(b"1000000000000000000")
    assert b"." not in big and b"e" not in big
    c.set(k, "0")
    small = raw.call("INCRBYFLOAT", k, "1e-10")
    assert small == b"0.0000000001"


def test_incrbyfloat_errors(c, raw, key):
    k = key()
    for v in ["abc", " 1", "1 ", "1e5000", "-1e5000", "1e-5000", "nan",
              "", "1.2.3"]:
        c.set(k, v)
        assert raw.call("INCRBYFLOAT", k, "1") == NOT_FLOAT, v
        assert c.get(k) == v.encode()
    c.set(k, "1")
    for incr in ["abc", " 1", "1e5000", "nan", "", "1,5"]:
        assert raw.call("INCRBYFLOAT", k, incr) == NOT_FLOAT, incr
    nan_inf = E("ERR increment would produce NaN or Infinity")
    assert raw.call("INCRBYFLOAT", k, "inf") == nan_inf
    assert raw.call("INCRBYFLOAT", k, "-inf") == nan_inf
    c.set(k, "inf")
    assert raw.call("INCRBYFLOAT", k, "1") == nan_inf
    assert raw.call("INCRBYFLOAT", k, "-inf") == nan_inf
    c.set(k, "1.18e4932")
    assert raw.call("INCRBYFLOAT", k, "1.18e4932") == nan_inf
    assert c.get(k) == b"1.18e4932"
    assert raw.call("INCRBYFLOAT", key("missing"), "abc") == NOT_FLOAT
    assert c.get(key("missing")) is None


# ---- APPEND / STRLEN -------------------------------------------------------


def test_append(c, raw, key):
    k = key()
    assert raw.call("APPEND", k, "ab") == 2
    assert raw.call("APPEND", k, "") == 2
    assert raw.call("APPEND", k, b"\x00c") == 4
    assert c.get(k) == b"ab\x00c"
    # many small appends: in place while there is room, copies otherwise
    want = b"ab\x00c"
    for i in range(300):
        piece = bytes([i % 256]) * (i % 7 + 1)
        want += piece
        assert raw.call("APPEND", k, piece) == len(want)
    assert c.get(k) == want
    assert raw.call("APPEND", key("e"), "") == 0
    assert c.get(key("e")) == b""
    c.set(key("n"), "12")
    assert raw.call("APPEND", key("n"), "3") == 3
    assert raw.call("INCR", key("n")) == 124


def test_strlen(c, raw, key):
    k = key()
    assert raw.call("STRLEN", k) == 0
    c.set(k, b"a\x00b")
    assert raw.call("STRLEN", k) == 3
    c.set(k, "")
    assert raw.call("STRLEN", k) == 0
    c.set(k, "12345")
    assert raw.call("STRLEN", k) == 5


# ---- GETRANGE / SUBSTR / SETRANGE -----------------------------------------


def test_getrange(c, raw, key):
    k = key()
    c.set(k, "Hello World")
    cases = [(0, -1, b"Hello World"), (-1, -5, b""), (-5, -1, b"World"),
             (5, 3, b""), (0, 100, b"Hello World"), (-100, -50, b"H"),
             (100, 200, b""), (-3, -1, b"rld"), (0, 0, b"H"), (10, 10, b"d"),
             (11, 11, b""), (INT64_MAX, 1, b""), (0, INT64_MAX, b"Hello World"),
             (INT64_MIN, INT64_MAX, b"Hello World"), (4, 6, b"o W"),
             (-100, -100, b"H"), (-100, -101, b"")]
    for start, end, want in cases:
        assert raw.call("GETRANGE", k, start, end) == want, (start, end)
        assert raw.call("SUBSTR", k, start, end) == want, (start, end)
    assert raw.call("GETRANGE", key("missing"), 0, -1) == b""
    assert raw.call("GETRANGE", key("missing"), 5, 1) == b""
    c.set(key("e"), "")
    assert raw.call("GETRANGE", key("e"), 0, -1) == b""
    assert raw.call("GETRANGE", key("e"), -1, 0) == b""
    c.set(key("one"), "a")
    assert raw.call("GETRANGE", key("one"), -1, -5) == b""
    assert raw.call("GETRANGE", key("one"), 0, 0) == b"a"
    c.set(key("bin"), b"\x00\x01\x02")
    assert raw.call("GETRANGE", key("bin"), 1, 1) == b"\x01"
    for args in [("x", 1), (1, "x"), ("", 1), (1, "9223372036854775808"),
                 ("1.5", 2)]:
        assert raw.call("GETRANGE", k, *args) == NOT_INT, args
        assert raw.call("GETRANGE", key("missing"), *args) == NOT_INT


def test_setrange(c, raw, key):
    k = key()
    c.set(k, "Hello World")
    assert raw.call("SETRANGE", k, 6, "Redis") == 11
    assert c.get(k) == b"Hello Redis"
    assert raw.call("SETRANGE", k, 11, "!") == 12
    assert c.get(k) == b"Hello Redis!"
    assert raw.call("SETRANGE", k, 0, "J") == 12
    assert c.get(k) == b"Jello Redis!"
    # a gap is filled with zero bytes
    assert raw.call("SETRANGE", k, 15, "x") == 16
    assert c.get(k) == b"Jello Redis!\x00\x00\x00x"
    # a missing key is created, zero-padded
    m = key("m")
    assert raw.call("SETRANGE", m, 3, b"a\x00b") == 6
    assert c.get(m) == b"\x00\x00\x00a\x00b"
    # an empty value changes nothing and creates nothing
    e = key("e")
    assert raw.call("SETRANGE", e, 5, "") == 0
    assert c.get(e) is None
    assert raw.call("SETRANGE", e, 536870912 * 4, "") == 0
    assert raw.call("SETRANGE", k, 100, "") == 16
    assert raw.call("SETRANGE", k, 536870912 * 4, "") == 16
    assert c.strlen(k) == 16
    # many writes into one value (in place while it fits)
    v = bytearray(c.get(k))
    for i in range(200):
        off = (i * 37) % 300
        piece = bytes([65 + i % 26]) * (i % 5 + 1)
        end = off + len(piece)
        if end > len(v):
            v.extend(b"\x00" * (end - len(v)))
        v[off:end] = piece
        assert raw.call("SETRANGE", k, off, piece) == len(v)
    assert c.get(k) == bytes(v)


def test_setrange_errors(c, raw, key):
    k, m = key(), key("m")
    c.set(k, "abc")
    oor = E("ERR offset is out of range")
    assert raw.call("SETRANGE", k, -1, "x") == oor
    assert raw.call("SETRANGE", m, -1, "x") == oor
    assert raw.call("SETRANGE", m, -1, "") == oor
    assert raw.call("SETRANGE", k, "x", "x") == NOT_INT
    assert raw.call("SETRANGE", k, "9223372036854775808", "x") == NOT_INT
    assert raw.call("SETRANGE", k, 536870912, "x") == TOO_BIG
    assert raw.call("SETRANGE", m, 536870912, "x") == TOO_BIG
    assert raw.call("SETRANGE", m, 536870911, "xy") == TOO_BIG
    assert raw.call("SETRANGE", m, INT64_MAX, "x") == TOO_BIG
    assert c.get(k) == b"abc"
    assert c.get(m) is None


# ---- big values ------------------------------------------------------------


def test_16mb_value_round_trip(server, key):
    cl = server.client(socket_timeout=60)
    k = key()
    pattern = bytes(range(256)) + b"\x00\r\n"
    big = (pattern * (16 * 1024 * 1024 // len(pattern) + 1))[:16 * 1024 * 1024]
    assert cl.set(k, big) is True
    assert cl.get(k) == big
    assert cl.strlen(k) == len(big)
    assert cl.getrange(k, -3, -1) == big[-3:]
    assert cl.append(k, b"tail") == len(big) + 4
    assert cl.getrange(k, -6, -1) == big[-2:] + b"tail"
    assert cl.setrange(k, 1, b"XY") == len(big) + 4
    got = cl.execute_command("GETDEL", k)
    assert got == big[:1] + b"XY" + big[3:] + b"tail"
    assert cl.get(k) is None
    cl.close()


@ours_only
def test_value_larger_than_a_log_page(start_server):
    s = start_server(["--log-page-size", "1mb"])
    r = RawConn(s.port)
    too_big = E("ERR value is too large for this server's log page size "
                "(log-page-size)")
    v = b"x" * (1024 * 1024 + 1)
    assert r.call("SET", "k", v) == too_big
    assert r.call("GET", "k") is None
    assert r.call("MSET", "k", v) == too_big
    assert r.call("SET", "k", v, "GET") == too_big
    assert r.call("SET", "k", "small") == "OK"
    # APPEND or SETRANGE past the page fail and leave the value alone
    assert r.call("APPEND", "k", v) == too_big
    assert r.call("SETRANGE", "k", 2 * 1024 * 1024, "x") == too_big
    assert r.call("GET", "k") == b"small"
    half = b"y" * (512 * 1024)
    assert r.call("SET", "k", half) == "OK"
    assert r.call("APPEND", "k", half) == too_big
    assert r.call("GET", "k") == half
    assert r.call("PING") == "PONG"
    r.close()


@ours_only
def test_full_log_memory_spills_to_disk(start_server):
    """With storage-tier yes (the default), a data set many times the log's
    memory is written to the device instead of failing with OOM, and every
    command that needs an on-disk record still works."""
    s = start_server(["--log-memory-size", "1mb", "--log-page-size", "64kb"])
    r = RawConn(s.port)
    v = b"z" * 16000
    for i in range(1000):          # 16 MB through 1 MB of log memory
        assert r.call("SET", "k%d" % i, v) == "OK"
    for i in range(2000):
        assert r.call("SET", "s%d" % i, "1") == "OK"
    assert r.call("INCR", "s0") == 2              # an RMW of a disk record
    assert r.call("APPEND", "k1", "!") == 16001
    assert r.call("SET", "k2", "x", "GET") == v
    assert r.call("GET", "k0") == v               # read back from disk
    assert r.call("GET", "k2") == b"x"
    assert r.call("STRLEN", "k999") == 16000
    assert r.call("DBSIZE") == 3000
    info = r.call("INFO", "engine").decode()
    fields = dict(l.split(":", 1) for l in info.splitlines() if ":" in l)
    assert fields["storage_tier"] == "store"
    assert int(fields["log_head_address"]) > 8 * 1024 * 1024
    assert int(fields["log_bytes_on_disk"]) > 8 * 1024 * 1024
    assert int(fields["disk_reads"]) > 0
    assert r.call("PING") == "PONG"
    r.close()


@ours_only
def test_updates_of_read_only_records(start_server):
    """Records that have left the log's mutable region cannot be changed in
    place: every update must copy them, keeping value, TTL and atomicity."""
    s = start_server(["--log-memory-size", "1mb", "--log-page-size", "64kb",
                      "--log-mutable-percent", "50"])
    c = s.client()
    r = RawConn(s.port)
    c.set("c", "41")
    c.set("f", "1.5")
    c.set("a", "ab")
    c.set("rng", "hello")
    c.set("g", "old")
    c.set("gs", "old")
    c.set("gd", "v")
    c.set("gx", "v", px=100000)
    c.set("gx2", "v")
    c.set("nx", "v")
    c.set("kt", "v", px=300)
    c.set("ttl", "1", px=300)
    c.set("ctl", "1")
    # push them out of the mutable region (8 of the 16 pages)
    filler = b"f" * 16000
    for i in range(40):
        assert r.call("SET", "filler%d" % i, filler) == "OK"
    assert r.call("INCR", "c") == 42
    assert r.call("INCRBYFLOAT", "f", "1") == b"2.5"
    assert r.call("APPEND", "a", "cd") == 4
    assert r.call("SETRANGE", "rng", 1, "EL") == 5
    assert r.call("SET", "g", "new", "GET") == b"old"
    assert r.call("GETSET", "gs", "new") == b"old"
    assert r.call("GETDEL", "gd") == b"v"
    assert r.call("GETEX", "gx", "PERSIST") == b"v"
    assert r.call("GETEX", "gx2", "PERSIST") == b"v"
    assert r.call("GETEX", "gx2", "EXAT", "1") == b"v"
    assert r.call("SET", "nx", "w", "NX") is None
    assert r.call("SET", "kt", "w", "KEEPTTL") == "OK"
    assert r.call("INCR", "ttl") == 2
    assert c.mget("c", "f", "a", "rng", "g", "gs", "gd", "gx", "gx2",
                  "nx", "kt", "ttl") == [
        b"42", b"2.5", b"abcd", b"hELlo", b"new", b"new", None, b"v", None,
        b"v", b"w", b"2"]
    assert wait_gone(c, "kt")
    assert wait_gone(c, "ttl")
    assert c.get("ctl") == b"1"
    r.close()
    c.close()


# ---- command table -----------------------------------------------------------


EXPECTED_INFO = {
    # name: (arity, flags, first, last, step)
    "get": (2, {"readonly", "fast"}, 1, 1, 1),
    "set": (-3, {"write", "denyoom"}, 1, 1, 1),
    "setnx": (3, {"write", "denyoom", "fast"}, 1, 1, 1),
    "setex": (4, {"write", "denyoom"}, 1, 1, 1),
    "psetex": (4, {"write", "denyoom"}, 1, 1, 1),
    "getset": (3, {"write", "denyoom", "fast"}, 1, 1, 1),
    "getdel": (2, {"write", "fast"}, 1, 1, 1),
    "getex": (-2, {"write", "fast"}, 1, 1, 1),
    "mget": (-2, {"readonly", "fast"}, 1, -1, 1),
    "mset": (-3, {"write", "denyoom"}, 1, -1, 2),
    "msetnx": (-3, {"write", "denyoom"}, 1, -1, 2),
    "incr": (2, {"write", "denyoom", "fast"}, 1, 1, 1),
    "decr": (2, {"write", "denyoom", "fast"}, 1, 1, 1),
    "incrby": (3, {"write", "denyoom", "fast"}, 1, 1, 1),
    "decrby": (3, {"write", "denyoom", "fast"}, 1, 1, 1),
    "incrbyfloat": (3, {"write", "denyoom", "fast"}, 1, 1, 1),
    "append": (3, {"write", "denyoom", "fast"}, 1, 1, 1),
    "strlen": (2, {"readonly", "fast"}, 1, 1, 1),
    "getrange": (4, {"readonly"}, 1, 1, 1),
    "substr": (4, {"readonly"}, 1, 1, 1),
    "setrange": (4, {"write", "denyoom"}, 1, 1, 1),
}


def test_command_info(raw):
    names = sorted(EXPECTED_INFO)
    got = raw.call("COMMAND", "INFO", *names)
    if isinstance(got, RawError):
        pytest.skip("COMMAND INFO not available yet: %s" % got)
    assert len(got) == len(names)
    for name, row in zip(names, got):
        arity_, flags, first, last, step = EXPECTED_INFO[name]
        assert row[0] == name.encode()
        assert row[1] == arity_, name
        assert {f.decode() if isinstance(f, bytes) else f
                for f in row[2]} == flags, name
        assert (row[3], row[4], row[5]) == (first, last, step), name
