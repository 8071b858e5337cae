#include "engine/replies.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/redact.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/utf8.h"

/* A GitHub comment holds at most 65,536 characters; ours stay well under. */
#define COMMENT_MAX (60 * 1024)

void replies_marker(const struct store_task *t, char *out, size_t size)
{
	/* The run (an operator retry is a new one) and the task's creation
	 * time (another hookq's task 12 is not this one) make it unique. */
	snprintf(out, size, "<!-- hookq:task=%lld run=%d created=%lld -->", (long long)t->id,
		 t->retry_base, (long long)t->created_at_ms);
}

void replies_plan_release(struct replies_plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_owned; i++)
		free(p->owned[i]);
	memset(p, 0, sizeof(*p));
}

static char *dumps(json_t *v)
{
	char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;
	json_decref(v);
	return s;
}

/* A scalar JSON value as an integer (ids come as numbers or text). */
static bool int_of(const json_t *v, int64_t *ret)
{
	if (json_is_integer(v)) {
		*ret = json_integer_value(v);
		return true;
	}
	const char *s = json_string_value(v);
	if (!s || !*s)
		return false;
	char *end;
	long long x = strtoll(s, &end, 10);
	if (*end || x <= 0)
		return false;
	*ret = x;
	return true;
}

/* Where a GitHub reaction goes: the comment that asked, else the issue or
 * pull request. NULL when reply_to names neither. */
static json_t *reaction_target(const json_t *reply_to)
{
	const char *repo = json_string_value(json_object_get(reply_to, "repository"));
	int64_t id = 0;
	const char *kind = json_string_value(json_object_get(reply_to, "comment_kind"));
	if (!repo)
		return NULL;
	if (kind && int_of(json_object_get(reply_to, "comment_id"), &id)) {
		/* kind as the router named it: issue_comment,
		 * pull_request_review_comment, commit_comment. */
	} else if (int_of(json_object_get(reply_to, "number"), &id)) {
		kind = "issue";
	} else {
		return NULL;
	}
	json_t *t = json_pack("{s:s, s:s, s:I}", "repository", repo, "target", kind, "id",
			      (json_int_t)id);
	json_t *inst = json_object_get(reply_to, "installation");
	if (t && json_is_integer(inst))
		json_object_set(t, "installation", inst);
	return t;
}

static int reply_set(struct event_reply *r, const char *name, const char *kind, char *target,
		     char *body)
{
	r->name = strdup(name);
	r->kind = strdup(kind);
	r->target_json = target;
	r->body_json = body;
	return r->name && r->kind && target && body ? 0 : HQ_E_NOMEM;
}

int replies_on_create(const struct replies_options *o, const char *provider,
		      const json_t *reply_to, bool test, struct event_reply *out, size_t max,
		      size_t *n)
{
	*n = 0;
	if (test || !o || !o->github || !o->reactions || max == 0 || !provider ||
	    strcmp(provider, "github") != 0 || !json_is_object(reply_to))
		return 0;
	json_t *target = reaction_target(reply_to);
	if (!target)
		return 0;
	int r = reply_set(&out[0], "eyes", "reaction", dumps(target),
			  dumps(json_pack("{s:s}", "content", "eyes")));
	out[0].max_attempts = o->max_attempts;
	*n = 1;
	return r;
}

/* Adds an entry to the plan, taking target and body. */
static int plan_add(struct replies_plan *p, const struct replies_options *o, const char *name,
		    const char *kind, char *target, char *body)
{
	if (!target || !body || p->n == REPLIES_MAX || p->n_owned + 2 > REPLIES_MAX * 3) {
		free(target);
		free(body);
		return HQ_E_NOMEM;
	}
	p->owned[p->n_owned++] = target;
	p->owned[p->n_owned++] = body;
	p->items[p->n++] = (struct store_outbox_in){ .name = name,
						     .kind = kind,
						     .target_json = target,
						     .body_json = body,
						     .max_attempts = o->max_attempts };
	return 0;
}

static const char *status_words(const char *status)
{
	if (strcmp(status, "succeeded") == 0)
		return "succeeded";
	if (strcmp(status, "timed_out") == 0)
		return "timed out";
	if (strcmp(status, "cancelled") == 0)
		return "was cancelled";
	if (strcmp(status, "dead_letter") == 0)
		return "could not run";
	return "failed";
}

