#include "engine/admin.h"
#include "engine/admin_util.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/condition.h"
#include "core/template.h"
#include "providers/standard.h"
#include "util/crypto.h"
#include "util/error.h"
#include "util/parse.h"

/* Request bytes fit to quote in a message: printable ASCII kept, anything
 * else (control bytes, bytes of other scripts, invalid UTF-8) shown as
 * '?', cut at QUOTE_MAX. The message stays valid UTF-8 and safe for logs
 * and terminals whatever was sent. */
const char *admin_quote(const char *s, char out[QUOTE_MAX + 1])
{
	size_t n = 0;
	for (; s && s[n] && n < QUOTE_MAX; n++)
		out[n] = s[n] >= 0x20 && s[n] < 0x7f ? s[n] : '?';
	out[n] = '\0';
	return out;
}

int admin_fail(struct admin_reply *out, unsigned status, const char *code, const char *fmt,
		...)
{
	out->status = status;
	out->code = code;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out->message, sizeof(out->message), fmt, ap);
	va_end(ap);
	if (n < 0)
		out->message[0] = '\0';
	return 0;
}

/* A store failure: the reason goes to out->detail for the log, the client
 * gets a fixed message and no internals. */
int admin_fail_store(struct admin_reply *out, int r, const struct store_error *err)
{
	if (r == HQ_E_NOMEM)
		return r;
	snprintf(out->detail, sizeof(out->detail), "%s", err->msg);
	return admin_fail(out, 503, "store_unavailable",
		    r == HQ_E_BUSY ? "the store is busy; retry later" :
				     "the store cannot be reached now; retry later");
}

int admin_succeed(struct admin_reply *out, unsigned status, json_t *doc)
{
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (!text)
		return HQ_E_NOMEM;
	out->status = status;
	out->body = text;
	return 0;
}

void admin_reply_release(struct admin_reply *r)
{
	if (!r)
		return;
	free(r->body);
	r->body = NULL;
}

