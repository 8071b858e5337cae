// `hookq forward --to sqs` and the Lambda receiver in examples/, against a
// real SQS-compatible server (fauxqs, started here on loopback): webhooks
// signed by @octokit/webhooks-methods with real payloads from
// @octokit/webhooks-examples; a worker (`hookq serve --source sqs`) reads
// what they sent.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, request as httpRequest } from 'node:http';
import { createHmac, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { sign } from '@octokit/webhooks-methods';
import { newDb, bin, deliver, query, root, startHookq, storedBody, tempDir, waitFor, SECRET,
  ADMIN_PASSWORD } from './helpers.mjs';
import { startFauxqs, queueDepth, drain } from './fauxqs.mjs';

const examples = createRequire(import.meta.url)('@octokit/webhooks-examples');
const issueComment = examples.find((e) => e.name === 'issue_comment').examples[0];
const pushExample = examples.find((e) => e.name === 'push').examples[0];
const issuesOpened = examples.find((e) => e.name === 'issues').examples.find((x) => x.action === 'opened');

let fq;
before(async () => { fq = await startFauxqs(); });
after(async () => { await fq?.stop(); });

const auth = { authorization: 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64') };

async function queue(name) {
  return fq.createQueue(`${name}-${randomUUID().slice(0, 8)}`);
}

// Runs `hookq forward` with args; resolves once it listens (or exits).
async function startForward(t, { env = {}, args = ['--to', 'sqs'], wait = true } = {}) {
  const proc = spawn(bin, ['forward', ...args, '--host', '127.0.0.1', '--port', '0'], {
    env: { PATH: process.env.PATH, GITHUB_WEBHOOK_SECRET: SECRET, ADMIN_PASSWORD, ...fq.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const fwd = { proc, logs: '', exited: null };
  proc.stdout.on('data', (d) => { fwd.logs += d; });
  proc.stderr.on('data', (d) => { fwd.logs += d; });
  fwd.exit = new Promise((res) => proc.on('exit', (code, signal) => {
    fwd.exited = { code, signal };
    res(fwd.exited);
  }));
  fwd.stop = async (signal = 'SIGTERM') => {
    if (!fwd.exited) proc.kill(signal);
    return fwd.exit;
  };
  t.after(() => fwd.stop('SIGKILL'));
  if (!wait) return fwd;
  await waitFor(() => fwd.exited || /hookq forwarding/.test(fwd.logs), 10000);
  if (fwd.exited) throw new Error(`hookq forward exited ${JSON.stringify(fwd.exited)}:\n${fwd.logs}`);
  fwd.port = Number(fwd.logs.match(/port=(\d+)/)[1]);
  fwd.url = `http://127.0.0.1:${fwd.port}`;
  return fwd;
}

const startWorker = (t, db, queueUrl, env = {}) => startHookq({ db, t, env: {
  ...fq.env, TASK_SOURCE: 'sqs', AWS_SQS_QUEUE_URL: queueUrl, SQS_WAIT_TIME_SECONDS: '1', ...env,
} });

async function empty(queueUrl) {
  await waitFor(async () => {
    const d = await queueDepth(fq.client, queueUrl);
    return d.visible + d.inFlight + d.delayed === 0;
  }, 15000, 100);
}

test('a verified webhook is answered 200 once SQS has it, as an envelope with the exact bytes and the headers read', async (t) => {
  const q = await queue('fwd-envelope');
  const fwd = await startForward(t, { env: { AWS_SQS_QUEUE_URL: q } });
  // Spacing and non-ASCII as GitHub might send them: the bytes must survive.
  const raw = JSON.stringify(issueComment, null, 2).replace('"created"', '"created" ') + '\n';
  const r = await deliver(fwd.url, { event: 'issue_comment', body: raw });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { status: 'forwarded', delivery_id: r.delivery });

  const [m] = await drain(fq.client, q);
  assert.ok(m, 'a message on the queue');
  const env = JSON.parse(m.Body);
  assert.equal(Buffer.from(env.payload, 'base64').toString('utf8'), raw);
  const h = Object.fromEntries(Object.entries(env.headers).map(([k, v]) => [k.toLowerCase(), v]));
  assert.equal(h['x-hookq-provider'], 'github');
  assert.equal(h['x-github-event'], 'issue_comment');
  assert.equal(h['x-github-delivery'], r.delivery);
  assert.equal(h['x-hub-signature-256'], await sign(SECRET, raw));
  assert.equal(h['content-type'], 'application/json');

  const st = await (await fetch(fwd.url + '/status', { headers: auth })).json();
  assert.equal(st.mode, 'forward');
  assert.equal(st.forwarded, 1);
  assert.equal(st.failed, 0);
  const metrics = await (await fetch(fwd.url + '/metrics', { headers: auth })).text();
  assert.match(metrics, /^hookq_forwarded_total\{result="sent"\} 1$/m);
  assert.match(fwd.logs, /msg="webhook forwarded" provider=github event=issue_comment/);
  assert.equal((await fetch(fwd.url + '/status')).status, 401, '/status needs the admin password');
});

test('wrong and missing signatures are refused and nothing reaches the queue', async (t) => {
  const q = await queue('fwd-refused');
  const fwd = await startForward(t, { env: { AWS_SQS_QUEUE_URL: q } });
  const wrong = await deliver(fwd.url, { secret: 'not-the-secret' });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.json.error, 'signature_invalid');
  const missing = await deliver(fwd.url, { secret: null });
  assert.equal(missing.status, 401);
  assert.equal(missing.json.error, 'signature_missing');
  // A replayed body with another delivery's signature: refused too.
  const good = await deliver(fwd.url, { payload: { action: 'opened', n: 1 } });
  assert.equal(good.status, 200);
  const replay = await deliver(fwd.url, { body: JSON.stringify({ action: 'opened', n: 2 }),
    secret: null, headers: { 'x-hub-signature-256': await sign(SECRET, good.raw) } });
  assert.equal(replay.status, 401);
  const msgs = await drain(fq.client, q);
  assert.equal(msgs.length, 1);
  assert.equal(JSON.parse(msgs[0].Body).headers['X-GitHub-Delivery'], good.delivery);
  assert.doesNotMatch(fwd.logs, new RegExp(SECRET));
});

test('a queue that does not take the message gets 503 queue_unavailable, never a 200', async (t) => {
  const fwd = await startForward(t, { env: {
    AWS_SQS_QUEUE_URL: `${fq.url}/000000000000/no-such-queue-${randomUUID().slice(0, 8)}` } });
  const r = await deliver(fwd.url);
  assert.equal(r.status, 503, r.text);
  assert.equal(r.json.error, 'queue_unavailable');
  const st = await (await fetch(fwd.url + '/status', { headers: auth })).json();
  assert.equal(st.failed, 1);
  assert.equal(st.forwarded, 0);
  assert.match(fwd.logs, /the queue did not take a webhook/);

  // SQS down altogether: the same answer, and the process keeps serving.
  const fwd2 = await startForward(t, { env: { AWS_SQS_QUEUE_URL: await queue('fwd-down'),
    AWS_ENDPOINT_URL: 'http://127.0.0.1:1' } });
  const r2 = await deliver(fwd2.url);
  assert.equal(r2.status, 503);
  assert.equal(r2.json.error, 'queue_unavailable');
  assert.equal((await fetch(fwd2.url + '/health')).status, 200);
});

test('forwarder → SQS → worker: stored once each, byte for byte, re-verified by the worker', async (t) => {
  const q = await queue('fwd-e2e');
  const dlq = await queue('fwd-e2e-dlq');
  const fwd = await startForward(t, { env: { AWS_SQS_QUEUE_URL: q } });
  const db = newDb(t);
  const worker = await startWorker(t, db, q, { SQS_VERIFY_SIGNATURES: 'true', AWS_SQS_DLQ_URL: dlq });

  const sent = [];
  for (let i = 0; i < 20; i++) {
    const event = i % 2 ? 'push' : 'issue_comment';
    const body = JSON.stringify({ ...(i % 2 ? pushExample : issueComment), hookq_n: i });
    const r = await deliver(fwd.url, { event, body });
    assert.equal(r.status, 200, r.text);
    sent.push(r);
  }
  // GitHub redelivers one: forwarded again, stored once.
  const again = await deliver(fwd.url, { event: 'issue_comment', body: sent[0].raw, delivery: sent[0].delivery });
  assert.equal(again.status, 200);
  // Something else writes to the queue with a forged signature: refused.
  const forged = JSON.stringify({ headers: { 'X-Hookq-Provider': 'github', 'X-GitHub-Event': 'issues',
    'X-GitHub-Delivery': 'forged-1', 'X-Hub-Signature-256': await sign('guess', '{}') },
  payload: Buffer.from('{}').toString('base64') });
  const { SendMessageCommand } = await import('@aws-sdk/client-sqs');
  await fq.client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: forged }));

  await waitFor(() => query(db, 'select count(*) as n from events')[0].n === 20 &&
    query(db, 'select sum(duplicates) as d from events')[0].d === 1, 20000, 100);
  await empty(q);
  for (const r of sent) {
    const [row] = query(db, `select id, event_type from events where delivery_id = '${r.delivery}'`);
    assert.ok(row, `delivery ${r.delivery} stored`);
    assert.equal(storedBody(db, row.id).bytes.toString('utf8'), r.raw);
  }
  assert.equal(query(db, "select count(*) as n from events where delivery_id = 'forged-1'")[0].n, 0);
  const dead = await drain(fq.client, dlq);
  assert.equal(dead.length, 1, 'the forged message went to the dead-letter queue');
  assert.equal(JSON.parse(dead[0].Body).headers['X-GitHub-Delivery'], 'forged-1');
  await worker.stop();
  assert.match(worker.logs, /queue messages.*stored=20 duplicates=1 dead_lettered=1/);
});

