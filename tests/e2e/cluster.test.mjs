// Several nodes on one PostgreSQL database (docs/operations.md, "Several
// nodes on PostgreSQL"): real hookq processes sharing a real server that
// this file starts itself (tests/pg/pg-server.sh), so that it can also take
// the server down and up again. Runs in the default (SQLite) pass of the
// suite only: it brings its own database.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { postgres, startHookq, deliver, query, tempDir, waitFor, sleep, root, ADMIN_PASSWORD } from './helpers.mjs';

const examples = createRequire(import.meta.url)('@octokit/webhooks-examples');
const sample = (name, action) => structuredClone(examples.find((e) => e.name === name).examples
  .find((p) => p.action === action));
const pgServer = join(root, 'tests', 'pg', 'pg-server.sh');
const AUTH = 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64');
const skip = postgres ? 'runs in the SQLite pass (brings its own PostgreSQL)' : false;

// A PostgreSQL server of this test's own; removed after it.
function startPg(t) {
  const dir = mkdtempSync(join(tmpdir(), 'hookq-cluster-pg-'));
  const url = execFileSync(pgServer, ['start', dir], { encoding: 'utf8' }).trim();
  t.after(() => execFileSync(pgServer, ['stop', dir]));
  return {
    url,
    down: () => execFileSync(pgServer, ['down', dir]),
    up: () => execFileSync(pgServer, ['up', dir]),
  };
}

// Three kinds of webhook, spread over 40 repositories: an "@agent" comment
// (one task each), an issue opened (no route wants it), a ping.
function payloadFor(i) {
  if (i % 10 === 0) {
    const p = sample('issue_comment', 'created');
    p.comment.body = `@agent run ${i}`;
    p.repository.full_name = `octo/r${i % 40}`;
    p.issue.number = i;
    return { event: 'issue_comment', payload: p };
  }
  const p = sample('issues', 'opened');
  p.repository.full_name = `octo/r${i % 40}`;
  p.issue.number = i;
  p.issue.title = `plain ${i}`;
  return { event: 'issues', payload: p };
}

function writeConfig(dir, log) {
  const file = join(dir, 'hookq.yaml');
  writeFileSync(file, JSON.stringify({
    agents: { run: { command: [join(root, 'tests', 'e2e', 'agents', 'c-run.sh')], timeout: '60s',
      max_attempts: 3, retry_backoff: '1s', set_env: { C_LOG: log } } },
    routes: [{ name: 'github', provider: 'github', command_prefix: '@agent', default_command: 'run',
      commands: [{ name: 'run', agent: 'run', prompt: '{{comment.body}}' }] }],
  }));
  return file;
}

const nodeEnv = { CONTAINER_POOL: 'w1,w2,w3', HOOKQ_NODE_TIMEOUT: '3s', TASK_LEASE: '10s' };

// Sends deliveries[i] for every i of `indices` with `concurrency` requests in
// flight, to pick(i); a refusal or a network error is sent again (same
// delivery id, as GitHub redelivers) after a pause, until a 2xx. Returns
// what was acknowledged and how often each answer came.
async function sendAll(indices, pick, { concurrency = 32, onAck } = {}) {
  const acked = new Map(); // delivery -> event id
  const answers = {};
  let next = 0;
  async function one(i) {
    const { event, payload } = payloadFor(i);
    const delivery = `cluster-${i}`;
    for (let attempt = 0; ; attempt++) {
      let status;
      try {
        const r = await deliver(pick(i, attempt), { event, payload, delivery });
        status = r.status;
        if (r.status === 200 || r.status === 202) {
          assert.ok(Number.isInteger(r.json?.event_id), r.text);
          acked.set(delivery, r.json.event_id);
          answers[status] = (answers[status] || 0) + 1;
          onAck?.(acked.size);
          return;
        }
      } catch {
        status = 'network';
      }
      answers[status] = (answers[status] || 0) + 1;
      assert.ok(attempt < 400, `delivery ${delivery} never acknowledged (last: ${status})`);
      await sleep(50);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < indices.length) await one(indices[next++]);
  }));
  return { acked, answers };
}