/* "2026-11-22T22:33:47.123Z", or null for 0 (not set). */
json_t *admin_time_json(int64_t ms)
{
	if (ms <= 0)
		return json_null();
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	char text[40];
	if (!gmtime_r(&secs, &tm) || strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		return json_null();
	char full[48];
	snprintf(full, sizeof(full), "%s.%03dZ", text, (int)(ms % 1000));
	return json_string(full);
}

json_t *admin_text_json(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *row_json(const struct store_event_row *r)
{
	bool pending = strcmp(r->status, "pending") == 0;
	bool processing = strcmp(r->status, "processing") == 0;
	return json_pack("{s:I, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:s, s:i, s:i, s:o, s:o, s:o,"
			 " s:o, s:o, s:o, s:o, s:I, s:I}",
			 "id", (json_int_t)r->id, "provider", r->provider, "route", r->route,
			 "delivery_id", r->delivery_id, "type", r->event_type, "action",
			 admin_text_json(r->action), "repository", admin_text_json(r->repository), "sender",
			 admin_text_json(r->sender), "status", r->status, "attempts", r->attempts,
			 "max_attempts", r->max_attempts, "received_at",
			 admin_time_json(r->received_at_ms), "updated_at", admin_time_json(r->updated_at_ms),
			 "next_attempt_at", pending ? admin_time_json(r->next_attempt_at_ms) : json_null(),
			 "completed_at", admin_time_json(r->completed_at_ms), "lease_owner",
			 processing ? admin_text_json(r->lease_owner) : json_null(), "lease_expires_at",
			 processing ? admin_time_json(r->lease_expires_at_ms) : json_null(), "last_error",
			 admin_text_json(r->last_error), "duplicates", (json_int_t)r->duplicates,
			 "stored_bytes", (json_int_t)r->body_bytes);
}

/* Every attempt, oldest first: the recorded ones (failures, and
 * completions a replay undid), then the one that completed the event or is
 * running now. NULL when out of memory. */
static json_t *history_json(const struct store_event_detail *d)
{
	json_t *list = json_array();
	bool ok = list != NULL;
	for (size_t i = 0; ok && i < d->n_attempts; i++) {
		const struct store_attempt *a = &d->attempts[i];
		json_t *dur = a->started_at_ms > 0 ?
				      json_integer((json_int_t)(a->finished_at_ms - a->started_at_ms)) :
				      json_null();
		ok = json_array_append_new(
			     list, json_pack("{s:i, s:s, s:o, s:o, s:o, s:o, s:o}", "attempt",
					     a->attempt, "outcome", a->outcome, "started_at",
					     admin_time_json(a->started_at_ms), "finished_at",
					     admin_time_json(a->finished_at_ms), "duration_ms", dur, "worker",
					     admin_text_json(a->worker), "error", admin_text_json(a->error))) == 0;
	}
	const struct store_event_row *r = &d->row;
	if (ok && strcmp(r->status, "completed") == 0)
		ok = json_array_append_new(list, json_pack("{s:i, s:s, s:o}", "attempt",
							   r->attempts, "outcome", "completed",
							   "finished_at",
							   admin_time_json(r->completed_at_ms))) == 0;
	else if (ok && strcmp(r->status, "processing") == 0)
		ok = json_array_append_new(list, json_pack("{s:i, s:s, s:o, s:o}", "attempt",
							   r->attempts, "outcome", "processing",
							   "started_at", admin_time_json(r->updated_at_ms),
							   "worker", admin_text_json(r->lease_owner))) == 0;
	if (!ok) {
		json_decref(list);
		return NULL;
	}
	return list;
}

/* Adds the body to doc: "payload_text", the bytes exactly as received,
 * when they are UTF-8 (else "payload_base64"), and "payload", the same
 * parsed, when they are JSON (re-encoded: numbers may print differently
 * and a repeated key keeps its last value). */
static int add_payload(json_t *doc, const struct store_event_detail *d)
{
	if (!d->body) {
		/* The size is not known for a body that was not decoded. */
		json_object_set_new(doc, "payload_bytes", json_null());
		json_object_set_new(doc, "payload", json_null());
		return json_object_set_new(doc, "payload_error",
					   json_string(d->body_error ? d->body_error :
								       "unavailable"));
	}
	json_object_set_new(doc, "payload_bytes", json_integer((json_int_t)d->body_len));
	json_t *text = json_stringn(d->body, d->body_len); /* NULL unless valid UTF-8 */
	if (text) {
		if (json_object_set_new(doc, "payload_text", text) < 0)
			return HQ_E_NOMEM;
		json_t *v = json_loadb(d->body, d->body_len, JSON_DECODE_ANY, NULL);
		json_object_set_new(doc, "payload", v ? v : json_null());
		return 0;
	}
	size_t cap = 4 * ((d->body_len + 2) / 3) + 1;
	unsigned char *b64 = malloc(cap);
	if (!b64)
		return HQ_E_NOMEM;
	EVP_EncodeBlock(b64, (const unsigned char *)d->body, (int)d->body_len);
	int r = json_object_set_new(doc, "payload_base64", json_string((const char *)b64));
	free(b64);
	json_object_set_new(doc, "payload", json_null());
	return r < 0 ? HQ_E_NOMEM : 0;
}

/* The parameters a route takes: any other name, an empty value or a name
 * given twice is an error that names it. */
bool admin_params_check(const struct admin_param *p, size_t n, const char *const *known,
			 struct admin_reply *out)
{
	char q[QUOTE_MAX + 1];
	for (size_t i = 0; i < n; i++) {
		bool ok = false;
		for (const char *const *k = known; *k && !ok; k++)
			ok = strcmp(p[i].name, *k) == 0;
		if (!ok) {
			char names[128] = "";
			for (const char *const *k = known; *k; k++)
				snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
					 k == known ? "" : ", ", *k);
			admin_fail(out, 400, "bad_request", "unknown parameter '%s' (%s%s)",
			     admin_quote(p[i].name, q), *known ? "known: " : "this endpoint takes none",
			     names);
			return false;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(p[i].name, p[j].name) == 0) {
				admin_fail(out, 400, "bad_request", "parameter '%s' given twice", p[i].name);
				return false;
			}
		}
		if (!p[i].value || !*p[i].value) {
			admin_fail(out, 400, "bad_request", "parameter '%s' is empty", p[i].name);
			return false;
		}
	}
	return true;
}

const char *admin_param_get(const struct admin_param *p, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(p[i].name, name) == 0)
			return p[i].value;
	return NULL;
}

bool admin_token_valid(const char *s)
{
	size_t len = strlen(s);
	if (len == 0 || len > 64)
		return false;
	for (const char *c = s; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' ||
		      *c == '_'))
			return false;
	return true;
}

static bool cancelled(const struct admin *a)
{
	return a->cancel && atomic_load(a->cancel);
}

