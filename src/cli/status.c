/* status: the queue at a glance, read from the database (--db) or asked of
 * a running server (--url, admin credentials from the environment). */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/target.h"
#include "engine/status.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/error.h"
#include "version.h"

#define STATUS_RESPONSE_MAX (1024 * 1024)
/* Monitoring scripts call this: a hung server must not hang them. */
#define STATUS_TIMEOUT_S 10L

void cli_status_help(FILE *out)
{
	fputs("Usage: hookq status [--db PATH | --url URL] [--json]\n"
	      "\n"
	      "Shows the events by state, duplicates, the oldest pending event's age and,\n"
	      "from a running server, the processor's counters.\n"
	      "\n"
	      "Options:\n"
	      "  --db PATH    read the database directly (env HOOKQ_DB; default hookq.db)\n"
	      "  --url URL    ask a running server: GET URL/status with HTTP Basic from\n"
	      "               ADMIN_USERNAME (default admin) and ADMIN_PASSWORD\n"
	      "  --json       print the JSON document instead of a table\n"
	      "  -h, --help   show this help\n"
	      "\n"
	      "Exit codes: 0 success, 1 the status could not be read, 2 usage error.\n",
	      out);
}

static long long int_at(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

static void print_table(json_t *doc, const char *where)
{
	json_t *ev = json_object_get(doc, "events");
	printf("hookq %s  %s\n", json_string_value(json_object_get(doc, "version")), where);
	printf("%-16s pending %lld  processing %lld  completed %lld  dead_letter %lld\n", "events",
	       int_at(ev, "pending"), int_at(ev, "processing"), int_at(ev, "completed"),
	       int_at(ev, "dead_letter"));
	printf("%-16s %lld\n", "duplicates", int_at(ev, "duplicates"));
	json_t *age = json_object_get(doc, "oldest_pending_age_s");
	if (json_is_number(age))
		printf("%-16s %.1f s\n", "oldest pending", json_number_value(age));
	else
		printf("%-16s none\n", "oldest pending");
	json_t *up = json_object_get(doc, "uptime_s");
	if (json_is_integer(up))
		printf("%-16s %lld s\n", "uptime", (long long)json_integer_value(up));
	json_t *proc = json_object_get(doc, "processor");
	if (json_is_object(proc)) {
		const char *state = json_string_value(json_object_get(proc, "state"));
		if (state && strcmp(state, "running") == 0)
			printf("%-16s running  completed %lld  retried %lld  dead_lettered %lld  "
			       "reclaimed %lld\n",
			       "processor", int_at(proc, "completed"), int_at(proc, "retried"),
			       int_at(proc, "dead_lettered"), int_at(proc, "reclaimed"));
		else
			printf("%-16s %s\n", "processor", state ? state : "?");
	}
	json_t *tasks = json_object_get(doc, "tasks");
	if (json_is_object(tasks))
		printf("%-16s queued %lld  running %lld  succeeded %lld  failed %lld  "
		       "timed_out %lld  cancelled %lld  dead_letter %lld\n",
		       "tasks", int_at(tasks, "queued"), int_at(tasks, "running"),
		       int_at(tasks, "succeeded"), int_at(tasks, "failed"),
		       int_at(tasks, "timed_out"), int_at(tasks, "cancelled"),
		       int_at(tasks, "dead_letter"));
	json_t *outbox = json_object_get(doc, "outbox");
	if (json_is_object(outbox))
		printf("%-16s pending %lld  sending %lld  sent %lld  dead %lld\n", "outbox",
		       int_at(outbox, "pending"), int_at(outbox, "sending"), int_at(outbox, "sent"),
		       int_at(outbox, "dead"));
	json_t *pool = json_object_get(doc, "pool");
	if (json_is_object(pool))
		printf("%-16s %lld of %lld workers busy  started %lld  lost %lld\n", "pool",
		       int_at(pool, "busy"), int_at(pool, "workers"), int_at(pool, "started"),
		       int_at(pool, "lost"));
	size_t i;
	json_t *node;
	json_array_foreach(json_object_get(doc, "nodes"), i, node) {
		const char *state = json_string_value(json_object_get(node, "state"));
		const char *by = json_string_value(json_object_get(node, "taken_over_by"));
		printf("%-16s %s  %s  heartbeat %.1f s ago%s%s\n", i ? "" : "nodes",
		       json_string_value(json_object_get(node, "id")), state ? state : "?",
		       json_number_value(json_object_get(node, "heartbeat_age_s")),
		       by ? "  taken over by " : "", by ? by : "");
	}
}

int cli_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "url", required_argument, NULL, 'u' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *db = NULL, *url = NULL;
	bool as_json = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			db = optarg;
			break;
		case 'u':
			url = optarg;
			break;
		case 'j':
			as_json = true;
			break;
		case 'h':
			cli_status_help(stdout);
			return CLI_EXIT_OK;
		default:
			fputs("Try 'hookq status --help'.\n", stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc || (db && url)) {
		fprintf(stderr, "hookq status: %s\nTry 'hookq status --help'.\n",
			db && url ? "--db and --url exclude each other" : "unexpected argument");
		return CLI_EXIT_USAGE;
	}

	struct cli_target t = { .cmd = "hookq status", .db = db, .url = url };
	char *text = NULL;
	if (url) {
		struct buf b;
		buf_init(&b, STATUS_RESPONSE_MAX);
		long code = 0;
		int r = cli_target_http(&t, "GET", "/status", NULL, STATUS_TIMEOUT_S, &code, &b);
		if (r == 0 && code != 200) {
			fprintf(stderr, "hookq status: %s answered HTTP %ld\n", t.where, code);
			r = HQ_E_IO;
		}
		if (r == 0)
			r = buf_append(&b, "", 1);
		if (r < 0) {
			buf_release(&b);
			return CLI_EXIT_FAILURE;
		}
		text = b.data;
	} else {
		struct store *store = NULL;
		if (cli_target_open_store(&t, &store) < 0)
			return CLI_EXIT_FAILURE;
		struct status_sources src = { .store = store, .version = HOOKQ_VERSION };
		struct store_error err;
		int r = status_render(&src, clock_now_ms(), &text, &err);
		store_close(store);
		if (r < 0) {
			fprintf(stderr, "hookq status: cannot read the %s: %s\n", t.where, err.msg);
			return CLI_EXIT_FAILURE;
		}
	}

	json_error_t jerr;
	json_t *doc = json_loads(text, 0, &jerr);
	if (!doc || !json_is_object(json_object_get(doc, "events"))) {
		fprintf(stderr, "hookq status: the answer is not a status document\n");
		json_decref(doc);
		free(text);
		return CLI_EXIT_FAILURE;
	}
	if (as_json)
		printf("%s\n", text);
	else
		print_table(doc, t.where);
	json_decref(doc);
	free(text);
	return CLI_EXIT_OK;
}
