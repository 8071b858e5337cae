/* The admin API's task endpoints: tasks (list, show, create, cancel,
 * retry), flows as trees of tasks by conversation, the workers, and test
 * events (`hookq test`). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/flow.h"
#include "engine/admin.h"
#include "engine/admin_util.h"
#include "engine/handler.h"
#include "util/crypto.h"
#include "util/error.h"
#include "util/parse.h"
#include "util/utf8.h"

#define PROMPT_MAX (64 * 1024)
#define TITLE_MAX 200
#define EXTERNAL_ID_MAX 300
#define METADATA_MAX (16 * 1024)
#define REPOSITORY_MAX 200
#define FLOW_TASKS_MAX 1000
/* Follow-up tasks: children per task, and how deep a chain goes. */
#define TASK_CHILDREN_MAX 100
#define TASK_DEPTH_MAX 20

static json_t *task_json(const struct store_task *t)
{
	bool running = strcmp(t->status, "running") == 0;
	bool queued = strcmp(t->status, "queued") == 0;
	json_t *o = json_pack(
		"{s:I, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:s, s:o, s:i, s:i, s:i}",
		"id", (json_int_t)t->id, "status", t->status, "agent", t->agent, "title", t->title,
		"flow_id", t->flow_id, "conversation_id", t->conversation_id, "external_id",
		admin_text_json(t->external_id), "parent_task_id",
		t->parent_id > 0 ? json_integer(t->parent_id) : json_null(), "event_id",
		t->event_id > 0 ? json_integer(t->event_id) : json_null(), "route",
		admin_text_json(t->route), "command", admin_text_json(t->command), "pool", t->pool,
		"project", admin_text_json(t->project), "priority", t->priority, "attempts",
		t->attempts - t->retry_base, "max_attempts", t->max_attempts);
	if (!o)
		return NULL;
	json_object_set_new(o, "attempts_total", json_integer(t->attempts));
	json_object_set_new(o, "worker", admin_text_json(t->worker));
	json_object_set_new(o, "created_at", admin_time_json(t->created_at_ms));
	json_object_set_new(o, "updated_at", admin_time_json(t->updated_at_ms));
	json_object_set_new(o, "started_at", admin_time_json(t->started_at_ms));
	json_object_set_new(o, "finished_at", admin_time_json(t->finished_at_ms));
	json_object_set_new(o, "next_attempt_at",
			    queued ? admin_time_json(t->next_attempt_at_ms) : json_null());
	json_object_set_new(o, "lease_expires_at",
			    running ? admin_time_json(t->lease_expires_at_ms) : json_null());
	json_object_set_new(o, "node", running ? admin_text_json(t->lease_owner) : json_null());
	json_object_set_new(o, "cancel_requested", json_boolean(t->cancel_requested));
	json_object_set_new(o, "exit_code",
			    t->has_exit_code ? json_integer(t->exit_code) : json_null());
	json_object_set_new(o, "error", admin_text_json(t->error));
	json_object_set_new(o, "output_bytes", json_integer(t->output_bytes));
	return o;
}

