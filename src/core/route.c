#include "core/route.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "core/agent.h"
#include "core/yamldoc.h"
#include "util/error.h"

/* A required (or optional) text value: a non-empty scalar, copied. */
static int text(struct yamldoc *rd, yaml_node_t *map, const char *key, const char *where,
		bool required, char **ret)
{
	yaml_node_t *v = yamldoc_map_get(rd, map, key);
	if (!v) {
		if (required)
			return yamldoc_fail(rd, map, where, "'%s' is required", key);
		*ret = NULL;
		return 0;
	}
	if (v->type != YAML_SCALAR_NODE || v->data.scalar.length == 0)
		return yamldoc_fail(rd, v, where, "'%s' must be a non-empty text", key);
	if (strlen((const char *)v->data.scalar.value) != v->data.scalar.length)
		return yamldoc_fail(rd, v, where, "'%s' must not hold a NUL character", key);
	*ret = strdup((const char *)v->data.scalar.value);
	return *ret ? 0 : HQ_E_NOMEM;
}

/* Names of routes and commands: they reach logs, the database and URLs. */
static bool name_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > ROUTE_NAME_MAX)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '-' || *p == '_'))
			return false;
	return true;
}

static int name(struct yamldoc *rd, yaml_node_t *map, const char *key, const char *where,
		bool required, char **ret)
{
	int r = text(rd, map, key, where, required, ret);
	if (r < 0 || !*ret)
		return r;
	if (!name_valid(*ret)) {
		r = yamldoc_fail(rd, yamldoc_map_get(rd, map, key), where,
				 "'%s' must be 1-64 letters, digits, '-' or '_', not '%.64s'", key,
				 *ret);
		free(*ret);
		*ret = NULL;
	}
	return r;
}

/* A template at key (prompt, external_id), parsed. */
static int template_at(struct yamldoc *rd, yaml_node_t *map, const char *key, const char *where,
		       bool required, char **text_ret, struct template **ret)
{
	int r = text(rd, map, key, where, required, text_ret);
	if (r < 0 || !*text_ret)
		return r;
	char terr[256];
	if (template_parse(*text_ret, strlen(*text_ret), ret, terr, sizeof(terr)) < 0)
		return yamldoc_fail(rd, yamldoc_map_get(rd, map, key), where, "%s: %s", key, terr);
	return 0;
}

static int prompt(struct yamldoc *rd, yaml_node_t *map, const char *where, bool required,
		  char **text_ret, struct template **ret)
{
	return template_at(rd, map, "prompt", where, required, text_ret, ret);
}

/* A YAML node as JSON, for conditions written in YAML (or as JSON, which
 * is YAML): plain true/false/null and numbers are typed, quoted text is a
 * string. */
