/* http: one bounded outbound HTTP request over libcurl, the transport of
 * every client in this folder. It answers what arrived (status, a capped
 * body, the retry and rate-limit headers) or why nothing did, and whether
 * the request may have reached the server all the same. */
#ifndef HOOKQ_CLIENTS_HTTP_H
#define HOOKQ_CLIENTS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_response {
	long status;		     /* 0 when no response arrived */
	char *body;		     /* NUL-terminated, never NULL after a response */
	size_t body_len;	     /* at most max_body */
	bool truncated;		     /* the body went past max_body and was cut */
	int64_t retry_after_s;	     /* Retry-After (seconds, or an HTTP date as seconds from now), -1 when absent */
	int64_t ratelimit_reset;     /* x-ratelimit-reset (epoch seconds), -1 when absent */
	int64_t ratelimit_remaining; /* x-ratelimit-remaining, -1 when absent */
	int link_next;		     /* Link header: 1 with rel="next", 0 without, -1 when absent */
	/* The request may have reached the server without a complete answer
	 * (a timeout or a connection lost after sending): the caller must check
	 * before repeating a request that is not idempotent. */
	bool uncertain;
	char error[256]; /* transport error text, "" when a response arrived */
};

/* Sends method to url (http or https only; redirects are not followed)
 * with headers ("Name: value", NULL-terminated list, may be NULL) and
 * body (may be NULL for none), within timeout_ms overall.
 * Returns 0 when a response arrived, whatever its status; HQ_E_IO when
 * none did (ret->error and ret->uncertain say why); HQ_E_INVAL for a URL
 * that is not http(s) or a header with a line break; HQ_E_NOMEM.
 * ret is always initialised: http_response_release() it in every case. */
int http_request(const char *method, const char *url, const char *const *headers,
		 const char *body, size_t body_len, long timeout_ms, size_t max_body,
		 struct http_response *ret);
void http_response_release(struct http_response *r);

#endif
