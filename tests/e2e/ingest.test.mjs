// Durable, idempotent GitHub ingest driven the way GitHub drives it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { newDb, startHookq, deliver, query, storedBody, waitFor, SECRET, ADMIN_PASSWORD } from './helpers.mjs';

const examples = createRequire(import.meta.url)('@octokit/webhooks-examples');

const all = [];
for (const ev of examples) for (const payload of ev.examples) all.push({ event: ev.name, payload });

test('every @octokit/webhooks-examples payload is accepted once, byte for byte', async (t) => {
  assert.ok(all.length > 300, `expected the whole example set, got ${all.length}`);
  const db = newDb(t);
  const srv = await startHookq({ db, t });
  const sent = [];
  for (const { event, payload } of all) {
    const r = await deliver(srv.url, { event, payload });
    assert.equal(r.status, 200, `${event}: ${r.text}`);
    assert.equal(r.json.status, 'accepted');
    assert.equal(r.json.delivery_id, r.delivery);
    assert.ok(Number.isInteger(r.json.event_id) && r.json.event_id > 0);
    sent.push(r);
  }
  const ids = new Set(sent.map((r) => r.json.event_id));
  assert.equal(ids.size, all.length, 'each delivery got its own event id');

  const rows = query(db, 'select count(*) as n, count(distinct delivery_id) as d from events');
  assert.deepEqual(rows[0], { n: all.length, d: all.length });
  // The processor normalizes every one of them: none is left behind.
  const done = await waitFor(() => {
    const [c] = query(db, "select count(*) filter (where status = 'completed') as c, count(*) filter (where status = 'dead_letter') as d from events");
    return c.c === all.length ? c : null;
  }, 20000);
  assert.equal(done.d, 0);
  const [issues] = query(db, "select count(*) as n from events where event_type = 'issues' and action is null");
  assert.equal(issues.n, 0, 'every issues event has its action recorded');

  // The stored bytes are exactly the signed bytes, and the headers are kept.
  for (const r of [sent[0], sent[Math.floor(sent.length / 2)], sent[sent.length - 1]]) {
    const body = storedBody(db, r.json.event_id);
    assert.equal(body.encoding, 'zstd', 'bodies are stored compressed by default');
    assert.ok(body.bytes.equals(Buffer.from(r.raw)), 'stored bytes are the signed bytes');
    const [row] = query(db, `select event_type, headers from events join event_bodies on event_id = id where id = ${r.json.event_id}`);
    const headers = JSON.parse(row.headers);
    assert.equal(headers['X-GitHub-Delivery'], r.delivery);
    assert.equal(row.event_type, headers['X-GitHub-Event']);
    assert.equal(headers['X-Hub-Signature-256'], undefined, 'signature is not stored');
  }

  // Redeliveries answer duplicate with the original id and create nothing.
  for (const r of sent.slice(0, 50)) {
    const again = await deliver(srv.url, { event: 'issues', body: r.raw, delivery: r.delivery });
    assert.equal(again.status, 200);
    assert.equal(again.json.status, 'duplicate');
    assert.equal(again.json.event_id, r.json.event_id);
  }
  const [after] = query(db, 'select count(*) as n, sum(duplicates) as dups from events');
  assert.deepEqual(after, { n: all.length, dups: 50 });
});

test('redeliveries stay duplicates across a restart', async (t) => {
  const db = newDb(t);
  let srv = await startHookq({ db, t });
  const first = await deliver(srv.url, { event: 'push', payload: { ref: 'refs/heads/main' } });
  assert.equal(first.json.status, 'accepted');
  assert.equal((await srv.stop()).code, 0);
  srv = await startHookq({ db, t });
  const again = await deliver(srv.url, { event: 'push', body: first.raw, delivery: first.delivery });
  assert.equal(again.status, 200);
  assert.deepEqual(again.json, { status: 'duplicate', event_id: first.json.event_id, delivery_id: first.delivery });
  assert.equal(query(db, 'select count(*) as n from events')[0].n, 1);
});

