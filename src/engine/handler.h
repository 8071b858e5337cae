/* handler: what processing does with an event: normalize it by provider
 * (type.action, repository, sender), apply the routes and record their
 * decision, and turn the decision's matches into tasks (stored with the
 * event's completion). Plugged into the processor as a processor_handle_fn. */
#ifndef HOOKQ_ENGINE_HANDLER_H
#define HOOKQ_ENGINE_HANDLER_H

#include <stddef.h>

#include "core/event.h"
#include "store/store.h"

struct router;
struct replies_options;

/* The provider name of events `hookq test` sends: they run on the CI
 * pool and never reach a provider's API. */
#define HANDLER_TEST_PROVIDER "test"

struct handler_options {
	/* Testing aid, dev mode only: fail the first N attempts of every
	 * event transiently, to watch retries and dead letters. */
	int fail_first_attempts;
	/* Applies the routes to each normalized event; NULL: none. */
	struct router *router;
	/* The attempts an agent's tasks get (its retry policy), or a
	 * negative value for an agent that is not configured (its tasks are
	 * still created, and dead-lettered when they come up, saying why).
	 * NULL: every agent gets 1. */
	int (*agent_attempts)(void *ctx, const char *agent);
	void *agent_ctx;
	/* The agent of test events and of create_task commands without
	 * one; NULL: such tasks are not created (the decision says why). */
	const char *default_agent;
	/* What new tasks say back (a reaction); NULL: nothing. */
	const struct replies_options *replies;
};

/* A processor_handle_fn; ctx is a struct handler_options. */
int handler_handle(void *ctx, const struct store_claimed *ev, struct event_info *info,
		   char *why, size_t why_size);

/* Turns a routing decision (JSON) into tasks in info->tasks. Pure apart
 * from allocation; exposed for tests. */
int handler_plan_tasks(const struct handler_options *opt, const struct store_claimed *ev,
		       const char *decision, struct event_info *info);

#endif