/* The output's tail as text fit to show: redacted first (a secret the
 * cut would split is still whole there), then at most max bytes starting
 * on a line that is complete, valid UTF-8. */
static char *shown_output(const struct replies_options *o, const char *out, size_t len,
			  size_t *shown_len)
{
	size_t rl = 0, count = 0;
	char *red = redact(out, len, o->secrets, o->n_secrets, &rl, &count);
	if (!red)
		return NULL;
	size_t sl = 0;
	char *clean = utf8_sanitize(red, rl, &sl);
	free(red);
	if (!clean)
		return NULL;
	size_t from = sl > o->output_max ? sl - o->output_max : 0;
	if (from > 0) {
		/* Drop the partial first line; a line longer than the whole
		 * tail is cut on a character. */
		const char *nl = memchr(clean + from, '\n', sl - from);
		if (nl && nl + 1 < clean + sl)
			from = (size_t)(nl - clean) + 1;
		while (from < sl && ((unsigned char)clean[from] & 0xC0) == 0x80)
			from++;
	}
	memmove(clean, clean + from, sl - from + 1);
	*shown_len = sl - from;
	return clean;
}

/* Text that a secret may have reached (an error): redacted, one line. */
static char *shown_text(const struct replies_options *o, const char *s)
{
	size_t rl = 0, count = 0;
	if (!s)
		return strdup("");
	char *red = redact(s, strlen(s), o->secrets, o->n_secrets, &rl, &count);
	if (!red)
		return NULL;
	size_t sl = 0;
	char *clean = utf8_sanitize(red, rl, &sl);
	free(red);
	return clean;
}

/* The longest run of backticks in s, so a fence can be longer. */
static size_t longest_backticks(const char *s, size_t len)
{
	size_t best = 0, run = 0;
	for (size_t i = 0; i < len; i++) {
		run = s[i] == '`' ? run + 1 : 0;
		if (run > best)
			best = run;
	}
	return best;
}

/* The comment from the operator's template: every value is inserted as
 * text (the template language evaluates nothing), redacted like the
 * built-in one. */
static char *templated_comment(const struct replies_options *o, const struct store_task *t,
			       const char *status, const char *error, const char *output,
			       size_t output_len, uint64_t output_total, int64_t run_ms)
{
	size_t shown = 0;
	char *tail = output_len ? shown_output(o, output, output_len, &shown) : strdup("");
	char *why = shown_text(o, error);
	char *title = shown_text(o, t->title);
	json_t *root = tail && why && title ?
			       json_pack("{s:{s:I, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:f, s:s, s:s?},"
					 " s:s%, s:I}",
					 "task", "id", (json_int_t)t->id, "title", title, "agent",
					 t->agent, "worker", t->worker ? t->worker : "", "status",
					 status, "status_text", status_words(status), "attempts",
					 t->attempts - t->retry_base, "error", why, "run_s",
					 (double)run_ms / 1000.0, "flow_id", t->flow_id, "external_id",
					 t->external_id, "output", tail, shown, "output_bytes",
					 (json_int_t)output_total) :
			       NULL;
	free(tail);
	free(why);
	free(title);
	if (!root)
		return NULL;
	char *text = NULL;
	size_t len = 0;
	struct template_report rep;
	int r = template_render(o->comment_template, root, COMMENT_MAX, &text, &len, &rep);
	json_decref(root);
	if (r < 0)
		return NULL;
	char marker[128];
	replies_marker(t, marker, sizeof(marker));
	char *out = malloc(len + sizeof(marker) + 2);
	if (out)
		snprintf(out, len + sizeof(marker) + 2, "%s\n%.*s", marker, (int)len, text);
	free(text);
	return out;
}