test('a generic provider: its delivery and event headers travel, its shared token never does', async (t) => {
  const q = await queue('fwd-generic');
  const token = 'generic-shared-token-5d1e';
  const env = { AWS_SQS_QUEUE_URL: q, GENERIC_WEBHOOK_SECRET: token, GENERIC_TOKEN_HEADER: 'X-Hook-Token',
    GENERIC_DELIVERY_HEADER: 'X-Hook-Id', GENERIC_EVENT_HEADER: 'X-Hook-Kind' };
  const fwd = await startForward(t, { env });
  const body = JSON.stringify({ hello: 'world', shell: '$(touch /tmp/hookq-pwned) `id`; rm -rf /' });
  const post = (tok) => fetch(fwd.url + '/webhooks/generic', { method: 'POST', body,
    headers: { 'content-type': 'application/json', 'x-hook-token': tok, 'x-hook-id': 'gen-1', 'x-hook-kind': 'build.done' } });
  assert.equal((await post('wrong')).status, 401);
  const ok = await post(token);
  assert.equal(ok.status, 200, await ok.text());
  const [m] = await drain(fq.client, q);
  assert.ok(m);
  assert.ok(!m.Body.includes(token), 'the token is not in the message');
  const h = JSON.parse(m.Body).headers;
  assert.equal(h['X-Hook-Id'], 'gen-1');
  assert.equal(h['X-Hook-Kind'], 'build.done');
  assert.equal(h['X-Hookq-Provider'], 'generic');
  assert.ok(!Object.keys(h).some((k) => k.toLowerCase() === 'x-hook-token'));

  // The worker reads it with the same settings: the same delivery id and type.
  const { SendMessageCommand } = await import('@aws-sdk/client-sqs');
  await fq.client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: m.Body }));
  const db = newDb(t);
  await startWorker(t, db, q, { GENERIC_DELIVERY_HEADER: 'X-Hook-Id', GENERIC_EVENT_HEADER: 'X-Hook-Kind' });
  await waitFor(() => query(db, 'select count(*) as n from events')[0].n === 1, 15000, 100);
  const [row] = query(db, 'select provider, delivery_id, event_type from events');
  assert.deepEqual(row, { provider: 'generic', delivery_id: 'gen-1', event_type: 'build.done' });
});

