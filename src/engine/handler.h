/* handler: what processing does with an event until routing lands:
 * normalize it by provider (GitHub: type.action, repository, sender) and
 * record that. Routing plugs in here, behind processor_handle_fn. */
#ifndef HOOKQ_ENGINE_HANDLER_H
#define HOOKQ_ENGINE_HANDLER_H

#include <stddef.h>

#include "core/event.h"
#include "store/store.h"

struct handler_options {
	/* Testing aid, dev mode only: fail the first N attempts of every
	 * event transiently, to watch retries and dead letters. */
	int fail_first_attempts;
};

/* A processor_handle_fn; ctx is a struct handler_options. */
int handler_handle(void *ctx, const struct store_claimed *ev, struct event_info *info,
		   char *why, size_t why_size);

#endif
