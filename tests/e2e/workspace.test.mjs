// Workspaces: an agent with `workspace: true` starts in its worker's
// checkout of the task's repository at the event's ref, cloned from a real
// git remote (a bare repository served as file://), and the token given
// for git never shows in a log or a task.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync, mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { newDb, startHookq, deliver, tempDir, waitFor, root, ADMIN_PASSWORD } from './helpers.mjs';

const examples = createRequire(import.meta.url)('@octokit/webhooks-examples');
const AUTH = 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64');
const TOKEN = 'tok-SECRET-e2e-5150';

function git(cwd, ...args) {
  return execFileSync('git', args, {
    cwd, encoding: 'utf8',
    env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1',
      GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@e', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@e' },
  }).trim();
}

// A remote o/r.git with README "main" on main and "feature" on a branch.
function makeRemote(dir) {
  const srv = join(dir, 'srv', 'o');
  mkdirSync(srv, { recursive: true });
  git(srv, 'init', '-q', '--bare', '-b', 'main', 'r.git');
  const work = join(dir, 'work');
  git(dir, 'clone', '-q', join(srv, 'r.git'), work);
  git(work, 'checkout', '-q', '-b', 'main');
  writeFileSync(join(work, 'README'), 'main\n');
  git(work, 'add', 'README');
  git(work, 'commit', '-q', '-m', 'main');
  git(work, 'push', '-q', 'origin', 'main');
  git(work, 'checkout', '-q', '-b', 'feature');
  writeFileSync(join(work, 'README'), 'feature\n');
  git(work, 'commit', '-q', '-am', 'feature');
  git(work, 'push', '-q', 'origin', 'feature');
  return { base: `file://${join(dir, 'srv')}`, main: git(work, 'rev-parse', 'main'), feature: git(work, 'rev-parse', 'feature') };
}

async function api(srv, method, path, body) {
  const res = await fetch(srv.url + path, { method, signal: AbortSignal.timeout(15000),
    headers: { authorization: AUTH, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined });
  return { status: res.status, json: await res.json().catch(() => null) };
}

async function ended(srv, id) {
  return waitFor(async () => {
    const r = await api(srv, 'GET', `/api/tasks/${id}`);
    return ['succeeded', 'failed', 'timed_out', 'cancelled', 'dead_letter'].includes(r.json?.status) ? r.json : null;
  }, 30000, 50);
}

const fields = (output) => Object.fromEntries(output.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));

test('an agent with a workspace starts in its worker\'s checkout at the event\'s ref; the token stays out of logs', async (t) => {
  const dir = tempDir(t);
  const remote = makeRemote(dir);
  const ws = join(dir, 'ws');
  const cfg = join(dir, 'hookq.yaml');
  writeFileSync(cfg, JSON.stringify({
    agents: { ws: { command: [join(root, 'tests', 'e2e', 'agents', 'w-checkout.sh')], workspace: true,
      env: ['PATH', 'HOME'], timeout: '60s' } },
    routes: [{ name: 'github', provider: 'github', triggers: [
      { on: 'pull_request.opened', agent: 'ws', prompt: 'Review {{pull_request.title}}' }] }],
  }));
  const srv = await startHookq({ t, db: newDb(t), args: ['--config', cfg], env: {
    HOME: dir, CONTAINER_POOL: 'w1', WORKSPACE_ROOT: ws, WORKSPACE_GIT_BASE: remote.base,
    GITHUB_TOKEN: TOKEN, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' } });

  // A pull request whose head is the feature branch's commit.
  const pr = structuredClone(examples.find((e) => e.name === 'pull_request').examples.find((p) => p.action === 'opened'));
  pr.repository.full_name = 'o/r';
  pr.repository.default_branch = 'main';
  pr.pull_request.head.sha = remote.feature;
  const r = await deliver(srv.url, { event: 'pull_request', payload: pr });
  assert.equal(r.status, 200);
  const task = await waitFor(async () => (await api(srv, 'GET', `/api/tasks?event_id=${r.json.event_id}`)).json?.tasks?.[0], 15000);
  const done = await ended(srv, task.id);
  assert.equal(done.status, 'succeeded', JSON.stringify(done));
  const seen = fields(done.output);
  assert.equal(seen.cwd, join(ws, 'w1', 'o', 'r'), 'it starts in the worker\'s checkout');
  assert.equal(seen.workspace, seen.cwd);
  assert.equal(seen.repo, 'o/r');
  assert.equal(seen.readme, 'feature', 'checked out at the pull request\'s head');
  assert.equal(seen.head, remote.feature);
  assert.equal(done.metadata.ref, remote.feature);

  // The same worker's next task for the repository, without a ref: the
  // default branch, in the same (fetched, not cloned again) checkout.
  const created = await api(srv, 'POST', '/api/tasks', { prompt: 'again', agent: 'ws', repository: 'o/r' });
  assert.equal(created.status, 201);
  const again = await ended(srv, created.json.id);
  assert.equal(again.status, 'succeeded', JSON.stringify(again));
  assert.equal(fields(again.output).readme, 'main');
  assert.equal(fields(again.output).head, remote.main);

  // No repository: nothing to check out, so it cannot run.
  const bare = await api(srv, 'POST', '/api/tasks', { prompt: 'nothing', agent: 'ws' });
  const none = await ended(srv, bare.json.id);
  assert.equal(none.status, 'dead_letter');
  assert.match(none.error, /needs a workspace, and the task names no repository/);

  // A repository that does not exist on the remote: the attempt fails.
  const missing = await api(srv, 'POST', '/api/tasks', { prompt: 'x', agent: 'ws', repository: 'o/nope' });
  const failed = await ended(srv, missing.json.id);
  assert.equal(failed.status, 'failed');
  assert.match(failed.error, /clone/);
  assert.ok(!srv.logs.includes(TOKEN) && !JSON.stringify(failed).includes(TOKEN), 'the token is never logged');
});
