'use strict';
// Shared helpers for the node client checks: argument parsing, a hard
// deadline, and check() that prints each result and remembers failures.
// Each script exits 0 only if every check matched; test_clients.py runs them.

const util = require('node:util');

function parseArgs(argv) {
  const opts = { port: 0, resp: 3, password: undefined, timeoutMs: 20000 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--port') opts.port = Number(next());
    else if (a === '--resp') opts.resp = Number(next());
    else if (a === '--password') opts.password = next();
    else if (a === '--timeout-ms') opts.timeoutMs = Number(next());
    else if (/^\d+$/.test(a)) opts.port = Number(a);
    else usage(`unknown argument ${a}`);
  }
  if (!(opts.port > 0 && opts.port < 65536)) usage('a port is required');
  if (opts.resp !== 2 && opts.resp !== 3) usage('--resp must be 2 or 3');
  return opts;
}

function usage(msg) {
  console.error(`error: ${msg}`);
  console.error('usage: node SCRIPT --port N [--resp 2|3] [--password P] [--timeout-ms MS]');
  process.exit(2);
}

class Checker {
  constructor(name, timeoutMs) {
    this.name = name;
    this.passed = 0;
    this.failed = 0;
    // A client that reconnects forever must not hang the test run.
    this.timer = setTimeout(() => {
      console.error(`FAIL ${name}: no result within ${timeoutMs} ms ` +
        `(${this.passed} checks passed so far)`);
      process.exit(3);
    }, timeoutMs);
  }

  check(what, got, want) {
    const same = util.isDeepStrictEqual(got, want);
    const show = (v) => util.inspect(v, { breakLength: Infinity, maxArrayLength: 6, maxStringLength: 60 });
    if (same) {
      this.passed++;
      console.log(`ok   ${what}: ${show(got)}`);
    } else {
      this.failed++;
      console.log(`FAIL ${what}: got ${show(got)}, want ${show(want)}`);
    }
  }

  // Runs fn, which must reject; checks the error message contains `part`.
  async checkError(what, fn, part) {
    try {
      const v = await fn();
      this.check(`${what} (error expected)`, v, `an error containing ${part}`);
    } catch (e) {
      const msg = String(e && e.message);
      this.check(`${what} error`, msg.includes(part) ? part : msg, part);
    }
  }

  finish() {
    clearTimeout(this.timer);
    const line = `${this.name}: ${this.passed} checks passed, ${this.failed} failed`;
    if (this.failed > 0 || this.passed === 0) {
      console.log(`FAIL ${line}`);
      process.exitCode = 1;
    } else {
      console.log(line);
    }
  }
}

// HELLO's reply as clients hand it back: a Map, a plain object, or a flat
// [name, value, ...] array.  Returns the `proto` field as a number.
function helloField(reply, field) {
  let v;
  if (reply instanceof Map) {
    for (const [k, val] of reply) if (String(k) === field) v = val;
  } else if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2)
      if (String(reply[i]) === field) v = reply[i + 1];
  } else if (reply && typeof reply === 'object') {
    v = reply[field];
  }
  return v;
}

// A key prefix no other run shares, so the scripts need no FLUSHALL.
function keyPrefix(tag) {
  return `node:${tag}:${process.pid}:${Date.now()}:`;
}

// Bytes that break text-minded code: NUL, CR LF, invalid UTF-8, all 256.
function binaryValue() {
  const b = Buffer.alloc(256 + 6);
  for (let i = 0; i < 256; i++) b[i] = i;
  b.write('\r\n\0\r\n\0', 256, 'latin1');
  return b;
}

module.exports = { parseArgs, Checker, helloField, keyPrefix, binaryValue };