static int list_events(const struct admin *a, const struct admin_param *p, size_t n,
		       struct admin_reply *out)
{
	static const char *const known[] = { "status", "provider", "limit", "cursor", NULL };
	if (!admin_params_check(p, n, known, out))
		return 0;
	char q[QUOTE_MAX + 1];
	struct store_event_filter f = { admin_param_get(p, n, "status"), admin_param_get(p, n, "provider"), 0,
					ADMIN_LIST_DEFAULT };
	if (f.status && !store_status_valid(f.status))
		return admin_fail(out, 400, "bad_request",
			    "status must be pending, processing, completed or dead_letter, not '%s'",
			    admin_quote(f.status, q));
	if (f.provider && !admin_token_valid(f.provider))
		return admin_fail(out, 400, "bad_request",
			    "provider must be a provider name such as github, not '%s'",
			    admin_quote(f.provider, q));
	const char *limit = admin_param_get(p, n, "limit");
	uint64_t v;
	if (limit) {
		if (parse_u64(limit, 1, ADMIN_LIST_MAX, &v) < 0)
			return admin_fail(out, 400, "bad_request",
				    "limit must be a whole number from 1 to %d, not '%s'",
				    ADMIN_LIST_MAX, admin_quote(limit, q));
		f.limit = (size_t)v;
	}
	const char *cursor = admin_param_get(p, n, "cursor");
	if (cursor) {
		if (parse_u64(cursor, 1, INT64_MAX, &v) < 0)
			return admin_fail(out, 400, "bad_request",
				    "cursor must be a next_cursor this API returned, not '%s'",
				    admin_quote(cursor, q));
		f.before_id = (int64_t)v;
	}
	struct store_event_list l;
	struct store_error err;
	int r = store_list_events(a->store, &f, &l, &err);
	if (r < 0)
		return admin_fail_store(out, r, &err);
	json_t *events = json_array();
	bool ok = events != NULL;
	for (size_t i = 0; ok && i < l.n; i++)
		ok = json_array_append_new(events, row_json(&l.rows[i])) == 0;
	json_t *next = json_null();
	if (l.more && l.n > 0) {
		char id[24];
		snprintf(id, sizeof(id), "%lld", (long long)l.rows[l.n - 1].id);
		next = json_string(id);
	}
	store_event_list_release(&l);
	if (!ok) {
		json_decref(events);
		json_decref(next);
		return HQ_E_NOMEM;
	}
	return admin_succeed(out, 200,
		       json_pack("{s:o, s:o, s:I}", "events", events, "next_cursor", next, "limit",
				 (json_int_t)f.limit));
}

static int show_event(const struct admin *a, int64_t id, const struct admin_param *p,
		      size_t n, struct admin_reply *out)
{
	static const char *const known[] = { NULL };
	if (!admin_params_check(p, n, known, out))
		return 0;
	struct store_event_detail d;
	struct store_error err;
	int r = store_get_event(a->store, id, a->max_body, &d, &err);
	if (r == HQ_E_NOTFOUND)
		return admin_fail(out, 404, "not_found", "no event %lld", (long long)id);
	if (r < 0)
		return admin_fail_store(out, r, &err);
	json_t *doc = row_json(&d.row);
	json_t *history = history_json(&d);
	r = doc && history ? 0 : HQ_E_NOMEM;
	if (r == 0) {
		json_t *routing = d.row.routing ? json_loads(d.row.routing, 0, NULL) : NULL;
		json_object_set_new(doc, "routing", routing ? routing : json_null());
		json_t *headers = json_loads(d.headers_json, 0, NULL);
		json_object_set_new(doc, "headers", headers ? headers : json_object());
		json_object_set_new(doc, "history", history);
		history = NULL;
		r = add_payload(doc, &d);
	}
	store_event_detail_release(&d);
	json_decref(history);
	if (r < 0) {
		json_decref(doc);
		return r;
	}
	return admin_succeed(out, 200, doc);
}

/* The states an operator may act on, named in errors; fallback when the
 * parameter is absent (NULL: required). */
static const char *settled_status(const struct admin_param *p, size_t n, const char *fallback,
				  struct admin_reply *out)
{
	const char *status = admin_param_get(p, n, "status");
	if (!status)
		status = fallback;
	if (!status) {
		admin_fail(out, 400, "bad_request", "status is required: dead_letter or completed");
		return NULL;
	}
	if (strcmp(status, "dead_letter") != 0 && strcmp(status, "completed") != 0) {
		char q[QUOTE_MAX + 1];
		admin_fail(out, 400, "bad_request", "status must be dead_letter or completed, not '%s'",
		     admin_quote(status, q));
		return NULL;
	}
	return status;
}

static int retry_event(const struct admin *a, int64_t id, const struct admin_param *p,
		       size_t n, int64_t now_ms, struct admin_reply *out)
{
	static const char *const known[] = { "status", NULL };
	if (!admin_params_check(p, n, known, out))
		return 0;
	const char *only = NULL;
	if (admin_param_get(p, n, "status") && !(only = settled_status(p, n, NULL, out)))
		return 0;
	struct store_error err;
	int r = store_retry_event(a->store, id, only, now_ms, &err);
	if (r == HQ_E_NOTFOUND)
		return admin_fail(out, 404, "not_found", "no event %lld", (long long)id);
	if (r == HQ_E_CONFLICT)
		return admin_fail(out, 409, "not_retryable", "event %lld is not %s", (long long)id,
			    only ? only : "dead_letter or completed");
	if (r < 0)
		return admin_fail_store(out, r, &err);
	if (a->wake)
		a->wake(a->wake_ctx);
	return admin_succeed(out, 200,
		       json_pack("{s:s, s:I}", "status", "queued", "event_id", (json_int_t)id));
}

/* What a batched operation did before it stopped early. */
static int fail_partial(struct admin_reply *out, int r, const struct store_error *err,
			const char *did, size_t total)
{
	if (r == HQ_E_NOMEM)
		return r;
	if (r == 0) /* cancelled */
		return admin_fail(out, 503, "shutting_down",
			    "the server is shutting down: stopped after %s %zu events; run it "
			    "again",
			    did, total);
	snprintf(out->detail, sizeof(out->detail), "%s (after %s %zu)", err->msg, did, total);
	return admin_fail(out, 503, "store_unavailable",
		    "the store failed after %s %zu events; run it again later", did, total);
}

