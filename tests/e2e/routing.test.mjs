// Routing at processing time: static routes from hookq.yaml turn events
// into decisions recorded with the event — the command a comment asks for
// with its rendered prompt, a trigger by type and condition, or why
// nothing matched (authorization, bots, quotes). Real payloads from
// @octokit/webhooks-examples, signed with @octokit/webhooks-methods.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { createHmac } from 'node:crypto';
import { createRequire } from 'node:module';
import { newDb, startHookq, deliver, query, tempDir, waitFor, ADMIN_PASSWORD } from './helpers.mjs';

const examples = createRequire(import.meta.url)('@octokit/webhooks-examples');
const sample = (name, action) => structuredClone(examples.find((e) => e.name === name).examples
  .find((p) => p.action === action));

const config = `
routes:
  - name: github
    provider: github
    command_prefix: "@agent"
    default_command: analyze
    commands:
      - name: analyze
        agent: planning
        prompt: "Analyze {{repository.full_name}}#{{issue.number}}: {{hookq.request}}"
      - name: fix
        aliases: [repair]
        agent: brain
        prompt: "Fix {{issue.title}} as asked: {{hookq.request}} ({{comment.user.login}})"
    triggers:
      - on: issues.opened
        agent: triage
        prompt: "Triage {{issue.title}}"
        conditions: {path: issue.title, prefix: "[agent]"}
  - name: slack
    provider: slack
    command_prefix: /agent
    commands:
      - {name: run, agent: ops, prompt: "{{text}} for {{user_name}}"}
`;

async function routed(db, id) {
  const [row] = await waitFor(() => {
    const rows = query(db, `select status, routing from events where id = ${id}`);
    return rows[0] && rows[0].status === 'completed' ? rows : null;
  });
  return JSON.parse(row.routing);
}

