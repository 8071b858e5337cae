#include "providers/github.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/event.h"
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

static void copy_field(char *dst, const char *src)
{
	snprintf(dst, EVENT_FIELD_MAX, "%s", src ? src : "");
}

int github_normalize(const char *event, const void *body, size_t len,
		     struct event_info *info, char *why, size_t why_size)
{
	json_error_t jerr;
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		snprintf(why, why_size, "malformed JSON at line %d column %d: %s", jerr.line,
			 jerr.column, jerr.text);
		return HQ_E_INVAL;
	}
	if (!json_is_object(root)) {
		snprintf(why, why_size, "the payload is JSON but not an object");
		json_decref(root);
		return HQ_E_INVAL;
	}
	struct event_info out;
	memset(&out, 0, sizeof(out));
	const char *action = json_string_value(json_object_get(root, "action"));
	copy_field(out.action, action);
	if (action && *action)
		snprintf(out.type, sizeof(out.type), "%.120s.%.120s", event, action);
	else
		copy_field(out.type, event);
	json_t *repo = json_object_get(root, "repository");
	copy_field(out.repository, json_string_value(json_object_get(repo, "full_name")));
	json_t *sender = json_object_get(root, "sender");
	copy_field(out.sender, json_string_value(json_object_get(sender, "login")));
	const char *kind = json_string_value(json_object_get(sender, "type"));
	out.sender_is_bot = kind && strcmp(kind, "Bot") == 0;
	json_decref(root);
	*info = out;
	return 0;
}