static int retry_events(const struct admin *a, const struct admin_param *p, size_t n,
			int64_t now_ms, struct admin_reply *out)
{
	static const char *const known[] = { "status", NULL };
	if (!admin_params_check(p, n, known, out))
		return 0;
	const char *status = settled_status(p, n, NULL, out);
	if (!status)
		return 0;
	size_t total = 0, count = ADMIN_BATCH;
	int64_t last = 0;
	struct store_error err;
	while (count == ADMIN_BATCH) {
		if (cancelled(a))
			return fail_partial(out, 0, &err, "queueing", total);
		count = 0;
		int r = store_retry_events(a->store, status, now_ms, last, ADMIN_BATCH, &count,
					   &last, &err);
		if (r < 0) {
			if (total > 0 && a->wake)
				a->wake(a->wake_ctx);
			return fail_partial(out, r, &err, "queueing", total);
		}
		total += count;
		/* Wake after the first batch: processing starts while the
		 * rest is queued. */
		if (count > 0 && a->wake)
			a->wake(a->wake_ctx);
	}
	return admin_succeed(out, 200,
		       json_pack("{s:s, s:I}", "status", "queued", "count", (json_int_t)total));
}

static int purge_events(const struct admin *a, const struct admin_param *p, size_t n,
			int64_t now_ms, struct admin_reply *out)
{
	static const char *const known[] = { "older_than", "status", NULL };
	if (!admin_params_check(p, n, known, out))
		return 0;
	const char *status = settled_status(p, n, "completed", out);
	if (!status)
		return 0;
	const char *age = admin_param_get(p, n, "older_than");
	uint64_t ms;
	char q[QUOTE_MAX + 1];
	if (!age)
		return admin_fail(out, 400, "bad_request", "older_than is required, for example 7d");
	if (parse_duration_ms(age, &ms) < 0 || ms > (uint64_t)now_ms)
		return admin_fail(out, 400, "bad_request",
			    "older_than must be a duration such as 12h or 7d, not '%s'",
			    admin_quote(age, q));
	int64_t before = now_ms - (int64_t)ms;
	size_t total = 0, purged;
	struct store_error err;
	do {
		if (cancelled(a))
			return fail_partial(out, 0, &err, "purging", total);
		purged = 0;
		int r = store_purge_events(a->store, status, before, ADMIN_BATCH, &purged, &err);
		if (r < 0)
			return fail_partial(out, r, &err, "purging", total);
		total += purged;
	} while (purged == ADMIN_BATCH);
	return admin_succeed(out, 200,
		       json_pack("{s:I, s:s, s:o}", "purged", (json_int_t)total, "status", status,
				 "before", admin_time_json(before)));
}

/* "/api/events/123" or "/api/events/123/retry" → 123 and the rest
 * ("" or "/retry"). */
bool admin_path_id(const char *rest, int64_t *id, const char **tail)
{
	const char *slash = strchr(rest, '/');
	size_t len = slash ? (size_t)(slash - rest) : strlen(rest);
	char digits[24];
	if (len == 0 || len >= sizeof(digits))
		return false;
	memcpy(digits, rest, len);
	digits[len] = '\0';
	uint64_t v;
	if (parse_u64(digits, 1, INT64_MAX, &v) < 0)
		return false;
	*id = (int64_t)v;
	*tail = rest + len;
	return true;
}

