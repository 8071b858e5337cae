/* handler: what processing does with an event: normalize it by provider
 * (type.action, repository, sender), then apply the routes and record
 * their decision. Dispatch will plug in here, behind processor_handle_fn. */
#ifndef HOOKQ_ENGINE_HANDLER_H
#define HOOKQ_ENGINE_HANDLER_H

#include <stddef.h>

#include "core/event.h"
#include "store/store.h"

struct router;

struct handler_options {
	/* Testing aid, dev mode only: fail the first N attempts of every
	 * event transiently, to watch retries and dead letters. */
	int fail_first_attempts;
	/* Applies the routes to each normalized event; NULL: none. */
	struct router *router;
};

/* A processor_handle_fn; ctx is a struct handler_options. */
int handler_handle(void *ctx, const struct store_claimed *ev, struct event_info *info,
		   char *why, size_t why_size);

#endif
