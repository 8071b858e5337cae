// Webhook providers beyond GitHub, driven end to end against the real binary:
// POST /webhooks/{github,gitlab,slack,sentry,jira,linear,stripe,standard,generic}.
// Signatures come from the providers' own libraries where one exists
// (stripe, standardwebhooks); otherwise they are computed here with
// node:crypto following each provider's documented algorithm.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { createHash, createHmac, randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { Webhook } from 'standardwebhooks';
import { newDb, startHookq, deliver, query, tempDir, SECRET, ADMIN_PASSWORD } from './helpers.mjs';

const PROVIDERS = ['github', 'gitlab', 'slack', 'sentry', 'jira', 'linear', 'stripe', 'standard', 'generic'];

// ---------------------------------------------------------------- helpers

// POSTs raw bytes to url+path. Headers whose value is undefined are not sent.
async function post(url, path, { headers = {}, body = '' } = {}) {
  const h = { 'content-type': 'application/json', ...headers };
  for (const k of Object.keys(h)) if (h[k] === undefined) delete h[k];
  const res = await fetch(url + path, { method: 'POST', headers: h, body, signal: AbortSignal.timeout(15000) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text };
}

const hmac = (algorithm, key, data, encoding = 'hex') => createHmac(algorithm, key).update(data).digest(encoding);
const sha256hex = (data) => createHash('sha256').update(data).digest('hex');
const unixNow = () => Math.floor(Date.now() / 1000);

// A server with the given provider secrets (GitHub's is always set by
// startHookq), logging at debug so a leaked secret would show.
async function serve(t, env = {}, args = []) {
  const db = newDb(t);
  const srv = await startHookq({ db, t, env, args: ['--log-level', 'debug', ...args] });
  return { db, srv };
}

function assertAccepted(r, delivery) {
  assert.equal(r.status, 200, r.text);
  assert.ok(Number.isInteger(r.json?.event_id) && r.json.event_id > 0, `event_id in ${r.text}`);
  assert.deepEqual(r.json, { status: 'accepted', event_id: r.json.event_id, delivery_id: delivery });
}

function assertDuplicate(r, first) {
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { status: 'duplicate', event_id: first.json.event_id, delivery_id: first.json.delivery_id });
}

// Error bodies are exactly {"error", "message"}.
function assertError(r, status, error) {
  assert.equal(r.status, status, r.text);
  assert.deepEqual(Object.keys(r.json ?? {}).sort(), ['error', 'message'], `error body ${r.text}`);
  assert.equal(r.json.error, error, r.text);
  assert.equal(typeof r.json.message, 'string');
  assert.ok(r.json.message.length > 0, 'the error has a message');
}

function eventRow(db, id) {
  const rows = query(db, `select provider, route, delivery_id, event_type from events where id = ${Number(id)}`);
  assert.equal(rows.length, 1, `event ${id} is stored`);
  return rows[0];
}

function assertRow(db, r, provider, delivery, eventType) {
  assert.deepEqual(eventRow(db, r.json.event_id),
    { provider, route: provider, delivery_id: delivery, event_type: eventType });
}

const countEvents = (db) => query(db, 'select count(*) as n from events')[0].n;

// Stops the server, then checks that none of the secrets reached its log.
async function assertNoSecretsLogged(srv, secrets) {
  await srv.stop();
  assert.match(srv.logs, /listening/, 'the log was captured');
  for (const s of [SECRET, ADMIN_PASSWORD, ...secrets]) {
    assert.ok(!srv.logs.includes(s), `secret ${JSON.stringify(s.slice(0, 6))}… leaked into the log`);
  }
}

// ---------------------------------------------------------------- github

test('github: signed delivery accepted under /webhooks/github, redelivery is a duplicate', async (t) => {
  const { db, srv } = await serve(t);
  const r = await deliver(srv.url, { event: 'issues', payload: { action: 'opened', issue: { number: 1 } } });
  assertAccepted(r, r.delivery);
  assertRow(db, r, 'github', r.delivery, 'issues');
  assertDuplicate(await deliver(srv.url, { event: 'issues', body: r.raw, delivery: r.delivery }), r);
  assertError(await deliver(srv.url, { secret: 'not-the-secret' }), 401, 'signature_invalid');
  assertError(await deliver(srv.url, { secret: null }), 401, 'signature_missing');
  assert.equal(countEvents(db), 1);
  await assertNoSecretsLogged(srv, []);
});

// ---------------------------------------------------------------- gitlab

