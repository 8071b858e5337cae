/* status: the queue at a glance, read from the database (--db) or asked of
 * a running server (--url, admin credentials from the environment). */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli.h"
#include "engine/status.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/error.h"
#include "version.h"

#define STATUS_RESPONSE_MAX (1024 * 1024)

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

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
	struct buf *b = ctx;
	return buf_append(b, data, size * n) == 0 ? size * n : 0;
}

static int fetch_status(const char *url, struct buf *out)
{
	char full[2048];
	size_t len = strlen(url);
	while (len > 0 && url[len - 1] == '/')
		len--;
	if (snprintf(full, sizeof(full), "%.*s/status", (int)len, url) >= (int)sizeof(full)) {
		fprintf(stderr, "hookq status: --url is too long\n");
		return -1;
	}
	const char *user = getenv("ADMIN_USERNAME");
	const char *pass = getenv("ADMIN_PASSWORD");
	CURL *c = curl_easy_init();
	if (!c)
		return -1;
	curl_easy_setopt(c, CURLOPT_URL, full);
	curl_easy_setopt(c, CURLOPT_USERNAME, user && *user ? user : "admin");
	curl_easy_setopt(c, CURLOPT_PASSWORD, pass ? pass : "");
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	CURLcode rc = curl_easy_perform(c);
	long code = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK) {
		fprintf(stderr, "hookq status: cannot reach '%s': %s\n", full, curl_easy_strerror(rc));
		return -1;
	}
	if (code == 401) {
		fprintf(stderr, "hookq status: '%s' refused the admin credentials "
				"(set ADMIN_USERNAME and ADMIN_PASSWORD)\n", full);
		return -1;
	}
	if (code != 200) {
		fprintf(stderr, "hookq status: '%s' answered HTTP %ld\n", full, code);
		return -1;
	}
	return 0;
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

	char *text = NULL;
	char where[600];
	if (url) {
		struct buf b;
		buf_init(&b, STATUS_RESPONSE_MAX);
		curl_global_init(CURL_GLOBAL_DEFAULT);
		int r = fetch_status(url, &b);
		curl_global_cleanup();
		if (r < 0) {
			buf_release(&b);
			return CLI_EXIT_FAILURE;
		}
		text = b.data;
		snprintf(where, sizeof(where), "server %s", url);
	} else {
		if (!db) {
			const char *env = getenv("HOOKQ_DB");
			db = env && *env ? env : "hookq.db";
		}
		/* Reading must not create a database where there was none. */
		struct stat st;
		if (strstr(db, "://") == NULL && stat(db, &st) != 0) {
			fprintf(stderr, "hookq status: no database at '%s': %s\n", db, strerror(errno));
			return CLI_EXIT_FAILURE;
		}
		struct store_options so = { STORE_SYNC_FULL, 5000 };
		struct store *store = NULL;
		struct store_error err;
		if (store_open(db, &so, &store, &err) < 0) {
			fprintf(stderr, "hookq status: %s\n", err.msg);
			return CLI_EXIT_FAILURE;
		}
		struct status_sources src = { store, NULL, NULL, HOOKQ_VERSION, 0 };
		int r = status_render(&src, clock_now_ms(), &text, &err);
		store_close(store);
		if (r < 0) {
			fprintf(stderr, "hookq status: cannot read '%s': %s\n", db, err.msg);
			return CLI_EXIT_FAILURE;
		}
		char shown[512];
		store_url_redact(db, shown, sizeof(shown));
		snprintf(where, sizeof(where), "database %s", shown);
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
		print_table(doc, where);
	json_decref(doc);
	free(text);
	return CLI_EXIT_OK;
}
