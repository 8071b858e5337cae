/* forward: the other end of ingest for `hookq forward --to sqs`: instead
 * of the store, each verified webhook goes to an SQS queue as an envelope
 * (core/envelope: its headers and its body as base64, the bytes as
 * received), and its request is answered only once SQS accepted it. A
 * bounded queue and sender threads; same submit/done contract as
 * engine/ingest, so the HTTP source uses either. */
#ifndef HOOKQ_ENGINE_FORWARD_H
#define HOOKQ_ENGINE_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "engine/ingest.h"

struct sqs_client;
struct forward;

struct forward_options {
	struct sqs_client *client;
	const char *queue_url; /* a .fifo queue dedups on the delivery id */
	unsigned senders;
	size_t queue_max;
};

struct forward_stats {
	uint64_t forwarded, failed;
	size_t queued; /* waiting for a sender now */
};

int forward_start(const struct forward_options *opt, struct forward **ret);
/* Queues req (its ev filled as for ingest; the body as received); done()
 * is called once SQS answered (ev.result 0, or HQ_E_IO with ev.id 0).
 * HQ_E_OVERLOAD when the queue is full, HQ_E_SHUTDOWN when stopping. */
int forward_submit(void *ctx, struct ingest_req *req);
void forward_get_stats(struct forward *f, struct forward_stats *stats);
/* New webhooks are refused (HQ_E_SHUTDOWN); those queued are still sent
 * for grace_ms, then answered HQ_E_SHUTDOWN unsent (503: the provider
 * delivers again), so a node facing an SQS outage stops in time. */
void forward_stop_begin(struct forward *f, int64_t grace_ms);
/* Stops: forward_stop_begin() with no grace unless it was called, then
 * waits for the senders (each finishes the send it is in). */
void forward_stop(struct forward *f, struct forward_stats *stats);

#endif
