"""redis-cli (Debian's redis-tools) against the real binary: one-shot
commands, commands piped on stdin, --pipe mass insertion, -n, -3, -a, and
the interactive prompt driven through a pseudo-terminal.

Keys are unique per test, so the tests share the module's server without
flushing it.
"""

import fcntl
import json
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
pytestmark = pytest.mark.skipif(REDIS_CLI is None, reason="redis-cli is not installed (Debian package redis-tools)")

# No history file in the user's home, no password from the environment.
CLI_ENV = dict(os.environ, REDISCLI_HISTFILE="/dev/null")
CLI_ENV.pop("REDISCLI_AUTH", None)


def cli(port, *args, stdin=None, timeout=30, check=True):
    """Runs redis-cli -p port args...; returns (stdout, stderr) as str."""
    cmd = [REDIS_CLI, "-p", str(port)] + [str(a) for a in args]
    p = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, env=CLI_ENV)
    out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    if check:
        assert p.returncode == 0, "%s exited %d\nstdout:\n%s\nstderr:\n%s" % (
            " ".join(cmd), p.returncode, out[-2000:], err[-2000:])
    return out, err


def test_batch_set_get_incr(server):
    p = server.port
    assert cli(p, "SET", "cli:k", "v")[0] == "OK\n"
    assert cli(p, "GET", "cli:k")[0] == "v\n"
    assert cli(p, "GET", "cli:missing")[0] == "\n"  # nil prints as an empty line
    assert cli(p, "INCR", "cli:n")[0] == "1\n"
    assert cli(p, "INCR", "cli:n")[0] == "2\n"
    assert cli(p, "SET", "cli:sp", "two words")[0] == "OK\n"
    assert cli(p, "--no-raw", "GET", "cli:sp")[0] == '"two words"\n'


