// The SQS task source against a real SQS-compatible server (fauxqs, started
// here on loopback), with messages sent by @aws-sdk/client-sqs as a
// receiver would: each payload form, deduplication across messages, the
// dead-letter queue, signatures, kill -9 between the commit and the delete,
// two nodes on one queue, and SIGTERM.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import { randomUUID } from 'node:crypto';
import { sign } from '@octokit/webhooks-methods';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { newDb, startHookq, query, storedBody, waitFor, sleep, SECRET, ADMIN_PASSWORD } from './helpers.mjs';
import { startFauxqs, queueDepth, sendAll, drain } from './fauxqs.mjs';

let fq;
before(async () => { fq = await startFauxqs(); });
after(async () => { await fq?.stop(); });

const auth = { authorization: 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64') };

async function api(srv, path) {
  const res = await fetch(srv.url + path, { headers: auth, signal: AbortSignal.timeout(10000) });
  assert.equal(res.status, 200, `${path}: ${res.status}`);
  return res.json();
}

// A queue (and its dead-letter queue) of names of their own.
async function queues(name) {
  const tag = `${name}-${randomUUID().slice(0, 8)}`;
  return { url: await fq.createQueue(tag), dlq: await fq.createQueue(`${tag}-dlq`) };
}

async function startWorker(t, { db, queue, dlq, env = {}, endpoint } = {}) {
  return startHookq({ db, t, env: {
    ...fq.env,
    ...(endpoint ? { AWS_ENDPOINT_URL: endpoint } : {}),
    TASK_SOURCE: 'sqs',
    AWS_SQS_QUEUE_URL: queue,
    ...(dlq ? { AWS_SQS_DLQ_URL: dlq } : {}),
    SQS_WAIT_TIME_SECONDS: '1',
    ...env,
  } });
}

const send = (queue, body) =>
  fq.client.send(new SendMessageCommand({ QueueUrl: queue, MessageBody: typeof body === 'string' ? body : JSON.stringify(body) }));

const rows = (db, where = 'true') =>
  query(db, `select id, provider, delivery_id, event_type, duplicates from events where ${where} order by id`);

async function drained(queue) {
  await waitFor(async () => {
    const d = await queueDepth(fq.client, queue);
    return d.visible + d.inFlight + d.delayed === 0;
  }, 15000, 100);
}

// A GitHub-style message for n: its own delivery id, a payload as base64.
function githubMessage(delivery, n) {
  const raw = JSON.stringify({ action: 'opened', issue: { number: n, title: `issue ${n}` } });
  return JSON.stringify({ headers: { 'X-GitHub-Event': 'issues', 'X-GitHub-Delivery': delivery },
    payload: Buffer.from(raw).toString('base64') });
}

test('object, JSON-text and base64 payloads are stored with their provider, event type and delivery id', async (t) => {
  const q = await queues('forms');
  const db = newDb(t);
  const srv = await startWorker(t, { db, queue: q.url, dlq: q.dlq });

  const object = { action: 'opened', issue: { number: 1, title: 'object form' } };
  const d1 = randomUUID();
  await send(q.url, { headers: { 'X-GitHub-Event': 'issues', 'X-GitHub-Delivery': d1 }, payload: object });

  // A JSON text in a string, kept byte for byte (spacing included); no
  // delivery header: the SQS MessageId stands in.
  const text = '{ "action": "created",\n  "comment": {"body": "json text"} }';
  const m2 = await send(q.url, { headers: { 'x-github-event': 'issue_comment' }, payload: text });

  // Base64: the bytes exactly as the provider sent them (non-ASCII too).
  const raw = '{"action":"opened","pull_request":{"title":"base64 form \u00e9\u2713","number":3}}  ';
  const d3 = randomUUID();
  await send(q.url, { headers: { 'x-GITHUB-event': 'pull_request', 'X-Github-Delivery': d3 },
    payload: Buffer.from(raw).toString('base64') });

  // The provider from the headers: GitLab's event header.
  const gl = JSON.stringify({ object_kind: 'issue', object_attributes: { action: 'open' } });
  const d4 = randomUUID();
  await send(q.url, { headers: { 'X-Gitlab-Event': 'Issue Hook', 'X-Gitlab-Event-UUID': d4 },
    payload: Buffer.from(gl).toString('base64') });

  await waitFor(() => rows(db).length === 4, 15000);
  await drained(q.url);
  const byDelivery = new Map(rows(db).map((r) => [r.delivery_id, r]));

  const r1 = byDelivery.get(d1);
  assert.ok(r1, `no event for ${d1}: ${JSON.stringify(rows(db))}`);
  assert.equal(r1.provider, 'github');
  assert.equal(r1.event_type, 'issues');
  const e1 = await api(srv, `/api/events/${r1.id}`);
  assert.deepEqual(e1.payload, object);
  assert.equal(e1.payload_text, JSON.stringify(object), 'an object is kept as compact JSON');

  const r2 = byDelivery.get(m2.MessageId);
  assert.ok(r2, `no event with the MessageId ${m2.MessageId} as delivery id: ${JSON.stringify(rows(db))}`);
  assert.equal(r2.provider, 'github');
  assert.equal(r2.event_type, 'issue_comment');
  assert.equal((await api(srv, `/api/events/${r2.id}`)).payload_text, text);

  const r3 = byDelivery.get(d3);
  assert.ok(r3);
  assert.equal(r3.provider, 'github');
  assert.equal(r3.event_type, 'pull_request');
  const e3 = await api(srv, `/api/events/${r3.id}`);
  assert.equal(e3.payload_text, raw);
  assert.equal(e3.payload_bytes, Buffer.byteLength(raw));
  assert.ok(storedBody(db, r3.id).bytes.equals(Buffer.from(raw)), 'stored bytes equal the base64-decoded payload');

  const r4 = byDelivery.get(d4);
  assert.ok(r4);
  assert.equal(r4.provider, 'gitlab');
  assert.equal((await api(srv, `/api/events/${r4.id}`)).payload_text, gl);

  assert.deepEqual(await drain(fq.client, q.dlq), [], 'nothing dead-lettered');
});

test('a delivery sent in several messages is stored once, the others counted duplicates, and all are deleted', async (t) => {
  const q = await queues('dup');
  const db = newDb(t);
  const srv = await startWorker(t, { db, queue: q.url, dlq: q.dlq });
  const delivery = randomUUID();
  const body = githubMessage(delivery, 7);
  await send(q.url, body);
  await waitFor(() => rows(db).length === 1, 15000);
  await send(q.url, body);
  await waitFor(() => rows(db)[0].duplicates === 1, 15000);
  await drained(q.url);
  const all = rows(db);
  assert.equal(all.length, 1);
  assert.equal(all[0].delivery_id, delivery);
  assert.equal((await api(srv, `/api/events/${all[0].id}`)).duplicates, 1);

  // Copies that arrive in one receive batch: one commit group.
  const again = randomUUID();
  await sendAll(fq.client, q.url, [githubMessage(again, 8), githubMessage(again, 8), githubMessage(again, 8)]);
  await waitFor(() => rows(db, `delivery_id = '${again}'`)[0]?.duplicates === 2, 15000);
  await drained(q.url);
  assert.equal(rows(db).length, 2);
  const exit = await srv.stop('SIGTERM');
  assert.equal(exit.code, 0, srv.logs);
  assert.match(srv.logs, /queue messages.*stored"?[=:]"?2\b.*duplicates"?[=:]"?3\b/, srv.logs);
});

test('a message that cannot be read goes to the dead-letter queue intact and off the main queue', async (t) => {
  const q = await queues('dlq');
  const db = newDb(t);
  const srv = await startWorker(t, { db, queue: q.url, dlq: q.dlq });
  const bad = [
    '{"headers": {"X-GitHub-Event": "issues"}, "payload": {"action": "opened"', // not JSON
    '{"headers": {"X-GitHub-Event": "issues"}}', // no payload
    '{"headers": {"X-GitHub-Event": "issues"}, "payload": "not base64!"}',
  ];
  for (const b of bad) await send(q.url, b);
  const got = await waitFor(async () => {
    const d = await queueDepth(fq.client, q.dlq);
    return d.visible === bad.length;
  }, 15000, 100).then(() => drain(fq.client, q.dlq));
  assert.deepEqual(got.map((m) => m.Body).sort(), [...bad].sort(), 'bodies intact in the DLQ');
  await drained(q.url);
  assert.equal(rows(db).length, 0);
  assert.match(srv.logs, /moved to the dead-letter queue.*the message is not JSON/);
  assert.match(srv.logs, /moved to the dead-letter queue.*no 'payload'/);
  assert.match(srv.logs, /moved to the dead-letter queue.*neither JSON nor base64/);
});

test('with SQS_VERIFY_SIGNATURES a signed base64 payload is stored; a wrong signature or an object payload is dead-lettered', async (t) => {
  const q = await queues('verify');
  const db = newDb(t);
  const srv = await startWorker(t, { db, queue: q.url, dlq: q.dlq,
    env: { SQS_VERIFY_SIGNATURES: 'true', GITHUB_WEBHOOK_SECRET: SECRET } });
  const raw = JSON.stringify({ action: 'opened', issue: { number: 11 } });
  const good = randomUUID();
  await send(q.url, { headers: { 'X-GitHub-Event': 'issues', 'X-GitHub-Delivery': good,
    'X-Hub-Signature-256': await sign(SECRET, raw) }, payload: Buffer.from(raw).toString('base64') });
  const wrong = JSON.stringify({ headers: { 'X-GitHub-Event': 'issues', 'X-GitHub-Delivery': randomUUID(),
    'X-Hub-Signature-256': await sign('another-secret', raw) }, payload: Buffer.from(raw).toString('base64') });
  await send(q.url, wrong);
  // Signed, but as an object: re-encoded, its signature cannot hold.
  const object = JSON.stringify({ headers: { 'X-GitHub-Event': 'issues', 'X-GitHub-Delivery': randomUUID(),
    'X-Hub-Signature-256': await sign(SECRET, raw) }, payload: JSON.parse(raw) });
  await send(q.url, object);
  await waitFor(async () => (await queueDepth(fq.client, q.dlq)).visible === 2, 15000, 100);
  await waitFor(() => rows(db).length === 1, 15000);
  await drained(q.url);
  assert.equal(rows(db)[0].delivery_id, good);
  assert.deepEqual((await drain(fq.client, q.dlq)).map((m) => m.Body).sort(), [wrong, object].sort());
  assert.match(srv.logs, /dead-letter queue.*signature/i);
  assert.match(srv.logs, /dead-letter queue.*re-encoded JSON/);
});

// A proxy between hookq and fauxqs that shows the test each
// DeleteMessageBatch (sent only once the batch is committed) with the
// delivery ids of its messages. onDelete(ids) returns 'hold' (never
// answered nor refused, so never retried: the delete does not reach the
// queue), a delay in ms, or 0.
async function deleteWatchingProxy(t, onDelete) {
  const handles = new Map(); // receipt handle -> delivery id
  const target = new URL(fq.url);
  const srv = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const op = req.headers['x-amz-target'] || '';
      if (op === 'AmazonSQS.DeleteMessageBatch') {
        const what = onDelete(JSON.parse(body).Entries.map((e) => handles.get(e.ReceiptHandle)));
        if (what === 'hold') return;
        if (what > 0) await sleep(what);
      }
      const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url,
        headers: req.headers }, (ur) => {
        const out = [];
        ur.on('data', (c) => out.push(c));
        ur.on('end', () => {
          const answer = Buffer.concat(out);
          if (op === 'AmazonSQS.ReceiveMessage' && ur.statusCode === 200) {
            for (const m of JSON.parse(answer).Messages || [])
              handles.set(m.ReceiptHandle, JSON.parse(m.Body).headers['X-GitHub-Delivery']);
          }
          res.writeHead(ur.statusCode, ur.headers);
          res.end(answer);
        });
      });
      up.on('error', () => req.socket.destroy());
      up.end(body);
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => { srv.closeAllConnections(); srv.close(r); }));
  return `http://127.0.0.1:${srv.address().port}`;
}

