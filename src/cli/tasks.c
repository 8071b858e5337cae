/* tasks, flows, workers: the operator's commands over agent tasks. Each
 * is an admin API request (engine/admin_task) sent to a running server
 * (--url) or answered on the database itself (--db); people get tables
 * and trees, scripts get the API's JSON with --json. */
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/target.h"

/* What `tasks show` prints of an agent's output: the end, where the
 * answer or the error is; --json has all that is stored. */
#define OUTPUT_TAIL (16 * 1024)
/* Deeper follow-up chains are still listed, but no further indented. */
#define TREE_INDENT_MAX 16

/* After cli/target's --db, --url and --json. */
enum {
	OPT_STATUS = 1 << 3,
	OPT_FLOW = 1 << 4,
	OPT_AGENT = 1 << 5,
	OPT_WORKER = 1 << 6,
	OPT_EVENT = 1 << 7,
	OPT_PARENT = 1 << 8,
	OPT_LIMIT = 1 << 9,
	OPT_CURSOR = 1 << 10,
};
#define OPT_FILTER                                                                           \
	(OPT_STATUS | OPT_FLOW | OPT_AGENT | OPT_WORKER | OPT_EVENT | OPT_PARENT | OPT_LIMIT | \
	 OPT_CURSOR)

/* The list filters: OPT_STATUS and the options after it. */
#define N_FILTERS 8

