/* envelope: a webhook carried in a queue message, as the SQS source reads
 * it: {"headers": {name: value, ...}, "payload": ...} where the payload is
 * a JSON object (kept as compact JSON), a JSON text in a string (kept byte
 * for byte), or base64 (decoded: the bytes as the provider sent them, the
 * only form whose signature can still be checked). Header names are
 * matched case-insensitively. Pure. */
#ifndef HOOKQ_CORE_ENVELOPE_H
#define HOOKQ_CORE_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>

#define ENVELOPE_HEADERS_MAX 64
#define ENVELOPE_HEADER_MAX 8192 /* bytes of one header value */

struct envelope {
	char *names[ENVELOPE_HEADERS_MAX]; /* lower-case */
	char *values[ENVELOPE_HEADERS_MAX];
	size_t n_headers;
	char *payload; /* NUL-terminated for convenience; payload_len bytes */
	size_t payload_len;
	bool raw; /* the bytes as sent (a string or base64), not re-encoded JSON */
};

/* Reads a message body of len bytes. HQ_E_INVAL with the reason in err
 * ("the message is not JSON: line 1 column 2: ...", "'headers' must be an
 * object of strings", "no 'payload'", "'payload' is neither JSON nor
 * base64"), HQ_E_TOOBIG when the payload would exceed max_payload. */
int envelope_parse(const char *body, size_t len, size_t max_payload, struct envelope *ret,
		   char *err, size_t err_size);
void envelope_release(struct envelope *e);

/* The value of header name (any case), or NULL. */
const char *envelope_header(const struct envelope *e, const char *name);

/* The provider the headers point to ("github" for X-GitHub-Event, ...;
 * NULL when none does). */
const char *envelope_provider(const struct envelope *e);

/* The message a forwarder sends for a webhook: headers and the body as
 * base64 (malloc'd JSON). names/values: n headers. */
char *envelope_make(const char *const *names, const char *const *values, size_t n,
		    const char *body, size_t len);

#endif