function assertExactlyOnce(db, deliveries) {
  const all = rows(db);
  assert.equal(all.length, deliveries.length, 'one event per message');
  assert.deepEqual(all.map((r) => r.delivery_id).sort(), [...deliveries].sort(), 'every message stored, none twice');
  return all;
}

test('kill -9 after the commit but before the delete: the redelivered messages are duplicates, none lost', async (t) => {
  const q = await queues('kill-held');
  const db = newDb(t);
  const n = 200;
  const deliveries = Array.from({ length: n }, () => randomUUID());
  await sendAll(fq.client, q.url, deliveries.map((d, i) => githubMessage(d, i)));
  // Every delete from the first delete on is held, never answered, so the
  // kill lands before it even when the delete comes before startHookq has
  // seen hookq listening.
  const held = [];
  let first = null;
  const proxy = await deleteWatchingProxy(t, (ids) => {
    held.push(...ids);
    first?.proc.kill('SIGKILL');
    return 'hold';
  });
  first = await startWorker(t, { db, queue: q.url, endpoint: proxy,
    env: { SQS_VISIBILITY_TIMEOUT: '2s', SQS_POLLERS: '4' } });
  if (held.length) first.proc.kill('SIGKILL');
  const exit = await Promise.race([first.exit, sleep(20000).then(() => ({ timeout: true }))]);
  assert.equal(exit.signal, 'SIGKILL');
  assert.ok(held.length > 0, 'a delete was held');
  assert.ok(held.every(Boolean), 'every held receipt handle is known');
  const committed = new Set(rows(db).map((r) => r.delivery_id));
  for (const d of held) assert.ok(committed.has(d), `${d} committed before its delete`);

  const second = await startWorker(t, { db, queue: q.url, env: { SQS_VISIBILITY_TIMEOUT: '2s', SQS_POLLERS: '4' } });
  await waitFor(() => rows(db).length === n, 30000, 100);
  await waitFor(() => {
    const dup = new Set(rows(db, 'duplicates > 0').map((r) => r.delivery_id));
    return held.every((d) => dup.has(d));
  }, 15000, 100);
  await drained(q.url);
  assertExactlyOnce(db, deliveries);
  assert.equal((await second.stop('SIGTERM')).code, 0, second.logs);
});

