/* Fuzz target: the checked number, size, duration and boolean parsers. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <stdint.h>

#include "util/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	uint64_t v;
	uint16_t p;
	bool b;
	(void)parse_u64(s, 0, UINT64_MAX, &v);
	(void)parse_port(s, &p);
	(void)parse_bool(s, &b);
	(void)parse_duration_ms(s, &v);
	(void)parse_size(s, &v);
	free(s);
	return 0;
}
