/* Fuzz target: route conditions. The input is a condition spec, a newline,
 * then a payload, both JSON. A spec that parses must evaluate the same way
 * twice (evaluation only reads); a lone regex test must match as regexec()
 * does with the pattern as written, since condition compiles it otherwise
 * (anchored behind ".*"); and all of it must be clean under the
 * sanitizers, and quick (libFuzzer's -timeout). */
#include <jansson.h>
#include <regex.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/condition.h"
#include "core/jpath.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ORACLE_SUBJECT_MAX 512

static void check_regex(const json_t *spec, const json_t *root, bool got)
{
	const char *pattern = json_string_value(json_object_get(spec, "regex"));
	const char *path = json_string_value(json_object_get(spec, "path"));
	if (!pattern || !path || json_object_size(spec) != 2)
		return;
	struct jpath p;
	char err[128];
	if (jpath_parse(path, strlen(path), &p, err, sizeof(err)) != 0)
		abort(); /* the spec parsed */
	const json_t *v = jpath_get(&p, root);
	/* The oracle is glibc's regexec on the pattern as written: the very
	 * thing that is slow on long subjects (seconds for "(a|b)(a|b)*x" on
	 * 64 KiB). It checks short ones; condition_eval runs on all. */
	if (!json_is_string(v) || json_string_length(v) > ORACLE_SUBJECT_MAX)
		return;
	regex_t re;
	if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
		abort(); /* the spec parsed */
	/* regexec reads up to the first NUL, as condition does. */
	bool want = regexec(&re, json_string_value(v), 0, NULL, 0) == 0;
	regfree(&re);
	if (got != want)
		abort();
}

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
		check_regex(spec, root, first);
		condition_free(c);
	} else if (c != NULL || err[0] == '\0') {
		abort(); /* a failure writes a message and leaves ret alone */
	}
out:
	json_decref(spec);
	json_decref(root);
	return 0;
}
