"""The CLIENT family and the connection limits against the real binary:
CLIENT ID / SETNAME / GETNAME / SETINFO / LIST / INFO / KILL / NO-EVICT /
REPLY / HELP with Redis 7.2's replies and error texts, KILL across worker
threads, AUTH with requirepass, maxclients, and idle timeouts.
"""

import re
import socket
import time

import pytest
import redis

from conftest import RawConn, RawError


def err(text):
    return RawError(text)


def parse_list(text):
    """CLIENT LIST text -> list of dicts, one per line."""
    if isinstance(text, bytes):
        text = text.decode()
    out = []
    for line in text.split("\n"):
        if line:
            out.append(dict(f.split("=", 1) for f in line.split(" ")))
    return out


def closed(conn, timeout=5.0):
    """True once the server has closed conn (a RawConn): a PING gets no
    reply but EOF or a reset."""
    deadline = time.monotonic() + timeout
    conn.sock.settimeout(timeout)
    try:
        conn.send("PING")
        while time.monotonic() < deadline:
            data = conn.sock.recv(100)
            if not data:
                return True
            conn.buf += data
            if conn.buf.endswith(b"\r\n"):
                return False  # answered: still open
    except (ConnectionError, OSError):
        return True
    return False


def eventually(fn, timeout=5.0):
    """Polls fn until it returns a true value (a killed client leaves the
    registry just after its socket closes)."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(0.02)


# ---- ID, names, SETINFO -----------------------------------------------------------

def test_client_id_unique_and_matches_hello(server):
    a, b = RawConn(server.port), RawConn(server.port)
    ida, idb = a.call("CLIENT", "ID"), b.call("CLIENT", "ID")
    # IDs are unique and positive; with several worker threads two
    # connections may be accepted in either order, so no order is implied.
    assert isinstance(ida, int) and isinstance(idb, int)
    assert ida > 0 and idb > 0 and ida != idb
    c = RawConn(server.port)
    idc = c.call("CLIENT", "ID")
    assert idc > max(ida, idb), "a later connection gets a larger id"
    c.close()
    assert a.call("HELLO", "3")[b"id"] == ida
    assert a.call("CLIENT", "ID", "x") == err("ERR wrong number of arguments for 'client|id' command")
    a.close()
    b.close()


def test_client_setname_getname(raw):
    assert raw.call("CLIENT", "GETNAME") is None
    assert raw.call("CLIENT", "SETNAME", "worker-1") == "OK"
    assert raw.call("CLIENT", "GETNAME") == b"worker-1"
    bad = err("ERR Client names cannot contain spaces, newlines or special characters.")
    assert raw.call("CLIENT", "SETNAME", "a b") == bad
    assert raw.call("CLIENT", "SETNAME", "a\nb") == bad
    assert raw.call("CLIENT", "SETNAME", "caf\xe9") == bad
    assert raw.call("CLIENT", "GETNAME") == b"worker-1"
    line = parse_list(raw.call("CLIENT", "INFO"))[0]
    assert line["name"] == "worker-1"
    assert raw.call("CLIENT", "SETNAME", "") == "OK"
    assert raw.call("CLIENT", "GETNAME") is None
    assert raw.call("CLIENT", "SETNAME") == \
        err("ERR wrong number of arguments for 'client|setname' command")


def test_client_setinfo(raw):
    assert raw.call("CLIENT", "SETINFO", "LIB-NAME", "redis-py") == "OK"
    assert raw.call("CLIENT", "SETINFO", "lib-ver", "4.3.4") == "OK"
    line = parse_list(raw.call("CLIENT", "INFO"))[0]
    assert line["lib-name"] == "redis-py" and line["lib-ver"] == "4.3.4"
    assert raw.call("CLIENT", "SETINFO", "foo", "x") == err("ERR Unrecognized option 'foo'")
    assert raw.call("CLIENT", "SETINFO", "Lib-Name", "a b") == \
        err("ERR Lib-Name cannot contain spaces, newlines or special characters.")
    assert raw.call("CLIENT", "SETINFO", "lib-name", "") == "OK"
    assert parse_list(raw.call("CLIENT", "INFO"))[0]["lib-name"] == ""
    assert raw.call("CLIENT", "SETINFO", "lib-name") == \
        err("ERR wrong number of arguments for 'client|setinfo' command")


def test_redis_py_handshake_names(server):
    c = server.client(client_name="py-client")
    assert c.client_getname() == "py-client"
    assert c.client_id() > 0
    info = c.client_info()
    assert info["name"] == "py-client"
    c.close()


# ---- LIST and INFO -----------------------------------------------------------

def test_client_list_and_info(server):
    a, b = RawConn(server.port), RawConn(server.port)
    a.call("CLIENT", "SETNAME", "list-a")
    ida, idb = a.call("CLIENT", "ID"), b.call("CLIENT", "ID")
    rows = parse_list(a.call("CLIENT", "LIST"))
    ids = [int(r["id"]) for r in rows]
    assert ida in ids and idb in ids
    assert ids == sorted(ids)  # oldest first
    mine = next(r for r in rows if int(r["id"]) == ida)
    assert mine["name"] == "list-a" and mine["cmd"] == "client|list"
    assert mine["addr"] == "%s:%d" % a.sock.getsockname()
    assert mine["laddr"] == "127.0.0.1:%d" % server.port
    for k in ["fd", "age", "idle", "flags", "db", "sub", "psub", "multi", "qbuf", "omem",
              "tot-mem", "events", "user", "resp", "lib-name", "lib-ver"]:
        assert k in mine, k
    assert mine["user"] == "default" and mine["resp"] == "2"
    # filters
    assert [int(r["id"]) for r in parse_list(a.call("CLIENT", "LIST", "ID", idb, ida, 999999))] == [idb, ida]
    assert len(parse_list(a.call("CLIENT", "LIST", "TYPE", "normal"))) == len(rows)
    assert a.call("CLIENT", "LIST", "TYPE", "pubsub") == b""
    assert a.call("CLIENT", "LIST", "TYPE", "replica") == b""
    assert a.call("CLIENT", "LIST", "TYPE", "foo") == err("ERR Unknown client type 'foo'")
    assert a.call("CLIENT", "LIST", "ID", "x") == err("ERR Invalid client ID")
    assert a.call("CLIENT", "LIST", "foo") == err("ERR syntax error")
    info = a.call("CLIENT", "INFO")
    assert info.endswith(b"\n") and info.count(b"\n") == 1
    assert parse_list(info)[0]["id"] == str(ida)
    assert parse_list(info)[0]["cmd"] == "client|info"
    a.close()
    b.close()


def test_client_list_resp3_verbatim(server):
    s = socket.create_connection(("127.0.0.1", server.port))
    s.sendall(b"HELLO 3\r\n")
    data = b""
    while not data.endswith(b"*0\r\n"):
        data += s.recv(4096)
    s.sendall(b"CLIENT INFO\r\n")
    data = b""
    while not data.endswith(b"\n\r\n"):
        data += s.recv(4096)
    assert re.match(rb"=\d+\r\ntxt:id=\d+ ", data)
    assert b" resp=3 " in data
    s.close()


# ---- KILL --------------------------------------------------------------------

def test_client_kill_old_form(server):
    killer, victim = RawConn(server.port), RawConn(server.port)
    victim.call("PING")
    addr = "%s:%d" % victim.sock.getsockname()
    assert killer.call("CLIENT", "KILL", addr) == "OK"
    assert closed(victim)
    assert killer.call("CLIENT", "KILL", addr) == err("ERR No such client")
    assert killer.call("CLIENT", "KILL", "1.2.3.4:5") == err("ERR No such client")
    # the old form may kill the caller itself (after its reply)
    me = "%s:%d" % killer.sock.getsockname()
    assert killer.call("CLIENT", "KILL", me) == "OK"
    assert closed(killer)
    killer.close()
    victim.close()


def test_client_kill_filters(server):
    k = RawConn(server.port)
    v1, v2 = RawConn(server.port), RawConn(server.port)
    id1 = v1.call("CLIENT", "ID")
    v2.call("PING")
    assert k.call("CLIENT", "KILL", "ID", id1) == 1
    assert closed(v1)
    assert k.call("CLIENT", "KILL", "ID", id1) == 0
    addr2 = "%s:%d" % v2.sock.getsockname()
    assert k.call("CLIENT", "KILL", "ADDR", addr2, "LADDR", "1.2.3.4:1") == 0
    assert k.call("CLIENT", "KILL", "ADDR", addr2, "LADDR", "127.0.0.1:%d" % server.port,
                  "USER", "default", "TYPE", "normal") == 1
    assert closed(v2)
    # SKIPME defaults to yes in the new form
    me = "%s:%d" % k.sock.getsockname()
    assert k.call("CLIENT", "KILL", "ADDR", me) == 0
    assert k.call("CLIENT", "KILL", "TYPE", "pubsub") == 0
    # errors
    assert k.call("CLIENT", "KILL", "ID", "0") == err("ERR client-id should be greater than 0")
    assert k.call("CLIENT", "KILL", "ID", "x") == err("ERR client-id should be greater than 0")
    assert k.call("CLIENT", "KILL", "TYPE", "foo") == err("ERR Unknown client type 'foo'")
    assert k.call("CLIENT", "KILL", "USER", "foo") == err("ERR No such user 'foo'")
    assert k.call("CLIENT", "KILL", "SKIPME", "maybe") == err("ERR syntax error")
    assert k.call("CLIENT", "KILL", "foo", "bar") == err("ERR syntax error")
    assert k.call("CLIENT", "KILL", "ID", "1", "SKIPME") == err("ERR syntax error")
    assert k.call("CLIENT", "KILL") == err("ERR wrong number of arguments for 'client|kill' command")
    # SKIPME no: the caller gets its reply, then is closed
    assert k.call("CLIENT", "KILL", "ADDR", me, "SKIPME", "no") == 1
    assert closed(k)
    for c in (k, v1, v2):
        c.close()


def test_client_kill_type_normal_kills_all_others(fresh_server):
    k = RawConn(fresh_server.port)
    victims = [RawConn(fresh_server.port) for _ in range(5)]
    for v in victims:
        v.call("PING")
    # (the fixture's readiness check may still hold a connection)
    assert k.call("CLIENT", "KILL", "TYPE", "normal") >= 5
    assert all(closed(v) for v in victims)
    assert k.call("PING") == "PONG"
    me = k.call("CLIENT", "ID")
    assert eventually(lambda: [int(r["id"]) for r in parse_list(k.call("CLIENT", "LIST"))] == [me])
    for c in victims + [k]:
        c.close()


def test_client_kill_across_workers(start_server):
    """With two worker threads the victims are spread over both; each is
    closed by its own worker, woken by the killer's."""
    s = start_server(args=["--io-threads", "2"])
    killer = RawConn(s.port)
    victims = [RawConn(s.port) for _ in range(12)]
    ids = [v.call("CLIENT", "ID") for v in victims]
    for i, v in zip(ids, victims):
        assert killer.call("CLIENT", "KILL", "ID", i) == 1
        # the victim runs no further command, whichever worker owns it
        assert closed(v)

    def listed():
        return {int(r["id"]) for r in parse_list(killer.call("CLIENT", "LIST"))}
    assert eventually(lambda: not (listed() & set(ids))), listed()
    assert killer.call("CLIENT", "ID") in listed()
    for c in victims + [killer]:
        c.close()


