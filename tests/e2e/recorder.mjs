// A recording stand-in for the services hookq replies to (GitHub's REST
// API, Slack's Web API and response_url, Jira's REST API v2), on
// 127.0.0.1. Every request is recorded (method, path, query, headers, parsed
// body, time); answers follow the services' documented shapes. Scriptable:
// canned answers queued per route, "hang" (accept, store, never answer),
// and down/up (stop listening, then listen again on the same port).
import { createServer } from 'node:http';
import { createVerify, randomBytes } from 'node:crypto';

// Route names, for script() and filters.
export const ROUTES = ['reaction', 'comment.create', 'comment.list', 'access_token',
  'slack.post', 'slack.response', 'jira.comment'];

function route(method, path) {
  let m;
  if (method === 'POST' && (m = path.match(/^\/repos\/([^/]+)\/([^/]+)\/(issues|issues\/comments|pulls\/comments|comments)\/(\d+)\/reactions$/)))
    return { name: 'reaction', repo: `${m[1]}/${m[2]}`, where: m[3], id: Number(m[4]) };
  if ((m = path.match(/^\/repos\/([^/]+)\/([^/]+)\/issues\/(\d+)\/comments$/))) {
    if (method === 'POST') return { name: 'comment.create', repo: `${m[1]}/${m[2]}`, number: Number(m[3]) };
    if (method === 'GET') return { name: 'comment.list', repo: `${m[1]}/${m[2]}`, number: Number(m[3]) };
  }
  if (method === 'POST' && (m = path.match(/^\/app\/installations\/(\d+)\/access_tokens$/)))
    return { name: 'access_token', installation: Number(m[1]) };
  if (method === 'POST' && path === '/api/chat.postMessage') return { name: 'slack.post' };
  if (method === 'POST' && path.startsWith('/slack-response/')) return { name: 'slack.response' };
  if (method === 'POST' && (m = path.match(/^\/rest\/api\/2\/issue\/([^/]+)\/comment$/)))
    return { name: 'jira.comment', issue: decodeURIComponent(m[1]) };
  return { name: 'unknown' };
}

function parseBody(raw, type = '') {
  if (!raw.length) return null;
  const text = raw.toString('utf8');
  if (/json/.test(type)) {
    try { return JSON.parse(text); } catch { return text; }
  }
  if (/x-www-form-urlencoded/.test(type)) return Object.fromEntries(new URLSearchParams(text));
  return text;
}

const b64url = (s) => Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64');

// Checks a GitHub App JWT: RS256 over header.payload with publicKey, iss
// the App id, iat in the past (GitHub allows drift), exp after now and at
// most 10 minutes after iat. Returns null when good, else why not.
export function jwtProblem(jwt, publicKey, appId) {
  const parts = String(jwt).split('.');
  if (parts.length !== 3) return 'not three parts';
  let header, claims;
  try {
    header = JSON.parse(b64url(parts[0]).toString('utf8'));
    claims = JSON.parse(b64url(parts[1]).toString('utf8'));
  } catch {
    return 'header or claims not JSON';
  }
  if (header.alg !== 'RS256') return `alg ${header.alg}`;
  const v = createVerify('RSA-SHA256');
  v.update(`${parts[0]}.${parts[1]}`);
  if (!v.verify(publicKey, b64url(parts[2]))) return 'bad signature';
  const now = Math.floor(Date.now() / 1000);
  if (String(claims.iss) !== String(appId)) return `iss ${claims.iss}`;
  if (!Number.isInteger(claims.iat) || claims.iat > now + 5) return `iat ${claims.iat}`;
  if (!Number.isInteger(claims.exp) || claims.exp <= now) return `exp ${claims.exp}`;
  if (claims.exp - claims.iat > 600) return 'lives longer than 10 minutes';
  return null;
}

