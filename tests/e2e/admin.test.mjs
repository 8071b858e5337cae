// The admin surface: GET /status behind HTTP Basic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newDb, absentDb, noDatabase, startHookq, deliver, waitFor, sleep, ADMIN_PASSWORD } from './helpers.mjs';

const basic = (user, pass) => 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64');

async function status(url, auth) {
  const res = await fetch(url + '/status', { headers: auth ? { authorization: auth } : {} });
  return { status: res.status, headers: res.headers, json: await res.json() };
}

test('GET /status needs the admin credentials; wrong or missing ones get 401', async (t) => {
  const db = newDb(t);
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
  const db = newDb(t);
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
    // Store counts and processor counters are read one after the other.
    return j.events.pending === 0 && j.events.processing === 0 &&
      j.processor.completed + j.processor.dead_lettered === 2 ? j : null;
  });
  assert.deepEqual(s.events, { pending: 0, processing: 0, completed: 1, dead_letter: 1, duplicates: 1 });
  assert.equal(s.oldest_pending_age_s, null);
  assert.equal(s.processor.state, 'running');
  assert.equal(s.processor.completed, 1);
  assert.equal(s.processor.dead_lettered, 1);
  assert.ok(s.uptime_s >= 0);
});

test('dev mode without an admin password leaves /status open (and says so at start)', async (t) => {
  const db = newDb(t);
  const srv = await startHookq({ db, t, args: ['--dev'], env: { ADMIN_PASSWORD: undefined } });
  assert.match(srv.logs, /admin_password="NOT SET"/);
  assert.equal((await status(srv.url)).status, 200);
});

test('GET /metrics: Prometheus text behind the admin credentials, counting what happened', async (t) => {
  const db = newDb(t);
  const srv = await startHookq({ db, t });
  const auth = basic('admin', ADMIN_PASSWORD);
  assert.equal((await fetch(srv.url + '/metrics')).status, 401);
  const first = await deliver(srv.url, { payload: { action: 'opened' } });
  await deliver(srv.url, { payload: { action: 'opened' }, delivery: first.delivery });
  await deliver(srv.url, { secret: 'wrong' });
  await deliver(srv.url, { secret: null });
  await deliver(srv.url, { body: '{"broken":' });
  const text = await waitFor(async () => {
    const res = await fetch(srv.url + '/metrics', { headers: { authorization: auth } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
    const body = await res.text();
    // The store and the processor's counters are read one after the
    // other: wait until both show the end state.
    const settled = [/hookq_events_processed_total\{outcome="dead_letter"\} 1\n/,
      /hookq_events_processed_total\{outcome="completed"\} 1\n/,
      /hookq_events\{status="dead_letter"\} 1\n/, /hookq_events\{status="completed"\} 1\n/];
    return settled.every((re) => re.test(body)) ? body : null;
  });
  const value = (name) => {
    const m = text.match(new RegExp('^' + name.replace(/[{}"+.]/g, (c) => '\\' + c) + ' ([0-9.e+-]+)$', 'm'));
    assert.ok(m, `missing ${name}`);
    return Number(m[1]);
  };
  assert.equal(value('hookq_webhooks_received_total{result="accepted"}'), 2);
  assert.equal(value('hookq_webhooks_received_total{result="duplicate"}'), 1);
  assert.equal(value('hookq_requests_rejected_total{reason="signature_invalid"}'), 1);
  assert.equal(value('hookq_requests_rejected_total{reason="signature_missing"}'), 1);
  assert.equal(value('hookq_requests_rejected_total{reason="unauthorized"}'), 1);
  assert.equal(value('hookq_events{status="completed"}'), 1);
  assert.equal(value('hookq_events{status="dead_letter"}'), 1);
  assert.equal(value('hookq_event_duplicates'), 1);
  assert.equal(value('hookq_events_processed_total{outcome="completed"}'), 1);
  assert.equal(value('hookq_ack_latency_seconds_count'), 3);
  assert.equal(value('hookq_ack_latency_seconds_bucket{le="+Inf"}'), 3);
  assert.equal(value('hookq_processing_latency_seconds_count'), 1);
  assert.ok(value('hookq_ack_latency_seconds_sum') > 0);
  // Every line is a comment or "name{labels} value": parseable by Prometheus.
  for (const line of text.trim().split('\n')) {
    assert.match(line, /^(# (HELP|TYPE) \w+ .+|\w+(\{[a-z_]+="[^"]*"\})? [0-9.e+-]+)$/, line);
  }
});

test('hookq status: from the database (--db) or a running server (--url), as a table or --json', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const { bin } = await import('./helpers.mjs');
  const run = (args, env = {}) => {
    const r = spawnSync(bin, ['status', ...args], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', timeout: 15000 });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  const db = newDb(t);
  const srv = await startHookq({ db, t, args: ['--processor=false'] });
  await deliver(srv.url, {});
  await deliver(srv.url, {});

  const table = run(['--db', db]);
  assert.equal(table.code, 0, table.err);
  assert.match(table.out, /^events +pending 2 +processing 0 +completed 0 +dead_letter 0$/m);
  assert.match(table.out, /^oldest pending +\d+\.\d s$/m);
  const json = JSON.parse(run(['--db', db, '--json']).out);
  assert.equal(json.events.pending, 2);
  assert.equal(json.uptime_s, null, 'no server counters when reading the database');

  const viaUrl = run(['--url', srv.url, '--json'], { ADMIN_PASSWORD });
  assert.equal(viaUrl.code, 0, viaUrl.err);
  const doc = JSON.parse(viaUrl.out);
  assert.equal(doc.events.pending, 2);
  assert.equal(doc.processor.state, 'disabled');
  assert.ok(doc.uptime_s >= 0);
  assert.match(run(['--url', srv.url], { ADMIN_PASSWORD }).out, /^processor +disabled$/m);

  const denied = run(['--url', srv.url], { ADMIN_PASSWORD: 'wrong' });
  assert.equal(denied.code, 1);
  assert.match(denied.err, /refused the admin credentials/);
  assert.equal(run(['--db', db, '--url', srv.url]).code, 2);
  const missing = run(['--db', absentDb(t)]);
  assert.equal(missing.code, 1);
  assert.match(missing.err, noDatabase);
});