def test_client_kill_busy_victim_on_other_worker(start_server):
    """A victim in the middle of a pipelined stream is cut off: it gets
    replies for what ran before the kill and none after."""
    s = start_server(args=["--io-threads", "2"])
    killer = RawConn(s.port)
    victims = [RawConn(s.port) for _ in range(6)]
    for v in victims:
        vid = v.call("CLIENT", "ID")
        assert killer.call("CLIENT", "KILL", "ID", vid) == 1
        v.sock.settimeout(5)
        try:
            v.sock.sendall(b"PING\r\n" * 1000)
        except OSError:
            pass
        got = b""
        try:
            while True:
                chunk = v.sock.recv(65536)
                if not chunk:
                    break
                got += chunk
        except (ConnectionError, OSError):
            pass
        assert got == b"", got[:100]
    for c in victims + [killer]:
        c.close()


# ---- NO-EVICT, NO-TOUCH, REPLY, misc --------------------------------------------

def test_client_no_evict_and_no_touch(raw):
    assert raw.call("CLIENT", "NO-EVICT", "on") == "OK"
    assert raw.call("CLIENT", "NO-EVICT", "OFF") == "OK"
    assert raw.call("CLIENT", "NO-EVICT", "maybe") == err("ERR syntax error")
    assert raw.call("CLIENT", "NO-EVICT") == \
        err("ERR wrong number of arguments for 'client|no-evict' command")
    assert raw.call("CLIENT", "NO-TOUCH", "on") == "OK"
    assert raw.call("CLIENT", "NO-TOUCH", "x") == err("ERR syntax error")


