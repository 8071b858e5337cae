#include "engine/admin.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/error.h"
#include "util/parse.h"

/* Request bytes quoted back in a message are cut to this length. */
#define QUOTE_MAX 64

/* Request bytes fit to quote in a message: printable ASCII kept, anything
 * else (control bytes, bytes of other scripts, invalid UTF-8) shown as
 * '?', cut at QUOTE_MAX. The message stays valid UTF-8 and safe for logs
 * and terminals whatever was sent. */
static const char *quote(const char *s, char out[QUOTE_MAX + 1])
{
	size_t n = 0;
	for (; s && s[n] && n < QUOTE_MAX; n++)
		out[n] = s[n] >= 0x20 && s[n] < 0x7f ? s[n] : '?';
	out[n] = '\0';
	return out;
}

static int fail(struct admin_reply *out, unsigned status, const char *code, const char *fmt,
		...) __attribute__((format(printf, 4, 5)));

static int fail(struct admin_reply *out, unsigned status, const char *code, const char *fmt,
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
static int fail_store(struct admin_reply *out, int r, const struct store_error *err)
{
	if (r == HQ_E_NOMEM)
		return r;
	snprintf(out->detail, sizeof(out->detail), "%s", err->msg);
	return fail(out, 503, "store_unavailable",
		    r == HQ_E_BUSY ? "the store is busy; retry later" :
				     "the store cannot be reached now; retry later");
}

static int succeed(struct admin_reply *out, unsigned status, json_t *doc)
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
static json_t *time_json(int64_t ms)
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

static json_t *text_json(const char *s)
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
			 text_json(r->action), "repository", text_json(r->repository), "sender",
			 text_json(r->sender), "status", r->status, "attempts", r->attempts,
			 "max_attempts", r->max_attempts, "received_at",
			 time_json(r->received_at_ms), "updated_at", time_json(r->updated_at_ms),
			 "next_attempt_at", pending ? time_json(r->next_attempt_at_ms) : json_null(),
			 "completed_at", time_json(r->completed_at_ms), "lease_owner",
			 processing ? text_json(r->lease_owner) : json_null(), "lease_expires_at",
			 processing ? time_json(r->lease_expires_at_ms) : json_null(), "last_error",
			 text_json(r->last_error), "duplicates", (json_int_t)r->duplicates,
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
					     time_json(a->started_at_ms), "finished_at",
					     time_json(a->finished_at_ms), "duration_ms", dur, "worker",
					     text_json(a->worker), "error", text_json(a->error))) == 0;
	}
	const struct store_event_row *r = &d->row;
	if (ok && strcmp(r->status, "completed") == 0)
		ok = json_array_append_new(list, json_pack("{s:i, s:s, s:o}", "attempt",
							   r->attempts, "outcome", "completed",
							   "finished_at",
							   time_json(r->completed_at_ms))) == 0;
	else if (ok && strcmp(r->status, "processing") == 0)
		ok = json_array_append_new(list, json_pack("{s:i, s:s, s:o, s:o}", "attempt",
							   r->attempts, "outcome", "processing",
							   "started_at", time_json(r->updated_at_ms),
							   "worker", text_json(r->lease_owner))) == 0;
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
static bool params_check(const struct admin_param *p, size_t n, const char *const *known,
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
			fail(out, 400, "bad_request", "unknown parameter '%s' (%s%s)",
			     quote(p[i].name, q), *known ? "known: " : "this endpoint takes none",
			     names);
			return false;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(p[i].name, p[j].name) == 0) {
				fail(out, 400, "bad_request", "parameter '%s' given twice", p[i].name);
				return false;
			}
		}
		if (!p[i].value || !*p[i].value) {
			fail(out, 400, "bad_request", "parameter '%s' is empty", p[i].name);
			return false;
		}
	}
	return true;
}

static const char *param(const struct admin_param *p, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(p[i].name, name) == 0)
			return p[i].value;
	return NULL;
}

