/* sqs: the SQS task source. Pollers long-poll a queue, read each message
 * as an envelope (core/envelope), accept it through its provider like an
 * HTTP delivery (signatures checked only with verify; the delivery id from
 * the headers, else the SQS message id) and hand it to the same group
 * committer. A message is deleted only after its event is committed (or
 * found a duplicate): a crash or a store outage leaves it on the queue,
 * where it comes back after its visibility timeout. One that cannot be
 * read goes to the dead-letter queue (when one is set) and is deleted. */
#ifndef HOOKQ_SOURCES_SQS_H
#define HOOKQ_SOURCES_SQS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/ingest.h"
#include "providers/provider.h"

struct sqs_client;
struct sqs_source;

/* A provider and its settings (secret only when signatures are checked). */
struct sqs_provider_settings {
	const struct provider *provider;
	struct provider_settings settings;
	/* A route with its own endpoint (the forwarder names it in
	 * X-Hookq-Route): its events are stored under this name; NULL for
	 * the provider's own entry. */
	const char *route;
};

struct sqs_source_options {
	struct sqs_client *client;
	const char *queue_url, *dlq_url; /* dlq_url NULL: none */
	unsigned pollers;
	int wait_s, visibility_s; /* visibility 0: the queue's own */
	const char *default_provider;
	const struct sqs_provider_settings *providers;
	size_t n_providers;
	bool verify;
	struct ingest *ingest;
	size_t max_body;
	/* Called with each batch's stored count (the processor's wake-up
	 * is the ingest's own; this is for the log and tests): may be NULL. */
	void (*on_batch)(void *ctx, size_t stored);
	void *ctx;
};

struct sqs_source_stats {
	uint64_t received, stored, duplicates, deleted, dead_lettered, refused, errors;
};

int sqs_source_start(const struct sqs_source_options *opt, struct sqs_source **ret);
/* Stops receiving (a long poll in progress ends first), lets the messages
 * in hand be stored and deleted, then joins and frees. */
void sqs_source_stop(struct sqs_source *s, struct sqs_source_stats *stats);
void sqs_source_get_stats(struct sqs_source *s, struct sqs_source_stats *ret);

#endif