test('three nodes, 10,000 webhooks over two, one node kill -9ed midway: every acknowledged event processed once, every task run by one worker, nothing stuck', { skip, timeout: 600000 }, async (t) => {
  const pg = startPg(t);
  const dir = tempDir(t);
  const log = join(dir, 'runs.log');
  const cfg = writeConfig(dir, log);
  const start = () => startHookq({ db: pg.url, t, args: ['--config', cfg], env: { ...nodeEnv, HOME: dir } });
  const a = await start();
  const b = await start();
  const c = await start(); // receives nothing over HTTP: it only processes
  const TOTAL = 10000;
  let killed = false;
  const { acked, answers } = await sendAll([...Array(TOTAL).keys()],
    (i, attempt) => (i % 2 === 0 && attempt === 0 && !killed ? a.url : b.url), {
      onAck: (n) => {
        if (n >= TOTAL / 2 && !killed) {
          killed = true;
          a.proc.kill('SIGKILL');
        }
      },
    });
  assert.ok(killed);
  assert.equal(acked.size, TOTAL);

  const tasksWanted = TOTAL / 10;
  await waitFor(() => {
    const [row] = query(pg.url, `SELECT
      (SELECT count(*) FROM events WHERE status <> 'completed') AS open_events,
      (SELECT count(*) FROM tasks WHERE status <> 'succeeded') AS open_tasks,
      (SELECT count(*) FROM tasks) AS tasks`);
    return row.open_events === 0 && row.open_tasks === 0 && row.tasks === tasksWanted;
  }, 240000, 500).catch((e) => {
    throw new Error(`${e.message}: ${JSON.stringify(query(pg.url, "SELECT status, count(*) FROM events GROUP BY status"))} ` +
      `${JSON.stringify(query(pg.url, 'SELECT status, count(*) FROM tasks GROUP BY status'))}\n` +
      `b: ${b.logs.slice(-2000)}\nc: ${c.logs.slice(-2000)}`);
  });

  // Every acknowledged delivery is one stored event with the id it was
  // acknowledged with, completed.
  const events = query(pg.url, 'SELECT id, delivery_id, status FROM events');
  assert.equal(events.length, TOTAL);
  const byDelivery = new Map(events.map((e) => [e.delivery_id, e]));
  for (const [delivery, id] of acked) {
    assert.equal(byDelivery.get(delivery)?.id, id, `${delivery} acknowledged as event ${id}`);
    assert.equal(byDelivery.get(delivery).status, 'completed');
  }
  // One task per "@agent" comment, whoever processed it, however often.
  const perEvent = query(pg.url, 'SELECT event_id, count(*) AS n FROM tasks GROUP BY event_id');
  assert.equal(perEvent.length, tasksWanted);
  assert.ok(perEvent.every((r) => r.n === 1), 'one task per event');

  // The agents' own log: every task ran to its end on a surviving node
  // exactly once; a second run exists only for tasks the dead node had.
  const deadPid = String(a.proc.pid);
  const runs = new Map();
  for (const line of readFileSync(log, 'utf8').trim().split('\n')) {
    const [kind, task, pid, worker, at] = line.split(' ');
    const key = `${task}`;
    if (!runs.has(key)) runs.set(key, []);
    runs.get(key).push({ kind, pid, worker, at });
  }
  assert.equal(runs.size, tasksWanted);
  let rerun = 0;
  for (const [task, lines] of runs) {
    const liveEnds = lines.filter((l) => l.kind === 'end' && l.pid !== deadPid);
    const deadRuns = lines.filter((l) => l.pid === deadPid);
    if (deadRuns.length === 0)
      assert.equal(lines.length, 2, `task ${task}: ${JSON.stringify(lines)}`);
    else if (liveEnds.length)
      rerun++;
    assert.ok(liveEnds.length <= 1, `task ${task} ran twice on live nodes: ${JSON.stringify(lines)}`);
    assert.ok(liveEnds.length === 1 || deadRuns.some((l) => l.kind === 'end'), `task ${task} never ended: ${JSON.stringify(lines)}`);
  }
  // A task the dead node was running when it died was run again elsewhere.
  const interrupted = [...runs.values()].filter((l) => l.some((x) => x.pid === deadPid && x.kind === 'start') &&
    !l.some((x) => x.pid === deadPid && x.kind === 'end'));
  for (const lines of interrupted) assert.equal(lines.filter((l) => l.kind === 'end').length, 1);

  // The dead node is known as such, and who took over.
  const nodes = query(pg.url, 'SELECT id, ended_at, ended_by FROM nodes');
  const dead = nodes.find((n) => n.id.split(':')[1] === deadPid);
  assert.ok(dead && dead.ended_by && dead.ended_by !== dead.id, JSON.stringify(nodes));
  const status = await (await fetch(`${b.url}/status`, { headers: { authorization: AUTH } })).json();
  const shown = status.nodes.find((n) => n.id === dead.id);
  assert.equal(shown.state, 'dead');
  t.diagnostic(`answers ${JSON.stringify(answers)}; tasks run again after the kill: ${rerun}; interrupted: ${interrupted.length}`);
  // Nothing needed a restart: the other two nodes are still up.
  assert.equal(b.exited, null);
  assert.equal(c.exited, null);
});

