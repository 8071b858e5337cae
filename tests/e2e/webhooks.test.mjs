// Dynamic webhooks: created, changed and removed over the admin API while
// hookq runs; each is an endpoint POST /webhooks/{provider}/{id} with its
// own secret, and its commands route the events it receives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { newDb, startHookq, deliver, query, tempDir, waitFor, ADMIN_PASSWORD } from './helpers.mjs';

const examples = createRequire(import.meta.url)('@octokit/webhooks-examples');
const opened = () => structuredClone(examples.find((e) => e.name === 'issues').examples
  .find((p) => p.action === 'opened'));
const auth = { authorization: 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64') };

async function api(srv, method, path, body) {
  const res = await fetch(srv.url + path, { method, headers: { ...auth, 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, allow: res.headers.get('allow'), json: await res.json() };
}

test('webhooks API: create, command, deliver, disable, enable, delete — each change applies to the next request', async (t) => {
  const db = newDb(t);
  const srv = await startHookq({ db, t });
  const secret = 'dyn-secret-5d1e';

  let r = await api(srv, 'POST', '/api/webhooks', { provider: 'github', name: 'Team A', secret });
  assert.equal(r.status, 201);
  const hook = r.json;
  assert.match(hook.id, /^wh_[0-9a-f]{16}$/);
  assert.equal(hook.endpoint, `/webhooks/github/${hook.id}`);
  assert.equal(hook.has_secret, true);
  assert.equal(hook.secret, undefined, 'secrets are write-only');
  assert.equal(hook.enabled, true);

  r = await api(srv, 'POST', `/api/webhooks/${hook.id}/commands`, {
    trigger: 'issues.opened', action: 'create_task', agent: 'planning',
    template: 'New issue: {{issue.title}}', conditions: { path: 'issue.title', prefix: '[bot]' }, priority: 5 });
  assert.equal(r.status, 201);
  const taskCmd = r.json.commands[0];
  assert.match(taskCmd.id, /^cmd_[0-9a-f]{16}$/);
  r = await api(srv, 'POST', `/api/webhooks/${hook.id}/commands`, {
    trigger: 'issues.*', action: 'comment', template: 'Seen {{issue.number}}', priority: 10 });
  assert.equal(r.json.commands.length, 2);
  assert.deepEqual(r.json.commands.map((c) => c.priority), [5, 10]);

  // Delivered to the webhook's endpoint, signed with its own secret.
  const payload = opened();
  payload.issue.title = '[bot] build is red';
  let d = await deliver(srv.url, { path: hook.endpoint, payload, secret });
  assert.equal(d.status, 200);
  assert.equal(query(db, `select route from events where id = ${d.json.event_id}`)[0].route, hook.id);
  const routing = await waitFor(() => {
    const [row] = query(db, `select status, routing from events where id = ${d.json.event_id}`);
    return row.status === 'completed' ? JSON.parse(row.routing) : null;
  });
  assert.deepEqual(routing.matches.map((m) => [m.kind, m.command]), [['create_task', taskCmd.id], ['comment', r.json.commands[1].id]]);
  assert.equal(routing.matches[0].prompt, 'New issue: [bot] build is red');
  assert.equal(routing.matches[1].prompt, `Seen ${payload.issue.number}`);

  // The condition: without the prefix only the comment applies.
  payload.issue.title = 'plain';
  d = await deliver(srv.url, { path: hook.endpoint, payload, secret });
  const r2 = await waitFor(() => {
    const [row] = query(db, `select status, routing from events where id = ${d.json.event_id}`);
    return row.status === 'completed' ? JSON.parse(row.routing) : null;
  });
  assert.deepEqual(r2.matches.map((m) => m.kind), ['comment']);

  // Another secret (the global one) is refused; so are other providers' paths and unknown ids.
  assert.equal((await deliver(srv.url, { path: hook.endpoint, payload })).status, 401);
  assert.equal((await deliver(srv.url, { path: `/webhooks/gitlab/${hook.id}`, payload, secret })).status, 404);
  assert.equal((await deliver(srv.url, { path: '/webhooks/github/wh_00000000deadbeef', payload, secret })).status, 404);

  // Disabled: 404 at once; enabled again: accepted at once.
  assert.equal((await api(srv, 'POST', `/api/webhooks/${hook.id}/disable`)).json.enabled, false);
  const off = await deliver(srv.url, { path: hook.endpoint, payload, secret });
  assert.equal(off.status, 404);
  assert.equal(off.json.message, 'this webhook is disabled');
  assert.equal((await api(srv, 'POST', `/api/webhooks/${hook.id}/enable`)).json.enabled, true);
  assert.equal((await deliver(srv.url, { path: hook.endpoint, payload, secret })).status, 200);

  // A new secret applies to the next delivery.
  r = await api(srv, 'PUT', `/api/webhooks/${hook.id}`, { secret: 'rotated-secret', name: 'Team A2' });
  assert.equal(r.json.name, 'Team A2');
  assert.equal((await deliver(srv.url, { path: hook.endpoint, payload, secret })).status, 401);
  assert.equal((await deliver(srv.url, { path: hook.endpoint, payload, secret: 'rotated-secret' })).status, 200);

  // Commands are replaced and removed by id.
  r = await api(srv, 'PUT', `/api/webhooks/${hook.id}/commands/${taskCmd.id}`, { trigger: 'issues.closed', action: 'ignore' });
  assert.equal(r.status, 200);
  assert.equal(r.json.commands.find((c) => c.id === taskCmd.id).action, 'ignore');
  r = await api(srv, 'DELETE', `/api/webhooks/${hook.id}/commands/${taskCmd.id}`);
  assert.equal(r.json.commands.length, 1);
  assert.equal((await api(srv, 'DELETE', `/api/webhooks/${hook.id}/commands/${taskCmd.id}`)).status, 404);

  const list = await api(srv, 'GET', '/api/webhooks');
  assert.deepEqual(list.json.webhooks.map((w) => w.id), [hook.id]);
  assert.equal((await api(srv, 'DELETE', `/api/webhooks/${hook.id}`)).status, 200);
  assert.equal((await api(srv, 'GET', `/api/webhooks/${hook.id}`)).status, 404);
  assert.equal((await deliver(srv.url, { path: hook.endpoint, payload, secret: 'rotated-secret' })).status, 404);
  await srv.stop();
  assert.ok(!srv.logs.includes(secret) && !srv.logs.includes('rotated-secret'), 'secrets never logged');
});

test('webhooks API: precise 400s, 401 without credentials, 405 with Allow', async (t) => {
  const srv = await startHookq({ db: newDb(t), t });
  const hook = (await api(srv, 'POST', '/api/webhooks', { provider: 'slack', secret: 's' })).json;
  assert.equal(hook.name, 'slack', 'the name defaults to the provider');
  for (const [method, path, body, msg] of [
    ['POST', '/api/webhooks', { provider: 'gitbub' }, /unknown provider 'gitbub' \(expected one of: github, gitlab,/],
    ['POST', '/api/webhooks', { name: 'x' }, /'provider' is required/],
    ['POST', '/api/webhooks', { provider: 'github', colour: 'red' }, /unknown field 'colour' \(known: provider, name, secret, enabled\)/],
    ['POST', '/api/webhooks', '{"provider":', /the body is not JSON: line 1/],
    ['POST', '/api/webhooks', '[1]', /the body must be a JSON object/],
    ['POST', '/api/webhooks', undefined, /needs a JSON object body/],
    ['POST', '/api/webhooks', { provider: 'github', enabled: 'yes' }, /'enabled' must be true or false/],
    ['POST', '/api/webhooks', { provider: 'standard', secret: 'whsec_abc' }, /a Standard Webhooks secret is whsec_ followed by base64/],
    ['POST', `/api/webhooks/${hook.id}/commands`, { action: 'ignore' }, /'trigger' is required/],
    ['POST', `/api/webhooks/${hook.id}/commands`, { trigger: 'x', action: 'run' }, /'action' must be create_task, comment or ignore, not 'run'/],
    ['POST', `/api/webhooks/${hook.id}/commands`, { trigger: 'x', action: 'create_task', template: 'y' }, /create_task needs 'agent' and 'template'/],
    ['POST', `/api/webhooks/${hook.id}/commands`, { trigger: 'x', action: 'comment', template: 'a {{b' }, /template: column 3: unterminated \{\{/],
    ['POST', `/api/webhooks/${hook.id}/commands`, { trigger: 'x', action: 'ignore', conditions: { all: [{ path: 'a', equal: 1 }] } }, /conditions: all\[0\]: unknown operator "equal"/],
    ['POST', `/api/webhooks/${hook.id}/commands`, { trigger: 'x', action: 'ignore', priority: -1 }, /'priority' must be a whole number/],
    // Patterns glibc would take minutes to compile are refused at once.
    ['POST', `/api/webhooks/${hook.id}/commands`, { trigger: 'x', action: 'ignore', conditions: { path: 'a', regex: '((\\b|\\B)(\\b|\\B))*' } }, /^conditions: regex: anchors \(\^ \$ .*\) inside loops over what can match the empty string: at most one/],
    ['POST', `/api/webhooks/${hook.id}/commands`, { trigger: 'x', action: 'ignore', conditions: { any: [{ path: 'a', regex: '((||||||||a){9})*' }] } }, /^conditions: any\[0\]: regex: optional parts combine into more than 1024 ways through them/],
  ]) {
    const r = await api(srv, method, path, body);
    assert.equal(r.status, 400, `${method} ${path} ${JSON.stringify(body)}`);
    assert.deepEqual(Object.keys(r.json).sort(), ['error', 'message']);
    assert.match(r.json.message, msg);
  }
  assert.equal((await fetch(srv.url + '/api/webhooks')).status, 401);
  const put = await api(srv, 'PATCH', `/api/webhooks/${hook.id}`, {});
  assert.equal(put.status, 405);
  assert.equal(put.allow, 'GET, HEAD, PUT, DELETE');
  assert.equal((await api(srv, 'GET', '/api/webhooks/not-an-id')).status, 404);
  const big = await api(srv, 'POST', '/api/webhooks', JSON.stringify({ provider: 'github', name: 'x'.repeat(70000) }));
  assert.equal(big.status, 413);
});

test('hookq webhooks: manage over --url or --db, secrets never on the command line, export to static routes', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const { writeFileSync } = await import('node:fs');
  const { bin } = await import('./helpers.mjs');
  const run = (args, env = {}) => {
    const r = spawnSync(bin, args, { env: { PATH: process.env.PATH, ADMIN_PASSWORD, ...env }, encoding: 'utf8', timeout: 15000 });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  const dir = tempDir(t);
  const db = newDb(t);
  const srv = await startHookq({ db, t });
  const created = run(['webhooks', 'create', '--provider', 'github', '--name', 'Team B', '--url', srv.url, '--json'],
    { HOOKQ_WEBHOOK_SECRET: 'cli-secret-77' });
  assert.equal(created.code, 0, created.err);
  const hook = JSON.parse(created.out);
  assert.equal(hook.has_secret, true);
  const add = run(['webhooks', 'add-command', hook.id, '--trigger', 'issues.opened', '--agent', 'planning',
    '--template', 'New: {{issue.title}}', '--priority', '7', '--conditions', '{"path":"issue.number","exists":true}', '--db', db]);
  assert.equal(add.code, 0, add.err);
  assert.match(add.out, /^ {2}7 +issues\.opened +create_task planning +New: \{\{issue\.title\}\} +\(conditions\)$/m);
  const bad = run(['webhooks', 'add-command', hook.id, '--trigger', 'x', '--action', 'bogus', '--db', db]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /'action' must be create_task, comment or ignore, not 'bogus'/);
  const list = run(['webhooks', 'list', '--url', srv.url]);
  assert.match(list.out, new RegExp(`^${hook.id} +github +Team B +enabled +set +1$`, 'm'));
  // The signed delivery works with the secret given through the environment.
  const payload = opened();
  assert.equal((await deliver(srv.url, { path: hook.endpoint, payload, secret: 'cli-secret-77' })).status, 200);
  // Export: valid static routes, without the secret.
  const exp = run(['webhooks', 'export', '--db', db]);
  assert.equal(exp.code, 0, exp.err);
  assert.ok(!exp.out.includes('cli-secret-77'));
  const yaml = join(dir, 'routes.yaml');
  writeFileSync(yaml, exp.out);
  const check = run(['routes', 'check', '--config', yaml]);
  assert.equal(check.code, 0, check.err + check.out);
  assert.match(check.out, /7 +issues\.opened -> agent planning \(with conditions\); variables: issue\.title/);
  assert.equal(run(['webhooks', 'disable', hook.id, '--url', srv.url]).code, 0);
  assert.equal((await deliver(srv.url, { path: hook.endpoint, payload, secret: 'cli-secret-77' })).status, 404);
  assert.equal(run(['webhooks', 'delete', hook.id, '--url', srv.url]).out, `webhook ${hook.id} deleted\n`);
  assert.equal(run(['webhooks', 'show', hook.id, '--db', db]).code, 1);
  assert.equal(run(['webhooks', 'frob']).code, 2);
  await srv.stop();
  assert.ok(!srv.logs.includes('cli-secret-77'));
});
