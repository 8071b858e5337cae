#include "clients/result.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/crypto.h"
#include "util/error.h"
#include "util/utf8.h"

void client_result_init(struct client_result *r)
{
	memset(r, 0, sizeof(*r));
	r->outcome = CLIENT_FAILED;
}

void client_result_set(struct client_result *r, enum client_outcome outcome, long status,
		       const char *fmt, ...)
{
	r->outcome = outcome;
	r->status = status;
	va_list ap;
	va_start(ap, fmt);
	/* A message cut to the buffer is still a message. */
	if (vsnprintf(r->error, sizeof(r->error), fmt, ap) < 0)
		r->error[0] = '\0';
	va_end(ap);
}

bool client_result_http(struct client_result *r, int rc, const struct http_response *h,
			bool write, const char *what)
{
	if (rc == 0)
		return true;
	enum client_outcome o = rc == HQ_E_IO || rc == HQ_E_NOMEM ? CLIENT_RETRY : CLIENT_FAILED;
	client_result_set(r, o, 0, "%s: %s", what, h->error[0] ? h->error : hq_strerror(rc));
	r->retry_at_ms = 0;
	r->uncertain = write && rc == HQ_E_IO && h->uncertain;
	return false;
}

int64_t client_retry_after_at(const struct http_response *h, int64_t now_ms)
{
	if (h->retry_after_s < 0)
		return 0;
	int64_t s = h->retry_after_s < CLIENT_RETRY_MAX_S ? h->retry_after_s : CLIENT_RETRY_MAX_S;
	return now_ms + s * 1000;
}

void client_result_status(struct client_result *r, const struct http_response *h,
			  int64_t now_ms, bool write)
{
	long st = h->status;
	r->status = st;
	r->retry_at_ms = 0;
	r->uncertain = false;
	if (st >= 200 && st <= 299) {
		r->outcome = CLIENT_OK;
	} else if (st == 408 || st == 429 || (st >= 500 && st <= 599)) {
		r->outcome = CLIENT_RETRY;
		r->retry_at_ms = client_retry_after_at(h, now_ms);
		r->uncertain = write && st >= 500 && st != 503;
	} else {
		r->outcome = CLIENT_FAILED;
	}
}

void client_text(char *out, size_t size, const char *text, size_t len)
{
	if (size == 0)
		return;
	size_t n = len < size - 1 ? len : size - 1;
	if (n < len)
		/* Back up to the start of a UTF-8 character. */
		while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
			n--;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)text[i];
		out[i] = ch < 0x20 || ch == 0x7F ? ' ' : (char)ch;
	}
	out[n] = '\0';
}

void client_result_redact(struct client_result *r, const char *secret)
{
	size_t n = secret ? strlen(secret) : 0;
	if (n == 0 || !strstr(r->error, secret))
		return;
	/* Each occurrence becomes "[redacted]"; what does not fit is cut. */
	char out[sizeof(r->error)];
	size_t k = 0;
	for (const char *p = r->error; *p && k < sizeof(out) - 1;) {
		if (strncmp(p, secret, n) == 0) {
			int w = snprintf(out + k, sizeof(out) - k, "[redacted]");
			k = w < 0 || (size_t)w >= sizeof(out) - k ? sizeof(out) - 1 : k + (size_t)w;
			p += n;
		} else {
			out[k++] = *p++;
		}
	}
	out[k] = '\0';
	memcpy(r->error, out, k + 1);
	crypto_cleanse(out, sizeof(out));
}

json_t *client_json_text(const char *text)
{
	size_t len;
	char *clean = utf8_sanitize(text, strlen(text), &len);
	json_t *s = clean ? json_stringn(clean, len) : NULL;
	free(clean);
	return s;
}
