// fauxqs, an SQS-compatible server from npm, for the end-to-end suites: a
// child process of the test on a free loopback port, stopped with it.
//
// fauxqs's own CLI (and startFauxqs()) always binds 0.0.0.0; FAUXQS_PORT
// picks the port but FAUXQS_HOST only names the host in queue URLs. So the
// child runs this file, which builds the same app with fauxqs's exported
// buildApp() and listens on 127.0.0.1 port 0 (the kernel picks a free port:
// no race with other suites), then prints the port.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SQSClient, ListQueuesCommand, CreateQueueCommand, GetQueueAttributesCommand,
  ReceiveMessageCommand, SendMessageBatchCommand } from '@aws-sdk/client-sqs';

const self = fileURLToPath(import.meta.url);
// The SDK warns once that it will need Node 22 in 2027; the suites run on 20.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
export const REGION = 'us-east-1';
// fauxqs checks no signature; any keys do, and hookq needs some.
export const CREDENTIALS = { accessKeyId: 'AKIDFAUXQSE2E', secretAccessKey: 'fauxqs-e2e-secret' };

if (process.argv[1] === self && process.argv[2] === 'serve') {
  const { buildApp } = await import('fauxqs');
  const app = buildApp({ logger: false, defaultRegion: REGION });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  process.stdout.write(`fauxqs listening ${new URL(address).port}\n`);
  // The test's end (even a crash of the test process) closes stdin.
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
  process.on('SIGTERM', () => process.exit(0));
}

// Starts fauxqs and resolves once it answers ListQueues. Returns { url,
// port, client (an SQSClient on it), env (what hookq needs to reach it),
// createQueue(name, attributes), stop() }. With t, stopped after the test.
export async function startFauxqs({ t } = {}) {
  const proc = spawn(process.execPath, [self, 'serve'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let exited = null;
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { out += d; });
  const exit = new Promise((res) => proc.on('exit', (code, signal) => {
    exited = { code, signal };
    res(exited);
  }));
  const stop = async () => {
    if (!exited) {
      proc.stdin.end();
      proc.kill('SIGTERM');
    }
    await exit;
  };
  if (t) t.after(stop);
  const deadline = Date.now() + 15000;
  let port = null;
  while (!port) {
    const m = out.match(/fauxqs listening (\d+)/);
    if (m) port = Number(m[1]);
    else if (exited) throw new Error(`fauxqs exited ${JSON.stringify(exited)}:\n${out}`);
    else if (Date.now() > deadline) {
      await stop();
      throw new Error(`fauxqs did not start:\n${out}`);
    }
    else await new Promise((r) => setTimeout(r, 20));
  }
  const url = `http://127.0.0.1:${port}`;
  const client = new SQSClient({ region: REGION, endpoint: url, credentials: CREDENTIALS });
  for (;;) {
    try {
      await client.send(new ListQueuesCommand({}));
      break;
    } catch (e) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`fauxqs does not answer: ${e.message}\n${out}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url,
    port,
    client,
    env: {
      AWS_REGION: REGION,
      AWS_ENDPOINT_URL: url,
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    },
    async createQueue(name, attributes = {}) {
      const r = await client.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
      return r.QueueUrl;
    },
    stop,
    get logs() { return out; },
  };
}

// Messages on the queue: visible, in flight (received, not deleted) and delayed.
export async function queueDepth(client, queueUrl) {
  const r = await client.send(new GetQueueAttributesCommand({
    QueueUrl: queueUrl,
    AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible',
      'ApproximateNumberOfMessagesDelayed'],
  }));
  const a = r.Attributes;
  return { visible: Number(a.ApproximateNumberOfMessages), inFlight: Number(a.ApproximateNumberOfMessagesNotVisible),
    delayed: Number(a.ApproximateNumberOfMessagesDelayed) };
}

// Sends bodies (strings) in batches of ten; returns the message ids in order.
export async function sendAll(client, queueUrl, bodies) {
  const ids = [];
  for (let i = 0; i < bodies.length; i += 10) {
    const chunk = bodies.slice(i, i + 10);
    const r = await client.send(new SendMessageBatchCommand({
      QueueUrl: queueUrl,
      Entries: chunk.map((b, k) => ({ Id: `m${i + k}`, MessageBody: b })),
    }));
    if (r.Failed?.length) throw new Error(`SendMessageBatch failed: ${JSON.stringify(r.Failed)}`);
    const byId = new Map(r.Successful.map((s) => [s.Id, s.MessageId]));
    chunk.forEach((_, k) => ids.push(byId.get(`m${i + k}`)));
  }
  return ids;
}

// Receives everything visible on a queue now (one short poll at a time).
export async function drain(client, queueUrl, { max = 100 } = {}) {
  const got = [];
  for (;;) {
    const r = await client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10,
      WaitTimeSeconds: 0, MessageSystemAttributeNames: ['All'] }));
    if (!r.Messages?.length || got.length >= max) return got;
    got.push(...r.Messages);
  }
}
