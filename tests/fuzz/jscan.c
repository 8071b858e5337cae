/* Fuzz target: the JSON scanner, checked against jansson. Both must agree
 * on whether the input is JSON, except where they differ by design:
 * jansson refuses numbers it cannot hold, nests deeper, and skips NUL
 * bytes between tokens. Extracted
 * strings must equal jansson's values. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/jscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char a[64], b[64];
	struct jscan_field f[] = {
		{ { "action", NULL }, a, sizeof(a), false, true },
		{ { "sender", "login", NULL }, b, sizeof(b), false, false },
	};
	enum jscan_type top;
	char err[160];
	int mine = jscan((const char *)data, size, f, 2, &top, err, sizeof(err));
	/* jansson reads NUL bytes outside strings as if they were not there;
	 * JSON does not allow them, and neither does jscan. */
	if (memchr(data, 0, size))
		return 0;
	json_error_t jerr;
	json_t *root = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	if (!root) {
		bool by_design = strstr(jerr.text, "too big") || strstr(jerr.text, "overflow") ||
				 strstr(jerr.text, "maximum parsing depth");
		if (mine == 0 && !by_design)
			abort(); /* jscan accepted what jansson rejects */
		return 0;
	}
	if (mine != 0 && !strstr(err, "nested too deeply"))
		abort(); /* jscan rejected valid JSON */
	if (mine == 0) {
		const char *ja = json_string_value(json_object_get(root, "action"));
		const char *jb = json_string_value(json_object_get(json_object_get(root, "sender"), "login"));
		/* f[0] takes numbers too. */
		bool jnum = json_is_number(json_object_get(root, "action"));
		if (f[0].found != (ja != NULL || jnum) || f[1].found != (jb != NULL))
			abort();
		/* Values without NUL that fit compare exactly. */
		if (ja && strlen(ja) < sizeof(a) - 4 && json_string_length(json_object_get(root, "action")) == strlen(ja) &&
		    strcmp(ja, a) != 0)
			abort();
		if (jb && strlen(jb) < sizeof(b) - 4 &&
		    json_string_length(json_object_get(json_object_get(root, "sender"), "login")) == strlen(jb) &&
		    strcmp(jb, b) != 0)
			abort();
	}
	json_decref(root);
	return 0;
}
