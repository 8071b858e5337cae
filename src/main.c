/* hookq: command-line entry; dispatches to src/cli/. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

const struct cli_command cli_commands[] = {
	{ "serve", "receive webhooks and store them durably", cli_serve, cli_serve_help },
	{ "forward", "receive webhooks and send them to SQS (an ingest-only node)", cli_forward,
	  cli_forward_help },
	{ "status", "show the queue: events by state, oldest pending, processor", cli_status,
	  cli_status_help },
	{ "events", "list, show or retry stored events", cli_events, cli_events_help },
	{ "dlq", "list or retry the dead letters", cli_dlq, cli_dlq_help },
	{ "purge", "delete old completed events or dead letters", cli_purge, cli_purge_help },
	{ "tasks", "list, show, cancel or retry agent tasks", cli_tasks, cli_tasks_help },
	{ "flows", "show a flow's tasks as a tree, by conversation", cli_flows, cli_flows_help },
	{ "workers", "list a running server's workers and their tasks", cli_workers,
	  cli_workers_help },
	{ "outbox", "list, show or retry the replies hookq sends back", cli_outbox,
	  cli_outbox_help },
	{ "test", "send a test task to a running server (and wait for it)", cli_test,
	  cli_test_help },
	{ "routes", "check the routes of a configuration file", cli_routes, cli_routes_help },
	{ "webhooks", "manage dynamic webhooks (or export them as routes)", cli_webhooks,
	  cli_webhooks_help },
	{ "version", "print the version", cli_version, cli_version_help },
	{ "help", "list commands or explain one", cli_help, cli_help_help },
	{ NULL, NULL, NULL, NULL },
};

const struct cli_command *cli_find(const char *name)
{
	for (const struct cli_command *c = cli_commands; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		cli_help(1, argv);
		return CLI_EXIT_USAGE;
	}
	const char *name = argv[1];
	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
		return cli_help(1, argv);
	if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0)
		return cli_version(1, argv + 1);
	const struct cli_command *cmd = cli_find(name);
	if (!cmd) {
		fprintf(stderr, "hookq: unknown command '%s' (see 'hookq help')\n", name);
		return CLI_EXIT_USAGE;
	}
	/* getopt names the program in its messages: "hookq serve: ...". */
	static char prog[64];
	snprintf(prog, sizeof(prog), "hookq %s", cmd->name);
	argv[1] = prog;
	return cmd->run(argc - 1, argv + 1);
}
