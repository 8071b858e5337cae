// Shared helpers for the end-to-end suites: start the real binary on a free
// port with a temporary database, send signed webhooks the way GitHub does,
// and read the database with the backend's own shell (sqlite3 or psql).
//
// HOOKQ_TEST_BACKEND=postgres runs the suites against PostgreSQL: each test
// gets a database of its own on the server HOOKQ_TEST_PG_URL names
// (tests/pg/with-pg.sh starts one); the default is a SQLite file.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID, randomBytes } from 'node:crypto';
import { sign } from '@octokit/webhooks-methods';

const here = dirname(fileURLToPath(import.meta.url));
export const root = resolve(here, '..', '..');
export const bin = process.env.HOOKQ_BIN || join(root, 'build', 'hookq');

export const SECRET = 'e2e-webhook-secret-7f3a';
export const ADMIN_PASSWORD = 'e2e-admin-password-91c2';

export const backend = process.env.HOOKQ_TEST_BACKEND || 'sqlite';
if (backend !== 'sqlite' && backend !== 'postgres') {
  throw new Error(`HOOKQ_TEST_BACKEND must be sqlite or postgres, not '${backend}'`);
}
export const postgres = backend === 'postgres';

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

const isUrl = (db) => /^postgres(ql)?:\/\//.test(db);

// Runs SQL with psql on the database at url; returns what it printed.
function psql(url, sql) {
  return execFileSync('psql', ['-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', sql],
    { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'pipe'] });
}

// A fresh, empty database for test t: a file in a temporary directory, or
// on PostgreSQL a database of its own (dropped after the test) whose URL is
// returned. Both are what `--db` takes.
export function newDb(t, name = 'h.db') {
  if (!postgres) return join(tempDir(t), name);
  const server = process.env.HOOKQ_TEST_PG_URL;
  if (!server) throw new Error('HOOKQ_TEST_BACKEND=postgres needs HOOKQ_TEST_PG_URL (run under tests/pg/with-pg.sh)');
  const dbname = `hq_${randomBytes(8).toString('hex')}`;
  psql(server, `CREATE DATABASE ${dbname}`);
  // FORCE: a server the test killed may still hold connections.
  t.after(() => psql(server, `DROP DATABASE IF EXISTS ${dbname} WITH (FORCE)`));
  const url = new URL(server);
  url.pathname = `/${dbname}`;
  return url.toString();
}

// A database that does not exist (hookq never creates one for the CLI's
// --db), and how hookq says so.
export function absentDb(t) {
  if (!postgres) return join(tempDir(t), 'absent.db');
  const url = new URL(process.env.HOOKQ_TEST_PG_URL);
  url.pathname = `/hq_absent_${randomBytes(8).toString('hex')}`;
  return url.toString();
}
export const noDatabase = postgres ? /database "hq_absent_\w+" does not exist/ : /no database at '.*absent\.db'/;

// Whether hookq has created its store there: the SQLite file, or any table
// in the PostgreSQL database.
export function dbCreated(db) {
  if (!isUrl(db)) return existsSync(db);
  return query(db, "select count(*) as n from information_schema.tables where table_schema = 'public'")[0].n > 0;
}

// PostgreSQL's booleans as SQLite's 0 and 1, so tests compare one shape.
function normalize(rows) {
  for (const row of rows) {
    for (const [k, v] of Object.entries(row)) if (typeof v === 'boolean') row[k] = v ? 1 : 0;
  }
  return rows;
}

// Runs SQL on the database with its shell; returns parsed rows. On
// PostgreSQL a SELECT comes back through json_agg (bigint and numeric as
// JSON numbers); other statements just run.
export function query(db, sql) {
  if (isUrl(db)) {
    if (!/^\s*(select|with)\b/i.test(sql)) {
      psql(db, sql);
      return [];
    }
    return normalize(JSON.parse(psql(db, `SELECT coalesce(json_agg(q), '[]') FROM (${sql}) q`)));
  }
  const out = execFileSync('sqlite3', ['-json', db, sql], { encoding: 'utf8' });
  return out.trim() ? JSON.parse(out) : [];
}

// Holds the store's write lock from another session (as another node or an
// operator's shell would) until the function it returns is called: SQLite's
// BEGIN IMMEDIATE, or PostgreSQL's lock on the events table.
export async function lockStore(t, db) {
  const [cmd, args, sql] = isUrl(db)
    ? ['psql', ['-X', '-q', '-t', '-A', '-d', db], "BEGIN; LOCK TABLE events IN ACCESS EXCLUSIVE MODE; SELECT 'locked';\n"]
    : ['sqlite3', [db], "BEGIN IMMEDIATE; INSERT INTO schema_migrations VALUES (999, 'lock', 0); SELECT 'locked';\n"];
  const locker = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  t.after(() => locker.kill('SIGKILL'));
  locker.stdin.write(sql);
  await new Promise((res) => locker.stdout.once('data', res));
  return async () => {
    locker.stdin.end('ROLLBACK;\n');
    await new Promise((res) => locker.on('exit', res));
  };
}

// The body of event id as received: zstd-compressed bodies are decoded by
// the reference zstd tool, not by hookq, so the check is independent.
export function storedBody(db, id) {
  const where = `from event_bodies where event_id = ${Number(id)}`;
  const [row] = query(db, `select body_encoding as enc ${isUrl(db) ? ", encode(body, 'base64') as b64" : ''} ${where}`);
  if (!row) return null;
  let raw;
  if (isUrl(db)) {
    raw = Buffer.from(row.b64.replace(/\s/g, ''), 'base64');
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'hookq-body-'));
    try {
      const file = join(dir, 'body');
      execFileSync('sqlite3', [db, `select writefile('${file}', body) ${where}`]);
      raw = readFileSync(file);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const bytes = row.enc === 'zstd' ? execFileSync('zstd', ['-q', '-d', '-c'], { input: raw, maxBuffer: 1 << 30 }) : raw;
  return { encoding: row.enc, bytes };
}
