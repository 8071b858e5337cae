// The admin surface: GET /status behind HTTP Basic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startHookq, deliver, tempDir, waitFor, sleep, ADMIN_PASSWORD } from './helpers.mjs';

const basic = (user, pass) => 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64');

async function status(url, auth) {
  const res = await fetch(url + '/status', { headers: auth ? { authorization: auth } : {} });
  return { status: res.status, headers: res.headers, json: await res.json() };
}

test('GET /status needs the admin credentials; wrong or missing ones get 401', async (t) => {
  const db = join(tempDir(t), 'h.db');
  const srv = await startHookq({ db, t, env: { ADMIN_USERNAME: 'ops' } });
  const none = await status(srv.url);
  assert.equal(none.status, 401);
  assert.equal(none.json.error, 'unauthorized');
  assert.match(none.headers.get('www-authenticate'), /^Basic realm="hookq"/);
  for (const auth of [basic('ops', 'wrong'), basic('admin', ADMIN_PASSWORD), basic('ops', ADMIN_PASSWORD + 'x'),
    basic('ops', ''), 'Basic !!!notbase64', 'Bearer ' + ADMIN_PASSWORD]) {
    const r = await status(srv.url, auth);
    assert.equal(r.status, 401, `accepted ${auth}`);
    assert.deepEqual(Object.keys(r.json).sort(), ['error', 'message'], 'no internals in the error body');
  }
  const ok = await status(srv.url, basic('ops', ADMIN_PASSWORD));
  assert.equal(ok.status, 200);
  assert.equal(ok.json.status, 'ok');
  assert.match(ok.json.version, /^\d+\.\d+\.\d+/);
  await srv.stop();
  assert.ok(!srv.logs.includes(ADMIN_PASSWORD), 'the admin password never reaches the log');
  assert.match(srv.logs, /reason=unauthorized path=\/status/);
});

test('/status counts events by state, duplicates, the oldest pending age and the processor', async (t) => {
  const db = join(tempDir(t), 'h.db');
  const auth = basic('admin', ADMIN_PASSWORD);
  // Processor off: events stay pending, so the oldest pending age shows.
  let srv = await startHookq({ db, t, args: ['--processor=false'] });
  const first = await deliver(srv.url, { payload: { action: 'opened' } });
  await deliver(srv.url, { payload: { action: 'opened' }, delivery: first.delivery });
  await deliver(srv.url, { body: '{"broken":' });
  await sleep(1100);
  let s = (await status(srv.url, auth)).json;
  assert.deepEqual(s.events, { pending: 2, processing: 0, completed: 0, dead_letter: 0, duplicates: 1 });
  assert.ok(s.oldest_pending_age_s >= 1 && s.oldest_pending_age_s < 30, `age ${s.oldest_pending_age_s}`);
  assert.equal(s.processor.state, 'disabled');
  assert.equal(s.ingest.stored, 3);
  await srv.stop();

  // Processor on: one completes, the malformed one is dead-lettered.
  srv = await startHookq({ db, t });
  s = await waitFor(async () => {
    const j = (await status(srv.url, auth)).json;
    return j.events.pending === 0 && j.events.processing === 0 ? j : null;
  });
  assert.deepEqual(s.events, { pending: 0, processing: 0, completed: 1, dead_letter: 1, duplicates: 1 });
  assert.equal(s.oldest_pending_age_s, null);
  assert.equal(s.processor.state, 'running');
  assert.equal(s.processor.completed, 1);
  assert.equal(s.processor.dead_lettered, 1);
  assert.ok(s.uptime_s >= 0);
});

test('dev mode without an admin password leaves /status open (and says so at start)', async (t) => {
  const db = join(tempDir(t), 'h.db');
  const srv = await startHookq({ db, t, args: ['--dev'], env: { ADMIN_PASSWORD: undefined } });
  assert.match(srv.logs, /admin_password="NOT SET"/);
  assert.equal((await status(srv.url)).status, 200);
});
