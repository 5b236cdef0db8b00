"""The server command family against the real binary: COMMAND, INFO,
CONFIG, TIME, LASTSAVE, DEBUG, SHUTDOWN and the cluster commands of a
server that is not a cluster, with Redis 7.2's reply shapes and error
texts; redis-cli reading INFO and COMMAND DOCS.

Most tests share the module's server; those that change its config or
stop it start their own.
"""

import os
import pty
import re
import select
import shutil
import signal
import socket
import subprocess
import time

import pytest
import redis

from conftest import ROOT, RawConn, RawError

REDIS_CLI = shutil.which("redis-cli")
CLI_ENV = dict(os.environ, REDISCLI_HISTFILE="/dev/null")
CLI_ENV.pop("REDISCLI_AUTH", None)


def err(text):
    return RawError(text)


def parse_info(text):
    """INFO text -> (list of section names, dict of field -> str)."""
    if isinstance(text, bytes):
        text = text.decode()
    sections, fields = [], {}
    for line in text.split("\r\n"):
        if line.startswith("# "):
            sections.append(line[2:])
        elif line:
            k, _, v = line.partition(":")
            fields[k] = v
    return sections, fields


def info(port, *sections):
    """INFO's text through a bare connection (redis-py would parse it)."""
    conn = RawConn(port)
    try:
        text = conn.call("INFO", *sections)
    finally:
        conn.close()
    assert isinstance(text, bytes), text
    return text


DEFAULT_SECTIONS = ["Server", "Clients", "Memory", "Persistence", "Stats", "Replication",
                    "CPU", "Modules", "Cluster", "Keyspace", "Engine"]


def doc_options():
    """Option names from docs/CONFIG.md's table."""
    names = []
    with open(os.path.join(ROOT, "docs", "CONFIG.md")) as f:
        for line in f:
            m = re.match(r"\| `([a-z0-9-]+)` \|", line)
            if m:
                names.append(m.group(1))
    return names


# ---- COMMAND -----------------------------------------------------------------

def test_command_count_matches_command_and_list(raw):
    n = raw.call("COMMAND", "COUNT")
    everything = raw.call("COMMAND")
    assert isinstance(n, int) and n == len(everything) > 10
    names = raw.call("COMMAND", "LIST")
    top = [x for x in names if b"|" not in x]
    assert len(top) == n
    assert {e[0] for e in everything} == set(top)
    # subcommands are listed too
    assert b"client|id" in names and b"config|get" in names and b"command|docs" in names


def test_command_info_get_resp2(raw):
    info = raw.call("COMMAND", "INFO", "get")
    assert info == [[b"get", 2, ["readonly", "fast"], 1, 1, 1, ["@read", "@string", "@fast"], [],
                     [[b"flags", ["RO", "access"],
                       b"begin_search", [b"type", b"index", b"spec", [b"index", 1]],
                       b"find_keys", [b"type", b"range", b"spec",
                                      [b"lastkey", 0, b"keystep", 1, b"limit", 0]]]],
                     []]]


def test_command_info_resp3_shapes(raw):
    raw.call("HELLO", "3")
    raw.send_raw(b"*3\r\n$7\r\nCOMMAND\r\n$4\r\nINFO\r\n$4\r\nmset\r\n")
    # check the wire types: flags, categories, tips and key specs are sets
    [info] = raw.read()
    assert info[0] == b"mset" and info[1] == -3
    assert info[3:6] == [1, -1, 2]
    [spec] = info[8]
    assert spec[b"begin_search"] == {b"type": b"index", b"spec": {b"index": 1}}
    assert spec[b"find_keys"] == {b"type": b"range",
                                  b"spec": {b"lastkey": -1, b"keystep": 2, b"limit": 0}}
    sock_data = raw_bytes(raw.sock, b"COMMAND INFO get\r\n")
    assert b"\r\n~2\r\n+readonly\r\n+fast\r\n" in sock_data
    assert b"~3\r\n+@read\r\n+@string\r\n+@fast\r\n~0\r\n~1\r\n%3\r\n" in sock_data
    raw.call("HELLO", "2")


