#include "providers/stripe.h"

#include <stdio.h>
#include <string.h>

#include "core/jscan.h"
#include "core/event.h"
#include "util/error.h"

static const char *const stripe_stored_headers[] = {
	"User-Agent",
	"Content-Type",
	NULL,
};

/* Signatures one header may carry (Stripe sends one v1 per active
 * secret while a secret is being rolled). */
#define STRIPE_MAX_V1 8

static int stripe_verify(const struct provider_settings *s, const struct provider_request *req,
			 struct provider_accept *out)
{
	const char *h = req->header(req->ctx, "Stripe-Signature");
	if (!h || !*h)
		return provider_fail(out, HQ_E_SIG_MISSING, "signature_missing",
				     "missing Stripe-Signature header");
	char t[24] = "";
	const char *v1[STRIPE_MAX_V1];
	size_t v1_len[STRIPE_MAX_V1], n = 0;
	for (const char *p = h; *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len > 2 && p[0] == 't' && p[1] == '=' && len - 2 < sizeof(t)) {
			memcpy(t, p + 2, len - 2);
			t[len - 2] = '\0';
		} else if (len > 3 && strncmp(p, "v1=", 3) == 0 && n < STRIPE_MAX_V1) {
			v1[n] = p + 3;
			v1_len[n++] = len - 3;
		}
		p += len + (end ? 1 : 0);
	}
	if (!t[0] || n == 0)
		return provider_fail(out, HQ_E_SIG_INVALID, "signature_invalid",
				     "Stripe-Signature needs t= and at least one v1=");
	struct crypto_part parts[] = { { t, strlen(t) }, { ".", 1 }, { req->body, req->body_len } };
	bool ok = false;
	for (size_t i = 0; i < n; i++)
		if (provider_hmac_check(s, CRYPTO_SHA256, parts, 3, v1[i], v1_len[i], false) == 0)
			ok = true;
	if (!ok)
		return provider_fail(out, HQ_E_SIG_INVALID, "signature_invalid",
				     "no v1 signature in Stripe-Signature matches the body");
	return provider_timestamp_check(s, req, t, 1, "the t= timestamp of Stripe-Signature", out);
}

static int stripe_accept(const struct provider_settings *s, const struct provider_request *req,
			 struct provider_accept *out)
{
	if (s->secret) {
		int r = stripe_verify(s, req, out);
		if (r < 0)
			return r;
	}
	char id[PROVIDER_ID_MAX + 2], type[PROVIDER_ID_MAX + 2], msg[160];
	struct jscan_field f[] = {
		{ { "id", NULL }, id, sizeof(id), false, false },
		{ { "type", NULL }, type, sizeof(type), false, false },
	};
	enum jscan_type top;
	if (jscan(req->body, req->body_len, f, 2, &top, msg, sizeof(msg)) < 0)
		return provider_fail(out, HQ_E_INVAL, "body_invalid", "the body is not JSON: %s",
				     msg);
	int r = provider_take_id(out, f[0].found ? id : NULL, "id in the body");
	if (r == 0)
		r = provider_take_type(out, f[1].found ? type : NULL, "type in the body");
	if (r < 0)
		return r;
	out->store = true;
	return 0;
}

static int stripe_normalize(const char *event_type, const char *body, size_t len,
			    struct event_info *info, char *why, size_t why_size)
{
	int r = provider_normalize_json(event_type, body, len, NULL, "account", NULL, info, why,
					why_size);
	if (r == 0) /* "payment_intent.succeeded" already says what happened */
		snprintf(info->type, sizeof(info->type), "%s", event_type);
	return r;
}

const struct provider provider_stripe = {
	.name = "stripe",
	.stored_headers = stripe_stored_headers,
	.accept = stripe_accept,
	.normalize = stripe_normalize,
};
