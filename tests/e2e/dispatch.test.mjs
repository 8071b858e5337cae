// Dispatch: tasks run on the named worker pool by the real binary, with
// agents that are small POSIX sh scripts (tests/e2e/agents/d-*.sh). Each
// test starts its own hookq with an `agents:` section and checks what the
// agents saw (their logs, pids, stdin, environment) against the admin API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync, readFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { newDb, startHookq, deliver, tempDir, waitFor, sleep, root, bin, SECRET, ADMIN_PASSWORD } from './helpers.mjs';

const examples = createRequire(import.meta.url)('@octokit/webhooks-examples');
const sample = (name, action) => structuredClone(examples.find((e) => e.name === name).examples
  .find((p) => p.action === action));

const agentsDir = join(root, 'tests', 'e2e', 'agents');
const script = (name) => join(agentsDir, name);
const AUTH = 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64');
const ENDED = new Set(['succeeded', 'failed', 'timed_out', 'cancelled', 'dead_letter']);

// A hookq.yaml (JSON is YAML) with these agents and routes.
function writeConfig(dir, agents, routes, name = 'hookq.yaml') {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(routes ? { agents, routes } : { agents }, null, 1));
  return file;
}

async function start(t, dir, agents, { routes, env = {}, db = newDb(t) } = {}) {
  const cfg = writeConfig(dir, agents, routes);
  const srv = await startHookq({ db, t, args: ['--config', cfg], env: { HOME: dir, ...env } });
  srv.db = db;
  srv.cfg = cfg;
  return srv;
}