def raw_bytes(sock, request, settle=0.3):
    """Sends a request and returns whatever bytes arrive within `settle`
    seconds of quiet (for checking exact wire types)."""
    sock.sendall(request)
    data = b""
    sock.settimeout(settle)
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pass
    sock.settimeout(10)
    return data


def test_command_info_unknown_subcommands_and_all(raw):
    got = raw.call("COMMAND", "INFO", "nosuch", "client|id", "CONFIG")
    assert got[0] is None
    assert got[1][0] == b"client|id" and got[1][1] == 2
    cfg = got[2]
    assert cfg[0] == b"config" and cfg[1] == -2
    subs = {s[0]: s for s in cfg[9]}
    assert set(subs) == {b"config|get", b"config|set", b"config|rewrite", b"config|resetstat",
                         b"config|help"}
    assert subs[b"config|get"][1] == -3 and subs[b"config|set"][1] == -4
    assert "admin" in subs[b"config|set"][2]
    assert "@dangerous" in subs[b"config|set"][6]
    assert b"request_policy:all_nodes" in subs[b"config|set"][7]
    assert all(len(s) == 10 for s in cfg[9])
    assert len(raw.call("COMMAND", "INFO")) == raw.call("COMMAND", "COUNT")


def test_every_command_info_is_well_formed(raw):
    for info in raw.call("COMMAND"):
        assert len(info) == 10
        name, arity, flags, first, last, step, cats, tips, specs, subs = info
        assert name == name.lower() and arity != 0
        assert all(isinstance(f, str) for f in flags)
        assert ("@fast" in cats) != ("@slow" in cats), name
        if first == 0:
            assert (last, step, specs) == (0, 0, [])
        else:
            assert step >= 1 and len(specs) == 1
        for s in subs:
            assert s[0].startswith(name + b"|") and len(s) == 10


def test_command_docs_resp3(raw):
    raw.call("HELLO", "3")
    docs = raw.call("COMMAND", "DOCS", "get", "nosuch", "client")
    assert set(docs) == {b"get", b"client"}
    g = docs[b"get"]
    assert g[b"group"] == b"string" and g[b"since"] == b"1.0.0"
    assert g[b"summary"] and g[b"complexity"] == b"O(1)"
    c = docs[b"client"]
    assert c[b"group"] == b"connection"
    subs = c[b"subcommands"]
    assert b"client|id" in subs and b"client|kill" in subs
    assert subs[b"client|id"][b"summary"]
    assert raw.call("COMMAND", "DOCS", "nosuch") == {}
    assert set(raw.call("COMMAND", "DOCS", "client|list")) == {b"client|list"}
    raw.call("HELLO", "2")


def test_command_docs_all_resp2_pairs(raw):
    docs = raw.call("COMMAND", "DOCS")
    assert len(docs) % 2 == 0
    names = docs[0::2]
    assert len(names) == raw.call("COMMAND", "COUNT")
    for d in docs[1::2]:
        fields = dict(zip(d[0::2], d[1::2]))
        assert {b"summary", b"since", b"group"} <= set(fields)


def test_command_list_filters(raw):
    cl = raw.call("COMMAND", "LIST", "FILTERBY", "PATTERN", "cl*")
    assert cl and all(n.startswith(b"cl") for n in cl)
    assert b"client" in cl and b"client|kill" in cl and b"cluster" in cl
    fast = raw.call("COMMAND", "LIST", "FILTERBY", "ACLCAT", "fast")
    assert b"get" in fast and b"config|set" not in fast
    assert b"config|set" in raw.call("COMMAND", "LIST", "FILTERBY", "aclcat", "dangerous")
    assert raw.call("COMMAND", "LIST", "FILTERBY", "MODULE", "x") == []
    assert raw.call("COMMAND", "LIST", "FILTERBY", "ACLCAT", "nosuch") == []
    assert raw.call("COMMAND", "LIST", "FILTERBY", "foo", "x") == err("ERR syntax error")
    assert raw.call("COMMAND", "LIST", "x") == err("ERR syntax error")


