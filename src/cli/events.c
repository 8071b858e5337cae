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
#include "util/error.h"
#include "util/parse.h"

enum {
	OPT_DB = 1 << 0,
	OPT_URL = 1 << 1,
	OPT_JSON = 1 << 2,
	OPT_STATUS = 1 << 3,
	OPT_PROVIDER = 1 << 4,
	OPT_LIMIT = 1 << 5,
	OPT_CURSOR = 1 << 6,
	OPT_PAYLOAD = 1 << 7,
	OPT_ALL = 1 << 8,
	OPT_OLDER = 1 << 9,
};
#define OPT_WHERE (OPT_DB | OPT_URL | OPT_JSON)
#define OPT_PAGE (OPT_PROVIDER | OPT_LIMIT | OPT_CURSOR)

struct opts {
	unsigned given;
	const char *db, *url, *status, *provider, *limit, *cursor, *older;
};

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

static const char *const where_help =
	"  --db PATH          act on the database directly (env HOOKQ_DB; default hookq.db)\n"
	"  --url URL          ask a running server, with HTTP Basic from ADMIN_USERNAME\n"
	"                     (default admin) and ADMIN_PASSWORD\n"
	"  --json             print the admin API's JSON instead of a table\n";

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
		ADMIN_LIST_MAX, ADMIN_LIST_DEFAULT, where_help);
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
		ADMIN_LIST_MAX, ADMIN_LIST_DEFAULT, where_help);
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
		ADMIN_BATCH, where_help);
}

static const char *opt_name(unsigned bit)
{
	for (const struct option *o = long_opts; o->name; o++) {
		const char *flags = "dujsplcPao";
		const char *at = strchr(flags, o->val);
		if (at && (1u << (at - flags)) == bit)
			return o->name;
	}
	return "?";
}

/* Parses argv (argv[0] is the command's name for messages) taking the
 * options in allowed. Returns 0, 1 after --help, or < 0 after a usage
 * error has been printed. */
static int opts_parse(int argc, char **argv, unsigned allowed, void (*help)(FILE *),
		      struct opts *o)
{
	memset(o, 0, sizeof(*o));
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		unsigned bit = 0;
		switch (c) {
		case 'h':
			help(stdout);
			return 1;
		case 'd':
			bit = OPT_DB, o->db = optarg;
			break;
		case 'u':
			bit = OPT_URL, o->url = optarg;
			break;
		case 'j':
			bit = OPT_JSON;
			break;
		case 's':
			bit = OPT_STATUS, o->status = optarg;
			break;
		case 'p':
			bit = OPT_PROVIDER, o->provider = optarg;
			break;
		case 'l':
			bit = OPT_LIMIT, o->limit = optarg;
			break;
		case 'c':
			bit = OPT_CURSOR, o->cursor = optarg;
			break;
		case 'P':
			bit = OPT_PAYLOAD;
			break;
		case 'a':
			bit = OPT_ALL;
			break;
		case 'o':
			bit = OPT_OLDER, o->older = optarg;
			break;
		default:
			fprintf(stderr, "Try '%s --help'.\n", argv[0]);
			return HQ_E_INVAL;
		}
		if (!(bit & allowed)) {
			fprintf(stderr, "%s: --%s does not apply here\nTry '%s --help'.\n", argv[0],
				opt_name(bit), argv[0]);
			return HQ_E_INVAL;
		}
		o->given |= bit;
	}
	if (o->db && o->url) {
		fprintf(stderr, "%s: --db and --url exclude each other\n", argv[0]);
		return HQ_E_INVAL;
	}
	return 0;
}

#define cell cli_cell

