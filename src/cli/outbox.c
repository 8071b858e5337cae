/* outbox: the operator's commands over the replies hookq says back
 * (reactions, comments, Slack and Jira replies). Each is an admin API
 * request (engine/admin_outbox) sent to a running server (--url) or
 * answered on the database itself (--db); people get tables, scripts get
 * the API's JSON with --json. */
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/target.h"

/* What `outbox show` prints of a stored JSON value (where a reply goes,
 * what it says when it is not text); --json has all of it. */
#define JSON_SHOWN_MAX 400

/* After cli/target's --db, --url and --json. */
enum {
	OPT_STATUS = 1 << 3,
	OPT_TASK = 1 << 4,
	OPT_LIMIT = 1 << 5,
	OPT_CURSOR = 1 << 6,
};
#define OPT_FILTER (OPT_STATUS | OPT_TASK | OPT_LIMIT | OPT_CURSOR)

/* The list filters: OPT_STATUS and the options after it. */
#define N_FILTERS 4

static const struct option long_opts[] = {
	{ "db", required_argument, NULL, 'd' },
	{ "url", required_argument, NULL, 'u' },
	{ "json", no_argument, NULL, 'j' },
	{ "status", required_argument, NULL, 's' },
	{ "task", required_argument, NULL, 't' },
	{ "limit", required_argument, NULL, 'l' },
	{ "cursor", required_argument, NULL, 'c' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};
/* The option letters in the order of the OPT_ bits. */
static const char opt_letters[] = "dujstlc";
/* The API's parameter for each filter, from OPT_STATUS on. */
static const char *const filter_params[N_FILTERS] = { "status", "task_id", "limit", "cursor" };

void cli_outbox_help(FILE *out)
{
	fprintf(out,
		"Usage: hookq outbox list [--status S] [--task ID] [--limit N] [--cursor C]\n"
		"       hookq outbox show ID\n"
		"       hookq outbox retry ID\n"
		"       (each with [--db PATH | --url URL] [--json])\n"
		"\n"
		"Lists the replies hookq says back (reactions, comments, Slack and Jira\n"
		"replies) newest first, shows one (where it goes, what it says, its last\n"
		"error), or sends a dead reply again with its attempts granted anew.\n"
		"\n"
		"Options:\n"
		"  --status S         pending, sending, sent or dead\n"
		"  --task ID          only the replies of this task\n"
		"  --limit N          replies per page, 1-%d (default %d)\n"
		"  --cursor C         the next page: the cursor the previous page printed\n"
		"%s"
		"  -h, --help         show this help\n"
		"\n"
		"Exit codes: 0 success, 1 failure (no such reply, a reply that is not dead,\n"
		"store or server unreachable), 2 usage error.\n",
		ADMIN_LIST_MAX, ADMIN_LIST_DEFAULT, cli_where_help);
}

#define cell cli_cell

static void print_list(json_t *doc)
{
	json_t *replies = json_object_get(doc, "replies");
	if (json_array_size(replies) == 0) {
		printf("no replies\n");
		return;
	}
	printf("%-8s %-14s %-8s %-9s %-8s %-24s  %s\n", "ID", "KIND", "STATUS", "ATTEMPTS",
	       "TASK", "NEXT/SENT (UTC)", "ERROR");
	size_t i;
	json_t *e;
	json_array_foreach(replies, i, e) {
		char k[32], st[16], task[24] = "-", tries[24], when[32], t[24], err[96];
		if (json_is_integer(json_object_get(e, "task_id")))
			snprintf(task, sizeof(task), "%lld", cli_int_at(e, "task_id"));
		snprintf(tries, sizeof(tries), "%lld/%lld", cli_int_at(e, "attempts"),
			 cli_int_at(e, "max_attempts"));
		/* A pending reply's next attempt, a sent one's time; nothing
		 * for the others. */
		if (cli_str_at(e, "sent_at"))
			snprintf(when, sizeof(when), "sent %s",
				 cli_when(e, "sent_at", t, sizeof(t)));
		else if (cli_str_at(e, "next_attempt_at"))
			snprintf(when, sizeof(when), "next %s",
				 cli_when(e, "next_attempt_at", t, sizeof(t)));
		else
			snprintf(when, sizeof(when), "-");
		printf("%-8lld %-14s %-8s %-9s %-8s %-24s  %s\n", cli_int_at(e, "id"),
		       cell(cli_str_at(e, "kind"), 14, k, sizeof(k)),
		       cell(cli_str_at(e, "status"), 8, st, sizeof(st)), tries, task, when,
		       cell(cli_str_at(e, "last_error"), 80, err, sizeof(err)));
	}
	const char *next = cli_str_at(doc, "next_cursor");
	if (next) {
		char nx[32];
		printf("more: the same command with --cursor %s\n", cell(next, 24, nx, sizeof(nx)));
	}
}

/* A stored JSON value on one line, cut. */
static void print_json_field(const char *name, json_t *v)
{
	char *text = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	char shown[JSON_SHOWN_MAX + 8];
	cli_print_field(name, text ? cell(text, JSON_SHOWN_MAX, shown, sizeof(shown)) : "-");
	free(text);
}

/* Text that may hold anything (a comment quoting an agent's output),
 * kept as lines but without what a terminal must not receive. */
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

static void print_reply(json_t *e)
{
	char buf[128], t[24], st[32];
	printf("reply %lld  %s\n", cli_int_at(e, "id"),
	       cell(cli_txt(e, "status"), 31, st, sizeof(st)));
	cli_print_field("kind", cli_str_at(e, "kind"));
	if (json_is_integer(json_object_get(e, "task_id"))) {
		snprintf(buf, sizeof(buf), "%lld", cli_int_at(e, "task_id"));
		cli_print_field("task", buf);
	}
	snprintf(buf, sizeof(buf), "%lld of %lld%s", cli_int_at(e, "attempts"),
		 cli_int_at(e, "max_attempts"),
		 json_is_true(json_object_get(e, "uncertain")) ?
			 " (an attempt may have been received)" :
			 "");
	cli_print_field("attempts", buf);
	cli_print_field("created", cli_when(e, "created_at", t, sizeof(t)));
	cli_print_field("updated", cli_when(e, "updated_at", t, sizeof(t)));
	if (cli_str_at(e, "next_attempt_at"))
		cli_print_field("next attempt", cli_when(e, "next_attempt_at", t, sizeof(t)));
	if (cli_str_at(e, "sent_at"))
		cli_print_field("sent", cli_when(e, "sent_at", t, sizeof(t)));
	if (cli_str_at(e, "result"))
		cli_print_field("result", cli_str_at(e, "result"));
	if (cli_str_at(e, "last_error"))
		cli_print_field("last error", cli_str_at(e, "last_error"));
	print_json_field("target", json_object_get(e, "target"));
	json_t *body = json_object_get(e, "body");
	const char *text = cli_str_at(body, "text");
	if (!text) {
		print_json_field("body", body);
		return;
	}
	printf("text\n");
	print_text(text);
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
	int r = cli_target_request(t, "GET", "/api/outbox", p, n, NULL, &doc);
	if (r != CLI_EXIT_OK)
		return r;
	if (o->given & CLI_OPT_JSON)
		cli_print_json(doc);
	else
		print_list(doc);
	json_decref(doc);
	return CLI_EXIT_OK;
}

/* show or retry one reply. */
static int run_one(struct cli_target *t, const struct cli_opts *o, const char *sub, const char *id)
{
	unsigned long long v;
	if (cli_id_parse(t->cmd, "a reply id", id, &v) < 0)
		return CLI_EXIT_USAGE;
	bool show = strcmp(sub, "show") == 0;
	char path[64];
	if (show)
		snprintf(path, sizeof(path), "/api/outbox/%llu", v);
	else
		snprintf(path, sizeof(path), "/api/outbox/%llu/retry", v);
	json_t *doc = NULL;
	int r = cli_target_request(t, show ? "GET" : "POST", path, NULL, 0, NULL, &doc);
	if (r != CLI_EXIT_OK)
		return r;
	if (o->given & CLI_OPT_JSON)
		cli_print_json(doc);
	else if (show)
		print_reply(doc);
	else
		printf("reply %lld queued again\n", cli_int_at(doc, "id"));
	json_decref(doc);
	return CLI_EXIT_OK;
}

int cli_outbox(int argc, char **argv)
{
	char name[64];
	const char *sub = argc >= 2 ? argv[1] : "";
	if (cli_is_help(sub)) {
		cli_outbox_help(stdout);
		return CLI_EXIT_OK;
	}
	if (cli_sub_argv(argc, argv, name, sizeof(name)) < 0 ||
	    (strcmp(sub, "list") != 0 && strcmp(sub, "show") != 0 && strcmp(sub, "retry") != 0)) {
		fprintf(stderr, "hookq outbox: say list, show or retry\n"
				"Try 'hookq outbox --help'.\n");
		return CLI_EXIT_USAGE;
	}
	argc--;
	argv++;
	bool list = strcmp(sub, "list") == 0;
	struct cli_opts o;
	int r = cli_opts_parse(argc, argv, long_opts, opt_letters,
			       CLI_OPT_WHERE | (list ? OPT_FILTER : 0), cli_outbox_help, &o);
	if (r != 0)
		return r > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	struct cli_target t;
	cli_target_init(&t, argv[0], &o);
	if (cli_positional(t.cmd, argc, argv, list ? 0 : 1, "reply id") < 0)
		return CLI_EXIT_USAGE;
	return list ? run_list(&t, &o) : run_one(&t, &o, sub, argv[optind]);
}