def test_command_getkeys(raw):
    assert raw.call("COMMAND", "GETKEYS", "mset", "a", "1", "b", "2") == [b"a", b"b"]
    assert raw.call("COMMAND", "GETKEYS", "GET", "k") == [b"k"]
    assert raw.call("COMMAND", "GETKEYS", "mget", "a", "b", "c") == [b"a", b"b", b"c"]
    assert raw.call("COMMAND", "GETKEYS", "nosuch", "a") == err("ERR Invalid command specified")
    assert raw.call("COMMAND", "GETKEYS", "ping", "x") == err("ERR The command has no key arguments")
    assert raw.call("COMMAND", "GETKEYS", "get", "a", "b") == \
        err("ERR Invalid number of arguments specified for command")
    assert raw.call("COMMAND", "GETKEYS") == \
        err("ERR wrong number of arguments for 'command|getkeys' command")
    assert raw.call("COMMAND", "GETKEYSANDFLAGS", "set", "k", "v") == \
        [[b"k", ["RW", "access", "update", "variable_flags"]]]


def test_command_help_and_unknown(raw):
    h = raw.call("COMMAND", "HELP")
    assert h[0] == "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert "COUNT" in h and h[-2:] == ["HELP", "    Prints this help."]
    assert raw.call("COMMAND", "FOO") == err("ERR unknown subcommand 'FOO'. Try COMMAND HELP.")
    assert raw.call("command", "count") == raw.call("COMMAND", "COUNT")


# ---- INFO --------------------------------------------------------------------

def test_info_default_sections_and_fields(server):
    c = server.client()
    text = info(server.port)
    sections, f = parse_info(text)
    assert sections == DEFAULT_SECTIONS
    assert text.endswith(b"\r\n") and b"\r\n\r\n# Clients\r\n" in text
    # server
    assert f["redis_version"] == "7.2.4" and f["redis_mode"] == "standalone"
    assert f["os"].startswith("Linux") and f["arch_bits"] == "64"
    assert int(f["process_id"]) == server.proc.pid
    assert re.fullmatch(r"[0-9a-f]{40}", f["run_id"])
    assert int(f["tcp_port"]) == server.port
    assert int(f["uptime_in_seconds"]) >= 0 and f["uptime_in_days"] == "0"
    assert f["hz"] == "10"
    assert os.path.basename(f["executable"].split(" ")[0]) == "redis-faster"
    assert f["config_file"] == ""
    assert f["io_threads_active"] in ("0", "1")
    # clients
    assert int(f["connected_clients"]) >= 1
    assert f["maxclients"] == "10000" and f["blocked_clients"] == "0"
    # memory
    assert int(f["used_memory"]) > 0
    assert re.fullmatch(r"\d+(\.\d\d[KMGTP]|B)", f["used_memory_human"])
    assert int(f["used_memory"]) == int(f["used_memory_heap"]) + \
        int(f["used_memory_engine_index"]) + int(f["used_memory_engine_log"])
    assert f["maxmemory"] == "0" and f["maxmemory_policy"] == "noeviction"
    assert f["mem_allocator"] == "libc" or f["mem_allocator"].startswith("jemalloc-")
    # persistence (not built: nothing loads or saves)
    assert f["loading"] == "0" and f["rdb_bgsave_in_progress"] == "0"
    assert f["aof_enabled"] == "0"
    assert int(f["rdb_changes_since_last_save"]) >= 0
    # stats
    for k in ["total_connections_received", "total_commands_processed",
              "instantaneous_ops_per_sec", "total_net_input_bytes", "total_net_output_bytes",
              "rejected_connections", "expired_keys", "keyspace_hits", "keyspace_misses"]:
        assert int(f[k]) >= 0, k
    assert int(f["total_commands_processed"]) >= 1
    # replication, cpu, cluster
    assert f["role"] == "master" and f["connected_slaves"] == "0"
    assert re.fullmatch(r"[0-9a-f]{40}", f["master_replid"])
    assert float(f["used_cpu_sys"]) >= 0 and float(f["used_cpu_user"]) >= 0
    assert f["cluster_enabled"] == "0"
    # engine
    for k in ["log_begin_address", "log_head_address", "log_safe_read_only_address",
              "log_read_only_address", "log_tail_address", "log_bytes", "index_buckets",
              "index_entries", "index_overflow_buckets", "index_grows", "rmws_in_place",
              "rmws_copied", "upserts_in_place", "upserts_appended"]:
        assert int(f[k]) >= 0, k
    assert int(f["log_begin_address"]) <= int(f["log_head_address"]) <= \
        int(f["log_safe_read_only_address"]) <= int(f["log_read_only_address"]) <= \
        int(f["log_tail_address"])
    assert int(f["log_bytes"]) == int(f["log_tail_address"]) - int(f["log_begin_address"])
    assert int(f["index_buckets"]) == 16 * 1024 * 1024 // 64  # --index-size 16mb
    c.close()


