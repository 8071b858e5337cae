/* http: the webhook endpoint over libmicrohttpd. A pool of polling threads
 * reads requests; a webhook's connection is suspended while the group
 * committer stores it and resumed with the answer, so a handful of threads
 * serve many requests in flight. The ack path verifies the signature over
 * the raw bytes, stores them, and answers: nothing else. */
#ifndef HOOKQ_SOURCES_HTTP_H
#define HOOKQ_SOURCES_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/admin.h"
#include "engine/ingest.h"
#include "providers/provider.h"
#include "util/buf.h"

/* POST path → provider, with its settings (secret, windows, ...). */
struct http_endpoint {
	const char *path;
	const struct provider *provider;
	struct provider_settings settings;
	const char *route; /* stored as the event's route; NULL: the provider */
};

struct http_options {
	const char *host;
	uint16_t port;
	unsigned threads;
	unsigned max_connections;
	unsigned connection_timeout_s;
	size_t max_body;
	size_t max_header_size;
	size_t max_pending_bytes;
	/* The webhook endpoints: one per enabled provider (and aliases). */
	const struct http_endpoint *endpoints;
	size_t n_endpoints;
	/* Dynamic webhooks, POST /webhooks/{provider}/{id}: every provider's
	 * settings (secret unset), and a lookup of the webhook's row:
	 * 0 with *enabled and the secret, HQ_E_NOTFOUND, or a store error. */
	const struct http_endpoint *dynamic;
	size_t n_dynamic;
	int (*lookup)(void *ctx, const char *provider, const char *id, bool *enabled,
		      char *secret, size_t secret_size, bool *has_secret);
	void *lookup_ctx;
	bool dev; /* a dynamic webhook without a secret is accepted only then */
	const char *version;
	/* Admin endpoints (GET /status) want HTTP Basic with these; with no
	 * password (dev mode only) they are open. */
	const char *admin_user;
	const char *admin_password;
	/* Renders the /status document (malloc'd JSON); < 0 when it cannot. */
	int (*status)(void *ctx, char **json);
	/* Appends the store's and processor's metrics for /metrics. */
	int (*metrics)(void *ctx, struct buf *out);
	/* The admin API under /api/ (NULL: none). */
	const struct admin *admin;
	void *status_ctx;
	/* Where accepted webhooks go instead of the committer (the forwarder:
	 * engine/forward, same contract as ingest_submit); NULL: ingest. */
	int (*submit)(void *ctx, struct ingest_req *req);
	void *submit_ctx;
};

struct http_server;

int http_start(const struct http_options *opt, struct ingest *ingest,
	       struct http_server **ret, char *err, size_t err_size);
/* The port actually bound (useful with port 0). */
uint16_t http_port(const struct http_server *srv);
/* Stops accepting, lets requests in flight finish (up to grace_ms), then
 * closes every connection and frees srv. */
void http_stop(struct http_server *srv, uint64_t grace_ms);

#endif
