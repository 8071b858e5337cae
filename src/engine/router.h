/* router: applies the static routes to a normalized event at processing
 * time. For each route of the event's provider: authorization, then the
 * command the event's new text asks for, else the first trigger (by
 * priority) whose type and conditions match; the prompt is rendered from
 * the payload. The decision is recorded with the event as JSON (what
 * matched, with agent and prompt, or why nothing did); dispatch turns it
 * into tasks. The route table is swapped whole on reload while workers
 * use the old one. */
#ifndef HOOKQ_ENGINE_ROUTER_H
#define HOOKQ_ENGINE_ROUTER_H

#include <stddef.h>

#include "core/authz.h"
#include "core/event.h"
#include "core/route.h"
#include "store/store.h"

/* A rendered prompt is cut at this size (the cut is recorded). */
#define ROUTER_PROMPT_MAX (64 * 1024)

struct router_rules {
	const char *allowed_orgs, *allowed_users, *trigger_users; /* lists, or NULL */
	const char *mentioned_user, *bot_login;
};

struct router;

/* Takes ownership of routes (may be empty). store (may be NULL) holds
 * the dynamic webhooks, whose events (route "wh_...") are routed by
 * their commands instead of the static routes. */
int router_new(const struct router_rules *rules, struct route_table *routes,
	       struct store *store, struct router **ret);
void router_free(struct router *r);
/* Replaces the table; the old one is freed once no worker uses it. */
void router_set_routes(struct router *r, struct route_table *routes);

/* The decision for ev (normalized into info) as malloc'd JSON in *ret, or
 * NULL when no route reads its provider. HQ_E_NOMEM. */
int router_route(struct router *r, const struct store_claimed *ev,
		 const struct event_info *info, char **ret);

#endif