/* Text that may hold any bytes (an agent's output) as a JSON string:
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

static int list_tasks(const struct admin *a, const struct admin_param *p, size_t n,
		      struct admin_reply *out)
{
	static const char *const known[] = { "status",	 "flow_id",   "agent", "worker",
					     "event_id", "parent_id", "limit", "cursor", NULL };
	if (!admin_params_check(p, n, known, out))
		return 0;
	char q[QUOTE_MAX + 1];
	struct store_task_filter f = {
		.status = admin_param_get(p, n, "status"),
		.flow_id = admin_param_get(p, n, "flow_id"),
		.agent = admin_param_get(p, n, "agent"),
		.worker = admin_param_get(p, n, "worker"),
		.limit = ADMIN_LIST_DEFAULT,
	};
	if (f.status && !store_task_status_valid(f.status))
		return admin_fail(out, 400, "bad_request",
				  "status must be queued, running, succeeded, failed, timed_out, "
				  "cancelled or dead_letter, not '%s'",
				  admin_quote(f.status, q));
	if (f.flow_id && !admin_token_valid(f.flow_id))
		return admin_fail(out, 400, "bad_request",
				  "flow_id must be a flow id such as flow-0123456789ab, not '%s'",
				  admin_quote(f.flow_id, q));
	if (f.agent && !admin_text_ok(f.agent, AGENT_NAME_MAX))
		return admin_fail(out, 400, "bad_request", "agent must be an agent name");
	if (f.worker && !admin_text_ok(f.worker, AGENT_NAME_MAX))
		return admin_fail(out, 400, "bad_request", "worker must be a worker name");
	struct {
		const char *name;
		uint64_t min, max;
		int64_t *dst;
		size_t *dst_size;
	} nums[] = {
		{ "event_id", 1, INT64_MAX, &f.event_id, NULL },
		{ "parent_id", 1, INT64_MAX, &f.parent_id, NULL },
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
	struct store_task_list l;
	struct store_error err;
	int r = store_list_tasks(a->store, &f, &l, &err);
	if (r < 0)
		return admin_fail_store(out, r, &err);
	json_t *tasks = json_array();
	bool ok = tasks != NULL;
	for (size_t i = 0; ok && i < l.n; i++)
		ok = json_array_append_new(tasks, task_json(&l.rows[i])) == 0;
	json_t *next = json_null();
	if (l.more && l.n > 0) {
		char id[24];
		snprintf(id, sizeof(id), "%lld", (long long)l.rows[l.n - 1].id);
		next = json_string(id);
	}
	store_task_list_release(&l);
	if (!ok) {
		json_decref(tasks);
		json_decref(next);
		return HQ_E_NOMEM;
	}
	return admin_succeed(out, 200,
			     json_pack("{s:o, s:o, s:I}", "tasks", tasks, "next_cursor", next,
				       "limit", (json_int_t)f.limit));
}

/* A task with its prompt, output, metadata and ended attempts. */
static json_t *detail_json(const struct store_task_detail *d)
{
	json_t *o = task_json(&d->task);
	if (!o)
		return NULL;
	json_t *meta = json_loads(d->task.metadata_json, 0, NULL);
	json_object_set_new(o, "metadata", meta ? meta : json_object());
	json_object_set_new(o, "prompt", bytes_json(d->task.prompt));
	json_object_set_new(o, "output", bytes_json(d->task.output));
	json_t *hist = json_array();
	for (size_t i = 0; hist && i < d->n_attempts; i++) {
		const struct store_task_attempt *at = &d->attempts[i];
		json_t *h = json_pack("{s:i, s:o, s:o, s:o, s:s, s:o, s:o}", "attempt", at->attempt,
				      "worker", admin_text_json(at->worker), "started_at",
				      admin_time_json(at->started_at_ms), "finished_at",
				      admin_time_json(at->finished_at_ms), "outcome", at->outcome,
				      "exit_code",
				      at->has_exit_code ? json_integer(at->exit_code) : json_null(),
				      "error", bytes_json(at->error));
		json_array_append_new(hist, h);
	}
	json_object_set_new(o, "history", hist ? hist : json_array());
	return o;
}

static int show_task(const struct admin *a, int64_t id, struct admin_reply *out)
{
	struct store_task_detail d;
	struct store_error err;
	int r = store_get_task(a->store, id, &d, &err);
	if (r == HQ_E_NOTFOUND)
		return admin_fail(out, 404, "not_found", "no task %lld", (long long)id);
	if (r < 0)
		return admin_fail_store(out, r, &err);
	json_t *doc = detail_json(&d);
	store_task_detail_release(&d);
	return doc ? admin_succeed(out, 200, doc) : HQ_E_NOMEM;
}

static void wake(const struct admin *a)
{
	if (a->wake_tasks)
		a->wake_tasks(a->tasks_ctx);
}

static int task_action(const struct admin *a, int64_t id, bool cancel, int64_t now_ms,
		       struct admin_reply *out)
{
	struct store_error err;
	bool running = false;
	int r = cancel ? store_task_cancel(a->store, id, now_ms, &running, &err) :
			 store_task_retry(a->store, id, NULL, now_ms, &err);
	if (r == HQ_E_NOTFOUND)
		return admin_fail(out, 404, "not_found", "no task %lld", (long long)id);
	if (r == HQ_E_CONFLICT)
		return admin_fail(out, 409, "conflict", "%s", err.msg);
	if (r < 0)
		return admin_fail_store(out, r, &err);
	/* The answer shows the task as this request left it: read before a
	 * worker can take it. */
	struct store_task_detail d;
	if ((r = store_get_task(a->store, id, &d, &err)) < 0)
		return admin_fail_store(out, r, &err);
	json_t *doc = task_json(&d.task);
	store_task_detail_release(&d);
	/* A task running here ends at once; one on another node at its
	 * next heartbeat. */
	if (cancel && running && a->cancel_task)
		(void)a->cancel_task(a->tasks_ctx, id);
	if (!cancel)
		wake(a);
	return doc ? admin_succeed(out, cancel && running ? 202 : 200, doc) : HQ_E_NOMEM;
}

