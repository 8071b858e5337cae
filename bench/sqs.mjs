// Node side of bench/sqs: fauxqs on loopback, preloading a queue, watching
// hookq drain it, and the plain @aws-sdk/client-sqs drain it is compared
// with. bench/sqs runs each step as its own process, so that the client
// steps never share fauxqs's event loop.
//
//   node bench/sqs.mjs serve
//       fauxqs on 127.0.0.1, a free port; prints "fauxqs listening PORT".
//   node bench/sqs.mjs fill --endpoint URL --queue NAME --count N --tag T
//                           --body FILE --senders S
//       creates the standard queue NAME and sends N messages (hookq's SQS
//       envelope around FILE's bytes as base64, delivery id bench-T-<n>)
//       with S concurrent SendMessageBatch loops; prints "queue URL".
//   node bench/sqs.mjs watch --endpoint URL --queue-url Q --db FILE
//                            --expect N --ready FILE --timeout S
//       once ready (client loaded, queue reachable), writes FILE; then polls
//       until Q is empty and FILE's events table holds N rows, and prints
//       "done <epoch ms>" (the first sample that saw both).
//   node bench/sqs.mjs drain --endpoint URL --queue-url Q --expect N
//                            --loops P --wait S --timeout S
//       P loops of ReceiveMessage (10) + DeleteMessageBatch until N
//       messages are deleted; prints "drained N SECONDS".
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

// The SDK warns once that it will need Node 22 in 2027; this runs on 20.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const REGION = 'us-east-1';
// fauxqs checks no signature; any keys do.
const CREDENTIALS = { accessKeyId: 'AKIDFAUXQSBENCH', secretAccessKey: 'fauxqs-bench-secret' };

const nowMs = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fail = (msg) => {
  process.stderr.write(`bench/sqs.mjs: ${msg}\n`);
  process.exit(1);
};

const { positionals, values: opt } = parseArgs({
  allowPositionals: true,
  options: Object.fromEntries(['endpoint', 'queue', 'queue-url', 'count', 'tag', 'body', 'senders',
    'db', 'expect', 'ready', 'timeout', 'loops', 'wait'].map((k) => [k, { type: 'string' }])),
});
const need = (k) => opt[k] ?? fail(`--${k} missing`);
const whole = (k) => {
  const n = Number(need(k));
  if (!Number.isInteger(n) || n < 1) fail(`--${k} must be a positive whole number`);
  return n;
};

async function client() {
  const sqs = await import('@aws-sdk/client-sqs');
  return { sqs, c: new sqs.SQSClient({ region: REGION, endpoint: need('endpoint'), credentials: CREDENTIALS }) };
}

async function depth({ sqs, c }, queueUrl) {
  const r = await c.send(new sqs.GetQueueAttributesCommand({
    QueueUrl: queueUrl,
    AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible',
      'ApproximateNumberOfMessagesDelayed'],
  }));
  const a = r.Attributes;
  return Number(a.ApproximateNumberOfMessages) + Number(a.ApproximateNumberOfMessagesNotVisible) +
    Number(a.ApproximateNumberOfMessagesDelayed);
}