static const struct option long_opts[] = {
	{ "db", required_argument, NULL, 'd' },
	{ "url", required_argument, NULL, 'u' },
	{ "json", no_argument, NULL, 'j' },
	{ "status", required_argument, NULL, 's' },
	{ "flow", required_argument, NULL, 'f' },
	{ "agent", required_argument, NULL, 'a' },
	{ "worker", required_argument, NULL, 'w' },
	{ "event", required_argument, NULL, 'e' },
	{ "parent", required_argument, NULL, 'p' },
	{ "limit", required_argument, NULL, 'l' },
	{ "cursor", required_argument, NULL, 'c' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};
/* The option letters in the order of the OPT_ bits. */
static const char opt_letters[] = "dujsfaweplc";
/* The API's parameter for each filter, from OPT_STATUS on. */
static const char *const filter_params[N_FILTERS] = { "status",	  "flow_id",   "agent", "worker",
						      "event_id", "parent_id", "limit", "cursor" };

void cli_tasks_help(FILE *out)
{
	fprintf(out,
		"Usage: hookq tasks list [--status S] [--flow F] [--agent A] [--worker W]\n"
		"                        [--event ID] [--parent ID] [--limit N] [--cursor C]\n"
		"       hookq tasks show ID\n"
		"       hookq tasks cancel ID\n"
		"       hookq tasks retry ID\n"
		"       (each with [--db PATH | --url URL] [--json])\n"
		"\n"
		"Lists agent tasks newest first, shows one (its fields, prompt, the end of\n"
		"its output and its attempts), cancels one (at once while queued; a running\n"
		"agent is stopped), or queues a failed, timed out, cancelled or dead-lettered\n"
		"task again with its attempts granted anew.\n"
		"\n"
		"Options:\n"
		"  --status S         queued, running, succeeded, failed, timed_out, cancelled\n"
		"                     or dead_letter\n"
		"  --flow F           only this flow's tasks (flow-0123456789ab)\n"
		"  --agent A          only this agent's tasks\n"
		"  --worker W         only the tasks this worker ran\n"
		"  --event ID         only the tasks of this event (hookq test prints it)\n"
		"  --parent ID        only the follow-up tasks of this task\n"
		"  --limit N          tasks per page, 1-%d (default %d)\n"
		"  --cursor C         the next page: the cursor the previous page printed\n"
		"%s"
		"  -h, --help         show this help\n"
		"\n"
		"Exit codes: 0 success, 1 failure (no such task, a task in a state that does\n"
		"not allow it, store or server unreachable), 2 usage error.\n",
		ADMIN_LIST_MAX, ADMIN_LIST_DEFAULT, cli_where_help);
}

void cli_flows_help(FILE *out)
{
	fprintf(out,
		"Usage: hookq flows show FLOW [--db PATH | --url URL] [--json]\n"
		"\n"
		"Shows a flow (the tasks of one issue, pull request or test) as a tree: each\n"
		"conversation, oldest first, with its counts, and its tasks with their\n"
		"follow-up tasks indented under them.\n"
		"\n"
		"Options:\n"
		"%s"
		"  -h, --help         show this help\n"
		"\n"
		"Exit codes: 0 success, 1 failure (no such flow, store or server unreachable),\n"
		"2 usage error.\n",
		cli_where_help);
}

void cli_workers_help(FILE *out)
{
	fputs("Usage: hookq workers [--url URL] [--json]\n"
	      "\n"
	      "Lists the workers of a running server: the pools each serves (main, ci),\n"
	      "whether it is idle or running a task, and the projects it has claimed.\n"
	      "Workers live in the server, so a database alone cannot answer (--db fails).\n"
	      "\n"
	      "Options:\n"
	      "  --url URL          the server, with HTTP Basic from ADMIN_USERNAME\n"
	      "                     (default admin) and ADMIN_PASSWORD\n"
	      "  --json             print the admin API's JSON instead of a table\n"
	      "  --db PATH          accepted for symmetry; fails, saying to use --url\n"
	      "  -h, --help         show this help\n"
	      "\n"
	      "Exit codes: 0 success, 1 failure (no server, no agents configured),\n"
	      "2 usage error.\n",
	      out);
}

#define cell cli_cell

static void print_list(json_t *doc)
{
	json_t *tasks = json_object_get(doc, "tasks");
	if (json_array_size(tasks) == 0) {
		printf("no tasks\n");
		return;
	}
	printf("%-8s %-11s %-12s %-12s %-17s %-19s  %s\n", "ID", "STATUS", "AGENT", "WORKER",
	       "FLOW", "CREATED (UTC)", "TITLE");
	size_t i;
	json_t *e;
	json_array_foreach(tasks, i, e) {
		char a[32], b[32], c[32], d[32], ti[96], t[24];
		printf("%-8lld %-11s %-12s %-12s %-17s %-19s  %s\n", cli_int_at(e, "id"),
		       cell(cli_str_at(e, "status"), 11, a, sizeof(a)),
		       cell(cli_str_at(e, "agent"), 12, b, sizeof(b)),
		       cell(cli_str_at(e, "worker"), 12, c, sizeof(c)),
		       cell(cli_str_at(e, "flow_id"), 17, d, sizeof(d)),
		       cli_when(e, "created_at", t, sizeof(t)),
		       cell(cli_str_at(e, "title"), 80, ti, sizeof(ti)));
	}
	const char *next = cli_str_at(doc, "next_cursor");
	if (next) {
		char nx[32];
		printf("more: the same command with --cursor %s\n", cell(next, 24, nx, sizeof(nx)));
	}
}

/* Text that may hold anything (a prompt, an agent's output), kept as
 * lines but without what a terminal must not receive. */
static void print_text(const char *text)
{
	size_t len = strlen(text);
	char *safe = malloc(len + 1);
	if (!safe)
		return;
	fputs(cli_text(text, len, true, safe, len + 1), stdout);
	if (len > 0 && text[len - 1] != '\n')
		putchar('\n');
	free(safe);
}

static void print_task(json_t *e)
{
	char buf[512], t[24], st[32];
	printf("task %lld  %s\n", cli_int_at(e, "id"),
	       cell(cli_txt(e, "status"), 31, st, sizeof(st)));
	cli_print_field("title", cli_str_at(e, "title"));
	snprintf(buf, sizeof(buf), "%s (pool %s)", cli_txt(e, "agent"), cli_txt(e, "pool"));
	cli_print_field("agent", buf);
	snprintf(buf, sizeof(buf), "%s (conversation %s)", cli_txt(e, "flow_id"),
		 cli_txt(e, "conversation_id"));
	cli_print_field("flow", buf);
	cli_print_field("external id", cli_str_at(e, "external_id"));
	if (json_is_integer(json_object_get(e, "parent_task_id"))) {
		snprintf(buf, sizeof(buf), "%lld", cli_int_at(e, "parent_task_id"));
		cli_print_field("parent", buf);
	}
	if (json_is_integer(json_object_get(e, "event_id"))) {
		snprintf(buf, sizeof(buf), "%lld (route %s%s%s)", cli_int_at(e, "event_id"),
			 cli_txt(e, "route"), cli_str_at(e, "command") ? ", command " : "",
			 cli_str_at(e, "command") ? cli_str_at(e, "command") : "");
		cli_print_field("event", buf);
	}
	if (cli_str_at(e, "project"))
		cli_print_field("project", cli_str_at(e, "project"));
	cli_print_field("worker", cli_str_at(e, "worker"));
	snprintf(buf, sizeof(buf), "%lld of %lld (%lld in all)", cli_int_at(e, "attempts"),
		 cli_int_at(e, "max_attempts"), cli_int_at(e, "attempts_total"));
	cli_print_field("attempts", buf);
	snprintf(buf, sizeof(buf), "%lld", cli_int_at(e, "priority"));
	cli_print_field("priority", buf);
	cli_print_field("created", cli_when(e, "created_at", t, sizeof(t)));
	if (cli_str_at(e, "started_at"))
		cli_print_field("started", cli_when(e, "started_at", t, sizeof(t)));
	if (cli_str_at(e, "finished_at"))
		cli_print_field("finished", cli_when(e, "finished_at", t, sizeof(t)));
	if (cli_str_at(e, "next_attempt_at"))
		cli_print_field("next attempt", cli_when(e, "next_attempt_at", t, sizeof(t)));
	if (cli_str_at(e, "lease_expires_at")) {
		snprintf(buf, sizeof(buf), "%s until %s", cli_txt(e, "node"),
			 cli_when(e, "lease_expires_at", t, sizeof(t)));
		cli_print_field("leased by", buf);
	}
	if (json_is_true(json_object_get(e, "cancel_requested")))
		cli_print_field("cancel", "requested");
	if (json_is_integer(json_object_get(e, "exit_code"))) {
		snprintf(buf, sizeof(buf), "%lld", cli_int_at(e, "exit_code"));
		cli_print_field("exit code", buf);
	}
	if (cli_str_at(e, "error"))
		cli_print_field("error", cli_str_at(e, "error"));
	snprintf(buf, sizeof(buf), "%lld bytes", cli_int_at(e, "output_bytes"));
	cli_print_field("output", buf);

	printf("prompt\n");
	print_text(cli_txt(e, "prompt"));
	const char *output = cli_str_at(e, "output");
	if (output && *output) {
		printf("output\n");
		cli_text_tail(stdout, output, OUTPUT_TAIL);
	}
	printf("history\n");
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(e, "history"), i, a) {
		char w[32], err[512], oc[16], code[24] = "";
		if (json_is_integer(json_object_get(a, "exit_code")))
			snprintf(code, sizeof(code), "exit %lld", cli_int_at(a, "exit_code"));
		printf("  #%-3lld %-10s %-19s %-12s %-9s %s\n", cli_int_at(a, "attempt"),
		       cell(cli_txt(a, "outcome"), 10, oc, sizeof(oc)),
		       cli_when(a, "started_at", t, sizeof(t)),
		       cell(cli_txt(a, "worker"), 12, w, sizeof(w)), code,
		       cell(cli_str_at(a, "error") ? cli_str_at(a, "error") : "", sizeof(err) - 1,
			    err, sizeof(err)));
	}
}