static bool repository_ok(const char *r)
{
	if (!admin_text_ok(r, REPOSITORY_MAX) || !strchr(r, '/') || r[0] == '-' || r[0] == '.' ||
	    strstr(r, ".."))
		return false;
	for (const char *c = r; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.' || *c == '/'))
			return false;
	return true;
}

static void random_hex(char *out, size_t bytes)
{
	unsigned char b[16];
	if (bytes > sizeof(b))
		bytes = sizeof(b);
	if (crypto_random(b, bytes) < 0)
		memset(b, 0, sizeof(b));
	crypto_hex_encode(b, bytes, out);
}

bool admin_agent_ok(const struct admin *a, const char *agent, struct admin_reply *out)
{
	char q[QUOTE_MAX + 1];
	if (!agent)
		return admin_fail(out, 400, "bad_request",
				  "no agent named and no default agent is configured") != 0;
	if (a->agents && !agent_find(a->agents, agent)) {
		char names[200] = "";
		for (size_t i = 0; i < a->agents->n; i++)
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
				 i ? ", " : "", a->agents->agents[i].name);
		admin_fail(out, 400, "bad_request", "no agent '%s' is configured (agents: %s)",
			   admin_quote(agent, q), a->agents->n ? names : "none");
		return false;
	}
	return true;
}

/* What a parent may have: at most TASK_CHILDREN_MAX children, a chain at
 * most TASK_DEPTH_MAX deep; and a running agent (its token) adds children
 * only for its own repository, never ahead of itself in the queue. Returns
 * 0, 1 with out set, or a negative error. */
static int child_limits(const struct admin *a, const struct store_task *parent, bool by_token,
			const char *repo, const json_t *prio, struct admin_reply *out)
{
	struct store_error err;
	struct store_task_filter f = { .parent_id = parent->id, .limit = TASK_CHILDREN_MAX };
	struct store_task_list l;
	int r = store_list_tasks(a->store, &f, &l, &err);
	if (r < 0)
		return admin_fail_store(out, r, &err) == 0 ? 1 : HQ_E_NOMEM;
	bool full = l.n >= TASK_CHILDREN_MAX;
	store_task_list_release(&l);
	if (full) {
		admin_fail(out, 409, "too_many_tasks",
			   "task %lld has %d children already (the limit)", (long long)parent->id,
			   TASK_CHILDREN_MAX);
		return 1;
	}
	int depth = 1;
	int64_t up = parent->parent_id;
	while (up > 0) {
		if (++depth >= TASK_DEPTH_MAX) {
			admin_fail(out, 409, "too_many_tasks",
				   "task %lld ends its chain: a chain of follow-ups has at most %d "
				   "tasks",
				   (long long)parent->id, TASK_DEPTH_MAX);
			return 1;
		}
		struct store_task_detail d;
		if ((r = store_get_task(a->store, up, &d, &err)) == HQ_E_NOTFOUND)
			break; /* a purged ancestor ends the chain */
		if (r < 0)
			return admin_fail_store(out, r, &err) == 0 ? 1 : HQ_E_NOMEM;
		up = d.task.parent_id;
		store_task_detail_release(&d);
	}
	if (!by_token)
		return 0;
	/* GitHub names are case-insensitive. */
	if (repo && (!parent->project || strcasecmp(repo, parent->project) != 0)) {
		admin_fail(out, 403, "forbidden",
			   "a task's follow-ups work on its own repository ('%s')",
			   parent->project ? parent->project : "none");
		return 1;
	}
	if (prio && json_integer_value(prio) < parent->priority) {
		admin_fail(out, 403, "forbidden",
			   "a task's follow-ups cannot go ahead of it: priority at least %d",
			   parent->priority);
		return 1;
	}
	return 0;
}

