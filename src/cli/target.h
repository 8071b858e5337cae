/* target: where an operator command acts — the database itself (--db,
 * never created by a read) or a running server (--url, HTTP Basic from
 * ADMIN_USERNAME and ADMIN_PASSWORD). Admin requests go through
 * engine/admin either way, so both give the same documents and errors. */
#ifndef HOOKQ_CLI_TARGET_H
#define HOOKQ_CLI_TARGET_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/admin.h"
#include "store/store.h"
#include "util/buf.h"

#define CLI_RESPONSE_MAX (256 * 1024 * 1024)

struct cli_target {
	const char *cmd; /* "hookq events", for messages */
	const char *db;	 /* --db; NULL: HOOKQ_DB, else hookq.db */
	const char *url; /* --url; when set, the server is asked */
	char where[600]; /* "database x.db" or "server http://..." once resolved */
};

/* Opens the target's database for a command. A database that does not
 * exist is an error (reading never creates one). Prints why on failure. */
int cli_target_open_store(struct cli_target *t, struct store **ret);

/* GET or POST url + path_query with the admin credentials. *status is the
 * HTTP status; the body is appended to out. Prints why and returns < 0
 * when the server cannot be reached or refuses the credentials. */
int cli_target_http(struct cli_target *t, const char *method, const char *path_query,
		    long *status, struct buf *out);

/* One admin API request, answered by the server (--url) or by
 * engine/admin on the database. *json is the document (malloc'd): the
 * answer on 2xx, {"error","message"} otherwise. Returns < 0 (having said
 * why) only when there is no answer at all. */
int cli_target_admin(struct cli_target *t, const char *method, const char *path,
		     const struct admin_param *params, size_t n, long *status, char **json);

/* Prints {"error","message"} of a refused request as "cmd: message". */
void cli_target_print_error(const struct cli_target *t, const char *json);

#endif
