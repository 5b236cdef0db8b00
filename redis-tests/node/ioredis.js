'use strict';
// ioredis against a server on --port.  --lib ioredis (6.x: HELLO 3 by
// default, --resp 2 for AUTH/SELECT only) or --lib ioredis5 (5.x: RESP2).
// Both run a ready check with INFO before the first command.  Checks
// SET/GET/INCR, a binary value, an error reply and a pipeline.
//
//   node ioredis.js --port N [--lib ioredis|ioredis5] [--resp 2|3] [--password P]

const { parseArgs, Checker, helloField, keyPrefix, binaryValue } = require('./common');

async function main() {
  const argv = process.argv.slice(2);
  let lib = 'ioredis';
  const li = argv.indexOf('--lib');
  if (li >= 0) {
    lib = argv[li + 1];
    argv.splice(li, 2);
  }
  if (lib !== 'ioredis' && lib !== 'ioredis5') {
    console.error(`error: --lib must be ioredis or ioredis5, not ${lib}`);
    process.exit(2);
  }
  const opts = parseArgs(argv);
  const Redis = require(lib);
  const major = Number(require(`${lib}/package.json`).version.split('.')[0]);
  // ioredis 5 speaks only RESP2.
  const resp = major >= 6 ? opts.resp : 2;
  const c = new Checker(`${lib} ${major}.x resp=${resp}`, opts.timeoutMs);

  let lastError = null;
  const client = new Redis({
    host: '127.0.0.1',
    port: opts.port,
    password: opts.password,
    protocol: resp,
    connectTimeout: 5000,
    maxRetriesPerRequest: 1,
    // Fail instead of reconnecting forever (it would on a bad ready check).
    retryStrategy: () => null,
  });
  client.on('error', (e) => { lastError = e; });
  await new Promise((resolve, reject) => {
    client.once('ready', resolve);
    client.once('end', () => reject(new Error(
      `connection ended before ready: ${lastError ? lastError.message : '?'}`)));
  });

  const k = keyPrefix(lib);
  const hello = await client.call('HELLO');
  c.check('HELLO proto', Number(helloField(hello, 'proto')), resp);
  c.check('PING', await client.ping(), 'PONG');
  c.check('SET', await client.set(`${k}str`, 'hello world'), 'OK');
  c.check('GET', await client.get(`${k}str`), 'hello world');
  c.check('GET missing', await client.get(`${k}missing`), null);

  const bin = binaryValue();
  c.check('SET binary', await client.set(`${k}bin`, bin), 'OK');
  c.check('GET binary', await client.getBuffer(`${k}bin`), bin);

  c.check('INCR new', await client.incr(`${k}n`), 1);
  c.check('INCR', await client.incr(`${k}n`), 2);
  c.check('GET counter', await client.get(`${k}n`), '2');
  await c.checkError('INCR on text', () => client.incr(`${k}str`),
    'ERR value is not an integer or out of range');

  // An explicit pipeline (no MULTI): one write, 500 replies in order.
  const p = client.pipeline();
  for (let i = 0; i < 500; i++) p.incr(`${k}p`);
  const res = await p.exec();
  c.check('pipeline errors', res.filter(([err]) => err).length, 0);
  c.check('500 pipelined INCR replies', res.map(([, v]) => v),
    Array.from({ length: 500 }, (_, i) => i + 1));
  c.check('GET after pipeline', await client.get(`${k}p`), '500');

  await client.quit();
  c.finish();
}

main().catch((e) => {
  console.error(`FAIL ioredis: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
