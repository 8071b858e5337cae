/* jscan: validates a JSON document (RFC 8259) and extracts a few string
 * values by path in one pass, without building a tree or allocating.
 * Webhook bodies are large and processing needs only a handful of their
 * fields: a full parse tree cost more than everything else per event. */
#ifndef HOOKQ_CORE_JSCAN_H
#define HOOKQ_CORE_JSCAN_H

#include <stdbool.h>
#include <stddef.h>

#define JSCAN_MAX_PATH 4
#define JSCAN_MAX_FIELDS 16
#define JSCAN_MAX_DEPTH 512

enum jscan_type { JSCAN_NONE, JSCAN_OBJECT, JSCAN_ARRAY, JSCAN_STRING, JSCAN_NUMBER, JSCAN_LITERAL };

struct jscan_field {
	const char *path[JSCAN_MAX_PATH + 1]; /* keys from the root, NULL-terminated */
	char *out;			      /* the string value, unescaped UTF-8 */
	size_t size;			      /* of out; longer values are cut */
	bool found;			      /* a value was at the path */
	bool numbers;			      /* take a number too, as its text */
};

/* 0 when s[0..n) is one valid JSON value; *top is its type. Otherwise
 * HQ_E_INVAL with "line L column C: what" in err. Fields whose path holds
 * a string get it (and with numbers set, a number as written); a path
 * holding another type, or missing, leaves found false. */
int jscan(const char *s, size_t n, struct jscan_field *fields, size_t nfields,
	  enum jscan_type *top, char *err, size_t err_size);

#endif
