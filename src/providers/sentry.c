#include "providers/sentry.h"

#include <string.h>

#include "util/error.h"

static const char *const sentry_stored_headers[] = {
	"Sentry-Hook-Resource",
	"Sentry-Hook-Timestamp",
	"Request-ID",
	"User-Agent",
	"Content-Type",
	NULL,
};

static int sentry_accept(const struct provider_settings *s, const struct provider_request *req,
			 struct provider_accept *out)
{
	if (s->secret) {
		const char *sig = req->header(req->ctx, "Sentry-Hook-Signature");
		if (!sig || !*sig)
			return provider_fail(out, HQ_E_SIG_MISSING, "signature_missing",
					     "missing Sentry-Hook-Signature header");
		struct crypto_part body = { req->body, req->body_len };
		if (provider_hmac_check(s, CRYPTO_SHA256, &body, 1, sig, strlen(sig), false) < 0)
			return provider_fail(out, HQ_E_SIG_INVALID, "signature_invalid",
					     "Sentry-Hook-Signature does not match the body");
	}
	int r = provider_take_type(out, req->header(req->ctx, "Sentry-Hook-Resource"),
				   "Sentry-Hook-Resource header");
	if (r == 0)
		r = provider_take_id(out, req->header(req->ctx, "Request-ID"), "Request-ID header");
	if (r < 0)
		return r;
	out->store = true;
	return 0;
}

static int sentry_normalize(const char *event_type, const char *body, size_t len,
			    struct event_info *info, char *why, size_t why_size)
{
	return provider_normalize_json(event_type, body, len, "action",
				       "data.issue.project.slug", "actor.name", info, why,
				       why_size);
}

const struct provider provider_sentry = {
	.name = "sentry",
	.stored_headers = sentry_stored_headers,
	.accept = sentry_accept,
	.normalize = sentry_normalize,
};
