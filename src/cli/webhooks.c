/* webhooks: `hookq webhooks ...` manages the dynamic webhooks through the
 * webhooks API (engine/admin), on the database (--db) or a running server
 * (--url); `export` writes them as static routes for hookq.yaml, the way
 * from run-time configuration to version-controlled configuration. */
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/target.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/file.h"

#define SECRET_MAX 1024

void cli_webhooks_help(FILE *out)
{
	fputs("Usage: hookq webhooks list | show ID | export\n"
	      "       hookq webhooks create --provider P [--name N] [--secret-file F] [--disabled]\n"
	      "       hookq webhooks update ID [--name N] [--secret-file F]\n"
	      "       hookq webhooks enable ID | disable ID | delete ID\n"
	      "       hookq webhooks add-command ID --trigger T [--action A] [--agent X]\n"
	      "                      [--template T] [--conditions JSON] [--priority N]\n"
	      "       hookq webhooks remove-command ID CMD\n"
	      "       (each with [--db PATH | --url URL] [--json])\n"
	      "\n"
	      "Dynamic webhooks: endpoints POST /webhooks/<provider>/<id> with their own\n"
	      "secret and commands, changed without a restart. The secret is read from\n"
	      "--secret-file or the environment variable HOOKQ_WEBHOOK_SECRET, never from\n"
	      "the command line, and is never shown. export prints the webhooks as static\n"
	      "routes (YAML) to move them into hookq.yaml.\n"
	      "\n"
	      "Options:\n"
	      "  --provider P       github, gitlab, slack, sentry, jira, linear, stripe,\n"
	      "                     standard or generic\n"
	      "  --trigger T        event type: issues.opened, issues.*, *\n"
	      "  --action A         create_task (default), comment or ignore\n"
	      "  --conditions JSON  a condition on the payload (docs/configuration.md)\n"
	      "  --priority N       0-1000000, lower first (default 100)\n"
	      "  --db PATH          act on the database directly (env HOOKQ_DB)\n"
	      "  --url URL          ask a running server (ADMIN_USERNAME, ADMIN_PASSWORD)\n"
	      "  --json             print the API's JSON\n"
	      "  -h, --help         show this help\n"
	      "\n"
	      "Exit codes: 0 success, 1 failure, 2 usage error (or a value the API refuses).\n",
	      out);
}

struct wopts {
	const char *db, *url, *provider, *name, *secret_file, *trigger, *action, *agent,
		*template_text, *conditions, *priority;
	bool json, disabled;
};

static int request(struct cli_target *t, const char *method, const char *path, json_t *body,
		   json_t **doc)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	long status = 0;
	char *answer = NULL;
	int r = cli_target_admin(t, method, path, NULL, 0, text, &status, &answer);
	free(text);
	if (r < 0)
		return CLI_EXIT_FAILURE;
	if (status < 200 || status > 299) {
		cli_target_print_error(t, answer);
		free(answer);
		return status == 400 ? CLI_EXIT_USAGE : CLI_EXIT_FAILURE;
	}
	*doc = json_loads(answer, 0, NULL);
	free(answer);
	if (!*doc) {
		fprintf(stderr, "%s: the answer is not JSON\n", t->cmd);
		return CLI_EXIT_FAILURE;
	}
	return CLI_EXIT_OK;
}

static void print_webhook(json_t *w)
{
	char a[128], b[128];
	printf("webhook %s  %s\n", cli_cell(cli_txt(w, "id"), 64, a, sizeof(a)),
	       json_is_true(json_object_get(w, "enabled")) ? "enabled" : "DISABLED");
	printf("  %-10s %s\n", "provider", cli_cell(cli_txt(w, "provider"), 64, a, sizeof(a)));
	printf("  %-10s %s\n", "name", cli_cell(cli_txt(w, "name"), 100, b, sizeof(b)));
	printf("  %-10s %s\n", "endpoint", cli_cell(cli_txt(w, "endpoint"), 120, a, sizeof(a)));
	printf("  %-10s %s\n", "secret",
	       json_is_true(json_object_get(w, "has_secret")) ? "set" : "NONE (dev mode only)");
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(w, "commands"), i, c) {
		char tr[64], ag[64], tp[160];
		printf("  %-8lld %-22s %-11s %-14s %s%s\n",
		       (long long)json_integer_value(json_object_get(c, "priority")),
		       cli_cell(cli_txt(c, "trigger"), 22, tr, sizeof(tr)), cli_txt(c, "action"),
		       cli_cell(cli_txt(c, "agent"), 14, ag, sizeof(ag)),
		       cli_cell(cli_txt(c, "template"), 80, tp, sizeof(tp)),
		       json_is_null(json_object_get(c, "conditions")) ? "" : "  (conditions)");
		printf("           %s\n", cli_txt(c, "id"));
	}
}

