// The outbox as operators see it: GET /api/outbox, GET /api/outbox/{id},
// POST /api/outbox/{id}/retry, its counts in /status and /metrics, and
// hookq outbox list|show|retry over --db and --url. Real tasks make the
// replies: a GitHub comment asks for work, the agent (/bin/true) does it,
// and every reply (👀, then 🚀 and the result comment) fails to reach a
// GitHub API where nothing listens, dead after its one attempt
// (OUTBOX_MAX_ATTEMPTS=1).
//
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { newDb, startHookq, deliver, tempDir, waitFor, bin, ADMIN_PASSWORD } from './helpers.mjs';

const examples = createRequire(import.meta.url)('@octokit/webhooks-examples');
const AUTH = 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64');
const ENDED = new Set(['succeeded', 'failed', 'timed_out', 'cancelled', 'dead_letter']);
// Nothing listens on port 1: every send fails at once.
const NOWHERE = 'http://127.0.0.1:1';

async function start(t) {
  const dir = tempDir(t);
  const cfg = join(dir, 'hookq.yaml');
  writeFileSync(cfg, JSON.stringify({
    agents: { fixer: { command: ['/bin/true'], timeout: '30s', max_attempts: 1 } },
    routes: [{ name: 'github', provider: 'github', command_prefix: '@agent', commands: [
      { name: 'fix', agent: 'fixer', prompt: 'Fix #{{issue.number}}: {{hookq.request}}' }] }],
  }));
  const db = newDb(t);
  const srv = await startHookq({ db, t, args: ['--config', cfg], env: {
    HOME: dir, GITHUB_TOKEN: 'ghp_e2eDummyTokenThatGoesNowhere', GITHUB_API_URL: NOWHERE,
    OUTBOX_MAX_ATTEMPTS: '1',
  } });
  srv.db = db;
  return srv;
}