/* "#12 succeeded fix: title (worker harry)", then its follow-ups. */
static void print_node(json_t *task, int depth)
{
	char st[32], ti[160], w[80] = "", wn[32];
	if (cli_str_at(task, "worker"))
		snprintf(w, sizeof(w), " (worker %s)",
			 cell(cli_str_at(task, "worker"), 24, wn, sizeof(wn)));
	printf("%*s#%lld %s %s%s\n", 2 + 2 * (depth < TREE_INDENT_MAX ? depth : TREE_INDENT_MAX),
	       "", cli_int_at(task, "id"), cell(cli_txt(task, "status"), 16, st, sizeof(st)),
	       cell(cli_txt(task, "title"), 120, ti, sizeof(ti)), w);
	size_t i;
	json_t *child;
	json_array_foreach(json_object_get(task, "children"), i, child)
		print_node(child, depth + 1);
}

static void print_flow(json_t *f)
{
	char id[32], ext[256];
	printf("flow %s  %s\n", cell(cli_txt(f, "flow_id"), 24, id, sizeof(id)),
	       cell(cli_txt(f, "external_id"), 200, ext, sizeof(ext)));
	size_t i;
	json_t *cv;
	json_array_foreach(json_object_get(f, "conversations"), i, cv) {
		json_t *m = json_object_get(cv, "metrics");
		char cid[40], t[24];
		printf("conversation %s%s  started %s UTC\n",
		       cell(cli_txt(cv, "id"), 32, cid, sizeof(cid)),
		       json_is_true(json_object_get(cv, "current")) ? " (current)" : "",
		       cli_when(cv, "created_at", t, sizeof(t)));
		printf("  %lld tasks: %lld succeeded, %lld failed, %lld cancelled; %lld ms run\n",
		       cli_int_at(m, "tasks"), cli_int_at(m, "succeeded"), cli_int_at(m, "failed"),
		       cli_int_at(m, "cancelled"), cli_int_at(m, "run_ms"));
		size_t k;
		json_t *task;
		json_array_foreach(json_object_get(cv, "tasks"), k, task)
			print_node(task, 0);
	}
	if (json_is_true(json_object_get(f, "tasks_truncated")))
		printf("(only the oldest tasks are shown: hookq tasks list --flow %s has them all)\n",
		       id);
}

