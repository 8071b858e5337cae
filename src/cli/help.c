#include <string.h>

#include "cli/cli.h"

void cli_help_help(FILE *out)
{
	fputs("Usage: hookq help [COMMAND]\n"
	      "\n"
	      "Lists the commands, or explains one.\n",
	      out);
}

int cli_help(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		cli_help_help(stdout);
		return CLI_EXIT_OK;
	}
	if (argc > 1) {
		const struct cli_command *cmd = cli_find(argv[1]);
		if (!cmd) {
			fprintf(stderr, "hookq: unknown command '%s' (see 'hookq help')\n",
				argv[1]);
			return CLI_EXIT_USAGE;
		}
		cmd->help(stdout);
		return CLI_EXIT_OK;
	}
	fputs("hookq: a webhook-to-agent task gateway\n"
	      "\n"
	      "Usage: hookq COMMAND [OPTIONS]\n"
	      "\n"
	      "Commands:\n",
	      stdout);
	for (const struct cli_command *c = cli_commands; c->name; c++)
		printf("  %-10s %s\n", c->name, c->summary);
	fputs("\nRun 'hookq help COMMAND' or 'hookq COMMAND --help' for a command's options.\n"
	      "Exit codes: 0 success, 1 run-time failure, 2 usage error, 78 invalid "
	      "configuration.\n",
	      stdout);
	return CLI_EXIT_OK;
}