test('signatures: wrong secret, missing, truncated, other algorithm, tampered body → 401', async (t) => {
  const db = newDb(t);
  const srv = await startHookq({ db, t });
  const wrong = await deliver(srv.url, { secret: 'not-the-secret' });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.json.error, 'signature_invalid');
  assert.match(wrong.json.message, /X-Hub-Signature-256/);

  const missing = await deliver(srv.url, { secret: null });
  assert.equal(missing.status, 401);
  assert.equal(missing.json.error, 'signature_missing');

  const good = await deliver(srv.url, { payload: { n: 1 }, headers: { 'x-github-delivery': 'probe-1' } });
  assert.equal(good.status, 200);
  const sig = (await import('@octokit/webhooks-methods')).sign;
  const valid = await sig(SECRET, '{"n":2}');
  for (const bad of [valid.slice(0, -1), valid.slice(0, 20), valid.replace('sha256=', 'sha1='),
    valid.replace('sha256=', ''), valid + '0', 'sha256=' + 'z'.repeat(64)]) {
    const r = await deliver(srv.url, { body: '{"n":2}', secret: null, headers: { 'x-hub-signature-256': bad } });
    assert.equal(r.status, 401, `signature ${bad}`);
  }
  // A valid signature over different bytes.
  const tampered = await deliver(srv.url, { body: '{"n":3}', secret: null, headers: { 'x-hub-signature-256': valid } });
  assert.equal(tampered.status, 401);
  assert.equal(query(db, 'select count(*) as n from events')[0].n, 1, 'only the signed one is stored');
});

test('missing or malformed GitHub headers → 400 naming the header', async (t) => {
  const db = newDb(t);
  const srv = await startHookq({ db, t });
  const noEvent = await deliver(srv.url, { headers: { 'x-github-event': undefined } });
  assert.equal(noEvent.status, 400);
  assert.match(noEvent.json.message, /X-GitHub-Event/);
  const noDelivery = await deliver(srv.url, { headers: { 'x-github-delivery': undefined } });
  assert.equal(noDelivery.status, 400);
  assert.match(noDelivery.json.message, /X-GitHub-Delivery/);
  const badDelivery = await deliver(srv.url, { delivery: 'a b;$(id)' });
  assert.equal(badDelivery.status, 400);
  assert.equal(badDelivery.json.error, 'delivery_invalid');
  assert.equal(query(db, 'select count(*) as n from events')[0].n, 0);
});

test('oversized bodies → 413, with and without Content-Length; the limit is configurable', async (t) => {
  const db = newDb(t);
  const srv = await startHookq({ db, t, args: ['--max-body', '64KiB'] });
  const big = JSON.stringify({ blob: 'x'.repeat(70 * 1024) });
  const r = await deliver(srv.url, { body: big });
  assert.equal(r.status, 413);
  assert.equal(r.json.error, 'body_too_large');
  // Chunked upload: no Content-Length, the limit is enforced while reading.
  const { sign } = await import('@octokit/webhooks-methods');
  const stream = new ReadableStream({
    start(c) { for (let i = 0; i < 80; i++) c.enqueue(new TextEncoder().encode('x'.repeat(1024))); c.close(); },
  });
  const res = await fetch(srv.url + '/webhooks/github', {
    method: 'POST', duplex: 'half', body: stream,
    headers: { 'x-github-event': 'issues', 'x-github-delivery': randomUUID(),
      'x-hub-signature-256': await sign(SECRET, 'irrelevant') },
  });
  assert.equal(res.status, 413);
  // Just under the limit is fine.
  const fits = await deliver(srv.url, { body: JSON.stringify({ blob: 'y'.repeat(60 * 1024) }) });
  assert.equal(fits.status, 200);
  assert.equal(query(db, 'select count(*) as n from events')[0].n, 1);
});

test('default body limit is GitHub\'s 25 MiB', async (t) => {
  const db = newDb(t);
  const srv = await startHookq({ db, t });
  const over = await deliver(srv.url, { body: 'x'.repeat(25 * 1024 * 1024 + 1) });
  assert.equal(over.status, 413);
  const under = await deliver(srv.url, { body: JSON.stringify({ b: 'x'.repeat(5 * 1024 * 1024) }) });
  assert.equal(under.status, 200);
});