/* A YAML scalar: JSON's quoting is valid YAML. */
static void yaml_scalar(const char *s)
{
	json_t *v = json_string(s);
	char *text = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;
	printf("%s", text ? text : "\"\"");
	free(text);
	json_decref(v);
}

static void export_yaml(json_t *doc)
{
	printf("# hookq webhooks export: the dynamic webhooks as static routes for\n"
	       "# hookq.yaml. Secrets are not exported: a static route uses its\n"
	       "# provider's endpoint and secret (docs/configuration.md).\n"
	       "routes:\n");
	size_t i;
	json_t *w;
	json_array_foreach(json_object_get(doc, "webhooks"), i, w) {
		/* A route name from the webhook's name, else its id. */
		/* 55 characters, "-", 8 of the id: within the 64 a route
		 * name may have. */
		char name[65];
		const char *src = cli_txt(w, "name");
		size_t n = 0;
		for (const char *p = src; *p && n < 55; p++)
			if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_')
				name[n++] = *p;
			else if (*p == ' ' && n > 0 && name[n - 1] != '-')
				name[n++] = '-';
		name[n] = '\0';
		if (!n)
			snprintf(name, sizeof(name), "webhook");
		size_t tasks = 0, k;
		json_t *c;
		json_array_foreach(json_object_get(w, "commands"), k, c)
			tasks += strcmp(cli_txt(c, "action"), "create_task") == 0;
		printf("  # from webhook %s%s\n", cli_txt(w, "id"),
		       json_is_true(json_object_get(w, "enabled")) ? "" : " (disabled)");
		if (!tasks) {
			printf("  # (no create_task command: nothing to export)\n");
			continue;
		}
		const char *wid = cli_txt(w, "id");
		printf("  - name: %.55s-%.8s\n    provider: %s\n    triggers:\n", name,
		       strlen(wid) > 3 ? wid + 3 : wid, cli_txt(w, "provider"));
		json_array_foreach(json_object_get(w, "commands"), k, c) {
			if (strcmp(cli_txt(c, "action"), "create_task") != 0) {
				printf("      # %s (%s) has no static equivalent yet\n",
				       cli_txt(c, "id"), cli_txt(c, "action"));
				continue;
			}
			printf("      - on: ");
			yaml_scalar(cli_txt(c, "trigger"));
			printf("\n        agent: ");
			yaml_scalar(cli_txt(c, "agent"));
			printf("\n        prompt: ");
			yaml_scalar(cli_txt(c, "template"));
			printf("\n        priority: %lld\n",
			       (long long)json_integer_value(json_object_get(c, "priority")));
			json_t *cond = json_object_get(c, "conditions");
			if (cond && !json_is_null(cond)) {
				char *text = json_dumps(cond, JSON_COMPACT);
				printf("        conditions: %s\n", text ? text : "null");
				free(text);
			}
		}
	}
}

/* The secret from --secret-file or HOOKQ_WEBHOOK_SECRET: never argv, where
 * every user of the machine could read it. */
