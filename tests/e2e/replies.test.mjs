// Replies through the durable outbox (issue #6): what hookq says back to
// GitHub, Slack and Jira, checked request by request against a recording
// stand-in for those services (tests/e2e/recorder.mjs). Agents are
// tests/e2e/agents/r-*.sh; deliveries are @octokit/webhooks-examples
// payloads signed by @octokit/webhooks-methods (helpers.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { createRequire } from 'node:module';
import { newDb, startHookq, deliver, tempDir, waitFor, sleep, query, root, ADMIN_PASSWORD } from './helpers.mjs';
import { startRecorder } from './recorder.mjs';

const examples = createRequire(import.meta.url)('@octokit/webhooks-examples');
const sample = (name, action, pick = () => true) => structuredClone(examples.find((e) => e.name === name).examples
  .find((p) => p.action === action && pick(p)));

const AGENT = join(root, 'tests', 'e2e', 'agents', 'r-reply.sh');
const AUTH = 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64');
const ENDED = new Set(['succeeded', 'failed', 'timed_out', 'cancelled', 'dead_letter']);
const TOKEN = 'e2e-github-token-5d1c9a7b3e'; // a known secret, not token-shaped
const FAKE = 'ghp_0123456789abcdefghijABCDEFGHIJ012345'; // what r-reply.sh prints
const REPO = 'Codertocat/Hello-World';
// The hidden marker: task id, run (operator retries) and creation time.
const marker = (id) => `<!-- hookq:task=${id} run=`;

const ghRoute = (extra = {}) => ({ name: 'github', provider: 'github', command_prefix: '@agent',
  commands: [{ name: 'fix', agent: 'r', prompt: 'Fix {{issue.title}}: {{hookq.request}}' }], ...extra });

// A recorder and a hookq whose replies go to it; the agent "r" is
// r-reply.sh with agentOpts merged in.
async function setup(t, { env = {}, routes = [ghRoute()], agentOpts = {}, extraAgents = {}, recorder = {}, logLevel, tokenValue = TOKEN } = {}) {
  const dir = tempDir(t);
  const rec = await startRecorder(recorder);
  t.after(() => rec.close());
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, tokenValue);
  const agents = { r: { command: [AGENT], timeout: '30s', ...agentOpts,
    set_env: { R_TOKEN_FILE: tokenFile, ...(agentOpts.set_env || {}) } } };
  for (const [name, o] of Object.entries(extraAgents)) {
    agents[name] = { ...agents.r, ...o, set_env: { ...agents.r.set_env, ...(o.set_env || {}) } };
  }
  const cfg = join(dir, 'hookq.yaml');
  writeFileSync(cfg, JSON.stringify({ agents, routes }, null, 1));
  const db = newDb(t);
  const fullEnv = { HOME: dir, GITHUB_API_URL: rec.url, GITHUB_TOKEN: TOKEN,
    ...(typeof env === 'function' ? env(rec) : env) };
  for (const k of Object.keys(fullEnv)) if (fullEnv[k] === undefined) delete fullEnv[k];
  const args = ['--config', cfg, ...(logLevel ? ['--log-level', logLevel] : [])];
  const srv = await startHookq({ db, t, args, env: fullEnv });
  Object.assign(srv, { db, cfg, dir, args, env: fullEnv });
  return { rec, srv, dir };
}