static bool token_valid(const char *s)
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
	if (!params_check(p, n, known, out))
		return 0;
	char q[QUOTE_MAX + 1];
	struct store_event_filter f = { param(p, n, "status"), param(p, n, "provider"), 0,
					ADMIN_LIST_DEFAULT };
	if (f.status && !store_status_valid(f.status))
		return fail(out, 400, "bad_request",
			    "status must be pending, processing, completed or dead_letter, not '%s'",
			    quote(f.status, q));
	if (f.provider && !token_valid(f.provider))
		return fail(out, 400, "bad_request",
			    "provider must be a provider name such as github, not '%s'",
			    quote(f.provider, q));
	const char *limit = param(p, n, "limit");
	uint64_t v;
	if (limit) {
		if (parse_u64(limit, 1, ADMIN_LIST_MAX, &v) < 0)
			return fail(out, 400, "bad_request",
				    "limit must be a whole number from 1 to %d, not '%s'",
				    ADMIN_LIST_MAX, quote(limit, q));
		f.limit = (size_t)v;
	}
	const char *cursor = param(p, n, "cursor");
	if (cursor) {
		if (parse_u64(cursor, 1, INT64_MAX, &v) < 0)
			return fail(out, 400, "bad_request",
				    "cursor must be a next_cursor this API returned, not '%s'",
				    quote(cursor, q));
		f.before_id = (int64_t)v;
	}
	struct store_event_list l;
	struct store_error err;
	int r = store_list_events(a->store, &f, &l, &err);
	if (r < 0)
		return fail_store(out, r, &err);
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
	return succeed(out, 200,
		       json_pack("{s:o, s:o, s:I}", "events", events, "next_cursor", next, "limit",
				 (json_int_t)f.limit));
}

static int show_event(const struct admin *a, int64_t id, const struct admin_param *p,
		      size_t n, struct admin_reply *out)
{
	static const char *const known[] = { NULL };
	if (!params_check(p, n, known, out))
		return 0;
	struct store_event_detail d;
	struct store_error err;
	int r = store_get_event(a->store, id, a->max_body, &d, &err);
	if (r == HQ_E_NOTFOUND)
		return fail(out, 404, "not_found", "no event %lld", (long long)id);
	if (r < 0)
		return fail_store(out, r, &err);
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
	return succeed(out, 200, doc);
}

/* The states an operator may act on, named in errors; fallback when the
 * parameter is absent (NULL: required). */
static const char *settled_status(const struct admin_param *p, size_t n, const char *fallback,
				  struct admin_reply *out)
{
	const char *status = param(p, n, "status");
	if (!status)
		status = fallback;
	if (!status) {
		fail(out, 400, "bad_request", "status is required: dead_letter or completed");
		return NULL;
	}
	if (strcmp(status, "dead_letter") != 0 && strcmp(status, "completed") != 0) {
		char q[QUOTE_MAX + 1];
		fail(out, 400, "bad_request", "status must be dead_letter or completed, not '%s'",
		     quote(status, q));
		return NULL;
	}
	return status;
}

static int retry_event(const struct admin *a, int64_t id, const struct admin_param *p,
		       size_t n, int64_t now_ms, struct admin_reply *out)
{
	static const char *const known[] = { "status", NULL };
	if (!params_check(p, n, known, out))
		return 0;
	const char *only = NULL;
	if (param(p, n, "status") && !(only = settled_status(p, n, NULL, out)))
		return 0;
	struct store_error err;
	int r = store_retry_event(a->store, id, only, now_ms, &err);
	if (r == HQ_E_NOTFOUND)
		return fail(out, 404, "not_found", "no event %lld", (long long)id);
	if (r == HQ_E_CONFLICT)
		return fail(out, 409, "not_retryable", "event %lld is not %s", (long long)id,
			    only ? only : "dead_letter or completed");
	if (r < 0)
		return fail_store(out, r, &err);
	if (a->wake)
		a->wake(a->wake_ctx);
	return succeed(out, 200,
		       json_pack("{s:s, s:I}", "status", "queued", "event_id", (json_int_t)id));
}

