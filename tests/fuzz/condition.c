/* Fuzz target: route conditions. The input is a condition spec, a newline,
 * then a payload, both JSON. A spec that parses must evaluate the same way
 * twice (evaluation only reads), and parse, evaluate and free must be
 * clean under the sanitizers. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/condition.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	const char *nl = memchr(s, '\n', size);
	if (!nl)
		return 0;
	/* JSON_ALLOW_NUL so that strings with NUL reach the regex checks. */
	json_t *spec = json_loadb(s, (size_t)(nl - s), JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	json_t *root = json_loadb(nl + 1, size - (size_t)(nl - s) - 1, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (!spec || !root)
		goto out;
	struct condition *c = NULL;
	char err[256];
	if (condition_parse(spec, &c, err, sizeof(err)) == 0) {
		bool first = condition_eval(c, root);
		if (condition_eval(c, root) != first)
			abort();
		condition_free(c);
	} else if (c != NULL || err[0] == '\0') {
		abort(); /* a failure writes a message and leaves ret alone */
	}
out:
	json_decref(spec);
	json_decref(root);
	return 0;
}
