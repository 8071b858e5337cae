/* provider: what every webhook provider implements. accept() runs on the
 * ack path: it verifies the signature over the raw bytes (and the signed
 * timestamp's age), finds the delivery id and the event type, and may
 * answer at once (Slack's url_verification, slash-command acks). It parses
 * JSON only where the provider puts the delivery id or type in the body.
 * normalize() runs at processing time. One file per provider;
 * provider_find() looks one up by name. */
#ifndef HOOKQ_PROVIDERS_PROVIDER_H
#define HOOKQ_PROVIDERS_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/crypto.h"

struct event_info;

/* One provider's settings, from the configuration. */
struct provider_settings {
	/* NULL: requests are not verified (dev mode only). */
	const char *secret;
	size_t secret_len;
	int64_t tolerance_s; /* window for a signed timestamp, either way */
	const char *ack_text; /* slack: the answer to a slash command */
	/* generic */
	enum crypto_alg algorithm;
	bool base64;		      /* signature encoding: base64, else hex */
	const char *signature_header; /* HMAC signature header */
	const char *signature_prefix; /* before the digest ("sha256="), or "" */
	const char *token_header;     /* set: a shared token instead of an HMAC */
	const char *delivery_header, *delivery_json;
	const char *event_header, *event_json;
};

/* One delivery as the source received it. */
struct provider_request {
	/* The value of a request header (names are case-insensitive), or
	 * NULL. */
	const char *(*header)(void *ctx, const char *name);
	void *ctx;
	const char *body;
	size_t body_len;
	int64_t now_s; /* wall clock, for timestamp windows */
};

#define PROVIDER_ID_MAX 200
#define PROVIDER_MESSAGE_MAX 256

/* What accept() decided. */
struct provider_accept {
	char delivery_id[PROVIDER_ID_MAX + 1];
	char event_type[PROVIDER_ID_MAX + 1];
	bool store;   /* false: answer without storing anything */
	char *answer; /* malloc'd JSON sent instead of the standard answer */
	/* On error: the reason code for the answer and the metrics, and a
	 * message naming what was wrong. */
	const char *code;
	char message[PROVIDER_MESSAGE_MAX];
};

struct provider {
	const char *name;
	/* Headers kept with the stored event (never a signature). */
	const char *const *stored_headers;
	/* 0: store the delivery (out filled). HQ_E_SIG_MISSING or
	 * HQ_E_SIG_INVALID (401), HQ_E_INVAL (400), HQ_E_NOMEM, with
	 * out->code and out->message set. */
	int (*accept)(const struct provider_settings *s, const struct provider_request *req,
		      struct provider_accept *out);
	/* Parses a stored body for processing. HQ_E_INVAL (permanent) for a
	 * body that cannot be this provider's, with the reason in why. */
	int (*normalize)(const char *event_type, const char *body, size_t len,
			 struct event_info *info, char *why, size_t why_size);
};

/* Every provider, NULL-terminated, in the order the docs list them. */
extern const struct provider *const provider_all[];
const struct provider *provider_find(const char *name);
void provider_accept_release(struct provider_accept *a);

/* For provider files. */

/* Sets out's error and returns err. */
int provider_fail(struct provider_accept *out, int err, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Delivery ids: 1..200 printable ASCII characters other than space, '"'
 * and '\\' (they go into logs, JSON answers and unique keys as they are). */
bool provider_id_valid(const char *s);
/* Event types: the same, spaces allowed ("Note Hook"). */
bool provider_type_valid(const char *s);
/* Checks that digest (hex, or base64) is the HMAC of parts under s's
 * secret, in constant time: 0 or HQ_E_SIG_INVALID. */
int provider_hmac_check(const struct provider_settings *s, enum crypto_alg alg,
			const struct crypto_part *parts, size_t n, const char *digest, size_t len,
			bool base64);
/* Constant-time equality of a presented token with the secret. */
bool provider_token_equal(const struct provider_settings *s, const char *token);
/* A signed timestamp (seconds) within s->tolerance_s of now: 0, or
 * HQ_E_SIG_INVALID with out set (timestamp_invalid). */
int provider_timestamp_check(const struct provider_settings *s, const struct provider_request *req,
			     const char *text, int64_t scale, const char *what,
			     struct provider_accept *out);
/* Copies a header or JSON value into out as a delivery id or event type,
 * failing with a message naming where it came from. */
int provider_take_id(struct provider_accept *out, const char *value, const char *what);
int provider_take_type(struct provider_accept *out, const char *value, const char *what);
/* Reads a string (or with numbers, a number as written) at a dotted path
 * of a JSON body: 0, HQ_E_NOTFOUND, or HQ_E_INVAL when the body is not
 * JSON (where in msg). */
int provider_json_get(const char *body, size_t len, const char *path, bool numbers, char *out,
		      size_t size, char *msg, size_t msg_size);
/* Normalizes a JSON object body by paths: type from event_type (plus
 * "." + action when action_path finds one). Paths are dotted. */
int provider_normalize_json(const char *event_type, const char *body, size_t len,
			    const char *action_path, const char *repository_path,
			    const char *sender_path, struct event_info *info, char *why,
			    size_t why_size);

#endif
