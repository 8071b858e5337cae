/* events, dlq, purge: the operator's commands over stored events. Each
 * is an admin API request (engine/admin) sent to a running server (--url)
 * or answered on the database itself (--db); people get tables, scripts
 * get the API's JSON with --json. */
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/target.h"

/* After cli/target's --db, --url and --json. */
enum {
	OPT_STATUS = 1 << 3,
	OPT_PROVIDER = 1 << 4,
	OPT_LIMIT = 1 << 5,
	OPT_CURSOR = 1 << 6,
	OPT_PAYLOAD = 1 << 7,
	OPT_ALL = 1 << 8,
	OPT_OLDER = 1 << 9,
};
#define OPT_PAGE (OPT_PROVIDER | OPT_LIMIT | OPT_CURSOR)

static const struct option long_opts[] = {
	{ "db", required_argument, NULL, 'd' },
	{ "url", required_argument, NULL, 'u' },
	{ "json", no_argument, NULL, 'j' },
	{ "status", required_argument, NULL, 's' },
	{ "provider", required_argument, NULL, 'p' },
	{ "limit", required_argument, NULL, 'l' },
	{ "cursor", required_argument, NULL, 'c' },
	{ "payload", no_argument, NULL, 'P' },
	{ "all", no_argument, NULL, 'a' },
	{ "older-than", required_argument, NULL, 'o' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};
/* The option letters in the order of the OPT_ bits. */
static const char opt_letters[] = "dujsplcPao";

void cli_events_help(FILE *out)
{
	fprintf(out,
		"Usage: hookq events list [--status S] [--provider P] [--limit N] [--cursor C]\n"
		"       hookq events show ID [--payload]\n"
		"       hookq events retry ID... | --status dead_letter|completed\n"
		"       (each with [--db PATH | --url URL] [--json])\n"
		"\n"
		"Lists stored events newest first, shows one (headers, attempts and their\n"
		"errors, payload), or queues events again with their attempts granted anew.\n"
		"\n"
		"Options:\n"
		"  --status S         pending, processing, completed or dead_letter\n"
		"  --provider P       only this provider's events (github, ...)\n"
		"  --limit N          events per page, 1-%d (default %d)\n"
		"  --cursor C         the next page: the cursor the previous page printed\n"
		"  --payload          show: print the payload too, as received\n"
		"%s"
		"  -h, --help         show this help\n"
		"\n"
		"Exit codes: 0 success, 1 failure (no such event, store or server unreachable),\n"
		"2 usage error.\n",
		ADMIN_LIST_MAX, ADMIN_LIST_DEFAULT, cli_where_help);
}

void cli_dlq_help(FILE *out)
{
	fprintf(out,
		"Usage: hookq dlq list [--provider P] [--limit N] [--cursor C]\n"
		"       hookq dlq retry ID... | --all\n"
		"       (each with [--db PATH | --url URL] [--json])\n"
		"\n"
		"The dead letters: events whose attempts are used up or that cannot be\n"
		"processed, with the reason; retry queues them again with their attempts\n"
		"granted anew.\n"
		"\n"
		"Options:\n"
		"  --provider P       only this provider's dead letters\n"
		"  --limit N          events per page, 1-%d (default %d)\n"
		"  --cursor C         the next page: the cursor the previous page printed\n"
		"  --all              retry: every dead letter\n"
		"%s"
		"  -h, --help         show this help\n"
		"\n"
		"Exit codes: 0 success, 1 failure, 2 usage error.\n",
		ADMIN_LIST_MAX, ADMIN_LIST_DEFAULT, cli_where_help);
}

void cli_purge_help(FILE *out)
{
	fprintf(out,
		"Usage: hookq purge --older-than AGE [--status completed|dead_letter]\n"
		"                   [--db PATH | --url URL] [--json]\n"
		"\n"
		"Deletes completed events (or dead letters) that reached that state more\n"
		"than AGE ago (12h, 7d, ...), in batches of %d so webhooks keep flowing.\n"
		"Pending and processing events are never purged. A server purges completed\n"
		"events by itself after processor.retention.\n"
		"\n"
		"Options:\n"
		"  --older-than AGE   required: 30m, 12h, 7d, ...\n"
		"  --status S         completed (default) or dead_letter\n"
		"%s"
		"  -h, --help         show this help\n"
		"\n"
		"Exit codes: 0 success, 1 failure, 2 usage error.\n",
		ADMIN_BATCH, cli_where_help);
}

#define cell cli_cell

static const char *type_of(json_t *e, char *out, size_t size)
{
	const char *action = cli_str_at(e, "action");
	snprintf(out, size, "%s%s%s", cli_txt(e, "type"), action ? "." : "", action ? action : "");
	return out;
}

static void print_list(json_t *doc, bool dead)
{
	json_t *events = json_object_get(doc, "events");
	if (json_array_size(events) == 0) {
		printf(dead ? "no dead letters\n" : "no events\n");
		return;
	}
	if (dead)
		printf("%-8s %-9s %-26s %-8s %-19s  %s\n", "ID", "PROVIDER", "TYPE", "ATTEMPTS",
		       "FAILED (UTC)", "LAST ERROR");
	else
		printf("%-8s %-11s %-9s %-26s %-24s %-8s %s\n", "ID", "STATUS", "PROVIDER", "TYPE",
		       "REPOSITORY", "ATTEMPTS", "RECEIVED (UTC)");
	size_t i;
	json_t *e;
	json_array_foreach(events, i, e) {
		char a[64], b[64], c[64], d[96], t[24], tt[96];
		char attempts[32];
		snprintf(attempts, sizeof(attempts), "%lld/%lld", cli_int_at(e, "attempts"),
			 cli_int_at(e, "max_attempts"));
		if (dead)
			printf("%-8lld %-9s %-26s %-8s %-19s  %s\n", cli_int_at(e, "id"),
			       cell(cli_str_at(e, "provider"), 9, a, sizeof(a)),
			       cell(type_of(e, tt, sizeof(tt)), 26, b, sizeof(b)), attempts,
			       cli_when(e, "updated_at", t, sizeof(t)),
			       cell(cli_str_at(e, "last_error"), 80, d, sizeof(d)));
		else
			printf("%-8lld %-11s %-9s %-26s %-24s %-8s %s\n", cli_int_at(e, "id"),
			       cell(cli_str_at(e, "status"), 11, a, sizeof(a)),
			       cell(cli_str_at(e, "provider"), 9, b, sizeof(b)),
			       cell(type_of(e, tt, sizeof(tt)), 26, c, sizeof(c)),
			       cell(cli_str_at(e, "repository"), 24, d, sizeof(d)), attempts,
			       cli_when(e, "received_at", t, sizeof(t)));
	}
	const char *next = cli_str_at(doc, "next_cursor");
	if (next)
		printf("more: the same command with --cursor %s\n", next);
}

static void print_event(json_t *e, bool payload)
{
	char buf[256], t[24];
	char st[32];
	printf("event %lld  %s\n", cli_int_at(e, "id"),
	       cell(cli_txt(e, "status"), 31, st, sizeof(st)));
	snprintf(buf, sizeof(buf), "%s (route %s)", cli_txt(e, "provider"), cli_txt(e, "route"));
	cli_print_field("provider", buf);
	cli_print_field("delivery", cli_str_at(e, "delivery_id"));
	cli_print_field("type", type_of(e, buf, sizeof(buf)));
	cli_print_field("repository", cli_str_at(e, "repository"));
	cli_print_field("sender", cli_str_at(e, "sender"));
	cli_print_field("received", cli_when(e, "received_at", t, sizeof(t)));
	snprintf(buf, sizeof(buf), "%lld of %lld", cli_int_at(e, "attempts"),
		 cli_int_at(e, "max_attempts"));
	cli_print_field("attempts", buf);
	if (cli_str_at(e, "next_attempt_at"))
		cli_print_field("next attempt", cli_when(e, "next_attempt_at", t, sizeof(t)));
	if (cli_str_at(e, "lease_owner")) {
		snprintf(buf, sizeof(buf), "%s until %s", cli_txt(e, "lease_owner"),
			 cli_when(e, "lease_expires_at", t, sizeof(t)));
		cli_print_field("leased by", buf);
	}
	if (cli_str_at(e, "completed_at"))
		cli_print_field("completed", cli_when(e, "completed_at", t, sizeof(t)));
	if (cli_str_at(e, "last_error"))
		cli_print_field("last error", cli_str_at(e, "last_error"));
	snprintf(buf, sizeof(buf), "%lld", cli_int_at(e, "duplicates"));
	cli_print_field("duplicates", buf);
	if (json_is_integer(json_object_get(e, "payload_bytes")))
		snprintf(buf, sizeof(buf), "%lld bytes (%lld stored)%s",
			 cli_int_at(e, "payload_bytes"), cli_int_at(e, "stored_bytes"),
			 payload ? "" : "; --payload prints it");
	else
		snprintf(buf, sizeof(buf), "unavailable: %s (%lld stored)",
			 cli_txt(e, "payload_error"), cli_int_at(e, "stored_bytes"));
	cli_print_field("payload", buf);

	const char *hk;
	json_t *hv;
	printf("headers\n");
	json_object_foreach(json_object_get(e, "headers"), hk, hv) {
		char k[64];
		printf("  %s: %s\n", cell(hk, 63, k, sizeof(k)),
		       cell(json_string_value(hv), sizeof(buf) - 1, buf, sizeof(buf)));
	}
	printf("history\n");
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(e, "history"), i, a) {
		char w[64], err[512], oc[16], dur[32] = "";
		if (json_is_integer(json_object_get(a, "duration_ms")))
			snprintf(dur, sizeof(dur), "%lld ms", cli_int_at(a, "duration_ms"));
		const char *at = cli_str_at(a, "started_at") ? "started_at" : "finished_at";
		printf("  #%-3lld %-12s %-19s %-10s %-28s %s\n", cli_int_at(a, "attempt"),
		       cell(cli_txt(a, "outcome"), 12, oc, sizeof(oc)),
		       cli_when(a, at, t, sizeof(t)), dur,
		       cell(cli_txt(a, "worker"), 28, w, sizeof(w)),
		       cell(cli_str_at(a, "error") ? cli_str_at(a, "error") : "", sizeof(err) - 1,
			    err, sizeof(err)));
	}
	if (!payload)
		return;
	printf("payload\n");
	const char *text = cli_str_at(e, "payload_text");
	if (text) {
		/* As received, byte for byte, except what a terminal must not
		 * get (escape sequences); JSON bodies hold none of those. */
		size_t len = strlen(text);
		char *safe = malloc(len + 1);
		if (safe) {
			printf("%s\n", cli_text(text, len, true, safe, len + 1));
			free(safe);
		}
	} else if (cli_str_at(e, "payload_base64")) {
		printf("(base64) %s\n", cli_str_at(e, "payload_base64"));
	} else {
		char why[256];
		printf("(unavailable: %s)\n",
		       cell(cli_txt(e, "payload_error"), 255, why, sizeof(why)));
	}
}