def test_info_lastsave_and_master_replid_stable(raw):
    _, f1 = parse_info(raw.call("INFO", "persistence", "replication"))
    _, f2 = parse_info(raw.call("INFO", "replication"))
    assert int(f1["rdb_last_save_time"]) == raw.call("LASTSAVE")
    assert f1["master_replid"] == f2["master_replid"]


def test_info_sections_selection(server):
    c = server.client()
    assert parse_info(info(server.port, "server"))[0] == ["Server"]
    assert parse_info(info(server.port, "CLIENTS", "Server"))[0] == ["Server", "Clients"]
    assert parse_info(info(server.port, "server", "server"))[0] == ["Server"]
    assert parse_info(info(server.port, "engine"))[0] == ["Engine"]
    assert info(server.port, "nosuch") == b""
    assert parse_info(info(server.port, "default"))[0] == DEFAULT_SECTIONS
    assert parse_info(info(server.port, "all"))[0] == DEFAULT_SECTIONS
    assert parse_info(info(server.port, "everything"))[0] == DEFAULT_SECTIONS
    assert parse_info(info(server.port, "keyspace", "nosuch"))[0] == ["Keyspace"]
    c.close()


def test_info_resp3_is_verbatim(server):
    s = socket.create_connection(("127.0.0.1", server.port))
    data = raw_bytes(s, b"HELLO 3\r\nINFO server\r\n")
    assert b"\r\n=" in data and b"txt:# Server\r\n" in data
    data = raw_bytes(s, b"INFO nosuch\r\n")
    assert data == b"=4\r\ntxt:\r\n"
    s.close()


def test_info_keyspace_counts_keys_and_expires(fresh_server):
    c = fresh_server.client()
    assert parse_info(info(fresh_server.port, "keyspace"))[1] == {}
    c.set("a", "1")
    c.set("b", "2", ex=100)
    c3 = fresh_server.client(db=3)
    c3.set("x", "1", px=50000)
    _, f = parse_info(info(fresh_server.port, "keyspace"))
    assert set(f) == {"db0", "db3"}
    m = re.fullmatch(r"keys=2,expires=1,avg_ttl=(\d+)", f["db0"])
    assert m and 90000 < int(m.group(1)) <= 100000
    m = re.fullmatch(r"keys=1,expires=1,avg_ttl=(\d+)", f["db3"])
    assert m and 40000 < int(m.group(1)) <= 50000
    c.close()
    c3.close()


def test_info_stats_counters(fresh_server):
    c = RawConn(fresh_server.port)
    _, f = parse_info(c.call("INFO", "stats"))
    before = int(f["total_commands_processed"])
    conns = int(f["total_connections_received"])
    for _ in range(10):
        c.call("PING")
    other = RawConn(fresh_server.port)
    other.call("PING")
    _, f = parse_info(c.call("INFO", "stats"))
    assert int(f["total_commands_processed"]) == before + 12
    assert int(f["total_connections_received"]) == conns + 1
    assert int(f["total_net_input_bytes"]) > 0 and int(f["total_net_output_bytes"]) > 0
    # CONFIG RESETSTAT zeroes them
    assert c.call("CONFIG", "RESETSTAT") == "OK"
    _, f = parse_info(c.call("INFO", "stats"))
    assert f["total_commands_processed"] == "1"  # the RESETSTAT
    assert f["total_connections_received"] == "0"
    assert f["rejected_connections"] == "0"
    other.close()
    c.close()


def test_info_instantaneous_ops(fresh_server):
    c = fresh_server.client()
    p = c.pipeline(transaction=False)
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        for _ in range(200):
            p.ping()
        p.execute()
    _, f = parse_info(info(fresh_server.port, "stats"))
    assert int(f["instantaneous_ops_per_sec"]) > 0
    assert float(f["instantaneous_input_kbps"]) > 0
    c.close()


