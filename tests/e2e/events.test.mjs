// The operator's view of events: GET /api/events (filters, keyset pages),
// GET /api/events/{id} (headers, payload, every attempt), purges, and the
// CLI (hookq events|dlq|purge) on the database and on a running server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { newDb, absentDb, noDatabase, startHookq, deliver, query, waitFor, bin, ADMIN_PASSWORD } from './helpers.mjs';

const examples = createRequire(import.meta.url)('@octokit/webhooks-examples');
function sample(name, action) {
  const p = examples.find((e) => e.name === name).examples.find((x) => !action || x.action === action);
  assert.ok(p, `no ${name}.${action} example`);
  return p;
}
const payloads = [
  ['issues', sample('issues', 'opened')],
  ['issue_comment', sample('issue_comment', 'created')],
  ['pull_request', sample('pull_request', 'opened')],
  ['push', sample('push')],
  ['issues', sample('issues', 'labeled')],
];
const auth = { authorization: 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64') };

async function api(srv, path, { method = 'GET', headers = auth } = {}) {
  const res = await fetch(srv.url + path, { method, headers });
  const text = await res.text();
  return { status: res.status, allow: res.headers.get('allow'), json: text ? JSON.parse(text) : null };
}

// Five real GitHub payloads that each fail once (then complete) and one
// malformed body (dead letter at once); resolves when all have settled.
async function settled(t, extra = []) {
  const db = newDb(t);
  const srv = await startHookq({ db, t,
    args: ['--dev', '--backoff-base', '50ms', '--backoff-cap', '50ms', '--max-attempts', '3', ...extra],
    env: { HOOKQ_FAIL_FIRST_ATTEMPTS: '1', ADMIN_PASSWORD } });
  const sent = [];
  for (const [event, payload] of payloads) {
    const r = await deliver(srv.url, { event, payload });
    assert.equal(r.status, 200);
    sent.push({ id: r.json.event_id, event, payload, delivery: r.delivery });
  }
  const bad = await deliver(srv.url, { event: 'issues', body: '{"broken":' });
  await waitFor(() => {
    const rows = query(db, "select count(*) as n from events where status in ('completed', 'dead_letter')");
    return rows[0].n === 6;
  });
  return { db, srv, sent, badId: bad.json.event_id };
}

test('GET /api/events: newest first, filtered by status and provider, in keyset pages', async (t) => {
  const { db, srv, badId } = await settled(t);
  const all = query(db, 'select id from events order by id desc').map((r) => r.id);
  assert.equal(all.length, 6);

  // Pages of two follow next_cursor to the end, each event once, in order.
  const seen = [];
  let cursor = null;
  for (let page = 0; page < 10; page++) {
    const r = await api(srv, `/api/events?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
    assert.equal(r.status, 200);
    assert.equal(r.json.limit, 2);
    seen.push(...r.json.events.map((e) => e.id));
    cursor = r.json.next_cursor;
    if (!cursor) break;
    assert.equal(typeof cursor, 'string');
  }
  assert.deepEqual(seen, all);

  const dead = await api(srv, '/api/events?status=dead_letter');
  assert.deepEqual(dead.json.events.map((e) => e.id), [badId]);
  const [d] = dead.json.events;
  assert.equal(d.status, 'dead_letter');
  assert.match(d.last_error, /JSON/);
  assert.equal(d.provider, 'github');
  assert.equal(d.delivery_id.length, 36);
  assert.match(d.received_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal(dead.json.next_cursor, null);

  const done = await api(srv, '/api/events?status=completed&provider=github');
  assert.equal(done.json.events.length, 5);
  const issue = done.json.events.find((e) => e.type === 'issues' && e.action === 'opened');
  assert.equal(issue.repository, sample('issues', 'opened').repository.full_name);
  assert.equal(issue.attempts, 2, 'one injected failure, then completed');
  assert.ok(issue.completed_at >= issue.received_at);
  assert.equal((await api(srv, '/api/events?provider=gitlab')).json.events.length, 0);

  // Bad parameters: 400 naming the problem, nothing else in the body.
  for (const [q, msg] of [
    ['limit=0', /limit must be a whole number from 1 to 1000, not '0'/],
    ['limit=1001', /limit/],
    ['status=finished', /status must be pending, processing, completed or dead_letter, not 'finished'/],
    ['stauts=dead_letter', /unknown parameter 'stauts' \(known: status, provider, limit, cursor\)/],
    ['cursor=abc', /cursor must be a next_cursor/],
    ['status=completed&status=pending', /parameter 'status' given twice/],
    ['provider=', /parameter 'provider' is empty/],
    ['provider=GitHub%0A', /provider must be a provider name/],
    // Bytes that are not UTF-8 are quoted as '?', and the error stays JSON.
    ['status=%ff%fe', /not '\?\?'$/],
  ]) {
    const r = await api(srv, `/api/events?${q}`);
    assert.equal(r.status, 400, q);
    assert.deepEqual(Object.keys(r.json).sort(), ['error', 'message']);
    assert.equal(r.json.error, 'bad_request');
    assert.match(r.json.message, msg, q);
  }
  const post = await api(srv, '/api/events', { method: 'POST' });
  assert.equal(post.status, 405);
  assert.equal(post.allow, 'GET, HEAD');
  assert.equal((await api(srv, '/api/events', { headers: {} })).status, 401);
  assert.equal((await api(srv, '/api/nothing')).status, 404);

  // A browser carrying the credentials into a cross-site POST is refused;
  // so is a body (parameters go in the query string).
  for (const h of [{ origin: 'https://evil.example' }, { 'sec-fetch-site': 'cross-site' }]) {
    const r = await api(srv, `/api/events/${badId}/retry`, { method: 'POST', headers: { ...auth, ...h } });
    assert.equal(r.status, 403);
    assert.equal(r.json.error, 'forbidden');
  }
  const withBody = await fetch(`${srv.url}/api/events/purge?older_than=1d`,
    { method: 'POST', headers: auth, body: '{"older_than":"1d"}' });
  assert.equal(withBody.status, 400);
  assert.match((await withBody.json()).message, /query string, not in a body/);
  assert.equal(query(db, `select status from events where id = ${badId}`)[0].status, 'dead_letter');
});

test('GET /api/events/{id}: headers, the payload as sent, and every attempt with its error', async (t) => {
  const { srv, sent, badId } = await settled(t);
  const { id, event, payload, delivery } = sent[1];
  const r = await api(srv, `/api/events/${id}`);
  assert.equal(r.status, 200);
  const e = r.json;
  assert.equal(e.id, id);
  assert.equal(e.status, 'completed');
  assert.equal(e.type, event);
  assert.equal(e.delivery_id, delivery);
  assert.equal(e.headers['X-GitHub-Event'], event);
  assert.equal(e.headers['X-GitHub-Delivery'], delivery);
  assert.match(e.headers['User-Agent'], /^GitHub-Hookshot\//);
  assert.deepEqual(e.payload, payload, 'the payload, decoded, equals what was sent');
  assert.equal(e.payload_text, JSON.stringify(payload), 'and the text is byte for byte what was sent');
  assert.equal(e.payload_bytes, Buffer.byteLength(JSON.stringify(payload)));
  assert.ok(e.stored_bytes < e.payload_bytes, 'stored compressed');
  assert.equal(e.history.length, 2);
  const [first, last] = e.history;
  assert.equal(first.attempt, 1);
  assert.equal(first.outcome, 'pending');
  assert.match(first.error, /injected failure 1/);
  assert.match(first.worker, /\/w\d+$/);
  assert.ok(first.duration_ms >= 0);
  assert.ok(first.finished_at >= first.started_at);
  assert.deepEqual(last, { attempt: 2, outcome: 'completed', finished_at: e.completed_at });

  // The malformed body: kept as text, with the reason it is a dead letter.
  const bad = (await api(srv, `/api/events/${badId}`)).json;
  assert.equal(bad.status, 'dead_letter');
  assert.equal(bad.payload_text, '{"broken":');
  assert.equal(bad.payload, null);
  assert.match(bad.history.at(-1).error, /JSON/);
  assert.equal(bad.history.at(-1).outcome, 'dead_letter');

  assert.equal((await api(srv, '/api/events/999999')).status, 404);
  assert.equal((await api(srv, '/api/events/999999')).json.message, 'no event 999999');
  assert.equal((await api(srv, '/api/events/abc')).status, 404);
  assert.equal((await api(srv, `/api/events/${id}?payload=no`)).status, 400);
  assert.equal((await api(srv, `/api/events/${id}`, { method: 'DELETE' })).status, 405);
  assert.equal((await api(srv, `/api/events/${id}`, { headers: {} })).status, 401);
});

test('POST /api/events/purge: old completed events or dead letters go, with their attempts; nothing else', async (t) => {
  const { db, srv, badId } = await settled(t);
  // Not old enough yet: nothing goes.
  let r = await api(srv, '/api/events/purge?older_than=1h', { method: 'POST' });
  assert.equal(r.status, 200);
  assert.equal(r.json.purged, 0);
  r = await api(srv, '/api/events/purge?older_than=0s', { method: 'POST' });
  assert.deepEqual({ purged: r.json.purged, status: r.json.status }, { purged: 5, status: 'completed' });
  assert.match(r.json.before, /Z$/);
  assert.deepEqual(query(db, 'select id, status from events'), [{ id: badId, status: 'dead_letter' }]);
  assert.deepEqual(query(db, 'select distinct event_id from event_attempts'), [{ event_id: badId }]);

  for (const [q, msg] of [
    ['', /older_than is required/],
    ['older_than=soon', /older_than must be a duration such as 12h or 7d, not 'soon'/],
    ['older_than=1d&status=pending', /status must be dead_letter or completed, not 'pending'/],
  ]) {
    const bad = await api(srv, `/api/events/purge?${q}`, { method: 'POST' });
    assert.equal(bad.status, 400, q);
    assert.match(bad.json.message, msg);
  }
  assert.equal((await api(srv, '/api/events/purge?older_than=0s')).status, 405);
  r = await api(srv, '/api/events/purge?older_than=0s&status=dead_letter', { method: 'POST' });
  assert.equal(r.json.purged, 1);
  assert.deepEqual(query(db, 'select count(*) as n from events'), [{ n: 0 }]);
  assert.deepEqual(query(db, 'select count(*) as n from event_attempts'), [{ n: 0 }]);
  await waitFor(() => /operator action.*\/api\/events\/purge/.test(srv.logs));
});

const run = (args, env = {}) => {
  const r = spawnSync(bin, args, { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', timeout: 15000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

test('hookq events|dlq|purge: the same answers from the database (--db) and a server (--url)', async (t) => {
  // A repository name carrying a terminal escape, as a signed payload can.
  const nasty = structuredClone(sample('issues', 'opened'));
  nasty.repository.full_name = 'octo/\u001b[2Jevil';
  const { db, srv, sent, badId } = await settled(t);
  const env = { ADMIN_PASSWORD };
  const extra = await deliver(srv.url, { event: 'issues', payload: nasty });
  await waitFor(() => query(db, `select status from events where id = ${extra.json.event_id}`)[0].status === 'completed');

  // --json: the admin API's documents, identical both ways.
  for (const args of [['events', 'list', '--limit', '3'], ['dlq', 'list'], ['events', 'show', String(sent[0].id)],
    ['events', 'list', '--status', 'completed', '--provider', 'github']]) {
    const local = run([...args, '--db', db, '--json']);
    const remote = run([...args, '--url', srv.url, '--json'], env);
    assert.equal(local.code, 0, local.err);
    assert.equal(remote.code, 0, remote.err);
    assert.deepEqual(JSON.parse(local.out), JSON.parse(remote.out), args.join(' '));
  }

  const list = run(['events', 'list', '--db', db]);
  assert.match(list.out, /^ID +STATUS +PROVIDER +TYPE +REPOSITORY +ATTEMPTS +RECEIVED \(UTC\)$/m);
  assert.match(list.out, new RegExp(`^${badId} +dead_letter +github +issues `, 'm'));
  assert.match(list.out, new RegExp(`^${sent[1].id} +completed +github +issue_comment\\.created `, 'm'));
  assert.ok(!list.out.includes('\u001b'), 'no terminal escapes reach the table');
  assert.match(list.out, /octo\/\?\[2Jevil/);
  const page = run(['events', 'list', '--db', db, '--limit', '2']);
  assert.match(page.out, /^more: the same command with --cursor \d+$/m);

  const dlq = run(['dlq', 'list', '--url', srv.url], env);
  assert.equal(dlq.code, 0, dlq.err);
  assert.match(dlq.out, new RegExp(`^${badId} +github +issues +2/3 .*JSON`, 'm'));

  const show = run(['events', 'show', String(sent[0].id), '--db', db, '--payload']);
  assert.equal(show.code, 0, show.err);
  assert.match(show.out, /^event \d+ +completed$/m);
  assert.match(show.out, /^ +#1 +pending .*injected failure 1/m);
  assert.match(show.out, /^ +#2 +completed/m);
  assert.match(show.out, /^ +X-GitHub-Event: issues$/m);
  assert.ok(show.out.includes('\npayload\n' + JSON.stringify(sent[0].payload) + '\n'), 'the payload as sent');

  // Replays: by id over the server, all dead letters on the database.
  const again = run(['dlq', 'retry', String(badId), '--url', srv.url], env);
  assert.equal(again.code, 0, again.err);
  assert.equal(again.out, `event ${badId} queued again\n`);
  await waitFor(() => query(db, `select attempts, status from events where id = ${badId}`)[0].attempts === 3);
  await waitFor(() => query(db, `select status from events where id = ${badId}`)[0].status === 'dead_letter');
  const all = run(['dlq', 'retry', '--all', '--db', db, '--json']);
  assert.equal(all.code, 0, all.err);
  assert.deepEqual(JSON.parse(all.out), { status: 'queued', count: 1 });
  await waitFor(() => query(db, `select attempts, status from events where id = ${badId}`)[0].attempts === 4, 15000);

  // dlq retry never replays a completed event; events retry does, and
  // tries every id it is given.
  const notDead = run(['dlq', 'retry', String(sent[2].id), '--db', db]);
  assert.equal(notDead.code, 1);
  assert.equal(notDead.err, `hookq dlq retry: event ${sent[2].id} is not dead_letter\n`);
  const some = run(['events', 'retry', String(sent[2].id), '999998', '--url', srv.url], env);
  assert.equal(some.code, 1);
  assert.equal(some.out, `event ${sent[2].id} queued again\n`);
  assert.equal(some.err, 'hookq events retry: no event 999998\n');
  await waitFor(() => {
    const [r] = query(db, `select attempts, status from events where id = ${sent[2].id}`);
    return r.status === 'completed' && r.attempts === 3;
  });
  const replayed = JSON.parse(run(['events', 'show', String(sent[2].id), '--db', db, '--json']).out);
  assert.deepEqual(replayed.history.map((h) => h.outcome), ['pending', 'completed', 'completed'],
    'the first completion stays in the history after the replay');

  // A body that is JSON null: shown as such, never as a missing payload.
  const nul = await deliver(srv.url, { event: 'issues', body: 'null' });
  await waitFor(() => query(db, `select status from events where id = ${nul.json.event_id}`)[0].status === 'dead_letter');
  const nulShow = run(['events', 'show', String(nul.json.event_id), '--db', db, '--payload']);
  assert.equal(nulShow.code, 0, nulShow.err);
  assert.match(nulShow.out, /^payload\nnull\n$/m);
  assert.match(nulShow.out, /^ +payload +4 bytes/m);

  const purge = run(['purge', '--older-than', '0s', '--db', db]);
  assert.equal(purge.code, 0, purge.err);
  assert.match(purge.out, /^purged 6 completed events older than 0s \(before .* UTC\)$/m);

  // Exit codes: 1 for what failed, 2 for what was asked wrongly.
  const missing = run(['events', 'show', '999999', '--url', srv.url], env);
  assert.equal(missing.code, 1);
  assert.equal(missing.err, 'hookq events show: no event 999999\n');
  assert.equal(run(['events', 'retry', '1', '2', '999998', '--db', db]).code, 1);
  const badStatus = run(['events', 'list', '--status', 'nope', '--db', db]);
  assert.equal(badStatus.code, 2);
  assert.match(badStatus.err, /status must be pending, processing, completed or dead_letter, not 'nope'/);
  assert.equal(run(['events', 'list', '--db', db, '--url', srv.url]).code, 2);
  assert.equal(run(['events', 'show', '--db', db]).code, 2);
  assert.equal(run(['dlq', 'retry', '--db', db]).code, 2);
  assert.match(run(['purge', '--db', db]).err, /--older-than is required/);
  assert.match(run(['events', 'show', '1', '--status', 'x', '--db', db]).err, /--status does not apply here/);
  const denied = run(['events', 'list', '--url', srv.url], { ADMIN_PASSWORD: 'wrong' });
  assert.equal(denied.code, 1);
  assert.match(denied.err, /refused the admin credentials/);
  assert.match(run(['events', 'list', '--db', absentDb(t)]).err, noDatabase);
});
