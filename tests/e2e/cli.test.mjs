// The command line as operators meet it: help, version, configuration
// errors with their exit codes, dev mode, log formats, graceful shutdown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { newDb, dbCreated, postgres, bin, root, startHookq, deliver, query, tempDir, sleep, SECRET } from './helpers.mjs';

function run(args, env = {}) {
  const r = spawnSync(bin, args, { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', timeout: 10000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('version, help and --help on every command', () => {
  const v = run(['version']);
  assert.equal(v.code, 0);
  assert.match(v.out, /^hookq \d+\.\d+\.\d+\n$/);
  assert.equal(run(['--version']).out, v.out);
  assert.match(run(['version', '--verbose']).out, /sqlite 3\./);
  const help = run(['help']);
  assert.equal(help.code, 0);
  const cmds = ['serve', 'status', 'events', 'dlq', 'purge', 'routes', 'webhooks', 'version', 'help'];
  for (const cmd of cmds) assert.match(help.out, new RegExp(`\\b${cmd}\\b`));
  for (const cmd of cmds) {
    const a = run(['help', cmd]);
    const b = run([cmd, '--help']);
    assert.equal(a.code, 0);
    assert.equal(b.code, 0);
    assert.equal(a.out, b.out, `help ${cmd} and ${cmd} --help agree`);
    assert.match(a.out, new RegExp(`Usage: hookq ${cmd}`));
  }
  assert.match(run(['serve', '--help']).out, /--port VALUE .*WEBHOOK_PORT/);
  // A subcommand's --help is its command's help.
  assert.equal(run(['events', 'show', '--help']).out, run(['help', 'events']).out);
  assert.equal(run(['dlq', 'retry', '--help']).out, run(['help', 'dlq']).out);
});

test('usage errors exit 2', () => {
  const unknown = run(['frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /unknown command 'frobnicate'/);
  const flag = run(['serve', '--no-such-flag']);
  assert.equal(flag.code, 2);
  assert.match(flag.err, /no-such-flag/);
  assert.equal(run(['help', 'nope']).code, 2);
});

test('production mode refuses to start without a webhook secret or an admin password (exit 78)', (t) => {
  const db = newDb(t);
  const noSecret = run(['serve', '--db', db, '--port', '0'], { ADMIN_PASSWORD: 'x' });
  assert.equal(noSecret.code, 78);
  assert.match(noSecret.err, /no webhook secret: set GITHUB_WEBHOOK_SECRET/);
  const noAdmin = run(['serve', '--db', db, '--port', '0'], { GITHUB_WEBHOOK_SECRET: 'x' });
  assert.equal(noAdmin.code, 78);
  assert.match(noAdmin.err, /no admin password/);
  assert.ok(!dbCreated(db), 'nothing is created before the configuration is valid');
});

test('bad values name their source precisely', (t) => {
  const dir = tempDir(t);
  const env = { GITHUB_WEBHOOK_SECRET: 's', ADMIN_PASSWORD: 'p' };
  const port = run(['serve'], { ...env, WEBHOOK_PORT: '80a' });
  assert.equal(port.code, 78);
  assert.equal(port.err.trim(), "hookq: WEBHOOK_PORT: not a port number: '80a'");
  const flag = run(['serve', '--max-body', 'huge'], env);
  assert.equal(flag.err.trim(), "hookq: --max-body: not a size (like 512KiB, 25MiB): 'huge'");
  const cfg = join(dir, 'hookq.yaml');
  writeFileSync(cfg, 'server:\n  port: 8080\n\ngithub:\n  secrt: abc\n');
  const yaml = run(['serve', '--config', cfg], env);
  assert.equal(yaml.code, 78);
  assert.equal(yaml.err.trim(), `hookq: ${cfg}:5:3: unknown key 'github.secrt'`);
  const missing = run(['serve', '--config', join(dir, 'absent.yaml')], env);
  assert.equal(missing.code, 78);
  assert.match(missing.err, /cannot read configuration '.*absent.yaml': No such file or directory/);
  const inline = join(dir, 'inline.yaml');
  writeFileSync(inline, 'github:\n  secret: topsecret-inline\n');
  const r = run(['serve', '--config', inline], { ADMIN_PASSWORD: 'p' });
  assert.equal(r.code, 78);
  assert.match(r.err, /inline.yaml:2:11: github.secret: secrets written in the configuration file are refused/);
  assert.ok(!r.err.includes('topsecret-inline'));
  const src = run(['serve'], { ...env, TASK_SOURCE: 'kafka' });
  assert.equal(src.err.trim(), "hookq: task_source (TASK_SOURCE): unknown source 'kafka' (expected webhook, sqs, or both: webhook,sqs)");
});

test('flags beat the environment, which beats the file', async (t) => {
  const dir = tempDir(t);
  const cfg = join(dir, 'hookq.yaml');
  writeFileSync(cfg, `store:\n  db: ${join(dir, 'file.db')}\nserver:\n  max_body: 1KiB\n`);
  // The file sets the db and a 1 KiB body limit; the environment raises the
  // limit; the flag (from startHookq) sets the db.
  const db = newDb(t, 'flag.db');
  const srv = await startHookq({ db, t, args: ['--config', cfg], env: { HOOKQ_MAX_BODY: '4KiB' } });
  const r = await deliver(srv.url, { body: JSON.stringify({ x: 'a'.repeat(2000) }) });
  assert.equal(r.status, 200, 'env 4KiB beats file 1KiB');
  const tooBig = await deliver(srv.url, { body: JSON.stringify({ x: 'a'.repeat(5000) }) });
  assert.equal(tooBig.status, 413);
  assert.ok(dbCreated(db));
  assert.ok(!existsSync(join(dir, 'file.db')), 'flag --db beats store.db in the file');
});

test('secret and admin password from files', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'secret'), SECRET + '\n');
  writeFileSync(join(dir, 'admin'), 'pw\n');
  const cfg = join(dir, 'hookq.yaml');
  writeFileSync(cfg, `github:\n  secret_file: ${join(dir, 'secret')}\nadmin:\n  password_file: ${join(dir, 'admin')}\n`);
  const srv = await startHookq({ db: newDb(t), t, secret: null, args: ['--config', cfg],
    env: { ADMIN_PASSWORD: undefined } });
  const ok = await deliver(srv.url, {});
  assert.equal(ok.status, 200, 'signature checked with the secret read from the file (newline stripped)');
  const bad = await deliver(srv.url, { secret: 'other' });
  assert.equal(bad.status, 401);
});