static int create_task(const struct admin *a, const struct admin_request *req, int64_t now_ms,
		       struct admin_reply *out)
{
	static const char *const known[] = { "prompt",	       "agent",	   "title",
					     "parent_task_id", "repository", "external_id",
					     "new_conversation", "metadata", "key",
					     "priority",	 NULL };
	char q[QUOTE_MAX + 1];
	struct store_error err;
	/* A task token stands for its task: it may only add children to it. */
	int64_t token_task = 0;
	if (req->task_token) {
		unsigned char hash[CRYPTO_SHA256_LEN];
		if (crypto_sha256(req->task_token, strlen(req->task_token), hash) < 0)
			return HQ_E_SYSTEM;
		int r = store_task_by_token(a->store, hash, &token_task, &err);
		if (r == HQ_E_NOTFOUND)
			return admin_fail(out, 401, "unauthorized",
					  "the task token is not that of a running task");
		if (r < 0)
			return admin_fail_store(out, r, &err);
	}
	json_t *o = admin_body_object(req, known, out);
	if (!o)
		return 0;
	int r = 0;
	const char *prompt, *agent, *title, *repo, *ext, *key;
	if (!admin_field_text(o, "agent", AGENT_NAME_MAX, &agent, out) ||
	    !admin_field_text(o, "title", TITLE_MAX, &title, out) ||
	    !admin_field_text(o, "repository", REPOSITORY_MAX, &repo, out) ||
	    !admin_field_text(o, "external_id", EXTERNAL_ID_MAX, &ext, out) ||
	    !admin_field_text(o, "key", 64, &key, out))
		goto out_body;
	json_t *pv = json_object_get(o, "prompt");
	prompt = json_string_value(pv);
	if (!prompt || !*prompt || json_string_length(pv) > PROMPT_MAX ||
	    strlen(prompt) != json_string_length(pv)) {
		admin_fail(out, 400, "bad_request",
			   "'prompt' is required: a string of 1 to %d bytes", PROMPT_MAX);
		goto out_body;
	}
	if (repo && !repository_ok(repo)) {
		admin_fail(out, 400, "bad_request",
			   "'repository' must look like owner/name, not '%s'", admin_quote(repo, q));
		goto out_body;
	}
	if (key && !admin_token_valid(key)) {
		admin_fail(out, 400, "bad_request", "'key' must be 1 to 64 of a-z, 0-9, - and _");
		goto out_body;
	}
	json_t *nc = json_object_get(o, "new_conversation");
	json_t *meta = json_object_get(o, "metadata");
	json_t *prio = json_object_get(o, "priority");
	json_t *parent_v = json_object_get(o, "parent_task_id");
	if ((nc && !json_is_boolean(nc)) || (meta && !json_is_object(meta)) ||
	    (prio && (!json_is_integer(prio) || json_integer_value(prio) < 0 ||
		      json_integer_value(prio) > 1000)) ||
	    (parent_v && !json_is_null(parent_v) &&
	     (!json_is_integer(parent_v) || json_integer_value(parent_v) < 1))) {
		admin_fail(out, 400, "bad_request",
			   "new_conversation must be a boolean, metadata an object, priority a "
			   "whole number from 0 to 1000, parent_task_id a task id");
		goto out_body;
	}
	bool new_conv = json_is_true(nc) ||
			json_is_true(json_object_get(meta, "new_conversation")) ||
			flow_wants_new_conversation(prompt, strlen(prompt));
	int64_t parent = parent_v && json_is_integer(parent_v) ? json_integer_value(parent_v) : 0;
	if (token_task) {
		if (parent && parent != token_task) {
			admin_fail(out, 403, "forbidden",
				   "a task's token only creates children of that task (%lld)",
				   (long long)token_task);
			goto out_body;
		}
		parent = token_task;
	}
	if (parent && ext) {
		admin_fail(out, 400, "bad_request",
			   "a child task belongs to its parent's flow: drop 'external_id'");
		goto out_body;
	}
	/* What a child inherits from its parent. */
	struct store_task_detail pd;
	bool have_parent = false;
	if (parent) {
		r = store_get_task(a->store, parent, &pd, &err);
		if (r == HQ_E_NOTFOUND) {
			r = 0;
			admin_fail(out, 404, "not_found", "no task %lld (parent_task_id)",
				   (long long)parent);
			goto out_body;
		}
		if (r < 0) {
			r = admin_fail_store(out, r, &err);
			goto out_body;
		}
		have_parent = true;
		if ((r = child_limits(a, &pd.task, token_task != 0, repo, prio, out)) != 0) {
			r = r > 0 ? 0 : r;
			goto out_parent;
		}
	}
	if (!agent)
		agent = have_parent ? pd.task.agent : a->default_agent;
	if (!admin_agent_ok(a, agent, out))
		goto out_parent;

