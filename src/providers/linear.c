#include "providers/linear.h"

#include <string.h>

#include "util/error.h"

static const char *const linear_stored_headers[] = {
	"Linear-Event",
	"Linear-Delivery",
	"User-Agent",
	"Content-Type",
	NULL,
};

static int linear_accept(const struct provider_settings *s, const struct provider_request *req,
			 struct provider_accept *out)
{
	if (s->secret) {
		const char *sig = req->header(req->ctx, "Linear-Signature");
		if (!sig || !*sig)
			return provider_fail(out, HQ_E_SIG_MISSING, "signature_missing",
					     "missing Linear-Signature header");
		struct crypto_part body = { req->body, req->body_len };
		if (provider_hmac_check(s, CRYPTO_SHA256, &body, 1, sig, strlen(sig), false) < 0)
			return provider_fail(out, HQ_E_SIG_INVALID, "signature_invalid",
					     "Linear-Signature does not match the body");
		/* The timestamp is inside the signed body: a replay of an old
		 * delivery carries its old time. */
		char ts[32], msg[160];
		int r = provider_json_get(req->body, req->body_len, "webhookTimestamp", true, ts,
					  sizeof(ts), msg, sizeof(msg));
		if (r == HQ_E_INVAL)
			return provider_fail(out, HQ_E_INVAL, "body_invalid",
					     "the body is not JSON: %s", msg);
		r = provider_timestamp_check(s, req, r == 0 ? ts : NULL, 1000,
					     "webhookTimestamp in the body", out);
		if (r < 0)
			return r;
	}
	int r = provider_take_type(out, req->header(req->ctx, "Linear-Event"),
				   "Linear-Event header");
	if (r == 0)
		r = provider_take_id(out, req->header(req->ctx, "Linear-Delivery"),
				     "Linear-Delivery header");
	if (r < 0)
		return r;
	out->store = true;
	return 0;
}

static int linear_normalize(const char *event_type, const char *body, size_t len,
			    struct event_info *info, char *why, size_t why_size)
{
	return provider_normalize_json(event_type, body, len, "action", "data.team.key",
				       "actor.name", info, why, why_size);
}

const struct provider provider_linear = {
	.name = "linear",
	.stored_headers = linear_stored_headers,
	.accept = linear_accept,
	.normalize = linear_normalize,
};
