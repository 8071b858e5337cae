#include "engine/router.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/command.h"
#include "core/flow.h"
#include "core/form.h"
#include "core/jpath.h"
#include "util/error.h"

/* The JSON of a Slack interactivity form is read up to this size. */
#define ROUTER_FORM_PAYLOAD_MAX (256 * 1024)

/* A route table shared by the workers using it. */
struct table_ref {
	struct route_table *t;
	atomic_int refs;
};

struct router {
	const char **orgs, **users, **triggers;
	char *mentioned, *bot;
	struct authz_rules rules;
	pthread_mutex_t lock;
	struct table_ref *current;
	struct store *store;
};

static void ref_put(struct table_ref *ref)
{
	if (ref && atomic_fetch_sub(&ref->refs, 1) == 1) {
		route_table_free(ref->t);
		free(ref);
	}
}

static struct table_ref *ref_get(struct router *r)
{
	pthread_mutex_lock(&r->lock);
	struct table_ref *ref = r->current;
	if (ref)
		atomic_fetch_add(&ref->refs, 1);
	pthread_mutex_unlock(&r->lock);
	return ref;
}

void router_set_routes(struct router *r, struct route_table *routes)
{
	struct table_ref *ref = calloc(1, sizeof(*ref));
	if (!ref) {
		route_table_free(routes);
		return;
	}
	ref->t = routes;
	atomic_init(&ref->refs, 1);
	pthread_mutex_lock(&r->lock);
	struct table_ref *old = r->current;
	r->current = ref;
	pthread_mutex_unlock(&r->lock);
	ref_put(old);
}

/* Whether a list setting names anyone (authz_list_parse gives NULL for an
 * empty one, and also when out of memory). */
static bool list_set(const char *text)
{
	for (const char *p = text; p && *p; p++)
		if (*p != ',' && *p != ' ' && *p != '\t' && *p != '\n')
			return true;
	return false;
}

int router_new(const struct router_rules *rules, struct route_table *routes,
	       struct store *store, struct router **ret)
{
	struct router *r = calloc(1, sizeof(*r));
	if (!r) {
		route_table_free(routes);
		return HQ_E_NOMEM;
	}
	pthread_mutex_init(&r->lock, NULL);
	r->orgs = authz_list_parse(rules->allowed_orgs);
	r->users = authz_list_parse(rules->allowed_users);
	r->triggers = authz_list_parse(rules->trigger_users);
	r->mentioned = rules->mentioned_user ? strdup(rules->mentioned_user) : NULL;
	r->bot = rules->bot_login ? strdup(rules->bot_login) : NULL;
	/* A rule lost to a failed allocation would open what it closes. */
	if ((!r->orgs && list_set(rules->allowed_orgs)) ||
	    (!r->users && list_set(rules->allowed_users)) ||
	    (!r->triggers && list_set(rules->trigger_users)) ||
	    (!r->mentioned && rules->mentioned_user) || (!r->bot && rules->bot_login)) {
		router_free(r);
		route_table_free(routes);
		return HQ_E_NOMEM;
	}
	r->rules = (struct authz_rules){ r->orgs, r->users, r->triggers, r->mentioned, r->bot };
	r->store = store;
	router_set_routes(r, routes);
	*ret = r;
	return 0;
}