test('--dev starts without secrets, warns loudly, and accepts unsigned webhooks', async (t) => {
  const db = newDb(t);
  const srv = await startHookq({ db, t, secret: null, args: ['--dev'], env: { ADMIN_PASSWORD: undefined } });
  assert.match(srv.logs, /level=warn msg="DEV MODE/);
  assert.match(srv.logs, /github_signatures="NOT VERIFIED"/);
  const r = await deliver(srv.url, { secret: null });
  assert.equal(r.status, 200);
  assert.equal(r.json.status, 'accepted');
});

test('DEV_MODE from the environment still verifies signatures when a secret is set', async (t) => {
  const db = newDb(t);
  const srv = await startHookq({ db, t, env: { DEV_MODE: 'true', ADMIN_PASSWORD: undefined } });
  assert.match(srv.logs, /github_signatures=verified/);
  assert.equal((await deliver(srv.url, { secret: null })).status, 401);
  assert.equal((await deliver(srv.url, {})).status, 200);
});

test('--log-format json writes one JSON object per line', async (t) => {
  const db = newDb(t);
  const srv = await startHookq({ db, t, args: ['--log-format', 'json'] });
  const r = await deliver(srv.url, { event: 'issues' });
  await deliver(srv.url, { secret: 'wrong' });
  await srv.stop();
  const lines = srv.logs.trim().split('\n').map((l) => JSON.parse(l));
  const accepted = lines.find((l) => l.msg === 'webhook accepted');
  assert.equal(accepted.delivery_id, r.delivery);
  assert.equal(accepted.event_id, String(r.json.event_id));
  assert.equal(accepted.level, 'info');
  assert.ok(lines.find((l) => l.reason === 'signature_invalid' && l.status === '401'));
});

test('SIGTERM: requests in flight finish, the store closes cleanly, exit 0', async (t) => {
  const db = newDb(t);
  const srv = await startHookq({ db, t });
  const inflight = Array.from({ length: 50 }, () => deliver(srv.url, {}));
  await sleep(5);
  srv.proc.kill('SIGTERM');
  const results = await Promise.allSettled(inflight);
  const ok = results.filter((r) => r.status === 'fulfilled' && r.value.status === 200).map((r) => r.value);
  // Every request already sent gets an answer: stored, or told to retry.
  for (const r of results) {
    assert.equal(r.status, 'fulfilled', `a request was dropped: ${r.reason}`);
    if (r.value.status !== 200) assert.equal(r.value.json.error, 'shutting_down');
  }
  const exit = await srv.exit;
  assert.equal(exit.code, 0);
  assert.match(srv.logs, /msg="shutting down" signal=SIGTERM/);
  assert.match(srv.logs, /msg=stopped/);
  if (!postgres) assert.ok(!existsSync(db + '-wal'), 'the WAL was checkpointed and removed on close');
  // Every request answered 200 is in the database.
  const stored = new Set(query(db, 'select delivery_id from events').map((r) => r.delivery_id));
  for (const r of ok) assert.ok(stored.has(r.delivery), `acknowledged ${r.delivery} is stored`);
  // And after the shutdown nothing listens any more.
  await assert.rejects(fetch(srv.url + '/health'));
});

test('the example configuration starts as the README says', async (t) => {
  const db = newDb(t);
  const srv = await startHookq({ db, t, args: ['--config', join(root, 'examples', 'hookq.yaml'), '--dev'] });
  const r = await deliver(srv.url, {});
  assert.equal(r.status, 200);
});

test('SIGTERM under keep-alive load: clean exit 0, every 200 stored, the rest 503 shutting_down or cut', async (t) => {
  for (let round = 1; round <= 3; round++) {
    const db = newDb(t);
    const srv = await startHookq({ db, t });
    const acked = [];
    const other = new Map();
    let stop = false;
    const sender = async () => {
      while (!stop) {
        try {
          const r = await deliver(srv.url, {});
          if (r.status === 200) acked.push(r.delivery);
          else other.set(`${r.status} ${r.json && r.json.error}`, (other.get(`${r.status} ${r.json && r.json.error}`) || 0) + 1);
        } catch {
          await sleep(5);
        }
      }
    };
    const senders = Array.from({ length: 32 }, sender);
    await sleep(300 + 200 * round);
    srv.proc.kill('SIGTERM');
    const exit = await srv.exit;
    stop = true;
    await Promise.all(senders);
    assert.equal(exit.code, 0, `round ${round}: exit ${JSON.stringify(exit)}\n${srv.logs.slice(-2000)}`);
    for (const key of other.keys()) assert.equal(key, '503 shutting_down', `round ${round}: unexpected answer ${key}`);
    const stored = new Set(query(db, 'select delivery_id from events').map((r) => r.delivery_id));
    for (const d of acked) assert.ok(stored.has(d), `round ${round}: acknowledged ${d} is stored`);
    assert.ok(acked.length > 50, `round ${round}: load was running`);
    t.diagnostic(`round ${round}: ${acked.length} stored, answers besides 200: ${JSON.stringify([...other])}`);
  }
});

test('a database URL password never reaches the log', () => {
  const r = run(['serve', '--port', '0'], { GITHUB_WEBHOOK_SECRET: 's', ADMIN_PASSWORD: 'p', HOOKQ_DB: 'postgres://app:hunter2@db.internal/hookq' });
  assert.equal(r.code, 1);
  assert.match(r.err, /cannot open the store/);
  assert.match(r.err, /postgres:\/\/app:\*\*\*@db\.internal\/hookq/);
  assert.ok(!r.err.includes('hunter2'));
});

test('production starts with any one provider secret; the others\' endpoints are 404', async (t) => {
  const db = newDb(t);
  const srv = await startHookq({ db, t, env: { GITHUB_WEBHOOK_SECRET: '', SENTRY_CLIENT_SECRET: 'only-sentry-secret' } });
  assert.match(srv.logs, /endpoints="?\/webhooks\/sentry"?/);
  const gh = await fetch(srv.url + '/webhooks/github', { method: 'POST', body: '{}' });
  assert.equal(gh.status, 404);
  assert.equal((await fetch(srv.url + '/webhook', { method: 'POST', body: '{}' })).status, 404);
  const unsigned = await fetch(srv.url + '/webhooks/sentry', { method: 'POST', body: '{}',
    headers: { 'sentry-hook-resource': 'issue', 'request-id': 'r-1' } });
  assert.equal(unsigned.status, 401);
  await srv.stop();
  assert.ok(!srv.logs.includes('only-sentry-secret'));
  const bad = run(['serve', '--port', '0', '--db', join(tempDir(t), 'x.db')],
    { STANDARD_WEBHOOK_SECRET: 'whsec_abc', ADMIN_PASSWORD: 'p' });
  assert.equal(bad.code, 78);
  assert.match(bad.err, /standard\.secret \(STANDARD_WEBHOOK_SECRET\): not whsec_ followed by base64/);
});

test('hookq routes check: valid routes listed, mistakes named by file:line:col, payload variables checked', async (t) => {
  const { createRequire } = await import('node:module');
  const examples = createRequire(import.meta.url)('@octokit/webhooks-examples');
  const dir = tempDir(t);
  const payload = join(dir, 'comment.json');
  writeFileSync(payload, JSON.stringify(examples.find((e) => e.name === 'issue_comment').examples[0]));
  const example = join(root, 'examples', 'hookq.yaml');
  const ok = run(['routes', 'check', '--config', example]);
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.out, /^route github \(provider github, line \d+\)$/m);
  assert.match(ok.out, /^ {4}fix \(repair\) -> agent brain; variables: repository\.full_name, issue\.number, issue\.title, comment\.body$/m);
  assert.match(ok.out, /^routes: valid$/m);
  // An issue_comment payload has every variable of the commands, and no
  // issue.body-less gaps except what the issues.opened trigger reads.
  const withPayload = run(['routes', 'check', '--config', example, '--payload', payload]);
  assert.ok([0, 1].includes(withPayload.code), withPayload.err);
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'routes:\n  - provider: github\n    command_prefix: "@agent"\n    commands:\n      - {name: fix, agent: a, prompt: "{{issue.titel}}"}\n');
  const missing = run(['routes', 'check', '--config', bad, '--payload', payload]);
  assert.equal(missing.code, 1);
  assert.match(missing.out, /routes\[0\]\.commands\[0\]\.prompt: the payload has no 'issue\.titel' \(it renders empty\)/);
  writeFileSync(bad, 'routes:\n  - provider: gitbub\n    triggers: [{on: x, agent: a, prompt: p}]\n');
  const invalid = run(['routes', 'check', '--config', bad]);
  assert.equal(invalid.code, 78);
  assert.match(invalid.err, /bad\.yaml:2:15: routes\[0\]: unknown provider 'gitbub'/);
  assert.equal(run(['routes', 'check']).code, 2, 'no configuration file is a usage error');
  assert.equal(run(['routes', 'frob']).code, 2);
});