def test_info_config_file_field(start_server):
    s = start_server(config_text="hz 12\n")
    c = s.client()
    _, f = parse_info(info(s.port, "server"))
    assert f["config_file"] == os.path.join(os.path.realpath(s.dir), "redis-faster.conf")
    assert f["hz"] == "12"
    c.close()


# ---- CONFIG ------------------------------------------------------------------

def config_get(c, *patterns):
    got = c.execute_command("CONFIG", "GET", *patterns)
    if isinstance(got, dict):
        return got
    return dict(zip(got[0::2], got[1::2]))


def test_config_get_probed_options(server):
    c = server.client()
    want = {b"save": b"", b"appendonly": b"no", b"databases": b"16", b"timeout": b"0",
            b"maxmemory": b"0", b"maxmemory-policy": b"noeviction",
            b"replica-read-only": b"yes", b"slave-read-only": b"yes", b"maxclients": b"10000",
            b"bind": b"127.0.0.1", b"protected-mode": b"yes", b"cluster-enabled": b"no",
            b"port": str(server.port).encode()}
    for k, v in want.items():
        assert config_get(c, k) == {k: v}, k
    assert config_get(c, "nosuch") == {}
    assert config_get(c, "nosuch*") == {}
    c.close()


def test_config_get_patterns_and_case(raw):
    got = raw.call("CONFIG", "GET", "maxmemory*", "save")
    d = dict(zip(got[0::2], got[1::2]))
    assert set(d) == {b"maxmemory", b"maxmemory-policy", b"maxmemory-samples", b"save"}
    # an exact name is answered as asked; a pattern matches old names too
    assert raw.call("CONFIG", "GET", "MAXMEMORY") == [b"MAXMEMORY", b"0"]
    d = dict(zip(*[iter(raw.call("CONFIG", "GET", "*READ-ONLY*"))] * 2))
    assert d == {b"replica-read-only": b"yes", b"slave-read-only": b"yes"}
    assert raw.call("CONFIG", "GET", "maxmemory", "maxmemory") == [b"maxmemory", b"0"]
    assert raw.call("CONFIG", "GET", "p?rt") == [b"port", str(raw_port(raw)).encode()]
    assert raw.call("CONFIG", "GET", "[bp]ind") == [b"bind", b"127.0.0.1"]
    assert raw.call("CONFIG", "GET") == err("ERR wrong number of arguments for 'config|get' command")


def raw_port(raw):
    return raw.sock.getpeername()[1]


def test_config_get_star_lists_every_documented_option(raw):
    got = raw.call("CONFIG", "GET", "*")
    names = {n.decode() for n in got[0::2]}
    documented = set(doc_options())
    assert len(documented) > 30
    assert documented <= names
    assert names - documented == {"slave-read-only"}


def test_config_get_resp3_map(raw):
    raw.call("HELLO", "3")
    assert raw.call("CONFIG", "GET", "timeout", "databases") == {b"timeout": b"0", b"databases": b"16"}
    assert raw.call("CONFIG", "GET", "nosuch") == {}
    raw.call("HELLO", "2")


