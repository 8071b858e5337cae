/* The admin API's outbox endpoints: the replies hookq says back (list,
 * show one, and send a dead one again). Replies are made by tasks and
 * sent by engine/outbox; operators only look and retry. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/admin.h"
#include "engine/admin_util.h"
#include "util/error.h"
#include "util/parse.h"
#include "util/utf8.h"

/* Text that may hold any bytes (a receiver's error) as a JSON string:
 * invalid UTF-8 becomes U+FFFD. */
static json_t *bytes_json(const char *s)
{
	if (!s)
		return json_null();
	json_t *v = json_string(s);
	if (v)
		return v;
	size_t n;
	char *clean = utf8_sanitize(s, strlen(s), &n);
	v = clean ? json_stringn(clean, n) : NULL;
	free(clean);
	return v;
}

/* A stored JSON column (where a reply goes, what it says) parsed; the
 * text itself when it does not parse, so nothing stored is hidden. */
static json_t *stored_json(const char *text)
{
	json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
	return v ? v : bytes_json(text);
}

static json_t *reply_json(const struct store_outbox_item *it)
{
	bool pending = strcmp(it->status, "pending") == 0;
	json_t *o = json_pack("{s:I, s:o, s:s, s:s, s:i, s:i, s:b}", "id", (json_int_t)it->id,
			      "task_id", it->task_id > 0 ? json_integer(it->task_id) : json_null(),
			      "kind", it->kind, "status", it->status, "attempts", it->attempts,
			      "max_attempts", it->max_attempts, "uncertain", it->uncertain);
	if (!o)
		return NULL;
	json_object_set_new(o, "next_attempt_at",
			    pending ? admin_time_json(it->next_attempt_at_ms) : json_null());
	json_object_set_new(o, "created_at", admin_time_json(it->created_at_ms));
	json_object_set_new(o, "updated_at", admin_time_json(it->updated_at_ms));
	json_object_set_new(o, "sent_at", admin_time_json(it->sent_at_ms));
	json_object_set_new(o, "last_error", bytes_json(it->last_error));
	json_object_set_new(o, "result", bytes_json(it->result));
	json_object_set_new(o, "target", stored_json(it->target_json));
	json_object_set_new(o, "body", stored_json(it->body_json));
	return o;
}

static int list_replies(const struct admin *a, const struct admin_param *p, size_t n,
			struct admin_reply *out)
{
	static const char *const known[] = { "status", "task_id", "limit", "cursor", NULL };
	if (!admin_params_check(p, n, known, out))
		return 0;
	char q[QUOTE_MAX + 1];
	struct store_outbox_filter f = {
		.status = admin_param_get(p, n, "status"),
		.limit = ADMIN_LIST_DEFAULT,
	};
	if (f.status && !store_outbox_status_valid(f.status))
		return admin_fail(out, 400, "bad_request",
				  "status must be pending, sending, sent or dead, not '%s'",
				  admin_quote(f.status, q));
	struct {
		const char *name;
		uint64_t min, max;
		int64_t *dst;
		size_t *dst_size;
	} nums[] = {
		{ "task_id", 1, INT64_MAX, &f.task_id, NULL },
		{ "cursor", 1, INT64_MAX, &f.before_id, NULL },
		{ "limit", 1, ADMIN_LIST_MAX, NULL, &f.limit },
	};
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		const char *v = admin_param_get(p, n, nums[i].name);
		uint64_t x;
		if (!v)
			continue;
		if (parse_u64(v, nums[i].min, nums[i].max, &x) < 0)
			return admin_fail(out, 400, "bad_request",
					  "%s must be a whole number from %llu to %llu, not '%s'",
					  nums[i].name, (unsigned long long)nums[i].min,
					  (unsigned long long)nums[i].max, admin_quote(v, q));
		if (nums[i].dst)
			*nums[i].dst = (int64_t)x;
		else
			*nums[i].dst_size = (size_t)x;
	}
	struct store_outbox_list l;
	struct store_error err;
	int r = store_outbox_list(a->store, &f, &l, &err);
	if (r < 0)
		return admin_fail_store(out, r, &err);
	json_t *replies = json_array();
	bool ok = replies != NULL;
	for (size_t i = 0; ok && i < l.n; i++)
		ok = json_array_append_new(replies, reply_json(&l.items[i])) == 0;
	json_t *next = json_null();
	if (l.more && l.n > 0) {
		char id[24];
		snprintf(id, sizeof(id), "%lld", (long long)l.items[l.n - 1].id);
		next = json_string(id);
	}
	store_outbox_list_release(&l);
	if (!ok) {
		json_decref(replies);
		json_decref(next);
		return HQ_E_NOMEM;
	}
	return admin_succeed(out, 200,
			     json_pack("{s:o, s:o, s:I}", "replies", replies, "next_cursor", next,
				       "limit", (json_int_t)f.limit));
}