test('commands, triggers and authorization decide what each event asks for, recorded with it', async (t) => {
  const dir = tempDir(t);
  const cfg = join(dir, 'hookq.yaml');
  writeFileSync(cfg, config);
  const db = newDb(t);
  const comment = sample('issue_comment', 'created');
  const owner = comment.repository.owner.login;
  const author = comment.sender.login;
  const srv = await startHookq({ db, t, args: ['--config', cfg],
    env: { ALLOWED_ORGS: `${owner}, other-org`, AUTHORIZED_TRIGGER_USERS: `${author},U1`,
      SLACK_SIGNING_SECRET: 'slack-routing-secret' } });

  // A command with an alias, after a quoted line that must not count.
  comment.comment.body = '> @agent analyze everything\nThanks!\n@agent REPAIR the {{issue.title}} flaky test\n';
  let r = await deliver(srv.url, { event: 'issue_comment', payload: comment });
  let d = await routed(db, r.json.event_id);
  assert.equal(d.type, 'issue_comment.created');
  assert.equal(d.external_id, `github:${comment.repository.full_name}#${comment.issue.number}`, 'the flow key');
  assert.deepEqual(d.reply_to, { repository: comment.repository.full_name, number: String(comment.issue.number),
    comment_id: String(comment.comment.id), comment_kind: 'issue_comment' });
  assert.equal(d.matches.length, 1);
  const m = d.matches[0];
  assert.deepEqual({ route: m.route, kind: m.kind, command: m.command, agent: m.agent },
    { route: 'github', kind: 'command', command: 'fix', agent: 'brain' });
  assert.equal(m.request, 'the {{issue.title}} flaky test');
  assert.equal(m.prompt, `Fix ${comment.issue.title} as asked: the {{issue.title}} flaky test (${comment.comment.user.login})`,
    'rendered from the payload; the payload\'s own {{...}} is not evaluated');

  // The prefix with no known name: the default command.
  comment.comment.body = '@agent what is wrong here?';
  r = await deliver(srv.url, { event: 'issue_comment', payload: comment });
  d = await routed(db, r.json.event_id);
  assert.equal(d.matches[0].command, 'analyze');
  assert.equal(d.matches[0].prompt, `Analyze ${comment.repository.full_name}#${comment.issue.number}: what is wrong here?`);

  // An edited comment never runs its command again.
  const edited = structuredClone(comment);
  edited.action = 'edited';
  edited.comment.body = '@agent fix it';
  d = await routed(db, (await deliver(srv.url, { event: 'issue_comment', payload: edited })).json.event_id);
  assert.equal(d.type, 'issue_comment.edited');
  assert.deepEqual(d.matches, []);

  // Nothing asked.
  comment.comment.body = 'plain words, and mail@agent.io';
  r = await deliver(srv.url, { event: 'issue_comment', payload: comment });
  d = await routed(db, r.json.event_id);
  assert.deepEqual(d.matches, []);
  assert.deepEqual(d.skipped, [{ route: 'github', skipped: 'no command in the text and no trigger matched' }]);

  // A bot never triggers; neither does someone not in AUTHORIZED_TRIGGER_USERS.
  const bot = structuredClone(comment);
  bot.comment.body = '@agent fix it';
  bot.sender = { ...bot.sender, login: 'renovate[bot]', type: 'Bot' };
  d = await routed(db, (await deliver(srv.url, { event: 'issue_comment', payload: bot })).json.event_id);
  assert.equal(d.skipped[0].skipped, "actor 'renovate[bot]' is a bot: bots never trigger work");
  const stranger = structuredClone(comment);
  stranger.comment.body = '@agent fix it';
  stranger.sender = { ...stranger.sender, login: 'mallory', type: 'User' };
  d = await routed(db, (await deliver(srv.url, { event: 'issue_comment', payload: stranger })).json.event_id);
  assert.equal(d.skipped[0].skipped, "actor 'mallory' is not in AUTHORIZED_TRIGGER_USERS");
  const foreign = structuredClone(comment);
  foreign.comment.body = '@agent fix it';
  foreign.repository.owner.login = 'someone-else';
  d = await routed(db, (await deliver(srv.url, { event: 'issue_comment', payload: foreign })).json.event_id);
  assert.equal(d.skipped[0].skipped, "repository owner 'someone-else' is not in ALLOWED_ORGS or ALLOWED_USERS");

  // A trigger by type and condition; the issue body's command would win.
  const opened = sample('issues', 'opened');
  opened.sender.login = author;
  opened.issue.title = '[agent] the build is red';
  opened.issue.body = 'no command here';
  d = await routed(db, (await deliver(srv.url, { event: 'issues', payload: opened })).json.event_id);
  assert.deepEqual({ kind: d.matches[0].kind, on: d.matches[0].on, agent: d.matches[0].agent, prompt: d.matches[0].prompt },
    { kind: 'trigger', on: 'issues.opened', agent: 'triage', prompt: 'Triage [agent] the build is red' });
  opened.issue.title = 'the build is red';
  d = await routed(db, (await deliver(srv.url, { event: 'issues', payload: opened })).json.event_id);
  assert.deepEqual(d.matches, []);

  // Slack: the slash command is the prefix.
  const form = 'command=%2Fagent&text=run+the+deploy&user_name=alice&user_id=U1&team_id=T1&channel_id=C9&trigger_id=9.8.7&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2F1';
  const ts = String(Math.floor(Date.now() / 1000));
  const sig = 'v0=' + createHmac('sha256', 'slack-routing-secret').update(`v0:${ts}:${form}`).digest('hex');
  const slack = await fetch(srv.url + '/webhooks/slack', { method: 'POST', body: form,
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': ts, 'x-slack-signature': sig } });
  assert.equal(slack.status, 200);
  const [row] = query(db, "select id from events where provider = 'slack'");
  d = await routed(db, row.id);
  assert.deepEqual({ command: d.matches[0].command, agent: d.matches[0].agent, prompt: d.matches[0].prompt },
    { command: 'run', agent: 'ops', prompt: 'run the deploy for alice' });
  assert.equal(d.external_id, 'slack:T1/C9');
  assert.equal(d.reply_to.response_url, 'https://hooks.slack.com/commands/1');

  // The decision is part of the event in the admin API.
  const auth = { authorization: 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64') };
  const shown = await (await fetch(`${srv.url}/api/events/${row.id}`, { headers: auth })).json();
  assert.equal(shown.routing.matches[0]?.command, 'run', JSON.stringify(shown));

  // SIGHUP: new routes apply to the next events.
  writeFileSync(cfg, config.replace('command_prefix: "@agent"', 'command_prefix: "@bot"'));
  srv.proc.kill('SIGHUP');
  await waitFor(() => /msg="routes reloaded"/.test(srv.logs));
  comment.comment.body = '@bot fix it';
  d = await routed(db, (await deliver(srv.url, { event: 'issue_comment', payload: comment })).json.event_id);
  assert.equal(d.matches[0].command, 'fix');
});

test('events of a provider no route reads carry no routing', async (t) => {
  const db = newDb(t);
  const srv = await startHookq({ db, t });
  const r = await deliver(srv.url, { event: 'issues', payload: sample('issues', 'opened') });
  await waitFor(() => query(db, `select status from events where id = ${r.json.event_id}`)[0].status === 'completed');
  assert.equal(query(db, `select routing from events where id = ${r.json.event_id}`)[0].routing, null);
});

test('a route with its own endpoint and secret reads only what arrives there', async (t) => {
  const dir = tempDir(t);
  const cfg = join(dir, 'hookq.yaml');
  writeFileSync(cfg, `
routes:
  - name: team-a
    provider: github
    endpoint: /webhooks/team-a
    secret_env: TEAM_A_SECRET
    triggers:
      - {on: "issues.*", agent: team-a-bot, prompt: "A: {{issue.title}}"}
  - provider: github
    triggers:
      - {on: "issues.*", agent: default-bot, prompt: "D: {{issue.title}}"}
`);
  const { spawnSync } = await import('node:child_process');
  const { bin, SECRET } = await import('./helpers.mjs');
  const refused = spawnSync(bin, ['serve', '--config', cfg, '--db', join(dir, 'x.db')],
    { env: { PATH: process.env.PATH, GITHUB_WEBHOOK_SECRET: SECRET, ADMIN_PASSWORD }, encoding: 'utf8', timeout: 15000 });
  assert.equal(refused.status, 78);
  assert.match(refused.stderr, /route 'team-a': TEAM_A_SECRET \(its secret_env\) is not set/);

  const db = newDb(t);
  const srv = await startHookq({ db, t, args: ['--config', cfg], env: { TEAM_A_SECRET: 'team-a-secret-1' } });
  assert.match(srv.logs, /endpoints="[^"]*\/webhooks\/team-a/);
  const payload = sample('issues', 'opened');
  const a = await deliver(srv.url, { path: '/webhooks/team-a', event: 'issues', payload, secret: 'team-a-secret-1' });
  assert.equal(a.status, 200);
  assert.equal((await deliver(srv.url, { path: '/webhooks/team-a', event: 'issues', payload })).status, 401,
    'the provider\'s secret does not open the route\'s endpoint');
  const d = await deliver(srv.url, { event: 'issues', payload });
  assert.equal(d.status, 200);
  assert.equal(query(db, `select route from events where id = ${a.json.event_id}`)[0].route, 'team-a');
  const ra = await routed(db, a.json.event_id);
  assert.deepEqual(ra.matches.map((m) => [m.route, m.agent]), [['team-a', 'team-a-bot']]);
  const rd = await routed(db, d.json.event_id);
  assert.deepEqual(rd.matches.map((m) => [m.route, m.agent]), [['github', 'default-bot']]);
  // Endpoints are set up at start: a reload that renames one is refused.
  const { readFileSync } = await import('node:fs');
  writeFileSync(cfg, readFileSync(cfg, 'utf8').replace('name: team-a', 'name: team-b'));
  srv.proc.kill('SIGHUP');
  await waitFor(() => /routes not reloaded: keeping the previous ones.*route 'team-b': endpoints change only at a restart/.test(srv.logs));
  await srv.stop();
  assert.ok(!srv.logs.includes('team-a-secret-1'));
});
