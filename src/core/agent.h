/* agent: the agents of hookq.yaml — how each is started on a worker (an
 * argv template, never a shell line), its limits (timeout, attempts,
 * output kept) and the environment it sees. The only placeholders of a
 * command or cwd are hookq's own values ({{worker}}, {{task_id}},
 * {{repository}}, {{workspace}}): payload text reaches an agent on stdin
 * and in files, never on its command line. Parsed as a whole with
 * file:line:column errors; immutable once built. Pure. */
#ifndef HOOKQ_CORE_AGENT_H
#define HOOKQ_CORE_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AGENT_NAME_MAX	 64
#define AGENT_MAX_AGENTS 64
#define AGENT_MAX_ARGS	 256   /* elements of a command */
#define AGENT_MAX_ENV	 128   /* names in env, and entries in set_env */
#define AGENT_TEXT_MAX	 4096  /* bytes of a command element, cwd or set_env value */
#define AGENT_RENDER_MAX 65536 /* bytes of one rendered element or cwd */

#define AGENT_DEFAULT_TIMEOUT_MS	   (30ull * 60 * 1000)
#define AGENT_DEFAULT_KILL_GRACE_MS	   (10ull * 1000)
#define AGENT_DEFAULT_MAX_ATTEMPTS	   1
#define AGENT_DEFAULT_RETRY_BACKOFF_MS	   (30ull * 1000)
#define AGENT_DEFAULT_RETRY_BACKOFF_MAX_MS (10ull * 60 * 1000)
#define AGENT_DEFAULT_OUTPUT_MAX	   (256ull * 1024)

struct agent_setenv {
	char *name;
	char *value;
};

struct agent {
	char *name;
	char **command; /* argv template, NULL-terminated; n_command >= 1 */
	size_t n_command;
	uint64_t timeout_ms;	       /* then SIGTERM to the process group */
	uint64_t kill_grace_ms;	       /* then SIGKILL */
	unsigned max_attempts;	       /* 1..20; 1: no retry */
	uint64_t retry_backoff_ms;     /* delay after the first failed attempt, doubling */
	uint64_t retry_backoff_max_ms; /* >= retry_backoff_ms */
	char **env; /* names passed through from hookq's environment, NULL-terminated */
	size_t n_env;
	struct agent_setenv *set_env; /* fixed values; no name is also in env */
	size_t n_set_env;
	uint64_t output_max; /* bytes of output kept (the tail) */
	bool workspace;	     /* tasks get a checked-out repository */
	char *cwd;	     /* template, or NULL: the runner's default */
	int line;	     /* of the agent's name in the file */
};

struct agent_table {
	struct agent *agents; /* in file order */
	size_t n;
};

/* The values of placeholders; NULL renders as nothing. */
struct agent_vars {
	const char *worker;
	const char *task_id;
	const char *repository;
	const char *workspace;
};

/* Reads the top-level "agents" mapping of a YAML document (none: an empty
 * table). HQ_E_CONFIG with "file:line:col: agents.NAME...: what" in err;
 * HQ_E_NOMEM. */
int agent_table_parse(const char *text, size_t len, const char *filename, struct agent_table **ret,
		      char *err, size_t err_size);
void agent_table_free(struct agent_table *t);

/* The agent named name, or NULL. */
const struct agent *agent_find(const struct agent_table *t, const char *name);

/* The argv of a run: each element of the command rendered on its own, so
 * a value becomes part of exactly one element, verbatim (spaces and shell
 * characters included; values are not scanned for placeholders again).
 * NULL-terminated; free with agent_argv_free. HQ_E_TOOBIG when an element
 * would exceed AGENT_RENDER_MAX, HQ_E_INVAL for a placeholder a parsed
 * table cannot hold (a hand-built agent), HQ_E_NOMEM. */
int agent_argv_render(const struct agent *a, const struct agent_vars *v, char ***ret_argv);
void agent_argv_free(char **argv);

/* The working directory of a run, rendered like an argv element; *ret is
 * NULL when the agent has no cwd. free() it. */
int agent_cwd_render(const struct agent *a, const struct agent_vars *v, char **ret);

#endif