test('gitlab: X-Gitlab-Token, Idempotency-Key over X-Gitlab-Event-UUID, X-Gitlab-Event as the type', async (t) => {
  const secret = 'gitlab-e2e-token-5d1c9a';
  const { db, srv } = await serve(t, { GITLAB_WEBHOOK_SECRET: secret });
  const body = JSON.stringify({ object_kind: 'note', event_type: 'note',
    object_attributes: { id: 1244, note: '@agent fix the build', noteable_type: 'Issue' } });
  const send = (headers) => post(srv.url, '/webhooks/gitlab', { body, headers: {
    'user-agent': 'GitLab/17.0.0', 'x-gitlab-event': 'Note Hook', 'x-gitlab-token': secret,
    'x-gitlab-instance': 'https://gitlab.example.com', ...headers } });

  // Without Idempotency-Key the delivery id is X-Gitlab-Event-UUID.
  const uuid = randomUUID();
  const first = await send({ 'x-gitlab-event-uuid': uuid });
  assertAccepted(first, uuid);
  assertRow(db, first, 'gitlab', uuid, 'Note Hook');
  assertDuplicate(await send({ 'x-gitlab-event-uuid': uuid }), first);
  assert.equal(countEvents(db), 1);

  // Idempotency-Key wins over X-Gitlab-Event-UUID, and stays the same on
  // GitLab's retries even when the event UUID differs.
  const key = randomUUID();
  const keyed = await send({ 'idempotency-key': key, 'x-gitlab-event-uuid': randomUUID() });
  assertAccepted(keyed, key);
  assertRow(db, keyed, 'gitlab', key, 'Note Hook');
  assertDuplicate(await send({ 'idempotency-key': key, 'x-gitlab-event-uuid': randomUUID() }), keyed);
  assert.equal(countEvents(db), 2);

  // Token checks.
  assertError(await send({ 'x-gitlab-event-uuid': randomUUID(), 'x-gitlab-token': 'not-the-token' }),
    401, 'signature_invalid');
  assertError(await send({ 'x-gitlab-event-uuid': randomUUID(), 'x-gitlab-token': secret.slice(0, -1) }),
    401, 'signature_invalid');
  assertError(await send({ 'x-gitlab-event-uuid': randomUUID(), 'x-gitlab-token': secret + 'x' }),
    401, 'signature_invalid');
  assertError(await send({ 'x-gitlab-event-uuid': randomUUID(), 'x-gitlab-token': undefined }),
    401, 'signature_missing');
  // No delivery id anywhere.
  assertError(await send({}), 400, 'delivery_missing');
  assert.equal(countEvents(db), 2, 'nothing refused was stored');
  await assertNoSecretsLogged(srv, [secret]);
});

// ---------------------------------------------------------------- slack

