#include "providers/provider.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "core/jscan.h"
#include "providers/generic.h"
#include "providers/github.h"
#include "providers/gitlab.h"
#include "providers/jira.h"
#include "providers/linear.h"
#include "providers/sentry.h"
#include "providers/slack.h"
#include "providers/standard.h"
#include "providers/stripe.h"
#include "util/error.h"

const struct provider *const provider_all[] = {
	&provider_github, &provider_gitlab, &provider_slack,	&provider_sentry,  &provider_jira,
	&provider_linear, &provider_stripe, &provider_standard, &provider_generic, NULL,
};

const struct provider *provider_find(const char *name)
{
	for (const struct provider *const *p = provider_all; name && *p; p++)
		if (strcmp((*p)->name, name) == 0)
			return *p;
	return NULL;
}

void provider_accept_release(struct provider_accept *a)
{
	if (!a)
		return;
	free(a->answer);
	a->answer = NULL;
}

int provider_fail(struct provider_accept *out, int err, const char *code, const char *fmt, ...)
{
	out->code = code;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out->message, sizeof(out->message), fmt, ap);
	va_end(ap);
	if (n < 0)
		out->message[0] = '\0';
	return err;
}

static bool text_valid(const char *s, bool spaces)
{
	if (!s)
		return false;
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++) {
		bool ok = (*p > 0x20 && *p < 0x7f && *p != '"' && *p != '\\') ||
			  (spaces && *p == ' ');
		if (!ok || n >= PROVIDER_ID_MAX)
			return false;
	}
	return n > 0;
}

bool provider_id_valid(const char *s)
{
	return text_valid(s, false);
}

bool provider_type_valid(const char *s)
{
	return text_valid(s, true);
}

int provider_hmac_check(const struct provider_settings *s, enum crypto_alg alg,
			const struct crypto_part *parts, size_t n, const char *digest, size_t len,
			bool base64)
{
	/* Room for base64's padding: 88 characters decode into 66 bytes
	 * before the padding is taken off. */
	uint8_t want[CRYPTO_MAX_DIGEST], given[CRYPTO_MAX_DIGEST + 3];
	size_t want_len = 0, given_len = 0;
	if (crypto_hmac(alg, s->secret, s->secret_len, parts, n, want, &want_len) < 0)
		return HQ_E_SYSTEM;
	int r = HQ_E_SIG_INVALID;
	if (base64) {
		if (crypto_base64_decode(digest, len, given, sizeof(given), &given_len) < 0)
			goto out;
	} else {
		if (len != 2 * want_len || crypto_hex_decode(digest, len, given, want_len) < 0)
			goto out;
		given_len = want_len;
	}
	if (given_len == want_len && crypto_equal(given, want, want_len))
		r = 0;
out:
	crypto_cleanse(want, sizeof(want));
	return r;
}

bool provider_token_equal(const struct provider_settings *s, const char *token)
{
	/* Digests of both: equal lengths to compare in constant time,
	 * whatever length was sent. */
	static const char key[] = "hookq token compare";
	uint8_t a[CRYPTO_SHA256_LEN], b[CRYPTO_SHA256_LEN];
	if (crypto_hmac_sha256(key, sizeof(key) - 1, token, strlen(token), a) < 0 ||
	    crypto_hmac_sha256(key, sizeof(key) - 1, s->secret, s->secret_len, b) < 0)
		return false;
	bool ok = crypto_equal(a, b, sizeof(a));
	crypto_cleanse(b, sizeof(b));
	return ok;
}

int provider_timestamp_check(const struct provider_settings *s, const struct provider_request *req,
			     const char *text, int64_t scale, const char *what,
			     struct provider_accept *out)
{
	if (!text || !*text)
		return provider_fail(out, HQ_E_SIG_INVALID, "timestamp_invalid", "missing %s",
				     what);
	int64_t v = 0;
	for (const char *p = text; *p; p++) {
		if (*p < '0' || *p > '9' || v > INT64_MAX / 100)
			return provider_fail(out, HQ_E_SIG_INVALID, "timestamp_invalid",
					     "%s is not a Unix time", what);
		v = v * 10 + (*p - '0');
	}
	int64_t ts = v / scale;
	int64_t age = req->now_s - ts;
	if (age > s->tolerance_s)
		return provider_fail(out, HQ_E_SIG_INVALID, "timestamp_invalid",
				     "%s is %lld s old (more than %lld s): a replay, or a clock "
				     "that is off",
				     what, (long long)age, (long long)s->tolerance_s);
	if (-age > s->tolerance_s)
		return provider_fail(out, HQ_E_SIG_INVALID, "timestamp_invalid",
				     "%s is %lld s in the future (more than %lld s)", what,
				     (long long)-age, (long long)s->tolerance_s);
	return 0;
}

