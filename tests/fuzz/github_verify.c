/* Fuzz target: GitHub signature verification and header token checks.
 * Input: signature header line, '\n', body. */
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <stdint.h>

#include "providers/github.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t hlen = nl ? (size_t)(nl - data) : size;
	char *header = malloc(hlen + 1);
	if (!header)
		return 0;
	memcpy(header, data, hlen);
	header[hlen] = '\0';
	const uint8_t *body = nl ? nl + 1 : data + size;
	size_t blen = (size_t)(data + size - body);
	(void)github_verify("fuzz-secret", 11, body, blen, header);
	(void)github_token_valid(header);
	free(header);
	return 0;
}
