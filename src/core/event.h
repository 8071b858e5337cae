/* event: the normalized shape every provider turns its webhooks into, as
 * far as processing needs it today (routing adds texts and reply targets). */
#ifndef HOOKQ_CORE_EVENT_H
#define HOOKQ_CORE_EVENT_H

#include <stdbool.h>
#include <stddef.h>

#define EVENT_FIELD_MAX 256

/* A reply a new task causes (an outbox entry), as plain strings. */
struct event_reply {
	char *name, *kind, *target_json, *body_json;
	int max_attempts;
};

/* A task an event asks for: what routing matched, made ready to store. */
struct event_task {
	char *origin;			/* "event:<id>:<route>:<command>": unique */
	char *route, *command;		/* command NULL: a trigger without one */
	char *agent, *prompt, *title;
	char *external_id;		/* the flow key */
	char flow_id[32];
	char project[EVENT_FIELD_MAX];	/* "" when none */
	char *metadata_json;		/* reply_to, event type, test, ... */
	bool new_conversation, test;
	int priority, max_attempts;
	struct event_reply replies[2];
	size_t n_replies;
};

struct event_info {
	char type[EVENT_FIELD_MAX];	  /* "issues.opened", or "push" without an action */
	char action[EVENT_FIELD_MAX];	  /* "opened"; empty when the event has none */
	char repository[EVENT_FIELD_MAX]; /* "owner/repo"; empty when none */
	char sender[EVENT_FIELD_MAX];	  /* login; empty when none */
	bool sender_is_bot;
	/* What routing decided, as JSON (malloc'd; the processor stores and
	 * frees it), or NULL when no route reads this provider. */
	char *routing;
	/* The tasks routing asked for (malloc'd, event_info_release frees). */
	struct event_task *tasks;
	size_t n_tasks;
};

/* Frees what info owns (routing, tasks) and clears those fields. */
void event_info_release(struct event_info *info);

#endif