// A proxy in front of fauxqs that holds every answer back for delayMs: SQS
// being slow, so webhooks are still waiting for it when SIGTERM comes.
async function slowProxy(t, delayMs) {
  const target = new URL(fq.url);
  const proxy = { seen: 0 };
  const srv = createServer((req, res) => {
    proxy.seen++;
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const up = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url,
        headers: req.headers }, (r) => {
        const body = [];
        r.on('data', (c) => body.push(c));
        r.on('end', () => setTimeout(() => {
          res.writeHead(r.statusCode, r.headers);
          res.end(Buffer.concat(body));
        }, delayMs));
      });
      up.on('error', () => { res.writeHead(502); res.end(); });
      up.end(Buffer.concat(chunks));
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => srv.close(r)));
  proxy.url = `http://127.0.0.1:${srv.address().port}`;
  return proxy;
}

test('SIGTERM: webhooks waiting for SQS are answered 200 once it took them, then the forwarder exits', async (t) => {
  const q = await queue('fwd-term');
  const proxy = await slowProxy(t, 400);
  const fwd = await startForward(t, { env: { AWS_SQS_QUEUE_URL: q, AWS_ENDPOINT_URL: proxy.url } });
  const pending = Array.from({ length: 10 }, (_, i) => deliver(fwd.url, { payload: { action: 'opened', i } }));
  // All ten are in the forwarder, waiting for the slow SQS.
  // The first eight (one per sender) are at SQS, the other two queued.
  await waitFor(() => proxy.seen >= 8, 5000, 5);
  fwd.proc.kill('SIGTERM');
  const results = await Promise.all(pending);
  const exit = await fwd.exit;
  assert.equal(exit.code, 0, fwd.logs);
  assert.deepEqual(results.map((r) => r.status), Array(10).fill(200), fwd.logs);
  const msgs = await drain(fq.client, q, { max: 1000 });
  const onQueue = new Set(msgs.map((m) => JSON.parse(m.Body).headers['X-GitHub-Delivery']));
  for (const r of results) assert.ok(onQueue.has(r.delivery), `acknowledged ${r.delivery} is on the queue`);
  assert.match(fwd.logs, /webhooks forwarded" sent=10 failed=0/);
  // After SIGTERM nothing new is taken.
  await assert.rejects(deliver(fwd.url));
});

test('a route with its own endpoint keeps its route and its secret across the queue', async (t) => {
  const q = await queue('fwd-route');
  const dlq = await queue('fwd-route-dlq');
  const dir = tempDir(t);
  const cfg = join(dir, 'hookq.yaml');
  writeFileSync(cfg, `
routes:
  - name: team-a
    provider: github
    endpoint: /webhooks/team-a
    secret_env: TEAM_A_SECRET
    triggers:
      - {on: "issues.*", agent: team-a-bot, prompt: "A: {{issue.title}}"}
  - provider: github
    triggers:
      - {on: "issues.*", agent: default-bot, prompt: "D: {{issue.title}}"}
`);
  const teamSecret = 'team-a-secret-fwd-77';
  const fwd = await startForward(t, { args: ['--to', 'sqs', '--config', cfg],
    env: { AWS_SQS_QUEUE_URL: q, TEAM_A_SECRET: teamSecret } });
  const payload = issuesOpened;
  const a = await deliver(fwd.url, { path: '/webhooks/team-a', event: 'issues', payload, secret: teamSecret });
  assert.equal(a.status, 200, a.text);
  assert.equal((await deliver(fwd.url, { path: '/webhooks/team-a', event: 'issues', payload })).status, 401,
    "the provider's secret does not open the route's endpoint");
  const d = await deliver(fwd.url, { event: 'issues', payload });
  assert.equal(d.status, 200);
  // The worker verifies each with its own secret and stores it under its route.
  const db = newDb(t);
  await startHookq({ db, t, args: ['--config', cfg], env: { ...fq.env, TASK_SOURCE: 'sqs', AWS_SQS_QUEUE_URL: q,
    AWS_SQS_DLQ_URL: dlq, SQS_WAIT_TIME_SECONDS: '1', SQS_VERIFY_SIGNATURES: 'true', TEAM_A_SECRET: teamSecret } });
  const done = (id) => waitFor(() => query(db, `select route, status, routing from events where delivery_id = '${id}' and status = 'completed'`)[0], 15000, 100);
  const ra = await done(a.delivery);
  const rd = await done(d.delivery);
  assert.equal(ra.route, 'team-a');
  assert.deepEqual(JSON.parse(ra.routing).matches.map((m) => [m.route, m.agent]), [['team-a', 'team-a-bot']]);
  assert.equal(rd.route, 'github');
  assert.deepEqual(JSON.parse(rd.routing).matches.map((m) => [m.route, m.agent]), [['github', 'default-bot']]);
  assert.equal((await drain(fq.client, dlq)).length, 0);
  // A message naming a route that has no endpoint here: dead-lettered, not read as another route's.
  const { SendMessageCommand } = await import('@aws-sdk/client-sqs');
  await fq.client.send(new SendMessageCommand({ QueueUrl: q, MessageBody: JSON.stringify({
    headers: { 'X-Hookq-Provider': 'github', 'X-Hookq-Route': 'team-z', 'X-GitHub-Event': 'issues',
      'X-GitHub-Delivery': 'route-z-1', 'X-Hub-Signature-256': await sign(teamSecret, '{}') },
    payload: Buffer.from('{}').toString('base64') }) }));
  const [dead] = await waitFor(async () => { const m = await drain(fq.client, dlq); return m.length ? m : null; }, 15000, 200);
  assert.equal(JSON.parse(dead.Body).headers['X-GitHub-Delivery'], 'route-z-1');
});

test('with SQS_VERIFY_SIGNATURES a GitLab delivery (a shared token, never queued) is still stored', async (t) => {
  const q = await queue('fwd-gitlab');
  const dlq = await queue('fwd-gitlab-dlq');
  const token = 'gitlab-token-fwd-3b9';
  const fwd = await startForward(t, { env: { AWS_SQS_QUEUE_URL: q, GITLAB_WEBHOOK_SECRET: token } });
  const body = JSON.stringify({ object_kind: 'issue', project: { path_with_namespace: 'g/p' }, object_attributes: { iid: 4, action: 'open' } });
  const post = (tok) => fetch(fwd.url + '/webhooks/gitlab', { method: 'POST', body, headers: {
    'content-type': 'application/json', 'x-gitlab-event': 'Issue Hook', 'x-gitlab-event-uuid': 'gl-uuid-1', 'x-gitlab-token': tok } });
  assert.equal((await post('nope')).status, 401);
  assert.equal((await post(token)).status, 200);
  const db = newDb(t);
  // The worker has no GitLab secret at all: GitLab cannot be re-verified, only read.
  await startWorker(t, db, q, { SQS_VERIFY_SIGNATURES: 'true', AWS_SQS_DLQ_URL: dlq });
  await waitFor(() => query(db, "select count(*) as n from events where delivery_id = 'gl-uuid-1'")[0].n === 1, 15000, 100);
  assert.equal((await drain(fq.client, dlq)).length, 0);
});

test('a FIFO queue: a redelivery is dropped by SQS, long delivery ids and routes do not collide', async (t) => {
  const q = await fq.createQueue(`fwd-fifo-${randomUUID().slice(0, 8)}.fifo`, { FifoQueue: 'true' });
  const fwd = await startForward(t, { env: { AWS_SQS_QUEUE_URL: q } });
  const one = await deliver(fwd.url, { payload: { action: 'opened', n: 1 } });
  assert.equal(one.status, 200);
  const again = await deliver(fwd.url, { body: one.raw, delivery: one.delivery });
  assert.equal(again.status, 200);
  // 200 characters: longer than SQS's 128 for a deduplication id.
  const long = await deliver(fwd.url, { payload: { action: 'opened', n: 2 }, delivery: 'd'.repeat(200) });
  assert.equal(long.status, 200, long.text);
  const msgs = await drain(fq.client, q, { max: 100 });
  const ids = msgs.map((m) => JSON.parse(m.Body).headers['X-GitHub-Delivery']).sort();
  assert.deepEqual(ids, [one.delivery, 'd'.repeat(200)].sort());
});

test('a body larger than an SQS message can hold gets 413 at once, not 503 forever', async (t) => {
  const q = await queue('fwd-big');
  const fwd = await startForward(t, { env: { AWS_SQS_QUEUE_URL: q } });
  assert.match(fwd.logs, /server.max_body lowered to what an SQS message holds" was=26214400 max_body=737280/);
  const big = await deliver(fwd.url, { body: JSON.stringify({ action: 'opened', pad: 'x'.repeat(800 * 1024) }) });
  assert.equal(big.status, 413);
  assert.equal(big.json.error, 'body_too_large');
  const fits = await deliver(fwd.url, { body: JSON.stringify({ action: 'opened', pad: 'x'.repeat(700 * 1024) }) });
  assert.equal(fits.status, 200, fits.text);
  const [m] = await drain(fq.client, q);
  assert.equal(Buffer.from(JSON.parse(m.Body).payload, 'base64').toString(), fits.raw);
});

test('usage and configuration errors', async (t) => {
  const run = async (args, env = {}) => {
    const fwd = await startForward(t, { args, env, wait: false });
    const exit = await fwd.exit;
    return { code: exit.code, logs: fwd.logs };
  };
  let r = await run([]);
  assert.equal(r.code, 2);
  assert.match(r.logs, /say where webhooks go: --to sqs/);
  r = await run(['--to', 'kafka']);
  assert.equal(r.code, 2);
  assert.match(r.logs, /unknown destination 'kafka' \(expected sqs\)/);
  r = await run(['--to', 'sqs'], { AWS_SQS_QUEUE_URL: '' });
  assert.equal(r.code, 78);
  assert.match(r.logs, /needs a queue: set AWS_SQS_QUEUE_URL/);
  r = await run(['--to', 'sqs'], { AWS_SQS_QUEUE_URL: `${fq.url}/000000000000/q`, AWS_REGION: '' });
  assert.equal(r.code, 78);
  assert.match(r.logs, /SQS needs a region: set AWS_REGION/);
  // TASK_SOURCE from a shared environment does not change what it is, and
  // it still needs a webhook secret in production.
  r = await run(['--to', 'sqs'], { AWS_SQS_QUEUE_URL: `${fq.url}/000000000000/q`, TASK_SOURCE: 'sqs', GITHUB_WEBHOOK_SECRET: '' });
  assert.equal(r.code, 78);
  assert.match(r.logs, /no webhook secret/);
  r = await run(['--to=sqs', '--help']);
  assert.equal(r.code, 0);
  assert.match(r.logs, /Usage: hookq forward --to sqs/);
});

test('the Lambda receiver in examples/ forwards what a worker stores, and refuses bad signatures', async (t) => {
  const q = await queue('fwd-lambda');
  process.env.AWS_SQS_QUEUE_URL = q;
  process.env.GITHUB_WEBHOOK_SECRET = SECRET;
  Object.assign(process.env, fq.env);
  const { handler } = await import(join(root, 'examples', 'sqs-lambda', 'index.mjs'));
  const raw = JSON.stringify(issueComment);
  const delivery = randomUUID();
  // A function URL event: lower-case headers, the body base64-encoded.
  const event = (sig, body = raw) => ({
    headers: { 'content-type': 'application/json', 'x-github-event': 'issue_comment', 'x-github-delivery': delivery,
      ...(sig ? { 'x-hub-signature-256': sig } : {}) },
    body: Buffer.from(body).toString('base64'), isBase64Encoded: true,
  });
  const hmac = 'sha256=' + createHmac('sha256', SECRET).update(raw).digest('hex');
  assert.equal((await handler(event(null))).statusCode, 401);
  assert.equal((await handler(event('sha256=' + '0'.repeat(64)))).statusCode, 401);
  const res = await handler(event(hmac));
  assert.equal(res.statusCode, 200, res.body);
  assert.deepEqual(JSON.parse(res.body), { status: 'forwarded', delivery_id: delivery });

  const db = newDb(t);
  await startWorker(t, db, q, { SQS_VERIFY_SIGNATURES: 'true' });
  await waitFor(() => query(db, 'select count(*) as n from events')[0].n === 1, 15000, 100);
  const [row] = query(db, 'select id, provider, delivery_id, event_type from events');
  assert.equal(row.delivery_id, delivery);
  assert.equal(row.event_type, 'issue_comment');
  assert.equal(storedBody(db, row.id).bytes.toString('utf8'), raw);
});
