// The operator's commands over tasks: hookq test (a test event through a
// running server, --wait for its output), hookq tasks list|show|cancel|
// retry and hookq flows show on the database (--db) and on the server
// (--url), and hookq workers. The agent is tests/e2e/agents/cli-echo.sh.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { newDb, absentDb, noDatabase, startHookq, tempDir, waitFor, sleep, root, bin, ADMIN_PASSWORD } from './helpers.mjs';

const agent = join(root, 'tests', 'e2e', 'agents', 'cli-echo.sh');
const AUTH = 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64');

// A server with the cli-echo agent on workers harry and ron, and test
// tasks on one CI worker (so a second test task queues behind the first).
async function start(t) {
  const dir = tempDir(t);
  const cfg = join(dir, 'hookq.yaml');
  writeFileSync(cfg, JSON.stringify({
    agents: { cli: { command: [agent], timeout: '30s', max_attempts: 1, env: ['PATH', 'HOME'] } },
  }));
  const db = newDb(t);
  const srv = await startHookq({ db, args: ['--config', cfg], env: {
    HOME: dir, CONTAINER_POOL: 'harry,ron', CI_CONTAINER_POOL: 'ci1', TASK_SHUTDOWN_GRACE: '1s',
  } });
  srv.db = db;
  // SIGTERM, so the server ends its agents too (SIGKILL would leave them).
  t.after(async () => {
    const timer = setTimeout(() => srv.proc.kill('SIGKILL'), 10000);
    await srv.stop('SIGTERM');
    clearTimeout(timer);
  });
  return srv;
}

function hookq(args, { input, env = {} } = {}) {
  const r = spawnSync(bin, args, {
    input, encoding: 'utf8', timeout: 60000,
    env: { PATH: process.env.PATH, ADMIN_PASSWORD, ...env },
  });
  return { code: r.status, out: r.stdout, err: r.stderr, signal: r.signal };
}

