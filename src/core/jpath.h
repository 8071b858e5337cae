/* jpath: paths into a JSON payload, as templates and conditions name
 * them: "issue.title", "issue.labels[0].name", "pull_request.head.ref".
 * Keys are separated by dots; [N] indexes an array; a key holding dots or
 * brackets is written ["a.b"]. Parsed once, looked up many times. */
#ifndef HOOKQ_CORE_JPATH_H
#define HOOKQ_CORE_JPATH_H

#include <jansson.h>
#include <stddef.h>

#define JPATH_MAX_STEPS 16
#define JPATH_MAX_TEXT 256

struct jpath_step {
	int key;      /* offset of the key in text; -1 for an index */
	size_t index;
};

struct jpath {
	char text[JPATH_MAX_TEXT]; /* the keys, NUL-separated */
	struct jpath_step steps[JPATH_MAX_STEPS];
	size_t n;
};

/* Parses s[0..len). HQ_E_INVAL with what is wrong and where (1-based
 * column) in err: empty path, empty key, unterminated [ or [", index not
 * a number, too many steps, too long. */
int jpath_parse(const char *s, size_t len, struct jpath *ret, char *err, size_t err_size);

/* The value at p under root, or NULL when a step is missing (or indexes a
 * non-array, keys a non-object). */
json_t *jpath_get(const struct jpath *p, const json_t *root);

#endif
