/* target: where an operator command acts — the database itself (--db,
 * never created by a read) or a running server (--url, HTTP Basic from
 * ADMIN_USERNAME and ADMIN_PASSWORD). Admin requests go through
 * engine/admin either way, so both give the same documents and errors. */
#ifndef HOOKQ_CLI_TARGET_H
#define HOOKQ_CLI_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "engine/admin.h"
#include "store/store.h"
#include "util/buf.h"

/* Admin documents can hold a 25 MiB payload twice (text and parsed). */
#define CLI_RESPONSE_MAX (256 * 1024 * 1024)
/* A purge of millions of events takes a while; reads do not. */
#define CLI_TIMEOUT_READ_S 30
#define CLI_TIMEOUT_WRITE_S 900

struct cli_target {
	const char *cmd; /* "hookq events", for messages */
	const char *db;	 /* --db; NULL: HOOKQ_DB, else hookq.db */
	const char *url; /* --url; when set, the server is asked */
	char where[600]; /* "database x.db" or "server http://..." once resolved */
};

/* Opens the target's database for a command. A database that does not
 * exist is an error (reading never creates one). Prints why on failure. */
int cli_target_open_store(struct cli_target *t, struct store **ret);

/* GET or POST url + path_query with the admin credentials, giving up
 * after timeout_s. *status is the HTTP status; the body is appended to out
 * (whose cap bounds it). Prints why and returns < 0 when the server cannot
 * be reached or refuses the credentials. */
int cli_target_http(struct cli_target *t, const char *method, const char *path_query,
		    const char *body, long timeout_s, long *status, struct buf *out);

/* One admin API request, answered by the server (--url) or by
 * engine/admin on the database. *json is the document (malloc'd): the
 * answer on 2xx, {"error","message"} otherwise. Returns < 0 (having said
 * why) only when there is no answer at all. */
int cli_target_admin(struct cli_target *t, const char *method, const char *path,
		     const struct admin_param *params, size_t n, const char *body, long *status,
		     char **json);

/* Prints {"error","message"} of a refused request as "cmd: message"
 * (control characters replaced). */
void cli_target_print_error(const struct cli_target *t, const char *json);

/* cli_target_admin() for a JSON document: 0 and *doc (parsed) on 2xx.
 * Otherwise prints why (the API's message, or why there is no answer)
 * and returns HQ_E_INVAL for a 400 (a usage error) and another code for
 * the rest. *status is the HTTP status when there was an answer. */
int cli_target_json(struct cli_target *t, const char *method, const char *path,
		    const struct admin_param *params, size_t n, const char *body, long *status,
		    json_t **doc);

/* Copies s (NULL: "-") for a terminal: control characters, C1 controls
 * and bidirectional overrides (a payload could carry escape sequences)
 * and invalid UTF-8 become '?', cut at width bytes on a character boundary
 * and marked with '~'. Returns out. */
const char *cli_cell(const char *s, size_t width, char *out, size_t size);
/* The same, keeping newlines and tabs when lines is set (payload text). */
const char *cli_text(const char *s, size_t width, bool lines, char *out, size_t size);
/* Prints the last max bytes of text (an agent's output) like cli_text
 * with its lines kept, from the first line start among them when there
 * is one, after a line saying how many bytes came before. */
void cli_text_tail(FILE *out, const char *text, size_t max);

#endif