async function api(srv, method, path, body) {
  const h = { authorization: AUTH };
  if (body !== undefined) h['content-type'] = 'application/json';
  const res = await fetch(srv.url + path, { method, headers: h, signal: AbortSignal.timeout(15000),
    body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text };
}

async function taskOf(srv, eventId) {
  return waitFor(async () => (await api(srv, 'GET', `/api/tasks?event_id=${eventId}`)).json?.tasks?.[0], 10000)
    .catch(() => { throw new Error(`no task for event ${eventId}\n${srv.logs.slice(-3000)}`); });
}

async function ended(srv, id, timeoutMs = 20000) {
  let last;
  try {
    return await waitFor(async () => {
      last = (await api(srv, 'GET', `/api/tasks/${id}`)).json;
      return ENDED.has(last?.status) ? last : null;
    }, timeoutMs, 50);
  } catch {
    throw new Error(`task ${id} did not end: ${JSON.stringify(last)}\n${srv.logs.slice(-3000)}`);
  }
}

const outboxRows = (srv) => query(srv.db, 'select id, kind, task_id, status, attempts, uncertain, result, last_error, target, body from outbox order by id');

// Waits until every reply in the outbox was sent (none pending, sending or
// dead), then a little more so that a duplicate would have shown up.
async function settled(srv, timeoutMs = 15000, { allowDead = false } = {}) {
  let rows;
  try {
    await waitFor(() => {
      rows = outboxRows(srv);
      return rows.length > 0 && rows.every((r) => r.status === 'sent' || (allowDead && r.status === 'dead'));
    }, timeoutMs, 100);
  } catch {
    throw new Error(`outbox not settled: ${JSON.stringify(rows.map(({ body, ...r }) => r))}\n${srv.logs.slice(-3000)}`);
  }
  await sleep(400);
  return outboxRows(srv);
}

// A signed issue_comment "@agent fix it" on issue 1; returns event and task.
async function commentOn(srv, { body = '@agent fix it', commentId = 492700400, installation } = {}) {
  const p = sample('issue_comment', 'created');
  p.comment.body = body;
  p.comment.id = commentId;
  delete p.installation;
  if (installation) p.installation = { id: installation, node_id: 'MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ==' };
  const r = await deliver(srv.url, { event: 'issue_comment', payload: p });
  assert.equal(r.status, 200, r.text);
  const task = await taskOf(srv, r.json.event_id);
  return { payload: p, task };
}

function assertGitHubRequest(q, { method = 'POST', path, auth = `Bearer ${TOKEN}`, body }) {
  assert.equal(q.method, method);
  assert.equal(q.path, path);
  assert.equal(q.headers.authorization, auth, `${q.method} ${q.path}: authorization`);
  assert.match(q.headers.accept || '', /application\/vnd\.github(\.[a-z0-9-]+)?\+json/, `${q.path}: accept`);
  if (body !== undefined) assert.deepEqual(q.body, body, `${q.method} ${q.path}: body`);
}

// The reactions sent to path, sorted: two senders may deliver 👀 and 🚀 in
// either order, and GitHub shows them the same way whatever the order.
const reactionsOn = (rec, path) => rec.of('reaction', (q) => q.path === path).map((q) => q.body?.content).sort();

// ------------------------------------------------------------------ 1

test('issue comment: eyes on the comment, then rocket and one comment with the marker and the redacted output tail', async (t) => {
  const { rec, srv } = await setup(t, { logLevel: 'debug' });
  const { task } = await commentOn(srv);
  const done = await ended(srv, task.id);
  assert.equal(done.status, 'succeeded', JSON.stringify(done));
  await settled(srv);

  const rpath = `/repos/${REPO}/issues/comments/492700400/reactions`;
  const reactions = rec.of('reaction');
  assert.deepEqual(reactions.map((q) => [q.path, q.body?.content]).sort(), [[rpath, 'eyes'], [rpath, 'rocket']],
    'eyes and, at the end, rocket, both on the comment that asked');
  for (const q of reactions) assertGitHubRequest(q, { path: rpath, body: { content: q.body.content } });

  const posts = rec.of('comment.create');
  assert.equal(posts.length, 1, 'exactly one result comment');
  assertGitHubRequest(posts[0], { path: `/repos/${REPO}/issues/1/comments` });
  assert.deepEqual(Object.keys(posts[0].body), ['body'], 'the comment request carries only its body');
  const text = posts[0].body.body;
  assert.ok(text.startsWith(marker(task.id)), `the comment starts with the marker: ${text.slice(0, 80)}`);
  assert.match(text, /r-reply ran task \d+ attempt 1/, 'the output tail is quoted');
  assert.match(text, /r-reply-last-line/);
  assert.ok(!text.includes(TOKEN), 'the configured GITHUB_TOKEN is redacted from the comment');
  assert.ok(!text.includes(FAKE) && !/ghp_[A-Za-z0-9]{30,}/.test(text), 'the ghp_ token is redacted from the comment');
  assert.match(text, /\[REDACTED\]/);
  assert.equal(rec.commentsOn(REPO, 1).length, 1);
  assert.ok(!srv.logs.includes(TOKEN), 'the token never appears in hookq\'s logs');
  // The admin API shows the task's replies as sent, the comment with its id.
  const ob = await api(srv, 'GET', `/api/outbox?task_id=${task.id}`);
  assert.equal(ob.status, 200, ob.text);
  assert.deepEqual(ob.json.replies.map((r) => [r.kind, r.status]).sort(), [['comment', 'sent'], ['reaction', 'sent'], ['reaction', 'sent']]);
  assert.equal(String(ob.json.replies.find((r) => r.kind === 'comment').result), String(rec.commentsOn(REPO, 1)[0].id));
  assert.ok(!ob.text.includes(TOKEN));
});

// ------------------------------------------------------------------ 2

test('reaction targets: an opened issue, a pull request review comment, a commit comment', async (t) => {
  const { rec, srv } = await setup(t, { routes: [{ name: 'github', provider: 'github', triggers: [
    { on: 'issues.opened', agent: 'r', prompt: 'Triage {{issue.title}}' },
    { on: 'pull_request_review_comment.created', agent: 'r', prompt: 'Review {{comment.body}}' },
    { on: 'commit_comment.created', agent: 'r', prompt: 'Look at {{comment.body}}' }] }] });
  const cases = [
    ['issues', sample('issues', 'opened', (p) => p.issue.body), `/repos/${REPO}/issues/1/reactions`],
    ['pull_request_review_comment', sample('pull_request_review_comment', 'created'), `/repos/${REPO}/pulls/comments/284312630/reactions`],
    ['commit_comment', sample('commit_comment', 'created'), `/repos/${REPO}/comments/33548674/reactions`],
  ];
  for (const [event, payload, path] of cases) {
    delete payload.installation;
    const r = await deliver(srv.url, { event, payload });
    assert.equal(r.status, 200, r.text);
    const task = await taskOf(srv, r.json.event_id);
    assert.equal((await ended(srv, task.id)).status, 'succeeded');
    await settled(srv);
    assert.deepEqual(reactionsOn(rec, path), ['eyes', 'rocket'], `${event}: reactions on ${path}; all: ${JSON.stringify(rec.of('reaction').map((q) => q.path))}`);
    for (const q of rec.of('reaction', (x) => x.path === path)) assertGitHubRequest(q, { path });
  }
  assert.equal(rec.of('reaction').length, 6, 'no reaction anywhere else');
  // The issue and the pull request get their result comment; a commit
  // comment has no issue to comment on.
  assert.deepEqual(rec.of('comment.create').map((q) => q.path).sort(),
    [`/repos/${REPO}/issues/1/comments`, `/repos/${REPO}/issues/2/comments`]);
});

// ------------------------------------------------------------------ 3

test('a failing agent: confused and one comment saying it failed', async (t) => {
  const { rec, srv } = await setup(t, { agentOpts: { set_env: { R_EXIT: '3' } } });
  const { task } = await commentOn(srv);
  assert.equal((await ended(srv, task.id)).status, 'failed');
  await settled(srv);
  const rpath = `/repos/${REPO}/issues/comments/492700400/reactions`;
  assert.deepEqual(reactionsOn(rec, rpath), ['confused', 'eyes']);
  const posts = rec.of('comment.create');
  assert.equal(posts.length, 1);
  assert.ok(posts[0].body.body.startsWith(marker(task.id)));
  assert.match(posts[0].body.body, /failed/);
  assert.match(posts[0].body.body, /r-reply-last-line/);
});

test('REPLY_COMMENT=on_failure and never, per outcome', async (t) => {
  const routes = [ghRoute({ commands: [
    { name: 'fix', agent: 'r', prompt: 'Fix it' },
    { name: 'break', agent: 'bad', prompt: 'Break it' }] })];
  for (const [policy, okComments, badComments] of [['on_failure', 0, 1], ['never', 0, 0]]) {
    await t.test(`REPLY_COMMENT=${policy}`, async (st) => {
      const { rec, srv } = await setup(st, { env: { REPLY_COMMENT: policy }, routes,
        extraAgents: { bad: { set_env: { R_EXIT: '3' } } } });
      const ok = await commentOn(srv, { commentId: 5001, body: '@agent fix it' });
      assert.equal((await ended(srv, ok.task.id)).status, 'succeeded');
      const bad = await commentOn(srv, { commentId: 5002, body: '@agent break it' });
      assert.equal((await ended(srv, bad.task.id)).status, 'failed');
      await settled(srv);
      assert.deepEqual(reactionsOn(rec, `/repos/${REPO}/issues/comments/5001/reactions`), ['eyes', 'rocket']);
      assert.deepEqual(reactionsOn(rec, `/repos/${REPO}/issues/comments/5002/reactions`), ['confused', 'eyes']);
      const posts = rec.of('comment.create');
      assert.equal(posts.filter((q) => q.body.body.startsWith(marker(ok.task.id))).length, okComments, `${policy}: comments on the success`);
      assert.equal(posts.filter((q) => q.body.body.startsWith(marker(bad.task.id))).length, badComments, `${policy}: comments on the failure`);
      assert.equal(posts.length, okComments + badComments);
    });
  }
});

test('REPLY_REACTIONS=false: no reactions, the comment still', async (t) => {
  const { rec, srv } = await setup(t, { env: { REPLY_REACTIONS: 'false' } });
  const { task } = await commentOn(srv);
  assert.equal((await ended(srv, task.id)).status, 'succeeded');
  await settled(srv);
  assert.equal(rec.of('reaction').length, 0);
  assert.equal(rec.of('comment.create').length, 1);
});

test('a task its agent retries (max_attempts 2, fails twice) still makes one comment and one end reaction', async (t) => {
  const { rec, srv } = await setup(t, { agentOpts: { max_attempts: 2, retry_backoff: '1s', retry_backoff_max: '1s',
    set_env: { R_EXIT: '3' } } });
  const { task } = await commentOn(srv);
  const done = await ended(srv, task.id);
  assert.equal(done.status, 'failed', JSON.stringify(done));
  assert.equal(done.attempts_total ?? done.attempts, 2, `two attempts: ${JSON.stringify(done)}`);
  await settled(srv);
  assert.deepEqual(reactionsOn(rec, `/repos/${REPO}/issues/comments/492700400/reactions`), ['confused', 'eyes']);
  const posts = rec.of('comment.create');
  assert.equal(posts.length, 1, `one comment for the task, not one per attempt: ${posts.map((q) => q.body.body.slice(0, 60))}`);
  assert.ok(posts[0].body.body.startsWith(marker(task.id)));
  assert.match(posts[0].body.body, /attempt 2/, 'the comment quotes the last attempt');
});

// ------------------------------------------------------------------ 4

test('a 403 with retry-after: 1 on the comment: retried after at least 1 s, posted once', async (t) => {
  const { rec, srv } = await setup(t);
  rec.script('comment.create', { status: 403, headers: { 'retry-after': '1' },
    body: { message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.',
      documentation_url: 'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api' } });
  const { task } = await commentOn(srv);
  assert.equal((await ended(srv, task.id)).status, 'succeeded');
  const rows = await settled(srv, 20000);
  const posts = rec.of('comment.create');
  assert.equal(posts.length, 2, 'the refused POST and one more');
  assert.equal(posts[0].canned, 403);
  assert.ok(posts[1].at - posts[0].at >= 1000, `retried ${posts[1].at - posts[0].at} ms later`);
  assert.deepEqual(posts[1].body, posts[0].body, 'the same comment');
  assert.equal(rec.commentsOn(REPO, 1).length, 1);
  assert.deepEqual(reactionsOn(rec, `/repos/${REPO}/issues/comments/492700400/reactions`), ['eyes', 'rocket']);
  const c = rows.find((r) => r.kind === 'comment');
  assert.equal(c.attempts, 2);
  assert.equal(String(c.result), String(rec.commentsOn(REPO, 1)[0].id), 'the outbox keeps the comment id');
});

// ------------------------------------------------------------------ 5

test('the service down for 3 s: every reply arrives once it is back, once each', async (t) => {
  const { rec, srv } = await setup(t, { env: { OUTBOX_MAX_ATTEMPTS: '30', OUTBOX_TIMEOUT: '2s' } });
  await rec.down();
  const downAt = Date.now();
  const { task } = await commentOn(srv);
  assert.equal((await ended(srv, task.id)).status, 'succeeded');
  await waitFor(() => outboxRows(srv).some((r) => r.attempts >= 1 && r.status === 'pending'), 10000, 50);
  await sleep(Math.max(0, 3000 - (Date.now() - downAt)));
  assert.equal(rec.requests.length, 0, 'nothing arrived while down');
  await rec.restart();
  const rows = await settled(srv, 30000);
  assert.deepEqual(reactionsOn(rec, `/repos/${REPO}/issues/comments/492700400/reactions`), ['eyes', 'rocket']);
  assert.equal(rec.of('comment.create').length, 1);
  assert.equal(rec.commentsOn(REPO, 1).length, 1);
  assert.ok(rows.every((r) => r.attempts >= 2), `each reply failed while down and was retried: ${JSON.stringify(rows.map((r) => [r.kind, r.attempts]))}`);
});

// ------------------------------------------------------------------ 6

test('an uncertain comment (the POST times out after GitHub stored it) is found by its marker, not posted again', async (t) => {
  const { rec, srv } = await setup(t, { env: { OUTBOX_TIMEOUT: '2s' } });
  rec.script('comment.create', 'hang');
  const { task } = await commentOn(srv);
  assert.equal((await ended(srv, task.id)).status, 'succeeded');
  const rows = await settled(srv, 25000);
  const posts = rec.of('comment.create');
  assert.equal(posts.length, 1, `one POST only: ${posts.length}`);
  assert.ok(posts[0].hung);
  const lists = rec.of('comment.list');
  assert.ok(lists.length >= 1, 'the outbox looked for its comment');
  assertGitHubRequest(lists[0], { method: 'GET', path: `/repos/${REPO}/issues/1/comments` });
  assert.ok(lists[0].at >= posts[0].at + 1500, 'looked after the timeout');
  assert.equal(lists[0].query.page ?? '1', '1');
  assert.equal(rec.commentsOn(REPO, 1).length, 1, 'exactly one comment stored');
  const c = rows.find((r) => r.kind === 'comment');
  assert.equal(String(c.result), String(rec.commentsOn(REPO, 1)[0].id), 'the found comment\'s id is kept');
});

// ------------------------------------------------------------------ 7

test('kill -9 while the comment POST waits: after a restart the lease ends, the marker is found, one comment', async (t) => {
  const { rec, srv } = await setup(t, { env: { OUTBOX_TIMEOUT: '1s', OUTBOX_SENDERS: '1' } });
  rec.script('comment.create', 'hang');
  const { task } = await commentOn(srv);
  await waitFor(() => rec.of('comment.create').length === 1, 15000, 10);
  await srv.stop('SIGKILL');
  const killedAt = Date.now();
  const [row] = query(srv.db, "select status, attempts from outbox where kind = 'comment'");
  assert.equal(row.status, 'sending', `the comment was being sent when hookq died: ${JSON.stringify(row)}`);
  const again = await startHookq({ db: srv.db, t, args: srv.args, env: srv.env });
  again.db = srv.db;
  const done = await ended(again, task.id);
  assert.equal(done.status, 'succeeded');
  const rows = await settled(again, 40000);
  const sentAfter = Date.now() - killedAt;
  assert.equal(rec.of('comment.create').length, 1, 'never posted twice');
  assert.equal(rec.commentsOn(REPO, 1).length, 1, 'exactly one comment');
  const lists = rec.of('comment.list');
  assert.ok(lists.length >= 1, 'the restarted hookq looked for the comment first');
  assert.ok(lists[0].at >= killedAt + 8000, `not before the lease ended (${lists[0].at - killedAt} ms after the kill)`);
  const c = rows.find((r) => r.kind === 'comment');
  assert.equal(String(c.result), String(rec.commentsOn(REPO, 1)[0].id));
  assert.ok(sentAfter < 40000);
});

// ------------------------------------------------------------------ 8

test('GitHub App: a verified JWT buys an installation token, used for every reply and reused', async (t) => {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs1', format: 'pem' } });
  const APP_ID = '123456';
  // One sender, so replies go one after the other (the concurrent case is the next test).
  const { rec, srv } = await setup(t, { env: { GITHUB_TOKEN: undefined, GITHUB_APP_ID: APP_ID, GITHUB_APP_PRIVATE_KEY: privateKey,
    OUTBOX_SENDERS: '1' }, recorder: { publicKey, appId: APP_ID }, logLevel: 'debug' });
  const first = await commentOn(srv, { commentId: 7001, installation: 4242 });
  assert.equal((await ended(srv, first.task.id)).status, 'succeeded');
  await settled(srv);
  const toks = rec.of('access_token');
  assert.ok(toks.length >= 1, 'a token was asked for');
  for (const q of toks) {
    assert.equal(q.path, '/app/installations/4242/access_tokens', 'the installation the event came through');
    assert.equal(q.jwtProblem, null, `the JWT verifies: ${q.jwtProblem}`);
    assert.match(q.headers.accept || '', /application\/vnd\.github\+json/);
  }
  const issued = new Set(toks.map((q) => q.issued));
  const rpath = `/repos/${REPO}/issues/comments/7001/reactions`;
  assert.deepEqual(reactionsOn(rec, rpath), ['eyes', 'rocket']);
  assert.equal(rec.of('comment.create').length, 1);
  assertGitHubRequest(rec.of('comment.create')[0], { path: `/repos/${REPO}/issues/1/comments`, auth: rec.of('comment.create')[0].headers.authorization });
  const firstRound = toks.length;

  const second = await commentOn(srv, { commentId: 7002, installation: 4242 });
  assert.equal((await ended(srv, second.task.id)).status, 'succeeded');
  await settled(srv);
  assert.deepEqual(reactionsOn(rec, `/repos/${REPO}/issues/comments/7002/reactions`), ['eyes', 'rocket']);
  assert.equal(rec.of('comment.create').length, 2);
  for (const q of rec.requests.filter((x) => x.route !== 'access_token')) {
    const tok = (q.headers.authorization || '').replace(/^Bearer /, '');
    assert.ok(q.headers.authorization?.startsWith('Bearer ') && issued.has(tok),
      `${q.method} ${q.path} carries an issued installation token: ${q.headers.authorization?.slice(0, 16)}`);
  }
  assert.equal(rec.of('access_token').length, firstRound, 'a later reply reuses the cached token');
  for (const tok of issued) assert.ok(!srv.logs.includes(tok), 'an installation token is not logged');
  const keyBody = privateKey.split('\n')[1];
  assert.ok(!srv.logs.includes(keyBody), 'the private key is not logged');
  for (const q of rec.of('comment.create')) assert.ok(!q.body.body.includes(keyBody));
  assert.equal(rec.of('access_token').length, 1, 'one token request in all');
});

test('GitHub App: replies sent at once by two senders share one token request', async (t) => {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs1', format: 'pem' } });
  const APP_ID = '123457';
  const { rec, srv } = await setup(t, { env: { GITHUB_TOKEN: undefined, GITHUB_APP_ID: APP_ID, GITHUB_APP_PRIVATE_KEY: privateKey,
    OUTBOX_SENDERS: '2' }, recorder: { publicKey, appId: APP_ID } });
  // GitHub takes 800 ms to issue the token: meanwhile the task ends and
  // its 🚀 and comment are due on the other sender.
  rec.script('access_token', { delayMs: 800 });
  const { task } = await commentOn(srv, { commentId: 7101, installation: 4242 });
  assert.equal((await ended(srv, task.id)).status, 'succeeded');
  await settled(srv);
  assert.deepEqual(reactionsOn(rec, `/repos/${REPO}/issues/comments/7101/reactions`), ['eyes', 'rocket']);
  assert.equal(rec.of('comment.create').length, 1);
  const toks = rec.of('access_token');
  assert.equal(toks.length, 1, `each sender asked for its own token while the first request was under way: ${toks.length} requests, ` +
    JSON.stringify(toks.map((q) => q.at - toks[0].at)) + ' ms apart');
});

// ------------------------------------------------------------------ 9

test('test events (POST /api/test) send nothing; a real event on the same server does', async (t) => {
  const { rec, srv } = await setup(t);
  const r = await api(srv, 'POST', '/api/test', { prompt: 'just a test', repository: REPO, agent: 'r' });
  assert.equal(r.status, 202, r.text);
  const task = await taskOf(srv, r.json.event_id);
  assert.equal((await ended(srv, task.id)).status, 'succeeded');
  await sleep(1500);
  assert.deepEqual(rec.requests.map((q) => `${q.method} ${q.path}`), [], 'a test event replies to no one');
  assert.deepEqual(outboxRows(srv), [], 'and plans no reply');
  // Control: the outbox works on this server.
  const real = await commentOn(srv);
  await ended(srv, real.task.id);
  await settled(srv);
  assert.ok(rec.of('reaction').length >= 1);
});

// ------------------------------------------------------------------ 10

const SLACK_SECRET = 'slack-e2e-signing-secret-r-41c9';
const SLACK_BOT = 'xoxb-1234567890-0987654321-e2eReplyBotToken';

async function slackSend(srv, body, type) {
  const ts = String(Math.floor(Date.now() / 1000));
  const sig = 'v0=' + createHmac('sha256', SLACK_SECRET).update(`v0:${ts}:${body}`).digest('hex');
  const res = await fetch(srv.url + '/webhooks/slack', { method: 'POST', body, signal: AbortSignal.timeout(15000),
    headers: { 'content-type': type, 'x-slack-request-timestamp': ts, 'x-slack-signature': sig } });
  const text = await res.text();
  return { status: res.status, text, json: (() => { try { return JSON.parse(text); } catch { return null; } })() };
}

async function eventIdOf(srv, delivery) {
  return waitFor(() => query(srv.db, `select id from events where delivery_id = '${delivery}'`)[0]?.id, 5000);
}

test('slack: a slash command is answered on its response_url; an app_mention in a thread with chat.postMessage', async (t) => {
  const { rec, srv: s } = await setup(t, { tokenValue: SLACK_SECRET, env: (r) => ({ GITHUB_TOKEN: undefined, SLACK_SIGNING_SECRET: SLACK_SECRET,
    SLACK_BOT_TOKEN: SLACK_BOT, SLACK_API_URL: `${r.url}/api`,
    SLACK_RESPONSE_URL_PREFIX: `${r.url}/slack-response/` }), routes: [{ name: 'slack', provider: 'slack', command_prefix: '/agent',
    commands: [{ name: 'fix', agent: 'r', prompt: 'Fix: {{hookq.request}}' }],
    triggers: [{ on: 'app_mention', agent: 'r', prompt: 'Asked: {{event.text}}' }] }] });

  const trigger = '13345224609.738474920.8088930838d88f008e0';
  const responsePath = '/slack-response/T0001/1234567890/Xyz0123456789abcdefghij';
  const form = new URLSearchParams({ token: 'x', team_id: 'T0001', team_domain: 'example', channel_id: 'C2147483705',
    channel_name: 'general', user_id: 'U2147483697', user_name: 'alice', command: '/agent', text: 'fix the build',
    response_url: rec.url + responsePath, trigger_id: trigger }).toString();
  const cmd = await slackSend(s, form, 'application/x-www-form-urlencoded');
  assert.equal(cmd.status, 200, cmd.text);
  const t1 = await taskOf(s, await eventIdOf(s, trigger));
  assert.equal((await ended(s, t1.id)).status, 'succeeded');
  await settled(s);
  const resp = rec.of('slack.response');
  assert.equal(resp.length, 1, `one POST to the response_url: ${JSON.stringify(rec.requests.map((q) => q.path))}`);
  assert.equal(resp[0].method, 'POST');
  assert.equal(resp[0].path, responsePath);
  assert.match(resp[0].headers['content-type'], /^application\/json/);
  assert.equal(resp[0].headers.authorization, undefined, 'a response_url needs no token');
  assert.equal(resp[0].body.response_type, 'in_channel');
  assert.match(resp[0].body.text, new RegExp(`task ${t1.id}\\b`));
  assert.match(resp[0].body.text, /r-reply-last-line/);
  assert.ok(!resp[0].body.text.includes(FAKE) && !resp[0].body.text.includes(SLACK_SECRET), 'redacted');

  const ev = JSON.stringify({ token: 'x', team_id: 'T0001', api_app_id: 'A0001', type: 'event_callback',
    event_id: 'Ev0REPLY1', event_time: Math.floor(Date.now() / 1000),
    event: { type: 'app_mention', user: 'U2147483697', text: '<@U0LAN0Z89> fix it please', channel: 'C2147483705',
      ts: '1700000000.000200', thread_ts: '1700000000.000100', event_ts: '1700000000.000200' } });
  const r = await slackSend(s, ev, 'application/json');
  assert.equal(r.status, 200, r.text);
  const t2 = await taskOf(s, await eventIdOf(s, 'Ev0REPLY1'));
  assert.equal((await ended(s, t2.id)).status, 'succeeded');
  await settled(s);
  const posts = rec.of('slack.post');
  assert.equal(posts.length, 1, `one chat.postMessage: ${JSON.stringify(rec.requests.map((q) => q.path))}`);
  assert.equal(posts[0].path, '/api/chat.postMessage');
  assert.equal(posts[0].headers.authorization, `Bearer ${SLACK_BOT}`);
  assert.match(posts[0].headers['content-type'], /^application\/json/);
  assert.equal(posts[0].body.channel, 'C2147483705');
  assert.equal(posts[0].body.thread_ts, '1700000000.000100', 'in the thread');
  assert.match(posts[0].body.text, new RegExp(`task ${t2.id}\\b`));
  assert.equal(rec.of('reaction').length + rec.of('comment.create').length, 0, 'nothing to GitHub');
  assert.ok(!s.logs.includes(SLACK_BOT), 'the bot token is not logged');
});

// ------------------------------------------------------------------ 11

test('jira: an issue_created event is answered with a comment on the issue, Basic auth', async (t) => {
  const JSECRET = 'jira-e2e-webhook-secret-r-7b21';
  const EMAIL = 'bot@example.com';
  const JTOKEN = 'ATATT3xFfGF0-e2e-jira-api-token';
  const { rec, srv } = await setup(t, { tokenValue: JTOKEN, env: (r) => ({ GITHUB_TOKEN: undefined, JIRA_WEBHOOK_SECRET: JSECRET,
    JIRA_BASE_URL: r.url, JIRA_EMAIL: EMAIL, JIRA_API_TOKEN: JTOKEN }),
    routes: [{ name: 'jira', provider: 'jira', triggers: [{ on: 'jira:issue_created', agent: 'r', prompt: 'Do {{issue.key}}' }] }] });
  const body = JSON.stringify({ timestamp: Date.now(), webhookEvent: 'jira:issue_created', issue_event_type_name: 'issue_created',
    user: { accountId: '5b10a2844c20165700ede21g', displayName: 'Alice' },
    issue: { id: '10001', key: 'PROJ-7', fields: { summary: 'The build is red', description: 'please fix' } } });
  const id = '95d9d9f8-6ba5-43d8-b3a2-1e0ba1f2b0aa';
  const res = await fetch(srv.url + '/webhooks/jira', { method: 'POST', body, signal: AbortSignal.timeout(15000), headers: {
    'content-type': 'application/json', 'x-atlassian-webhook-identifier': id,
    'x-hub-signature': 'sha256=' + createHmac('sha256', JSECRET).update(body).digest('hex') } });
  assert.equal(res.status, 200, await res.text());
  const task = await taskOf(srv, await eventIdOf(srv, id));
  assert.equal((await ended(srv, task.id)).status, 'succeeded');
  await settled(srv);
  const posts = rec.of('jira.comment');
  assert.equal(posts.length, 1, `one Jira comment: ${JSON.stringify(rec.requests.map((q) => q.path))}`);
  assert.equal(posts[0].method, 'POST');
  assert.equal(posts[0].path, '/rest/api/2/issue/PROJ-7/comment');
  assert.equal(posts[0].headers.authorization, 'Basic ' + Buffer.from(`${EMAIL}:${JTOKEN}`).toString('base64'));
  assert.match(posts[0].headers['content-type'], /^application\/json/);
  assert.deepEqual(Object.keys(posts[0].body), ['body']);
  assert.match(posts[0].body.body, new RegExp(`task ${task.id}\\b`));
  assert.match(posts[0].body.body, /r-reply-last-line/);
  assert.ok(!posts[0].body.body.includes(FAKE), 'the ghp_ token is redacted');
  assert.ok(!posts[0].body.body.includes(JTOKEN), 'the Jira API token is redacted');
  assert.equal(rec.requests.length, 1, 'nothing else (nothing to GitHub)');
  assert.ok(!srv.logs.includes(JTOKEN), 'the Jira token is not logged');
});