static void print_workers(json_t *doc)
{
	json_t *workers = json_object_get(doc, "workers");
	if (json_array_size(workers) == 0) {
		printf("no workers\n");
		return;
	}
	printf("%-16s %-8s %-9s %-8s %-12s %-19s  %s\n", "NAME", "POOLS", "STATE", "TASK", "AGENT",
	       "SINCE (UTC)", "CLAIMS");
	size_t i;
	json_t *w;
	json_array_foreach(workers, i, w) {
		char name[32], state[16], agent[32], task[24] = "-", since[24] = "-";
		char pools[64] = "", claims[512] = "", pools_cell[16], claims_cell[256];
		size_t k;
		json_t *v;
		json_array_foreach(json_object_get(w, "pools"), k, v) {
			const char *p = json_string_value(v);
			snprintf(pools + strlen(pools), sizeof(pools) - strlen(pools), "%s%s",
				 k ? "," : "", p ? p : "?");
		}
		json_array_foreach(json_object_get(w, "claims"), k, v) {
			const char *p = cli_str_at(v, "project");
			snprintf(claims + strlen(claims), sizeof(claims) - strlen(claims),
				 "%s%s (%lld tasks)", k ? ", " : "", p ? p : "?",
				 cli_int_at(v, "tasks"));
		}
		if (json_is_integer(json_object_get(w, "task_id")))
			snprintf(task, sizeof(task), "%lld", cli_int_at(w, "task_id"));
		json_t *ms = json_object_get(w, "since_ms");
		if (json_is_integer(ms)) {
			/* since_ms is the server's wall clock, milliseconds since 1970. */
			time_t s = (time_t)(json_integer_value(ms) / 1000);
			struct tm tm;
			if (gmtime_r(&s, &tm))
				strftime(since, sizeof(since), "%Y-%m-%d %H:%M:%S", &tm);
		}
		printf("%-16s %-8s %-9s %-8s %-12s %-19s  %s\n",
		       cell(cli_str_at(w, "name"), 16, name, sizeof(name)),
		       cell(pools, 8, pools_cell, sizeof(pools_cell)),
		       cell(cli_str_at(w, "state"), 9, state, sizeof(state)), task,
		       cell(cli_str_at(w, "agent"), 12, agent, sizeof(agent)), since,
		       claims[0] ? cell(claims, 200, claims_cell, sizeof(claims_cell)) : "-");
	}
}

static int run_list(struct cli_target *t, const struct cli_opts *o)
{
	struct admin_param p[N_FILTERS];
	size_t n = 0;
	for (size_t i = 0; i < N_FILTERS; i++) {
		const char *v = cli_opts_arg(o, OPT_STATUS << i);
		if (v)
			p[n++] = (struct admin_param){ filter_params[i], v };
	}
	json_t *doc = NULL;
	int r = cli_target_request(t, "GET", "/api/tasks", p, n, NULL, &doc);
	if (r != CLI_EXIT_OK)
		return r;
	if (o->given & CLI_OPT_JSON)
		cli_print_json(doc);
	else
		print_list(doc);
	json_decref(doc);
	return CLI_EXIT_OK;
}

/* show, cancel or retry one task. */
static int run_one(struct cli_target *t, const struct cli_opts *o, const char *sub, const char *id)
{
	unsigned long long v;
	if (cli_id_parse(t->cmd, "a task id", id, &v) < 0)
		return CLI_EXIT_USAGE;
	bool show = strcmp(sub, "show") == 0;
	char path[64];
	if (show)
		snprintf(path, sizeof(path), "/api/tasks/%llu", v);
	else
		snprintf(path, sizeof(path), "/api/tasks/%llu/%s", v, sub);
	json_t *doc = NULL;
	long status = 0;
	int r = cli_target_request(t, show ? "GET" : "POST", path, NULL, 0, &status, &doc);
	if (r != CLI_EXIT_OK)
		return r;
	if (o->given & CLI_OPT_JSON)
		cli_print_json(doc);
	else if (show)
		print_task(doc);
	else if (strcmp(sub, "retry") == 0)
		printf("task %lld queued again\n", cli_int_at(doc, "id"));
	else if (status == 202)
		printf("task %lld: cancel requested; its agent is being stopped\n",
		       cli_int_at(doc, "id"));
	else
		printf("task %lld cancelled\n", cli_int_at(doc, "id"));
	json_decref(doc);
	return CLI_EXIT_OK;
}

