/* aws: AWS credentials found where the AWS SDKs look for them: the
 * environment, the shared credentials file, then the container
 * credentials endpoint (ECS, EKS Pod Identity), cached and refreshed
 * before they expire. Signing is libcurl's (CURLOPT_AWS_SIGV4): see
 * clients/sqs. */
#ifndef HOOKQ_CLIENTS_AWS_H
#define HOOKQ_CLIENTS_AWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct aws_credentials {
	char access_key[128];
	char secret_key[256];
	char session_token[2048]; /* "" when none */
	int64_t expires_at_ms;	  /* 0: does not expire */
	/* Where they came from, for an error message: "the environment",
	 * "the shared credentials file", "the container endpoint". */
	const char *source;
};

struct aws_provider;

struct aws_provider_options {
	const char *region; /* copied; no source of credentials needs it yet */
	/* Environment lookups, for tests: NULL reads the real environment.
	 * Files named by the environment are read as they are. */
	const char *(*getenv)(void *ctx, const char *name);
	void *ctx;
	long timeout_ms; /* container endpoint request; 0: 5 s */
};

/* Copies the options; nothing is looked up yet (aws_provider_get() does,
 * so that a start-up check can call it and report). The provider is shared
 * by threads. */
int aws_provider_new(const struct aws_provider_options *o, struct aws_provider **ret, char *err,
		     size_t err_size);
/* Wipes the cached credentials. Accepts NULL. */
void aws_provider_free(struct aws_provider *p);

/* Container credentials are renewed this long before they expire. */
#define AWS_REFRESH_BEFORE_MS (5 * 60 * 1000)

/* The current credentials, copied into ret. The first call looks in order:
 *   AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN);
 *   AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, profile AWS_PROFILE
 *   or "default" (aws_access_key_id, aws_secret_access_key,
 *   aws_session_token);
 *   AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (on http://169.254.170.2) or
 *   AWS_CONTAINER_CREDENTIALS_FULL_URI (https, or http to a loopback or
 *   the ECS/EKS link-local address), with an Authorization header read
 *   from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (again at each refresh,
 *   as EKS rotates it) or AWS_CONTAINER_AUTHORIZATION_TOKEN.
 * Static credentials are kept; container credentials are fetched again
 * from AWS_REFRESH_BEFORE_MS before they expire (while a refresh fails,
 * the old ones are used until they expire, with 10 s between attempts).
 * Returns HQ_E_CONFIG with err naming what is missing or wrong (no
 * credentials anywhere, half a key pair, an unusable file or URI),
 * HQ_E_RETRY when the container endpoint does not answer with
 * credentials. err never holds a secret. */
int aws_provider_get(struct aws_provider *p, int64_t now_ms, struct aws_credentials *ret,
		     char *err, size_t err_size);
/* After a service said the credentials expired: forgets them when they
 * can be fetched again, so that the next aws_provider_get() does, and
 * returns true; false for static credentials (nothing newer to read). */
bool aws_provider_expire(struct aws_provider *p);
void aws_credentials_wipe(struct aws_credentials *c);

#endif