static int run_list(struct cli_target *t, const struct cli_opts *o, const char *status)
{
	const char *provider = cli_opts_arg(o, OPT_PROVIDER), *limit = cli_opts_arg(o, OPT_LIMIT),
		   *cursor = cli_opts_arg(o, OPT_CURSOR);
	struct admin_param p[4];
	size_t n = 0;
	if (status)
		p[n++] = (struct admin_param){ "status", status };
	if (provider)
		p[n++] = (struct admin_param){ "provider", provider };
	if (limit)
		p[n++] = (struct admin_param){ "limit", limit };
	if (cursor)
		p[n++] = (struct admin_param){ "cursor", cursor };
	json_t *doc = NULL;
	int r = cli_target_request(t, "GET", "/api/events", p, n, NULL, &doc);
	if (r != CLI_EXIT_OK)
		return r;
	if (o->given & CLI_OPT_JSON)
		cli_print_json(doc);
	else
		print_list(doc, status && strcmp(status, "dead_letter") == 0);
	json_decref(doc);
	return CLI_EXIT_OK;
}

static int run_show(struct cli_target *t, const struct cli_opts *o, const char *id)
{
	unsigned long long v;
	if (cli_id_parse(t->cmd, "an event id", id, &v) < 0)
		return CLI_EXIT_USAGE;
	char path[64];
	snprintf(path, sizeof(path), "/api/events/%llu", v);
	json_t *doc = NULL;
	int r = cli_target_request(t, "GET", path, NULL, 0, NULL, &doc);
	if (r != CLI_EXIT_OK)
		return r;
	if (o->given & CLI_OPT_JSON)
		cli_print_json(doc);
	else
		print_event(doc, o->given & OPT_PAYLOAD);
	json_decref(doc);
	return CLI_EXIT_OK;
}

