/* route: the static routes of hookq.yaml — which provider's events, which
 * commands ("@agent fix ...": name, aliases, agent, prompt template), the
 * default command, and triggers (an event type such as issues.opened, with
 * conditions and a priority). Parsed and validated as a whole, with
 * file:line:column errors, before anything runs; a table is immutable
 * once built, so a reload swaps tables. Pure: the YAML text comes in. */
#ifndef HOOKQ_CORE_ROUTE_H
#define HOOKQ_CORE_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/condition.h"
#include "core/template.h"

#define ROUTE_NAME_MAX 64
#define ROUTE_MAX_ROUTES 64
#define ROUTE_MAX_COMMANDS 64
#define ROUTE_MAX_TRIGGERS 64
#define ROUTE_DEFAULT_PRIORITY 100

struct route_command {
	char *name;
	char **aliases; /* NULL-terminated */
	char *agent;
	char *prompt_text;
	struct template *prompt;
	int line;
};

struct route_trigger {
	char *on;	   /* "issues.opened", or "issues.*" */
	char *command;	   /* a command of the route, or NULL */
	char *agent;	   /* without a command */
	char *prompt_text; /* without a command */
	struct template *prompt;
	struct condition *conditions; /* NULL: always */
	long priority;		      /* lower first */
	int line;
};

struct route {
	char *name;
	char *provider;
	/* Its own endpoint ("/webhooks/team-a") with its own secret, named by
	 * an environment variable or a file (never inline); NULL: the route
	 * reads the provider's endpoint. */
	char *endpoint;
	char *secret_env, *secret_file;
	char *command_prefix; /* NULL: no commands */
	char *default_command;
	struct route_command *commands;
	size_t n_commands;
	struct route_trigger *triggers; /* sorted by priority, then file order */
	size_t n_triggers;
	/* What the route's events are about (their flow key), rendered from
	 * the payload ("acme:{{ticket.id}}"); NULL: what the provider's
	 * payload says (github:owner/repo#12, ...). */
	char *external_id_text;
	struct template *external_id;
	int line;
};

struct route_table {
	struct route *routes;
	size_t n;
};

/* Reads the top-level "routes" list of a YAML document (no list: an
 * empty table). providers names the providers that exist (NULL-terminated).
 * HQ_E_CONFIG with "file:line:col: routes[i]....: what" in err. */
int route_table_parse(const char *text, size_t len, const char *filename,
		      const char *const *providers, struct route_table **ret, char *err,
		      size_t err_size);
void route_table_free(struct route_table *t);

struct agent_table;

/* Every agent the routes name is defined in agents (when it defines any:
 * without agents, tasks wait unrun). HQ_E_CONFIG with "file:line: routes:
 * NAME: command 'fix': no agent 'x' is defined under agents" in err. */
int route_table_check_agents(const struct route_table *t, const struct agent_table *agents,
			     const char *filename, char *err, size_t err_size);

/* Whether an event type matches a trigger's "on" ("issues.*" matches
 * every issues.<action>; "*" matches everything). */
bool route_type_matches(const char *on, const char *type);

#endif