void router_free(struct router *r)
{
	if (!r)
		return;
	ref_put(r->current);
	free(r->orgs);
	free(r->users);
	free(r->triggers);
	free(r->mentioned);
	free(r->bot);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* The payload as JSON: the body itself, or for a form body (Slack
 * commands) its fields. NULL when it is neither. */
static json_t *payload_of(const struct store_claimed *ev)
{
	json_t *doc = json_loadb(ev->body, ev->body_len, 0, NULL);
	if (doc)
		return doc;
	/* Slack interactivity: the JSON is the form's payload field. */
	size_t plen = 0;
	char *payload = malloc(ROUTER_FORM_PAYLOAD_MAX);
	if (payload && form_get(ev->body, ev->body_len, "payload", payload, ROUTER_FORM_PAYLOAD_MAX,
				&plen) == 0 &&
	    plen < ROUTER_FORM_PAYLOAD_MAX) {
		doc = json_loadb(payload, plen, 0, NULL);
		free(payload);
		return doc;
	}
	free(payload);
	static const char *const fields[] = { "command",     "text",	   "user_id",
					      "user_name",   "channel_id", "channel_name",
					      "team_id",     "team_domain", "trigger_id",
					      "response_url", NULL };
	json_t *o = json_object();
	char value[4096];
	size_t found = 0;
	for (const char *const *f = fields; o && *f; f++) {
		if (form_get(ev->body, ev->body_len, *f, value, sizeof(value), NULL) == 0) {
			json_object_set_new(o, *f, json_string(value));
			found++;
		}
	}
	if (!found) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *at(const json_t *root, const char *path)
{
	struct jpath p;
	char err[64];
	return jpath_parse(path, strlen(path), &p, err, sizeof(err)) < 0 ? NULL : jpath_get(&p, root);
}

static const char *str_at(const json_t *root, const char *path)
{
	return json_string_value(at(root, path));
}

static bool starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* The text that commands are read from: what the event newly says (the
 * comment itself, never the parent issue's body, or every later comment
 * would trigger again). */
static const char *new_text(const char *provider, const char *type, const json_t *root,
			    char *buf, size_t size)
{
	/* Only what is new: an edited or deleted comment must not run its
	 * command again. */
	if (strcmp(provider, "github") == 0) {
		if (json_object_get(root, "comment"))
			return ends_with(type, ".created") ? str_at(root, "comment.body") : NULL;
		if (strcmp(type, "issues.opened") == 0)
			return str_at(root, "issue.body");
		if (strcmp(type, "pull_request.opened") == 0)
			return str_at(root, "pull_request.body");
		if (starts(type, "pull_request_review.submitted"))
			return str_at(root, "review.body");
		return NULL;
	}
	if (strcmp(provider, "gitlab") == 0) {
		const char *note = str_at(root, "object_attributes.note");
		const char *act = str_at(root, "object_attributes.action");
		if (note)
			return !act || strcmp(act, "create") == 0 ? note : NULL;
		const char *action = str_at(root, "object_attributes.action");
		return action && strcmp(action, "open") == 0 ?
			       str_at(root, "object_attributes.description") :
			       NULL;
	}
	if (strcmp(provider, "slack") == 0) {
		const char *cmd = str_at(root, "command");
		if (cmd) {
			/* "/agent fix it": the slash command is the prefix. */
			const char *t = str_at(root, "text");
			snprintf(buf, size, "%s %s", cmd, t ? t : "");
			return buf;
		}
		return str_at(root, "event.text");
	}
	if (strcmp(provider, "jira") == 0) {
		if (strcmp(type, "comment_created") == 0)
			return str_at(root, "comment.body");
		return strcmp(type, "jira:issue_created") == 0 ?
			       str_at(root, "issue.fields.description") :
			       NULL;
	}
	if (strcmp(provider, "linear") == 0)
		return strcmp(type, "Comment.create") == 0 ? str_at(root, "data.body") : NULL;
	return NULL;
}

/* A scalar as text ("12", "PROJ-1"); NULL for anything else. */
static const char *scalar(const json_t *v, char *buf, size_t size)
{
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(buf, size, "%lld", (long long)json_integer_value(v));
		return buf;
	}
	return NULL;
}

/* Where the event belongs, stable across its events (the flow key):
 * github:owner/repo#12, github:owner/repo@refs/heads/main, jira:PROJ-1,
 * gitlab:group/project#3, sentry:<issue id>, slack:<team>/<channel>/<thread>,
 * linear:<identifier>. NULL when the payload does not say. And where a
 * reply goes, as the outbox will need it. */
static void locate(const char *provider, const json_t *root, json_t *doc)
{
	char a[64], b[64], id[600];
	const char *ext = NULL;
	json_t *reply = NULL;
	if (strcmp(provider, "github") == 0) {
		const char *repo = json_string_value(at(root, "repository.full_name"));
		const char *num = scalar(at(root, "issue.number"), a, sizeof(a));
		if (!num)
			num = scalar(at(root, "pull_request.number"), a, sizeof(a));
		const char *ref = json_string_value(at(root, "ref"));
		if (repo && num) {
			snprintf(id, sizeof(id), "github:%s#%s", repo, num);
			ext = id;
			const char *cid = scalar(at(root, "comment.id"), b, sizeof(b));
			reply = json_pack("{s:s, s:s, s:s?}", "repository", repo, "number", num,
					  "comment_id", cid);
			if (reply && json_object_get(root, "comment"))
				json_object_set_new(reply, "comment_kind",
						    json_string(json_object_get(root, "pull_request") &&
										!json_object_get(root, "issue") ?
									"pull_request_review_comment" :
									"issue_comment"));
		} else if (repo && ref) {
			snprintf(id, sizeof(id), "github:%s@%s", repo, ref);
			ext = id;
		} else if (repo && json_object_get(root, "comment")) {
			/* A commit comment: replies react on it. */
			const char *cid = scalar(at(root, "comment.id"), b, sizeof(b));
			const char *sha = json_string_value(at(root, "comment.commit_id"));
			if (cid && sha) {
				snprintf(id, sizeof(id), "github:%s@%s", repo, sha);
				ext = id;
				reply = json_pack("{s:s, s:s, s:s}", "repository", repo, "comment_id",
						  cid, "comment_kind", "commit_comment");
			}
		}
		/* A GitHub App replies as the installation the event came
		 * through. */
		json_t *inst = at(root, "installation.id");
		if (reply && json_is_integer(inst))
			json_object_set(reply, "installation", inst);
	} else if (strcmp(provider, "gitlab") == 0) {
		const char *proj = json_string_value(at(root, "project.path_with_namespace"));
		const char *iid = scalar(at(root, "object_attributes.iid"), a, sizeof(a));
		if (!iid)
			iid = scalar(at(root, "issue.iid"), a, sizeof(a));
		if (!iid)
			iid = scalar(at(root, "merge_request.iid"), a, sizeof(a));
		if (proj && iid) {
			snprintf(id, sizeof(id), "gitlab:%s#%s", proj, iid);
			ext = id;
		}
	} else if (strcmp(provider, "jira") == 0) {
		const char *key = json_string_value(at(root, "issue.key"));
		if (key) {
			snprintf(id, sizeof(id), "jira:%s", key);
			ext = id;
			reply = json_pack("{s:s}", "issue", key);
		}
	} else if (strcmp(provider, "sentry") == 0) {
		const char *iss = scalar(at(root, "data.issue.id"), a, sizeof(a));
		if (iss) {
			snprintf(id, sizeof(id), "sentry:%s", iss);
			ext = id;
		}
	} else if (strcmp(provider, "slack") == 0) {
		const char *team = json_string_value(at(root, "team_id"));
		const char *chan = json_string_value(at(root, "event.channel"));
		const char *thread = json_string_value(at(root, "event.thread_ts"));
		if (!thread)
			thread = json_string_value(at(root, "event.ts"));
		if (!chan)
			chan = json_string_value(at(root, "channel_id"));
		if (team && chan) {
			snprintf(id, sizeof(id), "slack:%s/%s%s%s", team, chan, thread ? "/" : "",
				 thread ? thread : "");
			ext = id;
		}
		reply = json_pack("{s:s?, s:s?, s:s?}", "channel", chan, "thread_ts", thread,
				  "response_url", json_string_value(at(root, "response_url")));
	} else if (strcmp(provider, "linear") == 0) {
		const char *ident = json_string_value(at(root, "data.identifier"));
		if (!ident)
			ident = json_string_value(at(root, "data.issue.identifier"));
		if (ident) {
			snprintf(id, sizeof(id), "linear:%s", ident);
			ext = id;
		}
	}
	json_object_set_new(doc, "external_id", ext ? json_string(ext) : json_null());
	json_object_set_new(doc, "reply_to", reply ? reply : json_null());
	/* What a workspace checks out: the pushed commit, the pull request's
	 * head, else the default branch. */
	const char *ref = NULL;
	if (strcmp(provider, "github") == 0) {
		ref = json_string_value(at(root, "pull_request.head.sha"));
		if (!ref && json_string_value(at(root, "ref")))
			ref = json_string_value(at(root, "after"));
		if (!ref || strspn(ref, "0") == strlen(ref)) /* a deleted branch's after */
			ref = json_string_value(at(root, "repository.default_branch"));
	} else if (strcmp(provider, "gitlab") == 0) {
		ref = json_string_value(at(root, "checkout_sha"));
		if (!ref)
			ref = json_string_value(at(root, "object_attributes.last_commit.id"));
		if (!ref)
			ref = json_string_value(at(root, "project.default_branch"));
	}
	if (ref)
		json_object_set_new(doc, "ref", json_string(ref));
}

/* What a task made from this event is called: the issue's, ticket's or
 * error's title, or the first line of a message. */
static void title_of(const json_t *root, json_t *doc)
{
	static const char *const paths[] = { "issue.title",	    "pull_request.title",
					     "issue.fields.summary", "object_attributes.title",
					     "data.issue.title",     "data.title",
					     "event.text",
					     "text",		     NULL };
	for (const char *const *p = paths; *p; p++) {
		const char *t = str_at(root, *p);
		if (t && *t) {
			size_t n = strcspn(t, "\r\n");
			/* At most 200 bytes, cut on a UTF-8 boundary. */
			if (n > 200) {
				n = 200;
				while (n > 0 && ((unsigned char)t[n] & 0xC0) == 0x80)
					n--;
			}
			json_object_set_new(doc, "title", json_stringn(t, n));
			return;
		}
	}
}

/* The parts of a decision dispatch needs besides the matches: where the
 * event belongs, where replies go, its title, and whether its text asks
 * for a new conversation. */
static void annotate(const char *provider, const json_t *root, const char *text, json_t *doc)
{
	locate(provider, root, doc);
	title_of(root, doc);
	if (text && flow_wants_new_conversation(text, strlen(text)))
		json_object_set_new(doc, "new_conversation", json_true());
}

/* The repository owner (organization or user) the authorization rules
 * look at. */
static const char *owner_of(const char *provider, const json_t *root, const char *repository,
			    char *buf, size_t size)
{
	if (strcmp(provider, "github") == 0) {
		const char *o = str_at(root, "repository.owner.login");
		if (o)
			return o;
		o = str_at(root, "organization.login");
		if (o)
			return o;
	}
	const char *slash = repository ? strchr(repository, '/') : NULL;
	if (slash) {
		snprintf(buf, size, "%.*s", (int)(slash - repository), repository);
		return buf;
	}
	return repository && *repository ? repository : NULL;
}

/* Renders prompt into a match object; NULL when out of memory. */
static json_t *rendered(const struct template *t, const json_t *root, json_t *match)
{
	char *out = NULL;
	size_t len = 0;
	struct template_report rep;
	if (template_render(t, root, ROUTER_PROMPT_MAX, &out, &len, &rep) < 0) {
		json_decref(match);
		return NULL;
	}
	json_object_set_new(match, "prompt", json_stringn(out, len));
	free(out);
	if (rep.truncated)
		json_object_set_new(match, "prompt_truncated", json_true());
	if (rep.missing) {
		json_t *list = json_array();
		for (size_t i = 0; i < template_variable_count(t); i++)
			if (!template_variable_found(t, i, root))
				json_array_append_new(list, json_string(template_variable(t, i)));
		json_object_set_new(match, "missing_variables", list);
	}
	return match;
}

/* Owners and mentions are repository rules (ALLOWED_ORGS,
 * GITHUB_MENTIONED_USER): for chat and trackers only who acts and whether
 * it is a bot count. */
static int authorize(const struct router *rt, const char *provider,
		     const struct authz_subject *subj, char *why, size_t size)
{
	struct authz_rules rules = rt->rules;
	if (strcmp(provider, "github") != 0 && strcmp(provider, "gitlab") != 0) {
		rules.allowed_orgs = NULL;
		rules.allowed_users = NULL;
		rules.mentioned_user = NULL;
	}
	return authz_check(&rules, subj, why, size);
}

/* A route's own flow key for its match, rendered from the payload (an
 * empty rendering leaves the provider's). */
static json_t *with_external_id(const struct route *r, const json_t *root, json_t *match)
{
	if (!match || !r->external_id)
		return match;
	char *out = NULL;
	size_t len = 0;
	struct template_report rep;
	if (template_render(r->external_id, root, 512, &out, &len, &rep) < 0) {
		json_decref(match);
		return NULL;
	}
	if (len > 0)
		json_object_set_new(match, "external_id", json_stringn(out, len));
	free(out);
	return match;
}

/* One route's decision: a match object, or a skip with its reason. */
static json_t *route_one(const struct router *rt, const struct route *r, const char *type,
			 const struct event_info *info, json_t *root, const char *text,
			 const char *owner, bool *matched)
{
	*matched = false;
	char why[256];
	struct authz_subject subj = { owner, info->sender, info->sender_is_bot, text,
				      text ? strlen(text) : 0 };
	if (authorize(rt, r->provider, &subj, why, sizeof(why)) < 0)
		return json_pack("{s:s, s:s}", "route", r->name, "skipped", why);

	if (r->n_commands && text) {
		struct command_def defs[ROUTE_MAX_COMMANDS];
		for (size_t i = 0; i < r->n_commands; i++)
			defs[i] = (struct command_def){ r->commands[i].name,
							(const char *const *)r->commands[i].aliases };
		struct command_match m;
		if (command_match(r->command_prefix, defs, r->n_commands, text, strlen(text), &m) ==
		    0) {
			const struct route_command *c = NULL;
			if (!m.is_default) {
				c = &r->commands[m.index];
			} else {
				for (size_t i = 0; r->default_command && i < r->n_commands; i++)
					if (strcmp(r->commands[i].name, r->default_command) == 0)
						c = &r->commands[i];
			}
			if (!c)
				return json_pack("{s:s, s:s}", "route", r->name, "skipped",
						 "the prefix is there, but no command name follows "
						 "and the route has no default_command");
			/* {{hookq.request}}: what the user asked after the command. */
			json_t *hq = json_pack("{s:s%, s:s}", "request", text + m.args_at,
					       m.args_len, "command", c->name);
			json_object_set_new(root, "hookq", hq);
			*matched = true;
			return with_external_id(
				r, root,
				rendered(c->prompt, root,
					 json_pack("{s:s, s:s, s:s, s:s, s:s%}", "route", r->name,
						   "kind", "command", "command", c->name, "agent",
						   c->agent, "request", text + m.args_at,
						   m.args_len)));
		}
	}
	for (size_t i = 0; i < r->n_triggers; i++) {
		const struct route_trigger *g = &r->triggers[i];
		if (!route_type_matches(g->on, type))
			continue;
		if (g->conditions && !condition_eval(g->conditions, root))
			continue;
		const char *agent = g->agent;
		const struct template *prompt = g->prompt;
		for (size_t j = 0; g->command && j < r->n_commands; j++) {
			if (strcmp(r->commands[j].name, g->command) == 0) {
				agent = r->commands[j].agent;
				prompt = r->commands[j].prompt;
			}
		}
		*matched = true;
		return with_external_id(
			r, root,
			rendered(prompt, root,
				 json_pack("{s:s, s:s, s:s, s:s?, s:s, s:I}", "route", r->name,
					   "kind", "trigger", "on", g->on, "command", g->command,
					   "agent", agent, "priority", (json_int_t)g->priority)));
	}
	return json_pack("{s:s, s:s}", "route", r->name, "skipped",
			 r->n_commands && text ? "no command in the text and no trigger matched" :
						 "no trigger matched");
}

/* Whether a static route reads the event: the events of its own endpoint,
 * or without one, those of its provider's endpoint. */
static bool reads(const struct route *r, const struct store_claimed *ev)
{
	if (strcmp(r->provider, ev->provider) != 0)
		return false;
	return strcmp(ev->route, r->endpoint ? r->name : ev->provider) == 0;
}

static char *dumps_free(json_t *doc)
{
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	return text;
}

/* One command of a dynamic webhook against the event: a match, NULL when
 * it does not apply (or *err on out of memory). */
static json_t *dynamic_command(const struct store_webhook *w,
			       const struct store_webhook_command *c, const char *type,
			       json_t *root, bool *stop, int *err)
{
	if (!route_type_matches(c->trigger, type))
		return NULL;
	if (c->conditions_json) {
		json_t *spec = json_loads(c->conditions_json, 0, NULL);
		struct condition *cond = NULL;
		char cerr[256];
		int pr = spec ? condition_parse(spec, &cond, cerr, sizeof(cerr)) : HQ_E_INVAL;
		bool holds = pr == 0 && condition_eval(cond, root);
		condition_free(cond);
		json_decref(spec);
		if (pr < 0) {
			/* Stored valid; a later version may read it otherwise. */
			return json_pack("{s:s, s:s, s:s, s:s}", "route", w->id, "kind", "broken",
					 "command", c->id, "error", "its conditions no longer parse");
		}
		if (!holds)
			return NULL;
	}
	json_t *m = json_pack("{s:s, s:s, s:s, s:s, s:I}", "route", w->id, "kind", c->action,
			      "command", c->id, "trigger", c->trigger, "priority",
			      (json_int_t)c->priority);
	if (!m) {
		*err = HQ_E_NOMEM;
		return NULL;
	}
	if (strcmp(c->action, "ignore") == 0) {
		*stop = true;
		return m;
	}
	if (c->agent)
		json_object_set_new(m, "agent", json_string(c->agent));
	struct template *t = NULL;
	char terr[128];
	if (c->template_text &&
	    template_parse(c->template_text, strlen(c->template_text), &t, terr, sizeof(terr)) == 0) {
		m = rendered(t, root, m);
		template_free(t);
		if (!m)
			*err = HQ_E_NOMEM;
	}
	return m;
}

/* The commands of dynamic webhook ev->route, in priority order: every one
 * whose trigger and conditions match applies, until an ignore. */
static int route_dynamic(struct router *rt, const struct store_claimed *ev,
			 const struct event_info *info, char **ret)
{
	struct store_webhook w;
	struct store_error serr;
	int r = rt->store ? store_webhook_get(rt->store, ev->route, &w, &serr) : HQ_E_NOTFOUND;
	if (r == HQ_E_NOTFOUND) {
		*ret = dumps_free(json_pack("{s:s, s:s}", "route", ev->route, "error",
					    "the webhook no longer exists"));
		return *ret ? 0 : HQ_E_NOMEM;
	}
	if (r < 0)
		return HQ_E_STORE;
	const char *type = info->type[0] ? info->type : ev->event_type;
	json_t *root = payload_of(ev);
	if (root)
		json_object_del(root, "hookq");
	json_t *matches = json_array(), *skipped = json_array();
	r = matches && skipped ? 0 : HQ_E_NOMEM;
	char why[256], text_buf[8192], owner_buf[256];
	const char *text = root ? new_text(ev->provider, type, root, text_buf, sizeof(text_buf)) :
				  NULL;
	const char *owner = root ? owner_of(ev->provider, root, info->repository, owner_buf,
					    sizeof(owner_buf)) :
				   NULL;
	struct authz_subject subj = { owner, info->sender, info->sender_is_bot, text,
				      text ? strlen(text) : 0 };
	if (r == 0 && !root) {
		json_array_append_new(skipped, json_pack("{s:s, s:s}", "route", w.id, "skipped",
							 "the payload is neither JSON nor a form"));
	} else if (r == 0 && authorize(rt, ev->provider, &subj, why, sizeof(why)) < 0) {
		json_array_append_new(skipped,
				      json_pack("{s:s, s:s}", "route", w.id, "skipped", why));
	} else {
		bool stop = false;
		for (size_t i = 0; r == 0 && !stop && i < w.n_commands; i++) {
			json_t *m = dynamic_command(&w, &w.commands[i], type, root, &stop, &r);
			if (m)
				json_array_append_new(matches, m);
		}
		if (r == 0 && json_array_size(matches) == 0)
			json_array_append_new(skipped, json_pack("{s:s, s:s}", "route", w.id,
								 "skipped", "no command matched"));
	}
	store_webhook_release(&w);
	if (r < 0) {
		json_decref(root);
		json_decref(matches);
		json_decref(skipped);
		return r;
	}
	json_t *doc = json_pack("{s:s, s:o, s:o}", "type", type, "matches", matches, "skipped",
				skipped);
	if (doc && root)
		annotate(ev->provider, root, text, doc);
	json_decref(root);
	*ret = dumps_free(doc);
	return *ret ? 0 : HQ_E_NOMEM;
}

int router_route(struct router *rt, const struct store_claimed *ev,
		 const struct event_info *info, char **ret)
{
	*ret = NULL;
	if (strncmp(ev->route, "wh_", 3) == 0)
		return route_dynamic(rt, ev, info, ret);

	struct table_ref *ref = ref_get(rt);
	if (!ref)
		return 0;
	const struct route_table *t = ref->t;
	bool any = false;
	for (size_t i = 0; i < t->n && !any; i++)
		any = reads(&t->routes[i], ev);
	if (!any) {
		ref_put(ref);
		return 0;
	}
	json_t *matches = json_array(), *skipped = json_array();
	json_t *root = payload_of(ev);
	int r = matches && skipped ? 0 : HQ_E_NOMEM;
	const char *type = info->type[0] ? info->type : ev->event_type;
	if (r == 0 && !root) {
		json_decref(matches);
		json_decref(skipped);
		ref_put(ref);
		json_t *doc = json_pack("{s:s}", "error", "the payload is neither JSON nor a form");
		*ret = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
		json_decref(doc);
		return *ret ? 0 : HQ_E_NOMEM;
	}
	char text_buf[8192], owner_buf[256];
	const char *text = r == 0 ? new_text(ev->provider, type, root, text_buf, sizeof(text_buf)) :
				    NULL;
	const char *owner = r == 0 ? owner_of(ev->provider, root, info->repository, owner_buf,
					      sizeof(owner_buf)) :
				     NULL;
	/* Strings from root are used while routes add "hookq" to it: copy. */
	char *text_copy = text ? strdup(text) : NULL;
	char *owner_copy = owner ? strdup(owner) : NULL;
	for (size_t i = 0; r == 0 && i < t->n; i++) {
		const struct route *route = &t->routes[i];
		if (!reads(route, ev))
			continue;
		bool matched;
		/* {{hookq.*}} is hookq's, per route: never the payload's own
		 * key, never what another route set. */
		json_object_del(root, "hookq");
		json_t *d = route_one(rt, route, type, info, root, text_copy, owner_copy, &matched);
		if (!d)
			r = HQ_E_NOMEM;
		else
			json_array_append_new(matched ? matches : skipped, d);
	}
	free(owner_copy);
	ref_put(ref);
	if (r < 0) {
		free(text_copy);
		json_decref(root);
		json_decref(matches);
		json_decref(skipped);
		return r;
	}
	json_t *doc = json_pack("{s:s, s:o, s:o}", "type", type, "matches", matches, "skipped",
				skipped);
	if (doc)
		annotate(ev->provider, root, text_copy, doc);
	free(text_copy);
	json_decref(root);
	*ret = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	return *ret ? 0 : HQ_E_NOMEM;
}