/* Retries each id (all are tried; the exit code says whether any
 * failed), or every event in status. */
static int run_retry(struct cli_target *t, const struct cli_opts *o, char **ids, int n_ids,
		     const char *status, bool dead_only)
{
	if ((n_ids > 0) == (status != NULL)) {
		fprintf(stderr, "%s: give event ids or %s%s\n", t->cmd,
			strcmp(t->cmd, "hookq dlq retry") == 0 ? "--all" : "--status",
			n_ids > 0 ? ", not both" : "");
		return CLI_EXIT_USAGE;
	}
	unsigned long long v;
	for (int i = 0; i < n_ids; i++)
		if (cli_id_parse(t->cmd, "an event id", ids[i], &v) < 0)
			return CLI_EXIT_USAGE;
	json_t *doc = NULL;
	if (status) {
		struct admin_param p = { "status", status };
		int r = cli_target_request(t, "POST", "/api/events/retry", &p, 1, NULL, &doc);
		if (r != CLI_EXIT_OK)
			return r;
		if (o->given & CLI_OPT_JSON)
			cli_print_json(doc);
		else
			printf("%lld %s events queued again\n", cli_int_at(doc, "count"), status);
		json_decref(doc);
		return CLI_EXIT_OK;
	}
	int worst = CLI_EXIT_OK;
	for (int i = 0; i < n_ids; i++) {
		char path[64];
		(void)cli_id_parse(t->cmd, "an event id", ids[i], &v);
		snprintf(path, sizeof(path), "/api/events/%llu/retry", v);
		/* dlq retry replays dead letters only, never a completed event. */
		struct admin_param only = { "status", "dead_letter" };
		int r = cli_target_request(t, "POST", path, &only, dead_only ? 1 : 0, NULL, &doc);
		if (r != CLI_EXIT_OK) {
			worst = r;
			continue;
		}
		if (o->given & CLI_OPT_JSON)
			cli_print_json(doc);
		else
			printf("event %lld queued again\n", cli_int_at(doc, "event_id"));
		json_decref(doc);
	}
	return worst;
}

