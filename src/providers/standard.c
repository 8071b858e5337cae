#include "providers/standard.h"

#include <stdio.h>
#include <string.h>

#include "util/error.h"

static const char *const standard_stored_headers[] = {
	"webhook-id",
	"webhook-timestamp",
	"User-Agent",
	"Content-Type",
	NULL,
};

/* The key: the base64 after "whsec_" (a secret without the prefix is
 * taken as base64 too, as the reference libraries do). */
static int standard_key(const struct provider_settings *s, uint8_t *key, size_t size,
			size_t *len)
{
	const char *b64 = s->secret;
	size_t n = s->secret_len;
	if (n > 6 && strncmp(b64, "whsec_", 6) == 0) {
		b64 += 6;
		n -= 6;
	}
	return crypto_base64_decode(b64, n, key, size, len);
}

bool standard_secret_valid(const char *secret)
{
	struct provider_settings s = { .secret = secret, .secret_len = strlen(secret) };
	uint8_t key[256];
	size_t len = 0;
	bool ok = standard_key(&s, key, sizeof(key), &len) == 0 && len > 0;
	crypto_cleanse(key, sizeof(key));
	return ok;
}

static int standard_verify(const struct provider_settings *s, const struct provider_request *req,
			   const char *id, struct provider_accept *out)
{
	const char *sigs = req->header(req->ctx, "webhook-signature");
	if (!sigs || !*sigs)
		return provider_fail(out, HQ_E_SIG_MISSING, "signature_missing",
				     "missing webhook-signature header");
	const char *ts = req->header(req->ctx, "webhook-timestamp");
	/* A missing or malformed timestamp is named as such, not as a
	 * signature that cannot match it. */
	bool digits = ts && *ts;
	for (const char *p = ts; digits && *p; p++)
		digits = *p >= '0' && *p <= '9';
	if (!digits)
		return provider_timestamp_check(s, req, ts, 1, "webhook-timestamp header", out);
	uint8_t key[256];
	size_t key_len = 0;
	if (standard_key(s, key, sizeof(key), &key_len) < 0)
		/* Checked at start and by the API: only a secret changed
		 * behind their back gets here. Nothing about it is told. */
		return provider_fail(out, HQ_E_SYSTEM, "server_misconfigured",
				     "this endpoint cannot verify deliveries now");
	struct provider_settings keyed = *s;
	keyed.secret = (const char *)key;
	keyed.secret_len = key_len;
	struct crypto_part parts[] = {
		{ id, strlen(id) }, { ".", 1 }, { ts ? ts : "", ts ? strlen(ts) : 0 }, { ".", 1 },
		{ req->body, req->body_len },
	};
	bool ok = false;
	/* "v1,<b64> v1,<b64>": any may match (key rotation); other versions
	 * are skipped. */
	for (const char *p = sigs; *p;) {
		while (*p == ' ')
			p++;
		const char *end = strchr(p, ' ');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len > 3 && strncmp(p, "v1,", 3) == 0 &&
		    provider_hmac_check(&keyed, CRYPTO_SHA256, parts, 5, p + 3, len - 3, true) == 0)
			ok = true;
		p += len;
	}
	crypto_cleanse(key, sizeof(key));
	if (!ok)
		return provider_fail(out, HQ_E_SIG_INVALID, "signature_invalid",
				     "no v1 signature in webhook-signature matches");
	return provider_timestamp_check(s, req, ts, 1, "webhook-timestamp header", out);
}

static int standard_accept(const struct provider_settings *s, const struct provider_request *req,
			   struct provider_accept *out)
{
	const char *id = req->header(req->ctx, "webhook-id");
	int r = provider_take_id(out, id, "webhook-id header");
	if (r < 0)
		return r;
	if (s->secret && (r = standard_verify(s, req, id, out)) < 0)
		return r;
	char type[PROVIDER_ID_MAX + 2], msg[160];
	r = provider_json_get(req->body, req->body_len, "type", false, type, sizeof(type), msg,
			      sizeof(msg));
	/* The spec recommends {"type", "timestamp", "data"}; a sender that
	 * does not name its events gets "webhook". */
	if (r == 0 && provider_type_valid(type))
		snprintf(out->event_type, sizeof(out->event_type), "%.200s", type);
	else
		snprintf(out->event_type, sizeof(out->event_type), "webhook");
	out->store = true;
	return 0;
}

static int standard_normalize(const char *event_type, const char *body, size_t len,
			      struct event_info *info, char *why, size_t why_size)
{
	return provider_normalize_json(event_type, body, len, NULL, NULL, NULL, info, why,
				       why_size);
}

const struct provider provider_standard = {
	.name = "standard",
	.stored_headers = standard_stored_headers,
	.accept = standard_accept,
	.normalize = standard_normalize,
};