def test_batch_error_and_exit_code(server):
    p = server.port
    cli(p, "SET", "cli:text", "abc")
    out, _ = cli(p, "INCR", "cli:text")  # redis-cli 7 adds a blank line after it
    assert out.strip() == "ERR value is not an integer or out of range"
    # -e turns a server error into a non-zero exit status
    proc = subprocess.run([REDIS_CLI, "-p", str(p), "-e", "INCR", "cli:text"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30, env=CLI_ENV)
    assert proc.returncode != 0
    assert b"ERR value is not an integer" in proc.stdout + proc.stderr


def test_commands_on_stdin(server):
    script = b"SET cli:s 10\nINCR cli:s\nGET cli:s\nGET cli:s:missing\nPING\n"
    out, _ = cli(server.port, stdin=script)
    assert out == "OK\n11\n11\n\nPONG\n"


def test_x_reads_last_argument_from_stdin(server):
    value = b"line one\nline two\r\n\ttabbed \x01"
    assert cli(server.port, "-x", "SET", "cli:x", stdin=value)[0] == "OK\n"
    out = subprocess.run([REDIS_CLI, "-p", str(server.port), "GET", "cli:x"],
                         stdout=subprocess.PIPE, timeout=30, env=CLI_ENV).stdout
    assert out == value + b"\n"


def resp_command(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def test_pipe_mass_insertion(server):
    n = 10000
    data = b"".join(resp_command("SET", "mass:%d" % i, "value-%d" % i) for i in range(n))
    out, err = cli(server.port, "--pipe", stdin=data, timeout=60)
    assert "errors: 0, replies: %d" % n in out, out + err
    c = server.client()
    p = c.pipeline(transaction=False)
    for i in range(n):
        p.get("mass:%d" % i)
    assert p.execute() == [b"value-%d" % i for i in range(n)]
    c.close()


def test_pipe_counts_errors(server):
    """--pipe reports error replies in its summary (and exits non-zero)."""
    data = resp_command("SET", "mass:e", "x") + resp_command("INCR", "mass:e") * 3
    out, err = cli(server.port, "--pipe", stdin=data, check=False)
    assert "errors: 3, replies: 4" in out, out + err


def test_n_selects_database(server):
    p = server.port
    assert cli(p, "-n", "1", "SET", "cli:db", "in-db1")[0] == "OK\n"
    assert cli(p, "-n", "1", "GET", "cli:db")[0] == "in-db1\n"
    assert cli(p, "GET", "cli:db")[0] == "\n"  # database 0 does not see it
    assert cli(p, "-n", "0", "GET", "cli:db")[0] == "\n"
    assert cli(p, "-n", "15", "SET", "cli:db", "in-db15")[0] == "OK\n"
    assert cli(p, "-n", "1", "GET", "cli:db")[0] == "in-db1\n"
    assert cli(p, "-n", "15", "GET", "cli:db")[0] == "in-db15\n"


def test_resp3_flag(server):
    p = server.port
    hello = json.loads(cli(p, "-3", "--json", "HELLO")[0])
    assert hello["proto"] == 3 and hello["server"] == "redis"
    assert hello["version"].startswith("7.")
    assert json.loads(cli(p, "-2", "--json", "HELLO")[0])[4:6] == ["proto", 2]
    assert cli(p, "-3", "SET", "cli:r3", "v3")[0] == "OK\n"
    assert cli(p, "-3", "GET", "cli:r3")[0] == "v3\n"
    assert json.loads(cli(p, "-3", "--json", "GET", "cli:r3:missing")[0]) is None  # RESP3 null
    assert cli(p, "-3", "INCR", "cli:r3n")[0] == "1\n"
    # -3 with -n: HELLO, then SELECT
    assert cli(p, "-3", "-n", "2", "SET", "cli:r3db", "x")[0] == "OK\n"
    assert cli(p, "-n", "2", "GET", "cli:r3db")[0] == "x\n"


def test_a_password(start_server):
    s = start_server(args=["--requirepass", "clipass"])
    out, _ = cli(s.port, "GET", "cli:auth")
    assert out.startswith("NOAUTH"), out
    assert cli(s.port, "-a", "clipass", "--no-auth-warning", "SET", "cli:auth", "ok")[0] == "OK\n"
    assert cli(s.port, "-a", "clipass", "--no-auth-warning", "GET", "cli:auth")[0] == "ok\n"
    assert cli(s.port, "-3", "-a", "clipass", "--no-auth-warning", "GET", "cli:auth")[0] == "ok\n"


class Pty:
    """redis-cli on a pseudo-terminal, so it runs its interactive prompt
    (linenoise, COMMAND DOCS at start-up for hints and completion)."""

    def __init__(self, port):
        self.master, slave = pty.openpty()
        # a real window size: without one linenoise asks the terminal
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
        env = dict(CLI_ENV, TERM="xterm")
        self.proc = subprocess.Popen([REDIS_CLI, "-p", str(port)], stdin=slave, stdout=slave,
                                     stderr=slave, env=env, start_new_session=True)
        os.close(slave)
        self.buf = b""
        self.seen = b""

    def read_until(self, pattern, timeout=10.0):
        """Output up to and including pattern; fails after timeout."""
        deadline = time.monotonic() + timeout
        while pattern not in self.buf:
            left = deadline - time.monotonic()
            ready = select.select([self.master], [], [], max(0.0, left))[0] if left > 0 else []
            if not ready:
                pytest.fail("redis-cli did not print %r within %ss; output so far:\n%r"
                            % (pattern, timeout, self.seen))
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # EIO: the other side closed
                chunk = b""
            if not chunk:
                pytest.fail("redis-cli closed the terminal before printing %r; output:\n%r"
                            % (pattern, self.seen))
            self.buf += chunk
            self.seen += chunk
        i = self.buf.index(pattern) + len(pattern)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def type(self, line):
        os.write(self.master, line.encode() + b"\r")

    def close(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        os.close(self.master)


def test_interactive_prompt(server):
    t = Pty(server.port)
    try:
        # linenoise redraws the prompt on every key, so wait for each reply
        # itself, then for the next prompt
        prompt = b"127.0.0.1:%d> " % server.port
        t.read_until(prompt)
        t.type("SET foo bar")
        t.read_until(b"\r\nOK\r\n")
        t.read_until(prompt)
        t.type("GET foo")
        t.read_until(b'\r\n"bar"\r\n')
        t.read_until(prompt)
        t.type("INCR foo")
        t.read_until(b"\r\n(error) ERR value is not an integer or out of range\r\n")
        t.read_until(prompt)
        t.type("SELECT 3")
        t.read_until(b"\r\nOK\r\n")
        t.read_until(b"127.0.0.1:%d[3]> " % server.port)  # the prompt shows the database
        t.type("GET foo")
        t.read_until(b"\r\n(nil)\r\n")
        t.read_until(b"[3]> ")
        t.type("quit")
        assert t.proc.wait(10) == 0
    finally:
        t.close()