bool admin_method_is(const char *method, const char *want)
{
	return strcmp(method, want) == 0 || (strcmp(want, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

int admin_wrong_method(struct admin_reply *out, const char *allowed)
{
	out->allow = strcmp(allowed, "GET") == 0 ? "GET, HEAD" : allowed;
	return admin_fail(out, 405, "method_not_allowed", "use %s", allowed);
}

/* ---- dynamic webhooks: /api/webhooks ---- */

#define WEBHOOK_NAME_MAX 100
#define WEBHOOK_SECRET_MAX 1024
#define COMMAND_TRIGGER_MAX 200
#define COMMAND_AGENT_MAX 100

bool admin_text_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

static bool id_ok(const char *s, const char *prefix)
{
	size_t pl = strlen(prefix), n = strlen(s);
	if (n <= pl || n >= STORE_WEBHOOK_ID_MAX || strncmp(s, prefix, pl) != 0)
		return false;
	for (const char *p = s + pl; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

static void random_id(const char *prefix, char *out, size_t size)
{
	uint8_t b[8];
	char hex[17];
	(void)crypto_random(b, sizeof(b));
	crypto_hex_encode(b, sizeof(b), hex);
	snprintf(out, size, "%s%s", prefix, hex);
}

static json_t *command_json(const struct store_webhook_command *c)
{
	json_t *cond = c->conditions_json ? json_loads(c->conditions_json, 0, NULL) : NULL;
	return json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:I, s:o, s:o}", "id", c->id, "trigger",
			 c->trigger, "action", c->action, "agent", admin_text_json(c->agent), "template",
			 admin_text_json(c->template_text), "conditions", cond ? cond : json_null(),
			 "priority", (json_int_t)c->priority, "created_at",
			 admin_time_json(c->created_at_ms), "updated_at", admin_time_json(c->updated_at_ms));
}

/* A webhook as the API shows it: never its secret, only whether it has
 * one. */
static json_t *webhook_json(const struct store_webhook *w)
{
	char endpoint[160];
	snprintf(endpoint, sizeof(endpoint), "/webhooks/%s/%s", w->provider, w->id);
	json_t *cmds = json_array();
	for (size_t i = 0; cmds && i < w->n_commands; i++)
		if (json_array_append_new(cmds, command_json(&w->commands[i])) < 0) {
			json_decref(cmds);
			return NULL;
		}
	if (!cmds)
		return NULL;
	return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:o, s:o, s:o}", "id", w->id, "provider",
			 w->provider, "name", w->name, "endpoint", endpoint, "enabled", w->enabled,
			 "has_secret", w->secret != NULL, "created_at", admin_time_json(w->created_at_ms),
			 "updated_at", admin_time_json(w->updated_at_ms), "commands", cmds);
}

/* The request body as a JSON object whose fields are all known. */
json_t *admin_body_object(const struct admin_request *req, const char *const *known,
			   struct admin_reply *out)
{
	if (!req->body || req->body_len == 0) {
		admin_fail(out, 400, "bad_request", "this request needs a JSON object body");
		return NULL;
	}
	json_error_t jerr;
	json_t *o = json_loadb(req->body, req->body_len, 0, &jerr);
	if (!o) {
		admin_fail(out, 400, "bad_request", "the body is not JSON: line %d column %d: %.120s",
		     jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		admin_fail(out, 400, "bad_request", "the body must be a JSON object");
		return NULL;
	}
	const char *key;
	json_t *v;
	json_object_foreach(o, key, v) {
		bool ok = false;
		for (const char *const *k = known; *k && !ok; k++)
			ok = strcmp(key, *k) == 0;
		if (!ok) {
			char q[QUOTE_MAX + 1], names[200] = "";
			for (const char *const *k = known; *k; k++)
				snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
					 k == known ? "" : ", ", *k);
			admin_fail(out, 400, "bad_request", "unknown field '%s' (known: %s)", admin_quote(key, q),
			     names);
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

/* A string field: NULL when absent; false (with out set) when present and
 * not a valid string of at most max characters. */
bool admin_field_text(json_t *o, const char *key, size_t max, const char **ret,
		       struct admin_reply *out)
{
	json_t *v = json_object_get(o, key);
	*ret = NULL;
	if (!v || json_is_null(v))
		return true;
	if (!json_is_string(v) || !admin_text_ok(json_string_value(v), max) ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		admin_fail(out, 400, "bad_request",
		     "'%s' must be a string of 1 to %zu characters without control characters", key,
		     max);
		return false;
	}
	*ret = json_string_value(v);
	return true;
}

/* Reads and checks a command body into c (pointing into o). */
static bool command_from(const struct admin *a, const json_t *o_in,
			 struct store_webhook_command *c, char **conds,
			 struct admin_reply *out)
{
	json_t *o = (json_t *)(uintptr_t)o_in;
	const char *action = NULL, *tmpl = NULL, *trigger = NULL, *agent = NULL;
	if (!admin_field_text(o, "trigger", COMMAND_TRIGGER_MAX, &trigger, out) ||
	    !admin_field_text(o, "action", 20, &action, out) ||
	    !admin_field_text(o, "agent", COMMAND_AGENT_MAX, &agent, out) ||
	    !admin_field_text(o, "template", TEMPLATE_MAX_TEXT, &tmpl, out))
		return false;
	c->trigger = (char *)(uintptr_t)trigger;
	c->agent = (char *)(uintptr_t)agent;
	if (!c->trigger)
		return admin_fail(out, 400, "bad_request",
			    "'trigger' is required: an event type such as issues.opened, "
			    "issues.* or *"),
		       false;
	if (!action)
		action = "create_task";
	if (strcmp(action, "create_task") != 0 && strcmp(action, "comment") != 0 &&
	    strcmp(action, "ignore") != 0) {
		char q[QUOTE_MAX + 1];
		return admin_fail(out, 400, "bad_request",
			    "'action' must be create_task, comment or ignore, not '%s'",
			    admin_quote(action, q)),
		       false;
	}
	c->action = (char *)(uintptr_t)action;
	c->template_text = (char *)(uintptr_t)tmpl;
	if (strcmp(action, "create_task") == 0 && (!c->agent || !tmpl))
		return admin_fail(out, 400, "bad_request", "create_task needs 'agent' and 'template'"),
		       false;
	/* A command whose agent does not exist would only make tasks that
	 * dead-letter: refused when it is stored, as static routes are at
	 * start. */
	if (c->agent && a->agents && !admin_agent_ok(a, c->agent, out))
		return false;
	if (strcmp(action, "comment") == 0 && !tmpl)
		return admin_fail(out, 400, "bad_request", "comment needs 'template'"), false;
	if (tmpl) {
		struct template *t = NULL;
		char terr[200];
		if (template_parse(tmpl, strlen(tmpl), &t, terr, sizeof(terr)) < 0)
			return admin_fail(out, 400, "bad_request", "template: %s", terr), false;
		template_free(t);
	}
	json_t *pr = json_object_get(o, "priority");
	c->priority = 100;
	if (pr && !json_is_null(pr)) {
		if (!json_is_integer(pr) || json_integer_value(pr) < 0 ||
		    json_integer_value(pr) > 1000000)
			return admin_fail(out, 400, "bad_request",
				    "'priority' must be a whole number from 0 to 1000000"),
			       false;
		c->priority = json_integer_value(pr);
	}
	json_t *cond = json_object_get(o, "conditions");
	*conds = NULL;
	if (cond && !json_is_null(cond)) {
		struct condition *parsed = NULL;
		char cerr[300];
		if (condition_parse(cond, &parsed, cerr, sizeof(cerr)) < 0)
			return admin_fail(out, 400, "bad_request", "conditions: %s", cerr), false;
		condition_free(parsed);
		*conds = json_dumps(cond, JSON_COMPACT);
		if (!*conds)
			return admin_fail(out, 503, "out_of_memory", "out of memory"), false;
	}
	return true;
}

static int webhook_reply(const struct admin *a, const char *id, unsigned status,
			 struct admin_reply *out)
{
	struct store_webhook w;
	struct store_error err;
	int r = store_webhook_get(a->store, id, &w, &err);
	if (r == HQ_E_NOTFOUND)
		return admin_fail(out, 404, "not_found", "no webhook '%s'", id);
	if (r < 0)
		return admin_fail_store(out, r, &err);
	json_t *doc = webhook_json(&w);
	store_webhook_release(&w);
	return doc ? admin_succeed(out, status, doc) : HQ_E_NOMEM;
}

static int webhook_create(const struct admin *a, const struct admin_request *req,
			  int64_t now_ms, struct admin_reply *out)
{
	static const char *const known[] = { "provider", "name", "secret", "enabled", NULL };
	json_t *o = admin_body_object(req, known, out);
	if (!o)
		return 0;
	struct store_webhook w;
	memset(&w, 0, sizeof(w));
	const char *provider, *name, *secret;
	int r = 0;
	if (!admin_field_text(o, "provider", 40, &provider, out) ||
	    !admin_field_text(o, "name", WEBHOOK_NAME_MAX, &name, out) ||
	    !admin_field_text(o, "secret", WEBHOOK_SECRET_MAX, &secret, out))
		goto out;
	bool known_provider = false;
	for (const char *const *p = a->providers; provider && p && *p && !known_provider; p++)
		known_provider = strcmp(*p, provider) == 0;
	if (!known_provider) {
		char list[200] = "", q[QUOTE_MAX + 1];
		for (const char *const *p = a->providers; p && *p; p++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 p == a->providers ? "" : ", ", *p);
		r = provider ? admin_fail(out, 400, "bad_request", "unknown provider '%s' (expected one of: %s)",
				     admin_quote(provider, q), list) :
			       admin_fail(out, 400, "bad_request", "'provider' is required (one of: %s)", list);
		goto out;
	}
	json_t *en = json_object_get(o, "enabled");
	if (en && !json_is_boolean(en)) {
		r = admin_fail(out, 400, "bad_request", "'enabled' must be true or false");
		goto out;
	}
	if (secret && strcmp(provider, "standard") == 0 && !standard_secret_valid(secret)) {
		r = admin_fail(out, 400, "bad_request",
			 "a Standard Webhooks secret is whsec_ followed by base64");
		goto out;
	}
	random_id("wh_", w.id, sizeof(w.id));
	w.provider = (char *)(uintptr_t)provider;
	w.name = (char *)(uintptr_t)(name ? name : provider);
	w.secret = (char *)(uintptr_t)secret;
	w.enabled = en ? json_is_true(en) : true;
	struct store_error err;
	r = store_webhook_create(a->store, &w, now_ms, &err);
	if (r < 0) {
		r = admin_fail_store(out, r, &err);
		goto out;
	}
	r = webhook_reply(a, w.id, 201, out);
out:
	json_decref(o);
	return r;
}

static int webhook_update(const struct admin *a, const struct admin_request *req,
			  const char *id, int64_t now_ms, struct admin_reply *out)
{
	static const char *const known[] = { "name", "secret", "enabled", NULL };
	json_t *o = admin_body_object(req, known, out);
	if (!o)
		return 0;
	const char *name, *secret;
	int r = 0;
	if (!admin_field_text(o, "name", WEBHOOK_NAME_MAX, &name, out) ||
	    !admin_field_text(o, "secret", WEBHOOK_SECRET_MAX, &secret, out))
		goto out;
	json_t *en = json_object_get(o, "enabled");
	if (en && !json_is_boolean(en)) {
		r = admin_fail(out, 400, "bad_request", "'enabled' must be true or false");
		goto out;
	}
	struct store_error err;
	if (secret) {
		struct store_webhook cur;
		int g = store_webhook_get(a->store, id, &cur, &err);
		bool bad = g == 0 && strcmp(cur.provider, "standard") == 0 &&
			   !standard_secret_valid(secret);
		if (g == 0)
			store_webhook_release(&cur);
		if (bad) {
			r = admin_fail(out, 400, "bad_request",
				 "a Standard Webhooks secret is whsec_ followed by base64");
			goto out;
		}
	}
	r = store_webhook_update(a->store, id, name, secret, en ? json_is_true(en) : -1, now_ms,
				 &err);
	if (r == HQ_E_NOTFOUND)
		r = admin_fail(out, 404, "not_found", "no webhook '%s'", id);
	else if (r < 0)
		r = admin_fail_store(out, r, &err);
	else
		r = webhook_reply(a, id, 200, out);
out:
	json_decref(o);
	return r;
}

static int command_write(const struct admin *a, const struct admin_request *req,
			 const char *id, const char *cmd_id, int64_t now_ms, struct admin_reply *out)
{
	static const char *const known[] = { "trigger",  "action",     "agent", "template",
					     "priority", "conditions", NULL };
	json_t *o = admin_body_object(req, known, out);
	if (!o)
		return 0;
	struct store_webhook_command c;
	memset(&c, 0, sizeof(c));
	char *conds = NULL;
	int r = 0;
	if (command_from(a, o, &c, &conds, out)) {
		if (cmd_id)
			snprintf(c.id, sizeof(c.id), "%s", cmd_id);
		else
			random_id("cmd_", c.id, sizeof(c.id));
		c.conditions_json = conds;
		struct store_error err;
		r = store_webhook_command_put(a->store, id, &c, cmd_id == NULL, now_ms, &err);
		if (r == HQ_E_NOTFOUND)
			r = cmd_id ? admin_fail(out, 404, "not_found", "no command '%s' in webhook '%s'",
					  cmd_id, id) :
				     admin_fail(out, 404, "not_found", "no webhook '%s'", id);
		else if (r < 0)
			r = admin_fail_store(out, r, &err);
		else
			r = webhook_reply(a, id, cmd_id ? 200 : 201, out);
	}
	free(conds);
	json_decref(o);
	return r;
}

static int admin_webhooks(const struct admin *a, const struct admin_request *req,
			  const char *rest, int64_t now_ms, struct admin_reply *out)
{
	const char *m = req->method;
	static const char *const none[] = { NULL };
	if (!admin_params_check(req->params, req->n_params, none, out))
		return 0;
	bool has_body = req->body_len > 0;
	if (*rest == '\0') {
		if (admin_method_is(m, "GET")) {
			struct store_webhook *list = NULL;
			size_t n = 0;
			struct store_error err;
			int r = store_webhook_list(a->store, &list, &n, &err);
			if (r < 0)
				return admin_fail_store(out, r, &err);
			json_t *arr = json_array();
			bool ok = arr != NULL;
			for (size_t i = 0; ok && i < n; i++)
				ok = json_array_append_new(arr, webhook_json(&list[i])) == 0;
			store_webhook_list_release(list, n);
			if (!ok) {
				json_decref(arr);
				return HQ_E_NOMEM;
			}
			return admin_succeed(out, 200, json_pack("{s:o}", "webhooks", arr));
		}
		if (strcmp(m, "POST") == 0)
			return webhook_create(a, req, now_ms, out);
		out->allow = "GET, HEAD, POST";
		return admin_fail(out, 405, "method_not_allowed", "use GET or POST");
	}
	/* "/{id}", "/{id}/enable", "/{id}/commands", "/{id}/commands/{cmd}" */
	char id[STORE_WEBHOOK_ID_MAX], tail[STORE_WEBHOOK_ID_MAX + 16] = "";
	const char *p = rest + 1, *slash = strchr(p, '/');
	size_t idlen = slash ? (size_t)(slash - p) : strlen(p);
	if (idlen == 0 || idlen >= sizeof(id))
		return admin_fail(out, 404, "not_found", "no such endpoint");
	memcpy(id, p, idlen);
	id[idlen] = '\0';
	if (slash && strlen(slash) >= sizeof(tail))
		return admin_fail(out, 404, "not_found", "no such endpoint");
	if (slash)
		snprintf(tail, sizeof(tail), "%s", slash);
	if (!id_ok(id, "wh_")) {
		char q[QUOTE_MAX + 1];
		return admin_fail(out, 404, "not_found", "no webhook '%s'", admin_quote(id, q));
	}
	struct store_error err;
	if (tail[0] == '\0') {
		if (admin_method_is(m, "GET"))
			return has_body ? admin_fail(out, 400, "bad_request", "GET takes no body") :
					  webhook_reply(a, id, 200, out);
		if (strcmp(m, "PUT") == 0)
			return webhook_update(a, req, id, now_ms, out);
		if (strcmp(m, "DELETE") == 0) {
			int r = store_webhook_delete(a->store, id, &err);
			if (r == HQ_E_NOTFOUND)
				return admin_fail(out, 404, "not_found", "no webhook '%s'", id);
			if (r < 0)
				return admin_fail_store(out, r, &err);
			return admin_succeed(out, 200, json_pack("{s:s}", "deleted", id));
		}
		out->allow = "GET, HEAD, PUT, DELETE";
		return admin_fail(out, 405, "method_not_allowed", "use GET, PUT or DELETE");
	}
	if (strcmp(tail, "/enable") == 0 || strcmp(tail, "/disable") == 0) {
		if (strcmp(m, "POST") != 0)
			return admin_wrong_method(out, "POST");
		int r = store_webhook_update(a->store, id, NULL, NULL, tail[1] == 'e', now_ms, &err);
		if (r == HQ_E_NOTFOUND)
			return admin_fail(out, 404, "not_found", "no webhook '%s'", id);
		if (r < 0)
			return admin_fail_store(out, r, &err);
		return webhook_reply(a, id, 200, out);
	}
	if (strcmp(tail, "/commands") == 0) {
		if (strcmp(m, "POST") != 0)
			return admin_wrong_method(out, "POST");
		return command_write(a, req, id, NULL, now_ms, out);
	}
	static const char cmds[] = "/commands/";
	if (strncmp(tail, cmds, sizeof(cmds) - 1) == 0) {
		const char *cmd = tail + sizeof(cmds) - 1;
		if (!id_ok(cmd, "cmd_")) {
			char q[QUOTE_MAX + 1];
			return admin_fail(out, 404, "not_found", "no command '%s' in webhook '%s'",
				    admin_quote(cmd, q), id);
		}
		if (strcmp(m, "PUT") == 0)
			return command_write(a, req, id, cmd, now_ms, out);
		if (strcmp(m, "DELETE") == 0) {
			int r = store_webhook_command_delete(a->store, id, cmd, &err);
			if (r == HQ_E_NOTFOUND)
				return admin_fail(out, 404, "not_found", "no command '%s' in webhook '%s'",
					    cmd, id);
			if (r < 0)
				return admin_fail_store(out, r, &err);
			return webhook_reply(a, id, 200, out);
		}
		out->allow = "PUT, DELETE";
		return admin_fail(out, 405, "method_not_allowed", "use PUT or DELETE");
	}
	return admin_fail(out, 404, "not_found", "no such endpoint");
}

int admin_handle(const struct admin *a, const struct admin_request *req, int64_t now_ms,
		 struct admin_reply *out)
{
	memset(out, 0, sizeof(*out));
	const char *method = req->method, *path = req->path;
	const struct admin_param *params = req->params;
	size_t n = req->n_params;
	/* A task's token authorizes its follow-up tasks, nothing else. */
	if (req->task_token && !(strcmp(method, "POST") == 0 && strcmp(path, "/api/tasks") == 0))
		return admin_fail(out, 403, "forbidden",
				  "a task token only creates follow-up tasks (POST /api/tasks)");
	static const char hooks[] = "/api/webhooks";
	if (strncmp(path, hooks, sizeof(hooks) - 1) == 0 &&
	    (path[sizeof(hooks) - 1] == '\0' || path[sizeof(hooks) - 1] == '/'))
		return admin_webhooks(a, req, path + sizeof(hooks) - 1, now_ms, out);
	int tr = admin_task_handle(a, req, now_ms, out);
	if (tr <= 0)
		return tr;
	if ((tr = admin_outbox_handle(a, req, now_ms, out)) <= 0)
		return tr;
	if (req->body_len > 0)
		return admin_fail(out, 400, "bad_request",
			    "this endpoint takes its parameters in the query string, not in a body");
	static const char events[] = "/api/events";
	if (strcmp(path, events) == 0)
		return admin_method_is(method, "GET") ? list_events(a, params, n, out) :
						  admin_wrong_method(out, "GET");
	if (strncmp(path, events, sizeof(events) - 1) != 0 || path[sizeof(events) - 1] != '/')
		return admin_fail(out, 404, "not_found", "no such endpoint");
	const char *rest = path + sizeof(events);
	if (strcmp(rest, "retry") == 0)
		return admin_method_is(method, "POST") ? retry_events(a, params, n, now_ms, out) :
						   admin_wrong_method(out, "POST");
	if (strcmp(rest, "purge") == 0)
		return admin_method_is(method, "POST") ? purge_events(a, params, n, now_ms, out) :
						   admin_wrong_method(out, "POST");
	int64_t id;
	const char *tail;
	if (!admin_path_id(rest, &id, &tail))
		return admin_fail(out, 404, "not_found", "no such endpoint");
	if (*tail == '\0')
		return admin_method_is(method, "GET") ? show_event(a, id, params, n, out) :
						  admin_wrong_method(out, "GET");
	if (strcmp(tail, "/retry") == 0)
		return admin_method_is(method, "POST") ? retry_event(a, id, params, n, now_ms, out) :
						   admin_wrong_method(out, "POST");
	return admin_fail(out, 404, "not_found", "no such endpoint");
}
