"""redis-benchmark (Debian's redis-tools) against the real binary: SET, GET
and INCR with 20 clients, without and with pipelining, must all complete
with a non-zero rate and print nothing but their results.

redis-benchmark first sends CONFIG GET save / appendonly (a failure prints
a WARNING), and stops at the first error reply ("Error from server: ...").
"""

import re
import shutil
import subprocess

import pytest

REDIS_BENCHMARK = shutil.which("redis-benchmark")
pytestmark = pytest.mark.skipif(REDIS_BENCHMARK is None,
                                reason="redis-benchmark is not installed (Debian package redis-tools)")

RESULT = re.compile(r"^([A-Z]+): ([0-9.]+) requests per second(, p50=[0-9.]+ msec)?$")
PROGRESS = re.compile(r"^[A-Z]+: rps=")


def run_benchmark(port, *args, timeout=120):
    cmd = [REDIS_BENCHMARK, "-h", "127.0.0.1", "-p", str(port)] + [str(a) for a in args]
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail("%s did not finish in %ss (a lost reply?):\n%s" % (
            " ".join(cmd), timeout, (e.stdout or b"")[-2000:].decode(errors="replace")))
    out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    report = "%s exited %d\nstdout:\n%s\nstderr:\n%s" % (" ".join(cmd), p.returncode,
                                                         out[-3000:], err[-3000:])
    assert p.returncode == 0, report
    if "Could not fetch server CONFIG" in err:
        report += "\n(CONFIG GET save / CONFIG GET appendonly failed)"
    assert err.strip() == "", report
    # -q rewrites a progress line with \r and ends each test with its result
    rates = {}
    for line in re.split(r"[\r\n]", out):
        line = line.strip()
        if not line or PROGRESS.match(line):
            continue
        m = RESULT.match(line)
        assert m, "unexpected output line %r\n%s" % (line, report)
        rates[m.group(1)] = float(m.group(2))
    return rates, report


@pytest.mark.parametrize("pipeline", [1, 16])
def test_benchmark_set_get_incr(server, pipeline):
    rates, report = run_benchmark(server.port, "-t", "set,get,incr", "-n", 20000, "-c", 20,
                                  "-P", pipeline, "-q")
    assert sorted(rates) == ["GET", "INCR", "SET"], report
    for test, rps in rates.items():
        assert rps > 0, "%s: %s requests per second\n%s" % (test, rps, report)


def test_benchmark_random_keys_and_values(server):
    """Many distinct keys (-r) and 1 KB values (-d): the reads find what
    the writes stored, and nothing errs."""
    rates, report = run_benchmark(server.port, "-t", "set,get", "-n", 20000, "-c", 50,
                                  "-P", 8, "-r", 100000, "-d", 1024, "-q")
    assert sorted(rates) == ["GET", "SET"], report
    assert all(v > 0 for v in rates.values()), report
    # redis-benchmark's keys are key:000000NNNNNN; some must hold 1 KB
    c = server.client()
    p = c.pipeline(transaction=False)
    for i in range(2000):
        p.get("key:%012d" % i)
    values = [v for v in p.execute() if v is not None]
    assert values, "no key:NNNNNNNNNNNN key was stored"
    assert all(len(v) == 1024 for v in values)
    c.close()