/* A string field, or NULL when it is absent or not a string. */
static const char *str_at(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* A string field for printing: "-" when absent, never NULL. */
static const char *txt(json_t *o, const char *key)
{
	const char *v = str_at(o, key);
	return v ? v : "-";
}

static long long int_at(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

/* "2026-11-22T22:33:47.123Z" → "2026-11-22 22:33:47". */
static const char *when(json_t *o, const char *key, char *out, size_t size)
{
	const char *iso = str_at(o, key);
	if (!iso)
		return "-";
	snprintf(out, size, "%.10s %.8s", iso, strlen(iso) > 11 ? iso + 11 : "");
	return out;
}

static const char *type_of(json_t *e, char *out, size_t size)
{
	const char *action = str_at(e, "action");
	snprintf(out, size, "%s%s%s", txt(e, "type"), action ? "." : "", action ? action : "");
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
		snprintf(attempts, sizeof(attempts), "%lld/%lld", int_at(e, "attempts"),
			 int_at(e, "max_attempts"));
		if (dead)
			printf("%-8lld %-9s %-26s %-8s %-19s  %s\n", int_at(e, "id"),
			       cell(str_at(e, "provider"), 9, a, sizeof(a)),
			       cell(type_of(e, tt, sizeof(tt)), 26, b, sizeof(b)), attempts,
			       when(e, "updated_at", t, sizeof(t)),
			       cell(str_at(e, "last_error"), 80, d, sizeof(d)));
		else
			printf("%-8lld %-11s %-9s %-26s %-24s %-8s %s\n", int_at(e, "id"),
			       cell(str_at(e, "status"), 11, a, sizeof(a)),
			       cell(str_at(e, "provider"), 9, b, sizeof(b)),
			       cell(type_of(e, tt, sizeof(tt)), 26, c, sizeof(c)),
			       cell(str_at(e, "repository"), 24, d, sizeof(d)), attempts,
			       when(e, "received_at", t, sizeof(t)));
	}
	const char *next = str_at(doc, "next_cursor");
	if (next)
		printf("more: the same command with --cursor %s\n", next);
}

static void print_field(const char *name, const char *value)
{
	char v[1024];
	printf("  %-13s %s\n", name, cell(value, sizeof(v) - 1, v, sizeof(v)));
}

static void print_event(json_t *e, bool payload)
{
	char buf[256], t[24];
	char st[32];
	printf("event %lld  %s\n", int_at(e, "id"), cell(txt(e, "status"), 31, st, sizeof(st)));
	snprintf(buf, sizeof(buf), "%s (route %s)", txt(e, "provider"), txt(e, "route"));
	print_field("provider", buf);
	print_field("delivery", str_at(e, "delivery_id"));
	print_field("type", type_of(e, buf, sizeof(buf)));
	print_field("repository", str_at(e, "repository"));
	print_field("sender", str_at(e, "sender"));
	print_field("received", when(e, "received_at", t, sizeof(t)));
	snprintf(buf, sizeof(buf), "%lld of %lld", int_at(e, "attempts"),
		 int_at(e, "max_attempts"));
	print_field("attempts", buf);
	if (str_at(e, "next_attempt_at"))
		print_field("next attempt", when(e, "next_attempt_at", t, sizeof(t)));
	if (str_at(e, "lease_owner")) {
		snprintf(buf, sizeof(buf), "%s until %s", txt(e, "lease_owner"),
			 when(e, "lease_expires_at", t, sizeof(t)));
		print_field("leased by", buf);
	}
	if (str_at(e, "completed_at"))
		print_field("completed", when(e, "completed_at", t, sizeof(t)));
	if (str_at(e, "last_error"))
		print_field("last error", str_at(e, "last_error"));
	snprintf(buf, sizeof(buf), "%lld", int_at(e, "duplicates"));
	print_field("duplicates", buf);
	if (json_is_integer(json_object_get(e, "payload_bytes")))
		snprintf(buf, sizeof(buf), "%lld bytes (%lld stored)%s", int_at(e, "payload_bytes"),
			 int_at(e, "stored_bytes"), payload ? "" : "; --payload prints it");
	else
		snprintf(buf, sizeof(buf), "unavailable: %s (%lld stored)", txt(e, "payload_error"),
			 int_at(e, "stored_bytes"));
	print_field("payload", buf);

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
			snprintf(dur, sizeof(dur), "%lld ms", int_at(a, "duration_ms"));
		const char *at = str_at(a, "started_at") ? "started_at" : "finished_at";
		printf("  #%-3lld %-12s %-19s %-10s %-28s %s\n", int_at(a, "attempt"),
		       cell(txt(a, "outcome"), 12, oc, sizeof(oc)), when(a, at, t, sizeof(t)), dur,
		       cell(txt(a, "worker"), 28, w, sizeof(w)),
		       cell(str_at(a, "error") ? str_at(a, "error") : "", sizeof(err) - 1, err,
			    sizeof(err)));
	}
	if (!payload)
		return;
	printf("payload\n");
	const char *text = str_at(e, "payload_text");
	if (text) {
		/* As received, byte for byte, except what a terminal must not
		 * get (escape sequences); JSON bodies hold none of those. */
		size_t len = strlen(text);
		char *safe = malloc(len + 1);
		if (safe) {
			printf("%s\n", cli_text(text, len, true, safe, len + 1));
			free(safe);
		}
	} else if (str_at(e, "payload_base64")) {
		printf("(base64) %s\n", str_at(e, "payload_base64"));
	} else {
		char why[256];
		printf("(unavailable: %s)\n", cell(txt(e, "payload_error"), 255, why, sizeof(why)));
	}
}

/* Sends one admin request and parses the answer. Returns the exit code
 * on failure (having printed why), or OK with *doc set. */
