// Shared helpers for the end-to-end suites: start the real binary on a free
// port with a temporary database, send signed webhooks the way GitHub does,
// and read the database with the sqlite3 command-line shell.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { sign } from '@octokit/webhooks-methods';

const here = dirname(fileURLToPath(import.meta.url));
export const root = resolve(here, '..', '..');
export const bin = process.env.HOOKQ_BIN || join(root, 'build', 'hookq');

export const SECRET = 'e2e-webhook-secret-7f3a';
export const ADMIN_PASSWORD = 'e2e-admin-password-91c2';

export function tempDir(t) {
  const dir = mkdtempSync(join(tmpdir(), 'hookq-e2e-'));
  if (t) t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// Starts `hookq serve` and resolves once it logs the port it listens on.
export async function startHookq({ db, env = {}, args = [], secret = SECRET, t } = {}) {
  const childEnv = { PATH: process.env.PATH, ...env };
  if (secret !== null && !('GITHUB_WEBHOOK_SECRET' in env)) childEnv.GITHUB_WEBHOOK_SECRET = secret;
  if (!('ADMIN_PASSWORD' in env)) childEnv.ADMIN_PASSWORD = ADMIN_PASSWORD;
  const proc = spawn(bin, ['serve', '--host', '127.0.0.1', '--port', '0', '--db', db, ...args], {
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const server = { proc, logs: '', exited: null };
  proc.stdout.on('data', (d) => { server.logs += d; });
  proc.stderr.on('data', (d) => { server.logs += d; });
  server.exit = new Promise((res) => proc.on('exit', (code, signal) => {
    server.exited = { code, signal };
    res(server.exited);
  }));
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline) {
    const m = server.logs.match(/"?port"?[=:]"?(\d+)/);
    if (m && /listening/.test(server.logs)) {
      server.port = Number(m[1]);
      server.url = `http://127.0.0.1:${server.port}`;
      break;
    }
    if (server.exited) throw new Error(`hookq exited early ${JSON.stringify(server.exited)}:\n${server.logs}`);
    await sleep(20);
  }
  if (!server.port) {
    proc.kill('SIGKILL');
    throw new Error(`hookq did not start:\n${server.logs}`);
  }
  server.stop = async (signal = 'SIGTERM') => {
    if (!server.exited) proc.kill(signal);
    return server.exit;
  };
  if (t) t.after(() => server.stop('SIGKILL'));
  return server;
}

// Polls fn until it returns something truthy; fails after timeoutMs.
export async function waitFor(fn, timeoutMs = 10000, everyMs = 25) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// Sends one webhook as GitHub does: raw JSON body, event, delivery id and
// X-Hub-Signature-256 computed by @octokit/webhooks-methods.
export async function deliver(url, { event = 'issues', payload = { action: 'opened' }, body,
  delivery = randomUUID(), secret = SECRET, headers = {}, path = '/webhooks/github' } = {}) {
  const raw = body !== undefined ? body : JSON.stringify(payload);
  const h = {
    'content-type': 'application/json',
    'user-agent': 'GitHub-Hookshot/e2e',
    'x-github-event': event,
    'x-github-delivery': delivery,
  };
  if (secret !== null) h['x-hub-signature-256'] = await sign(secret, raw);
  Object.assign(h, headers);
  for (const k of Object.keys(h)) if (h[k] === undefined) delete h[k];
  // A deadline, so a connection the server dropped can never hang a test.
  const res = await fetch(url + path, { method: 'POST', headers: h, body: raw, signal: AbortSignal.timeout(15000) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text, delivery, raw };
}

// Runs SQL on the database with the sqlite3 shell; returns parsed rows.
export function query(db, sql) {
  const out = execFileSync('sqlite3', ['-json', db, sql], { encoding: 'utf8' });
  return out.trim() ? JSON.parse(out) : [];
}

// The body of event id as received: zstd-compressed bodies are decoded by
// the reference zstd tool, not by hookq, so the check is independent.
export function storedBody(db, id) {
  const [row] = query(db, `select body_encoding as enc from events where id = ${Number(id)}`);
  if (!row) return null;
  const dir = mkdtempSync(join(tmpdir(), 'hookq-body-'));
  try {
    const file = join(dir, 'body');
    execFileSync('sqlite3', [db, `select writefile('${file}', body) from events where id = ${Number(id)}`]);
    const bytes = row.enc === 'zstd' ? execFileSync('zstd', ['-q', '-d', '-c', file]) : readFileSync(file);
    return { encoding: row.enc, bytes };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
