"""Fixtures for the integration tests: the real redis-faster binary on a
free port in a temporary directory.

A server is started for each test module (``server``) or each test
(``fresh_server``); the fixture waits until it answers PING, and stops it
by its pid (SIGTERM, then SIGKILL if it does not exit in time).  Nothing
here uses fixed ports, bare sleeps or pkill.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest
import redis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.environ.get("RF_BINARY", os.path.join(ROOT, "build", "redis-faster"))


def free_port():
    """A TCP port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One running redis-faster process."""

    def __init__(self, args=(), config_text=None):
        self.dir = tempfile.mkdtemp(prefix="rf-test-")
        self.port = free_port()
        self.log_path = os.path.join(self.dir, "server.log")
        cmd = [BINARY]
        if config_text is not None:
            conf = os.path.join(self.dir, "redis-faster.conf")
            with open(conf, "w") as f:
                f.write(config_text)
            cmd.append(conf)
        cmd += ["--port", str(self.port), "--dir", os.path.join(self.dir, "data"),
                "--log-memory-size", "256mb", "--index-size", "16mb",
                "--hugepages", "no",
                # No autosave (nor a save at every FLUSHALL and stop) unless
                # a test asks for it: persistence tests pass their own.
                "--save", ""]
        cmd += list(args)
        self.cmd = cmd
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=self.dir)
        self.wait_ready()

    def wait_ready(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited with %s:\n%s" % (self.proc.returncode, self.read_log()))
            try:
                r = redis.Redis(port=self.port, socket_timeout=1)
                if r.ping():
                    r.close()
                    return
            except redis.exceptions.AuthenticationError:
                return  # it answered: a password is set
            except redis.exceptions.ResponseError as e:
                if "NOAUTH" in str(e):
                    return
                last = e
            except (redis.exceptions.ConnectionError, OSError) as e:
                last = e
            # poll the port again shortly; the loop is bounded by the deadline
            time.sleep(0.02)
        raise RuntimeError("server did not answer PING: %s\n%s" % (last, self.read_log()))

    def client(self, **kw):
        kw.setdefault("socket_timeout", 30)
        return redis.Redis(port=self.port, **kw)

    def read_log(self):
        if getattr(self, "final_log", None) is not None:
            return self.final_log
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def kill9(self):
        """Kills the server with SIGKILL (a crash: nothing is flushed or
        saved) and waits for it; the directory stays, so that restart()
        can recover from it.  Returns the exit status (-9)."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        return self.proc.returncode

    def wait_exit(self, timeout=30.0):
        """Waits for a server that was asked to stop (SHUTDOWN) to exit;
        returns its exit status.  The directory stays."""
        return self.proc.wait(timeout)

    def restart(self, timeout=10.0):
        """Starts the same command again, on the same directory and port,
        after the process has exited (kill9(), SHUTDOWN), and waits for
        PING.  The log is appended to; run_log() reads this run's part."""
        assert self.proc.poll() is not None, "restart() of a server that still runs"
        self.log.close()
        self.run_log_offset = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=self.dir)
        self.wait_ready(timeout)

    def run_log(self):
        """The log of the current run only (since the last restart())."""
        return self.read_log()[getattr(self, "run_log_offset", 0):]

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        self.final_log = self.read_log()
        # Keep the directory (and its log) only when the server failed.
        if self.proc.returncode in (0, -signal.SIGTERM, -signal.SIGKILL) or sig == signal.SIGKILL:
            shutil.rmtree(self.dir, ignore_errors=True)
        return self.proc.returncode


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.stop()


@pytest.fixture
def fresh_server():
    s = Server()
    yield s
    s.stop()


@pytest.fixture
def r(server):
    """A redis-py client on the module's server, database 0 flushed."""
    c = server.client()
    c.flushall()
    yield c
    c.close()


@pytest.fixture
def start_server():
    """Starts servers with extra arguments or a config file; stops them."""
    started = []

    def start(args=(), config_text=None):
        s = Server(args=args, config_text=config_text)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def resp(*args):
    """One command as a RESP multibulk (str, int or bytes arguments)."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, int):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class RawConn:
    """A bare socket client that speaks RESP2/RESP3 and returns replies as
    Python values: maps as dicts (keys kept in order), sets as lists,
    errors as RawError, simple strings as str, bulk strings as bytes,
    nulls as None, booleans as bool, doubles as float (RESP3)."""

    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, *args):
        self.sock.sendall(resp(*args))

    def send_raw(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return RawError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if t in (b"*", b"~", b">"):
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        if t == b"%":
            n = int(rest)
            d = {}
            for _ in range(n):
                k = self.read()
                d[k] = self.read()
            return d
        if t == b"_":
            return None
        if t == b"#":
            return rest == b"t"
        if t == b",":
            return float(rest)
        if t == b"(":
            return int(rest)
        if t == b"=":
            data = self._exact(int(rest))
            return data[4:]
        raise ValueError("bad reply line %r" % line)

    def call(self, *args):
        self.send(*args)
        return self.read()


class RawError(Exception):
    def __eq__(self, other):
        return isinstance(other, RawError) and str(self) == str(other)

    def __hash__(self):
        return hash(str(self))


@pytest.fixture
def raw(server):
    conn = RawConn(server.port)
    yield conn
    conn.close()


# ---- shared helpers -------------------------------------------------------

# Sanitizer builds run slower: deadlines scale with this.
SLOW = 4 if os.environ.get("RF_SANITIZE") else 1


def wait_until(pred, timeout=10.0, what="condition"):
    """Polls pred until it is true; fails the test at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.01)  # polling, bounded by the deadline
    pytest.fail("timed out after %.0f s waiting for %s" % (timeout, what))


def persistence(c):
    return c.info("persistence")


def saves(c):
    return persistence(c)["rdb_saves"]


def wait_saved(c, saves_before, count=1, timeout=60.0 * SLOW):
    """Polls INFO persistence until rdb_saves reached saves_before + count
    and no background save runs; checks the last one succeeded.  Returns
    the INFO persistence dict."""
    box = {}

    def done():
        box["inf"] = inf = persistence(c)
        return inf["rdb_saves"] >= saves_before + count and inf["rdb_bgsave_in_progress"] == 0

    wait_until(done, timeout, "%d save(s) to complete (rdb_saves was %d)" % (count, saves_before))
    inf = box["inf"]
    assert inf["rdb_last_bgsave_status"] == "ok", inf
    return inf


class WriterThread:
    """A client thread for the crash tests.  A subclass sets up its own
    state, then calls WriterThread.__init__; it defines work(conn), which
    runs until self.stop is set, and may override connect() (a redis-py
    client by default).  An error of one of the `lost` types while
    self.dying is set (the server is being killed) is expected; any other
    error is raised by join()."""

    lost = (OSError,)
    what = "a writer thread"

    def __init__(self, srv):
        self.srv = srv
        self.error = None
        self.stop = threading.Event()
        self.dying = threading.Event()  # the server is about to be killed
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def connect(self):
        return self.srv.client(socket_timeout=30 * SLOW)

    def _run(self):
        conn = None
        try:
            conn = self.connect()
            self.work(conn)
        except self.lost as e:
            if not self.dying.is_set():
                self.error = e
        except BaseException as e:  # noqa: B902 - reported by join()
            self.error = e
        finally:
            if conn is not None:
                conn.close()

    def join(self):
        self.stop.set()
        self.thread.join(60 * SLOW)
        assert not self.thread.is_alive(), "%s hung" % self.what
        if self.error is not None:
            raise self.error