static int run_purge(struct cli_target *t, const struct cli_opts *o)
{
	const char *older = cli_opts_arg(o, OPT_OLDER), *status = cli_opts_arg(o, OPT_STATUS);
	if (!older) {
		fprintf(stderr, "%s: --older-than is required (for example --older-than 7d)\n",
			t->cmd);
		return CLI_EXIT_USAGE;
	}
	struct admin_param p[2] = { { "older_than", older },
				    { "status", status ? status : "completed" } };
	json_t *doc = NULL;
	int r = cli_target_request(t, "POST", "/api/events/purge", p, 2, NULL, &doc);
	if (r != CLI_EXIT_OK)
		return r;
	if (o->given & CLI_OPT_JSON) {
		cli_print_json(doc);
	} else {
		char b[24];
		char st[32], age[32];
		printf("purged %lld %s events older than %s (before %s UTC)\n",
		       cli_int_at(doc, "purged"), cell(cli_txt(doc, "status"), 31, st, sizeof(st)),
		       cell(older, 31, age, sizeof(age)), cli_when(doc, "before", b, sizeof(b)));
	}
	json_decref(doc);
	return CLI_EXIT_OK;
}

int cli_events(int argc, char **argv)
{
	char name[64];
	const char *sub = argc >= 2 ? argv[1] : "";
	if (cli_is_help(sub)) {
		cli_events_help(stdout);
		return CLI_EXIT_OK;
	}
	if (cli_sub_argv(argc, argv, name, sizeof(name)) < 0 ||
	    (strcmp(sub, "list") != 0 && strcmp(sub, "show") != 0 && strcmp(sub, "retry") != 0)) {
		fprintf(stderr, "hookq events: say list, show or retry\nTry 'hookq events --help'.\n");
		return CLI_EXIT_USAGE;
	}
	argc--;
	argv++;
	unsigned allowed = CLI_OPT_WHERE;
	if (strcmp(sub, "list") == 0)
		allowed |= OPT_STATUS | OPT_PAGE;
	else if (strcmp(sub, "show") == 0)
		allowed |= OPT_PAYLOAD;
	else
		allowed |= OPT_STATUS;
	struct cli_opts o;
	int r = cli_opts_parse(argc, argv, long_opts, opt_letters, allowed, cli_events_help, &o);
	if (r != 0)
		return r > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	struct cli_target t;
	cli_target_init(&t, argv[0], &o);
	if (strcmp(sub, "list") == 0) {
		if (cli_positional(t.cmd, argc, argv, 0, "event id") < 0)
			return CLI_EXIT_USAGE;
		return run_list(&t, &o, cli_opts_arg(&o, OPT_STATUS));
	}
	if (strcmp(sub, "show") == 0) {
		if (cli_positional(t.cmd, argc, argv, 1, "event id") < 0)
			return CLI_EXIT_USAGE;
		return run_show(&t, &o, argv[optind]);
	}
	return run_retry(&t, &o, argv + optind, argc - optind, cli_opts_arg(&o, OPT_STATUS), false);
}