static char *github_comment(const struct replies_options *o, const struct store_task *t,
			    const char *status, const char *error, const char *output,
			    size_t output_len, uint64_t output_total, int64_t run_ms)
{
	if (o->comment_template)
		return templated_comment(o, t, status, error, output, output_len, output_total,
					 run_ms);
	struct buf b;
	buf_init(&b, COMMENT_MAX * 2);
	size_t shown = 0;
	char *tail = output_len ? shown_output(o, output, output_len, &shown) : NULL;
	char *why = shown_text(o, error);
	char *title = shown_text(o, t->title);
	int r = tail || !output_len ? 0 : HQ_E_NOMEM;
	if (!why || !title)
		r = HQ_E_NOMEM;
	const char *mark = strcmp(status, "succeeded") == 0 ? "✅" : "❌";
	int attempts = t->attempts - t->retry_base;
	char marker[128];
	replies_marker(t, marker, sizeof(marker));
	if (r == 0)
		r = buf_printf(&b,
			       "%s\n%s **%s** %s — task %lld (agent `%s`, worker "
			       "`%s`, %d attempt%s, %.1f s)\n",
			       marker, mark, title, status_words(status),
			       (long long)t->id, t->agent, t->worker ? t->worker : "-", attempts,
			       attempts == 1 ? "" : "s", (double)run_ms / 1000.0);
	if (r == 0 && why[0] && strcmp(status, "succeeded") != 0)
		r = buf_printf(&b, "\n> %s\n", why);
	if (r == 0 && tail && shown) {
		size_t fence = longest_backticks(tail, shown);
		fence = fence < 3 ? 3 : fence + 1;
		char ticks[64];
		if (fence >= sizeof(ticks))
			fence = sizeof(ticks) - 1;
		memset(ticks, '`', fence);
		ticks[fence] = '\0';
		r = buf_printf(&b, "\n<details><summary>Output (the last %zu of %llu bytes)</summary>"
				   "\n\n%s\n",
			       shown, (unsigned long long)output_total, ticks);
		if (r == 0)
			r = buf_append(&b, tail, shown);
		if (r == 0)
			r = buf_printf(&b, "%s%s\n\n</details>\n",
				       shown && tail[shown - 1] == '\n' ? "" : "\n", ticks);
	}
	if (r == 0)
		r = buf_append(&b, "", 1);
	free(tail);
	free(why);
	free(title);
	if (r < 0) {
		buf_release(&b);
		return NULL;
	}
	return b.data;
}

/* Slack and Jira get plain text: the status line, why, the output tail. */
static char *plain_reply(const struct replies_options *o, const struct store_task *t,
			 const char *status, const char *error, const char *output,
			 size_t output_len, bool jira)
{
	struct buf b;
	buf_init(&b, COMMENT_MAX * 2);
	size_t shown = 0;
	char *tail = output_len ? shown_output(o, output, output_len, &shown) : NULL;
	char *why = shown_text(o, error);
	char *title = shown_text(o, t->title);
	int r = (tail || !output_len) && why && title ? 0 : HQ_E_NOMEM;
	if (r == 0)
		r = buf_printf(&b, "hookq: %s %s (task %lld, agent %s)\n", title,
			       status_words(status), (long long)t->id, t->agent);
	if (r == 0 && why[0] && strcmp(status, "succeeded") != 0)
		r = buf_printf(&b, "%s\n", why);
	if (r == 0 && tail && shown) {
		r = buf_printf(&b, "%s\n", jira ? "{noformat}" : "```");
		if (r == 0)
			r = buf_append(&b, tail, shown);
		if (r == 0)
			r = buf_printf(&b, "%s%s\n", tail[shown - 1] == '\n' ? "" : "\n",
				       jira ? "{noformat}" : "```");
	}
	if (r == 0)
		r = buf_append(&b, "", 1);
	free(tail);
	free(why);
	free(title);
	if (r < 0) {
		buf_release(&b);
		return NULL;
	}
	return b.data;
}

static char *text_body(char *text, const struct store_task *t, bool marker)
{
	if (!text)
		return NULL;
	json_t *b = json_pack("{s:s}", "text", text);
	if (b && marker) {
		char m[128];
		replies_marker(t, m, sizeof(m));
		json_object_set_new(b, "marker", json_string(m));
	}
	free(text);
	return dumps(b);
}

