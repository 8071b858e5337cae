// The output queue (AWS_SQS_OUTPUT_URL) against a real SQS-compatible
// server (fauxqs, on loopback): every task's end for good is published
// through the outbox with its fields and the redacted output tail; an SQS
// outage delays the messages and loses none; a FIFO queue deduplicates.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { newDb, startHookq, tempDir, waitFor, query, root, ADMIN_PASSWORD } from './helpers.mjs';
import { startFauxqs, drain } from './fauxqs.mjs';

const agent = join(root, 'tests', 'e2e', 'agents', 'r-reply.sh');
const AUTH = 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64');

let fq;
before(async () => { fq = await startFauxqs(); });
after(async () => { await fq?.stop(); });

async function api(srv, method, path, body) {
  const res = await fetch(srv.url + path, { method, signal: AbortSignal.timeout(15000),
    headers: { authorization: AUTH, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined });
  return { status: res.status, json: await res.json().catch(() => null) };
}

// A server whose agents are tests/e2e/agents/r-reply.sh: `ok` exits 0,
// `bad` exits 3.
async function start(t, env) {
  const dir = tempDir(t);
  const cfg = join(dir, 'hookq.yaml');
  writeFileSync(cfg, JSON.stringify({ agents: {
    ok: { command: [agent], timeout: '30s', max_attempts: 1, env: ['PATH'] },
    bad: { command: [agent], timeout: '30s', max_attempts: 1, env: ['PATH'], set_env: { R_EXIT: '3' } },
  } }));
  const db = newDb(t);
  const srv = await startHookq({ db, t, args: ['--config', cfg], env: { ...fq.env, CONTAINER_POOL: 'w1,w2', ...env } });
  srv.db = db;
  return srv;
}

async function runTest(srv, agentName, prompt) {
  const r = await api(srv, 'POST', '/api/test', { prompt, agent: agentName });
  assert.equal(r.status, 202, JSON.stringify(r.json));
  return waitFor(() => query(srv.db, `select id, status, exit_code, flow_id, conversation_id from tasks
    where event_id = ${Number(r.json.event_id)} and status in ('succeeded', 'failed')`)[0], 20000, 50);
}

async function outputs(queueUrl, n, timeoutMs = 20000) {
  const got = [];
  await waitFor(async () => {
    got.push(...(await drain(fq.client, queueUrl)));
    return got.length >= n;
  }, timeoutMs, 200);
  return got.map((m) => JSON.parse(m.Body));
}

test('each task end is published once with its fields and the redacted output tail', async (t) => {
  const out = await fq.createQueue(`out-${randomUUID().slice(0, 8)}`);
  const srv = await start(t, { AWS_SQS_OUTPUT_URL: out });
  const good = await runTest(srv, 'ok', 'first');
  const failed = await runTest(srv, 'bad', 'second');
  const msgs = await outputs(out, 2);
  const byTask = new Map(msgs.map((m) => [m.task_id, m]));
  const a = byTask.get(good.id);
  const b = byTask.get(failed.id);
  assert.ok(a && b, JSON.stringify(msgs));
  assert.equal(a.status, 'succeeded');
  assert.equal(a.exit_code, 0);
  assert.equal(a.flow_id, good.flow_id);
  assert.equal(a.conversation_id, good.conversation_id);
  assert.equal(a.agent, 'ok');
  assert.match(a.output, /r-reply-last-line/);
  assert.doesNotMatch(a.output, /ghp_0123456789abcdef/, 'the token-shaped string is redacted');
  assert.equal(b.status, 'failed');
  assert.equal(b.exit_code, 3);
  assert.equal(typeof b.run_ms, 'number');
  // Nothing more arrives: one message per end.
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal((await drain(fq.client, out)).length, 0);
  const sent = query(srv.db, "select count(*) as n from outbox where kind = 'output_message' and status = 'sent'")[0].n;
  assert.equal(sent, 2);
});

test('SQS failing for a while delays the output messages and loses none; a FIFO queue takes them once', async (t) => {
  const out = await fq.createQueue(`out-${randomUUID().slice(0, 8)}.fifo`, { FifoQueue: 'true' });
  // A proxy in front of fauxqs answering 500 to the first three sends.
  const target = new URL(fq.url);
  let refused = 0;
  const proxy = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (/SendMessage/.test(req.headers['x-amz-target'] ?? '') && refused < 3) {
        refused++;
        res.writeHead(500, { 'content-type': 'application/x-amz-json-1.0' });
        res.end('{"__type":"InternalFailure","message":"try again"}');
        return;
      }
      const up = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url,
        headers: req.headers }, (r) => { res.writeHead(r.statusCode, r.headers); r.pipe(res); });
      up.on('error', () => { res.writeHead(502); res.end(); });
      up.end(Buffer.concat(chunks));
    });
  });
  await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => proxy.close(r)));
  const srv = await start(t, { AWS_SQS_OUTPUT_URL: out, AWS_ENDPOINT_URL: `http://127.0.0.1:${proxy.address().port}` });
  const task = await runTest(srv, 'ok', 'through an outage');
  const msgs = await outputs(out, 1, 30000);
  assert.equal(refused, 3, 'the first sends were refused');
  assert.equal(msgs.length, 1);
  assert.equal(msgs[0].task_id, task.id);
  const [row] = query(srv.db, "select status, attempts from outbox where kind = 'output_message'");
  assert.equal(row.status, 'sent');
  assert.ok(row.attempts >= 3, `attempts ${row.attempts}`);
});