int provider_take_id(struct provider_accept *out, const char *value, const char *what)
{
	if (!value || !*value)
		return provider_fail(out, HQ_E_INVAL, "delivery_missing", "missing %s", what);
	if (!provider_id_valid(value))
		return provider_fail(out, HQ_E_INVAL, "delivery_invalid",
				     "%s must be 1-200 printable characters without spaces, "
				     "quotes or backslashes",
				     what);
	snprintf(out->delivery_id, sizeof(out->delivery_id), "%s", value);
	return 0;
}

int provider_take_type(struct provider_accept *out, const char *value, const char *what)
{
	if (!value || !*value)
		return provider_fail(out, HQ_E_INVAL, "event_missing", "missing %s", what);
	if (!provider_type_valid(value))
		return provider_fail(out, HQ_E_INVAL, "event_invalid",
				     "%s must be 1-200 printable characters without quotes or "
				     "backslashes",
				     what);
	snprintf(out->event_type, sizeof(out->event_type), "%s", value);
	return 0;
}

/* Splits a dotted path into f->path (segments copied into store). */
static int path_split(const char *dotted, char *store, size_t size, struct jscan_field *f)
{
	if (snprintf(store, size, "%s", dotted) >= (int)size)
		return HQ_E_INVAL;
	size_t n = 0;
	for (char *seg = store; seg; n++) {
		if (n == JSCAN_MAX_PATH || !*seg)
			return HQ_E_INVAL;
		f->path[n] = seg;
		char *dot = strchr(seg, '.');
		if (dot)
			*dot++ = '\0';
		seg = dot;
	}
	f->path[n] = NULL;
	return 0;
}

int provider_json_get(const char *body, size_t len, const char *path, bool numbers, char *out,
		      size_t size, char *msg, size_t msg_size)
{
	char store[256];
	struct jscan_field f;
	memset(&f, 0, sizeof(f));
	if (path_split(path, store, sizeof(store), &f) < 0)
		return HQ_E_NOTFOUND;
	f.out = out;
	f.size = size;
	f.numbers = numbers;
	enum jscan_type top;
	if (jscan(body, len, &f, 1, &top, msg, msg_size) < 0)
		return HQ_E_INVAL;
	return f.found ? 0 : HQ_E_NOTFOUND;
}

int provider_normalize_json(const char *event_type, const char *body, size_t len,
			    const char *action_path, const char *repository_path,
			    const char *sender_path, struct event_info *info, char *why,
			    size_t why_size)
{
	struct event_info out;
	memset(&out, 0, sizeof(out));
	const char *paths[3] = { action_path, repository_path, sender_path };
	char *dest[3] = { out.action, out.repository, out.sender };
	char store[3][256];
	struct jscan_field f[3];
	size_t n = 0;
	for (size_t i = 0; i < 3; i++) {
		if (!paths[i])
			continue;
		memset(&f[n], 0, sizeof(f[n]));
		if (path_split(paths[i], store[i], sizeof(store[i]), &f[n]) < 0)
			continue;
		f[n].out = dest[i];
		f[n].size = EVENT_FIELD_MAX;
		n++;
	}
	enum jscan_type top;
	char err[160];
	if (jscan(body, len, f, n, &top, err, sizeof(err)) < 0) {
		snprintf(why, why_size, "malformed JSON at %s", err);
		return HQ_E_INVAL;
	}
	if (top != JSCAN_OBJECT) {
		snprintf(why, why_size, "the payload is JSON but not an object");
		return HQ_E_INVAL;
	}
	if (out.action[0])
		snprintf(out.type, sizeof(out.type), "%.120s.%.120s", event_type, out.action);
	else
		snprintf(out.type, sizeof(out.type), "%s", event_type);
	*info = out;
	return 0;
}