test('slack: v0 signatures over the timestamp, url_verification, Events API retries, slash commands', async (t) => {
  const secret = 'slack-e2e-signing-secret-8e41b7';
  const { db, srv } = await serve(t, { SLACK_SIGNING_SECRET: secret });
  const slackSig = (ts, body, key = secret) => 'v0=' + hmac('sha256', key, `v0:${ts}:${body}`);
  const send = (body, { ts = String(unixNow()), key = secret, headers = {},
    type = 'application/json' } = {}) =>
    post(srv.url, '/webhooks/slack', { body, headers: {
      'content-type': type, 'user-agent': 'Slackbot 1.0 (+https://api.slack.com/robots)',
      'x-slack-request-timestamp': ts, 'x-slack-signature': slackSig(ts, body, key), ...headers } });

  // (a) The URL verification handshake is answered and nothing is stored.
  const challenge = JSON.stringify({ type: 'url_verification', challenge: 'abc', token: 'x' });
  const hs = await send(challenge);
  assert.equal(hs.status, 200, hs.text);
  assert.deepEqual(hs.json, { challenge: 'abc' });
  assertError(await send(challenge, { headers: { 'x-slack-signature': undefined } }), 401, 'signature_missing');
  assert.equal(countEvents(db), 0, 'a url_verification is not an event');

  // (b) Events API: delivery id is event_id, the type is event.type.
  const ev = JSON.stringify({ token: 'x', team_id: 'T1', api_app_id: 'A1', type: 'event_callback',
    event_id: 'Ev123', event_time: unixNow(),
    event: { type: 'app_mention', user: 'U1', text: '<@U0> fix it — ñ 🚀', channel: 'C1', ts: '1.2' } });
  const first = await send(ev);
  assertAccepted(first, 'Ev123');
  assertRow(db, first, 'slack', 'Ev123', 'app_mention');
  // Slack retries the same body, freshly signed, with X-Slack-Retry-Num.
  const retry = await send(ev, { headers: { 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_timeout' } });
  assertDuplicate(retry, first);
  assert.equal(countEvents(db), 1);

  // Signature and timestamp checks (all on a not-yet-stored event).
  const other = ev.replace('Ev123', 'Ev456');
  assertError(await send(other, { key: 'not-the-secret' }), 401, 'signature_invalid');
  assertError(await send(other, { headers: { 'x-slack-signature': undefined } }), 401, 'signature_missing');
  const ts = String(unixNow());
  assertError(await send(other, { ts, headers: { 'x-slack-signature': slackSig(ts, ev) } }),
    401, 'signature_invalid'); // a signature over other bytes
  assertError(await send(other, { ts, headers: { 'x-slack-signature': slackSig(ts, other).replace('v0=', 'v1=') } }),
    401, 'signature_invalid');
  assertError(await send(other, { ts: String(unixNow() - 600) }), 401, 'timestamp_invalid');
  assertError(await send(other, { ts: String(unixNow() + 600) }), 401, 'timestamp_invalid');
  assertError(await send(other, { ts: 'yesterday' }), 401, 'timestamp_invalid');
  assertError(await send(other, { headers: { 'x-slack-request-timestamp': undefined } }), 401, 'timestamp_invalid');
  // A timestamp that is not the signed one.
  assertError(await send(other, { headers: { 'x-slack-request-timestamp': String(unixNow() - 1) } }),
    401, 'signature_invalid');
  assert.equal(countEvents(db), 1, 'nothing refused was stored');

  // (c) Slash command: form-encoded; answered with an ephemeral message and
  // stored with the trigger_id as the delivery id.
  const trigger = '13345224609.738474920.8088930838d88f008e0';
  const form = 'token=x&team_id=T1&team_domain=example&channel_id=C1&channel_name=general&user_id=U1' +
    '&user_name=alice&command=%2Fagent&text=fix+the+build' +
    '&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2F1&trigger_id=' + trigger;
  const cmd = await send(form, { type: 'application/x-www-form-urlencoded' });
  assert.equal(cmd.status, 200, cmd.text);
  assert.equal(cmd.json?.response_type, 'ephemeral', cmd.text);
  assert.equal(typeof cmd.json.text, 'string');
  assert.ok(cmd.json.text.length > 0, 'the ephemeral reply says something');
  const [stored] = query(db, `select provider, route, delivery_id, event_type from events where delivery_id = '${trigger}'`);
  assert.deepEqual(stored, { provider: 'slack', route: 'slack', delivery_id: trigger, event_type: 'slash_command' });
  assertError(await send(form.replace(trigger, '1.2.3'), { type: 'application/x-www-form-urlencoded',
    key: 'not-the-secret' }), 401, 'signature_invalid');
  assert.equal(countEvents(db), 2);
  await assertNoSecretsLogged(srv, [secret]);
});

// ---------------------------------------------------------------- sentry

test('sentry: Sentry-Hook-Signature, Request-ID, Sentry-Hook-Resource', async (t) => {
  const secret = 'sentry-e2e-client-secret-0b7d2f';
  const { db, srv } = await serve(t, { SENTRY_CLIENT_SECRET: secret });
  const body = JSON.stringify({ action: 'created', installation: { uuid: '7a485448-a9e2-4c85-8a3c-4f44175783c9' },
    data: { issue: { id: '1170820242', title: 'Error: boom', status: 'unresolved' } }, actor: { type: 'application' } });
  const send = (raw, headers) => post(srv.url, '/webhooks/sentry', { body: raw, headers: {
    'sentry-hook-resource': 'issue', 'sentry-hook-timestamp': String(unixNow()),
    'sentry-hook-signature': hmac('sha256', secret, raw), ...headers } });

  const id = randomUUID();
  const first = await send(body, { 'request-id': id });
  assertAccepted(first, id);
  assertRow(db, first, 'sentry', id, 'issue');
  assertDuplicate(await send(body, { 'request-id': id }), first);
  assert.equal(countEvents(db), 1);

  const fresh = () => ({ 'request-id': randomUUID() });
  assertError(await send(body, { ...fresh(), 'sentry-hook-signature': hmac('sha256', 'not-the-secret', body) }),
    401, 'signature_invalid');
  assertError(await send(body, { ...fresh(), 'sentry-hook-signature': hmac('sha256', secret, body + ' ') }),
    401, 'signature_invalid');
  assertError(await send(body, { ...fresh(), 'sentry-hook-signature': 'sha256=' + hmac('sha256', secret, body) }),
    401, 'signature_invalid');
  assertError(await send(body, { ...fresh(), 'sentry-hook-signature': undefined }), 401, 'signature_missing');
  assertError(await send(body, {}), 400, 'delivery_missing');
  assert.equal(countEvents(db), 1, 'nothing refused was stored');
  await assertNoSecretsLogged(srv, [secret]);
});

// ---------------------------------------------------------------- jira

test('jira: X-Hub-Signature sha256=, X-Atlassian-Webhook-Identifier, webhookEvent from the body', async (t) => {
  const secret = 'jira-e2e-webhook-secret-66aa01';
  const { db, srv } = await serve(t, { JIRA_WEBHOOK_SECRET: secret });
  const body = JSON.stringify({ timestamp: Date.now(), webhookEvent: 'jira:issue_created',
    issue_event_type_name: 'issue_created', user: { accountId: '5b10a2844c20165700ede21g' },
    issue: { id: '10001', key: 'PROJ-1', fields: { summary: '@agent fix the build' } } });
  const send = (raw, headers) => post(srv.url, '/webhooks/jira', { body: raw, headers: {
    'user-agent': 'Atlassian Webhook HTTP Client', 'x-atlassian-webhook-retry': '0',
    'x-hub-signature': 'sha256=' + hmac('sha256', secret, raw), ...headers } });

  const id = '95d9d9f8-6ba5-43d8-b3a2-1e0ba1f2b0f1';
  const first = await send(body, { 'x-atlassian-webhook-identifier': id });
  assertAccepted(first, id);
  assertRow(db, first, 'jira', id, 'jira:issue_created');
  assertDuplicate(await send(body, { 'x-atlassian-webhook-identifier': id, 'x-atlassian-webhook-retry': '1' }), first);
  assert.equal(countEvents(db), 1);

  const fresh = () => ({ 'x-atlassian-webhook-identifier': randomUUID() });
  const good = 'sha256=' + hmac('sha256', secret, body);
  assertError(await send(body, { ...fresh(), 'x-hub-signature': 'sha256=' + hmac('sha256', 'not-the-secret', body) }),
    401, 'signature_invalid');
  assertError(await send(body, { ...fresh(), 'x-hub-signature': good.replace('sha256=', '') }), 401, 'signature_invalid');
  assertError(await send(body, { ...fresh(), 'x-hub-signature': 'sha1=' + hmac('sha1', secret, body) }),
    401, 'signature_invalid');
  assertError(await send(body.replace('PROJ-1', 'PROJ-2'), { ...fresh(), 'x-hub-signature': good }),
    401, 'signature_invalid');
  assertError(await send(body, { ...fresh(), 'x-hub-signature': undefined }), 401, 'signature_missing');
  assertError(await send(body, {}), 400, 'delivery_missing');
  assert.equal(countEvents(db), 1, 'nothing refused was stored');
  await assertNoSecretsLogged(srv, [secret]);
});

// ---------------------------------------------------------------- linear

test('linear: Linear-Signature, webhookTimestamp within 60 s, Linear-Delivery, Linear-Event', async (t) => {
  const secret = 'lin_wh_e2e_secret_c3f9a81d';
  const { db, srv } = await serve(t, { LINEAR_WEBHOOK_SECRET: secret });
  const payload = (extra = {}) => JSON.stringify({ action: 'create', type: 'Issue',
    data: { id: '2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9', title: 'Fix the build — ñ 🚀', identifier: 'ENG-1' },
    url: 'https://linear.app/example/issue/ENG-1', createdAt: new Date().toISOString(),
    organizationId: 'org-1', webhookTimestamp: Date.now(), webhookId: 'wh-1', ...extra });
  const send = (raw, headers) => post(srv.url, '/webhooks/linear', { body: raw, headers: {
    'user-agent': 'Linear-Webhook', 'linear-event': 'Issue', 'linear-delivery': randomUUID(),
    'linear-signature': hmac('sha256', secret, raw), ...headers } });

  const body = payload();
  const id = randomUUID();
  const first = await send(body, { 'linear-delivery': id });
  assertAccepted(first, id);
  assertRow(db, first, 'linear', id, 'Issue');
  assertDuplicate(await send(body, { 'linear-delivery': id }), first);
  assert.equal(countEvents(db), 1);

  assertError(await send(body, { 'linear-signature': hmac('sha256', 'not-the-secret', body) }), 401, 'signature_invalid');
  assertError(await send(payload({ action: 'update' }), { 'linear-signature': hmac('sha256', secret, body) }),
    401, 'signature_invalid');
  assertError(await send(body, { 'linear-signature': undefined }), 401, 'signature_missing');
  // The signed body carries the timestamp; each is correctly signed.
  assertError(await send(payload({ webhookTimestamp: Date.now() - 120_000 })), 401, 'timestamp_invalid');
  assertError(await send(payload({ webhookTimestamp: Date.now() + 120_000 })), 401, 'timestamp_invalid');
  assertError(await send(payload({ webhookTimestamp: undefined })), 401, 'timestamp_invalid');
  assertError(await send(payload({ webhookTimestamp: 'now' })), 401, 'timestamp_invalid');
  assertError(await send(body, { 'linear-delivery': undefined }), 400, 'delivery_missing');
  assert.equal(countEvents(db), 1, 'nothing refused was stored');
  await assertNoSecretsLogged(srv, [secret]);
});

// ---------------------------------------------------------------- stripe

test('stripe: Stripe-Signature t=,v1= (any v1 may match), 300 s tolerance, id and type from the body', async (t) => {
  const secret = 'whsec_stripeE2eSigningSecret4f1c0a9b';
  const stripe = new Stripe('sk_test_x');
  const { db, srv } = await serve(t, { STRIPE_WEBHOOK_SECRET: secret });
  const event = (id, extra = {}) => JSON.stringify({ id, object: 'event', api_version: '2024-06-20',
    created: unixNow(), type: 'payment_intent.succeeded', livemode: false, pending_webhooks: 1,
    data: { object: { id: 'pi_3MtwBwLkdIwHu7ix28a3tqPa', object: 'payment_intent', amount: 2000 } },
    request: { id: null, idempotency_key: null }, ...extra }, null, 2);
  const header = (payload, { timestamp = unixNow(), key = secret } = {}) =>
    stripe.webhooks.generateTestHeaderString({ payload, secret: key, timestamp });
  const send = (raw, sig) => post(srv.url, '/webhooks/stripe', { body: raw, headers: {
    'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)', 'stripe-signature': sig } });

  const body = event('evt_1NG8Du2eZvKYlo2CUI79vXWy');
  const sig = header(body);
  assert.ok(stripe.webhooks.constructEvent(body, sig, secret), 'the fixture verifies with stripe itself');
  const first = await send(body, sig);
  assertAccepted(first, 'evt_1NG8Du2eZvKYlo2CUI79vXWy');
  assertRow(db, first, 'stripe', 'evt_1NG8Du2eZvKYlo2CUI79vXWy', 'payment_intent.succeeded');
  // Stripe's retries are signed afresh.
  assertDuplicate(await send(body, header(body, { timestamp: unixNow() - 1 })), first);
  assert.equal(countEvents(db), 1);

  // Key rotation: a wrong v1 then the right one.
  const rotated = event('evt_1NG8Du2eZvKYlo2CUI79vXWz', { type: 'invoice.paid' });
  const ts = unixNow();
  const right = header(rotated, { timestamp: ts }).split(',v1=')[1];
  const wrongV1 = header(rotated, { timestamp: ts, key: 'whsec_previousSecret' }).split(',v1=')[1];
  const twoSigs = `t=${ts},v1=${wrongV1},v1=${right}`;
  assert.ok(stripe.webhooks.constructEvent(rotated, twoSigs, secret), 'stripe accepts the rotated header');
  const r2 = await send(rotated, twoSigs);
  assertAccepted(r2, 'evt_1NG8Du2eZvKYlo2CUI79vXWz');
  assertRow(db, r2, 'stripe', 'evt_1NG8Du2eZvKYlo2CUI79vXWz', 'invoice.paid');
  assert.equal(countEvents(db), 2);

  const other = event('evt_1NG8Du2eZvKYlo2CUI79vXX0');
  assertError(await send(other, header(other, { key: 'whsec_notTheSecret' })), 401, 'signature_invalid');
  assertError(await send(other, `t=${ts},v1=${wrongV1}`), 401, 'signature_invalid');
  assertError(await send(other, sig), 401, 'signature_invalid'); // signed other bytes
  assertError(await send(other, undefined), 401, 'signature_missing');
  const stale = header(other, { timestamp: unixNow() - 600 });
  assert.throws(() => stripe.webhooks.constructEvent(other, stale, secret), /tolerance/);
  assertError(await send(other, stale), 401, 'timestamp_invalid');
  // A correctly signed event without an id has no delivery id.
  const noId = JSON.stringify({ object: 'event', type: 'invoice.paid', data: { object: {} } });
  assertError(await send(noId, header(noId)), 400, 'delivery_missing');
  assert.equal(countEvents(db), 2, 'nothing refused was stored');
  await assertNoSecretsLogged(srv, [secret, secret.slice('whsec_'.length)]);
});

// ---------------------------------------------------------------- standard

test('standard: webhook-id/-timestamp/-signature (any v1 may match), 300 s tolerance', async (t) => {
  const key = Buffer.from('standard-webhooks-e2e-key-2f8c71d0');
  const secret = 'whsec_' + key.toString('base64');
  const wh = new Webhook(secret);
  const old = new Webhook('whsec_' + Buffer.from('the-previous-key-before-rotation').toString('base64'));
  const { db, srv } = await serve(t, { STANDARD_WEBHOOK_SECRET: secret });
  const payload = (type = 'invoice.paid', n = 1) =>
    JSON.stringify({ type, timestamp: new Date().toISOString(), data: { id: `inv_${n}`, amount: 1000 } });
  // Signs with the library; `headers` may override or (undefined) drop any header.
  const send = (raw, { id = 'msg_' + randomUUID().replaceAll('-', ''), ts = unixNow(), signer = wh,
    headers = {} } = {}) => {
    const h = { 'webhook-id': id, 'webhook-timestamp': String(ts),
      'webhook-signature': signer.sign(id, new Date(ts * 1000), raw), ...headers };
    return post(srv.url, '/webhooks/standard', { body: raw, headers: h }).then((r) => ({ ...r, sent: h }));
  };

  const body = payload();
  const first = await send(body, { id: 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W' });
  assert.deepEqual(wh.verify(body, first.sent), JSON.parse(body), 'the fixture verifies with standardwebhooks');
  assertAccepted(first, 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W');
  assertRow(db, first, 'standard', 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W', 'invoice.paid');
  assertDuplicate(await send(body, { id: 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W' }), first);
  assert.equal(countEvents(db), 1);

  // Rotation: two signatures, only the second valid.
  const rotated = payload('invoice.created', 2);
  const ts = unixNow();
  const id = 'msg_rotation1';
  const both = `${old.sign(id, new Date(ts * 1000), rotated)} ${wh.sign(id, new Date(ts * 1000), rotated)}`;
  const rot = await send(rotated, { id, ts, headers: { 'webhook-signature': both } });
  assert.ok(wh.verify(rotated, rot.sent), 'standardwebhooks accepts the rotated header');
  assertAccepted(rot, id);
  assertRow(db, rot, 'standard', id, 'invoice.created');
  assert.equal(countEvents(db), 2);

  const other = payload('invoice.paid', 3);
  assertError(await send(other, { signer: old }), 401, 'signature_invalid');
  assertError(await send(other, { headers: { 'webhook-signature': wh.sign('msg_x', new Date(), body) } }),
    401, 'signature_invalid');
  // The right bytes under another version tag are not a v1 signature.
  const v2ts = unixNow();
  assertError(await send(other, { id: 'msg_v2', ts: v2ts,
    headers: { 'webhook-signature': 'v2,' + wh.sign('msg_v2', new Date(v2ts * 1000), other).slice('v1,'.length) } }),
  401, 'signature_invalid');
  assertError(await send(other, { headers: { 'webhook-signature': undefined } }), 401, 'signature_missing');
  // Correctly signed, but stale, too far ahead, missing or malformed timestamps.
  const staleTs = unixNow() - 600;
  assert.throws(() => wh.verify(other, { 'webhook-id': 'msg_s', 'webhook-timestamp': String(staleTs),
    'webhook-signature': wh.sign('msg_s', new Date(staleTs * 1000), other) }), /too old/);
  assertError(await send(other, { ts: staleTs }), 401, 'timestamp_invalid');
  assertError(await send(other, { ts: unixNow() + 600 }), 401, 'timestamp_invalid');
  assertError(await send(other, { headers: { 'webhook-timestamp': undefined } }), 401, 'timestamp_invalid');
  assertError(await send(other, { headers: { 'webhook-timestamp': 'soon' } }), 401, 'timestamp_invalid');
  // A timestamp other than the signed one.
  assertError(await send(other, { headers: { 'webhook-timestamp': String(unixNow() - 2) } }), 401, 'signature_invalid');
  assert.equal(countEvents(db), 2, 'nothing refused was stored');
  await assertNoSecretsLogged(srv, [secret, key.toString('base64')]);
});

// ---------------------------------------------------------------- generic

test('generic: configurable header, algorithm, encoding, prefix, token mode, delivery and event sources', async (t) => {
  await t.test('defaults: X-Signature, hex HMAC-SHA256, delivery = sha256 of the body, type "webhook"', async (t) => {
    const secret = 'generic-e2e-default-secret-1a2b';
    const { db, srv } = await serve(t, { GENERIC_WEBHOOK_SECRET: secret });
    const send = (raw, headers) => post(srv.url, '/webhooks/generic', { body: raw,
      headers: { 'x-signature': hmac('sha256', secret, raw), ...headers } });
    const body = JSON.stringify({ hello: 'world', n: 1 });
    const delivery = 'sha256:' + sha256hex(body);
    const first = await send(body);
    assertAccepted(first, delivery);
    assertRow(db, first, 'generic', delivery, 'webhook');
    assertDuplicate(await send(body), first);
    assert.equal(countEvents(db), 1, 'the same body twice is one event');
    const second = JSON.stringify({ hello: 'world', n: 2 });
    assertAccepted(await send(second), 'sha256:' + sha256hex(second));
    assert.equal(countEvents(db), 2);

    const third = JSON.stringify({ n: 3 });
    assertError(await send(third, { 'x-signature': hmac('sha256', 'not-the-secret', third) }), 401, 'signature_invalid');
    assertError(await send(third, { 'x-signature': hmac('sha512', secret, third) }), 401, 'signature_invalid');
    assertError(await send(third, { 'x-signature': hmac('sha256', secret, third, 'base64') }), 401, 'signature_invalid');
    assertError(await send(third, { 'x-signature': hmac('sha256', secret, body) }), 401, 'signature_invalid');
    assertError(await send(third, { 'x-signature': undefined }), 401, 'signature_missing');
    assert.equal(countEvents(db), 2, 'nothing refused was stored');
    await assertNoSecretsLogged(srv, [secret]);
  });

  await t.test('sha512, base64, a prefix, a custom header, delivery and event from headers', async (t) => {
    const secret = 'generic-e2e-sha512-secret-9f8e';
    const { db, srv } = await serve(t, {
      GENERIC_WEBHOOK_SECRET: secret, GENERIC_SIGNATURE_HEADER: 'X-Acme-Signature',
      GENERIC_SIGNATURE_ALGORITHM: 'sha512', GENERIC_SIGNATURE_ENCODING: 'base64',
      GENERIC_SIGNATURE_PREFIX: 'sha512=', GENERIC_DELIVERY_HEADER: 'X-Acme-Delivery',
      GENERIC_EVENT_HEADER: 'X-Acme-Event',
    });
    const good = (raw) => 'sha512=' + hmac('sha512', secret, raw, 'base64');
    const send = (raw, headers) => post(srv.url, '/webhooks/generic', { body: raw, headers: {
      'x-acme-signature': good(raw), 'x-acme-event': 'order.created', 'x-acme-delivery': randomUUID(), ...headers } });
    const body = JSON.stringify({ order: { id: 42, total: '9.99' } });
    const id = randomUUID();
    const first = await send(body, { 'x-acme-delivery': id });
    assertAccepted(first, id);
    assertRow(db, first, 'generic', id, 'order.created');
    assertDuplicate(await send(body, { 'x-acme-delivery': id }), first);
    assert.equal(countEvents(db), 1);

    assertError(await send(body, { 'x-acme-signature': 'sha512=' + hmac('sha512', 'nope', body, 'base64') }),
      401, 'signature_invalid');
    assertError(await send(body, { 'x-acme-signature': good(body).slice('sha512='.length) }), 401, 'signature_invalid');
    assertError(await send(body, { 'x-acme-signature': 'sha512=' + hmac('sha512', secret, body, 'hex') }),
      401, 'signature_invalid');
    assertError(await send(body, { 'x-acme-signature': 'sha512=' + hmac('sha256', secret, body, 'base64') }),
      401, 'signature_invalid');
    assertError(await send(body, { 'x-acme-signature': undefined, 'x-signature': hmac('sha256', secret, body) }),
      401, 'signature_missing');
    assert.equal(countEvents(db), 1, 'nothing refused was stored');
    await assertNoSecretsLogged(srv, [secret]);
  });

  await t.test('sha1, hex, a prefix', async (t) => {
    const secret = 'generic-e2e-sha1-secret-77c3';
    const { db, srv } = await serve(t, { GENERIC_WEBHOOK_SECRET: secret, GENERIC_SIGNATURE_ALGORITHM: 'sha1',
      GENERIC_SIGNATURE_PREFIX: 'sha1=', GENERIC_EVENT_HEADER: 'X-Event-Key' });
    const body = JSON.stringify({ push: { changes: [] } });
    const ok = await post(srv.url, '/webhooks/generic', { body, headers: {
      'x-signature': 'sha1=' + hmac('sha1', secret, body), 'x-event-key': 'repo:push' } });
    assertAccepted(ok, 'sha256:' + sha256hex(body));
    assertRow(db, ok, 'generic', 'sha256:' + sha256hex(body), 'repo:push');
    const other = JSON.stringify({ push: { changes: [1] } });
    assertError(await post(srv.url, '/webhooks/generic', { body: other, headers: {
      'x-signature': 'sha1=' + hmac('sha256', secret, other), 'x-event-key': 'repo:push' } }), 401, 'signature_invalid');
    assert.equal(countEvents(db), 1);
    await assertNoSecretsLogged(srv, [secret]);
  });

  await t.test('token mode; delivery and event from dotted JSON paths', async (t) => {
    const secret = 'generic-e2e-token-4d5e6f';
    const { db, srv } = await serve(t, { GENERIC_WEBHOOK_SECRET: secret, GENERIC_TOKEN_HEADER: 'X-Acme-Token',
      GENERIC_DELIVERY_JSON: 'data.id', GENERIC_EVENT_JSON: 'event.type' });
    const send = (raw, headers) => post(srv.url, '/webhooks/generic', { body: raw,
      headers: { 'x-acme-token': secret, ...headers } });
    const body = JSON.stringify({ event: { type: 'order.created' }, data: { id: 'ord_1001', total: 5 } });
    const first = await send(body);
    assertAccepted(first, 'ord_1001');
    assertRow(db, first, 'generic', 'ord_1001', 'order.created');
    // Other bytes, same data.id: the JSON path, not the body hash, is the id.
    const resent = JSON.stringify({ event: { type: 'order.created' }, data: { id: 'ord_1001', total: 5 }, attempt: 2 });
    assertDuplicate(await send(resent), first);
    assert.equal(countEvents(db), 1);

    const other = JSON.stringify({ event: { type: 'order.paid' }, data: { id: 'ord_1002' } });
    assertError(await send(other, { 'x-acme-token': 'not-the-token' }), 401, 'signature_invalid');
    assertError(await send(other, { 'x-acme-token': secret.slice(0, -1) }), 401, 'signature_invalid');
    assertError(await send(other, { 'x-acme-token': undefined }), 401, 'signature_missing');
    // In token mode an HMAC is not a substitute for the token.
    assertError(await send(other, { 'x-acme-token': undefined, 'x-signature': hmac('sha256', secret, other) }),
      401, 'signature_missing');
    assert.equal(countEvents(db), 1, 'nothing refused was stored');
    const second = await send(other);
    assertAccepted(second, 'ord_1002');
    assertRow(db, second, 'generic', 'ord_1002', 'order.paid');
    await assertNoSecretsLogged(srv, [secret]);
  });
});

// ---------------------------------------------------------------- modes

test('production: an endpoint whose secret is not set is 404; --dev without secrets accepts unsigned', async (t) => {
  // Only GitHub's secret (set by startHookq) is configured.
  const { db, srv } = await serve(t);
  for (const p of PROVIDERS.filter((x) => x !== 'github')) {
    const r = await post(srv.url, `/webhooks/${p}`, { body: '{"type":"x","id":"evt_1"}',
      headers: { 'x-gitlab-event': 'Push Hook', 'x-gitlab-event-uuid': randomUUID(), 'x-gitlab-token': 'anything' } });
    assertError(r, 404, 'not_found');
  }
  assertAccepted(await deliver(srv.url, { delivery: 'still-github-1' }), 'still-github-1');
  assert.equal(countEvents(db), 1);
  await assertNoSecretsLogged(srv, []);

  // Dev mode: no secrets at all, an unsigned GitLab hook is accepted; a
  // provider whose secret is set is still verified.
  const slackSecret = 'slack-e2e-dev-secret-0c0c';
  const devDb = newDb(t);
  const dev = await startHookq({ db: devDb, t, secret: null, args: ['--dev'],
    env: { ADMIN_PASSWORD: undefined, SLACK_SIGNING_SECRET: slackSecret } });
  const uuid = randomUUID();
  const unsigned = await post(dev.url, '/webhooks/gitlab', { body: JSON.stringify({ object_kind: 'push' }),
    headers: { 'x-gitlab-event': 'Push Hook', 'x-gitlab-event-uuid': uuid } });
  assertAccepted(unsigned, uuid);
  assertRow(devDb, unsigned, 'gitlab', uuid, 'Push Hook');
  const slack = await post(dev.url, '/webhooks/slack', {
    body: JSON.stringify({ type: 'event_callback', event_id: 'EvDev1', event: { type: 'message' } }),
    headers: { 'x-slack-request-timestamp': String(unixNow()) } });
  assertError(slack, 401, 'signature_missing');
  assert.equal(countEvents(devDb), 1);
  await assertNoSecretsLogged(dev, [slackSecret]);
});

test('provider secrets can come from *_FILE (trailing newline stripped)', async (t) => {
  const dir = tempDir(t);
  const gitlab = 'gitlab-e2e-file-token-3e3e';
  const stripeSecret = 'whsec_stripeE2eFromFile0a0a';
  writeFileSync(join(dir, 'gitlab'), gitlab + '\n');
  writeFileSync(join(dir, 'stripe'), stripeSecret + '\n');
  const { db, srv } = await serve(t, { GITLAB_WEBHOOK_SECRET_FILE: join(dir, 'gitlab'),
    STRIPE_WEBHOOK_SECRET_FILE: join(dir, 'stripe') });
  const uuid = randomUUID();
  const gl = await post(srv.url, '/webhooks/gitlab', { body: '{"object_kind":"push"}',
    headers: { 'x-gitlab-event': 'Push Hook', 'x-gitlab-event-uuid': uuid, 'x-gitlab-token': gitlab } });
  assertAccepted(gl, uuid);
  assertError(await post(srv.url, '/webhooks/gitlab', { body: '{"object_kind":"push"}',
    headers: { 'x-gitlab-event': 'Push Hook', 'x-gitlab-event-uuid': randomUUID(), 'x-gitlab-token': gitlab + 'x' } }),
  401, 'signature_invalid');
  const stripe = new Stripe('sk_test_x');
  const body = JSON.stringify({ id: 'evt_fromfile1', object: 'event', type: 'charge.succeeded' });
  const st = await post(srv.url, '/webhooks/stripe', { body, headers: {
    'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload: body, secret: stripeSecret }) } });
  assertAccepted(st, 'evt_fromfile1');
  assertRow(db, st, 'stripe', 'evt_fromfile1', 'charge.succeeded');
  // A provider with no secret and no file stays off.
  assertError(await post(srv.url, '/webhooks/sentry', { body: '{}' }), 404, 'not_found');
  assert.equal(countEvents(db), 2);
  await assertNoSecretsLogged(srv, [gitlab, stripeSecret]);
});

test('delivery ids longer than 200 characters are refused, never cut into another delivery\'s', async (t) => {
  const { createHmac } = await import('node:crypto');
  const db = newDb(t);
  const secret = 'whsec_long_ids_test';
  const srv = await startHookq({ db, t, env: { STRIPE_WEBHOOK_SECRET: secret } });
  const send = async (id) => {
    const body = JSON.stringify({ id, type: 'charge.succeeded' });
    const ts = Math.floor(Date.now() / 1000);
    const v1 = createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex');
    const res = await fetch(srv.url + '/webhooks/stripe', { method: 'POST', body,
      headers: { 'content-type': 'application/json', 'stripe-signature': `t=${ts},v1=${v1}` } });
    return { status: res.status, json: await res.json() };
  };
  const base = 'evt_' + 'x'.repeat(196); // 200 characters: the limit
  assert.equal((await send(base)).status, 200);
  const longer = await send(base + 'A');
  assert.equal(longer.status, 400);
  assert.equal(longer.json.error, 'delivery_invalid');
  assert.equal((await send(base + 'B')).status, 400, 'not a "duplicate" of the 200-character one');
  assert.equal(query(db, 'select count(*) as n from events')[0].n, 1);
});
