#include "engine/handler.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/flow.h"
#include "engine/replies.h"
#include "engine/router.h"
#include "providers/provider.h"
#include "util/error.h"

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* The decision of a test event (`hookq test`): its prompt for the
 * default agent, in a flow of its own repository or event. */
static int test_decision(const struct handler_options *opt, const struct store_claimed *ev,
			 struct event_info *info, char *why, size_t why_size)
{
	json_error_t jerr;
	json_t *root = json_loadb(ev->body, ev->body_len, 0, &jerr);
	const char *prompt = json_string_value(json_object_get(root, "prompt"));
	if (!json_is_object(root) || !prompt) {
		json_decref(root);
		snprintf(why, why_size, "a test event needs a JSON object with a prompt");
		return HQ_E_INVAL;
	}
	const char *repo = json_string_value(json_object_get(root, "repository"));
	const char *agent = json_string_value(json_object_get(root, "agent"));
	if (!agent)
		agent = opt ? opt->default_agent : NULL;
	snprintf(info->type, sizeof(info->type), "test");
	if (repo)
		snprintf(info->repository, sizeof(info->repository), "%s", repo);
	char ext[300];
	if (repo)
		snprintf(ext, sizeof(ext), "test:%s", repo);
	else
		snprintf(ext, sizeof(ext), "test:event/%lld", (long long)ev->id);
	json_t *matches = json_array();
	json_t *skipped = json_array();
	if (agent)
		json_array_append_new(matches,
				      json_pack("{s:s, s:s, s:s, s:s}", "route", "test", "kind",
						"test", "agent", agent, "prompt", prompt));
	else
		json_array_append_new(skipped, json_pack("{s:s, s:s}", "route", "test", "skipped",
							 "no agent is configured"));
	size_t n = strcspn(prompt, "\r\n");
	json_t *doc = json_pack("{s:s, s:o, s:o, s:s, s:s%, s:o}", "type", "test", "matches",
				matches, "skipped", skipped, "external_id", ext, "title", prompt,
				n > 200 ? 200 : n, "reply_to", json_null());
	json_decref(root);
	info->routing = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	return info->routing ? 0 : HQ_E_NOMEM;
}

int handler_handle(void *ctx, const struct store_claimed *ev, struct event_info *info,
		   char *why, size_t why_size)
{
	const struct handler_options *opt = ctx;
	if (opt && ev->attempts <= opt->fail_first_attempts) {
		snprintf(why, why_size,
			 "injected failure %d of %d (processor.fail_first_attempts)", ev->attempts,
			 opt->fail_first_attempts);
		return HQ_E_RETRY;
	}
	int r;
	if (strcmp(ev->provider, HANDLER_TEST_PROVIDER) == 0) {
		r = test_decision(opt, ev, info, why, why_size);
	} else {
		const struct provider *p = provider_find(ev->provider);
		if (!p) {
			snprintf(why, why_size, "no handler for provider '%.64s'", ev->provider);
			return HQ_E_INVAL;
		}
		r = p->normalize(ev->event_type, ev->body, ev->body_len, info, why, why_size);
		if (r < 0 || !opt || !opt->router)
			return r;
		r = router_route(opt->router, ev, info, &info->routing);
		if (r < 0) {
			snprintf(why, why_size, "routing failed: %s", hq_strerror(r));
			return HQ_E_RETRY;
		}
	}
	if (r < 0 || !info->routing)
		return r;
	r = handler_plan_tasks(opt, ev, info->routing, info);
	if (r < 0) {
		snprintf(why, why_size, "planning tasks failed: %s", hq_strerror(r));
		return HQ_E_RETRY;
	}
	return 0;
}

/* Whether a match asks for a task: static commands and triggers,
 * dynamic create_task commands, test events. */
static bool makes_task(const char *kind)
{
	return kind && (strcmp(kind, "command") == 0 || strcmp(kind, "trigger") == 0 ||
			strcmp(kind, "create_task") == 0 || strcmp(kind, "test") == 0);
}

static int plan_one(const struct handler_options *opt, const struct store_claimed *ev,
		    const struct event_info *info, const json_t *doc, const json_t *m,
		    struct event_task *t)
{
	memset(t, 0, sizeof(*t));
	const char *route = json_string_value(json_object_get(m, "route"));
	const char *kind = json_string_value(json_object_get(m, "kind"));
	const char *command = json_string_value(json_object_get(m, "command"));
	const char *on = json_string_value(json_object_get(m, "on"));
	const char *agent = json_string_value(json_object_get(m, "agent"));
	const char *prompt = json_string_value(json_object_get(m, "prompt"));
	if (!agent)
		agent = opt ? opt->default_agent : NULL;
	if (!agent || !route)
		return 1; /* nothing to run it with: the decision shows the match */
	t->test = strcmp(kind, "test") == 0;