static int request(struct cli_target *t, const char *method, const char *path,
		   const struct admin_param *p, size_t n, json_t **doc)
{
	long status = 0;
	char *text = NULL;
	if (cli_target_admin(t, method, path, p, n, NULL, &status, &text) < 0)
		return CLI_EXIT_FAILURE;
	if (status < 200 || status > 299) {
		cli_target_print_error(t, text);
		free(text);
		return status == 400 ? CLI_EXIT_USAGE : CLI_EXIT_FAILURE;
	}
	*doc = json_loads(text, 0, NULL);
	free(text);
	if (!*doc) {
		fprintf(stderr, "%s: the answer from the %s is not JSON\n", t->cmd, t->where);
		return CLI_EXIT_FAILURE;
	}
	return CLI_EXIT_OK;
}

static void print_json(json_t *doc)
{
	char *text = json_dumps(doc, JSON_COMPACT);
	printf("%s\n", text ? text : "null");
	free(text);
}

static int run_list(struct cli_target *t, const struct opts *o, const char *status)
{
	struct admin_param p[4];
	size_t n = 0;
	if (status)
		p[n++] = (struct admin_param){ "status", status };
	if (o->provider)
		p[n++] = (struct admin_param){ "provider", o->provider };
	if (o->limit)
		p[n++] = (struct admin_param){ "limit", o->limit };
	if (o->cursor)
		p[n++] = (struct admin_param){ "cursor", o->cursor };
	json_t *doc = NULL;
	int r = request(t, "GET", "/api/events", p, n, &doc);
	if (r != CLI_EXIT_OK)
		return r;
	if (o->given & OPT_JSON)
		print_json(doc);
	else
		print_list(doc, status && strcmp(status, "dead_letter") == 0);
	json_decref(doc);
	return CLI_EXIT_OK;
}

/* Parses an event id argument; prints why and returns < 0 when it is
 * not one. */
static int event_id(const char *cmd, const char *s, unsigned long long *ret)
{
	uint64_t v;
	if (parse_u64(s, 1, INT64_MAX, &v) < 0) {
		char shown[64];
		fprintf(stderr, "%s: not an event id: '%s'\n", cmd, cell(s, 40, shown, sizeof(shown)));
		return -1;
	}
	*ret = (unsigned long long)v;
	return 0;
}

static int run_show(struct cli_target *t, const struct opts *o, const char *id)
{
	unsigned long long v;
	if (event_id(t->cmd, id, &v) < 0)
		return CLI_EXIT_USAGE;
	char path[64];
	snprintf(path, sizeof(path), "/api/events/%llu", v);
	json_t *doc = NULL;
	int r = request(t, "GET", path, NULL, 0, &doc);
	if (r != CLI_EXIT_OK)
		return r;
	if (o->given & OPT_JSON)
		print_json(doc);
	else
		print_event(doc, o->given & OPT_PAYLOAD);
	json_decref(doc);
	return CLI_EXIT_OK;
}

/* Retries each id (all are tried; the exit code says whether any
 * failed), or every event in status. */
static int run_retry(struct cli_target *t, const struct opts *o, char **ids, int n_ids,
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
		if (event_id(t->cmd, ids[i], &v) < 0)
			return CLI_EXIT_USAGE;
	json_t *doc = NULL;
	if (status) {
		struct admin_param p = { "status", status };
		int r = request(t, "POST", "/api/events/retry", &p, 1, &doc);
		if (r != CLI_EXIT_OK)
			return r;
		if (o->given & OPT_JSON)
			print_json(doc);
		else
			printf("%lld %s events queued again\n", int_at(doc, "count"), status);
		json_decref(doc);
		return CLI_EXIT_OK;
	}
	int worst = CLI_EXIT_OK;
	for (int i = 0; i < n_ids; i++) {
		char path[64];
		(void)event_id(t->cmd, ids[i], &v);
		snprintf(path, sizeof(path), "/api/events/%llu/retry", v);
		/* dlq retry replays dead letters only, never a completed event. */
		struct admin_param only = { "status", "dead_letter" };
		int r = request(t, "POST", path, &only, dead_only ? 1 : 0, &doc);
		if (r != CLI_EXIT_OK) {
			worst = r;
			continue;
		}
		if (o->given & OPT_JSON)
			print_json(doc);
		else
			printf("event %lld queued again\n", int_at(doc, "event_id"));
		json_decref(doc);
	}
	return worst;
}

