"""Connection commands against the real binary."""

import socket

import redis


def test_ping_and_echo(server):
    c = server.client()
    assert c.ping() is True
    assert c.echo(b"hello\x00world") == b"hello\x00world"
    # redis-py turns PING's reply into a bool, so check the raw bytes
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(b"*2\r\n$4\r\nPING\r\n$1\r\nx\r\nPING\r\n")
    got = b""
    while got.count(b"\r\n") < 3:
        got += sock.recv(100)
    sock.close()
    assert got == b"$1\r\nx\r\n+PONG\r\n"


def test_unknown_command_error(server):
    c = server.client()
    try:
        c.execute_command("NOSUCH", "a", "b")
    except redis.exceptions.ResponseError as e:
        assert str(e) == "unknown command 'NOSUCH', with args beginning with: 'a' 'b' "
    else:
        raise AssertionError("no error")


def test_select_out_of_range(server):
    c = server.client()
    try:
        c.execute_command("SELECT", "16")
    except redis.exceptions.ResponseError as e:
        assert str(e) == "DB index is out of range"
    else:
        raise AssertionError("no error")


def test_hello_3_map(raw):
    d = raw.call("HELLO", "3")
    assert isinstance(d, dict)
    assert d[b"proto"] == 3
    assert d[b"server"] == b"redis"
    assert d[b"version"].startswith(b"7.")
    assert d[b"mode"] == b"standalone" and d[b"role"] == b"master"
    assert d[b"modules"] == []
    # RESP3 stays on for the connection: a null is now "_"
    raw.send_raw(b"HELLO 2\r\n")
    assert isinstance(raw.read(), list)


def test_hello_bad_version(server):
    c = server.client()
    try:
        c.execute_command("HELLO", "4")
    except redis.exceptions.ResponseError as e:
        assert "NOPROTO unsupported protocol version" in str(e)
    else:
        raise AssertionError("no error")