	char origin[128], rnd[33], ext_buf[64];
	random_hex(rnd, 12);
	if (parent)
		snprintf(origin, sizeof(origin), "child:%lld:%s", (long long)parent,
			 key ? key : rnd);
	else
		snprintf(origin, sizeof(origin), "api:%s", key ? key : rnd);
	if (!parent && !ext) {
		snprintf(ext_buf, sizeof(ext_buf), "api:%s", key ? key : rnd);
		ext = ext_buf;
	}
	char flow[FLOW_ID_MAX] = "", project[256] = "";
	if (ext && flow_id_of(ext, flow) < 0) {
		r = HQ_E_SYSTEM;
		goto out_parent;
	}
	if (repo)
		snprintf(project, sizeof(project), "%s", repo);
	else if (have_parent && pd.task.project)
		snprintf(project, sizeof(project), "%s", pd.task.project);
	else if (ext)
		flow_project_of(ext, NULL, project, sizeof(project));
	const struct agent *ag = a->agents ? agent_find(a->agents, agent) : NULL;
	json_t *md = meta ? json_deep_copy(meta) : json_object();
	if (md) {
		json_object_set_new(md, "source", json_string(token_task ? "task" : "api"));
		if (repo)
			json_object_set_new(md, "repository", json_string(repo));
	}
	char *md_text = md ? json_dumps(md, JSON_COMPACT) : NULL;
	json_decref(md);
	if (!md_text) {
		r = HQ_E_NOMEM;
		goto out_parent;
	}
	if (strlen(md_text) > METADATA_MAX) {
		free(md_text);
		admin_fail(out, 400, "bad_request", "'metadata' is over %d bytes", METADATA_MAX);
		goto out_parent;
	}
	char default_title[TITLE_MAX + 1];
	if (!title) {
		size_t len = strcspn(prompt, "\r\n");
		if (len > 80) {
			len = 80;
			while (len > 0 && ((unsigned char)prompt[len] & 0xC0) == 0x80)
				len--;
		}
		snprintf(default_title, sizeof(default_title), "%.*s", (int)len, prompt);
		title = default_title;
	}
	struct store_task_in in = {
		.origin = origin,
		.parent_id = parent,
		.flow_id = parent ? NULL : flow,
		.external_id = parent ? NULL : ext,
		.new_conversation = new_conv,
		.agent = agent,
		.pool = have_parent ? pd.task.pool : "main",
		.project = project[0] ? project : NULL,
		.title = title,
		.prompt = prompt,
		.metadata_json = md_text,
		/* A running agent's follow-up waits behind it by default. */
		.priority = prio		  ? (int)json_integer_value(prio) :
			    token_task && have_parent ? pd.task.priority :
							100,
		.max_attempts = ag ? (int)ag->max_attempts : 1,
	};
	r = store_create_tasks(a->store, &in, 1, now_ms, &err);
	free(md_text);
	if (r == HQ_E_NOTFOUND) {
		r = admin_fail(out, 404, "not_found", "%s", err.msg);
		goto out_parent;
	}
	if (r < 0) {
		r = admin_fail_store(out, r, &err);
		goto out_parent;
	}
	struct store_task_detail d;
	if ((r = store_get_task(a->store, in.id, &d, &err)) < 0) {
		r = admin_fail_store(out, r, &err);
		goto out_parent;
	}
	json_t *doc = task_json(&d.task);
	store_task_detail_release(&d);
	wake(a);
	if (doc)
		json_object_set_new(doc, "duplicate", json_boolean(in.duplicate));
	r = doc ? admin_succeed(out, in.duplicate ? 200 : 201, doc) : HQ_E_NOMEM;

out_parent:
	if (have_parent)
		store_task_detail_release(&pd);
out_body:
	json_decref(o);
	return r;
}

/* A flow: its conversations oldest first, each with its tasks as a tree
 * (children under their parent when both are in the conversation). */