	/* One task per (event, route, command or trigger): processing the
	 * event again finds it. */
	char origin[600];
	snprintf(origin, sizeof(origin), "event:%lld:%s:%s", (long long)ev->id, route,
		 command ? command : on ? on : kind);
	/* The route's own flow key wins over the provider's. */
	const char *ext = json_string_value(json_object_get(m, "external_id"));
	if (!ext)
		ext = json_string_value(json_object_get(doc, "external_id"));
	char fallback[PROVIDER_ID_MAX + 64];
	if (!ext) {
		/* Nothing in the payload says what it is about: the flow is
		 * this delivery's own. */
		snprintf(fallback, sizeof(fallback), "%s:delivery/%s", ev->provider,
			 ev->delivery_id);
		ext = fallback;
	}
	if (flow_id_of(ext, t->flow_id) < 0)
		return HQ_E_INVAL;
	const char *repo = NULL;
	const json_t *reply = json_object_get(doc, "reply_to");
	if (json_is_object(reply))
		repo = json_string_value(json_object_get(reply, "repository"));
	if (!repo && info->repository[0])
		repo = info->repository;
	flow_project_of(ext, repo, t->project, sizeof(t->project));

	const char *subject = json_string_value(json_object_get(doc, "title"));
	char title[400];
	snprintf(title, sizeof(title), "%s%s%s", command ? command : agent,
		 subject ? ": " : "", subject ? subject : "");
	const char *type = json_string_value(json_object_get(doc, "type"));
	json_t *meta = json_pack("{s:s, s:s, s:s, s:O?, s:b, s:O?}", "provider", ev->provider,
				 "external_id", ext, "event_type", type ? type : ev->event_type,
				 "reply_to", reply, "test", t->test, "ref",
				 json_object_get(doc, "ref"));
	if (!meta)
		return HQ_E_NOMEM;
	t->metadata_json = json_dumps(meta, JSON_COMPACT);
	json_decref(meta);
	t->origin = strdup(origin);
	t->route = strdup(route);
	t->command = dup_or_null(command);
	t->agent = strdup(agent);
	t->prompt = strdup(prompt ? prompt : "");
	t->title = strdup(title);
	t->external_id = strdup(ext);
	t->new_conversation = json_is_true(json_object_get(doc, "new_conversation"));
	json_int_t prio = json_integer_value(json_object_get(m, "priority"));
	t->priority = json_is_integer(json_object_get(m, "priority")) ? (int)prio : 100;
	t->max_attempts = 1;
	if (opt && opt->agent_attempts) {
		int a = opt->agent_attempts(opt->agent_ctx, agent);
		if (a > 0)
			t->max_attempts = a;
	}
	if (!t->metadata_json || !t->origin || !t->route || (command && !t->command) ||
	    !t->agent || !t->prompt || !t->title || !t->external_id)
		return HQ_E_NOMEM;
	/* What its creation says back (👀 on the comment that asked). */
	if (opt && opt->replies)
		return replies_on_create(opt->replies, ev->provider, reply, t->test, t->replies,
					 sizeof(t->replies) / sizeof(t->replies[0]),
					 &t->n_replies);
	return 0;
}

int handler_plan_tasks(const struct handler_options *opt, const struct store_claimed *ev,
		       const char *decision, struct event_info *info)
{
	json_t *doc = json_loads(decision, 0, NULL);
	const json_t *matches = json_object_get(doc, "matches");
	size_t n = json_array_size(matches);
	int r = 0;
	if (n > 0) {
		info->tasks = calloc(n, sizeof(*info->tasks));
		if (!info->tasks)
			r = HQ_E_NOMEM;
	}
	for (size_t i = 0; r == 0 && i < n; i++) {
		const json_t *m = json_array_get(matches, i);
		if (!makes_task(json_string_value(json_object_get(m, "kind"))))
			continue;
		struct event_task *t = &info->tasks[info->n_tasks];
		int pr = plan_one(opt, ev, info, doc, m, t);
		/* Counted before a failure so that the release frees what
		 * plan_one allocated. */
		if (pr <= 0)
			info->n_tasks++;
		if (pr < 0)
			r = pr;
	}
	json_decref(doc);
	return r;
}
