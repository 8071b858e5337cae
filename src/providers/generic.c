#include "providers/generic.h"

#include <stdio.h>
#include <string.h>

#include "core/event.h"
#include "util/error.h"

static const char *const generic_stored_headers[] = {
	"User-Agent",
	"Content-Type",
	NULL,
};

static int generic_verify(const struct provider_settings *s, const struct provider_request *req,
			  struct provider_accept *out)
{
	if (s->token_header && *s->token_header) {
		const char *token = req->header(req->ctx, s->token_header);
		if (!token || !*token)
			return provider_fail(out, HQ_E_SIG_MISSING, "signature_missing",
					     "missing %s header", s->token_header);
		if (!provider_token_equal(s, token))
			return provider_fail(out, HQ_E_SIG_INVALID, "signature_invalid",
					     "%s does not match the secret", s->token_header);
		return 0;
	}
	const char *name = s->signature_header && *s->signature_header ? s->signature_header :
									 "X-Signature";
	const char *sig = req->header(req->ctx, name);
	if (!sig || !*sig)
		return provider_fail(out, HQ_E_SIG_MISSING, "signature_missing", "missing %s header",
				     name);
	const char *prefix = s->signature_prefix ? s->signature_prefix : "";
	size_t plen = strlen(prefix);
	struct crypto_part body = { req->body, req->body_len };
	if (strncmp(sig, prefix, plen) != 0 ||
	    provider_hmac_check(s, s->algorithm, &body, 1, sig + plen, strlen(sig) - plen,
				s->base64) < 0)
		return provider_fail(out, HQ_E_SIG_INVALID, "signature_invalid",
				     "%s does not match the body", name);
	return 0;
}

/* A value from a header, else a JSON path of the body: 0 and out set, or
 * HQ_E_NOTFOUND when neither is configured or present. */
static int generic_value(const struct provider_request *req, const char *header,
			 const char *json, char *out, size_t size, struct provider_accept *acc)
{
	if (header && *header) {
		const char *v = req->header(req->ctx, header);
		if (!v)
			return HQ_E_NOTFOUND;
		snprintf(out, size, "%s", v);
		return 0;
	}
	if (json && *json) {
		char msg[160];
		int r = provider_json_get(req->body, req->body_len, json, true, out, size, msg,
					  sizeof(msg));
		if (r == HQ_E_INVAL)
			return provider_fail(acc, HQ_E_INVAL, "body_invalid",
					     "the body is not JSON: %s", msg);
		return r;
	}
	return HQ_E_NOTFOUND;
}

static int generic_accept(const struct provider_settings *s, const struct provider_request *req,
			  struct provider_accept *out)
{
	if (s->secret) {
		int r = generic_verify(s, req, out);
		if (r < 0)
			return r;
	}
	char v[PROVIDER_ID_MAX + 2];
	bool configured = (s->delivery_header && *s->delivery_header) ||
			  (s->delivery_json && *s->delivery_json);
	int r = generic_value(req, s->delivery_header, s->delivery_json, v, sizeof(v), out);
	if (r == HQ_E_INVAL)
		return r;
	if (configured) {
		char what[160];
		snprintf(what, sizeof(what), "%s%s", s->delivery_header && *s->delivery_header ?
							     s->delivery_header :
							     s->delivery_json,
			 s->delivery_header && *s->delivery_header ? " header" : " in the body");
		r = provider_take_id(out, r == 0 ? v : NULL, what);
		if (r < 0)
			return r;
	} else {
		/* No id from the sender: the body's hash, so the same bytes
		 * sent twice are one event. */
		uint8_t d[CRYPTO_SHA256_LEN];
		char hex[2 * CRYPTO_SHA256_LEN + 1];
		if (crypto_sha256(req->body, req->body_len, d) < 0)
			return provider_fail(out, HQ_E_SYSTEM, "out_of_memory", "cannot hash");
		crypto_hex_encode(d, sizeof(d), hex);
		snprintf(out->delivery_id, sizeof(out->delivery_id), "sha256:%s", hex);
	}
	r = generic_value(req, s->event_header, s->event_json, v, sizeof(v), out);
	if (r == HQ_E_INVAL)
		return r;
	if (r == 0 && provider_type_valid(v))
		snprintf(out->event_type, sizeof(out->event_type), "%.200s", v);
	else
		snprintf(out->event_type, sizeof(out->event_type), "webhook");
	out->store = true;
	return 0;
}

static int generic_normalize(const char *event_type, const char *body, size_t len,
			     struct event_info *info, char *why, size_t why_size)
{
	/* Any bytes are a valid generic delivery: only JSON is read. */
	int r = provider_normalize_json(event_type, body, len, NULL, NULL, NULL, info, why,
					why_size);
	if (r < 0) {
		memset(info, 0, sizeof(*info));
		snprintf(info->type, sizeof(info->type), "%s", event_type);
	}
	return 0;
}

const struct provider provider_generic = {
	.name = "generic",
	.stored_headers = generic_stored_headers,
	.accept = generic_accept,
	.normalize = generic_normalize,
};
