/* event: the normalized shape every provider turns its webhooks into, as
 * far as processing needs it today (routing adds texts and reply targets). */
#ifndef HOOKQ_CORE_EVENT_H
#define HOOKQ_CORE_EVENT_H

#include <stdbool.h>

#define EVENT_FIELD_MAX 256

struct event_info {
	char type[EVENT_FIELD_MAX];	  /* "issues.opened", or "push" without an action */
	char action[EVENT_FIELD_MAX];	  /* "opened"; empty when the event has none */
	char repository[EVENT_FIELD_MAX]; /* "owner/repo"; empty when none */
	char sender[EVENT_FIELD_MAX];	  /* login; empty when none */
	bool sender_is_bot;
	/* What routing decided, as JSON (malloc'd; the processor stores and
	 * frees it), or NULL when no route reads this provider. */
	char *routing;
};

#endif
