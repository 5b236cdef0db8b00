"""Listening sockets and shutdown: the unix socket, SIGTERM."""

import os
import signal
import tempfile

import redis


def test_unix_socket_serves_commands(start_server):
    path = os.path.join(tempfile.mkdtemp(prefix="rf-sock-"), "rf.sock")
    s = start_server(args=["--unixsocket", path, "--unixsocketperm", "700"])
    assert os.path.exists(path)
    assert oct(os.stat(path).st_mode & 0o777) == "0o700"
    c = redis.Redis(unix_socket_path=path, socket_timeout=10)
    assert c.ping() is True
    assert c.set("over-unix", b"v\x00v") is True
    # the same data over TCP
    assert s.client().get("over-unix") == b"v\x00v"
    info = c.execute_command("CLIENT", "INFO")
    assert (path + ":0").encode() in info
    c.close()
    assert s.stop() == 0
    assert not os.path.exists(path), "the socket file is removed at exit"


def test_sigterm_exits_cleanly(fresh_server):
    c = fresh_server.client()
    assert c.set("k", "v") is True
    code = fresh_server.stop(sig=signal.SIGTERM)
    assert code == 0
    log = fresh_server.read_log()
    assert "bye bye" in log


def test_pipelined_replies_in_order_across_a_large_batch(server):
    c = server.client()
    p = c.pipeline(transaction=False)
    for i in range(2000):
        p.set("order:%d" % i, i)
        p.get("order:%d" % i)
        p.incr("order-count")
    out = p.execute()
    for i in range(2000):
        assert out[3 * i] is True
        assert out[3 * i + 1] == str(i).encode()
        assert out[3 * i + 2] == i + 1