async function api(srv, method, path, body) {
  const headers = { authorization: AUTH };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(srv.url + path, { method, headers, signal: AbortSignal.timeout(15000),
    body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

async function waitStatus(srv, id, status) {
  return waitFor(async () => {
    const r = await api(srv, 'GET', `/api/tasks/${id}`);
    return r.json.status === status ? r.json : null;
  }, 15000, 50);
}

const queuedLine = /^task (\d+) queued \(flow (flow-[0-9a-f]{12}), agent cli\)$/m;

test('hookq test --wait prints the output and exits 0; a failing agent exits 1', async (t) => {
  const srv = await start(t);
  const ok = hookq(['test', 'Fix the bug', '--wait', '--url', srv.url]);
  assert.equal(ok.code, 0, ok.err + srv.logs);
  const m = ok.out.match(queuedLine);
  assert.ok(m, ok.out);
  assert.match(ok.out, /^cli-echo task \d+ on ci1$/m, 'test tasks run on the CI pool');
  assert.match(ok.out, /^prompt: Fix the bug$/m);
  assert.match(ok.out, /cli-echo done\ntask \d+ succeeded on worker ci1\n$/);

  const bad = hookq(['test', 'FAIL now', '--wait', '--url', srv.url]);
  assert.equal(bad.code, 1, bad.out + bad.err);
  assert.match(bad.out, queuedLine);
  assert.match(bad.out, /^prompt: FAIL now$/m);
  assert.match(bad.out, /^task \d+ failed on worker ci1: .*3/m);

  // Without --wait it returns once the task exists; the prompt can come
  // from stdin; HOOKQ_URL stands for --url; --repo names the project.
  const quick = hookq(['test', '-', '--repo', 'octo/repo'], { input: 'from stdin\n', env: { HOOKQ_URL: srv.url } });
  assert.equal(quick.code, 0, quick.err);
  const id = Number(quick.out.match(queuedLine)[1]);
  const done = await waitStatus(srv, id, 'succeeded');
  assert.equal(done.prompt, 'from stdin');
  assert.equal(done.project, 'octo/repo');

  // An agent the server does not know is a usage error, named by the API.
  const unknown = hookq(['test', 'x', '--agent', 'nope', '--url', srv.url]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /^hookq test: no agent 'nope' is configured \(agents: cli\)$/m);
  // Credentials refused, or no server there: run-time failures.
  const refused = hookq(['test', 'x', '--url', srv.url], { env: { ADMIN_PASSWORD: 'wrong' } });
  assert.equal(refused.code, 1);
  assert.match(refused.err, /refused the admin credentials/);
  const down = hookq(['test', 'x', '--url', 'http://127.0.0.1:1']);
  assert.equal(down.code, 1);
  assert.match(down.err, /cannot reach 'http:\/\/127.0.0.1:1\/api\/test'/);
});

test('hookq test: output escape sequences are neutralised; --timeout gives up; Ctrl-C exits 130', async (t) => {
  const srv = await start(t);
  const esc = hookq(['test', 'ESC', '--wait', '--url', srv.url]);
  assert.equal(esc.code, 0, esc.err);
  assert.doesNotMatch(esc.out, /[\x1b\x07\x9b\u202e]/);
  // The server already made the stray byte U+FFFD (the API's JSON is UTF-8).
  assert.match(esc.out, /^title \?\]0;owned\? clear \?\[2J csi \? bidi \? bad \uFFFD end$/m);

  const slow = hookq(['test', 'SLEEP a while', '--wait', '--timeout', '1s', '--url', srv.url]);
  assert.equal(slow.code, 1);
  const id = Number(slow.out.match(queuedLine)[1]);
  assert.match(slow.err, new RegExp(`task ${id} has not ended within 1s; it keeps running`));
  assert.equal((await api(srv, 'GET', `/api/tasks/${id}`)).json.status, 'running');

  // Ctrl-C while waiting: exit 130, and the task (queued behind the
  // sleeping one on the single CI worker) is left alone.
  const child = spawn(bin, ['test', 'second', '--wait', '--url', srv.url],
    { env: { PATH: process.env.PATH, ADMIN_PASSWORD } });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((res) => child.on('exit', (code, signal) => res({ code, signal })));
  await waitFor(() => queuedLine.test(out));
  await sleep(200);
  child.kill('SIGINT');
  assert.deepEqual(await exited, { code: 130, signal: null });
  const second = Number(out.match(queuedLine)[1]);
  assert.match(err, new RegExp(`stopped waiting; task ${second} keeps running`));
  assert.equal((await api(srv, 'GET', `/api/tasks/${second}`)).json.status, 'queued');
});

test('hookq tasks list|show|cancel|retry give the same JSON over --db and --url', async (t) => {
  const srv = await start(t);
  const first = hookq(['test', 'hello tasks', '--wait', '--url', srv.url]);
  assert.equal(first.code, 0, first.err);
  const [, idText, flow] = first.out.match(queuedLine);
  const id = Number(idText);
  const db = ['--db', srv.db];
  const url = ['--url', srv.url];

  for (const args of [
    ['tasks', 'list', '--json'],
    ['tasks', 'list', '--json', '--status', 'succeeded', '--agent', 'cli', '--worker', 'ci1', '--limit', '5'],
    ['tasks', 'list', '--json', '--flow', flow],
    ['tasks', 'show', String(id), '--json'],
    ['flows', 'show', flow, '--json'],
  ]) {
    const a = hookq([...args, ...db]);
    const b = hookq([...args, ...url]);
    assert.equal(a.code, 0, `${args}: ${a.err}`);
    assert.equal(b.code, 0, `${args}: ${b.err}`);
    assert.deepEqual(JSON.parse(a.out), JSON.parse(b.out), args.join(' '));
  }
  const shown = JSON.parse(hookq(['tasks', 'show', String(id), '--json', ...db]).out);
  assert.equal(shown.status, 'succeeded');
  assert.equal(shown.prompt, 'hello tasks');
  assert.match(shown.output, /prompt: hello tasks/);
  assert.equal(shown.history.length, 1);
  const listed = JSON.parse(hookq(['tasks', 'list', '--json', '--event', String(shown.event_id), ...url]).out);
  assert.deepEqual(listed.tasks.map((x) => x.id), [id]);

  // The table and the detail, for people.
  const table = hookq(['tasks', 'list', ...db]);
  assert.match(table.out, /^ID +STATUS +AGENT +WORKER +FLOW +CREATED \(UTC\) +TITLE$/m);
  assert.match(table.out, new RegExp(`^${id} +succeeded +cli +ci1 +${flow} +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d  .*hello tasks$`, 'm'));
  const detail = hookq(['tasks', 'show', String(id), ...url]);
  assert.equal(detail.code, 0);
  assert.match(detail.out, new RegExp(`^task ${id}  succeeded\n`));
  assert.match(detail.out, /^ {2}worker +ci1$/m);
  assert.match(detail.out, /^ {2}exit code +0$/m);
  assert.match(detail.out, /\nprompt\nhello tasks\noutput\ncli-echo task \d+ on ci1\n[^]*cli-echo done\nhistory\n {2}#1 +succeeded .* ci1 +exit 0/);

  // Ended tasks cannot be cancelled; succeeded ones cannot be retried:
  // 409, the same message both ways, exit 1.
  for (const action of ['cancel', 'retry']) {
    const a = hookq(['tasks', action, String(id), ...db]);
    const b = hookq(['tasks', action, String(id), ...url]);
    assert.equal(a.code, 1);
    assert.equal(b.code, 1);
    assert.equal(a.err.replace('--db', ''), b.err.replace('--url', ''));
    assert.match(a.err, new RegExp(`^hookq tasks ${action}: `));
  }
  const missing = hookq(['tasks', 'show', '99999', ...url]);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /^hookq tasks show: no task 99999$/m);

  // A running task: cancel asks its agent to stop (202); a queued one is
  // cancelled at once, over the database too; both can be retried.
  const sleeper = hookq(['test', 'SLEEP long', ...url]);
  const running = Number(sleeper.out.match(queuedLine)[1]);
  await waitStatus(srv, running, 'running');
  const queued = Number(hookq(['test', 'behind it', ...url]).out.match(queuedLine)[1]);
  const c1 = hookq(['tasks', 'cancel', String(queued), '--json', ...db]);
  assert.equal(c1.code, 0, c1.err);
  assert.equal(JSON.parse(c1.out).status, 'cancelled');
  const c2 = hookq(['tasks', 'cancel', String(running), ...url]);
  assert.equal(c2.code, 0, c2.err);
  assert.equal(c2.out, `task ${running}: cancel requested; its agent is being stopped\n`);
  await waitStatus(srv, running, 'cancelled');
  const r1 = hookq(['tasks', 'retry', String(queued), '--json', ...url]);
  assert.equal(r1.code, 0, r1.err);
  // The server wakes its workers before it reads the task back, so one
  // may have claimed it already.
  assert.match(JSON.parse(r1.out).status, /^(queued|running|succeeded)$/);
  await waitStatus(srv, queued, 'succeeded');
  const r2 = hookq(['tasks', 'retry', String(running), ...db]);
  assert.equal(r2.code, 0, r2.err);
  assert.equal(r2.out, `task ${running} queued again\n`);
  const c3 = hookq(['tasks', 'cancel', String(running), ...url]);
  assert.equal(c3.code, 0, c3.err);
  assert.match(c3.out, new RegExp(`^task ${running}(: cancel requested; its agent is being stopped| cancelled)\n$`));
});

test('hookq flows show prints the tree; hookq workers lists the pool', async (t) => {
  const srv = await start(t);
  const first = hookq(['test', 'root task', '--repo', 'octo/repo', '--wait', '--url', srv.url]);
  assert.equal(first.code, 0, first.err);
  const [, rootText, flow] = first.out.match(queuedLine);
  const rootId = Number(rootText);
  const child = await api(srv, 'POST', '/api/tasks', { prompt: 'child task', title: 'the child', parent_task_id: rootId });
  assert.equal(child.status, 201);
  const grandchild = await api(srv, 'POST', '/api/tasks', { prompt: 'grandchild', title: 'the grandchild', parent_task_id: child.json.id });
  await waitStatus(srv, grandchild.json.id, 'succeeded');
  await waitStatus(srv, child.json.id, 'succeeded');

  for (const where of [['--url', srv.url], ['--db', srv.db]]) {
    const r = hookq(['flows', 'show', flow, ...where]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`^flow ${flow}  test:octo/repo\n`));
    assert.match(r.out, /^conversation conv-[0-9a-f]+ \(current\)  started /m);
    assert.match(r.out, /^ {2}3 tasks: 3 succeeded, 0 failed, 0 cancelled; \d+ ms run$/m);
    const tree = r.out.split('\n').filter((l) => /^ +#/.test(l));
    assert.deepEqual(tree, [
      `  #${rootId} succeeded cli: root task (worker ci1)`,
      `    #${child.json.id} succeeded the child (worker ci1)`,
      `      #${grandchild.json.id} succeeded the grandchild (worker ci1)`,
    ]);
  }
  const none = hookq(['flows', 'show', 'flow-000000000000', '--url', srv.url]);
  assert.equal(none.code, 1);
  assert.match(none.err, /^hookq flows show: no flow 'flow-000000000000'$/m);

  // Workers: the main pool and the CI worker, one of them busy.
  const busy = Number(hookq(['test', 'SLEEP busy', '--url', srv.url]).out.match(queuedLine)[1]);
  await waitStatus(srv, busy, 'running');
  const w = hookq(['workers', '--url', srv.url]);
  assert.equal(w.code, 0, w.err);
  assert.match(w.out, /^NAME +POOLS +STATE +TASK +AGENT +SINCE \(UTC\) +CLAIMS$/m);
  assert.match(w.out, /^harry +main +idle +- +- +- +-$/m);
  assert.match(w.out, /^ron +main +idle +/m);
  assert.match(w.out, new RegExp(`^ci1 +ci +running +${busy} +cli +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d  octo/repo \\(\\d+ tasks\\)$`, 'm'));
  const wj = JSON.parse(hookq(['workers', '--json', '--url', srv.url]).out);
  assert.deepEqual(wj.workers.map((x) => [x.name, x.pools, x.state]),
    [['harry', ['main'], 'idle'], ['ron', ['main'], 'idle'], ['ci1', ['ci'], 'running']]);
  const offline = hookq(['workers', '--db', srv.db]);
  assert.equal(offline.code, 1);
  assert.match(offline.err, /^hookq workers: workers run in a server: ask it over HTTP \(--url\)$/m);
  hookq(['tasks', 'cancel', String(busy), '--url', srv.url]);
});

test('bad usage exits 2 with a message', async (t) => {
  const db = absentDb(t);
  const srv = await start(t);
  for (const [args, msg] of [
    [['tasks'], /^hookq tasks: say list, show, cancel or retry$/m],
    [['tasks', 'frob'], /say list, show, cancel or retry/],
    [['tasks', 'show'], /^hookq tasks show: missing task id$/m],
    [['tasks', 'show', 'abc'], /^hookq tasks show: not a task id: 'abc'$/m],
    [['tasks', 'cancel', '1', '2'], /^hookq tasks cancel: unexpected argument$/m],
    [['tasks', 'show', '1', '--status', 'queued'], /^hookq tasks show: --status does not apply here$/m],
    [['tasks', 'list', '--db', db, '--url', srv.url], /--db and --url exclude each other/],
    [['tasks', 'list', '--bogus'], /unrecognized option/],
    [['tasks', 'list', '--status', 'finished', '--url', srv.url], /^hookq tasks list: status must be queued, running, succeeded, failed, timed_out, cancelled or dead_letter, not 'finished'$/m],
    [['tasks', 'list', '--limit', '0', '--db', srv.db], /limit must be a whole number from 1 to 1000, not '0'/],
    [['flows'], /^hookq flows: say show$/m],
    [['flows', 'show'], /missing flow id/],
    [['flows', 'show', '../etc'], /^hookq flows show: not a flow id \(such as flow-0123456789ab\): '\.\.\/etc'$/m],
    [['workers', 'extra'], /^hookq workers: unexpected argument$/m],
    [['test'], /^hookq test: missing prompt/m],
    [['test', 'a', 'b'], /unexpected argument \(quote the prompt\)/],
    [['test', 'x', '--timeout', 'forever'], /--timeout must be a duration/],
    [['test', '-'], /^hookq test: the prompt is empty$/m],
    [['test', 'x', '--repo', 'not a repo', '--url', srv.url], /'repository' must look like owner\/name/],
  ]) {
    const r = hookq(args, { input: '' });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.out}${r.err}`);
    assert.match(r.err, msg, args.join(' '));
  }
  for (const cmd of ['tasks', 'flows', 'workers', 'test']) {
    const h = hookq([cmd, '--help']);
    assert.equal(h.code, 0);
    assert.match(h.out, new RegExp(`^Usage: hookq ${cmd}`));
    assert.match(hookq(['help']).out, new RegExp(`^  ${cmd} +\\S`, 'm'));
  }
  // --db never creates a database.
  const nodb = hookq(['tasks', 'list', '--db', db]);
  assert.equal(nodb.code, 1);
  assert.match(nodb.err, noDatabase);
});
