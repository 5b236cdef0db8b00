'use strict';
// node-redis (npm `redis`) against a server on --port: connects with RESP3
// (its default: HELLO 3) or RESP2 (--resp 2: no HELLO), then checks
// SET/GET/INCR, a binary value, an error reply and auto-pipelined INCRs.
//
//   node node_redis.js --port N [--resp 2|3] [--password P]

const { createClient, RESP_TYPES } = require('redis');
const { parseArgs, Checker, helloField, keyPrefix, binaryValue } = require('./common');

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const c = new Checker(`node-redis resp=${opts.resp}`, opts.timeoutMs);
  const client = createClient({
    socket: { host: '127.0.0.1', port: opts.port, connectTimeout: 5000,
      reconnectStrategy: false },
    RESP: opts.resp,
    password: opts.password,
  });
  let lastError = null;
  client.on('error', (e) => { lastError = e; });
  await client.connect();

  const k = keyPrefix(`node-redis-${opts.resp}`);
  const hello = await client.sendCommand(['HELLO']);
  c.check('HELLO proto', Number(helloField(hello, 'proto')), opts.resp);
  c.check('PING', await client.ping(), 'PONG');
  c.check('SET', await client.set(`${k}str`, 'hello world'), 'OK');
  c.check('GET', await client.get(`${k}str`), 'hello world');
  c.check('GET missing', await client.get(`${k}missing`), null);
  c.check('SET overwrite', await client.set(`${k}str`, 'é ünïcode ✓'), 'OK');
  c.check('GET overwrite', await client.get(`${k}str`), 'é ünïcode ✓');

  const bin = binaryValue();
  const raw = client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
  c.check('SET binary', await raw.set(`${k}bin`, bin), 'OK');
  c.check('GET binary', await raw.get(`${k}bin`), bin);

  c.check('INCR new', await client.incr(`${k}n`), 1);
  c.check('INCR', await client.incr(`${k}n`), 2);
  c.check('GET counter', await client.get(`${k}n`), '2');
  await c.checkError('INCR on text', () => client.incr(`${k}str`),
    'ERR value is not an integer or out of range');

  // node-redis pipelines commands issued in the same tick automatically.
  const many = await Promise.all(Array.from({ length: 500 },
    () => client.incr(`${k}p`)));
  c.check('500 pipelined INCR replies', many,
    Array.from({ length: 500 }, (_, i) => i + 1));
  c.check('GET after pipeline', await client.get(`${k}p`), '500');

  await client.close();
  if (lastError) console.log(`note: client emitted error: ${lastError.message}`);
  c.finish();
}

main().catch((e) => {
  console.error(`FAIL node-redis: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