def test_config_set_and_errors(fresh_server):
    r = RawConn(fresh_server.port)
    assert r.call("CONFIG", "SET", "timeout", "100") == "OK"
    assert r.call("CONFIG", "GET", "timeout") == [b"timeout", b"100"]
    assert r.call("CONFIG", "SET", "TIMEOUT", "5", "maxmemory", "1mb", "maxmemory-policy",
                  "allkeys-lru") == "OK"
    assert r.call("CONFIG", "GET", "maxmemory") == [b"maxmemory", b"1048576"]
    assert r.call("CONFIG", "SET", "nosuch", "1") == \
        err("ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'")
    assert r.call("CONFIG", "SET", "port", "1") == \
        err("ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable config")
    assert r.call("CONFIG", "SET", "timeout", "1", "timeout", "2") == \
        err("ERR CONFIG SET failed (possibly related to argument 'timeout') - duplicate parameter")
    assert r.call("CONFIG", "SET", "timeout", "1", "maxmemory") == err("ERR syntax error")
    assert r.call("CONFIG", "SET", "timeout") == \
        err("ERR wrong number of arguments for 'config|set' command")
    assert r.call("CONFIG", "SET", "maxmemory", "abc") == \
        err("ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value")
    assert r.call("CONFIG", "SET", "hz", "abc") == \
        err("ERR CONFIG SET failed (possibly related to argument 'hz') - argument couldn't be parsed into an integer")
    assert r.call("CONFIG", "SET", "timeout", "-1") == \
        err("ERR CONFIG SET failed (possibly related to argument 'timeout') - argument must be between 0 and 2147483647 inclusive")
    assert r.call("CONFIG", "SET", "protected-mode", "maybe") == \
        err("ERR CONFIG SET failed (possibly related to argument 'protected-mode') - argument must be 'yes' or 'no'")
    assert r.call("CONFIG", "SET", "maxmemory-policy", "foo") == \
        err("ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be "
            "one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, "
            "allkeys-lru, allkeys-lfu, allkeys-random, noeviction")
    # save points are validated as Redis does
    assert r.call("CONFIG", "SET", "save", "3600") == \
        err("ERR CONFIG SET failed (possibly related to argument 'save') - Invalid save parameters")
    assert r.call("CONFIG", "SET", "save", "3600 1") == "OK"
    assert r.call("CONFIG", "GET", "save") == [b"save", b"3600 1"]
    assert r.call("CONFIG", "SET", "save", "") == "OK"
    # appendonly is set at start only (Redis would start a rewrite)
    assert r.call("CONFIG", "SET", "appendonly", "yes") == \
        err("ERR CONFIG SET failed (possibly related to argument 'appendonly') - can't set immutable config")
    assert r.call("CONFIG", "SET", "slave-read-only", "no") == "OK"
    assert r.call("CONFIG", "GET", "replica-read-only") == [b"replica-read-only", b"no"]
    r.close()


def test_config_set_is_all_or_nothing(fresh_server):
    r = RawConn(fresh_server.port)
    assert r.call("CONFIG", "SET", "timeout", "7", "maxmemory", "5mb", "maxmemory-policy", "bogus") == \
        err("ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be "
            "one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, "
            "allkeys-lru, allkeys-lfu, allkeys-random, noeviction")
    assert r.call("CONFIG", "GET", "timeout") == [b"timeout", b"0"]
    assert r.call("CONFIG", "GET", "maxmemory") == [b"maxmemory", b"0"]
    # an unknown or immutable name anywhere changes nothing either
    assert r.call("CONFIG", "SET", "timeout", "7", "nosuch", "1") == \
        err("ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'")
    assert r.call("CONFIG", "SET", "timeout", "7", "databases", "1") == \
        err("ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config")
    assert r.call("CONFIG", "GET", "timeout") == [b"timeout", b"0"]
    r.close()


def test_config_maxclients_bounds(start_server):
    s = start_server(args=["--maxclients", "50"])
    r = RawConn(s.port)
    assert r.call("CONFIG", "SET", "maxclients", "20") == "OK"
    assert r.call("CONFIG", "SET", "maxclients", "50") == "OK"
    assert r.call("CONFIG", "SET", "maxclients", "51") == \
        err("ERR CONFIG SET failed (possibly related to argument 'maxclients') - The event loop API "
            "used by Redis is not able to handle the specified number of clients")
    assert r.call("CONFIG", "SET", "maxclients", "0") == \
        err("ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument must be "
            "between 1 and 1000000 inclusive")
    r.close()


def test_config_help_and_errors(raw):
    h = raw.call("CONFIG", "HELP")
    assert h[0] == "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert "GET <pattern>" in h and "REWRITE" in h and "RESETSTAT" in h
    assert raw.call("CONFIG") == err("ERR wrong number of arguments for 'config' command")
    assert raw.call("CONFIG", "FOO") == err("ERR unknown subcommand 'FOO'. Try CONFIG HELP.")
    assert raw.call("CONFIG", "REWRITE") == err("ERR The server is running without a config file")