export async function startRecorder({ publicKey = null, appId = null, tokenLifeS = 3600 } = {}) {
  const rec = {
    requests: [],
    comments: new Map(), // "o/r#n" -> [{id, body, ...}]
    tokens: new Map(), // issued installation token -> installation id
    scripts: new Map(), // route name -> queue of answers
    hanging: [],
    port: 0,
    url: '',
    up: true,
  };
  let nextId = 1000;
  const sockets = new Set();

  function answer(res, status, body, headers = {}) {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json; charset=utf-8', ...headers });
    res.end(text);
  }

  function storeComment(r, body) {
    const key = `${r.repo}#${r.number}`;
    const list = rec.comments.get(key) || [];
    const c = { id: nextId++, body: body?.body, html_url: `https://github.com/${r.repo}/issues/${r.number}#issuecomment-${nextId - 1}`,
      user: { login: 'hookq-bot[bot]', type: 'Bot' }, created_at: new Date().toISOString() };
    list.push(c);
    rec.comments.set(key, list);
    return c;
  }

  function handle(req, res, raw) {
    const u = new URL(req.url, 'http://x');
    const r = route(req.method, u.pathname);
    const entry = { method: req.method, path: u.pathname, query: Object.fromEntries(u.searchParams),
      headers: req.headers, body: parseBody(raw, req.headers['content-type']), route: r.name, at: Date.now() };
    rec.requests.push(entry);
    const queue = rec.scripts.get(r.name);
    const canned = queue && queue.length ? queue.shift() : null;
    if (canned === 'hang') {
      // The service acts (a comment is stored) but its answer never comes.
      if (r.name === 'comment.create') entry.stored = storeComment(r, entry.body);
      entry.hung = true;
      rec.hanging.push(res);
      return;
    }
    if (canned?.delayMs) {
      // Answers (canned, or as usual) only after a while.
      entry.delayed = canned.delayMs;
      const rest = { ...canned, delayMs: 0 };
      setTimeout(() => respond(req, res, u, r, entry, rest.status ? rest : null), canned.delayMs);
      return;
    }
    respond(req, res, u, r, entry, canned);
  }

  function respond(req, res, u, r, entry, canned) {
    if (canned) {
      entry.canned = canned.status;
      return answer(res, canned.status, canned.body ?? { message: 'canned' }, canned.headers);
    }
    switch (r.name) {
      case 'reaction':
        return answer(res, 201, { id: nextId++, node_id: 'MDg6UmVhY3Rpb24x', content: entry.body?.content,
          user: { login: 'hookq-bot[bot]' }, created_at: new Date().toISOString() });
      case 'comment.create': {
        const c = storeComment(r, entry.body);
        entry.stored = c;
        return answer(res, 201, c, { location: `${rec.url}/repos/${r.repo}/issues/comments/${c.id}` });
      }
      case 'comment.list': {
        const all = rec.comments.get(`${r.repo}#${r.number}`) || [];
        const per = Math.min(Number(u.searchParams.get('per_page') || 30), 100);
        const page = Math.max(Number(u.searchParams.get('page') || 1), 1);
        const slice = all.slice((page - 1) * per, page * per);
        const h = {};
        if (page * per < all.length) h.link = `<${rec.url}${u.pathname}?per_page=${per}&page=${page + 1}>; rel="next"`;
        return answer(res, 200, slice, h);
      }
      case 'access_token': {
        const auth = req.headers.authorization || '';
        const jwt = auth.startsWith('Bearer ') ? auth.slice(7) : '';
        entry.jwtProblem = publicKey ? jwtProblem(jwt, publicKey, appId) : 'no public key';
        if (entry.jwtProblem) return answer(res, 401, { message: 'A JSON web token could not be decoded',
          documentation_url: 'https://docs.github.com/rest' });
        const token = 'ghs_' + randomBytes(18).toString('hex');
        rec.tokens.set(token, r.installation);
        entry.issued = token;
        return answer(res, 201, { token, expires_at: new Date(Date.now() + tokenLifeS * 1000).toISOString().replace(/\.\d+Z$/, 'Z'),
          permissions: { issues: 'write', pull_requests: 'write' }, repository_selection: 'all' });
      }
      case 'slack.post':
        return answer(res, 200, { ok: true, channel: entry.body?.channel, ts: `${Math.floor(Date.now() / 1000)}.${String(nextId++).padStart(6, '0')}`,
          message: { text: entry.body?.text, type: 'message' } });
      case 'slack.response':
        return answer(res, 200, 'ok');
      case 'jira.comment':
        return answer(res, 201, { id: String(nextId++), body: entry.body?.body, self: `${rec.url}/rest/api/2/issue/${r.issue}/comment/${nextId - 1}`,
          created: new Date().toISOString() });
      default:
        return answer(res, 404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' });
    }
  }

  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks)));
  });
  server.keepAliveTimeout = 1000;
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });

  const listen = (port) => new Promise((res, rej) => {
    server.once('error', rej);
    server.listen(port, '127.0.0.1', () => { server.off('error', rej); res(); });
  });
  await listen(0);
  rec.port = server.address().port;
  rec.url = `http://127.0.0.1:${rec.port}`;

  const dropAll = () => {
    for (const res of rec.hanging.splice(0)) res.socket?.destroy();
    for (const s of sockets) s.destroy();
  };

  // Queues canned answers for a route: {status, headers, body}, 'hang',
  // or {delayMs} (the usual answer, late; with status: a canned one, late).
  rec.script = (name, ...answers) => {
    rec.scripts.set(name, [...(rec.scripts.get(name) || []), ...answers]);
  };
  // Stops listening and drops every connection: connections are refused.
  rec.down = () => new Promise((res) => {
    rec.up = false;
    server.close(() => res());
    dropAll();
  });
  // Listens again on the same port.
  rec.restart = async () => {
    await listen(rec.port);
    rec.up = true;
  };
  rec.close = () => new Promise((res) => {
    dropAll();
    if (!server.listening) return res();
    server.close(() => res());
  });
  // Requests of a route (and, optionally, matching a predicate).
  rec.of = (name, pred = () => true) => rec.requests.filter((q) => q.route === name && pred(q));
  rec.commentsOn = (repo, number) => rec.comments.get(`${repo}#${number}`) || [];
  return rec;
}
