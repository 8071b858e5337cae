#include "clients/http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/buf.h"
#include "util/crypto.h"
#include "util/error.h"
#include "util/parse.h"
#include "version.h"

/* What a response may spend on headers before we stop listening: GitHub
 * sends about 30 lines; a server sending thousands is broken or hostile. */
#define HTTP_HEADER_LINES_MAX 200
#define HTTP_HEADER_BYTES_MAX (256 * 1024)
/* Connecting gets at most this much of the overall timeout, so that a
 * black-holed address fails fast enough to try again. */
#define HTTP_CONNECT_TIMEOUT_MS 10000L
#define HTTP_URL_MAX 8192
#define HTTP_HEADERS_MAX 32

static pthread_once_t http_once = PTHREAD_ONCE_INIT;
static CURLcode http_init_rc = CURLE_FAILED_INIT;

static void http_global_init(void)
{
	/* Process-wide and never undone: sender threads come and go, and
	 * curl_global_cleanup() while another thread works is unsafe. */
	http_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct http_transfer {
	struct http_response *res;
	struct buf body;
	size_t header_lines;
	size_t header_bytes;
	bool header_overflow;
};

static void http_reset_headers(struct http_response *r)
{
	r->retry_after_s = -1;
	r->ratelimit_reset = -1;
	r->ratelimit_remaining = -1;
	r->link_next = -1;
}

/* Copies a header value without surrounding blanks into out; false when
 * it does not fit. */
static bool http_header_value(const char *v, size_t len, char *out, size_t size)
{
	while (len > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t' || v[len - 1] == '\r' ||
			   v[len - 1] == '\n'))
		len--;
	if (len >= size)
		return false;
	memcpy(out, v, len);
	out[len] = '\0';
	return true;
}

static int64_t http_parse_count(const char *s)
{
	uint64_t v;
	return parse_u64(s, 0, INT64_MAX, &v) == 0 ? (int64_t)v : -1;
}

/* Retry-After is either delay-seconds or an HTTP-date (RFC 9110 10.2.3). */
static int64_t http_parse_retry_after(const char *s)
{
	uint64_t v;
	if (parse_u64(s, 0, INT32_MAX, &v) == 0)
		return (int64_t)v;
	if (*s < 'A')
		return -1; /* a number that did not parse: negative, too big */
	time_t when = curl_getdate(s, NULL);
	if (when == (time_t)-1)
		return -1;
	time_t now = time(NULL);
	return when > now ? (int64_t)(when - now) : 0;
}

static size_t http_on_header(char *data, size_t size, size_t n, void *ctx)
{
	struct http_transfer *t = ctx;
	size_t len = size * n;
	struct http_response *r = t->res;
	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		/* A new response (after 100 Continue or a proxy's CONNECT):
		 * only the last one's headers count. */
		http_reset_headers(r);
		t->header_lines = 0;
		t->header_bytes = 0;
	}
	t->header_lines++;
	t->header_bytes += len;
	if (t->header_lines > HTTP_HEADER_LINES_MAX || t->header_bytes > HTTP_HEADER_BYTES_MAX) {
		t->header_overflow = true;
		return 0;
	}
	const char *colon = memchr(data, ':', len);
	if (!colon)
		return len;
	size_t name_len = (size_t)(colon - data);
	const char *v = colon + 1;
	size_t v_len = len - name_len - 1;
	char value[512];
	if (name_len == 4 && strncasecmp(data, "link", 4) == 0) {
		/* Link values can be long; only whether one is rel="next" matters. */
		char *copy = strndup(v, v_len);
		if (copy) {
			r->link_next = strcasestr(copy, "rel=\"next\"") ? 1 : 0;
			free(copy);
		}
		return len;
	}
	if (!http_header_value(v, v_len, value, sizeof(value)))
		return len;
	if (name_len == 11 && strncasecmp(data, "retry-after", 11) == 0)
		r->retry_after_s = http_parse_retry_after(value);
	else if (name_len == 17 && strncasecmp(data, "x-ratelimit-reset", 17) == 0)
		r->ratelimit_reset = http_parse_count(value);
	else if (name_len == 21 && strncasecmp(data, "x-ratelimit-remaining", 21) == 0)
		r->ratelimit_remaining = http_parse_count(value);
	return len;
}

static size_t http_on_body(char *data, size_t size, size_t n, void *ctx)
{
	struct http_transfer *t = ctx;
	size_t len = size * n;
	size_t room = t->body.max - t->body.len;
	if (len <= room)
		return buf_append(&t->body, data, len) == 0 ? len : 0;
	/* Keep what fits and stop the transfer: the rest is not worth the
	 * time, and the caller learns of the cut from the flag. */
	if (buf_append(&t->body, data, room) == 0)
		t->res->truncated = true;
	return 0;
}

/* Errors that come before anything was written to the server. */
static bool http_error_before_sending(CURLcode rc)
{
	switch (rc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_FAILED_INIT:
	case CURLE_URL_MALFORMAT:
	case CURLE_NOT_BUILT_IN:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_BAD_FUNCTION_ARGUMENT:
	case CURLE_UNKNOWN_OPTION:
		return true;
	default:
		return false;
	}
}

