"""Real client libraries against the real binary: node-redis and ioredis
(redis-tests/node/), hiredis (redis-tests/hiredis-c/), and redis-py under
concurrency, deep pipelines, large binary values and AUTH.

The node and hiredis programs print one line per check and exit non-zero on
any mismatch; their output is shown when they fail.
"""

import os
import shutil
import subprocess
import threading
import uuid

import pytest
import redis

from conftest import ROOT, RawConn, RawError

NODE_DIR = os.path.join(ROOT, "redis-tests", "node")
HIREDIS_TEST = os.environ.get("RF_HIREDIS_TEST",
                              os.path.join(ROOT, "build", "hiredis-test"))
NODE = shutil.which("node")


def run_program(cmd, timeout=60, cwd=None):
    """Runs a client program; fails the test with its output unless it
    exits 0.  The timeout bounds a client that would reconnect forever."""
    try:
        p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace")
        pytest.fail("%s did not finish in %ss:\n%s" % (" ".join(cmd), timeout, out))
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0, "%s exited %d:\n%s" % (" ".join(cmd), p.returncode, out)
    return out


# --- node-redis and ioredis ---------------------------------------------------

needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed (node client tests need node >= 20 and npm)")


def node_script(script, *args):
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules")):
        pytest.fail("redis-tests/node/node_modules is missing: run `make integration-test` "
                    "or `npm ci` in redis-tests/node")
    return [NODE, os.path.join(NODE_DIR, script)] + [str(a) for a in args]


NODE_CASES = [
    ("node_redis.js", ["--resp", "3"]),  # HELLO 3, node-redis's default
    ("node_redis.js", ["--resp", "2"]),  # no HELLO; CLIENT SETINFO
    ("ioredis.js", ["--lib", "ioredis", "--resp", "3"]),  # ioredis 6: HELLO 3, INFO ready check
    ("ioredis.js", ["--lib", "ioredis", "--resp", "2"]),
    ("ioredis.js", ["--lib", "ioredis5"]),  # ioredis 5: RESP2, INFO ready check
]


@needs_node
@pytest.mark.parametrize("script,args", NODE_CASES,
                         ids=["node-redis-resp3", "node-redis-resp2", "ioredis6-resp3",
                              "ioredis6-resp2", "ioredis5"])
def test_node_client(server, script, args):
    out = run_program(node_script(script, "--port", server.port, *args), cwd=NODE_DIR)
    assert "0 failed" in out, out


@needs_node
@pytest.mark.parametrize("script,args", NODE_CASES,
                         ids=["node-redis-resp3", "node-redis-resp2", "ioredis6-resp3",
                              "ioredis6-resp2", "ioredis5"])
def test_node_client_with_password(start_server, script, args):
    """HELLO 3 AUTH default <pw> (RESP3) or AUTH <pw> (RESP2) at connect."""
    s = start_server(args=["--requirepass", "node pass"])
    out = run_program(node_script(script, "--port", s.port, "--password", "node pass", *args),
                      cwd=NODE_DIR)
    assert "0 failed" in out, out


# --- hiredis ----------------------------------------------------------------------

def test_hiredis(server):
    if not os.access(HIREDIS_TEST, os.X_OK):
        pytest.skip("%s is not built: `make build/hiredis-test` (integration-test builds it)"
                    % HIREDIS_TEST)
    out = run_program([HIREDIS_TEST, str(server.port)])
    assert "hiredis: " in out and " 0 failed" in out, out


# --- redis-py: concurrency, pipelines, large values -------------------------------

