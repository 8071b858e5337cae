/* result: the one outcome shape of the outbound clients (GitHub, Slack,
 * Jira), so the outbox decides the same way for each: done, come back
 * later (not before retry_at_ms when the service said so), or give up. */
#ifndef HOOKQ_CLIENTS_RESULT_H
#define HOOKQ_CLIENTS_RESULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "clients/http.h"

enum client_outcome { CLIENT_OK, CLIENT_RETRY, CLIENT_FAILED };

struct client_result {
	enum client_outcome outcome;
	int64_t retry_at_ms; /* CLIENT_RETRY: not before this (0: the caller's backoff) */
	bool uncertain;	     /* a write may have happened although it did not answer OK */
	long status;	     /* HTTP status, 0 when none arrived */
	char error[256];     /* why, for a log line; never holds a credential */
	int64_t id;	     /* created or found object id, 0 when none */
	char ts[32];	     /* Slack: the posted message's ts, "" otherwise */
};

/* The longest a service may ask us to wait; past it the caller's backoff
 * still retries at its own pace instead of parking the row for days. */
#define CLIENT_RETRY_MAX_S 86400

/* What follows is for the clients in this folder. */

void client_result_init(struct client_result *r);
/* Sets outcome, status and a printf-formatted error. */
void client_result_set(struct client_result *r, enum client_outcome outcome, long status,
		       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Reads http_request()'s return code rc: true when a response arrived and
 * is the caller's to read; otherwise fills r and returns false. No response
 * is RETRY at the caller's backoff, uncertain when write and the request
 * may have reached the server; out of memory is RETRY; a request that
 * cannot be made is FAILED. what starts the error ("jira comment: ..."). */
bool client_result_http(struct client_result *r, int rc, const struct http_response *h,
			bool write, const char *what);
/* The common reading of a status: 2xx OK; 408, 429 and 5xx RETRY at
 * Retry-After (else 0: the caller's backoff), uncertain for a write
 * answered with a 5xx other than 503 (502 and 504 may come after the
 * work was done); anything else FAILED. Sets outcome, status, retry_at_ms
 * and uncertain; the error is the caller's to write. */
void client_result_status(struct client_result *r, const struct http_response *h,
			  int64_t now_ms, bool write);
/* now_ms + Retry-After when the answer carries one, else 0. */
int64_t client_retry_after_at(const struct http_response *h, int64_t now_ms);
/* Copies len bytes of text from a service into out (size bytes) for an
 * error message: control characters become spaces, a cut falls between
 * UTF-8 characters. */
void client_text(char *out, size_t size, const char *text, size_t len);
/* A JSON string of text made valid UTF-8 first: jansson refuses a string
 * with ill-formed UTF-8, and a reply with one odd byte is still worth
 * sending. NULL when out of memory. */
json_t *client_json_text(const char *text);
/* Replaces each occurrence of secret in r->error (a service echoing it
 * back) with "[redacted]": a credential never leaves the client. */
void client_result_redact(struct client_result *r, const char *secret);

#endif
