/* target: where an operator command acts — the database itself (--db,
 * never created by a read) or a running server (--url, HTTP Basic from
 * ADMIN_USERNAME and ADMIN_PASSWORD). Admin requests go through
 * engine/admin either way, so both give the same documents and errors.
 * Also what the admin commands (events, dlq, purge, tasks, flows,
 * workers) share: their options and arguments, and printing answers. */
#ifndef HOOKQ_CLI_TARGET_H
#define HOOKQ_CLI_TARGET_H

#include <getopt.h>
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

/* cli_target_json() for a command: CLI_EXIT_OK with *doc set, else the
 * exit code (having said why): CLI_EXIT_USAGE for a 400, CLI_EXIT_FAILURE
 * for the rest. *status (when not NULL) is the HTTP status, 0 without an
 * answer. */
int cli_target_request(struct cli_target *t, const char *method, const char *path,
		       const struct admin_param *params, size_t n, long *status, json_t **doc);

/* The options of the admin commands. A command names its options by
 * letters (the val of their struct option), and letters[i] is the option
 * with bit 1u << i; every command's letters start with "duj": --db,
 * --url and --json. */
enum {
	CLI_OPT_DB = 1 << 0,
	CLI_OPT_URL = 1 << 1,
	CLI_OPT_JSON = 1 << 2,
};
#define CLI_OPT_WHERE (CLI_OPT_DB | CLI_OPT_URL | CLI_OPT_JSON)
#define CLI_OPTS_MAX 16

struct cli_opts {
	unsigned given;		       /* the bits of the options given */
	const char *arg[CLI_OPTS_MAX]; /* their arguments, by bit number */
};

/* The target that --db or --url (or neither) name, for the command cmd. */
void cli_target_init(struct cli_target *t, const char *cmd, const struct cli_opts *o);

/* The help lines of --db, --url and --json. */
extern const char cli_where_help[];

/* Parses argv (argv[0] names the command in messages) taking the options
 * in allowed; --db and --url exclude each other. Returns 0, 1 after
 * printing help(stdout) for --help, or < 0 after printing a usage error. */
int cli_opts_parse(int argc, char **argv, const struct option *long_opts, const char *letters,
		   unsigned allowed, void (*help)(FILE *), struct cli_opts *o);
/* The argument of the option with bit, NULL when it was not given. */
const char *cli_opts_arg(const struct cli_opts *o, unsigned bit);

/* Whether a subcommand asks for help: --help, -h or help. */
bool cli_is_help(const char *s);
/* "hookq events list ..." → argv for the subcommand (argv + 1), with
 * argv[1] changed to name ("hookq events list") for messages. -1 when
 * argv[1] is missing or an option. */
int cli_sub_argv(int argc, char **argv, char *name, size_t size);
/* want arguments after the options, or -1 after printing "missing what"
 * or "unexpected argument". */
int cli_positional(const char *cmd, int argc, char **argv, int want, const char *what);
/* A positive id argument; -1 after printing "not what" (what: "an event
 * id") otherwise. */
int cli_id_parse(const char *cmd, const char *what, const char *s, unsigned long long *ret);

/* Fields of an answer: a string or NULL; a string or "-"; a number or 0;
 * a time ("2026-11-22T22:33:47.123Z" → "2026-11-22 22:33:47" in out) or
 * "-". */
const char *cli_str_at(json_t *o, const char *key);
const char *cli_txt(json_t *o, const char *key);
long long cli_int_at(json_t *o, const char *key);
const char *cli_when(json_t *o, const char *key, char *out, size_t size);
/* "  name          value", value through cli_cell(). */
void cli_print_field(const char *name, const char *value);
/* The answer as it came, for --json: compact JSON on one line. */
void cli_print_json(json_t *doc);

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
