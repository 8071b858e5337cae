/* Fuzz target: the agents: section of hookq.yaml and argv rendering. The
 * input is YAML; when it parses, every agent's argv is rendered with
 * values taken from the input's tail and must keep exactly one element per
 * template element (a value never splits or adds an argument). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent_table *t = NULL;
	char err[512];
	if (agent_table_parse((const char *)data, size, "fuzz.yaml", &t, err, sizeof(err)) < 0)
		return 0;
	/* Values with spaces, quotes, braces and placeholders of their own. */
	size_t n = size < 64 ? size : 64;
	char value[65];
	memcpy(value, data + size - n, n);
	value[n] = '\0';
	struct agent_vars vars = { value, "{{task_id}}", "o/r; rm -rf / $(x)", value };
	for (size_t i = 0; i < t->n; i++) {
		char **argv = NULL;
		if (agent_argv_render(&t->agents[i], &vars, &argv) == 0) {
			size_t k = 0;
			while (argv[k])
				k++;
			if (k != t->agents[i].n_command)
				abort();
			agent_argv_free(argv);
		}
		char *cwd = NULL;
		if (agent_cwd_render(&t->agents[i], &vars, &cwd) == 0)
			free(cwd);
	}
	agent_table_free(t);
	return 0;
}