async function serve() {
  // fauxqs's CLI and startFauxqs() bind 0.0.0.0 (FAUXQS_HOST only names
  // the host in queue URLs); its buildApp() lets us listen on loopback.
  const { buildApp } = await import('fauxqs');
  const app = buildApp({ logger: false, defaultRegion: REGION });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  process.stdout.write(`fauxqs listening ${new URL(address).port}\n`);
  const stop = () => app.close().finally(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

async function fill() {
  const count = whole('count');
  const senders = whole('senders');
  const tag = need('tag');
  // Sent as base64, so hookq stores exactly these bytes, as over HTTP.
  const payload = readFileSync(need('body')).toString('base64');
  const q = await client();
  const { QueueUrl: url } = await q.c.send(new q.sqs.CreateQueueCommand({ QueueName: need('queue') }));
  let next = 0;
  const sender = async () => {
    for (;;) {
      const first = next;
      if (first >= count) return;
      next = Math.min(first + 10, count);
      const entries = [];
      for (let n = first; n < next; n++) {
        entries.push({ Id: `m${n - first}`, MessageBody: JSON.stringify({
          headers: { 'X-GitHub-Event': 'issue_comment', 'X-GitHub-Delivery': `bench-${tag}-${n}` },
          payload,
        }) });
      }
      const r = await q.c.send(new q.sqs.SendMessageBatchCommand({ QueueUrl: url, Entries: entries }));
      if (r.Failed?.length) fail(`SendMessageBatch failed: ${JSON.stringify(r.Failed[0])}`);
    }
  };
  await Promise.all(Array.from({ length: senders }, sender));
  const d = await depth(q, url);
  if (d !== count) fail(`queue ${url} holds ${d} messages after sending ${count}`);
  process.stdout.write(`queue ${url}\n`);
}

function storedRows(db) {
  // hookq is writing meanwhile; .timeout waits out its write lock.
  const out = execFileSync('sqlite3', ['-cmd', '.timeout 5000', db, 'select count(*) from events'],
    { encoding: 'utf8' });
  return Number(out.trim());
}

async function watch() {
  const expect = whole('expect');
  const timeoutMs = whole('timeout') * 1000;
  const queueUrl = need('queue-url');
  const db = need('db');
  const q = await client();
  await depth(q, queueUrl); // loads the SDK's lazy parts and opens the connection
  writeFileSync(need('ready'), 'ready\n');
  const start = nowMs();
  // 50 ms between samples: under 1 % of a run of several seconds, and
  // GetQueueAttributes is cheap next to what hookq asks fauxqs for.
  for (;;) {
    const t = nowMs();
    if ((await depth(q, queueUrl)) === 0) {
      // Messages are deleted only after their commit, so an empty queue
      // means all are stored; counted anyway (a loss would show here).
      const rows = storedRows(db);
      if (rows >= expect) {
        process.stdout.write(`done ${t.toFixed(3)} ${rows}\n`);
        return;
      }
    }
    if (t - start > timeoutMs) fail(`queue not drained within ${timeoutMs / 1000} s`);
    await sleep(50);
  }
}

async function drain() {
  const expect = whole('expect');
  const loops = whole('loops');
  const wait = Number(need('wait'));
  const queueUrl = need('queue-url');
  const timeoutS = whole('timeout');
  const q = await client();
  await depth(q, queueUrl);
  setTimeout(() => fail(`queue not drained within ${timeoutS} s`), timeoutS * 1000).unref();
  const stop = new AbortController();
  let deleted = 0;
  let end = 0;
  const loop = async () => {
    while (deleted < expect) {
      let r;
      try {
        // What hookq asks for (clients/sqs.c), so fauxqs does the same work.
        r = await q.c.send(new q.sqs.ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10,
          WaitTimeSeconds: wait, MessageSystemAttributeNames: ['ApproximateReceiveCount'],
          MessageAttributeNames: ['All'] }), { abortSignal: stop.signal });
      } catch (e) {
        if (stop.signal.aborted) return;
        throw e;
      }
      if (!r.Messages?.length) continue;
      const d = await q.c.send(new q.sqs.DeleteMessageBatchCommand({ QueueUrl: queueUrl,
        Entries: r.Messages.map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle })) }));
      if (d.Failed?.length) fail(`DeleteMessageBatch failed: ${JSON.stringify(d.Failed[0])}`);
      deleted += d.Successful.length;
      if (deleted >= expect && !end) {
        end = nowMs();
        stop.abort(); // the other loops may be in a long poll on the empty queue
      }
    }
  };
  const start = nowMs();
  await Promise.all(Array.from({ length: loops }, loop));
  const left = await depth(q, queueUrl);
  if (deleted !== expect || left !== 0) fail(`drain deleted ${deleted} of ${expect}; ${left} left on the queue`);
  process.stdout.write(`drained ${deleted} ${((end - start) / 1000).toFixed(3)}\n`);
}

const steps = { serve, fill, watch, drain };
const step = steps[positionals[0]] ?? fail(`usage: node bench/sqs.mjs ${Object.keys(steps).join('|')} ...`);
step().catch((e) => fail(e.stack ?? String(e)));
