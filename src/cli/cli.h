/* cli: one file per subcommand; main.c dispatches by name. */
#ifndef HOOKQ_CLI_CLI_H
#define HOOKQ_CLI_CLI_H

#include <stdio.h>

/* Exit codes (docs/operations.md). */
enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAILURE = 1, /* a run-time failure: store, port, I/O */
	CLI_EXIT_USAGE = 2,   /* unknown command or flag */
	CLI_EXIT_CONFIG = 78, /* invalid configuration (EX_CONFIG) */
};

struct cli_command {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
	void (*help)(FILE *out);
};

extern const struct cli_command cli_commands[];
const struct cli_command *cli_find(const char *name);

int cli_serve(int argc, char **argv);
void cli_serve_help(FILE *out);
int cli_forward(int argc, char **argv);
void cli_forward_help(FILE *out);
int cli_status(int argc, char **argv);
void cli_status_help(FILE *out);
int cli_events(int argc, char **argv);
void cli_events_help(FILE *out);
int cli_dlq(int argc, char **argv);
void cli_dlq_help(FILE *out);
int cli_purge(int argc, char **argv);
void cli_purge_help(FILE *out);
int cli_tasks(int argc, char **argv);
void cli_tasks_help(FILE *out);
int cli_flows(int argc, char **argv);
void cli_flows_help(FILE *out);
int cli_workers(int argc, char **argv);
void cli_workers_help(FILE *out);
int cli_outbox(int argc, char **argv);
void cli_outbox_help(FILE *out);
int cli_test(int argc, char **argv);
void cli_test_help(FILE *out);
int cli_routes(int argc, char **argv);
void cli_routes_help(FILE *out);
int cli_webhooks(int argc, char **argv);
void cli_webhooks_help(FILE *out);
int cli_version(int argc, char **argv);
void cli_version_help(FILE *out);
int cli_help(int argc, char **argv);
void cli_help_help(FILE *out);

#endif