def test_concurrent_incr_exact(server):
    """50 clients, each on its own connection, INCR the same 5 keys 200
    times each: every key ends at 50*200, and the replies each key gave
    out are exactly 1..10000 (no lost or duplicated increment)."""
    nclients, nkeys, per_key = 50, 5, 200
    tag = uuid.uuid4().hex  # fresh keys: the test needs no DEL or FLUSHALL
    keys = ["conc:%s:%d" % (tag, i) for i in range(nkeys)]
    c = server.client()
    barrier = threading.Barrier(nclients)
    seen = [[] for _ in range(nclients)]
    errors = []

    def worker(t):
        try:
            cl = redis.Redis(port=server.port, socket_timeout=30)
            cl.ping()  # connect before the start line
            barrier.wait(timeout=30)
            for _ in range(per_key):
                for k in keys:
                    seen[t].append((k, cl.incr(k)))
            cl.close()
        except Exception as e:  # reported below, with the thread's number
            errors.append("client %d: %r" % (t, e))
            barrier.abort()

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(nclients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "clients still running after 120 s"
    assert not errors, errors[:5]
    total = nclients * per_key
    for k in keys:
        assert int(c.get(k)) == total
        got = sorted(v for s in seen for (kk, v) in s if kk == k)
        assert got == list(range(1, total + 1)), "key %s: replies not 1..%d" % (k, total)
    c.close()


def test_pipeline_10k_commands(server):
    """10,000 commands in one pipeline without MULTI: replies complete and
    in order."""
    c = server.client()
    tag = uuid.uuid4().hex
    ctr = "pl:%s:ctr" % tag
    n = 10000
    p = c.pipeline(transaction=False)
    for i in range(n):
        if i % 4 == 3:
            p.incr(ctr)
        else:
            p.set("pl:%s:%d" % (tag, i), "value-%d" % i)
    res = p.execute()
    assert len(res) == n
    for i, v in enumerate(res):
        if i % 4 == 3:
            assert v == i // 4 + 1, (i, v)
        else:
            assert v is True, (i, v)
    p = c.pipeline(transaction=False)
    for i in range(n):
        p.get("pl:%s:%d" % (tag, i))
    res = p.execute()
    for i, v in enumerate(res):
        if i % 4 == 3:
            assert v is None, (i, v)  # never SET
        else:
            assert v == b"value-%d" % i, (i, v)
    assert c.get(ctr) == b"2500"
    c.close()


def test_pipeline_10k_raw_one_write(server):
    """The same depth sent as one buffer on a bare socket, read back
    afterwards: the server must not stall on a full output buffer."""
    conn = RawConn(server.port, timeout=30)
    n = 10000
    out = b"".join(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\nx\r\n" % (len(k), k)
                   for k in (b"raw:%d" % i for i in range(n)))
    out += b"".join(b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(k), k)
                    for k in (b"raw:%d" % i for i in range(n)))
    conn.send_raw(out)
    assert [conn.read() for _ in range(n)] == ["OK"] * n
    assert [conn.read() for _ in range(n)] == [b"x"] * n
    conn.close()


@pytest.mark.parametrize("size", [0, 1, 1000, 65536, 1 << 20, 4 << 20, 16 << 20],
                         ids=["0B", "1B", "1KB", "64KB", "1MB", "4MB", "16MB"])
def test_binary_values_round_trip(server, size):
    """Every byte value, CR LF and NUL included, survives SET/GET intact."""
    c = server.client(socket_timeout=60)
    # random bytes, with the protocol's own delimiters planted at the ends
    value = os.urandom(size)
    if size >= 8:
        value = b"\r\n\x00$" + value[4:-4] + b"\x00\r\n*"
    key = b"bin:\x00\r\n:%d" % size
    assert c.set(key, value) is True
    got = c.get(key)
    assert got is not None and len(got) == size
    assert got == value
    c.close()


# --- AUTH ------------------------------------------------------------------------

def test_requirepass_noauth_then_auth(start_server):
    s = start_server(args=["--requirepass", "secret"])
    conn = RawConn(s.port)
    noauth = RawError("NOAUTH Authentication required.")
    assert conn.call("GET", "k") == noauth
    assert conn.call("SET", "k", "v") == noauth
    assert conn.call("PING") == noauth
    assert conn.call("AUTH", "wrong") == RawError(
        "WRONGPASS invalid username-password pair or user is disabled.")
    assert conn.call("GET", "k") == noauth
    assert conn.call("AUTH", "secret") == "OK"
    assert conn.call("PING") == "PONG"
    assert conn.call("SET", "k", "v") == "OK"
    assert conn.call("GET", "k") == b"v"
    conn.close()

    # AUTH is per connection: a new one starts unauthenticated
    conn = RawConn(s.port)
    assert conn.call("GET", "k") == noauth
    assert conn.call("AUTH", "default", "secret") == "OK"
    assert conn.call("GET", "k") == b"v"
    conn.close()

    # HELLO 3 with AUTH in one step, as node-redis, go-redis and redis-py 8 do
    conn = RawConn(s.port)
    hello = conn.call("HELLO", "3", "AUTH", "default", "secret")
    assert isinstance(hello, dict) and hello[b"proto"] == 3
    assert conn.call("GET", "k") == b"v"
    conn.close()

    # redis-py: without a password it gets NOAUTH; with one it works
    with pytest.raises(redis.exceptions.AuthenticationError):
        s.client().get("k")
    c = s.client(password="secret")
    assert c.get("k") == b"v"
    assert c.incr("n") == 1
    c.close()
    with pytest.raises(redis.exceptions.ResponseError, match="^WRONGPASS"):
        s.client(password="nope").ping()
