#include <getopt.h>
#include <jansson.h>
#include <microhttpd.h>
#include <sqlite3.h>
#include <string.h>
#include <yaml.h>
#include <openssl/opensslv.h>

#include "cli/cli.h"
#include "version.h"

void cli_version_help(FILE *out)
{
	fputs("Usage: hookq version [--verbose]\n"
	      "\n"
	      "Prints hookq's version; --verbose adds the libraries it runs on.\n",
	      out);
}

int cli_version(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int verbose = 0, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 'v':
			verbose = 1;
			break;
		case 'h':
			cli_version_help(stdout);
			return CLI_EXIT_OK;
		default:
			cli_version_help(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	printf("hookq %s\n", HOOKQ_VERSION);
	if (verbose) {
		printf("libmicrohttpd %s\nsqlite %s\njansson %s\nlibyaml %s\n%s\n",
		       MHD_get_version(), sqlite3_libversion(), JANSSON_VERSION,
		       yaml_get_version_string(), OPENSSL_VERSION_TEXT);
	}
	return CLI_EXIT_OK;
}