static int secret_of(const struct wopts *o, const char *cmd, json_t *body)
{
	if (o->secret_file) {
		struct buf b;
		buf_init(&b, SECRET_MAX + 2);
		if (file_read(o->secret_file, &b) < 0) {
			fprintf(stderr, "%s: cannot read --secret-file '%s'\n", cmd, o->secret_file);
			buf_release(&b);
			return -1;
		}
		while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
			b.data[--b.len] = '\0';
		json_object_set_new(body, "secret", json_stringn(b.data ? b.data : "", b.len));
		buf_release(&b);
		return 0;
	}
	const char *env = getenv("HOOKQ_WEBHOOK_SECRET");
	if (env && *env)
		json_object_set_new(body, "secret", json_string(env));
	return 0;
}

static int need_id(int argc, char **argv, int want, const char *cmd)
{
	if (argc - optind == want)
		return 0;
	fprintf(stderr, "%s: %s\nTry 'hookq webhooks --help'.\n", cmd,
		argc - optind < want ? "missing id" : "unexpected argument");
	return -1;
}

int cli_webhooks(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "url", required_argument, NULL, 'u' },
		{ "json", no_argument, NULL, 'j' },
		{ "provider", required_argument, NULL, 'p' },
		{ "name", required_argument, NULL, 'n' },
		{ "secret-file", required_argument, NULL, 's' },
		{ "disabled", no_argument, NULL, 'D' },
		{ "trigger", required_argument, NULL, 't' },
		{ "action", required_argument, NULL, 'a' },
		{ "agent", required_argument, NULL, 'g' },
		{ "template", required_argument, NULL, 'T' },
		{ "conditions", required_argument, NULL, 'c' },
		{ "priority", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sub = argc >= 2 ? argv[1] : "";
	if (!*sub || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 ||
	    strcmp(sub, "help") == 0) {
		cli_webhooks_help(*sub ? stdout : stderr);
		return *sub ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	}
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "hookq webhooks %.40s", sub);
	argv[1] = cmd;
	argc--;
	argv++;
	struct wopts o;
	memset(&o, 0, sizeof(o));
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': o.db = optarg; break;
		case 'u': o.url = optarg; break;
		case 'j': o.json = true; break;
		case 'p': o.provider = optarg; break;
		case 'n': o.name = optarg; break;
		case 's': o.secret_file = optarg; break;
		case 'D': o.disabled = true; break;
		case 't': o.trigger = optarg; break;
		case 'a': o.action = optarg; break;
		case 'g': o.agent = optarg; break;
		case 'T': o.template_text = optarg; break;
		case 'c': o.conditions = optarg; break;
		case 'P': o.priority = optarg; break;
		case 'h':
			cli_webhooks_help(stdout);
			return CLI_EXIT_OK;
		default:
			fputs("Try 'hookq webhooks --help'.\n", stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (o.db && o.url) {
		fprintf(stderr, "%s: --db and --url exclude each other\n", cmd);
		return CLI_EXIT_USAGE;
	}
	struct cli_target t = { .cmd = cmd, .db = o.db, .url = o.url };
	char path[200];
	json_t *doc = NULL, *body = NULL;
	int r;
	if (strcmp(sub, "list") == 0 || strcmp(sub, "export") == 0) {
		if (need_id(argc, argv, 0, cmd) < 0)
			return CLI_EXIT_USAGE;
		r = request(&t, "GET", "/api/webhooks", NULL, &doc);
	} else if (strcmp(sub, "create") == 0) {
		if (need_id(argc, argv, 0, cmd) < 0)
			return CLI_EXIT_USAGE;
		body = json_object();
		if (o.provider)
			json_object_set_new(body, "provider", json_string(o.provider));
		if (o.name)
			json_object_set_new(body, "name", json_string(o.name));
		if (o.disabled)
			json_object_set_new(body, "enabled", json_false());
		if (secret_of(&o, cmd, body) < 0) {
			json_decref(body);
			return CLI_EXIT_FAILURE;
		}
		r = request(&t, "POST", "/api/webhooks", body, &doc);
	} else if (strcmp(sub, "add-command") == 0) {
		if (need_id(argc, argv, 1, cmd) < 0)
			return CLI_EXIT_USAGE;
		body = json_object();
		if (o.trigger)
			json_object_set_new(body, "trigger", json_string(o.trigger));
		if (o.action)
			json_object_set_new(body, "action", json_string(o.action));
		if (o.agent)
			json_object_set_new(body, "agent", json_string(o.agent));
		if (o.template_text)
			json_object_set_new(body, "template", json_string(o.template_text));
		if (o.priority) {
			char *end = NULL;
			long long p = strtoll(o.priority, &end, 10);
			json_object_set_new(body, "priority",
					    *o.priority && !*end ? json_integer(p) : json_string(o.priority));
		}
		if (o.conditions) {
			json_error_t jerr;
			json_t *cond = json_loads(o.conditions, JSON_DECODE_ANY, &jerr);
			if (!cond) {
				fprintf(stderr, "%s: --conditions is not JSON: %s\n", cmd, jerr.text);
				json_decref(body);
				return CLI_EXIT_USAGE;
			}
			json_object_set_new(body, "conditions", cond);
		}
		snprintf(path, sizeof(path), "/api/webhooks/%.64s/commands", argv[optind]);
		r = request(&t, "POST", path, body, &doc);
	} else if (strcmp(sub, "remove-command") == 0) {
		if (need_id(argc, argv, 2, cmd) < 0)
			return CLI_EXIT_USAGE;
		snprintf(path, sizeof(path), "/api/webhooks/%.64s/commands/%.64s", argv[optind],
			 argv[optind + 1]);
		r = request(&t, "DELETE", path, NULL, &doc);
	} else if (strcmp(sub, "show") == 0 || strcmp(sub, "delete") == 0 ||
		   strcmp(sub, "enable") == 0 || strcmp(sub, "disable") == 0 ||
		   strcmp(sub, "update") == 0) {
		if (need_id(argc, argv, 1, cmd) < 0)
			return CLI_EXIT_USAGE;
		snprintf(path, sizeof(path), "/api/webhooks/%.64s%s", argv[optind],
			 strcmp(sub, "enable") == 0 ? "/enable" : strcmp(sub, "disable") == 0 ? "/disable" : "");
		if (strcmp(sub, "update") == 0) {
			body = json_object();
			if (o.name)
				json_object_set_new(body, "name", json_string(o.name));
			if (secret_of(&o, cmd, body) < 0) {
				json_decref(body);
				return CLI_EXIT_FAILURE;
			}
			r = request(&t, "PUT", path, body, &doc);
		} else {
			r = request(&t, strcmp(sub, "show") == 0 ? "GET" : strcmp(sub, "delete") == 0 ? "DELETE" : "POST",
				    path, NULL, &doc);
		}
	} else {
		fprintf(stderr, "hookq webhooks: unknown subcommand '%.40s'\nTry 'hookq webhooks --help'.\n",
			sub);
		return CLI_EXIT_USAGE;
	}
	if (r != CLI_EXIT_OK)
		return r;
	if (o.json) {
		char *text = json_dumps(doc, JSON_COMPACT);
		printf("%s\n", text ? text : "null");
		free(text);
	} else if (strcmp(sub, "export") == 0) {
		export_yaml(doc);
	} else if (strcmp(sub, "list") == 0) {
		size_t i;
		json_t *w;
		printf("%-20s %-9s %-24s %-9s %-7s %s\n", "ID", "PROVIDER", "NAME", "STATE", "SECRET",
		       "COMMANDS");
		json_array_foreach(json_object_get(doc, "webhooks"), i, w) {
			char nm[64];
			printf("%-20s %-9s %-24s %-9s %-7s %zu\n", cli_txt(w, "id"),
			       cli_txt(w, "provider"),
			       cli_cell(cli_txt(w, "name"), 24, nm, sizeof(nm)),
			       json_is_true(json_object_get(w, "enabled")) ? "enabled" : "disabled",
			       json_is_true(json_object_get(w, "has_secret")) ? "set" : "none",
			       json_array_size(json_object_get(w, "commands")));
		}
	} else if (json_object_get(doc, "deleted")) {
		printf("webhook %s deleted\n", cli_txt(doc, "deleted"));
	} else {
		print_webhook(doc);
	}
	json_decref(doc);
	return CLI_EXIT_OK;
}