test('serve refuses invalid routes at start (78) and SIGHUP reloads them atomically', async (t) => {
  const dir = tempDir(t);
  const cfg = join(dir, 'hookq.yaml');
  const route = (prefix) => `routes:\n  - provider: github\n    command_prefix: "${prefix}"\n    commands:\n      - {name: fix, agent: a, prompt: "{{issue.title}}"}\n`;
  writeFileSync(cfg, 'routes:\n  - provider: github\n    command_prefix: "@a"\n    default_command: nope\n    commands:\n      - {name: fix, agent: a, prompt: p}\n');
  const refused = run(['serve', '--config', cfg, '--db', join(dir, 'x.db')], { GITHUB_WEBHOOK_SECRET: SECRET, ADMIN_PASSWORD: 'p' });
  assert.equal(refused.code, 78);
  assert.match(refused.err, /hookq\.yaml:4:22: routes\[0\]: default_command 'nope' is not one of the route's commands/);
  assert.ok(!existsSync(join(dir, 'x.db')), 'nothing created before the configuration is valid');

  writeFileSync(cfg, route('@agent'));
  const srv = await startHookq({ db: newDb(t), t, args: ['--config', cfg] });
  assert.match(srv.logs, /routes=1/);
  writeFileSync(cfg, route('@agent') + '  - provider: slack\n    triggers: [{on: app_mention, agent: a, prompt: "{{event.text}}"}]\n');
  srv.proc.kill('SIGHUP');
  const { waitFor } = await import('./helpers.mjs');
  await waitFor(() => /msg="routes reloaded" routes=2/.test(srv.logs));
  writeFileSync(cfg, route('two words'));
  srv.proc.kill('SIGHUP');
  await waitFor(() => /routes not reloaded: keeping the previous ones.*command_prefix' must be one word/.test(srv.logs));
  // Still serving.
  assert.equal((await deliver(srv.url, {})).status, 200);
});
