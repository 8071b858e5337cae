// Nothing acknowledged is lost: kill -9 the daemon under continuous load,
// restart it on the same database, and check every 2xx delivery is there
// exactly once (three rounds, each killed at a different moment).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { newDb, postgres, startHookq, deliver, query, sleep } from './helpers.mjs';

const examples = createRequire(import.meta.url)('@octokit/webhooks-examples');

const payload = examples.find((e) => e.name === 'issue_comment').examples[0];

async function load(url, acked, state, senders = 16) {
  const one = async () => {
    while (!state.stop) {
      const delivery = randomUUID();
      state.sent++;
      try {
        const r = await deliver(url, { event: 'issue_comment', payload, delivery });
        if (r.status === 200) acked.set(delivery, r.json.event_id);
        else state.errors.push(`${r.status} ${r.text}`);
      } catch {
        state.failed++; // connection died with the server: not acknowledged
        await sleep(5);
      }
    }
  };
  return Promise.all(Array.from({ length: senders }, one));
}

test('kill -9 under load loses no acknowledged webhook and duplicates none', async (t) => {
  const db = newDb(t);
  const acked = new Map();
  for (const [round, killAfter] of [[1, 700], [2, 1100], [3, 450]]) {
    const srv = await startHookq({ db, t });
    const state = { stop: false, sent: 0, failed: 0, errors: [] };
    const running = load(srv.url, acked, state);
    const before = acked.size;
    await sleep(killAfter);
    srv.proc.kill('SIGKILL');
    await srv.exit;
    await sleep(100);
    state.stop = true;
    await running;
    assert.deepEqual(state.errors, [], `round ${round}: only 200s or dropped connections`);
    assert.ok(acked.size - before > 20, `round ${round}: load was running (${acked.size - before} acked)`);
    t.diagnostic(`round ${round}: ${acked.size - before} acknowledged, ${state.failed} cut by the kill`);
  }

  const srv = await startHookq({ db, t });
  if (!postgres) {
    const [integrity] = query(db, 'pragma integrity_check');
    assert.equal(integrity.integrity_check, 'ok');
  }
  const rows = query(db, 'select delivery_id, id from events');
  const stored = new Map(rows.map((r) => [r.delivery_id, r.id]));
  assert.equal(stored.size, rows.length, 'no delivery stored twice');
  let missing = 0;
  for (const [delivery, id] of acked) {
    if (stored.get(delivery) !== id) missing++;
  }
  assert.equal(missing, 0, `${missing} of ${acked.size} acknowledged deliveries are missing or changed`);

  // Redelivering what was acknowledged creates nothing new.
  const sample = [...acked].slice(0, 100);
  for (const [delivery, id] of sample) {
    const r = await deliver(srv.url, { event: 'issue_comment', payload, delivery });
    assert.equal(r.json.status, 'duplicate');
    assert.equal(r.json.event_id, id);
  }
  assert.equal(query(db, 'select count(*) as n from events')[0].n, rows.length);
});