static json_t *to_json(struct yamldoc *rd, yaml_node_t *n, int depth)
{
	if (!n || depth > 32)
		return NULL;
	if (n->type == YAML_SCALAR_NODE) {
		const char *v = (const char *)n->data.scalar.value;
		if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
			return json_stringn(v, n->data.scalar.length);
		if (strcmp(v, "true") == 0)
			return json_true();
		if (strcmp(v, "false") == 0)
			return json_false();
		if (strcmp(v, "null") == 0 || strcmp(v, "~") == 0 || !*v)
			return json_null();
		json_t *num = json_loads(v, JSON_DECODE_ANY, NULL);
		if (num && json_is_number(num))
			return num;
		json_decref(num);
		return json_string(v);
	}
	if (n->type == YAML_SEQUENCE_NODE) {
		json_t *a = json_array();
		for (yaml_node_item_t *i = n->data.sequence.items.start;
		     a && i < n->data.sequence.items.top; i++) {
			json_t *v = to_json(rd, yamldoc_node(rd, *i), depth + 1);
			if (!v || json_array_append_new(a, v) < 0) {
				json_decref(a);
				return NULL;
			}
		}
		return a;
	}
	json_t *o = json_object();
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; o && p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yamldoc_node(rd, p->key);
		json_t *v = to_json(rd, yamldoc_node(rd, p->value), depth + 1);
		if (!k || k->type != YAML_SCALAR_NODE || !v ||
		    json_object_set_new(o, (const char *)k->data.scalar.value, v) < 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

static int parse_command(struct yamldoc *rd, yaml_node_t *n, const char *where,
			 struct route_command *c)
{
	static const char *const keys[] = { "name", "aliases", "agent", "prompt", NULL };
	if (n->type != YAML_MAPPING_NODE)
		return yamldoc_fail(rd, n, where,
				    "a command is a mapping (name, aliases, agent, prompt)");
	c->line = (int)n->start_mark.line + 1;
	int r = yamldoc_map_keys(rd, n, where, keys);
	if (r == 0)
		r = name(rd, n, "name", where, true, &c->name);
	if (r == 0)
		r = text(rd, n, "agent", where, true, &c->agent);
	if (r == 0)
		r = prompt(rd, n, where, true, &c->prompt_text, &c->prompt);
	if (r < 0)
		return r;
	yaml_node_t *al = yamldoc_map_get(rd, n, "aliases");
	size_t count = al && al->type == YAML_SEQUENCE_NODE ?
			       (size_t)(al->data.sequence.items.top - al->data.sequence.items.start) :
			       0;
	if (al && al->type != YAML_SEQUENCE_NODE)
		return yamldoc_fail(rd, al, where, "'aliases' must be a list of names");
	c->aliases = calloc(count + 1, sizeof(*c->aliases));
	if (!c->aliases)
		return HQ_E_NOMEM;
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *a = yamldoc_node(rd, al->data.sequence.items.start[i]);
		if (!a || a->type != YAML_SCALAR_NODE ||
		    !name_valid((const char *)a->data.scalar.value))
			return yamldoc_fail(rd, a, where,
					    "aliases must be 1-64 letters, digits, '-' or '_'");
		c->aliases[i] = strdup((const char *)a->data.scalar.value);
		if (!c->aliases[i])
			return HQ_E_NOMEM;
	}
	return 0;
}

static int parse_trigger(struct yamldoc *rd, yaml_node_t *n, const char *where,
			 struct route_trigger *t)
{
	static const char *const keys[] = { "on",	   "command",  "agent", "prompt",
					    "conditions", "priority", NULL };
	if (n->type != YAML_MAPPING_NODE)
		return yamldoc_fail(rd, n, where,
				    "a trigger is a mapping (on, command or agent and prompt, "
				    "conditions, priority)");
	t->line = (int)n->start_mark.line + 1;
	t->priority = ROUTE_DEFAULT_PRIORITY;
	int r = yamldoc_map_keys(rd, n, where, keys);
	if (r == 0)
		r = text(rd, n, "on", where, true, &t->on);
	if (r == 0)
		r = name(rd, n, "command", where, false, &t->command);
	if (r == 0)
		r = text(rd, n, "agent", where, false, &t->agent);
	if (r == 0)
		r = prompt(rd, n, where, false, &t->prompt_text, &t->prompt);
	if (r < 0)
		return r;
	if (t->command && (t->agent || t->prompt_text))
		return yamldoc_fail(rd, n, where,
				    "give either 'command' or 'agent' and 'prompt', not both");
	if (!t->command && (!t->agent || !t->prompt_text))
		return yamldoc_fail(rd, n, where,
				    "'command', or 'agent' and 'prompt', is required");
	yaml_node_t *pr = yamldoc_map_get(rd, n, "priority");
	if (pr) {
		char *end = NULL;
		const char *v = pr->type == YAML_SCALAR_NODE ? (const char *)pr->data.scalar.value : "";
		long p = strtol(v, &end, 10);
		if (!*v || *end || p < 0 || p > 1000000)
			return yamldoc_fail(rd, pr, where,
					    "'priority' must be a whole number from 0 to 1000000");
		t->priority = p;
	}
	yaml_node_t *cn = yamldoc_map_get(rd, n, "conditions");
	if (cn) {
		json_t *spec = to_json(rd, cn, 0);
		if (!spec)
			return yamldoc_fail(rd, cn, where, "conditions: too deep or out of memory");
		char cerr[300];
		r = condition_parse(spec, &t->conditions, cerr, sizeof(cerr));
		json_decref(spec);
		if (r < 0)
			return yamldoc_fail(rd, cn, where, "conditions: %s", cerr);
	}
	return 0;
}

static int parse_route(struct yamldoc *rd, yaml_node_t *n, const char *where,
		       const char *const *providers, struct route *rt)
{
	static const char *const keys[] = { "name",	       "provider",    "endpoint",
					    "secret_env",      "secret_file", "command_prefix",
					    "default_command", "commands",    "triggers",
					    "secret",	       "external_id", NULL };
	if (n->type != YAML_MAPPING_NODE)
		return yamldoc_fail(rd, n, where,
				    "a route is a mapping (name, provider, command_prefix, "
				    "commands, default_command, triggers)");
	rt->line = (int)n->start_mark.line + 1;
	int r = yamldoc_map_keys(rd, n, where, keys);
	if (r == 0)
		r = name(rd, n, "provider", where, true, &rt->provider);
	if (r == 0)
		r = name(rd, n, "name", where, false, &rt->name);
	if (r == 0)
		r = text(rd, n, "endpoint", where, false, &rt->endpoint);
	if (r == 0)
		r = text(rd, n, "secret_env", where, false, &rt->secret_env);
	if (r == 0)
		r = text(rd, n, "secret_file", where, false, &rt->secret_file);
	if (r == 0 && yamldoc_map_get(rd, n, "secret"))
		r = yamldoc_fail(
		    rd, yamldoc_map_get(rd, n, "secret"), where,
		    "a secret is never written in the file: use secret_env or secret_file");
	if (r == 0)
		r = text(rd, n, "command_prefix", where, false, &rt->command_prefix);
	if (r == 0)
		r = name(rd, n, "default_command", where, false, &rt->default_command);
	if (r == 0)
		r = template_at(rd, n, "external_id", where, false, &rt->external_id_text,
				&rt->external_id);
	if (r < 0)
		return r;
	bool known = false;
	for (const char *const *p = providers; p && *p && !known; p++)
		known = strcmp(*p, rt->provider) == 0;
	if (!known) {
		char list[256] = "";
		for (const char *const *p = providers; p && *p; p++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 p == providers ? "" : ", ", *p);
		return yamldoc_fail(rd, yamldoc_map_get(rd, n, "provider"), where,
				    "unknown provider '%.64s' (expected one of: %s)", rt->provider,
				    list);
	}
	if (rt->endpoint) {
		/* Its events are stored under its name: a provider's name
		 * would mix them with that provider's endpoint's. */
		bool clash = !rt->name;
		for (const char *const *p = providers; !clash && p && *p; p++)
			clash = strcmp(*p, rt->name) == 0;
		if (clash)
			return yamldoc_fail(
			    rd, n, where,
			    "a route with its own endpoint needs a 'name' that is not a "
			    "provider's name");
	}
	if (!rt->name && !(rt->name = strdup(rt->provider)))
		return HQ_E_NOMEM;
	if (rt->endpoint) {
		/* /webhooks/<one segment>, not a provider's own path: the
		 * events are stored under the route's name. */
		const char *seg = rt->endpoint + 10;
		bool ok = strncmp(rt->endpoint, "/webhooks/", 10) == 0 && name_valid(seg);
		for (const char *const *p = providers; ok && p && *p; p++)
			ok = strcmp(*p, seg) != 0;
		if (!ok)
			return yamldoc_fail(
			    rd, yamldoc_map_get(rd, n, "endpoint"), where,
			    "'endpoint' must be /webhooks/<name> (letters, digits, - and _; "
			    "not a provider's own path), not '%.64s'",
			    rt->endpoint);
		if (strncmp(rt->name, "wh_", 3) == 0)
			return yamldoc_fail(
			    rd, n, where, "route names starting with wh_ are for dynamic webhooks");
		if (rt->secret_env && rt->secret_file)
			return yamldoc_fail(rd, n, where,
					    "give secret_env or secret_file, not both");
	} else if (rt->secret_env || rt->secret_file) {
		return yamldoc_fail(
		    rd, n, where,
		    "secret_env and secret_file go with an 'endpoint' of the route's own "
		    "(without one the route reads the provider's endpoint and its secret)");
	}
	if (rt->command_prefix && strchr(rt->command_prefix, ' '))
		return yamldoc_fail(rd, yamldoc_map_get(rd, n, "command_prefix"), where,
				    "'command_prefix' must be one word, such as @agent");

	char sub[160];
	yaml_node_t *cmds = yamldoc_map_get(rd, n, "commands");
	if (cmds && cmds->type != YAML_SEQUENCE_NODE)
		return yamldoc_fail(rd, cmds, where, "'commands' must be a list");
	size_t nc = cmds ? (size_t)(cmds->data.sequence.items.top - cmds->data.sequence.items.start) :
			   0;
	if (nc > ROUTE_MAX_COMMANDS)
		return yamldoc_fail(rd, cmds, where, "more than %d commands", ROUTE_MAX_COMMANDS);
	if (nc && !rt->command_prefix)
		return yamldoc_fail(rd, cmds, where,
				    "commands need a 'command_prefix' (such as @agent)");
	rt->commands = calloc(nc ? nc : 1, sizeof(*rt->commands));
	if (!rt->commands)
		return HQ_E_NOMEM;
	for (size_t i = 0; i < nc; i++) {
		snprintf(sub, sizeof(sub), "%s.commands[%zu]", where, i);
		rt->n_commands = i + 1;
		r = parse_command(rd, yamldoc_node(rd, cmds->data.sequence.items.start[i]), sub,
				  &rt->commands[i]);
		if (r < 0)
			return r;
		/* Names and aliases are one namespace within the route. */
		const struct route_command *c = &rt->commands[i];
		for (size_t j = 0; j < i; j++) {
			const struct route_command *o = &rt->commands[j];
			const char *mine = c->name;
			for (size_t a = 0; mine; mine = c->aliases[a++]) {
				bool clash = strcasecmp(mine, o->name) == 0;
				for (char **oa = o->aliases; !clash && oa && *oa; oa++)
					clash = strcasecmp(mine, *oa) == 0;
				if (clash)
					return yamldoc_fail(
					    rd,
					    yamldoc_node(rd, cmds->data.sequence.items.start[i]),
					    sub, "'%s' is already a name or alias of command '%s'",
					    mine, o->name);
			}
		}
	}
	if (rt->default_command) {
		bool found = false;
		for (size_t i = 0; i < rt->n_commands && !found; i++)
			found = strcmp(rt->commands[i].name, rt->default_command) == 0;
		if (!found)
			return yamldoc_fail(
			    rd, yamldoc_map_get(rd, n, "default_command"), where,
			    "default_command '%s' is not one of the route's commands",
			    rt->default_command);
	}

	yaml_node_t *trs = yamldoc_map_get(rd, n, "triggers");
	if (trs && trs->type != YAML_SEQUENCE_NODE)
		return yamldoc_fail(rd, trs, where, "'triggers' must be a list");
	size_t nt = trs ? (size_t)(trs->data.sequence.items.top - trs->data.sequence.items.start) :
			  0;
	if (nt > ROUTE_MAX_TRIGGERS)
		return yamldoc_fail(rd, trs, where, "more than %d triggers", ROUTE_MAX_TRIGGERS);
	rt->triggers = calloc(nt ? nt : 1, sizeof(*rt->triggers));
	if (!rt->triggers)
		return HQ_E_NOMEM;
	for (size_t i = 0; i < nt; i++) {
		snprintf(sub, sizeof(sub), "%s.triggers[%zu]", where, i);
		rt->n_triggers = i + 1;
		yaml_node_t *tn = yamldoc_node(rd, trs->data.sequence.items.start[i]);
		r = parse_trigger(rd, tn, sub, &rt->triggers[i]);
		if (r < 0)
			return r;
		const char *cmd = rt->triggers[i].command;
		bool found = !cmd;
		for (size_t j = 0; j < rt->n_commands && !found; j++)
			found = strcmp(rt->commands[j].name, cmd) == 0;
		if (!found)
			return yamldoc_fail(rd, tn, sub,
					    "command '%s' is not one of the route's commands", cmd);
	}
	if (nc == 0 && nt == 0)
		return yamldoc_fail(rd, n, where, "a route needs commands or triggers");
	return 0;
}

static int trigger_order(const void *a, const void *b)
{
	const struct route_trigger *x = a, *y = b;
	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

int route_table_parse(const char *text_in, size_t len, const char *filename,
		      const char *const *providers, struct route_table **ret, char *err,
		      size_t err_size)
{
	struct yamldoc rd;
	int r = yamldoc_load(&rd, text_in, len, filename, err, err_size);
	if (r < 0)
		return r;
	struct route_table *t = calloc(1, sizeof(*t));
	r = t ? 0 : HQ_E_NOMEM;
	yaml_node_t *root = yaml_document_get_root_node(&rd.doc);
	yaml_node_t *list = r == 0 && root && root->type == YAML_MAPPING_NODE ?
				    yamldoc_map_get(&rd, root, "routes") :
				    NULL;
	if (r == 0 && list && list->type == YAML_SCALAR_NODE && list->data.scalar.length == 0)
		list = NULL; /* "routes:" with nothing under it */
	if (r == 0 && list && list->type != YAML_SEQUENCE_NODE)
		r = yamldoc_fail(&rd, list, "routes", "must be a list of routes");
	size_t n = list ? (size_t)(list->data.sequence.items.top - list->data.sequence.items.start) :
			  0;
	if (r == 0 && n > ROUTE_MAX_ROUTES)
		r = yamldoc_fail(&rd, list, "routes", "more than %d routes", ROUTE_MAX_ROUTES);
	if (r == 0 && n && !(t->routes = calloc(n, sizeof(*t->routes))))
		r = HQ_E_NOMEM;
	for (size_t i = 0; r == 0 && i < n; i++) {
		char where[32];
		snprintf(where, sizeof(where), "routes[%zu]", i);
		t->n = i + 1;
		yaml_node_t *rn = yamldoc_node(&rd, list->data.sequence.items.start[i]);
		r = parse_route(&rd, rn, where, providers, &t->routes[i]);
		for (size_t j = 0; r == 0 && j < i; j++) {
			if (strcmp(t->routes[j].name, t->routes[i].name) == 0)
				r = yamldoc_fail(
				    &rd, rn, where,
				    "route name '%s' is taken by routes[%zu] (give one a 'name')",
				    t->routes[i].name, j);
			else if (t->routes[i].endpoint && t->routes[j].endpoint &&
				 strcmp(t->routes[i].endpoint, t->routes[j].endpoint) == 0)
				r = yamldoc_fail(&rd, rn, where,
						 "endpoint '%s' is taken by routes[%zu]",
						 t->routes[i].endpoint, j);
		}
		if (r == 0)
			qsort(t->routes[i].triggers, t->routes[i].n_triggers,
			      sizeof(*t->routes[i].triggers), trigger_order);
	}
	yamldoc_release(&rd);
	if (r < 0) {
		route_table_free(t);
		return r;
	}
	*ret = t;
	return 0;
}

static void strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

void route_table_free(struct route_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		struct route *rt = &t->routes[i];
		for (size_t j = 0; j < rt->n_commands; j++) {
			struct route_command *c = &rt->commands[j];
			free(c->name);
			strv_free(c->aliases);
			free(c->agent);
			free(c->prompt_text);
			template_free(c->prompt);
		}
		for (size_t j = 0; j < rt->n_triggers; j++) {
			struct route_trigger *g = &rt->triggers[j];
			free(g->on);
			free(g->command);
			free(g->agent);
			free(g->prompt_text);
			template_free(g->prompt);
			condition_free(g->conditions);
		}
		free(rt->commands);
		free(rt->triggers);
		free(rt->name);
		free(rt->provider);
		free(rt->endpoint);
		free(rt->secret_env);
		free(rt->secret_file);
		free(rt->command_prefix);
		free(rt->default_command);
		free(rt->external_id_text);
		template_free(rt->external_id);
	}
	free(t->routes);
	free(t);
}

bool route_type_matches(const char *on, const char *type)
{
	if (strcmp(on, "*") == 0)
		return true;
	size_t n = strlen(on);
	if (n >= 2 && on[n - 1] == '*' && on[n - 2] == '.')
		return strncmp(on, type, n - 1) == 0;
	return strcmp(on, type) == 0;
}

int route_table_check_agents(const struct route_table *t, const struct agent_table *agents,
			     const char *filename, char *err, size_t err_size)
{
	if (!agents || agents->n == 0)
		return 0;
	for (size_t i = 0; i < t->n; i++) {
		const struct route *r = &t->routes[i];
		for (size_t j = 0; j < r->n_commands; j++) {
			const struct route_command *c = &r->commands[j];
			if (!agent_find(agents, c->agent)) {
				snprintf(err, err_size,
					 "%s:%d: routes: %s: command '%s': no agent '%s' is defined "
					 "under agents",
					 filename, c->line, r->name, c->name, c->agent);
				return HQ_E_CONFIG;
			}
		}
		for (size_t j = 0; j < r->n_triggers; j++) {
			const struct route_trigger *g = &r->triggers[j];
			if (g->agent && !agent_find(agents, g->agent)) {
				snprintf(err, err_size,
					 "%s:%d: routes: %s: trigger '%s': no agent '%s' is defined "
					 "under agents",
					 filename, g->line, r->name, g->on, g->agent);
				return HQ_E_CONFIG;
			}
		}
	}
	return 0;
}
