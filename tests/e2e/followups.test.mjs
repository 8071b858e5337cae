// Follow-up tasks have limits: a running agent's token adds children only
// for its own repository and never ahead of itself; a task has at most 100
// children and a chain at most 20 tasks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync, readFileSync, existsSync } from 'node:fs';
import { newDb, startHookq, tempDir, waitFor, root, ADMIN_PASSWORD } from './helpers.mjs';

const AUTH = 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64');

async function api(srv, method, path, body) {
  const res = await fetch(srv.url + path, { method, signal: AbortSignal.timeout(15000),
    headers: { authorization: AUTH, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined });
  return { status: res.status, json: await res.json().catch(() => null) };
}

test('a token makes follow-ups only for its own repository and behind itself; children and depth are capped (409)', async (t) => {
  const dir = tempDir(t);
  const out = join(dir, 'codes');
  const cfg = join(dir, 'hookq.yaml');
  writeFileSync(cfg, JSON.stringify({ agents: {
    limits: { command: [join(root, 'tests', 'e2e', 'agents', 'f-limits.sh')], set_env: { F_OUT: out } },
    idle: { command: ['/bin/true'] } } }));
  // The queue holds still for the cap checks: no worker takes "idle" tasks
  // until the first test is done (one worker, busy with nothing else).
  const srv = await startHookq({ t, db: newDb(t), args: ['--config', cfg], env: { HOME: dir } });

  const parent = await api(srv, 'POST', '/api/tasks', { prompt: 'go', agent: 'limits', repository: 'o/r', priority: 50 });
  assert.equal(parent.status, 201);
  await waitFor(() => existsSync(out) && readFileSync(out, 'utf8').split('\n').length > 3, 15000);
  assert.deepEqual(readFileSync(out, 'utf8').trim().split('\n'), ['403', '403', '201']);
  const kids = await waitFor(async () => (await api(srv, 'GET', `/api/tasks?parent_id=${parent.json.id}`)).json?.tasks, 5000);
  assert.equal(kids.length, 1);
  assert.equal(kids[0].project, 'o/r', 'the follow-up works on its parent\'s repository');
  assert.equal(kids[0].priority, 50, 'and waits behind it by default');

  // 100 children at most (an operator's requests count too).
  const root1 = await api(srv, 'POST', '/api/tasks', { prompt: 'root', agent: 'idle' });
  for (let i = 0; i < 100; i++) {
    const r = await api(srv, 'POST', '/api/tasks', { prompt: `c${i}`, agent: 'idle', parent_task_id: root1.json.id });
    assert.equal(r.status, 201, JSON.stringify(r.json));
  }
  const over = await api(srv, 'POST', '/api/tasks', { prompt: 'one more', agent: 'idle', parent_task_id: root1.json.id });
  assert.equal(over.status, 409);
  assert.match(over.json.message, /has 100 children already/);

  // A chain of 20 tasks at most.
  let up = (await api(srv, 'POST', '/api/tasks', { prompt: 'chain', agent: 'idle' })).json.id;
  for (let i = 1; i < 20; i++) {
    const r = await api(srv, 'POST', '/api/tasks', { prompt: `link ${i}`, agent: 'idle', parent_task_id: up });
    assert.equal(r.status, 201, `link ${i}: ${JSON.stringify(r.json)}`);
    up = r.json.id;
  }
  const deep = await api(srv, 'POST', '/api/tasks', { prompt: 'too deep', agent: 'idle', parent_task_id: up });
  assert.equal(deep.status, 409);
  assert.match(deep.json.message, /chain of follow-ups has at most 20 tasks/);
});