test('kill -9 in the middle of a run and a restart: every message stored exactly once', async (t) => {
  const q = await queues('kill-run');
  const db = newDb(t);
  const n = 400;
  const deliveries = Array.from({ length: n }, () => randomUUID());
  await sendAll(fq.client, q.url, deliveries.map((d, i) => githubMessage(d, i)));
  const env = { SQS_VISIBILITY_TIMEOUT: '2s', SQS_POLLERS: '4' };
  const first = await startWorker(t, { db, queue: q.url, env });
  // Early in the run: each look at the database starts a shell (psql
  // takes ~70 ms), and the run must still be going when the kill lands.
  await waitFor(() => query(db, 'select count(*) as n from events')[0].n >= n / 20, 30000, 5);
  await first.stop('SIGKILL');
  assert.ok(rows(db).length < n, 'killed during the run');
  const second = await startWorker(t, { db, queue: q.url, env });
  await waitFor(() => rows(db).length === n, 30000, 100);
  await drained(q.url);
  const all = assertExactlyOnce(db, deliveries);
  t.diagnostic(`redelivered after the kill and found duplicates: ${all.filter((r) => r.duplicates > 0).length}`);
  assert.equal((await second.stop('SIGTERM')).code, 0, second.logs);
});

test('two hookq processes on one queue and one database store each message exactly once', async (t) => {
  const q = await queues('two');
  const db = newDb(t);
  const a = await startWorker(t, { db, queue: q.url });
  const b = await startWorker(t, { db, queue: q.url });
  const n = 300;
  const deliveries = Array.from({ length: n }, () => randomUUID());
  await sendAll(fq.client, q.url, deliveries.map((d, i) => githubMessage(d, i)));
  await waitFor(() => rows(db).length === n, 30000, 100);
  await drained(q.url);
  assertExactlyOnce(db, deliveries);
  assert.equal(rows(db, 'duplicates > 0').length, 0, 'no message was received twice');
  const each = [];
  for (const s of [a, b]) {
    assert.equal((await s.stop('SIGTERM')).code, 0, s.logs);
    const m = s.logs.match(/queue messages.*stored"?[=:]"?(\d+)/);
    assert.ok(m, s.logs);
    each.push(Number(m[1]));
  }
  t.diagnostic(`stored by each node: ${each.join(' + ')}`);
  assert.equal(each[0] + each[1], n, 'the two nodes together stored every message once');
  assert.ok(each[0] > 0 && each[1] > 0, 'both nodes took part');
});