static int show_flow(const struct admin *a, const char *flow_id, struct admin_reply *out)
{
	char q[QUOTE_MAX + 1];
	if (!admin_token_valid(flow_id))
		return admin_fail(out, 404, "not_found", "no flow '%s'", admin_quote(flow_id, q));
	struct store_flow f;
	struct store_error err;
	int r = store_get_flow(a->store, flow_id, FLOW_TASKS_MAX, &f, &err);
	if (r == HQ_E_NOTFOUND)
		return admin_fail(out, 404, "not_found", "no flow '%s'", admin_quote(flow_id, q));
	if (r < 0)
		return admin_fail_store(out, r, &err);
	json_t **nodes = calloc(f.n_tasks ? f.n_tasks : 1, sizeof(*nodes));
	json_t *convs = json_array();
	r = nodes && convs ? 0 : HQ_E_NOMEM;
	for (size_t i = 0; r == 0 && i < f.n_tasks; i++) {
		nodes[i] = task_json(&f.tasks[i]);
		if (!nodes[i])
			r = HQ_E_NOMEM;
		else
			json_object_set_new(nodes[i], "children", json_array());
	}
	for (size_t c = 0; r == 0 && c < f.n_conversations; c++) {
		const struct store_conversation *cv = &f.conversations[c];
		json_t *roots = json_array();
		json_t *co = json_pack(
			"{s:s, s:b, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I}}", "id", cv->id, "current",
			strcmp(cv->id, f.current_conversation) == 0, "created_at",
			admin_time_json(cv->created_at_ms), "updated_at",
			admin_time_json(cv->updated_at_ms), "metrics", "tasks",
			(json_int_t)cv->tasks, "succeeded", (json_int_t)cv->succeeded, "failed",
			(json_int_t)cv->failed, "cancelled", (json_int_t)cv->cancelled, "run_ms",
			(json_int_t)cv->run_ms);
		if (!roots || !co) {
			json_decref(roots);
			json_decref(co);
			r = HQ_E_NOMEM;
			break;
		}
		/* Tasks come oldest first, so a parent precedes its children. */
		for (size_t i = 0; i < f.n_tasks; i++) {
			if (strcmp(f.tasks[i].conversation_id, cv->id) != 0)
				continue;
			json_t *home = roots;
			for (size_t j = 0; j < i && f.tasks[i].parent_id; j++)
				if (f.tasks[j].id == f.tasks[i].parent_id &&
				    strcmp(f.tasks[j].conversation_id, cv->id) == 0)
					home = json_object_get(nodes[j], "children");
			json_array_append(home, nodes[i]);
		}
		json_object_set_new(co, "tasks", roots);
		json_array_append_new(convs, co);
	}
	json_t *doc = NULL;
	if (r == 0)
		doc = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:b}", "flow_id", f.id,
				"external_id", f.external_id, "conversation_id",
				f.current_conversation, "created_at",
				admin_time_json(f.created_at_ms), "updated_at",
				admin_time_json(f.updated_at_ms), "conversations", convs,
				"tasks_truncated", f.more_tasks);
	else
		json_decref(convs);
	for (size_t i = 0; nodes && i < f.n_tasks; i++)
		json_decref(nodes[i]);
	free(nodes);
	store_flow_release(&f);
	if (r < 0 || !doc)
		return HQ_E_NOMEM;
	return admin_succeed(out, 200, doc);
}

static int workers(const struct admin *a, int64_t now_ms, struct admin_reply *out)
{
	if (!a->workers_json)
		return admin_fail(out, 503, "unavailable",
				  "workers run in a server: ask it over HTTP (--url)");
	char *text = NULL;
	int r = a->workers_json(a->tasks_ctx, now_ms, &text);
	if (r == HQ_E_NOMEM)
		return r;
	if (r == HQ_E_UNSUPPORTED)
		return admin_fail(out, 503, "unavailable",
				  "no agents are defined in the configuration, so no workers run");
	if (r < 0) {
		struct store_error err;
		snprintf(err.msg, sizeof(err.msg), "listing claims: %s", hq_strerror(r));
		return admin_fail_store(out, r, &err);
	}
	out->status = 200;
	out->body = text;
	return 0;
}

/* POST /api/test: a test event through the normal pipeline, on the CI
 * pool, never replied to. */
