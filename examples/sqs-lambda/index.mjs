// A Lambda receiver for hookq's SQS source: GitHub calls this function
// (through a function URL or API Gateway's HTTP API); it checks the
// X-Hub-Signature-256 header against the raw body and puts the webhook on
// the queue in the message format `hookq serve --source sqs` reads. It
// answers 200 only once SQS accepted the message, so GitHub redelivers
// anything that did not reach the queue.
//
// Environment: AWS_SQS_QUEUE_URL, GITHUB_WEBHOOK_SECRET (the region and
// credentials come from the Lambda runtime). `hookq forward --to sqs` does
// the same job as a long-running process for every provider.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';

// An endpoint of your own (LocalStack, a VPC endpoint) is used for every
// call; the SDK would otherwise send to the queue URL's host.
const endpoint = process.env.AWS_ENDPOINT_URL_SQS || process.env.AWS_ENDPOINT_URL;
const sqs = new SQSClient(endpoint ? { endpoint } : {});
// The headers a worker needs to read the delivery as hookq would (and to
// check the signature again with SQS_VERIFY_SIGNATURES=true).
const KEEP = ['x-github-event', 'x-github-delivery', 'x-github-hook-id',
  'x-github-hook-installation-target-id', 'x-github-hook-installation-target-type',
  'x-hub-signature-256', 'user-agent', 'content-type'];

const answer = (statusCode, body) => ({
  statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
});

export function signatureValid(secret, body, header) {
  if (typeof header !== 'string' || !header.startsWith('sha256=')) return false;
  const want = createHmac('sha256', secret).update(body).digest();
  const got = Buffer.from(header.slice(7), 'hex');
  return got.length === want.length && timingSafeEqual(got, want);
}

export async function handler(event) {
  const secret = process.env.GITHUB_WEBHOOK_SECRET;
  const queueUrl = process.env.AWS_SQS_QUEUE_URL;
  if (!secret || !queueUrl) return answer(500, { error: 'misconfigured', message: 'set GITHUB_WEBHOOK_SECRET and AWS_SQS_QUEUE_URL' });
  const headers = {};
  for (const [k, v] of Object.entries(event.headers ?? {})) headers[k.toLowerCase()] = v;
  // The signed bytes exactly as GitHub sent them.
  const body = Buffer.from(event.body ?? '', event.isBase64Encoded ? 'base64' : 'utf8');
  const sig = headers['x-hub-signature-256'];
  if (!sig) return answer(401, { error: 'signature_missing', message: 'missing X-Hub-Signature-256 header' });
  if (!signatureValid(secret, body, sig)) return answer(401, { error: 'signature_invalid', message: 'X-Hub-Signature-256 does not match the body' });
  const delivery = headers['x-github-delivery'];
  if (!delivery || !headers['x-github-event']) return answer(400, { error: 'bad_request', message: 'missing X-GitHub-Event or X-GitHub-Delivery header' });
  const kept = { 'X-Hookq-Provider': 'github' };
  for (const k of KEEP) if (headers[k] !== undefined) kept[k] = headers[k];
  const message = JSON.stringify({ headers: kept, payload: body.toString('base64') });
  const fifo = queueUrl.endsWith('.fifo');
  try {
    await sqs.send(new SendMessageCommand({
      QueueUrl: queueUrl, MessageBody: message,
      ...(fifo ? { MessageDeduplicationId: delivery.slice(0, 128), MessageGroupId: 'github' } : {}),
    }));
  } catch (err) {
    console.error('the queue did not take the webhook', delivery, err?.name ?? err);
    return answer(503, { error: 'queue_unavailable', message: 'the queue did not take the webhook; retry later' });
  }
  return answer(200, { status: 'forwarded', delivery_id: delivery });
}