async function api(srv, method, path) {
  const res = await fetch(srv.url + path, { method, headers: { authorization: AUTH },
    signal: AbortSignal.timeout(15000) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text };
}

function hookq(args) {
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 60000,
    env: { PATH: process.env.PATH, ADMIN_PASSWORD } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

// Sends "@agent fix it" on an issue; resolves with the task once it ended
// and its three replies once the 🚀 and the comment are dead and the 👀
// failed at least once.
async function askAndWait(srv) {
  const comment = structuredClone(examples.find((e) => e.name === 'issue_comment').examples
    .find((p) => p.action === 'created'));
  comment.comment.body = '@agent fix it';
  const r = await deliver(srv.url, { event: 'issue_comment', payload: comment });
  assert.equal(r.status, 200, r.text);
  const task = await waitFor(async () => {
    const l = await api(srv, 'GET', `/api/tasks?event_id=${r.json.event_id}`);
    const x = l.json?.tasks?.[0];
    return x && ENDED.has(x.status) ? x : null;
  }, 15000, 50);
  assert.equal(task.status, 'succeeded', JSON.stringify(task));
  let last;
  try {
    await waitFor(async () => {
      last = (await api(srv, 'GET', '/api/outbox')).json;
      return last.replies.length === 3 && last.replies.every((x) => x.last_error) &&
        last.replies.filter((x) => x.status === 'dead').length >= 2;
    }, 15000, 50);
  } catch (e) {
    throw new Error(`replies not dead: ${JSON.stringify(last)}\n${srv.logs.slice(-3000)}`);
  }
  return { task, comment, replies: last.replies };
}

test('a task\'s replies are listed newest first, dead after their one attempt, counted in /status and /metrics', async (t) => {
  const srv = await start(t);
  const { task, comment, replies } = await askAndWait(srv);

  const ids = replies.map((x) => x.id);
  assert.deepEqual(ids, [...ids].sort((a, b) => b - a), 'newest first');
  const eyes = replies.find((x) => x.kind === 'reaction' && x.body.content === 'eyes');
  const rocket = replies.find((x) => x.kind === 'reaction' && x.body.content === 'rocket');
  const said = replies.find((x) => x.kind === 'comment');
  assert.ok(eyes && rocket && said, JSON.stringify(replies));
  assert.equal(eyes.id, ids[2], 'the 👀 came first, when the task was made');
  assert.equal(eyes.target.repository, comment.repository.full_name);
  assert.equal(eyes.target.target, 'issue_comment');
  assert.equal(eyes.target.id, comment.comment.id, 'the 👀 goes on the comment that asked');
  assert.equal(said.target.repository, comment.repository.full_name);
  assert.equal(said.target.number, comment.issue.number);
  assert.match(said.body.text, new RegExp(`^<!-- hookq:task=${task.id} run=0 created=\\d+ -->\n`));
  assert.match(said.body.text, /succeeded/);
  for (const x of replies) {
    assert.equal(x.task_id, task.id);
    if (x !== eyes) {
      assert.equal(x.status, 'dead');
      assert.equal(x.attempts, 1);
      assert.equal(x.max_attempts, 1);
      assert.equal(x.next_attempt_at, null, 'only a pending reply has a next attempt');
    } else if (x.status === 'pending') {
      assert.ok(x.next_attempt_at > x.updated_at, 'a pending reply waits for its next attempt');
    }
    assert.equal(x.sent_at, null);
    assert.equal(x.result, null);
    assert.match(x.last_error, /connect|refused/i, 'the error names the connection failure');
    assert.match(x.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(x.updated_at >= x.created_at);
    assert.equal(typeof x.uncertain, 'boolean');
  }
  const list = await api(srv, 'GET', '/api/outbox');
  assert.equal(list.json.next_cursor, null);
  assert.equal(list.json.limit, 50);

  // One by one, with the cursor; by status; by task.
  const p1 = await api(srv, 'GET', '/api/outbox?limit=2');
  assert.deepEqual(p1.json.replies.map((x) => x.id), ids.slice(0, 2));
  assert.equal(p1.json.next_cursor, String(ids[1]));
  assert.equal(p1.json.limit, 2);
  const p2 = await api(srv, 'GET', `/api/outbox?limit=2&cursor=${p1.json.next_cursor}`);
  assert.deepEqual(p2.json.replies.map((x) => x.id), ids.slice(2));
  assert.equal(p2.json.next_cursor, null);
  const dead = (await api(srv, 'GET', '/api/outbox?status=dead')).json.replies;
  assert.deepEqual(dead.filter((x) => x.id !== eyes.id).map((x) => x.id), ids.slice(0, 2));
  assert.ok(dead.every((x) => x.status === 'dead'));
  assert.deepEqual((await api(srv, 'GET', '/api/outbox?status=sent')).json.replies, []);
  const mine = (await api(srv, 'GET', `/api/outbox?task_id=${task.id}`)).json.replies;
  assert.deepEqual(mine.map((x) => x.id), ids);
  assert.deepEqual((await api(srv, 'GET', `/api/outbox?task_id=${task.id + 1000}`)).json.replies, []);

  // One reply: the list's row.
  const one = await api(srv, 'GET', `/api/outbox/${said.id}`);
  assert.equal(one.status, 200, one.text);
  assert.deepEqual(one.json, said);

  // The 👀 is pending, sending or dead: the three add up.
  const { outbox } = (await api(srv, 'GET', '/status')).json;
  assert.equal(outbox.sent, 0);
  assert.ok(outbox.dead >= 2, JSON.stringify(outbox));
  assert.equal(outbox.pending + outbox.sending + outbox.dead, 3, JSON.stringify(outbox));
  const metrics = (await api(srv, 'GET', '/metrics')).text;
  assert.match(metrics, /^# TYPE hookq_outbox gauge$/m);
  const gauge = (s) => Number(metrics.match(new RegExp(`^hookq_outbox\\{status="${s}"\\} (\\d+)$`, 'm'))?.[1]);
  assert.equal(gauge('sent'), 0, metrics);
  assert.ok(gauge('dead') >= 2, metrics);
  assert.equal(gauge('pending') + gauge('sending') + gauge('dead'), 3, metrics);
});

test('retry puts a dead reply back to pending with its attempts granted again; it dies again', async (t) => {
  const srv = await start(t);
  const { replies } = await askAndWait(srv);
  const said = replies.find((x) => x.kind === 'comment');

  const r = await api(srv, 'POST', `/api/outbox/${said.id}/retry`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.id, said.id);
  // The answer is read right after the change; a sender may just have
  // taken it.
  assert.ok(['pending', 'sending'].includes(r.json.status), r.text);
  if (r.json.status === 'pending') assert.ok(r.json.next_attempt_at, r.text);
  // Its attempts count from zero again (the same budget, not more).
  assert.equal(r.json.max_attempts, 1, r.text);
  if (r.json.status === 'pending') assert.equal(r.json.attempts, 0, r.text);

  const again = await waitFor(async () => {
    const x = (await api(srv, 'GET', `/api/outbox/${said.id}`)).json;
    return x.status === 'dead' ? x : null;
  }, 10000, 50);
  assert.equal(again.attempts, 1);
  assert.equal(again.max_attempts, 1);
  assert.match(again.last_error, /connect|refused/i);

  const missing = await api(srv, 'POST', '/api/outbox/999999/retry');
  assert.equal(missing.status, 404);
  assert.deepEqual(missing.json, { error: 'not_found', message: 'no reply 999999' });
});

test('bad parameters, paths and methods are refused, naming the problem', async (t) => {
  const srv = await start(t);
  for (const [path, re] of [
    ['/api/outbox?status=bogus', /status must be pending, sending, sent or dead, not 'bogus'/],
    ['/api/outbox?status=dead_letter', /not 'dead_letter'/],
    ['/api/outbox?limit=0', /limit must be a whole number from 1 to 1000, not '0'/],
    ['/api/outbox?limit=1001', /limit must be/],
    ['/api/outbox?task_id=x', /task_id must be a whole number/],
    ['/api/outbox?cursor=-1', /cursor must be a whole number/],
    ['/api/outbox?nope=1', /nope/],
    ['/api/outbox/1?status=dead', /status/],
  ]) {
    const r = await api(srv, 'GET', path);
    assert.equal(r.status, 400, `${path}: ${r.text}`);
    assert.equal(r.json.error, 'bad_request');
    assert.match(r.json.message, re, path);
  }
  assert.equal((await api(srv, 'GET', '/api/outbox/999999')).status, 404);
  assert.equal((await api(srv, 'GET', '/api/outbox/abc')).status, 404);
  assert.equal((await api(srv, 'GET', '/api/outbox/1/nope')).status, 404);
  assert.equal((await api(srv, 'GET', '/api/outboxes')).status, 404);
  const post = await api(srv, 'POST', '/api/outbox');
  assert.equal(post.status, 405);
  const get = await api(srv, 'GET', '/api/outbox/1/retry');
  assert.equal(get.status, 405);
  const unauth = await fetch(srv.url + '/api/outbox');
  assert.equal(unauth.status, 401);
});

test('hookq outbox list|show|retry give the same JSON over --db and --url', async (t) => {
  const srv = await start(t);
  const { task, replies } = await askAndWait(srv);
  const said = replies.find((x) => x.kind === 'comment');
  const db = ['--db', srv.db];
  const url = ['--url', srv.url];
  // The 👀 may change between two reads (it retries): these leave it out.
  for (const args of [
    ['outbox', 'list', '--json', '--status', 'dead'],
    ['outbox', 'list', '--json', '--status', 'dead', '--task', String(task.id), '--limit', '1'],
    ['outbox', 'list', '--json', '--limit', '1'],
    ['outbox', 'list', '--json', '--cursor', String(said.id), '--limit', '1'],
    ['outbox', 'show', String(said.id), '--json'],
  ]) {
    const a = hookq([...args, ...db]);
    const b = hookq([...args, ...url]);
    assert.equal(a.code, 0, `${args.join(' ')} --db: ${a.err}`);
    assert.equal(b.code, 0, `${args.join(' ')} --url: ${b.err}`);
    assert.deepEqual(JSON.parse(a.out), JSON.parse(b.out), args.join(' '));
  }
  const shown = JSON.parse(hookq(['outbox', 'show', String(said.id), '--json', ...db]).out);
  assert.deepEqual(shown, said);

  const table = hookq(['outbox', 'list', ...db]);
  assert.equal(table.code, 0, table.err);
  assert.match(table.out, /^ID +KIND +STATUS +ATTEMPTS +TASK +NEXT\/SENT \(UTC\) +ERROR$/m);
  for (const x of replies.filter((r) => r.body.content !== 'eyes'))
    assert.match(table.out, new RegExp(`^${x.id} +${x.kind} +dead +1/1 +${task.id} +- +\\S`, 'm'));
  const eyes = replies.find((r) => r.body.content === 'eyes');
  assert.match(table.out, new RegExp(`^${eyes.id} +reaction +(pending +\\d+/\\d+ +${task.id} +next \\d{4}-|sending|dead)`, 'm'));
  const page = hookq(['outbox', 'list', '--limit', '1', ...url]);
  assert.match(page.out, new RegExp(`^more: the same command with --cursor ${replies[0].id}$`, 'm'));
  const show = hookq(['outbox', 'show', String(said.id), ...url]);
  assert.equal(show.code, 0, show.err);
  assert.match(show.out, new RegExp(`^reply ${said.id}  dead$`, 'm'));
  assert.match(show.out, /^ {2}kind +comment$/m);
  assert.match(show.out, new RegExp(`^ {2}task +${task.id}$`, 'm'));
  assert.match(show.out, /^ {2}last error +.*(connect|refused)/im);
  assert.match(show.out, /^text$/m);

  // Usage errors exit 2 (the API's 400 too); a missing reply exits 1.
  const bad = hookq(['outbox', 'list', '--status', 'bogus', ...db]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /status must be pending, sending, sent or dead, not 'bogus'/);
  assert.equal(hookq(['outbox', 'show', 'x', ...db]).code, 2);
  assert.equal(hookq(['outbox', 'show', '1', '--status', 'dead', ...db]).code, 2);
  assert.equal(hookq(['outbox', 'frob', ...db]).code, 2);
  const missing = hookq(['outbox', 'show', '999999', ...url]);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /no reply 999999/);

  // With the server stopped nothing sends: a retried reply stays pending,
  // and a second retry is refused (it is not dead).
  await srv.stop('SIGTERM');
  const retry = hookq(['outbox', 'retry', String(said.id), ...db]);
  assert.equal(retry.code, 0, retry.err);
  assert.equal(retry.out, `reply ${said.id} queued again\n`);
  const pending = JSON.parse(hookq(['outbox', 'show', String(said.id), '--json', ...db]).out);
  assert.equal(pending.status, 'pending');
  assert.equal(pending.max_attempts, 1);
  assert.equal(pending.attempts, 0);
  assert.ok(pending.next_attempt_at);
  const twice = hookq(['outbox', 'retry', String(said.id), ...db]);
  assert.equal(twice.code, 1);
  assert.match(twice.err, new RegExp(`reply ${said.id} is not dead`));
  const none = hookq(['outbox', 'retry', '999999', ...db]);
  assert.equal(none.code, 1);
  assert.match(none.err, /no reply 999999/);
  const counts = JSON.parse(hookq(['status', '--json', ...db]).out).outbox;
  assert.equal(counts.pending + counts.dead, 3, JSON.stringify(counts));
  assert.ok(counts.pending >= 1);
  const st = hookq(['status', ...db]);
  assert.ok(st.out.includes(`outbox           pending ${counts.pending}  sending 0  sent 0  dead ${counts.dead}\n`), st.out);
});

test('the 👀 honours OUTBOX_MAX_ATTEMPTS; a second retry grants the attempts once more, not twice',
  async (t) => {
    const srv = await start(t);
    const { replies } = await askAndWait(srv);
    const eyes = replies.find((x) => x.body.content === 'eyes');
    assert.equal(eyes.max_attempts, 1, JSON.stringify(eyes));
    const said = replies.find((x) => x.kind === 'comment');
    for (let round = 1; round <= 2; round++) {
      const r = await api(srv, 'POST', `/api/outbox/${said.id}/retry`);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.max_attempts, 1, `retry ${round}: ${r.text}`);
      assert.ok(r.json.status !== 'pending' || r.json.attempts === 0, `retry ${round}: ${r.text}`);
      await waitFor(async () => (await api(srv, 'GET', `/api/outbox/${said.id}`)).json.status === 'dead', 10000, 50);
    }
  });
