/* Fuzz target: envelope_parse(), the reader of SQS message bodies. Two
 * bytes pick the payload limit, the rest is the body. Never crashes; when
 * it parses, the payload is within the limit and NUL-terminated, the
 * headers within theirs, lower-case and found by envelope_header(); a raw
 * payload made into a message again (envelope_make(), as the forwarder
 * does) reads back as the same headers and bytes. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/envelope.h"
#include "util/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

static void round_trip(const struct envelope *e)
{
	const char *names[ENVELOPE_HEADERS_MAX], *values[ENVELOPE_HEADERS_MAX];
	for (size_t i = 0; i < e->n_headers; i++) {
		names[i] = e->names[i];
		values[i] = e->values[i];
	}
	char *msg = envelope_make(names, values, e->n_headers, e->payload, e->payload_len);
	if (!msg)
		return; /* out of memory */
	struct envelope back;
	char err[300];
	/* A generous limit: this checks the encoding, the limit is checked
	 * above. */
	int r = envelope_parse(msg, strlen(msg), e->payload_len + 16, &back, err, sizeof(err));
	check(r == 0 || r == HQ_E_NOMEM);
	if (r == 0) {
		check(back.raw);
		check(back.payload_len == e->payload_len);
		check(memcmp(back.payload, e->payload, e->payload_len) == 0);
		/* Duplicate names (any case) collapse into one JSON key. */
		check(back.n_headers <= e->n_headers);
		for (size_t i = 0; i < back.n_headers; i++)
			check(envelope_header(e, back.names[i]) != NULL);
		envelope_release(&back);
	}
	free(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t max = (size_t)data[0] << 8 | data[1];
	const char *body = (const char *)data + 2;
	size_t len = size - 2;
	struct envelope e;
	char err[300];
	int r = envelope_parse(body, len, max, &e, err, sizeof(err));
	if (r < 0) {
		check(r == HQ_E_INVAL || r == HQ_E_TOOBIG || r == HQ_E_NOMEM);
		check(memchr(err, '\0', sizeof(err)) != NULL);
		return 0;
	}
	check(e.payload != NULL);
	check(e.payload_len <= max);
	check(e.payload[e.payload_len] == '\0');
	check(e.n_headers <= ENVELOPE_HEADERS_MAX);
	for (size_t i = 0; i < e.n_headers; i++) {
		check(strlen(e.values[i]) <= ENVELOPE_HEADER_MAX);
		for (const char *c = e.names[i]; *c; c++)
			check(!(*c >= 'A' && *c <= 'Z'));
		const char *v = envelope_header(&e, e.names[i]);
		check(v != NULL);
	}
	(void)envelope_provider(&e);
	if (e.raw && e.payload_len > 0)
		round_trip(&e);
	envelope_release(&e);
	return 0;
}