def test_client_reply_off_on_skip(raw):
    raw.send_raw(b"CLIENT REPLY OFF\r\nPING a\r\nPING b\r\nCLIENT REPLY ON\r\nPING c\r\n")
    assert raw.read() == "OK"  # from ON
    assert raw.read() == b"c"
    raw.send_raw(b"CLIENT REPLY SKIP\r\nPING a\r\nPING b\r\n")
    assert raw.read() == b"b"
    # SKIP while OFF does nothing; ON ends both
    raw.send_raw(b"CLIENT REPLY OFF\r\nCLIENT REPLY SKIP\r\nPING a\r\nCLIENT REPLY ON\r\nPING d\r\n")
    assert raw.read() == "OK"
    assert raw.read() == b"d"
    assert raw.call("CLIENT", "REPLY", "foo") == err("ERR syntax error")
    assert raw.call("PING") == "PONG"


def test_client_misc(raw):
    assert raw.call("CLIENT", "GETREDIR") == -1
    assert raw.call("CLIENT", "UNBLOCK", "12345") == 0
    assert raw.call("CLIENT", "UNBLOCK", "x") == err("ERR value is not an integer or out of range")
    assert raw.call("CLIENT", "UNBLOCK", "1", "foo") == \
        err("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
    h = raw.call("CLIENT", "HELP")
    assert h[0] == "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert "SETNAME <name>" in h and h[-2:] == ["HELP", "    Prints this help."]
    assert raw.call("CLIENT") == err("ERR wrong number of arguments for 'client' command")
    assert raw.call("CLIENT", "FOO") == err("ERR unknown subcommand 'FOO'. Try CLIENT HELP.")
    assert raw.call("client", "id") == raw.call("CLIENT", "ID")


# ---- AUTH, maxclients, timeout -----------------------------------------------------

def test_auth_with_requirepass(start_server):
    s = start_server(args=["--requirepass", "s3cret"])
    r = RawConn(s.port)
    noauth = err("NOAUTH Authentication required.")
    assert r.call("GET", "k") == noauth
    assert r.call("CLIENT", "ID") == noauth
    assert r.call("CONFIG", "GET", "requirepass") == noauth
    assert r.call("AUTH", "wrong") == \
        err("WRONGPASS invalid username-password pair or user is disabled.")
    assert r.call("AUTH", "nobody", "s3cret") == \
        err("WRONGPASS invalid username-password pair or user is disabled.")
    assert r.call("AUTH", "s3cret") == "OK"
    assert isinstance(r.call("CLIENT", "ID"), int)
    r2 = RawConn(s.port)
    assert r2.call("AUTH", "default", "s3cret") == "OK"
    assert r2.call("PING") == "PONG"
    # HELLO 3 needs AUTH first, or carries it
    r3 = RawConn(s.port)
    h = r3.call("HELLO", "3")
    assert isinstance(h, RawError) and str(h).startswith("NOAUTH HELLO must be called")
    h = r3.call("HELLO", "3", "AUTH", "default", "s3cret")
    assert h[b"proto"] == 3
    assert r3.call("HELLO", "3", "AUTH", "default", "bad") == \
        err("WRONGPASS invalid username-password pair or user is disabled.")
    # redis-py with a password
    c = s.client(password="s3cret")
    assert c.ping()
    with pytest.raises((redis.exceptions.AuthenticationError, redis.exceptions.ResponseError),
                       match="WRONGPASS|invalid"):
        s.client(password="nope").ping()
    # changing the password keeps connected clients in, asks new ones
    assert r.call("CONFIG", "SET", "requirepass", "other") == "OK"
    assert r.call("PING") == "PONG"
    r4 = RawConn(s.port)
    assert r4.call("PING") == noauth
    assert r4.call("AUTH", "other") == "OK"
    for x in (r, r2, r3, r4):
        x.close()
    c.close()


def test_auth_without_password(raw):
    assert raw.call("AUTH", "x") == err(
        "ERR AUTH <password> called without any password configured for the default user. "
        "Are you sure your configuration is correct?")


def connect_when_room(port, timeout=5.0):
    """A connection the server accepted (retries while it is full)."""
    deadline = time.monotonic() + timeout
    while True:
        c = RawConn(port)
        reply = c.call("PING")
        if reply == "PONG":
            return c
        c.close()
        assert time.monotonic() < deadline, reply
        time.sleep(0.05)


def test_maxclients_reached(start_server):
    s = start_server(args=["--maxclients", "3"])
    # First make sure we are alone (the fixture's readiness check may
    # still hold a connection).
    admin = connect_when_room(s.port)
    admin.call("CLIENT", "KILL", "TYPE", "normal")
    assert eventually(lambda: "connected_clients:1\r\n" in admin.call("INFO", "clients").decode())
    conns = [admin, connect_when_room(s.port), connect_when_room(s.port)]
    extra = RawConn(s.port)
    assert extra.read() == err("ERR max number of clients reached")
    with pytest.raises(ConnectionError):
        extra.read()
    stats = conns[0].call("INFO", "stats").decode()
    assert re.search(r"rejected_connections:([1-9]\d*)\r\n", stats)
    clients = conns[0].call("INFO", "clients").decode()
    assert "maxclients:3\r\n" in clients
    assert eventually(lambda: "connected_clients:3\r\n" in conns[0].call("INFO", "clients").decode())
    # a slot frees when a client leaves
    conns.pop().close()
    again = connect_when_room(s.port)
    for c in conns + [extra, again]:
        c.close()


def test_timeout_closes_idle_clients(start_server):
    s = start_server(args=["--timeout", "1"])
    idle, busy = RawConn(s.port), RawConn(s.port)
    idle.call("PING")
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        assert busy.call("PING") == "PONG"
        time.sleep(0.2)
    assert closed(idle, timeout=3)
    assert busy.call("PING") == "PONG"
    # CONFIG SET timeout 0 turns it off
    assert busy.call("CONFIG", "SET", "timeout", "0") == "OK"
    quiet = RawConn(s.port)
    quiet.call("PING")
    time.sleep(2.2)
    assert quiet.call("PING") == "PONG"
    for c in (idle, busy, quiet):
        c.close()