def test_config_rewrite_round_trip(start_server):
    text = ("# my settings\n"
            "timeout 5\n"
            "maxmemory-policy noeviction\n"
            "slave-read-only yes\n"
            "\n# end of my settings\n")
    s = start_server(config_text=text)
    path = os.path.join(s.dir, "redis-faster.conf")
    r = RawConn(s.port)
    assert r.call("CONFIG", "SET", "timeout", "33", "maxmemory-policy", "allkeys-lru",
                  "replica-read-only", "no", "maxmemory", "2mb",
                  "requirepass", 'pa ss"w\\d') == "OK"
    assert r.call("CONFIG", "REWRITE") == "OK"
    with open(path) as f:
        new = f.read()
    assert new.startswith("# my settings\ntimeout 33\nmaxmemory-policy allkeys-lru\n"
                          "replica-read-only no\n\n# end of my settings\n")
    assert "# Generated by CONFIG REWRITE\n" in new
    assert "maxmemory 2097152\n" in new
    assert 'requirepass "pa ss\\"w\\\\d"\n' in new
    r.close()
    # a server started from the rewritten file has the same values
    s2 = start_server(config_text=new)
    r2 = RawConn(s2.port)
    assert r2.call("AUTH", 'pa ss"w\\d') == "OK"
    got = r2.call("CONFIG", "GET", "timeout", "maxmemory-policy", "replica-read-only", "maxmemory")
    assert dict(zip(got[0::2], got[1::2])) == {
        b"timeout": b"33", b"maxmemory-policy": b"allkeys-lru",
        b"replica-read-only": b"no", b"maxmemory": b"2097152"}
    r2.close()


def test_repo_config_file_starts_the_server(start_server):
    with open(os.path.join(ROOT, "redis-faster.conf")) as f:
        text = f.read()
    s = start_server(config_text=text)
    c = s.client()
    assert config_get(c, "bind") == {b"bind": b"127.0.0.1"}
    assert config_get(c, "enable-debug-command") == {b"enable-debug-command": b"no"}
    assert c.ping()
    c.close()


def test_bad_config_file_fails_to_start(start_server):
    with pytest.raises(RuntimeError, match="Invalid save parameters"):
        start_server(config_text="save 900 1 60\n")
    with pytest.raises(RuntimeError, match="Bad directive"):
        start_server(config_text="nosuchoption 1\n")


# ---- TIME, LASTSAVE, DEBUG, SHUTDOWN, cluster -------------------------------

def test_time_and_lastsave(raw):
    t = raw.call("TIME")
    assert len(t) == 2 and all(isinstance(x, bytes) for x in t)
    now = time.time()
    assert abs(int(t[0]) + int(t[1]) / 1e6 - now) < 2
    assert 0 <= int(t[1]) < 1000000
    last = raw.call("LASTSAVE")
    assert isinstance(last, int) and last <= now + 1
    assert raw.call("TIME", "x") == err("ERR wrong number of arguments for 'time' command")


def test_debug_disabled_by_default(raw):
    assert raw.call("DEBUG", "SLEEP", "0") == err(
        "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", "
        "you can run it from a local connection, otherwise you need to set this option in the "
        "configuration file, and then restart the server.")
    assert raw.call("DEBUG") == err("ERR wrong number of arguments for 'debug' command")


@pytest.mark.parametrize("mode", ["yes", "local"])
def test_debug_sleep(start_server, mode):
    s = start_server(args=["--enable-debug-command", mode, "--io-threads", "2"])
    r = RawConn(s.port)
    assert r.call("DEBUG", "SLEEP", "0") == "OK"
    t0 = time.monotonic()
    assert r.call("DEBUG", "SLEEP", "0.3") == "OK"
    assert time.monotonic() - t0 >= 0.29
    # the sleeping worker holds no epoch: writes on other clients go on
    other = s.client()
    r.send("DEBUG", "SLEEP", "0.5")
    for i in range(100):
        other.set("debug:k%d" % i, "v")
    assert r.read() == "OK"
    assert other.get("debug:k99") == b"v"
    assert r.call("DEBUG", "FOO") == \
        err("ERR unknown subcommand or wrong number of arguments for 'FOO'. Try DEBUG HELP.")
    assert r.call("DEBUG", "SLEEP") == \
        err("ERR unknown subcommand or wrong number of arguments for 'SLEEP'. Try DEBUG HELP.")
    assert r.call("DEBUG", "HELP")[0].startswith("DEBUG <subcommand>")
    other.close()
    r.close()