/* Reply id as the list has it: the newest below id + 1, which is id
 * itself when it exists (the store has no lookup by id of its own). */
static int show_reply(const struct admin *a, int64_t id, unsigned status,
		      struct admin_reply *out)
{
	struct store_outbox_filter f = { .before_id = id < INT64_MAX ? id + 1 : id, .limit = 1 };
	struct store_outbox_list l;
	struct store_error err;
	int r = store_outbox_list(a->store, &f, &l, &err);
	if (r < 0)
		return admin_fail_store(out, r, &err);
	bool found = l.n == 1 && l.items[0].id == id;
	json_t *doc = found ? reply_json(&l.items[0]) : NULL;
	store_outbox_list_release(&l);
	if (!found)
		return admin_fail(out, 404, "not_found", "no reply %lld", (long long)id);
	return doc ? admin_succeed(out, status, doc) : HQ_E_NOMEM;
}

static int retry_reply(const struct admin *a, int64_t id, int64_t now_ms,
		       struct admin_reply *out)
{
	struct store_error err;
	int r = store_outbox_retry(a->store, id, now_ms, &err);
	if (r == HQ_E_NOTFOUND)
		return admin_fail(out, 404, "not_found", "no reply %lld", (long long)id);
	if (r == HQ_E_CONFLICT)
		return admin_fail(out, 409, "conflict", "%s", err.msg);
	if (r < 0)
		return admin_fail_store(out, r, &err);
	/* The answer shows the reply as this request left it: read before a
	 * sender can take it. In a running server, waking the dispatcher
	 * wakes the outbox's senders too (serve.c), so it goes at once. */
	r = show_reply(a, id, 200, out);
	if (a->wake_tasks)
		a->wake_tasks(a->tasks_ctx);
	return r;
}

int admin_outbox_handle(const struct admin *a, const struct admin_request *req, int64_t now_ms,
			struct admin_reply *out)
{
	static const char prefix[] = "/api/outbox";
	const char *m = req->method, *path = req->path;
	const struct admin_param *p = req->params;
	size_t n = req->n_params;
	static const char *const none[] = { NULL };
	if (strncmp(path, prefix, sizeof(prefix) - 1) != 0 ||
	    (path[sizeof(prefix) - 1] != '\0' && path[sizeof(prefix) - 1] != '/'))
		return 1;
	const char *rest = path + sizeof(prefix) - 1;
	if (req->body_len > 0)
		return admin_fail(out, 400, "bad_request",
				  "this endpoint takes its parameters in the query string");
	if (!*rest)
		return admin_method_is(m, "GET") ? list_replies(a, p, n, out) :
						   admin_wrong_method(out, "GET");
	int64_t id;
	const char *tail;
	if (!admin_path_id(rest + 1, &id, &tail))
		return admin_fail(out, 404, "not_found", "no such endpoint");
	if (!admin_params_check(p, n, none, out))
		return 0;
	if (!*tail)
		return admin_method_is(m, "GET") ? show_reply(a, id, 200, out) :
						   admin_wrong_method(out, "GET");
	if (strcmp(tail, "/retry") == 0)
		return admin_method_is(m, "POST") ? retry_reply(a, id, now_ms, out) :
						    admin_wrong_method(out, "POST");
	return admin_fail(out, 404, "not_found", "no such endpoint");
}