/* What a batched operation did before it stopped early. */
static int fail_partial(struct admin_reply *out, int r, const struct store_error *err,
			const char *did, size_t total)
{
	if (r == HQ_E_NOMEM)
		return r;
	if (r == 0) /* cancelled */
		return fail(out, 503, "shutting_down",
			    "the server is shutting down: stopped after %s %zu events; run it "
			    "again",
			    did, total);
	snprintf(out->detail, sizeof(out->detail), "%s (after %s %zu)", err->msg, did, total);
	return fail(out, 503, "store_unavailable",
		    "the store failed after %s %zu events; run it again later", did, total);
}

static int retry_events(const struct admin *a, const struct admin_param *p, size_t n,
			int64_t now_ms, struct admin_reply *out)
{
	static const char *const known[] = { "status", NULL };
	if (!params_check(p, n, known, out))
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
	return succeed(out, 200,
		       json_pack("{s:s, s:I}", "status", "queued", "count", (json_int_t)total));
}

static int purge_events(const struct admin *a, const struct admin_param *p, size_t n,
			int64_t now_ms, struct admin_reply *out)
{
	static const char *const known[] = { "older_than", "status", NULL };
	if (!params_check(p, n, known, out))
		return 0;
	const char *status = settled_status(p, n, "completed", out);
	if (!status)
		return 0;
	const char *age = param(p, n, "older_than");
	uint64_t ms;
	char q[QUOTE_MAX + 1];
	if (!age)
		return fail(out, 400, "bad_request", "older_than is required, for example 7d");
	if (parse_duration_ms(age, &ms) < 0 || ms > (uint64_t)now_ms)
		return fail(out, 400, "bad_request",
			    "older_than must be a duration such as 12h or 7d, not '%s'",
			    quote(age, q));
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
	return succeed(out, 200,
		       json_pack("{s:I, s:s, s:o}", "purged", (json_int_t)total, "status", status,
				 "before", time_json(before)));
}

/* "/api/events/123" or "/api/events/123/retry" → 123 and the rest
 * ("" or "/retry"). */
static bool path_id(const char *rest, int64_t *id, const char **tail)
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

static bool method_is(const char *method, const char *want)
{
	return strcmp(method, want) == 0 || (strcmp(want, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

static int wrong_method(struct admin_reply *out, const char *allowed)
{
	out->allow = strcmp(allowed, "GET") == 0 ? "GET, HEAD" : allowed;
	return fail(out, 405, "method_not_allowed", "use %s", allowed);
}

int admin_handle(const struct admin *a, const char *method, const char *path,
		 const struct admin_param *params, size_t n, int64_t now_ms,
		 struct admin_reply *out)
{
	memset(out, 0, sizeof(*out));
	static const char events[] = "/api/events";
	if (strcmp(path, events) == 0)
		return method_is(method, "GET") ? list_events(a, params, n, out) :
						  wrong_method(out, "GET");
	if (strncmp(path, events, sizeof(events) - 1) != 0 || path[sizeof(events) - 1] != '/')
		return fail(out, 404, "not_found", "no such endpoint");
	const char *rest = path + sizeof(events);
	if (strcmp(rest, "retry") == 0)
		return method_is(method, "POST") ? retry_events(a, params, n, now_ms, out) :
						   wrong_method(out, "POST");
	if (strcmp(rest, "purge") == 0)
		return method_is(method, "POST") ? purge_events(a, params, n, now_ms, out) :
						   wrong_method(out, "POST");
	int64_t id;
	const char *tail;
	if (!path_id(rest, &id, &tail))
		return fail(out, 404, "not_found", "no such endpoint");
	if (*tail == '\0')
		return method_is(method, "GET") ? show_event(a, id, params, n, out) :
						  wrong_method(out, "GET");
	if (strcmp(tail, "/retry") == 0)
		return method_is(method, "POST") ? retry_event(a, id, params, n, now_ms, out) :
						   wrong_method(out, "POST");
	return fail(out, 404, "not_found", "no such endpoint");
}
