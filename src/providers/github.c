#include "providers/github.h"

#include <stdio.h>
#include <string.h>

#include "core/event.h"
#include "core/jscan.h"
#include "util/crypto.h"
#include "util/error.h"

const char *const github_stored_headers[] = {
	"X-GitHub-Event",
	"X-GitHub-Delivery",
	"X-GitHub-Hook-ID",
	"X-GitHub-Hook-Installation-Target-ID",
	"X-GitHub-Hook-Installation-Target-Type",
	"User-Agent",
	"Content-Type",
	NULL,
};

int github_verify(const void *secret, size_t secret_len, const void *body, size_t len,
		  const char *sig_header)
{
	static const char prefix[] = "sha256=";
	if (!sig_header || !*sig_header)
		return HQ_E_SIG_MISSING;
	size_t sig_len = strlen(sig_header);
	if (sig_len != sizeof(prefix) - 1 + 2 * CRYPTO_SHA256_LEN ||
	    strncmp(sig_header, prefix, sizeof(prefix) - 1) != 0)
		return HQ_E_SIG_INVALID;
	uint8_t given[CRYPTO_SHA256_LEN];
	if (crypto_hex_decode(sig_header + sizeof(prefix) - 1, 2 * CRYPTO_SHA256_LEN, given,
			      sizeof(given)) < 0)
		return HQ_E_SIG_INVALID;
	uint8_t want[CRYPTO_SHA256_LEN];
	if (crypto_hmac_sha256(secret, secret_len, body, len, want) < 0)
		return HQ_E_SYSTEM;
	bool ok = crypto_equal(given, want, sizeof(want));
	crypto_cleanse(want, sizeof(want));
	return ok ? 0 : HQ_E_SIG_INVALID;
}

bool github_token_valid(const char *s)
{
	if (!s)
		return false;
	size_t n = 0;
	for (const char *p = s; *p; p++, n++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
			  c == '-';
		if (!ok || n >= 200)
			return false;
	}
	return n > 0;
}

int github_normalize(const char *event, const char *body, size_t len,
		     struct event_info *info, char *why, size_t why_size)
{
	struct event_info out;
	memset(&out, 0, sizeof(out));
	char kind[16];
	struct jscan_field f[] = {
		{ { "action", NULL }, out.action, sizeof(out.action), false, false },
		{ { "repository", "full_name", NULL }, out.repository, sizeof(out.repository), false, false },
		{ { "sender", "login", NULL }, out.sender, sizeof(out.sender), false, false },
		{ { "sender", "type", NULL }, kind, sizeof(kind), false, false },
	};
	enum jscan_type top;
	char err[160];
	if (jscan(body, len, f, sizeof(f) / sizeof(f[0]), &top, err, sizeof(err)) < 0) {
		snprintf(why, why_size, "malformed JSON at %s", err);
		return HQ_E_INVAL;
	}
	if (top != JSCAN_OBJECT) {
		snprintf(why, why_size, "the payload is JSON but not an object");
		return HQ_E_INVAL;
	}
	if (out.action[0])
		snprintf(out.type, sizeof(out.type), "%.120s.%.120s", event, out.action);
	else
		snprintf(out.type, sizeof(out.type), "%s", event);
	out.sender_is_bot = f[3].found && strcmp(kind, "Bot") == 0;
	*info = out;
	return 0;
}

static const char *header(const struct provider_request *req, const char *name)
{
	return req->header(req->ctx, name);
}

static int github_accept(const struct provider_settings *s, const struct provider_request *req,
			 struct provider_accept *out)
{
	if (s->secret) {
		int r = github_verify(s->secret, s->secret_len, req->body, req->body_len,
				      header(req, GITHUB_HEADER_SIGNATURE));
		if (r == HQ_E_SIG_MISSING)
			return provider_fail(out, r, "signature_missing",
					     "missing X-Hub-Signature-256 header");
		if (r < 0)
			return provider_fail(out, HQ_E_SIG_INVALID, "signature_invalid",
					     "X-Hub-Signature-256 does not match the body");
	}
	const char *event = header(req, GITHUB_HEADER_EVENT);
	const char *delivery = header(req, GITHUB_HEADER_DELIVERY);
	if (!event || !*event)
		return provider_fail(out, HQ_E_INVAL, "event_missing",
				     "missing X-GitHub-Event header");
	if (!github_token_valid(event))
		return provider_fail(out, HQ_E_INVAL, "event_invalid",
				     "X-GitHub-Event must be 1-200 characters of A-Z a-z 0-9 . _ : -");
	if (!delivery || !*delivery)
		return provider_fail(out, HQ_E_INVAL, "delivery_missing",
				     "missing X-GitHub-Delivery header");
	if (!github_token_valid(delivery))
		return provider_fail(out, HQ_E_INVAL, "delivery_invalid",
				     "X-GitHub-Delivery must be 1-200 characters of A-Z a-z 0-9 . _ : -");
	snprintf(out->event_type, sizeof(out->event_type), "%s", event);
	snprintf(out->delivery_id, sizeof(out->delivery_id), "%s", delivery);
	out->store = true;
	return 0;
}

const struct provider provider_github = {
	.name = "github",
	.stored_headers = github_stored_headers,
	.accept = github_accept,
	.normalize = github_normalize,
};
