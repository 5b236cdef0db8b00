"""COMMAND DOCS "arguments" (src/commands/cmd_docs.c): the argument maps in
Redis 7's shape, in RESP2 and RESP3, and redis-cli's interactive argument
hints built from them.
"""

import fcntl
import os
import pty
import select
import shutil
import signal
import struct
import subprocess
import termios
import time

import pytest

REDIS_CLI = shutil.which("redis-cli")


def pairs(flat):
    """A RESP2 flat map (list of 2n) as a dict."""
    assert len(flat) % 2 == 0
    return {flat[i]: flat[i + 1] for i in range(0, len(flat), 2)}


def arg_maps(args, resp3):
    """The arguments array as a list of dicts (nested arguments too)."""
    out = []
    for a in args:
        m = dict(a) if resp3 else pairs(a)
        if b"arguments" in m:
            m[b"arguments"] = arg_maps(m[b"arguments"], resp3)
        out.append(m)
    return out


def set_docs(raw, resp3):
    if resp3:
        assert raw.call("HELLO", "3")[b"proto"] == 3
    reply = raw.call("COMMAND", "DOCS", "set")
    if resp3:
        assert list(reply) == [b"set"]
        docs = reply[b"set"]
    else:
        assert reply[0] == b"set" and len(reply) == 2
        docs = pairs(reply[1])
    assert docs[b"group"] == b"string"
    return arg_maps(docs[b"arguments"], resp3)


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_set_arguments(raw, resp3):
    args = set_docs(raw, resp3)
    assert args[0] == {b"name": b"key", b"type": b"key", b"key_spec_index": 0}
    assert args[1] == {b"name": b"value", b"type": b"string"}
    cond = args[2]
    assert cond[b"type"] == b"oneof" and cond[b"flags"] == ["optional"]  # simple strings
    assert [a[b"token"] for a in cond[b"arguments"]] == [b"NX", b"XX"]
    assert all(a[b"type"] == b"pure-token" for a in cond[b"arguments"])
    assert args[3] == {b"name": b"get", b"type": b"pure-token", b"token": b"GET",
                       b"flags": ["optional"]}
    expiry = args[4]
    assert expiry[b"type"] == b"oneof" and expiry[b"flags"] == ["optional"]
    sub = expiry[b"arguments"]
    assert [(a[b"token"], a[b"name"], a[b"type"]) for a in sub] == [
        (b"EX", b"seconds", b"integer"),
        (b"PX", b"milliseconds", b"integer"),
        (b"EXAT", b"unix-time-seconds", b"unix-time"),
        (b"PXAT", b"unix-time-milliseconds", b"unix-time"),
        (b"KEEPTTL", b"keepttl", b"pure-token"),
    ]
    assert len(args) == 5
    assert raw.call("PING") in ("PONG", b"PONG")  # nothing left over


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_multiple_and_blocks(raw, resp3):
    if resp3:
        raw.call("HELLO", "3")

    def args_of(name):
        reply = raw.call("COMMAND", "DOCS", name)
        docs = reply[name.encode()] if resp3 else pairs(reply[1])
        return arg_maps(docs[b"arguments"], resp3) if b"arguments" in docs else None

    assert args_of("del") == [{b"name": b"key", b"type": b"key", b"key_spec_index": 0,
                               b"flags": ["multiple"]}]
    mset = args_of("mset")
    assert len(mset) == 1 and mset[0][b"type"] == b"block" and mset[0][b"flags"] == ["multiple"]
    assert [a[b"name"] for a in mset[0][b"arguments"]] == [b"key", b"value"]
    scan = args_of("scan")
    assert scan[0] == {b"name": b"cursor", b"type": b"integer"}
    assert scan[1] == {b"name": b"pattern", b"type": b"pattern", b"token": b"MATCH",
                       b"flags": ["optional"]}
    assert args_of("client|kill")[0][b"type"] == b"oneof"
    assert args_of("dbsize") is None  # no arguments, no entry (as Redis)
    assert args_of("time") is None


@pytest.mark.parametrize("proto", ["2", "3"])
def test_all_docs_well_formed(raw, proto):
    raw.call("HELLO", proto)
    reply = raw.call("COMMAND", "DOCS")
    docs = reply if proto == "3" else pairs(reply)
    count = raw.call("COMMAND", "COUNT")
    assert len(docs) == count
    with_args = [k for k, v in docs.items()
                 if b"arguments" in (v if proto == "3" else pairs(v))]
    assert b"set" in with_args and b"get" in with_args
    client = docs[b"client"] if proto == "3" else pairs(docs[b"client"])
    subs = client[b"subcommands"] if proto == "3" else pairs(client[b"subcommands"])
    kill = subs[b"client|kill"] if proto == "3" else pairs(subs[b"client|kill"])
    assert b"arguments" in kill
    assert raw.call("PING") in ("PONG", b"PONG")


def read_until(fd, pattern, seen, timeout=10.0):
    deadline = time.monotonic() + timeout
    while pattern not in seen[0]:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            pytest.fail("redis-cli did not print %r within %ss; output:\n%r"
                        % (pattern, timeout, seen[0]))
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the other side closed
            chunk = b""
        if not chunk:
            pytest.fail("redis-cli closed the terminal; output:\n%r" % seen[0])
        seen[0] += chunk


@pytest.mark.skipif(REDIS_CLI is None, reason="redis-cli is not installed (redis-tools)")
def test_cli_hints(server):
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 160, 0, 0))
    env = dict(os.environ, REDISCLI_HISTFILE="/dev/null", TERM="xterm")
    env.pop("REDISCLI_AUTH", None)
    proc = subprocess.Popen([REDIS_CLI, "-p", str(server.port)], stdin=slave, stdout=slave,
                            stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    seen = [b""]
    try:
        read_until(master, b"127.0.0.1:%d> " % server.port, seen)
        seen[0] = b""
        os.write(master, b"SET ")
        read_until(master, b"key value", seen)
        read_until(master, b"[NX|XX]", seen)  # redis-cli's rendering of the oneof
        seen[0] = b""
        os.write(master, b"\x15GETEX ")  # ^U clears the line
        read_until(master, b"PERSIST", seen)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        os.close(master)