test('wrong method → 405 with Allow, unknown path → 404, /health → 200, /webhook alias works', async (t) => {
  const db = newDb(t);
  const srv = await startHookq({ db, t });
  const get = await fetch(srv.url + '/webhooks/github');
  assert.equal(get.status, 405);
  assert.equal(get.headers.get('allow'), 'POST');
  assert.equal((await get.json()).error, 'method_not_allowed');
  const nf = await fetch(srv.url + '/nothing-here', { method: 'POST', body: '{}' });
  assert.equal(nf.status, 404);
  assert.equal((await nf.json()).error, 'not_found');
  const health = await fetch(srv.url + '/health');
  assert.equal(health.status, 200);
  const h = await health.json();
  assert.equal(h.status, 'healthy');
  assert.match(h.version, /^\d+\.\d+\.\d+/);
  const alias = await deliver(srv.url, { path: '/webhook' });
  assert.equal(alias.status, 200);
  assert.equal(alias.json.status, 'accepted');
});

test('200 concurrent posts are each stored exactly once', async (t) => {
  const db = newDb(t);
  const srv = await startHookq({ db, t });
  const sample = all.find((e) => e.event === 'issue_comment');
  const unique = Array.from({ length: 160 }, () => randomUUID());
  const repeated = randomUUID();
  // 160 distinct deliveries plus the same delivery 40 times, all at once.
  const jobs = [...unique, ...Array(40).fill(repeated)].map((delivery) =>
    deliver(srv.url, { event: sample.event, payload: sample.payload, delivery }));
  const results = await Promise.all(jobs);
  for (const r of results) assert.equal(r.status, 200, r.text);
  const accepted = results.filter((r) => r.json.status === 'accepted');
  assert.equal(accepted.length, 161);
  const repeatIds = new Set(results.filter((r) => r.delivery === repeated).map((r) => r.json.event_id));
  assert.equal(repeatIds.size, 1, 'every copy of one delivery names one event');
  const [row] = query(db, 'select count(*) as n, sum(duplicates) as d from events');
  assert.deepEqual(row, { n: 161, d: 39 });
});

test('shell metacharacters and odd bytes in payloads are stored verbatim', async (t) => {
  const db = newDb(t);
  const srv = await startHookq({ db, t });
  const nasty = JSON.stringify({ comment: { body: '@agent fix $(rm -rf /) `id` ; | && > /etc/passwd \u0000 "quoted" \\ ñ 🚀' } });
  const r = await deliver(srv.url, { event: 'issue_comment', body: nasty });
  assert.equal(r.status, 200);
  assert.ok(storedBody(db, r.json.event_id).bytes.equals(Buffer.from(nasty)));
});

test('--compression none stores bodies as received; small bodies are never compressed', async (t) => {
  const db = newDb(t);
  const srv = await startHookq({ db, t, args: ['--compression', 'none'] });
  const big = JSON.stringify(all.find((e) => e.event === 'issue_comment').payload);
  const r = await deliver(srv.url, { event: 'issue_comment', body: big });
  const asReceived = storedBody(db, r.json.event_id);
  assert.equal(asReceived.encoding, 'identity');
  assert.ok(asReceived.bytes.equals(Buffer.from(big)));
  await srv.stop();
  const srv2 = await startHookq({ db, t });
  const small = await deliver(srv2.url, { body: '{"a":1}' });
  assert.equal(storedBody(db, small.json.event_id).encoding, 'identity');
  const large = await deliver(srv2.url, { event: 'issue_comment', body: big });
  const stored = storedBody(db, large.json.event_id);
  assert.equal(stored.encoding, 'zstd');
  assert.ok(stored.bytes.equals(Buffer.from(big)));
  const [sizes] = query(db, `select length(body) as n from event_bodies where event_id = ${large.json.event_id}`);
  assert.ok(sizes.n * 3 < big.length, `compressed ${big.length} to ${sizes.n} bytes`);
});

test('secrets never reach the logs', async (t) => {
  const db = newDb(t);
  const srv = await startHookq({ db, t, args: ['--log-level', 'debug'] });
  await deliver(srv.url, {});
  await deliver(srv.url, { secret: 'wrong' });
  await deliver(srv.url, { secret: null });
  await srv.stop();
  assert.match(srv.logs, /webhook accepted/);
  assert.match(srv.logs, /signature_invalid/);
  assert.ok(!srv.logs.includes(SECRET), 'webhook secret leaked');
  assert.ok(!srv.logs.includes(ADMIN_PASSWORD), 'admin password leaked');
});