def test_shutdown_errors_then_nosave(fresh_server):
    r = RawConn(fresh_server.port)
    assert r.call("SHUTDOWN", "ABORT") == err("ERR No shutdown in progress.")
    assert r.call("SHUTDOWN", "FOO") == err("ERR syntax error")
    assert r.call("SHUTDOWN", "SAVE", "NOSAVE") == err("ERR syntax error")
    assert r.call("SHUTDOWN", "ABORT", "NOW") == err("ERR syntax error")
    r.send("SHUTDOWN", "NOSAVE", "NOW")
    with pytest.raises(ConnectionError):
        r.read()
    assert fresh_server.proc.wait(10) == 0
    assert "ready to exit" in fresh_server.read_log()
    assert "Saving the final checkpoint" not in fresh_server.read_log()


def test_shutdown_save_without_a_device_is_refused(start_server):
    s = start_server(args=["--storage-tier", "no"])
    r = RawConn(s.port)
    # checkpoints need the log on a device: SAVE fails unless forced
    assert r.call("SHUTDOWN", "SAVE") == err("ERR Errors trying to SHUTDOWN. Check logs.")
    assert r.call("BGSAVE") == err("ERR checkpoints need the log on a device (storage-tier yes)")
    assert s.proc.poll() is None
    r.send("SHUTDOWN", "SAVE", "FORCE")
    with pytest.raises(ConnectionError):
        r.read()
    assert s.proc.wait(10) == 0


def test_shutdown_plain(fresh_server):
    c = fresh_server.client()
    with pytest.raises(redis.exceptions.ConnectionError):
        c.execute_command("SHUTDOWN")
    assert fresh_server.proc.wait(10) == 0


def test_cluster_commands_disabled(raw):
    disabled = err("ERR This instance has cluster support disabled")
    assert raw.call("CLUSTER", "INFO") == disabled
    assert raw.call("CLUSTER", "NODES") == disabled
    assert raw.call("CLUSTER", "SLOTS") == disabled
    assert raw.call("READONLY") == disabled
    assert raw.call("READWRITE") == disabled
    assert raw.call("CLUSTER") == err("ERR wrong number of arguments for 'cluster' command")


# ---- redis-cli -----------------------------------------------------------------

needs_cli = pytest.mark.skipif(REDIS_CLI is None, reason="redis-cli is not installed")


def cli(port, *args):
    p = subprocess.run([REDIS_CLI, "-p", str(port)] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30, env=CLI_ENV)
    assert p.returncode == 0, p.stderr
    return p.stdout.decode()


@needs_cli
def test_redis_cli_info_server(server):
    out = cli(server.port, "INFO", "server")
    assert "# Server" in out and "redis_version:7.2.4" in out
    assert "tcp_port:%d" % server.port in out


@needs_cli
def test_redis_cli_command_docs(server):
    out = cli(server.port, "COMMAND", "DOCS", "get")
    lines = out.splitlines()
    assert lines[0] == "get" and "summary" in lines and "group" in lines and "string" in lines
    out = cli(server.port, "COMMAND", "DOCS")
    assert "client|kill" in out
    out = cli(server.port, "-3", "COMMAND", "DOCS", "client")
    assert "subcommands" in out and "client|id" in out


@needs_cli
def test_redis_cli_interactive_help_uses_command_docs(server):
    """redis-cli's prompt loads COMMAND DOCS at start (a reply it cannot
    parse makes it abort); `help get` then shows our summary."""
    pid, fd = pty.fork()
    if pid == 0:
        env = dict(CLI_ENV, TERM="dumb")
        os.execve(REDIS_CLI, [REDIS_CLI, "-p", str(server.port)], env)
    out = b""

    def read_until(pattern, timeout=10):
        nonlocal out
        deadline = time.monotonic() + timeout
        while pattern not in out and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    out += os.read(fd, 65536)
                except OSError:
                    break
        return pattern in out

    try:
        prompt = b"127.0.0.1:%d>" % server.port
        assert read_until(prompt), out
        os.write(fd, b"help get\r")
        assert read_until(b"Returns the string value of a key."), out
        os.write(fd, b"help client kill\r")
        assert read_until(b"Terminates open connections."), out
        os.write(fd, b"quit\r")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
                break
            read_until(b"\x00", 0.1)
        else:
            raise AssertionError("redis-cli did not exit:\n%r" % out)
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)