int replies_on_end(const struct replies_options *o, const struct store_task *t,
		   const char *status, const char *error, const char *output, size_t output_len,
		   uint64_t output_total, int64_t run_ms, struct replies_plan *ret)
{
	memset(ret, 0, sizeof(*ret));
	json_t *meta = json_loads(t->metadata_json ? t->metadata_json : "{}", 0, NULL);
	const char *provider = json_string_value(json_object_get(meta, "provider"));
	const json_t *reply_to = json_object_get(meta, "reply_to");
	bool test = json_is_true(json_object_get(meta, "test"));
	bool ok = strcmp(status, "succeeded") == 0;
	bool comment = o->comment == CONFIG_COMMENT_ALWAYS ||
		       (o->comment == CONFIG_COMMENT_ON_FAILURE && !ok);
	int r = 0;
	/* The output queue gets every task's end (test tasks too: they are
	 * how a pipeline is checked), whatever its source. */
	if (o->output_queue) {
		size_t shown = 0;
		char *tail = output_len ? shown_output(o, output, output_len, &shown) : strdup("");
		char *why = shown_text(o, error);
		json_t *msg = tail && why ?
				      json_pack("{s:I, s:s, s:s, s:s, s:s?, s:s, s:s, s:i, s:o, s:s%, s:I,"
						" s:I, s:s?}",
						"task_id", (json_int_t)t->id, "flow_id", t->flow_id,
						"conversation_id", t->conversation_id, "status", status,
						"external_id", t->external_id, "agent", t->agent, "title",
						t->title, "attempts", t->attempts - t->retry_base,
						"exit_code",
						t->has_exit_code ? json_integer(t->exit_code) :
								   json_null(),
						"output", tail, shown, "output_bytes",
						(json_int_t)output_total, "run_ms",
						(json_int_t)run_ms, "error", why[0] ? why : NULL) :
				      NULL;
		free(tail);
		free(why);
		r = plan_add(ret, o, "output", "output_message", dumps(json_object()), dumps(msg));
		if (r < 0) {
			json_decref(meta);
			replies_plan_release(ret);
			return r;
		}
	}
	if (test || !provider || !json_is_object(reply_to)) {
		json_decref(meta);
		return 0;
	}
	if (strcmp(provider, "github") == 0 && o->github) {
		json_t *target = o->reactions && strcmp(status, "cancelled") != 0 ?
					 reaction_target(reply_to) :
					 NULL;
		if (target)
			r = plan_add(ret, o, "reaction", "reaction", dumps(target),
				     dumps(json_pack("{s:s}", "content", ok ? "rocket" : "confused")));
		const char *repo = json_string_value(json_object_get(reply_to, "repository"));
		int64_t number = 0;
		if (r == 0 && comment && repo && int_of(json_object_get(reply_to, "number"), &number)) {
			json_t *where = json_pack("{s:s, s:I}", "repository", repo, "number",
						  (json_int_t)number);
			json_t *inst = json_object_get(reply_to, "installation");
			if (where && json_is_integer(inst))
				json_object_set(where, "installation", inst);
			/* A comment that cannot be made leaves the reaction. */
			if (plan_add(ret, o, "comment", "comment", dumps(where),
				     text_body(github_comment(o, t, status, error, output,
							      output_len, output_total, run_ms),
					       t, true)) < 0)
				r = 1;
		}
	} else if (strcmp(provider, "slack") == 0 && o->slack && comment) {
		const char *url = json_string_value(json_object_get(reply_to, "response_url"));
		const char *pre = o->slack_response_prefix;
		if (url && (!pre || !*pre || strncmp(url, pre, strlen(pre)) != 0))
			url = NULL;
		const char *channel = json_string_value(json_object_get(reply_to, "channel"));
		const char *thread = json_string_value(json_object_get(reply_to, "thread_ts"));
		json_t *where = url		       ? json_pack("{s:s}", "response_url", url) :
				channel && o->slack_bot ? json_pack("{s:s, s:s?}", "channel", channel,
								      "thread_ts", thread) :
							    NULL;
		if (where)
			r = plan_add(ret, o, "reply", "slack_reply", dumps(where),
				     text_body(plain_reply(o, t, status, error, output, output_len,
							   false),
					       t, false));
	} else if (strcmp(provider, "jira") == 0 && o->jira && comment) {
		const char *issue = json_string_value(json_object_get(reply_to, "issue"));
		if (issue)
			r = plan_add(ret, o, "comment", "jira_comment",
				     dumps(json_pack("{s:s}", "issue", issue)),
				     text_body(plain_reply(o, t, status, error, output, output_len,
							   true),
					       t, false));
	}
	json_decref(meta);
	if (r < 0)
		replies_plan_release(ret);
	return r > 0 ? HQ_E_NOMEM : r; /* > 0: planned without the comment */
}