/* Whether the server may have received the request although no complete
 * answer came back. A timeout while connecting sent nothing; a timeout or
 * a lost connection once the request was on its way may have been acted
 * on. */
static bool http_maybe_sent(CURL *c, CURLcode rc)
{
	if (http_error_before_sending(rc))
		return false;
	long sent = 0;
	if (curl_easy_getinfo(c, CURLINFO_REQUEST_SIZE, &sent) == CURLE_OK && sent > 0)
		return true;
	curl_off_t pretransfer = 0;
	if (curl_easy_getinfo(c, CURLINFO_PRETRANSFER_TIME_T, &pretransfer) == CURLE_OK &&
	    pretransfer > 0)
		return true;
	switch (rc) {
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

static bool http_scheme_ok(const char *url)
{
	return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

static bool http_method_ok(const char *m)
{
	size_t n = strlen(m);
	if (n == 0 || n > 16)
		return false;
	for (size_t i = 0; i < n; i++)
		if (m[i] < 'A' || m[i] > 'Z')
			return false;
	return true;
}

/* A header list wiped before it is freed: some lines carry credentials. */
static void http_slist_free(struct curl_slist *l)
{
	for (struct curl_slist *i = l; i; i = i->next)
		if (i->data)
			crypto_cleanse(i->data, strlen(i->data));
	curl_slist_free_all(l);
}

static int http_build_headers(const char *const *headers, struct curl_slist **ret)
{
	/* Ask for no 100-continue round trip: the services answer straight. */
	struct curl_slist *l = curl_slist_append(NULL, "Expect:");
	if (!l)
		return HQ_E_NOMEM;
	size_t n = 0;
	for (const char *const *h = headers; h && *h; h++) {
		if (++n > HTTP_HEADERS_MAX || strpbrk(*h, "\r\n") || !strchr(*h, ':')) {
			http_slist_free(l);
			return HQ_E_INVAL;
		}
		struct curl_slist *next = curl_slist_append(l, *h);
		if (!next) {
			http_slist_free(l);
			return HQ_E_NOMEM;
		}
		l = next;
	}
	*ret = l;
	return 0;
}

static void http_set_error(struct http_response *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void http_set_error(struct http_response *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (vsnprintf(r->error, sizeof(r->error), fmt, ap) < 0)
		r->error[0] = '\0';
	va_end(ap);
}

int http_request(const char *method, const char *url, const char *const *headers,
		 const char *body, size_t body_len, long timeout_ms, size_t max_body,
		 struct http_response *ret)
{
	memset(ret, 0, sizeof(*ret));
	http_reset_headers(ret);
	if (!method || !http_method_ok(method) || !url || !http_scheme_ok(url) ||
	    strlen(url) > HTTP_URL_MAX || strpbrk(url, " \t\r\n")) {
		http_set_error(ret, "%s", "not an http(s) URL or method");
		return HQ_E_INVAL;
	}
	pthread_once(&http_once, http_global_init);
	if (http_init_rc != CURLE_OK) {
		http_set_error(ret, "cannot start libcurl: %s", curl_easy_strerror(http_init_rc));
		return HQ_E_SYSTEM;
	}
	struct curl_slist *hl = NULL;
	int r = http_build_headers(headers, &hl);
	if (r < 0) {
		http_set_error(ret, "%s", r == HQ_E_INVAL ? "a request header is malformed" :
							  "out of memory");
		return r;
	}
	CURL *c = curl_easy_init();
	if (!c) {
		http_slist_free(hl);
		http_set_error(ret, "%s", "out of memory");
		return HQ_E_NOMEM;
	}
	struct http_transfer t = { .res = ret };
	buf_init(&t.body, max_body);
	char errbuf[CURL_ERROR_SIZE] = "";
	long connect_ms = timeout_ms > 0 && timeout_ms < HTTP_CONNECT_TIMEOUT_MS ?
				  timeout_ms :
				  HTTP_CONNECT_TIMEOUT_MS;

	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 0L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "hookq/" HOOKQ_VERSION);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, http_on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
	if (strcmp(method, "GET") == 0 && !body) {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else {
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? body_len : 0));
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	}

	CURLcode rc = curl_easy_perform(c);
	if (rc == CURLE_WRITE_ERROR && ret->truncated)
		rc = CURLE_OK; /* stopped on purpose at max_body */
	if (rc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &ret->status);
		/* An empty body is still a string. */
		if (buf_reserve(&t.body, 0) < 0) {
			http_set_error(ret, "%s", "out of memory");
			r = HQ_E_NOMEM;
		} else {
			t.body.data[t.body.len] = '\0';
			ret->body = t.body.data;
			ret->body_len = t.body.len;
			t.body.data = NULL;
			r = 0;
		}
	} else {
		ret->status = 0;
		http_reset_headers(ret);
		ret->truncated = false;
		ret->uncertain = http_maybe_sent(c, rc);
		if (t.header_overflow)
			http_set_error(ret, "%s", "the response has too many headers");
		else
			http_set_error(ret, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
		r = HQ_E_IO;
	}
	buf_release(&t.body);
	curl_easy_cleanup(c);
	http_slist_free(hl);
	return r;
}

void http_response_release(struct http_response *r)
{
	if (!r)
		return;
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
}