static int test_event(const struct admin *a, const struct admin_request *req, int64_t now_ms,
		      struct admin_reply *out)
{
	static const char *const known[] = { "prompt", "repository", "agent", NULL };
	char q[QUOTE_MAX + 1];
	json_t *o = admin_body_object(req, known, out);
	if (!o)
		return 0;
	const char *repo, *agent;
	json_t *pv = json_object_get(o, "prompt");
	const char *prompt = json_string_value(pv);
	int r = 0;
	if (!admin_field_text(o, "repository", REPOSITORY_MAX, &repo, out) ||
	    !admin_field_text(o, "agent", AGENT_NAME_MAX, &agent, out))
		goto out;
	if (!prompt || !*prompt || json_string_length(pv) > PROMPT_MAX) {
		admin_fail(out, 400, "bad_request",
			   "'prompt' is required: a string of 1 to %d bytes", PROMPT_MAX);
		goto out;
	}
	if (repo && !repository_ok(repo)) {
		admin_fail(out, 400, "bad_request",
			   "'repository' must look like owner/name, not '%s'", admin_quote(repo, q));
		goto out;
	}
	if (!admin_agent_ok(a, agent ? agent : a->default_agent, out))
		goto out;
	char *body = json_dumps(o, JSON_COMPACT);
	if (!body) {
		r = HQ_E_NOMEM;
		goto out;
	}
	char delivery[48] = "test-";
	random_hex(delivery + 5, 16);
	struct store_event_in ev = {
		.provider = HANDLER_TEST_PROVIDER,
		.route = HANDLER_TEST_PROVIDER,
		.delivery_id = delivery,
		.event_type = "test",
		.headers_json = "{}",
		.body = body,
		.body_len = strlen(body),
		.received_at_ms = now_ms,
		.max_attempts = 5,
	};
	struct store_error err;
	r = store_insert_events(a->store, &ev, 1, &err);
	free(body);
	if (r < 0) {
		r = admin_fail_store(out, r, &err);
		goto out;
	}
	if (a->wake)
		a->wake(a->wake_ctx);
	r = admin_succeed(out, 202,
			  json_pack("{s:s, s:I, s:s}", "status", "accepted", "event_id",
				    (json_int_t)ev.id, "delivery_id", delivery));
out:
	json_decref(o);
	return r;
}

static bool under(const char *path, const char *prefix, const char **rest)
{
	size_t n = strlen(prefix);
	if (strncmp(path, prefix, n) != 0 || (path[n] != '\0' && path[n] != '/'))
		return false;
	*rest = path + n;
	return true;
}

int admin_task_handle(const struct admin *a, const struct admin_request *req, int64_t now_ms,
		      struct admin_reply *out)
{
	const char *m = req->method, *rest;
	const struct admin_param *p = req->params;
	size_t n = req->n_params;
	static const char *const none[] = { NULL };
	if (under(req->path, "/api/test", &rest) && !*rest)
		return admin_method_is(m, "POST") ? test_event(a, req, now_ms, out) :
						    admin_wrong_method(out, "POST");
	if (under(req->path, "/api/workers", &rest) && !*rest) {
		if (!admin_method_is(m, "GET"))
			return admin_wrong_method(out, "GET");
		return admin_params_check(p, n, none, out) ? workers(a, now_ms, out) : 0;
	}
	if (under(req->path, "/api/flows", &rest)) {
		if (!*rest || !rest[1] || strchr(rest + 1, '/'))
			return admin_fail(out, 404, "not_found", "no such endpoint");
		if (!admin_method_is(m, "GET"))
			return admin_wrong_method(out, "GET");
		return admin_params_check(p, n, none, out) ? show_flow(a, rest + 1, out) : 0;
	}
	if (!under(req->path, "/api/tasks", &rest))
		return 1;
	if (!*rest) {
		if (admin_method_is(m, "POST"))
			return admin_params_check(p, n, none, out) ? create_task(a, req, now_ms, out) :
								     0;
		return admin_method_is(m, "GET") ? list_tasks(a, p, n, out) :
						   admin_wrong_method(out, "GET, POST");
	}
	int64_t id;
	const char *tail;
	if (req->body_len > 0)
		return admin_fail(out, 400, "bad_request",
				  "this endpoint takes its parameters in the query string");
	if (!admin_path_id(rest + 1, &id, &tail))
		return admin_fail(out, 404, "not_found", "no such endpoint");
	if (!admin_params_check(p, n, none, out))
		return 0;
	if (!*tail)
		return admin_method_is(m, "GET") ? show_task(a, id, out) :
						   admin_wrong_method(out, "GET");
	if (strcmp(tail, "/cancel") == 0 || strcmp(tail, "/retry") == 0)
		return admin_method_is(m, "POST") ?
			       task_action(a, id, strcmp(tail, "/cancel") == 0, now_ms, out) :
			       admin_wrong_method(out, "POST");
	return admin_fail(out, 404, "not_found", "no such endpoint");
}