static int run_purge(struct cli_target *t, const struct opts *o)
{
	if (!o->older) {
		fprintf(stderr, "%s: --older-than is required (for example --older-than 7d)\n",
			t->cmd);
		return CLI_EXIT_USAGE;
	}
	struct admin_param p[2] = { { "older_than", o->older },
				    { "status", o->status ? o->status : "completed" } };
	json_t *doc = NULL;
	int r = request(t, "POST", "/api/events/purge", p, 2, &doc);
	if (r != CLI_EXIT_OK)
		return r;
	if (o->given & OPT_JSON) {
		print_json(doc);
	} else {
		char b[24];
		char st[32], age[32];
		printf("purged %lld %s events older than %s (before %s UTC)\n",
		       int_at(doc, "purged"), cell(txt(doc, "status"), 31, st, sizeof(st)),
		       cell(o->older, 31, age, sizeof(age)), when(doc, "before", b, sizeof(b)));
	}
	json_decref(doc);
	return CLI_EXIT_OK;
}

/* "hookq events list ..." → argv for the subcommand, named
 * "hookq events list" in messages. */
static int sub_argv(int argc, char **argv, char *name, size_t size)
{
	if (argc < 2 || argv[1][0] == '-')
		return -1;
	snprintf(name, size, "%s %s", argv[0], argv[1]);
	argv[1] = name;
	return 0;
}

static int positional(const char *cmd, int argc, char **argv, int want)
{
	if (argc - optind == want)
		return 0;
	fprintf(stderr, "%s: %s\nTry '%s --help'.\n", cmd,
		argc - optind < want ? "missing event id" : "unexpected argument", cmd);
	return -1;
}

int cli_events(int argc, char **argv)
{
	char name[64];
	const char *sub = argc >= 2 ? argv[1] : "";
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
		cli_events_help(stdout);
		return CLI_EXIT_OK;
	}
	if (sub_argv(argc, argv, name, sizeof(name)) < 0 ||
	    (strcmp(sub, "list") != 0 && strcmp(sub, "show") != 0 && strcmp(sub, "retry") != 0)) {
		fprintf(stderr, "hookq events: say list, show or retry\nTry 'hookq events --help'.\n");
		return CLI_EXIT_USAGE;
	}
	argc--;
	argv++;
	unsigned allowed = OPT_WHERE;
	if (strcmp(sub, "list") == 0)
		allowed |= OPT_STATUS | OPT_PAGE;
	else if (strcmp(sub, "show") == 0)
		allowed |= OPT_PAYLOAD;
	else
		allowed |= OPT_STATUS;
	struct opts o;
	int r = opts_parse(argc, argv, allowed, cli_events_help, &o);
	if (r != 0)
		return r > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	struct cli_target t = { .cmd = argv[0], .db = o.db, .url = o.url };
	if (strcmp(sub, "list") == 0) {
		if (positional(t.cmd, argc, argv, 0) < 0)
			return CLI_EXIT_USAGE;
		return run_list(&t, &o, o.status);
	}
	if (strcmp(sub, "show") == 0) {
		if (positional(t.cmd, argc, argv, 1) < 0)
			return CLI_EXIT_USAGE;
		return run_show(&t, &o, argv[optind]);
	}
	return run_retry(&t, &o, argv + optind, argc - optind, o.status, false);
}

int cli_dlq(int argc, char **argv)
{
	char name[64];
	const char *sub = argc >= 2 ? argv[1] : "";
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
		cli_dlq_help(stdout);
		return CLI_EXIT_OK;
	}
	if (sub_argv(argc, argv, name, sizeof(name)) < 0 ||
	    (strcmp(sub, "list") != 0 && strcmp(sub, "retry") != 0)) {
		fprintf(stderr, "hookq dlq: say list or retry\nTry 'hookq dlq --help'.\n");
		return CLI_EXIT_USAGE;
	}
	argc--;
	argv++;
	bool list = strcmp(sub, "list") == 0;
	struct opts o;
	int r = opts_parse(argc, argv, OPT_WHERE | (list ? OPT_PAGE : OPT_ALL), cli_dlq_help, &o);
	if (r != 0)
		return r > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	struct cli_target t = { .cmd = argv[0], .db = o.db, .url = o.url };
	if (list) {
		if (positional(t.cmd, argc, argv, 0) < 0)
			return CLI_EXIT_USAGE;
		return run_list(&t, &o, "dead_letter");
	}
	return run_retry(&t, &o, argv + optind, argc - optind,
			 (o.given & OPT_ALL) ? "dead_letter" : NULL, true);
}

int cli_purge(int argc, char **argv)
{
	struct opts o;
	int r = opts_parse(argc, argv, OPT_WHERE | OPT_OLDER | OPT_STATUS, cli_purge_help, &o);
	if (r != 0)
		return r > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	struct cli_target t = { .cmd = argv[0], .db = o.db, .url = o.url };
	if (positional(t.cmd, argc, argv, 0) < 0)
		return CLI_EXIT_USAGE;
	return run_purge(&t, &o);
}
