#include "core/agent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/yamldoc.h"
#include "util/error.h"
#include "util/parse.h"

/* The placeholders of a command or cwd: values hookq chooses itself.
 * Anything from a payload (an issue title, a comment) is refused, so no
 * event can add, split or rewrite an argument of a program. */
enum { PH_WORKER, PH_TASK_ID, PH_REPOSITORY, PH_WORKSPACE };
static const char *const placeholders[] = { "worker", "task_id", "repository", "workspace", NULL };
#define ALLOWED "{{worker}}, {{task_id}}, {{repository}}, {{workspace}}"

static const char *const default_env[] = { "PATH", "HOME", "LANG",    "LC_ALL",
					   "TZ",   "USER", "LOGNAME", NULL };

/* One "{{ name }}" of a template: the whole of it is [start, end), the
 * name (spaces and tabs around it dropped) is name[0..name_len). */
struct placeholder {
	size_t start, end;
	const char *name;
	size_t name_len;
};

/* The next placeholder of s at or after from: 1 with *p filled, 0 when
 * there is none, -1 for a "{{" with no "}}" after it (p->start set). */
static int placeholder_next(const char *s, size_t from, struct placeholder *p)
{
	const char *open = strstr(s + from, "{{");
	if (!open)
		return 0;
	p->start = (size_t)(open - s);
	const char *close = strstr(open + 2, "}}");
	if (!close)
		return -1;
	const char *n = open + 2, *e = close;
	while (n < e && (*n == ' ' || *n == '\t'))
		n++;
	while (e > n && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	p->end = (size_t)(close + 2 - s);
	p->name = n;
	p->name_len = (size_t)(e - n);
	return 1;
}

/* Index of p's name in placeholders, or -1. */
static int placeholder_index(const struct placeholder *p)
{
	for (int i = 0; placeholders[i]; i++)
		if (strlen(placeholders[i]) == p->name_len &&
		    memcmp(placeholders[i], p->name, p->name_len) == 0)
			return i;
	return -1;
}

static const char *scalar_text(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* "key:", "key: ~" and "key: null" say nothing: the default stays. */
static bool is_null(const yaml_node_t *n)
{
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *v = scalar_text(n);
	return !*v || strcmp(v, "~") == 0 || strcmp(v, "null") == 0;
}

/* The value of key in a mapping, or NULL when it is absent or null. */
static yaml_node_t *map_get(struct yamldoc *rd, yaml_node_t *map, const char *key)
{
	yaml_node_t *v = yamldoc_map_get(rd, map, key);
	return v && !is_null(v) ? v : NULL;
}

/* How a wrong value is shown in an error: quoted when it is text. */
static const char *shown(const yaml_node_t *n, char *buf, size_t size)
{
	if (n->type == YAML_SEQUENCE_NODE)
		return "a list";
	if (n->type == YAML_MAPPING_NODE)
		return "a mapping";
	snprintf(buf, size, "'%.64s'", scalar_text(n));
	return buf;
}

/* A scalar holding no NUL byte (libyaml keeps them; C strings cannot). */
static bool is_text(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE && strlen(scalar_text(n)) == n->data.scalar.length;
}

static int duration(struct yamldoc *rd, yaml_node_t *map, const char *key, const char *where,
		    uint64_t min, uint64_t max, const char *range, uint64_t *ret)
{
	yaml_node_t *v = map_get(rd, map, key);
	if (!v)
		return 0;
	uint64_t ms;
	char buf[80];
	if (!is_text(v) || parse_duration_ms(scalar_text(v), &ms) < 0 || ms < min || ms > max)
		return yamldoc_fail(rd, v, where,
				    "'%s' must be a duration from %s (like 90s, 30m, 2h), not %s",
				    key, range, shown(v, buf, sizeof(buf)));
	*ret = ms;
	return 0;
}

/* Names of agents (and of workers): they reach logs, the database and
 * argv; no spaces, quotes or slashes. */
static bool name_valid(const char *s, size_t len)
{
	if (len == 0 || len > AGENT_NAME_MAX || strlen(s) != len)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
			return false;
	return true;
}

/* Environment variable names as POSIX shells accept them. */
static bool env_name_valid(const char *s, size_t len)
{
	if (len == 0 || len > 128 || strlen(s) != len || (*s >= '0' && *s <= '9'))
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return true;
}

/* An env or set_env name: valid, and not in the HOOKQ_ namespace, where
 * the runner puts the task's own variables (an agent must be able to
 * trust HOOKQ_TASK_ID and its kin). */
static int env_name(struct yamldoc *rd, yaml_node_t *n, const char *where, const char *key)
{
	char buf[80];
	if (!is_text(n) || !env_name_valid(scalar_text(n), n->data.scalar.length))
		return yamldoc_fail(
		    rd, n, where,
		    "'%s' names must be letters, digits and '_', not starting with a digit "
		    "(at most 128), not %s",
		    key, shown(n, buf, sizeof(buf)));
	if (strncmp(scalar_text(n), "HOOKQ_", 6) == 0)
		return yamldoc_fail(
		    rd, n, where,
		    "'%.64s': names starting with HOOKQ_ are reserved for hookq's task "
		    "variables",
		    scalar_text(n));
	return 0;
}

/* A command element or cwd: only hookq's placeholders, {{workspace}} only
 * in an agent with a workspace. Columns are 1-based bytes into the text. */
static int check_template(struct yamldoc *rd, yaml_node_t *n, const char *where, const char *s,
			  bool workspace)
{
	struct placeholder p;
	size_t pos = 0;
	int k;
	while ((k = placeholder_next(s, pos, &p)) > 0) {
		int i = placeholder_index(&p);
		if (i < 0)
			return yamldoc_fail(
			    rd, n, where,
			    "column %zu: unknown placeholder '%.*s' (allowed: " ALLOWED
			    "); payload text never reaches a command line: the agent reads "
			    "it from its prompt",
			    p.start + 1, (int)(p.end - p.start > 80 ? 80 : p.end - p.start),
			    s + p.start);
		if (i == PH_WORKSPACE && !workspace)
			return yamldoc_fail(
			    rd, n, where,
			    "column %zu: {{workspace}} needs 'workspace: true' in the agent",
			    p.start + 1);
		pos = p.end;
	}
	if (k < 0)
		return yamldoc_fail(rd, n, where,
				    "column %zu: '{{' is not closed by '}}' (allowed: " ALLOWED ")",
				    p.start + 1);
	return 0;
}

static int template_text(struct yamldoc *rd, yaml_node_t *n, const char *where, bool empty_ok,
			 bool workspace, char **ret)
{
	char buf[80];
	if (!is_text(n) || (!empty_ok && n->data.scalar.length == 0))
		return yamldoc_fail(rd, n, where, "must be a non-empty text, not %s",
				    shown(n, buf, sizeof(buf)));
	if (n->data.scalar.length > AGENT_TEXT_MAX)
		return yamldoc_fail(rd, n, where, "longer than %d bytes", AGENT_TEXT_MAX);
	int r = check_template(rd, n, where, scalar_text(n), workspace);
	if (r < 0)
		return r;
	*ret = strdup(scalar_text(n));
	return *ret ? 0 : HQ_E_NOMEM;
}

static size_t seq_len(const yaml_node_t *n)
{
	return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

static size_t map_len(const yaml_node_t *n)
{
	return (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
}

static int parse_command(struct yamldoc *rd, yaml_node_t *map, const char *where, struct agent *a)
{
	yaml_node_t *cmd = map_get(rd, map, "command");
	if (!cmd)
		return yamldoc_fail(
		    rd, map, where,
		    "'command' is required (an argv list, like [\"claude\", \"-p\"])");
	if (cmd->type != YAML_SEQUENCE_NODE)
		return yamldoc_fail(
		    rd, cmd, where,
		    "'command' must be a list of texts (an argv, like [\"claude\", \"-p\"]), "
		    "not %s: hookq never runs a shell",
		    cmd->type == YAML_SCALAR_NODE ? "one text" : "a mapping");
	size_t n = seq_len(cmd);
	if (n == 0)
		return yamldoc_fail(rd, cmd, where, "'command' must not be empty");
	if (n > AGENT_MAX_ARGS)
		return yamldoc_fail(rd, cmd, where, "'command' has more than %d elements",
				    AGENT_MAX_ARGS);
	a->command = calloc(n + 1, sizeof(*a->command));
	if (!a->command)
		return HQ_E_NOMEM;
	for (size_t i = 0; i < n; i++) {
		char sub[128];
		snprintf(sub, sizeof(sub), "%s.command[%zu]", where, i);
		yaml_node_t *e = yamldoc_node(rd, cmd->data.sequence.items.start[i]);
		int r = template_text(rd, e, sub, i > 0, a->workspace, &a->command[i]);
		if (r < 0)
			return r;
		a->n_command = i + 1;
	}
	return 0;
}

static int parse_env(struct yamldoc *rd, yaml_node_t *map, const char *where, struct agent *a)
{
	yaml_node_t *env = map_get(rd, map, "env");
	size_t n = 0;
	if (!env) {
		while (default_env[n])
			n++;
	} else if (env->type != YAML_SEQUENCE_NODE) {
		return yamldoc_fail(
		    rd, env, where,
		    "'env' must be a list of variable names (like [PATH, HOME]), or [] for none");
	} else {
		n = seq_len(env);
	}
	if (n > AGENT_MAX_ENV)
		return yamldoc_fail(rd, env, where, "'env' names more than %d variables",
				    AGENT_MAX_ENV);
	a->env = calloc(n + 1, sizeof(*a->env));
	if (!a->env)
		return HQ_E_NOMEM;
	for (size_t i = 0; i < n; i++) {
		/* The defaults only without a list: a list may be longer. */
		const char *name = env ? NULL : default_env[i];
		if (env) {
			char sub[128];
			snprintf(sub, sizeof(sub), "%s.env[%zu]", where, i);
			yaml_node_t *e = yamldoc_node(rd, env->data.sequence.items.start[i]);
			int r = env_name(rd, e, sub, "env");
			if (r < 0)
				return r;
			name = scalar_text(e);
			for (size_t j = 0; j < i; j++)
				if (strcmp(a->env[j], name) == 0)
					return yamldoc_fail(rd, e, sub, "'%s' is listed twice",
							    name);
		}
		if (!(a->env[i] = strdup(name)))
			return HQ_E_NOMEM;
		a->n_env = i + 1;
	}
	return 0;
}

static int parse_set_env(struct yamldoc *rd, yaml_node_t *map, const char *where, struct agent *a)
{
	yaml_node_t *se = map_get(rd, map, "set_env");
	if (!se)
		return 0;
	if (se->type != YAML_MAPPING_NODE)
		return yamldoc_fail(
		    rd, se, where,
		    "'set_env' must be a mapping of names to values (like {CLAUDE_MODEL: opus})");
	size_t n = map_len(se);
	if (n > AGENT_MAX_ENV)
		return yamldoc_fail(rd, se, where, "'set_env' sets more than %d variables",
				    AGENT_MAX_ENV);
	a->set_env = calloc(n ? n : 1, sizeof(*a->set_env));
	if (!a->set_env)
		return HQ_E_NOMEM;
	char sub[128];
	snprintf(sub, sizeof(sub), "%s.set_env", where);
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *k = yamldoc_node(rd, se->data.mapping.pairs.start[i].key);
		yaml_node_t *v = yamldoc_node(rd, se->data.mapping.pairs.start[i].value);
		int r = env_name(rd, k, sub, "set_env");
		if (r < 0)
			return r;
		const char *name = scalar_text(k);
		for (size_t j = 0; j < i; j++)
			if (strcmp(a->set_env[j].name, name) == 0)
				return yamldoc_fail(rd, k, sub, "duplicate key '%s'", name);
		for (size_t j = 0; j < a->n_env; j++)
			if (strcmp(a->env[j], name) == 0)
				return yamldoc_fail(
				    rd, k, sub,
				    "'%s' is also in 'env': pass it through or set it, not both",
				    name);
		char buf[80];
		if (!is_text(v))
			return yamldoc_fail(rd, v, sub, "'%s' must be a text, not %s", name,
					    shown(v, buf, sizeof(buf)));
		if (v->data.scalar.length > AGENT_TEXT_MAX)
			return yamldoc_fail(rd, v, sub, "'%s' is longer than %d bytes", name,
					    AGENT_TEXT_MAX);
		a->n_set_env = i + 1;
		a->set_env[i].name = strdup(name);
		a->set_env[i].value = strdup(scalar_text(v));
		if (!a->set_env[i].name || !a->set_env[i].value)
			return HQ_E_NOMEM;
	}
	return 0;
}

static int parse_agent(struct yamldoc *rd, yaml_node_t *n, const char *where, struct agent *a)
{
	static const char *const keys[] = { "command",	    "timeout",	     "kill_grace",
					    "max_attempts", "retry_backoff", "retry_backoff_max",
					    "env",	    "set_env",	     "output_max",
					    "workspace",    "cwd",	     NULL };
	a->timeout_ms = AGENT_DEFAULT_TIMEOUT_MS;
	a->kill_grace_ms = AGENT_DEFAULT_KILL_GRACE_MS;
	a->max_attempts = AGENT_DEFAULT_MAX_ATTEMPTS;
	a->retry_backoff_ms = AGENT_DEFAULT_RETRY_BACKOFF_MS;
	a->retry_backoff_max_ms = AGENT_DEFAULT_RETRY_BACKOFF_MAX_MS;
	a->output_max = AGENT_DEFAULT_OUTPUT_MAX;
	if (n->type != YAML_MAPPING_NODE)
		return yamldoc_fail(rd, n, where,
				    "an agent is a mapping with at least 'command' (an argv list)");
	int r = yamldoc_map_keys(rd, n, where, keys);
	char buf[80];
	yaml_node_t *v;
	/* First: whether {{workspace}} may appear in command and cwd. */
	if (r == 0 && (v = map_get(rd, n, "workspace")) &&
	    (!is_text(v) || parse_bool(scalar_text(v), &a->workspace) < 0))
		r = yamldoc_fail(rd, v, where, "'workspace' must be true or false, not %s",
				 shown(v, buf, sizeof(buf)));
	if (r == 0)
		r = parse_command(rd, n, where, a);
	if (r == 0)
		r = duration(rd, n, "timeout", where, 1000, 7 * 86400000ull, "1s to 7d",
			     &a->timeout_ms);
	if (r == 0)
		r = duration(rd, n, "kill_grace", where, 0, 3600000, "0 to 1h", &a->kill_grace_ms);
	if (r == 0)
		r = duration(rd, n, "retry_backoff", where, 0, 86400000, "0 to 24h",
			     &a->retry_backoff_ms);
	if (r == 0)
		r = duration(rd, n, "retry_backoff_max", where, 0, 7 * 86400000ull, "0 to 7d",
			     &a->retry_backoff_max_ms);
	if (r < 0)
		return r;
	if (a->retry_backoff_max_ms < a->retry_backoff_ms) {
		/* Point at what was written: the cap, or the base it is below. */
		if (!(v = map_get(rd, n, "retry_backoff_max")))
			v = map_get(rd, n, "retry_backoff");
		return yamldoc_fail(
		    rd, v, where,
		    "'retry_backoff_max' (%llu ms) is below 'retry_backoff' (%llu ms)",
		    (unsigned long long)a->retry_backoff_max_ms,
		    (unsigned long long)a->retry_backoff_ms);
	}
	if ((v = map_get(rd, n, "max_attempts"))) {
		uint64_t m;
		if (!is_text(v) || parse_u64(scalar_text(v), 1, 20, &m) < 0)
			return yamldoc_fail(
			    rd, v, where,
			    "'max_attempts' must be a whole number from 1 to 20, not %s",
			    shown(v, buf, sizeof(buf)));
		a->max_attempts = (unsigned)m;
	}
	if ((v = map_get(rd, n, "output_max"))) {
		uint64_t size;
		if (!is_text(v) || parse_size(scalar_text(v), &size) < 0 || size < 1024 ||
		    size > 64ull * 1024 * 1024)
			return yamldoc_fail(
			    rd, v, where,
			    "'output_max' must be a size from 1KiB to 64MiB (like 256KiB), not %s",
			    shown(v, buf, sizeof(buf)));
		a->output_max = size;
	}
	r = parse_env(rd, n, where, a);
	if (r == 0)
		r = parse_set_env(rd, n, where, a);
	if (r == 0 && (v = map_get(rd, n, "cwd"))) {
		char sub[128];
		snprintf(sub, sizeof(sub), "%s.cwd", where);
		r = template_text(rd, v, sub, false, a->workspace, &a->cwd);
	}
	return r;
}

static int parse_agents(struct yamldoc *rd, yaml_node_t *root, struct agent_table *t)
{
	yaml_node_t *list = NULL;
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yamldoc_node(rd, p->key);
		if (!k || k->type != YAML_SCALAR_NODE || strcmp(scalar_text(k), "agents") != 0)
			continue;
		if (list)
			return yamldoc_fail(rd, k, "agents", "duplicate key 'agents'");
		list = yamldoc_node(rd, p->value);
		if (!list)
			return HQ_E_CONFIG;
	}
	if (!list || is_null(list))
		return 0;
	if (list->type != YAML_MAPPING_NODE)
		return yamldoc_fail(
		    rd, list, "agents",
		    "must be a mapping of agent names to agents (like 'planning: {command: "
		    "[...]}')");
	size_t n = map_len(list);
	if (n > AGENT_MAX_AGENTS)
		return yamldoc_fail(rd, list, "agents", "more than %d agents", AGENT_MAX_AGENTS);
	if (n && !(t->agents = calloc(n, sizeof(*t->agents))))
		return HQ_E_NOMEM;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *k = yamldoc_node(rd, list->data.mapping.pairs.start[i].key);
		yaml_node_t *v = yamldoc_node(rd, list->data.mapping.pairs.start[i].value);
		char buf[80];
		if (!k || !v)
			return HQ_E_CONFIG;
		if (!is_text(k) || !name_valid(scalar_text(k), k->data.scalar.length))
			return yamldoc_fail(
			    rd, k, "agents",
			    "agent names must be 1-64 letters, digits, '.', '-' or '_', not %s",
			    shown(k, buf, sizeof(buf)));
		const char *name = scalar_text(k);
		for (size_t j = 0; j < i; j++)
			if (strcmp(t->agents[j].name, name) == 0)
				return yamldoc_fail(rd, k, "agents",
						    "duplicate agent '%s' (first on line %d)", name,
						    t->agents[j].line);
		struct agent *a = &t->agents[i];
		t->n = i + 1;
		a->line = (int)k->start_mark.line + 1;
		if (!(a->name = strdup(name)))
			return HQ_E_NOMEM;
		char where[96];
		snprintf(where, sizeof(where), "agents.%s", name);
		int r = parse_agent(rd, v, where, a);
		if (r < 0)
			return r;
	}
	return 0;
}

int agent_table_parse(const char *text, size_t len, const char *filename, struct agent_table **ret,
		      char *err, size_t err_size)
{
	if (err_size)
		err[0] = '\0';
	struct yamldoc rd;
	int r = yamldoc_load(&rd, text, len, filename, err, err_size);
	if (r < 0)
		return r;
	struct agent_table *t = calloc(1, sizeof(*t));
	r = t ? 0 : HQ_E_NOMEM;
	yaml_node_t *root = yaml_document_get_root_node(&rd.doc);
	if (r == 0 && root && root->type == YAML_MAPPING_NODE)
		r = parse_agents(&rd, root, t);
	yamldoc_release(&rd);
	if (r == HQ_E_CONFIG && !err[0])
		snprintf(err, err_size, "%s: agents: malformed document", filename);
	if (r < 0) {
		agent_table_free(t);
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

void agent_table_free(struct agent_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		struct agent *a = &t->agents[i];
		free(a->name);
		strv_free(a->command);
		strv_free(a->env);
		for (size_t j = 0; j < a->n_set_env; j++) {
			free(a->set_env[j].name);
			free(a->set_env[j].value);
		}
		free(a->set_env);
		free(a->cwd);
	}
	free(t->agents);
	free(t);
}

const struct agent *agent_find(const struct agent_table *t, const char *name)
{
	for (size_t i = 0; t && name && i < t->n; i++)
		if (strcmp(t->agents[i].name, name) == 0)
			return &t->agents[i];
	return NULL;
}

static const char *var_value(const struct agent_vars *v, int i)
{
	const char *s = NULL;
	if (v) {
		switch (i) {
		case PH_WORKER:
			s = v->worker;
			break;
		case PH_TASK_ID:
			s = v->task_id;
			break;
		case PH_REPOSITORY:
			s = v->repository;
			break;
		case PH_WORKSPACE:
			s = v->workspace;
			break;
		}
	}
	return s ? s : "";
}

/* One pass over tpl: counts the rendered length into *len and, when out
 * is not NULL, writes the text there (no terminator). Values are copied,
 * never scanned, so a value holding "{{worker}}" stays as it is. */
static int render_pass(const char *tpl, const struct agent_vars *v, char *out, size_t *len)
{
	size_t n = 0, pos = 0;
	struct placeholder p;
	int k;
	while ((k = placeholder_next(tpl, pos, &p)) > 0) {
		int i = placeholder_index(&p);
		if (i < 0)
			return HQ_E_INVAL;
		const char *val = var_value(v, i);
		size_t lit = p.start - pos, vl = strlen(val);
		if (lit > AGENT_RENDER_MAX - n)
			return HQ_E_TOOBIG;
		if (out)
			memcpy(out + n, tpl + pos, lit);
		n += lit;
		if (vl > AGENT_RENDER_MAX - n)
			return HQ_E_TOOBIG;
		if (out)
			memcpy(out + n, val, vl);
		n += vl;
		pos = p.end;
	}
	if (k < 0)
		return HQ_E_INVAL;
	size_t rest = strlen(tpl + pos);
	if (rest > AGENT_RENDER_MAX - n)
		return HQ_E_TOOBIG;
	if (out)
		memcpy(out + n, tpl + pos, rest);
	*len = n + rest;
	return 0;
}

static int render(const char *tpl, const struct agent_vars *v, char **ret)
{
	size_t len;
	int r = render_pass(tpl, v, NULL, &len);
	if (r < 0)
		return r;
	char *s = malloc(len + 1);
	if (!s)
		return HQ_E_NOMEM;
	render_pass(tpl, v, s, &len);
	s[len] = '\0';
	*ret = s;
	return 0;
}

int agent_argv_render(const struct agent *a, const struct agent_vars *v, char ***ret_argv)
{
	if (!a->command || a->n_command == 0)
		return HQ_E_INVAL;
	char **argv = calloc(a->n_command + 1, sizeof(*argv));
	if (!argv)
		return HQ_E_NOMEM;
	for (size_t i = 0; i < a->n_command; i++) {
		int r = render(a->command[i], v, &argv[i]);
		if (r < 0) {
			agent_argv_free(argv);
			return r;
		}
	}
	*ret_argv = argv;
	return 0;
}

void agent_argv_free(char **argv)
{
	strv_free(argv);
}

int agent_cwd_render(const struct agent *a, const struct agent_vars *v, char **ret)
{
	if (!a->cwd) {
		*ret = NULL;
		return 0;
	}
	return render(a->cwd, v, ret);
}
