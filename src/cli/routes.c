/* routes: `hookq routes check` validates the static routes of a
 * configuration file without starting anything, lists what they do, and
 * with a sample payload renders every template to report the variables
 * that payload does not have. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/agent.h"
#include "core/config.h"
#include "core/route.h"
#include "providers/provider.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/file.h"

#define ROUTES_FILE_MAX (1024 * 1024)
#define PAYLOAD_MAX (32 * 1024 * 1024)

void cli_routes_help(FILE *out)
{
	fputs("Usage: hookq routes check [--config FILE] [--payload FILE]\n"
	      "\n"
	      "Validates the routes of the configuration file (and the rest of it) as\n"
	      "hookq serve would, without starting anything, and lists each route's\n"
	      "commands and triggers with the variables their templates use. With\n"
	      "--payload, renders every template against that JSON payload (a sample\n"
	      "webhook body) and names each variable the payload does not have: such a\n"
	      "variable renders empty.\n"
	      "\n"
	      "Options:\n"
	      "  --config FILE    the configuration file (env HOOKQ_CONFIG)\n"
	      "  --payload FILE   a sample JSON payload to render the templates with\n"
	      "  -h, --help       show this help\n"
	      "\n"
	      "Exit codes: 0 valid, 1 a template uses a variable the payload lacks,\n"
	      "2 usage error, 78 invalid configuration.\n",
	      out);
}

/* Reads a whole file; prints why and returns < 0 when it cannot. */
static int read_all(const char *what, const char *path, size_t max, struct buf *out)
{
	buf_init(out, max);
	int r = file_read(path, out);
	if (r < 0) {
		fprintf(stderr, "hookq routes: cannot read %s '%s': %s\n", what, path,
			r == HQ_E_TOOBIG ? "too large" : strerror(errno));
		buf_release(out);
	}
	return r;
}

static void print_variables(const struct template *t)
{
	size_t n = template_variable_count(t);
	if (n == 0) {
		printf("; no variables\n");
		return;
	}
	printf("; variables:");
	for (size_t i = 0; i < n; i++)
		printf("%s %s", i ? "," : "", template_variable(t, i));
	printf("\n");
}

/* Names and counts the variables of t that payload does not have. */
static size_t check_render(const char *where, const struct template *t, const json_t *payload)
{
	size_t missing = 0;
	for (size_t i = 0; i < template_variable_count(t); i++) {
		if (!template_variable_found(t, i, payload)) {
			printf("  %s: the payload has no '%s' (it renders empty)\n", where,
			       template_variable(t, i));
			missing++;
		}
	}
	return missing;
}

static size_t report_routes(const struct route_table *t, const json_t *payload)
{
	size_t missing = 0;
	char where[160];
	for (size_t i = 0; i < t->n; i++) {
		const struct route *r = &t->routes[i];
		printf("route %s (provider %s, line %d)\n", r->name, r->provider, r->line);
		if (r->n_commands)
			printf("  commands, after %s%s%s:\n", r->command_prefix,
			       r->default_command ? "; default " : "",
			       r->default_command ? r->default_command : "");
		for (size_t j = 0; j < r->n_commands; j++) {
			const struct route_command *c = &r->commands[j];
			printf("    %s", c->name);
			for (char **a = c->aliases; a && *a; a++)
				printf("%s%s%s", a == c->aliases ? " (" : ", ", *a, a[1] ? "" : ")");
			printf(" -> agent %s", c->agent);
			print_variables(c->prompt);
			snprintf(where, sizeof(where), "routes[%zu].commands[%zu].prompt", i, j);
			if (payload)
				missing += check_render(where, c->prompt, payload);
		}
		if (r->n_triggers)
			printf("  triggers, in order:\n");
		for (size_t j = 0; j < r->n_triggers; j++) {
			const struct route_trigger *g = &r->triggers[j];
			printf("    %-6ld %s -> ", g->priority, g->on);
			if (g->command)
				printf("command %s%s\n", g->command, g->conditions ? " (with conditions)" : "");
			else {
				printf("agent %s%s", g->agent, g->conditions ? " (with conditions)" : "");
				print_variables(g->prompt);
				snprintf(where, sizeof(where), "routes[%zu].triggers[%zu].prompt", i, j);
				if (payload)
					missing += check_render(where, g->prompt, payload);
			}
		}
	}
	return missing;
}