test('SIGTERM stops within seconds and finishes the messages in hand: none lost, none left to come back', async (t) => {
  const q = await queues('term');
  const db = newDb(t);
  const n = 300;
  const deliveries = Array.from({ length: n }, () => randomUUID());
  await sendAll(fq.client, q.url, deliveries.map((d, i) => githubMessage(d, i)));
  // Deletes answered 500 ms late: SIGTERM lands while a committed batch
  // waits for its delete, which the stop must still see through.
  let srv = null;
  let signalled = false;
  let inHand = null;
  const t0 = { ms: 0 };
  const proxy = await deleteWatchingProxy(t, (ids) => {
    if (!signalled && srv) {
      signalled = true;
      inHand = ids;
      t0.ms = Date.now();
      srv.proc.kill('SIGTERM');
    }
    return 500;
  });
  const env = { SQS_VISIBILITY_TIMEOUT: '2s', SQS_POLLERS: '4' };
  srv = await startWorker(t, { db, queue: q.url, endpoint: proxy, env });
  const exit = await srv.exit;
  const took = Date.now() - t0.ms;
  assert.ok(signalled, 'SIGTERM sent while a delete was in flight');
  assert.equal(exit.code, 0, srv.logs);
  assert.ok(took < 5000, `stopped in ${took} ms`);
  const stored = rows(db);
  t.diagnostic(`stopped in ${took} ms with ${stored.length} of ${n} stored`);
  const m = srv.logs.match(/queue messages.*stored"?[=:]"?(\d+)/);
  assert.ok(m, srv.logs);
  assert.equal(Number(m[1]), stored.length, 'every message it stored is in the database');
  const committed = new Set(stored.map((r) => r.delivery_id));
  for (const d of inHand) assert.ok(committed.has(d), `${d} in hand at SIGTERM was stored`);
  // Deleted before the exit: a restart finds the rest, and not one of
  // those again (no duplicate); received but not stored ones come back.
  const again = await startWorker(t, { db, queue: q.url, env });
  await waitFor(() => rows(db).length === n, 30000, 100);
  await drained(q.url);
  assertExactlyOnce(db, deliveries);
  assert.deepEqual(rows(db, 'duplicates > 0'), [], 'every stored message was deleted before the exit');
  assert.equal((await again.stop('SIGTERM')).code, 0, again.logs);
});
