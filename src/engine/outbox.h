/* outbox: sends what hookq says back (reactions, comments, Slack and Jira
 * replies) from the store's outbox. Sender threads claim due entries under
 * a lease, send each through src/clients/, and record it sent, to retry
 * (honouring Retry-After and rate-limit resets, else backoff with jitter),
 * or dead once its attempts are used up. A comment whose earlier attempt
 * may have arrived (a timeout, a crash while sending) is looked for by its
 * hidden marker before it is posted again: one reply, never two. */
#ifndef HOOKQ_ENGINE_OUTBOX_H
#define HOOKQ_ENGINE_OUTBOX_H

#include <stdint.h>

#include "core/backoff.h"
#include "store/store.h"

struct github_client;
struct sqs_client;
struct outbox;

struct outbox_options {
	const char *owner; /* this node */
	unsigned senders;
	uint64_t lease_ms;
	uint64_t poll_ms;
	struct backoff backoff;
	long timeout_ms; /* per request */
	/* The receivers; NULL or unset: its replies are dead at once, saying
	 * what is missing. */
	struct github_client *github;
	const char *slack_api_url, *slack_token;
	const char *jira_base_url, *jira_email, *jira_token;
	/* The output queue (output_message entries): a client and the URL. */
	struct sqs_client *sqs;
	const char *output_url;
};

struct outbox_stats {
	uint64_t sent, retried, dead, reclaimed, store_errors;
};

int outbox_start(struct store *store, const struct outbox_options *opt, struct outbox **ret);
/* New entries were written: send at once. Safe from any thread. */
void outbox_wake(struct outbox *o);
/* Lets each sender finish the entry it sends, then stops and frees. */
void outbox_stop(struct outbox *o, struct outbox_stats *stats);
void outbox_get_stats(struct outbox *o, struct outbox_stats *ret);

#endif
