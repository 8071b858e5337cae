/* replies: what hookq says back about a task, planned as outbox entries
 * for the store to write with the change that causes them: 👀 on the
 * comment or issue that made a task, and at its end a reaction (🚀 or 😕)
 * and one result comment (GitHub), a thread reply (Slack) or an issue
 * comment (Jira), with the agent's output capped and secrets redacted.
 * Test tasks and sources without configured credentials get nothing. */
#ifndef HOOKQ_ENGINE_REPLIES_H
#define HOOKQ_ENGINE_REPLIES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/event.h"
#include "core/template.h"
#include "store/store.h"

/* The hidden marker a result comment carries, so that a sender unsure
 * whether its last attempt arrived can look for it:
 * "<!-- hookq:task=12 run=0 created=1732329600123 -->". */
void replies_marker(const struct store_task *t, char *out, size_t size);

struct replies_options {
	bool github, slack, jira; /* which senders are configured */
	bool output_queue;	  /* every end for good is published (AWS_SQS_OUTPUT_URL) */
	bool slack_bot;		  /* Slack threads (chat.postMessage) need the bot token;
				   * slash commands answer on their response_url */
	/* A response_url is answered only when it starts with this (Slack's
	 * own): hookq never posts an agent's output where a payload says. */
	const char *slack_response_prefix;
	bool reactions;
	int comment;	   /* enum config_comment */
	size_t output_max; /* bytes of output quoted */
	int max_attempts;  /* of each entry */
	/* The result comment's text, rendered from {"task": {id, title,
	 * agent, worker, status, status_text, attempts, error, run_s, flow_id,
	 * external_id}, "output": the shown tail, "output_bytes"}; NULL: the
	 * built-in text. The marker is put before it either way. */
	const struct template *comment_template;
	/* Values never to say (tokens, passwords), redacted wherever they
	 * appear in what is said; with the well-known token shapes. */
	const char *const *secrets;
	size_t n_secrets;
};

#define REPLIES_MAX 4

struct replies_plan {
	struct store_outbox_in items[REPLIES_MAX];
	size_t n;
	char *owned[REPLIES_MAX * 3];
	size_t n_owned;
};
void replies_plan_release(struct replies_plan *p);

/* The replies a new task causes (a reaction on what asked for it), from
 * its provider and the decision's reply_to, as event replies the
 * processor writes with the task. */
int replies_on_create(const struct replies_options *o, const char *provider,
		      const json_t *reply_to, bool test, struct event_reply *out, size_t max,
		      size_t *n);

/* The replies a task's end causes: t as it ran, the status it ends in
 * (not queued), why and what its agent wrote. HQ_E_NOMEM when the comment
 * could not be made: the plan still holds the rest (the reaction). */
int replies_on_end(const struct replies_options *o, const struct store_task *t,
		   const char *status, const char *error, const char *output, size_t output_len,
		   uint64_t output_total, int64_t run_ms, struct replies_plan *ret);

#endif