async function api(srv, method, path, body, headers = { authorization: AUTH }) {
  const h = { ...headers };
  if (body !== undefined) h['content-type'] = 'application/json';
  const res = await fetch(srv.url + path, { method, headers: h, signal: AbortSignal.timeout(15000),
    body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text };
}

async function createTask(srv, body) {
  const r = await api(srv, 'POST', '/api/tasks', body);
  assert.equal(r.status, 201, `create task ${JSON.stringify(body)}: ${r.text}`);
  return r.json;
}

async function getTask(srv, id) {
  const r = await api(srv, 'GET', `/api/tasks/${id}`);
  assert.equal(r.status, 200, r.text);
  return r.json;
}

async function waitStatus(srv, id, statuses, timeoutMs = 15000) {
  const want = new Set([statuses].flat());
  let last;
  try {
    return await waitFor(async () => {
      last = await getTask(srv, id);
      return want.has(last.status) ? last : null;
    }, timeoutMs, 50);
  } catch (e) {
    throw new Error(`task ${id} not ${[...want]} within ${timeoutMs} ms: ${JSON.stringify(last)}\n${srv.logs.slice(-3000)}`);
  }
}

const waitEnded = (srv, id, timeoutMs) => waitStatus(srv, id, [...ENDED], timeoutMs);

// Alive = exists and is not a zombie (an orphan's zombie waits for a reaper).
function alive(pid) {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return e.code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function gone(pid, ms = 5000) {
  const deadline = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

const readPid = (file) => Number(readFileSync(file, 'utf8').trim());
const flowOf = (ext) => 'flow-' + createHash('sha256').update(ext).digest('hex').slice(0, 12);

test('30 tasks on 3 workers: each worker runs one task at a time, all three work, all succeed', async (t) => {
  const dir = tempDir(t);
  const log = join(dir, 'runs.log');
  writeFileSync(log, '');
  const srv = await start(t, dir, { rec: { command: [script('d-record.sh')], timeout: '30s',
    set_env: { D_LOG: log } } }, { env: { CONTAINER_POOL: 'w1,w2,w3', POOL_CLAIM_TTL: '0' } });
  const ids = [];
  for (let i = 0; i < 30; i++) ids.push((await createTask(srv, { prompt: `task number ${i}`, agent: 'rec' })).id);
  assert.equal(new Set(ids).size, 30);
  const done = [];
  for (const id of ids) done.push(await waitEnded(srv, id, 40000));
  assert.deepEqual(done.map((d) => d.status), ids.map(() => 'succeeded'), JSON.stringify(done.filter((d) => d.status !== 'succeeded')));

  const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => l.split(' '));
  const runs = new Map();
  for (const [what, worker, task, ns] of lines) {
    assert.ok(['start', 'end'].includes(what) && /^\d+$/.test(ns), `log line: ${what} ${worker} ${task} ${ns}`);
    const r = runs.get(task) || {};
    assert.equal(r[what], undefined, `task ${task} logged '${what}' twice`);
    r[what] = BigInt(ns);
    r.worker = r.worker ?? worker;
    assert.equal(r.worker, worker, `task ${task} started and ended on different workers`);
    runs.set(task, r);
  }
  assert.equal(runs.size, 30, 'every task ran once');
  for (const d of done) {
    const r = runs.get(String(d.id));
    assert.ok(r && r.start && r.end, `task ${d.id} started and ended`);
    assert.equal(d.worker, r.worker, 'the API names the worker the agent ran on');
  }
  const byWorker = new Map();
  for (const [task, r] of runs) byWorker.set(r.worker, [...(byWorker.get(r.worker) || []), { task, ...r }]);
  assert.deepEqual([...byWorker.keys()].sort(), ['w1', 'w2', 'w3'], 'all three workers used');
  for (const [worker, list] of byWorker) {
    list.sort((a, b) => (a.start < b.start ? -1 : 1));
    for (let i = 1; i < list.length; i++) {
      assert.ok(list[i].start >= list[i - 1].end,
        `worker ${worker}: task ${list[i].task} started before task ${list[i - 1].task} ended`);
    }
  }
});

test('a timeout ends the agent\'s whole process group, grandchildren included', async (t) => {
  const dir = tempDir(t);
  const srv = await start(t, dir, { gc: { command: [script('d-grandchild.sh')], timeout: '1s', kill_grace: '1s',
    set_env: { D_DIR: dir } } });
  const task = await createTask(srv, { prompt: 'hang', agent: 'gc' });
  const gcFile = join(dir, `grandchild-${task.id}`);
  await waitFor(() => existsSync(gcFile) && readFileSync(gcFile, 'utf8').trim(), 10000);
  const grandchild = readPid(gcFile);
  const agent = readPid(join(dir, `agent-${task.id}`));
  assert.ok(alive(grandchild), 'the grandchild runs while the agent does');
  const ended = await waitEnded(srv, task.id, 15000);
  assert.equal(ended.status, 'timed_out', JSON.stringify(ended));
  assert.ok(await gone(agent), `agent ${agent} still alive after the timeout`);
  assert.ok(await gone(grandchild), `grandchild ${grandchild} ('sleep 60 &') still alive after the timeout`);
});

test('cancelling a running task answers 202, ends it as cancelled and ends its processes', async (t) => {
  const dir = tempDir(t);
  const srv = await start(t, dir, { gc: { command: [script('d-grandchild.sh')], timeout: '60s', kill_grace: '1s',
    set_env: { D_DIR: dir } } });
  const task = await createTask(srv, { prompt: 'hang until cancelled', agent: 'gc' });
  const gcFile = join(dir, `grandchild-${task.id}`);
  await waitFor(() => existsSync(gcFile) && readFileSync(gcFile, 'utf8').trim(), 10000);
  const grandchild = readPid(gcFile);
  const agent = readPid(join(dir, `agent-${task.id}`));
  await waitStatus(srv, task.id, 'running', 5000);
  const c = await api(srv, 'POST', `/api/tasks/${task.id}/cancel`);
  assert.equal(c.status, 202, c.text);
  const ended = await waitEnded(srv, task.id, 10000);
  assert.equal(ended.status, 'cancelled', JSON.stringify(ended));
  assert.ok(await gone(agent), `agent ${agent} still alive after cancel`);
  assert.ok(await gone(grandchild), `grandchild ${grandchild} still alive after cancel`);
  const again = await api(srv, 'POST', `/api/tasks/${task.id}/cancel`);
  assert.notEqual(again.status, 202, 'an ended task is not "being cancelled"');
});

test('claims: each repository\'s tasks keep going to the worker that ran it first', async (t) => {
  const dir = tempDir(t);
  const log = join(dir, 'runs.log');
  writeFileSync(log, '');
  const srv = await start(t, dir, { rec: { command: [script('d-record.sh')], set_env: { D_LOG: log } } },
    { env: { CONTAINER_POOL: 'w1,w2' } });
  const workers = { 'o/a': [], 'o/b': [] };
  for (let i = 0; i < 8; i++) {
    const repository = i % 2 ? 'o/b' : 'o/a';
    const task = await createTask(srv, { prompt: `work ${i} on ${repository}`, agent: 'rec', repository });
    const ended = await waitEnded(srv, task.id, 10000);
    assert.equal(ended.status, 'succeeded', JSON.stringify(ended));
    assert.equal(ended.project, repository);
    workers[repository].push(ended.worker);
  }
  assert.equal(new Set(workers['o/a']).size, 1, `o/a ran on ${workers['o/a']}`);
  assert.equal(new Set(workers['o/b']).size, 1, `o/b ran on ${workers['o/b']}`);
  // Least-loaded counts claims: the second project goes to the other
  // worker (so this test also fails when a pool without claims always
  // picks the first idle worker).
  assert.notEqual(workers['o/a'][0], workers['o/b'][0], 'the two projects share one worker');
  const listing = await api(srv, 'GET', '/api/workers');
  assert.equal(listing.status, 200, listing.text);
  const held = Object.fromEntries(listing.json.workers.map((w) => [w.name, w.claims.map((c) => c.project)]));
  assert.deepEqual(held, { [workers['o/a'][0]]: ['o/a'], [workers['o/b'][0]]: ['o/b'] }, listing.text);
});

test('shell metacharacters in a comment reach the agent as prompt text on stdin and run nothing', async (t) => {
  const dir = tempDir(t);
  const x = join(dir, 'X'), y = join(dir, 'Y'), z = join(dir, 'Z');
  mkdirSync(z);
  writeFileSync(join(z, 'keep'), 'still here');
  const evil = `$(touch ${x}) \`touch ${y}\`; rm -rf ${z}`;
  const srv = await start(t, dir, {
    keep: { command: [script('d-stdin.sh'), '{{repository}}', '{{task_id}}'], set_env: { D_DIR: dir } },
  }, { routes: [{ name: 'github', provider: 'github', command_prefix: '@agent', commands: [
    { name: 'fix', agent: 'keep', prompt: 'Fix {{issue.title}} as asked: {{hookq.request}} ({{comment.body}})' }] }] });
  const comment = sample('issue_comment', 'created');
  comment.comment.body = `@agent fix ${evil}`;
  comment.issue.title = evil;
  const r = await deliver(srv.url, { event: 'issue_comment', payload: comment });
  assert.equal(r.status, 200, r.text);
  const task = await waitFor(async () => (await api(srv, 'GET', `/api/tasks?event_id=${r.json.event_id}`)).json?.tasks?.[0], 10000);
  const ended = await waitEnded(srv, task.id, 10000);
  assert.equal(ended.status, 'succeeded', JSON.stringify(ended));
  const expected = `Fix ${evil} as asked: ${evil} (@agent fix ${evil})`;
  assert.equal(ended.prompt, expected, 'the stored prompt is the rendered template');
  assert.equal(readFileSync(join(dir, `prompt-${task.id}`), 'utf8'), expected, 'stdin carries exactly the prompt');
  assert.ok(!existsSync(x), '$(touch X) was run');
  assert.ok(!existsSync(y), '`touch Y` was run');
  assert.ok(existsSync(join(z, 'keep')), 'rm -rf Z was run');
});

test('kill -9 with two tasks running: after a restart they run again, succeed, and the orphans are ended', async (t) => {
  const dir = tempDir(t);
  const agents = { att: { command: [script('d-attempt.sh')], max_attempts: 3, retry_backoff: '1s',
    retry_backoff_max: '2s', timeout: '60s', kill_grace: '1s', set_env: { D_DIR: dir } } };
  const env = { CONTAINER_POOL: 'w1,w2', TASK_LEASE: '3s' };
  const first = await start(t, dir, agents, { env });
  const a = await createTask(first, { prompt: 'one', agent: 'att' });
  const b = await createTask(first, { prompt: 'two', agent: 'att' });
  const pidFiles = [a, b].map((x) => join(dir, `pid-${x.id}-1`));
  await waitFor(() => pidFiles.every((f) => existsSync(f) && readFileSync(f, 'utf8').trim()), 10000);
  await waitStatus(first, a.id, 'running', 5000);
  await waitStatus(first, b.id, 'running', 5000);
  const orphans = pidFiles.map(readPid);
  await first.stop('SIGKILL');
  assert.ok(orphans.every(alive), 'the agents outlive a kill -9 of hookq (they are in their own groups)');

  const second = await start(t, dir, agents, { env, db: first.db });
  const started = Date.now();
  for (const x of [a, b]) {
    const ended = await waitEnded(second, x.id, 20000);
    assert.equal(ended.status, 'succeeded', JSON.stringify(ended));
    assert.ok(ended.attempts_total >= 2, `task ${x.id} ran again: ${JSON.stringify(ended)}`);
  }
  assert.ok(Date.now() - started < 20000, 'both recovered within 20 s');
  for (const pid of orphans) assert.ok(await gone(pid), `orphaned agent ${pid} of the killed hookq still runs`);
  const running = await api(second, 'GET', '/api/tasks?status=running');
  assert.deepEqual(running.json.tasks, []);
});

test('flows and conversations: same issue, same flow; "start fresh" opens a new conversation', async (t) => {
  const dir = tempDir(t);
  const srv = await start(t, dir, { keep: { command: [script('d-stdin.sh')], set_env: { D_DIR: dir } } },
    { routes: [{ name: 'github', provider: 'github', command_prefix: '@agent', commands: [
      { name: 'fix', agent: 'keep', prompt: 'Fix #{{issue.number}}: {{hookq.request}}' }] }] });
  const comment = sample('issue_comment', 'created');
  const ext = `github:${comment.repository.full_name}#${comment.issue.number}`;
  const tasks = [];
  for (const body of ['@agent fix the first thing', '@agent fix the second thing', '@agent fix it, start fresh please']) {
    comment.comment.body = body;
    comment.comment.id += 1;
    const r = await deliver(srv.url, { event: 'issue_comment', payload: comment });
    assert.equal(r.status, 200, r.text);
    const task = await waitFor(async () => (await api(srv, 'GET', `/api/tasks?event_id=${r.json.event_id}`)).json?.tasks?.[0], 10000);
    const ended = await waitEnded(srv, task.id, 10000);
    assert.equal(ended.status, 'succeeded', JSON.stringify(ended));
    tasks.push(ended);
  }
  const flow = flowOf(ext);
  assert.deepEqual(tasks.map((x) => x.flow_id), [flow, flow, flow], 'one flow per issue');
  assert.equal(tasks[0].external_id, ext);
  assert.equal(tasks[1].conversation_id, tasks[0].conversation_id, 'a second comment continues the conversation');
  assert.notEqual(tasks[2].conversation_id, tasks[0].conversation_id, '"start fresh" opens a new one');
  const f = await api(srv, 'GET', `/api/flows/${flow}`);
  assert.equal(f.status, 200, f.text);
  assert.equal(f.json.flow_id, flow);
  assert.equal(f.json.conversation_id, tasks[2].conversation_id, 'the newest conversation is current');
  assert.equal(f.json.conversations.length, 2);
  const [c1, c2] = f.json.conversations;
  assert.equal(c1.id, tasks[0].conversation_id);
  assert.equal(c2.id, tasks[2].conversation_id);
  assert.deepEqual(c1.tasks.map((x) => x.id), [tasks[0].id, tasks[1].id]);
  assert.deepEqual(c2.tasks.map((x) => x.id), [tasks[2].id]);
  assert.deepEqual({ ...c1.metrics, run_ms: 0 }, { tasks: 2, succeeded: 2, failed: 0, cancelled: 0, run_ms: 0 });
  assert.deepEqual({ ...c2.metrics, run_ms: 0 }, { tasks: 1, succeeded: 1, failed: 0, cancelled: 0, run_ms: 0 });
  assert.ok(c1.metrics.run_ms >= 0 && c1.metrics.run_ms < 60000);
  assert.deepEqual([c1.current, c2.current], [false, true]);
});

test('follow-up tasks: a task\'s token creates its children and nothing else, and dies with the task', async (t) => {
  assert.ok(spawnSync('curl', ['--version']).status === 0, 'curl is needed by d-followup.sh');
  const dir = tempDir(t);
  const srv = await start(t, dir, { fu: { command: [script('d-followup.sh')], set_env: { D_DIR: dir } } });
  const parent = await createTask(srv, { prompt: 'parent', agent: 'fu', external_id: 'jira:PROJ-7' });
  const p = await waitEnded(srv, parent.id, 15000);
  assert.equal(p.status, 'succeeded', JSON.stringify(p));
  assert.equal(readFileSync(join(dir, 'create.code'), 'utf8'), '201', readFileSync(join(dir, 'create.json'), 'utf8'));
  const child = JSON.parse(readFileSync(join(dir, 'create.json'), 'utf8'));
  assert.equal(child.parent_task_id, parent.id);
  assert.equal(child.flow_id, flowOf('jira:PROJ-7'));
  assert.equal(child.flow_id, p.flow_id, 'same flow');
  assert.equal(child.conversation_id, p.conversation_id, 'same conversation');
  assert.equal(readFileSync(join(dir, 'list.code'), 'utf8'), '403', 'a task token does not read the task list');
  assert.equal(readFileSync(join(dir, 'madeup.code'), 'utf8'), '401', 'a made-up token is refused');
  const c = await waitEnded(srv, child.id, 15000);
  assert.equal(c.status, 'succeeded', JSON.stringify(c));
  const token = readFileSync(join(dir, 'token'), 'utf8');
  assert.ok(token.length >= 16, 'the agent had a token');
  const late = await api(srv, 'POST', '/api/tasks', { prompt: 'child' }, { authorization: `Bearer ${token}` });
  assert.equal(late.status, 401, `an ended task's token: ${late.text}`);
  const tree = await api(srv, 'GET', `/api/flows/${p.flow_id}`);
  assert.deepEqual(tree.json.conversations[0].tasks[0].children.map((x) => x.id), [child.id], 'the child under its parent');
});

test('the agent\'s environment is its allow-list, its set_env and HOOKQ_* only', async (t) => {
  const dir = tempDir(t);
  const srv = await start(t, dir, { env: { command: [script('d-env.sh')], env: ['PATH', 'HOME', 'NOT_SET_ANYWHERE'],
    set_env: { D_FIXED: 'fixed value' } } }, { env: { SECRET_THING: 'do-not-leak-4711', LANG: 'C.UTF-8' } });
  const task = await createTask(srv, { prompt: 'print env', agent: 'env', repository: 'o/r' });
  const ended = await waitEnded(srv, task.id, 10000);
  assert.equal(ended.status, 'succeeded', JSON.stringify(ended));
  const vars = Object.fromEntries(ended.output.split('\n').filter(Boolean).map((kv) => {
    const i = kv.indexOf('=');
    return [kv.slice(0, i), kv.slice(i + 1)];
  }));
  const names = Object.keys(vars);
  const extra = names.filter((n) => !['PATH', 'HOME', 'D_FIXED'].includes(n) && !n.startsWith('HOOKQ_'));
  assert.deepEqual(extra, [], `variables outside the allow-list: ${extra}`);
  assert.ok(!ended.output.includes('do-not-leak-4711'));
  assert.ok(!ended.output.includes(ADMIN_PASSWORD) && !ended.output.includes(SECRET));
  assert.equal(vars.PATH, process.env.PATH);
  assert.equal(vars.HOME, dir);
  assert.equal(vars.D_FIXED, 'fixed value');
  for (const n of ['HOOKQ_TASK_ID', 'HOOKQ_FLOW_ID', 'HOOKQ_CONVERSATION_ID', 'HOOKQ_REPO', 'HOOKQ_WORKER',
    'HOOKQ_ATTEMPT', 'HOOKQ_EVENT_FILE', 'HOOKQ_TASK_TOKEN', 'HOOKQ_API_URL']) assert.ok(n in vars, `${n} is set`);
  assert.equal(vars.HOOKQ_TASK_ID, String(task.id));
  assert.equal(vars.HOOKQ_FLOW_ID, ended.flow_id);
  assert.equal(vars.HOOKQ_CONVERSATION_ID, ended.conversation_id);
  assert.equal(vars.HOOKQ_REPO, 'o/r');
  assert.equal(vars.HOOKQ_WORKER, 'local');
  assert.equal(vars.HOOKQ_ATTEMPT, '1');
  assert.equal(vars.HOOKQ_API_URL, srv.url);
});

test('output is capped to output_max, keeping the tail, and its full size is counted', async (t) => {
  const dir = tempDir(t);
  const srv = await start(t, dir, { flood: { command: [script('d-flood.sh')], output_max: '4KiB' } });
  const task = await createTask(srv, { prompt: 'flood', agent: 'flood' });
  const ended = await waitEnded(srv, task.id, 20000);
  assert.equal(ended.status, 'succeeded', JSON.stringify({ ...ended, output: ended.output?.slice(0, 200) }));
  assert.equal(ended.output_bytes, 5000000);
  const out = ended.output;
  assert.ok(Buffer.byteLength(out) <= 4096, `stored output is ${Buffer.byteLength(out)} bytes`);
  assert.ok(out.length >= 1024, `the tail kept is only ${out.length} bytes`);
  assert.ok(out.endsWith('000499999\n000500000\n'), `not the tail: ...${out.slice(-40)}`);
  const full = spawnSync('seq', ['-f', '%09g', '1', '500000'], { encoding: 'utf8', maxBuffer: 8e6 }).stdout;
  assert.ok(full.endsWith(out), 'the stored text is a suffix of what the agent wrote');
});

test('retries: three attempts by the agent\'s policy, then failed; an operator retry runs it again', async (t) => {
  const dir = tempDir(t);
  const srv = await start(t, dir, { flaky: { command: [script('d-flaky.sh')], max_attempts: 3, retry_backoff: '1s',
    retry_backoff_max: '2s', set_env: { D_DIR: dir } } });
  const task = await createTask(srv, { prompt: 'try', agent: 'flaky' });
  assert.equal(task.max_attempts, 3);
  const failed = await waitEnded(srv, task.id, 20000);
  assert.equal(failed.status, 'failed', JSON.stringify(failed));
  assert.equal(failed.history.length, 3, JSON.stringify(failed.history));
  assert.deepEqual(failed.history.map((h) => h.attempt), [1, 2, 3]);
  assert.ok(failed.history.every((h) => h.exit_code === 3), JSON.stringify(failed.history));
  assert.equal(failed.exit_code, 3);
  assert.equal(readFileSync(join(dir, `runs-${task.id}`), 'utf8').trim().split('\n').length, 3, 'the agent ran 3 times');
  // Backoff with jitter: the n-th wait is in [d/2, d], d = 1s doubling up to 2s.
  const gaps = failed.history.slice(1).map((h, i) => Date.parse(h.started_at) - Date.parse(failed.history[i].finished_at));
  assert.ok(gaps.length === 2 && gaps[0] >= 450 && gaps[1] >= 950, `backoff between attempts: ${gaps} ms`);

  writeFileSync(join(dir, 'ok'), '');
  const r = await api(srv, 'POST', `/api/tasks/${task.id}/retry`);
  assert.equal(r.status, 200, r.text);
  assert.ok(['queued', 'running', 'succeeded'].includes(r.json.status), r.text);
  const again = await waitEnded(srv, task.id, 15000);
  assert.equal(again.status, 'succeeded', JSON.stringify(again));
  assert.equal(readFileSync(join(dir, `runs-${task.id}`), 'utf8').trim().split('\n').length, 4, 'it ran once more');
  assert.equal(again.history.length, 4);
});

test('task files mirror a task: pending or in_progress while it runs, completed at the end', async (t) => {
  const dir = tempDir(t);
  const files = join(dir, 'tasks');
  const srv = await start(t, dir, { slow: { command: [script('d-slow.sh')] } },
    { env: { CLAUDE_TASKS_SYNC: 'true', CLAUDE_TASKS_DIR: files } });
  const task = await createTask(srv, { prompt: 'mirror me', agent: 'slow', external_id: 'github:o/r#5' });
  const file = join(files, `hookq-task-${task.id}.json`);
  const seen = [];
  let doc;
  await waitFor(() => {
    if (!existsSync(file)) return false;
    try { doc = JSON.parse(readFileSync(file, 'utf8')); } catch { return false; }
    if (seen.at(-1) !== doc.status) seen.push(doc.status);
    return doc.status === 'completed';
  }, 15000, 20);
  assert.ok(seen.includes('in_progress'), `statuses seen: ${seen}`);
  assert.ok(seen.every((s) => ['pending', 'in_progress', 'completed'].includes(s)), `statuses seen: ${seen}`);
  assert.equal(doc.metadata.flow_id, flowOf('github:o/r#5'));
  assert.equal((await getTask(srv, task.id)).status, 'succeeded');
  assert.deepEqual(readdirSync(files).filter((n) => !n.startsWith('.')), [`hookq-task-${task.id}.json`]);
});

test('an unknown agent is refused with a 400 naming it: API tasks, test events, dynamic commands, static routes', async (t) => {
  const dir = tempDir(t);
  const srv = await start(t, dir, { known: { command: [script('d-stdin.sh')], set_env: { D_DIR: dir } } });
  const r = await api(srv, 'POST', '/api/tasks', { prompt: 'x', agent: 'ghost-agent' });
  assert.equal(r.status, 400, r.text);
  assert.match(r.json.message, /ghost-agent/);
  const te = await api(srv, 'POST', '/api/test', { prompt: 'x', agent: 'ghost-agent' });
  assert.equal(te.status, 400, te.text);
  assert.match(te.json.message, /ghost-agent/);
  const wh = await api(srv, 'POST', '/api/webhooks', { provider: 'github', name: 'dyn', secret: 'dyn-secret-123' });
  assert.equal(wh.status, 201, wh.text);
  const cmd = await api(srv, 'POST', `/api/webhooks/${wh.json.id}/commands`,
    { trigger: 'issue_comment.created', action: 'create_task', agent: 'phantom-agent', template: 'Do {{comment.body}}' });
  assert.equal(cmd.status, 400, `a dynamic command naming an agent that is not configured: ${cmd.text}`);
  assert.match(cmd.json.message, /phantom-agent/);

  const cfg = writeConfig(dir, { known: { command: [script('d-stdin.sh')] } }, [{ name: 'github', provider: 'github',
    command_prefix: '@agent', commands: [{ name: 'fix', agent: 'nowhere-agent', prompt: 'x' }] }], 'bad.yaml');
  const refused = spawnSync(bin, ['serve', '--config', cfg, '--db', join(dir, 'x.db'), '--port', '0'],
    { env: { PATH: process.env.PATH, GITHUB_WEBHOOK_SECRET: SECRET, ADMIN_PASSWORD }, encoding: 'utf8', timeout: 15000 });
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /nowhere-agent/);
});