static int check(const char *config_path, const char *payload_path)
{
	if (!config_path) {
		fprintf(stderr, "hookq routes: no configuration file: give --config FILE or set "
				"HOOKQ_CONFIG\n");
		return CLI_EXIT_USAGE;
	}
	struct buf text;
	if (read_all("configuration", config_path, ROUTES_FILE_MAX, &text) < 0)
		return CLI_EXIT_CONFIG;
	/* The rest of the file is checked too: serve reads it whole. */
	struct config cfg;
	config_init(&cfg);
	struct config_error cerr;
	int r = config_load_yaml(&cfg, text.data ? text.data : "", text.len, config_path, &cerr);
	config_release(&cfg);
	if (r < 0) {
		fprintf(stderr, "hookq: %s\n", cerr.msg);
		buf_release(&text);
		return CLI_EXIT_CONFIG;
	}
	const char *names[16];
	size_t n = 0;
	for (const struct provider *const *p = provider_all; *p && n < 15; p++)
		names[n++] = (*p)->name;
	names[n] = NULL;
	struct route_table *t = NULL;
	char err[512];
	r = route_table_parse(text.data ? text.data : "", text.len, config_path, names, &t, err,
			      sizeof(err));
	struct agent_table *agents = NULL;
	if (r == 0)
		r = agent_table_parse(text.data ? text.data : "", text.len, config_path, &agents,
				      err, sizeof(err));
	if (r == 0)
		r = route_table_check_agents(t, agents, config_path, err, sizeof(err));
	buf_release(&text);
	size_t n_agents = agents ? agents->n : 0;
	agent_table_free(agents);
	if (r < 0) {
		route_table_free(t);
		fprintf(stderr, "hookq: %s\n", err);
		return CLI_EXIT_CONFIG;
	}
	json_t *payload = NULL;
	if (payload_path) {
		struct buf p;
		if (read_all("payload", payload_path, PAYLOAD_MAX, &p) < 0) {
			route_table_free(t);
			return CLI_EXIT_FAILURE;
		}
		json_error_t jerr;
		payload = json_loadb(p.data ? p.data : "", p.len, 0, &jerr);
		buf_release(&p);
		if (!payload) {
			fprintf(stderr, "hookq routes: %s:%d:%d: %s\n", payload_path, jerr.line,
				jerr.column, jerr.text);
			route_table_free(t);
			return CLI_EXIT_FAILURE;
		}
	}
	printf("%s: %zu route%s, %zu agent%s\n", config_path, t->n, t->n == 1 ? "" : "s",
	       n_agents, n_agents == 1 ? "" : "s");
	size_t missing = report_routes(t, payload);
	route_table_free(t);
	json_decref(payload);
	if (missing) {
		printf("routes: valid; %zu variable%s missing from the payload\n", missing,
		       missing == 1 ? "" : "s");
		return CLI_EXIT_FAILURE;
	}
	printf("routes: valid\n");
	return CLI_EXIT_OK;
}

int cli_routes(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "payload", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sub = argc >= 2 ? argv[1] : "";
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
		cli_routes_help(stdout);
		return CLI_EXIT_OK;
	}
	if (strcmp(sub, "check") != 0) {
		fprintf(stderr, "hookq routes: say check\nTry 'hookq routes --help'.\n");
		return CLI_EXIT_USAGE;
	}
	argc--;
	argv++;
	const char *config_path = getenv("HOOKQ_CONFIG");
	const char *payload = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 'p':
			payload = optarg;
			break;
		case 'h':
			cli_routes_help(stdout);
			return CLI_EXIT_OK;
		default:
			fputs("Try 'hookq routes --help'.\n", stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "hookq routes check: unexpected argument '%s'\n", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	return check(config_path, payload);
}