int cli_dlq(int argc, char **argv)
{
	char name[64];
	const char *sub = argc >= 2 ? argv[1] : "";
	if (cli_is_help(sub)) {
		cli_dlq_help(stdout);
		return CLI_EXIT_OK;
	}
	if (cli_sub_argv(argc, argv, name, sizeof(name)) < 0 ||
	    (strcmp(sub, "list") != 0 && strcmp(sub, "retry") != 0)) {
		fprintf(stderr, "hookq dlq: say list or retry\nTry 'hookq dlq --help'.\n");
		return CLI_EXIT_USAGE;
	}
	argc--;
	argv++;
	bool list = strcmp(sub, "list") == 0;
	struct cli_opts o;
	int r = cli_opts_parse(argc, argv, long_opts, opt_letters,
			       CLI_OPT_WHERE | (list ? OPT_PAGE : OPT_ALL), cli_dlq_help, &o);
	if (r != 0)
		return r > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	struct cli_target t;
	cli_target_init(&t, argv[0], &o);
	if (list) {
		if (cli_positional(t.cmd, argc, argv, 0, "event id") < 0)
			return CLI_EXIT_USAGE;
		return run_list(&t, &o, "dead_letter");
	}
	return run_retry(&t, &o, argv + optind, argc - optind,
			 (o.given & OPT_ALL) ? "dead_letter" : NULL, true);
}

int cli_purge(int argc, char **argv)
{
	struct cli_opts o;
	int r = cli_opts_parse(argc, argv, long_opts, opt_letters,
			       CLI_OPT_WHERE | OPT_OLDER | OPT_STATUS, cli_purge_help, &o);
	if (r != 0)
		return r > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	struct cli_target t;
	cli_target_init(&t, argv[0], &o);
	if (cli_positional(t.cmd, argc, argv, 0, "event id") < 0)
		return CLI_EXIT_USAGE;
	return run_purge(&t, &o);
}
