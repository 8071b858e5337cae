/* admin_util: what the admin API's files share (admin.c: events and
 * webhooks; admin_task.c: tasks, flows, workers, test events): error and
 * success replies, parameter and body checks, JSON helpers. Private to
 * src/engine/admin*. */
#ifndef HOOKQ_ENGINE_ADMIN_UTIL_H
#define HOOKQ_ENGINE_ADMIN_UTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/admin.h"

/* Request bytes quoted back in a message are cut to this length. */
#define QUOTE_MAX 64

/* Request bytes fit to quote in a message: printable ASCII kept, anything
 * else shown as '?', cut at QUOTE_MAX. */
const char *admin_quote(const char *s, char out[QUOTE_MAX + 1]);
/* Sets an error reply; returns 0 (an answer is ready). */
int admin_fail(struct admin_reply *out, unsigned status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* A store failure: 503, the reason kept for the log only. */
int admin_fail_store(struct admin_reply *out, int r, const struct store_error *err);
/* Takes doc; HQ_E_NOMEM when it cannot be written. */
int admin_succeed(struct admin_reply *out, unsigned status, json_t *doc);
/* "2026-11-22T22:33:47.123Z", or null for 0. */
json_t *admin_time_json(int64_t ms);
json_t *admin_text_json(const char *s);
/* Every parameter known, given once, not empty; else false with out set. */
bool admin_params_check(const struct admin_param *p, size_t n, const char *const *known,
			struct admin_reply *out);
const char *admin_param_get(const struct admin_param *p, size_t n, const char *name);
/* The positive id at the start of rest ("12/retry"), and what follows. */
bool admin_path_id(const char *rest, int64_t *id, const char **tail);
bool admin_method_is(const char *method, const char *want);
int admin_wrong_method(struct admin_reply *out, const char *allowed);
/* The request body as a JSON object with only known fields; NULL with
 * out set otherwise. */
json_t *admin_body_object(const struct admin_request *req, const char *const *known,
			  struct admin_reply *out);
/* A string field of at most max characters without control characters:
 * *ret NULL when absent; false with out set when invalid. */
bool admin_field_text(json_t *o, const char *key, size_t max, const char **ret,
		      struct admin_reply *out);
bool admin_text_ok(const char *s, size_t max);
/* agent (a request's, or the default) is defined; false with out set
 * (400 naming it and the agents there are) when it is not. */
bool admin_agent_ok(const struct admin *a, const char *agent, struct admin_reply *out);

#endif
