/* github: GitHub webhooks. verify() checks X-Hub-Signature-256
 * ("sha256=" + hex HMAC-SHA256 of the raw body) in constant time; the
 * delivery id (X-GitHub-Delivery) keys idempotency. */
#ifndef HOOKQ_PROVIDERS_GITHUB_H
#define HOOKQ_PROVIDERS_GITHUB_H

#include <stdbool.h>
#include <stddef.h>

#include "providers/provider.h"

#define GITHUB_HEADER_SIGNATURE "X-Hub-Signature-256"
#define GITHUB_HEADER_EVENT "X-GitHub-Event"
#define GITHUB_HEADER_DELIVERY "X-GitHub-Delivery"

extern const struct provider provider_github;

/* Headers kept with the stored event (the signature is not: it has been
 * checked, and a route may change its secret later). */
extern const char *const github_stored_headers[];

/* 0 when sig_header is a valid signature of body under secret;
 * HQ_E_SIG_MISSING when sig_header is NULL or empty; HQ_E_SIG_INVALID
 * otherwise (wrong prefix, length, digits, or value). */
int github_verify(const void *secret, size_t secret_len, const void *body, size_t len,
		  const char *sig_header);

struct event_info;

/* Parses a stored GitHub webhook body and fills info. HQ_E_INVAL (a
 * permanent failure: retrying cannot help) for a body that is not a JSON
 * object, with the reason in why. */
int github_normalize(const char *event, const char *body, size_t len,
		     struct event_info *info, char *why, size_t why_size);

/* Delivery ids and event names are 1..200 characters of [A-Za-z0-9._:-]:
 * they go into logs, JSON answers and unique keys as they are. */
bool github_token_valid(const char *s);

#endif
