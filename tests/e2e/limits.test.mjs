// Limits a client controls, and the store failing under the server: the
// answer is a clear error, never a 2xx for an event that is not stored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { newDb, lockStore, startHookq, deliver, query, sleep, waitFor } from './helpers.mjs';

test('store locked past the busy timeout → 503, and the redelivery then succeeds once', async (t) => {
  const db = newDb(t);
  const srv = await startHookq({ db, t, args: ['--busy-timeout', '200ms'] });
  assert.equal((await deliver(srv.url, {})).status, 200);

  // Another process takes the write lock and keeps it.
  const unlock = await lockStore(t, db);

  const failed = await deliver(srv.url, { delivery: 'during-lock' });
  assert.equal(failed.status, 503, failed.text);
  assert.equal(failed.json.error, 'store_unavailable');
  assert.match(srv.logs, /cannot store webhooks/);

  await unlock();

  // GitHub redelivers: now it is stored, once.
  const retried = await deliver(srv.url, { delivery: 'during-lock' });
  assert.equal(retried.status, 200);
  assert.equal(retried.json.status, 'accepted');
  const rows = query(db, "select count(*) as n from events where delivery_id = 'during-lock'");
  assert.equal(rows[0].n, 1);
});

test('headers over server.max_header_size → 431', async (t) => {
  const db = newDb(t);
  const srv = await startHookq({ db, t, args: ['--max-header-size', '8KiB'] });
  const r = await deliver(srv.url, { headers: { 'x-padding': 'p'.repeat(12 * 1024) } });
  assert.equal(r.status, 431);
  const ok = await deliver(srv.url, { headers: { 'x-padding': 'p'.repeat(2 * 1024) } });
  assert.equal(ok.status, 200);
});

test('a client that stalls mid-request is disconnected after server.connection_timeout', async (t) => {
  const db = newDb(t);
  const srv = await startHookq({ db, t, args: ['--connection-timeout', '1s'] });
  const sock = connect(srv.port, '127.0.0.1');
  await new Promise((res) => sock.on('connect', res));
  const started = Date.now();
  sock.write('POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"partial":');
  const closed = await Promise.race([
    new Promise((res) => sock.on('close', () => res(true))),
    sleep(8000).then(() => false),
  ]);
  assert.ok(closed, 'the stalled connection was closed');
  assert.ok(Date.now() - started >= 900, 'not before the timeout');
  // The server still serves others.
  assert.equal((await deliver(srv.url, {})).status, 200);
  assert.equal(query(db, 'select count(*) as n from events')[0].n, 1);
});

test('connections beyond server.max_connections wait in the backlog until a slot frees', async (t) => {
  const db = newDb(t);
  const srv = await startHookq({ db, t, args: ['--max-connections', '4', '--threads', '1'] });
  const socks = [];
  for (let i = 0; i < 4; i++) {
    const s = connect(srv.port, '127.0.0.1');
    await new Promise((res) => s.on('connect', res));
    s.write('POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n');
    socks.push(s);
  }
  await sleep(100);
  let answered = false;
  const fifth = deliver(srv.url, {}).then((r) => { answered = true; return r; });
  await sleep(700);
  assert.equal(answered, false, 'not served while four connections hold every slot');
  for (const s of socks) s.destroy();
  const r = await fifth;
  assert.equal(r.status, 200);
  assert.equal(query(db, 'select count(*) as n from events')[0].n, 1);
});

test('oversized body announced with Expect: 100-continue gets 413 before sending it', async (t) => {
  const db = newDb(t);
  const srv = await startHookq({ db, t });
  const sock = connect(srv.port, '127.0.0.1');
  await new Promise((res) => sock.on('connect', res));
  let reply = '';
  sock.on('data', (d) => { reply += d; });
  sock.write('POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
    `Content-Length: ${30 * 1024 * 1024}\r\nExpect: 100-continue\r\n\r\n`);
  const deadline = Date.now() + 5000;
  while (!reply.includes('body_too_large') && Date.now() < deadline) await sleep(10);
  sock.destroy();
  assert.match(reply, /^HTTP\/1\.1 413 /);
  assert.doesNotMatch(reply, /100 Continue/);
  assert.match(reply, /"error":"body_too_large"/);
});

test('a chunked body far past the limit is cut once 64 MiB have been dropped, and logged', async (t) => {
  const db = newDb(t);
  const srv = await startHookq({ db, t, args: ['--max-body', '1KiB'] });
  const sock = connect(srv.port, '127.0.0.1');
  await new Promise((res) => sock.on('connect', res));
  let closed = false;
  sock.on('close', () => { closed = true; });
  sock.on('error', () => { closed = true; });
  sock.write('POST /webhooks/github HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
  const chunk = Buffer.alloc(1024 * 1024, 'x');
  const frame = Buffer.concat([Buffer.from(chunk.length.toString(16) + '\r\n'), chunk, Buffer.from('\r\n')]);
  let sent = 0;
  while (!closed && sent < 100) {
    if (!sock.write(frame)) await new Promise((res) => sock.once('drain', res).once('close', res));
    sent++;
  }
  await waitFor(() => closed, 10000);
  assert.ok(sent >= 64 && sent < 100, `cut after ${sent} MiB`);
  await waitFor(() => /msg="request cut" reason=body_too_large/.test(srv.logs));
  assert.equal((await deliver(srv.url, {})).status, 200, 'the server carries on');
});