static int run_flow(struct cli_target *t, const struct cli_opts *o, const char *flow)
{
	/* Flow ids are the API's tokens (flow-0123456789ab): anything else
	 * could not name one, and would not survive the trip in a URL path. */
	if (!admin_token_valid(flow)) {
		char shown[64];
		fprintf(stderr, "%s: not a flow id (such as flow-0123456789ab): '%s'\n", t->cmd,
			cell(flow, 40, shown, sizeof(shown)));
		return CLI_EXIT_USAGE;
	}
	char path[128];
	snprintf(path, sizeof(path), "/api/flows/%s", flow);
	json_t *doc = NULL;
	int r = cli_target_request(t, "GET", path, NULL, 0, NULL, &doc);
	if (r != CLI_EXIT_OK)
		return r;
	if (o->given & CLI_OPT_JSON)
		cli_print_json(doc);
	else
		print_flow(doc);
	json_decref(doc);
	return CLI_EXIT_OK;
}

int cli_tasks(int argc, char **argv)
{
	char name[64];
	const char *sub = argc >= 2 ? argv[1] : "";
	if (cli_is_help(sub)) {
		cli_tasks_help(stdout);
		return CLI_EXIT_OK;
	}
	if (cli_sub_argv(argc, argv, name, sizeof(name)) < 0 ||
	    (strcmp(sub, "list") != 0 && strcmp(sub, "show") != 0 &&
	     strcmp(sub, "cancel") != 0 && strcmp(sub, "retry") != 0)) {
		fprintf(stderr, "hookq tasks: say list, show, cancel or retry\n"
				"Try 'hookq tasks --help'.\n");
		return CLI_EXIT_USAGE;
	}
	argc--;
	argv++;
	bool list = strcmp(sub, "list") == 0;
	struct cli_opts o;
	int r = cli_opts_parse(argc, argv, long_opts, opt_letters,
			       CLI_OPT_WHERE | (list ? OPT_FILTER : 0), cli_tasks_help, &o);
	if (r != 0)
		return r > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	struct cli_target t;
	cli_target_init(&t, argv[0], &o);
	if (cli_positional(t.cmd, argc, argv, list ? 0 : 1, "task id") < 0)
		return CLI_EXIT_USAGE;
	return list ? run_list(&t, &o) : run_one(&t, &o, sub, argv[optind]);
}

int cli_flows(int argc, char **argv)
{
	char name[64];
	const char *sub = argc >= 2 ? argv[1] : "";
	if (cli_is_help(sub)) {
		cli_flows_help(stdout);
		return CLI_EXIT_OK;
	}
	if (cli_sub_argv(argc, argv, name, sizeof(name)) < 0 || strcmp(sub, "show") != 0) {
		fprintf(stderr, "hookq flows: say show\nTry 'hookq flows --help'.\n");
		return CLI_EXIT_USAGE;
	}
	argc--;
	argv++;
	struct cli_opts o;
	int r =
	    cli_opts_parse(argc, argv, long_opts, opt_letters, CLI_OPT_WHERE, cli_flows_help, &o);
	if (r != 0)
		return r > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	struct cli_target t;
	cli_target_init(&t, argv[0], &o);
	if (cli_positional(t.cmd, argc, argv, 1, "flow id") < 0)
		return CLI_EXIT_USAGE;
	return run_flow(&t, &o, argv[optind]);
}

int cli_workers(int argc, char **argv)
{
	struct cli_opts o;
	int r =
	    cli_opts_parse(argc, argv, long_opts, opt_letters, CLI_OPT_WHERE, cli_workers_help, &o);
	if (r != 0)
		return r > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	struct cli_target t;
	cli_target_init(&t, argv[0], &o);
	if (cli_positional(t.cmd, argc, argv, 0, "") < 0)
		return CLI_EXIT_USAGE;
	json_t *doc = NULL;
	r = cli_target_request(&t, "GET", "/api/workers", NULL, 0, NULL, &doc);
	if (r != CLI_EXIT_OK)
		return r;
	if (o.given & CLI_OPT_JSON)
		cli_print_json(doc);
	else
		print_workers(doc);
	json_decref(doc);
	return CLI_EXIT_OK;
}