test('PostgreSQL down for longer than the node timeout under load: no 2xx without a commit (503 meanwhile), no live node taken for dead, each task run once, processing resumes without restarting hookq', { skip, timeout: 300000 }, async (t) => {
  const pg = startPg(t);
  const dir = tempDir(t);
  const cfg = writeConfig(dir, join(dir, 'runs.log'));
  const start = () => startHookq({ db: pg.url, t, args: ['--config', cfg], env: { ...nodeEnv, HOME: dir } });
  const b = await start();
  const c = await start();
  const TOTAL = 3000;
  let phase = 'before';
  const outage = (async () => {
    await waitFor(() => phase === 'go', 120000, 20);
    pg.down();
    // Longer than HOOKQ_NODE_TIMEOUT (3 s): every heartbeat is late
    // when the database is back, and no node may take another for dead.
    await sleep(5000);
    pg.up();
    phase = 'after';
  })();
  const { acked, answers } = await sendAll([...Array(TOTAL).keys()], (i) => (i % 2 ? b.url : c.url), {
    concurrency: 16,
    onAck: (n) => { if (n >= 1000 && phase === 'before') phase = 'go'; },
  });
  await outage;
  assert.equal(acked.size, TOTAL);
  assert.ok((answers[503] || 0) > 0, `the outage was seen: ${JSON.stringify(answers)}`);
  assert.ok(!answers[500], `no 500s: ${JSON.stringify(answers)}`);

  await waitFor(() => {
    const [row] = query(pg.url, `SELECT (SELECT count(*) FROM events WHERE status <> 'completed') AS open_events,
      (SELECT count(*) FROM tasks WHERE status <> 'succeeded') AS open_tasks, (SELECT count(*) FROM tasks) AS tasks`);
    return row.open_events === 0 && row.open_tasks === 0 && row.tasks === TOTAL / 10;
  }, 120000, 500);
  // Every 2xx names a stored event: nothing was acknowledged uncommitted.
  const events = new Map(query(pg.url, 'SELECT id, delivery_id FROM events').map((e) => [e.delivery_id, e.id]));
  assert.equal(events.size, TOTAL);
  for (const [delivery, id] of acked) assert.equal(events.get(delivery), id, delivery);
  const nodes = query(pg.url, 'SELECT id, ended_by FROM nodes');
  assert.equal(nodes.length, 2);
  assert.ok(nodes.every((n) => n.ended_by === null), `a live node was taken for dead: ${JSON.stringify(nodes)}`);
  // (A node taken for dead and beating again is running again in the
  // table: the logs say whether it happened.)
  for (const srv of [b, c]) {
    assert.doesNotMatch(srv.logs, /node found dead|another node took its work over/, srv.logs.slice(-3000));
  }
  // Each task ran once: nobody's work was taken over.
  const runs = {};
  for (const line of readFileSync(join(dir, 'runs.log'), 'utf8').trim().split('\n')) {
    const [kind, task] = line.split(' ');
    if (kind === 'end') runs[task] = (runs[task] || 0) + 1;
  }
  assert.equal(Object.keys(runs).length, TOTAL / 10);
  assert.ok(Object.values(runs).every((n) => n === 1), JSON.stringify(Object.entries(runs).filter(([, n]) => n > 1)));
  assert.equal(b.exited, null);
  assert.equal(c.exited, null);
  t.diagnostic(`answers ${JSON.stringify(answers)}`);
});
