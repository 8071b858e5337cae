#include "clients/sqs.h"

#include <curl/curl.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clients/http.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/crypto.h"
#include "util/error.h"
#include "util/parse.h"
#include "version.h"

#define SQS_TIMEOUT_DEFAULT_MS 30000L
#define SQS_CONNECT_TIMEOUT_MS 10000L
#define SQS_URL_MAX 2048
#define SQS_REGION_MAX 32
/* An answer that spends more than this on headers is not SQS. */
#define SQS_HEADER_LINES_MAX 100
#define SQS_HEADER_BYTES_MAX (64 * 1024)
/* Small answers: a delete batch, a send, a visibility change. */
#define SQS_SMALL_ANSWER_MAX (256 * 1024)
/* Idle handles kept (pollers, senders and the outbox share one client). */
#define SQS_HANDLES_MAX 64

struct sqs_client {
	char *url; /* the endpoint with one trailing '/': the JSON protocol posts to the root */
	char *region;
	char sigv4[64]; /* "aws:amz:<region>:sqs" */
	struct aws_provider *credentials;
	long timeout_ms;
	/* Easy handles between calls: each keeps its connection open, so a
	 * poller's next receive or delete reuses it (no TCP and TLS handshake
	 * per call). */
	pthread_mutex_t lock;
	CURL *idle[SQS_HANDLES_MAX];
	size_t n_idle;
};

static CURL *sqs_handle_take(struct sqs_client *c)
{
	pthread_mutex_lock(&c->lock);
	CURL *e = c->n_idle ? c->idle[--c->n_idle] : NULL;
	pthread_mutex_unlock(&c->lock);
	return e ? e : curl_easy_init();
}

static void sqs_handle_give(struct sqs_client *c, CURL *e)
{
	/* Options gone (the pointers into the finished call, the keys),
	 * connections kept. */
	curl_easy_reset(e);
	pthread_mutex_lock(&c->lock);
	if (c->n_idle < SQS_HANDLES_MAX) {
		c->idle[c->n_idle++] = e;
		e = NULL;
	}
	pthread_mutex_unlock(&c->lock);
	curl_easy_cleanup(e);
}

static pthread_once_t sqs_once = PTHREAD_ONCE_INIT;
static CURLcode sqs_init_rc = CURLE_FAILED_INIT;

static void sqs_global_init(void)
{
	/* Reference-counted by libcurl, so clients/http doing the same is
	 * harmless; never undone, as there. */
	sqs_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static bool sqs_url_ok(const char *u)
{
	size_t n = strlen(u);
	if (n == 0 || n > SQS_URL_MAX ||
	    !(strncasecmp(u, "https://", 8) == 0 || strncasecmp(u, "http://", 7) == 0))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)u[i] <= 0x20 || u[i] == 0x7F)
			return false;
	return true;
}

static bool sqs_region_ok(const char *r)
{
	size_t n = strlen(r);
	if (n == 0 || n > SQS_REGION_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((r[i] >= 'a' && r[i] <= 'z') || (r[i] >= '0' && r[i] <= '9') || r[i] == '-'))
			return false;
	return true;
}

int sqs_client_new(const struct sqs_client_options *o, struct sqs_client **ret, char *err,
		   size_t err_size)
{
	if (!o || !ret)
		return HQ_E_INVAL;
	if (!o->region || !*o->region) {
		hq_set_err(err, err_size, "AWS_REGION: missing (SQS requests are signed for a region)");
		return HQ_E_CONFIG;
	}
	if (!sqs_region_ok(o->region)) {
		hq_set_err(err, err_size, "AWS_REGION: '%.32s' is not a region name like us-east-1",
			   o->region);
		return HQ_E_CONFIG;
	}
	if (!o->credentials) {
		hq_set_err(err, err_size, "SQS: no AWS credentials provider");
		return HQ_E_CONFIG;
	}
	char def[128];
	const char *ep = o->endpoint;
	if (!ep || !*ep) {
		snprintf(def, sizeof(def), "https://sqs.%s.amazonaws.com%s", o->region,
			 strncmp(o->region, "cn-", 3) == 0 ? ".cn" : "");
		ep = def;
	}
	if (!sqs_url_ok(ep) || strchr(ep, '?') || strchr(ep, '#')) {
		hq_set_err(err, err_size, "SQS endpoint: not an http(s) URL without query");
		return HQ_E_CONFIG;
	}
	struct sqs_client *c = calloc(1, sizeof(*c));
	if (!c)
		return HQ_E_NOMEM;
	pthread_mutex_init(&c->lock, NULL);
	size_t len = strlen(ep);
	while (len > 0 && ep[len - 1] == '/')
		len--;
	c->url = malloc(len + 2);
	c->region = strdup(o->region);
	if (!c->url || !c->region) {
		sqs_client_free(c);
		return HQ_E_NOMEM;
	}
	memcpy(c->url, ep, len);
	c->url[len] = '/';
	c->url[len + 1] = '\0';
	snprintf(c->sigv4, sizeof(c->sigv4), "aws:amz:%s:sqs", o->region);
	c->credentials = o->credentials;
	c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : SQS_TIMEOUT_DEFAULT_MS;
	*ret = c;
	return 0;
}

void sqs_client_free(struct sqs_client *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_idle; i++)
		curl_easy_cleanup(c->idle[i]);
	pthread_mutex_destroy(&c->lock);
	free(c->url);
	free(c->region);
	free(c);
}

/* One signed request. clients/http has no place for SigV4, so this is its
 * transfer again, small: the same caps, the same reading of "may the
 * server have acted". */

struct sqs_transfer {
	struct http_response *res;
	struct buf body;
	size_t header_lines, header_bytes;
	bool header_overflow;
	char query_error[128]; /* x-amzn-query-error: "AWS.SimpleQueueService.NonExistentQueue;Sender" */
	const atomic_bool *stop; /* set: a wait with no answer yet is given up */
};

/* A long poll is given up while SQS has sent nothing: received messages
 * are never dropped half-read (given up in the instant SQS takes them,
 * they come back after their visibility timeout). */
static int sqs_on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
			   curl_off_t ulnow)
{
	(void)dltotal;
	(void)ultotal;
	(void)ulnow;
	const struct sqs_transfer *t = ctx;
	return t->stop && dlnow == 0 && t->header_lines == 0 &&
	       atomic_load_explicit(t->stop, memory_order_relaxed);
}

static size_t sqs_on_header(char *data, size_t size, size_t n, void *ctx)
{
	struct sqs_transfer *t = ctx;
	size_t len = size * n;
	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		t->header_lines = 0;
		t->header_bytes = 0;
		t->query_error[0] = '\0';
	}
	if (++t->header_lines > SQS_HEADER_LINES_MAX ||
	    (t->header_bytes += len) > SQS_HEADER_BYTES_MAX) {
		t->header_overflow = true;
		return 0;
	}
	static const char name[] = "x-amzn-query-error:";
	if (len > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
		size_t v_len = len - (sizeof(name) - 1);
		const char *v = data + sizeof(name) - 1;
		while (v_len > 0 && (*v == ' ' || *v == '\t')) {
			v++;
			v_len--;
		}
		while (v_len > 0 && strchr(" \t\r\n", v[v_len - 1]))
			v_len--;
		client_text(t->query_error, sizeof(t->query_error), v, v_len);
	}
	return len;
}

static size_t sqs_on_body(char *data, size_t size, size_t n, void *ctx)
{
	struct sqs_transfer *t = ctx;
	size_t len = size * n;
	size_t room = t->body.max - t->body.len;
	if (len <= room)
		return buf_append(&t->body, data, len) == 0 ? len : 0;
	if (buf_append(&t->body, data, room) == 0)
		t->res->truncated = true;
	return 0;
}

/* As clients/http: whether the request may have reached the server. */
static bool sqs_maybe_sent(CURL *c, CURLcode rc)
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
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_BAD_FUNCTION_ARGUMENT:
	case CURLE_UNKNOWN_OPTION:
	case CURLE_OUT_OF_MEMORY:
		return false;
	default:
		break;
	}
	long sent = 0;
	if (curl_easy_getinfo(c, CURLINFO_REQUEST_SIZE, &sent) == CURLE_OK && sent > 0)
		return true;
	curl_off_t pretransfer = 0;
	if (curl_easy_getinfo(c, CURLINFO_PRETRANSFER_TIME_T, &pretransfer) == CURLE_OK &&
	    pretransfer > 0)
		return true;
	return rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING ||
	       rc == CURLE_PARTIAL_FILE || rc == CURLE_WEIRD_SERVER_REPLY;
}

static void sqs_slist_free(struct curl_slist *l)
{
	for (struct curl_slist *i = l; i; i = i->next)
		if (i->data)
			crypto_cleanse(i->data, strlen(i->data));
	curl_slist_free_all(l);
}

static bool sqs_slist_add(struct curl_slist **l, const char *line)
{
	struct curl_slist *next = curl_slist_append(*l, line);
	if (next)
		*l = next;
	return next != NULL;
}

/* POSTs body to the endpoint as AmazonSQS.<op>, signed with cr. Fills h
 * as http_request() does and returns as it does. */
static int sqs_perform(struct sqs_client *c, const struct aws_credentials *cr, const char *op,
		       const char *body, size_t len, long timeout_ms, size_t max_answer,
		       const atomic_bool *stop, struct http_response *h, struct sqs_transfer *t)
{
	memset(h, 0, sizeof(*h));
	h->retry_after_s = h->ratelimit_reset = h->ratelimit_remaining = -1;
	h->link_next = -1;
	memset(t, 0, sizeof(*t));
	t->res = h;
	t->stop = stop;
	pthread_once(&sqs_once, sqs_global_init);
	if (sqs_init_rc != CURLE_OK) {
		snprintf(h->error, sizeof(h->error), "cannot start libcurl: %s",
			 curl_easy_strerror(sqs_init_rc));
		return HQ_E_SYSTEM;
	}
	/* Every header given here is signed, and libcurl 7.88 also signs a
	 * header given empty to suppress one ("Expect:") although it is not
	 * sent, which AWS then refuses as SignatureDoesNotMatch: so only
	 * headers that are really sent go in this list. */
	char target[64], token[sizeof(cr->session_token) + 32];
	snprintf(target, sizeof(target), "X-Amz-Target: AmazonSQS.%s", op);
	struct curl_slist *hl = NULL;
	bool built = sqs_slist_add(&hl, "Content-Type: application/x-amz-json-1.0") &&
		     sqs_slist_add(&hl, target);
	if (built && cr->session_token[0]) {
		/* Signed too, as temporary credentials require. */
		snprintf(token, sizeof(token), "X-Amz-Security-Token: %s", cr->session_token);
		built = sqs_slist_add(&hl, token);
		crypto_cleanse(token, sizeof(token));
	}
	CURL *e = built ? sqs_handle_take(c) : NULL;
	if (!e) {
		sqs_slist_free(hl);
		snprintf(h->error, sizeof(h->error), "out of memory");
		return HQ_E_NOMEM;
	}
	buf_init(&t->body, max_answer);
	char errbuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(e, CURLOPT_URL, c->url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
			 timeout_ms < SQS_CONNECT_TIMEOUT_MS ? timeout_ms : SQS_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "hookq/" HOOKQ_VERSION);
	/* Idle connections (and what libcurl keeps with them) closed after
	 * a minute; a poller's next call comes well within it. */
	curl_easy_setopt(e, CURLOPT_MAXAGE_CONN, 60L);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, sqs_on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sqs_on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
	if (stop) {
		curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, sqs_on_progress);
		curl_easy_setopt(e, CURLOPT_XFERINFODATA, t);
		curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	}
	/* Separate options rather than CURLOPT_USERPWD "key:secret", which
	 * splits at the first ':'. libcurl keeps copies it frees without
	 * wiping: that is beyond our reach. */
	curl_easy_setopt(e, CURLOPT_AWS_SIGV4, c->sigv4);
	curl_easy_setopt(e, CURLOPT_USERNAME, cr->access_key);
	curl_easy_setopt(e, CURLOPT_PASSWORD, cr->secret_key);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);

	CURLcode rc = curl_easy_perform(e);
	if (rc == CURLE_WRITE_ERROR && h->truncated)
		rc = CURLE_OK;
	int r;
	if (rc == CURLE_OK && buf_reserve(&t->body, 0) == 0) {
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &h->status);
		t->body.data[t->body.len] = '\0';
		h->body = t->body.data;
		h->body_len = t->body.len;
		t->body.data = NULL;
		r = 0;
	} else if (rc == CURLE_OK) {
		snprintf(h->error, sizeof(h->error), "out of memory");
		r = HQ_E_NOMEM;
	} else {
		h->truncated = false;
		h->uncertain = sqs_maybe_sent(e, rc);
		snprintf(h->error, sizeof(h->error), "%s",
			 t->header_overflow ? "the response has too many headers" :
			 errbuf[0]	    ? errbuf :
					      curl_easy_strerror(rc));
		r = HQ_E_IO;
	}
	buf_release(&t->body);
	/* The handle's copy of the secret goes before it waits for reuse (a
	 * cached connection may keep its own until libcurl closes it, idle
	 * for CURLOPT_MAXAGE_CONN: set below). */
	curl_easy_setopt(e, CURLOPT_PASSWORD, "");
	sqs_handle_give(c, e);
	sqs_slist_free(hl);
	return r;
}

static bool sqs_type_in(const char *type, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(type, *list) == 0)
			return true;
	return false;
}

static const char *const sqs_throttling[] = {
	"ThrottlingException",
	"Throttling",
	"RequestThrottled",
	"RequestThrottledException",
	"TooManyRequestsException",
	"RequestLimitExceeded",
	"KmsThrottled",
	/* Too many messages in flight: deleting ours makes room. */
	"OverLimit",
	"ServiceUnavailable",
	"InternalError",
	"InternalFailure",
	"RequestTimeout",
	"RequestTimeoutException",
	NULL,
};

static const char *const sqs_unknown_key[] = {
	"InvalidClientTokenId", "UnrecognizedClientException", "InvalidAccessKeyId", "AuthFailure",
	"MissingAuthenticationToken", "MissingAuthenticationTokenException", NULL,
};
static const char *const sqs_bad_signature[] = {
	"SignatureDoesNotMatch",
	"IncompleteSignature",
	"InvalidSignatureException",
	NULL,
};
static const char *const sqs_expired[] = { "ExpiredToken", "ExpiredTokenException", NULL };
static const char *const sqs_denied[] = {
	"AccessDenied",
	"AccessDeniedException",
	"NotAuthorized",
	"KmsAccessDenied",
	NULL,
};
static const char *const sqs_no_queue[] = {
	"QueueDoesNotExist",
	"AWS.SimpleQueueService.NonExistentQueue",
	"NonExistentQueue",
	NULL,
};

/* SQS's error type without its namespace ("com.amazonaws.sqs#QueueDoesNotExist"
 * → "QueueDoesNotExist"), from __type or else x-amzn-query-error. */
static void sqs_error_type(const json_t *doc, const char *query_error, char *out, size_t size)
{
	const char *type = json_string_value(json_object_get(doc, "__type"));
	size_t len;
	if (type) {
		const char *hash = strrchr(type, '#');
		if (hash)
			type = hash + 1;
		len = strcspn(type, ":");
	} else {
		type = query_error;
		len = strcspn(type, ";");
	}
	client_text(out, size, type, len);
}

/* Reads an answer that is not 2xx into res. */
static void sqs_classify_error(struct sqs_client *c, const struct aws_credentials *cr,
			       const struct http_response *h, const struct sqs_transfer *t,
			       bool write, const char *op, const char *queue_url,
			       struct client_result *res)
{
	client_result_status(res, h, clock_now_ms(), write);
	json_t *doc = json_loadb(h->body, h->body_len, 0, NULL);
	char type[96], msg[160];
	sqs_error_type(doc, t->query_error, type, sizeof(type));
	const char *m = json_string_value(json_object_get(doc, "message"));
	if (!m)
		m = json_string_value(json_object_get(doc, "Message"));
	client_text(msg, sizeof(msg), m ? m : "", m ? strlen(m) : 0);
	json_decref(doc);
	long st = h->status;
	const char *src = cr->source ? cr->source : "the credentials";
	char hint[192] = "";
	if (sqs_type_in(type, sqs_throttling)) {
		res->outcome = CLIENT_RETRY;
	} else if (sqs_type_in(type, sqs_unknown_key)) {
		res->outcome = CLIENT_FAILED;
		snprintf(hint, sizeof(hint), "AWS does not know the access key from %s; ", src);
	} else if (sqs_type_in(type, sqs_bad_signature)) {
		res->outcome = CLIENT_FAILED;
		snprintf(hint, sizeof(hint),
			 "the signature does not match: check the secret key from %s and region %s; ",
			 src, c->region);
	} else if (sqs_type_in(type, sqs_expired)) {
		/* Container credentials are fetched again; others are the
		 * operator's to renew. */
		res->outcome = aws_provider_expire(c->credentials) ? CLIENT_RETRY : CLIENT_FAILED;
		snprintf(hint, sizeof(hint), "the session token from %s has expired; ", src);
	} else if (strcmp(type, "RequestExpired") == 0) {
		res->outcome = CLIENT_FAILED;
		snprintf(hint, sizeof(hint), "the request time is too far from AWS's: check the clock; ");
	} else if (sqs_type_in(type, sqs_denied)) {
		res->outcome = CLIENT_FAILED;
		snprintf(hint, sizeof(hint), "the credentials from %s may not call sqs:%s here; ", src,
			 op);
	} else if (sqs_type_in(type, sqs_no_queue)) {
		res->outcome = CLIENT_FAILED;
		snprintf(hint, sizeof(hint), "queue %.120s does not exist (or is not visible to these "
					     "credentials); ",
			 queue_url);
	}
	if (res->outcome != CLIENT_RETRY)
		res->uncertain = false;
	client_result_set(res, res->outcome, st, "sqs %s: %sSQS answered %ld%s%s%s%s", op, hint, st,
			  type[0] || msg[0] ? " " : "", type, type[0] && msg[0] ? ": " : "", msg);
	/* A service may echo what it signed, session token included. */
	client_result_redact(res, cr->secret_key);
	client_result_redact(res, cr->session_token);
}

/* One call: credentials, the request, the classification. true with the
 * 2xx answer in h (the caller's to release) and res CLIENT_OK; false
 * with res filled otherwise. Takes the body. */
static bool sqs_call(struct sqs_client *c, const char *op, json_t *req, bool write,
		     long timeout_ms, size_t max_answer, const char *queue_url,
		     const atomic_bool *stop, struct http_response *h, struct client_result *res)
{
	char what[64];
	snprintf(what, sizeof(what), "sqs %s", op);
	memset(h, 0, sizeof(*h));
	char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (!body) {
		client_result_set(res, CLIENT_RETRY, 0, "%s: out of memory", what);
		return false;
	}
	struct aws_credentials cr;
	char err[256] = "";
	int r = aws_provider_get(c->credentials, clock_now_ms(), &cr, err, sizeof(err));
	if (r < 0) {
		client_result_set(res, r == HQ_E_CONFIG ? CLIENT_FAILED : CLIENT_RETRY, 0, "%s: %s",
				  what, err[0] ? err : hq_strerror(r));
		free(body);
		return false;
	}
	struct sqs_transfer t;
	r = sqs_perform(c, &cr, op, body, strlen(body), timeout_ms, max_answer, stop, h, &t);
	bool ok = false;
	if (client_result_http(res, r, h, write, what)) {
		if (h->status >= 200 && h->status <= 299) {
			client_result_set(res, CLIENT_OK, h->status, "%s", "");
			ok = true;
		} else {
			sqs_classify_error(c, &cr, h, &t, write, op, queue_url, res);
		}
	}
	client_result_redact(res, cr.secret_key);
	client_result_redact(res, cr.session_token);
	aws_credentials_wipe(&cr);
	free(body);
	return ok;
}

static bool sqs_queue_ok(const char *op, const char *queue_url, struct client_result *res)
{
	if (!queue_url || !sqs_url_ok(queue_url)) {
		client_result_set(res, CLIENT_FAILED, 0, "sqs %s: the queue URL is not an http(s) URL",
				  op);
		return false;
	}
	return true;
}

/* Lower-case hex MD5 of data; false when this OpenSSL has no MD5 (a
 * FIPS-only build), and then nothing can be checked. */
static bool sqs_md5_hex(const char *data, size_t len, char out[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_MD *md5 = EVP_MD_fetch(NULL, "MD5", NULL);
	bool ok = md5 && EVP_Digest(data, len, md, &n, md5, NULL) == 1 && n == 16;
	EVP_MD_free(md5);
	if (ok)
		crypto_hex_encode(md, 16, out);
	return ok;
}

static char *sqs_strdup_json(const json_t *s, size_t *len)
{
	size_t n = json_string_length(s);
	char *out = malloc(n + 1);
	if (!out)
		return NULL;
	memcpy(out, json_string_value(s), n);
	out[n] = '\0';
	if (len)
		*len = n;
	return out;
}

static void sqs_message_release(struct sqs_message *m)
{
	free(m->message_id);
	free(m->receipt_handle);
	free(m->body);
	free(m->attributes_json);
	memset(m, 0, sizeof(*m));
}

void sqs_messages_release(struct sqs_message *m, size_t n)
{
	if (!m)
		return;
	for (size_t i = 0; i < n; i++)
		sqs_message_release(&m[i]);
	free(m);
}

/* Reads one received message into out. 0; 1 when it is to be left out
 * (why in reason); HQ_E_NOMEM. */
static int sqs_read_message(const json_t *jm, struct sqs_message *out, char *reason, size_t size)
{
	const json_t *id = json_object_get(jm, "MessageId");
	const json_t *handle = json_object_get(jm, "ReceiptHandle");
	const json_t *body = json_object_get(jm, "Body");
	if (!json_is_string(id) || !json_is_string(handle) || !json_is_string(body) ||
	    json_string_length(id) == 0 || json_string_length(handle) == 0) {
		snprintf(reason, size, "%s: no MessageId, ReceiptHandle or Body",
			 json_is_string(id) ? json_string_value(id) : "a message");
		return 1;
	}
	const char *md5 = json_string_value(json_object_get(jm, "MD5OfBody"));
	char mine[33];
	if (md5 && sqs_md5_hex(json_string_value(body), json_string_length(body), mine) &&
	    strcasecmp(md5, mine) != 0) {
		snprintf(reason, size, "%.64s: the body does not match MD5OfBody (corrupt)",
			 json_string_value(id));
		return 1;
	}
	memset(out, 0, sizeof(*out));
	out->message_id = sqs_strdup_json(id, NULL);
	out->receipt_handle = sqs_strdup_json(handle, NULL);
	out->body = sqs_strdup_json(body, &out->body_len);
	const char *count =
		json_string_value(json_object_get(json_object_get(jm, "Attributes"),
						  "ApproximateReceiveCount"));
	uint64_t v;
	if (count && parse_u64(count, 0, INT_MAX, &v) == 0)
		out->receive_count = (int)v;
	const json_t *attrs = json_object_get(jm, "MessageAttributes");
	if (json_is_object(attrs) && json_object_size(attrs) > 0 &&
	    !(out->attributes_json = json_dumps(attrs, JSON_COMPACT))) {
		sqs_message_release(out);
		return HQ_E_NOMEM;
	}
	if (!out->message_id || !out->receipt_handle || !out->body) {
		sqs_message_release(out);
		return HQ_E_NOMEM;
	}
	return 0;
}

int sqs_receive(struct sqs_client *c, const char *queue_url, int max, int wait_s,
		int visibility_s, struct sqs_message **ret, size_t *n, struct client_result *res)
{
	return sqs_receive_stoppable(c, queue_url, max, wait_s, visibility_s, NULL, ret, n, res);
}

int sqs_receive_stoppable(struct sqs_client *c, const char *queue_url, int max, int wait_s,
			  int visibility_s, const atomic_bool *stop, struct sqs_message **ret,
			  size_t *n, struct client_result *res)
{
	if (!c || !res || !ret || !n)
		return HQ_E_INVAL;
	client_result_init(res);
	if (!sqs_queue_ok("ReceiveMessage", queue_url, res))
		return 0;
	if (max < 1 || max > SQS_BATCH_MAX || wait_s < 0 || wait_s > SQS_WAIT_MAX_S ||
	    visibility_s < 0 || visibility_s > SQS_VISIBILITY_MAX_S) {
		client_result_set(res, CLIENT_FAILED, 0,
				  "sqs ReceiveMessage: max 1..10, wait 0..20 s, visibility 0..43200 s");
		return 0;
	}
	/* MessageSystemAttributeNames is today's name; AttributeNames the
	 * older one that some SQS-compatible servers still read. */
	json_t *req = json_pack("{s:s, s:i, s:i, s:[s], s:[s], s:[s]}", "QueueUrl", queue_url,
				"MaxNumberOfMessages", max, "WaitTimeSeconds", wait_s,
				"MessageSystemAttributeNames", "ApproximateReceiveCount",
				"AttributeNames", "ApproximateReceiveCount", "MessageAttributeNames",
				"All");
	if (req && visibility_s > 0 &&
	    json_object_set_new(req, "VisibilityTimeout", json_integer(visibility_s)) < 0) {
		json_decref(req);
		req = NULL;
	}
	struct http_response h;
	/* The long poll holds the answer back for up to wait_s. */
	long timeout = c->timeout_ms + (long)wait_s * 1000;
	if (!sqs_call(c, "ReceiveMessage", req, false, timeout, SQS_ANSWER_MAX, queue_url, stop,
		      &h, res))
		goto out;
	if (h.truncated) {
		client_result_set(res, CLIENT_RETRY, h.status,
				  "sqs ReceiveMessage: the answer is larger than %d bytes; receive "
				  "fewer messages at a time",
				  SQS_ANSWER_MAX);
		goto out;
	}
	/* JSON_ALLOW_NUL: one odd body must not cost the whole batch. */
	json_t *doc = json_loadb(h.body, h.body_len, JSON_ALLOW_NUL, NULL);
	const json_t *list = json_object_get(doc, "Messages");
	if (!json_is_object(doc) || (list && !json_is_array(list))) {
		json_decref(doc);
		client_result_set(res, CLIENT_RETRY, h.status,
				  "sqs ReceiveMessage: the answer is not SQS JSON");
		goto out;
	}
	size_t total = json_array_size(list), kept = 0, left_out = 0;
	struct sqs_message *msgs = total ? calloc(total, sizeof(*msgs)) : NULL;
	char first[200] = "";
	if (total && !msgs) {
		json_decref(doc);
		client_result_set(res, CLIENT_RETRY, h.status, "sqs ReceiveMessage: out of memory");
		goto out;
	}
	for (size_t i = 0; i < total; i++) {
		char reason[200];
		int r = sqs_read_message(json_array_get(list, i), &msgs[kept], reason, sizeof(reason));
		if (r == 0) {
			kept++;
		} else if (r == 1) {
			if (left_out++ == 0)
				client_text(first, sizeof(first), reason, strlen(reason));
		} else {
			/* Out of memory: the batch comes back after its timeout. */
			sqs_messages_release(msgs, kept);
			json_decref(doc);
			client_result_set(res, CLIENT_RETRY, h.status,
					  "sqs ReceiveMessage: out of memory");
			goto out;
		}
	}
	json_decref(doc);
	if (left_out)
		snprintf(res->error, sizeof(res->error), "sqs ReceiveMessage: left out %zu of %zu: %s",
			 left_out, total, first);
	if (kept == 0) {
		free(msgs);
		msgs = NULL;
	}
	*ret = msgs;
	*n = kept;
out:
	http_response_release(&h);
	return 0;
}

int sqs_delete_batch(struct sqs_client *c, const char *queue_url,
		     const char *const *receipt_handles, size_t n, bool *failed,
		     struct client_result *res)
{
	if (!c || !res || !failed)
		return HQ_E_INVAL;
	client_result_init(res);
	for (size_t i = 0; i < n && i < SQS_BATCH_MAX; i++)
		failed[i] = true;
	if (!sqs_queue_ok("DeleteMessageBatch", queue_url, res))
		return 0;
	if (n < 1 || n > SQS_BATCH_MAX || !receipt_handles) {
		client_result_set(res, CLIENT_FAILED, 0, "sqs DeleteMessageBatch: 1..10 entries");
		return 0;
	}
	json_t *entries = json_array();
	for (size_t i = 0; entries && i < n; i++) {
		if (!receipt_handles[i] || !*receipt_handles[i]) {
			json_decref(entries);
			client_result_set(res, CLIENT_FAILED, 0,
					  "sqs DeleteMessageBatch: entry %zu has no receipt handle", i);
			return 0;
		}
		char id[16];
		snprintf(id, sizeof(id), "%zu", i);
		json_t *handle = client_json_text(receipt_handles[i]);
		if (!handle || json_array_append_new(entries, json_pack("{s:s, s:o}", "Id", id,
									"ReceiptHandle", handle)) < 0) {
			json_decref(entries);
			entries = NULL;
		}
	}
	json_t *req = entries ? json_pack("{s:s, s:o}", "QueueUrl", queue_url, "Entries", entries) :
				NULL;
	struct http_response h;
	if (!sqs_call(c, "DeleteMessageBatch", req, true, c->timeout_ms, SQS_SMALL_ANSWER_MAX,
		      queue_url, NULL, &h, res))
		goto out;
	json_t *doc = json_loadb(h.body, h.body_len, 0, NULL);
	bool seen[SQS_BATCH_MAX] = { false };
	const json_t *v;
	size_t k;
	json_array_foreach(json_object_get(doc, "Successful"), k, v)
	{
		uint64_t i;
		const char *id = json_string_value(json_object_get(v, "Id"));
		if (id && parse_u64(id, 0, n - 1, &i) == 0)
			failed[i] = false;
	}
	size_t n_failed = 0;
	bool theirs = false;
	char first[160] = "";
	json_array_foreach(json_object_get(doc, "Failed"), k, v)
	{
		uint64_t i;
		const char *id = json_string_value(json_object_get(v, "Id"));
		if (!id || parse_u64(id, 0, n - 1, &i) != 0)
			continue;
		failed[i] = true;
		seen[i] = true;
		if (!json_is_true(json_object_get(v, "SenderFault")))
			theirs = true;
		if (n_failed++ == 0) {
			const char *code = json_string_value(json_object_get(v, "Code"));
			const char *msg = json_string_value(json_object_get(v, "Message"));
			char text[300];
			snprintf(text, sizeof(text), "entry %s: %s%s%s", id, code ? code : "failed",
				 msg ? ": " : "", msg ? msg : "");
			client_text(first, sizeof(first), text, strlen(text));
		}
	}
	json_decref(doc);
	size_t unreported = 0;
	for (size_t i = 0; i < n; i++)
		if (failed[i] && !seen[i])
			unreported++;
	if (n_failed + unreported > 0) {
		/* An entry SQS said nothing of is retried: deleting twice is harmless. */
		enum client_outcome o = theirs || unreported ? CLIENT_RETRY : CLIENT_FAILED;
		if (n_failed == 0)
			snprintf(first, sizeof(first), "%s", "SQS did not report on them");
		client_result_set(res, o, h.status, "sqs DeleteMessageBatch: %zu of %zu not deleted; %s",
				  n_failed + unreported, n, first);
	}
out:
	http_response_release(&h);
	return 0;
}

/* A FIFO id: 1..128 printable ASCII characters. */
static bool sqs_fifo_id_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7E)
			return false;
	return true;
}

int sqs_send(struct sqs_client *c, const char *queue_url, const char *body, size_t len,
	     const char *dedup_id, const char *group_id, char *ret_message_id,
	     struct client_result *res)
{
	if (!c || !res)
		return HQ_E_INVAL;
	client_result_init(res);
	if (!sqs_queue_ok("SendMessage", queue_url, res))
		return 0;
	if (!body || len == 0 || len > SQS_BODY_MAX) {
		client_result_set(res, CLIENT_FAILED, 0, "sqs SendMessage: the body is empty or over %d bytes",
				  SQS_BODY_MAX);
		return 0;
	}
	if ((dedup_id && !sqs_fifo_id_ok(dedup_id)) || (group_id && !sqs_fifo_id_ok(group_id))) {
		client_result_set(res, CLIENT_FAILED, 0,
				  "sqs SendMessage: a FIFO id is not 1..128 printable ASCII characters");
		return 0;
	}
	json_t *text = json_stringn(body, len);
	if (!text) {
		/* SQS takes text only; the caller encodes bytes (base64). */
		client_result_set(res, CLIENT_FAILED, 0, "sqs SendMessage: the body is not valid UTF-8");
		return 0;
	}
	json_t *req = json_pack("{s:s, s:o}", "QueueUrl", queue_url, "MessageBody", text);
	if (req && dedup_id &&
	    json_object_set_new(req, "MessageDeduplicationId", json_string(dedup_id)) < 0)
		goto nomem;
	if (req && group_id && json_object_set_new(req, "MessageGroupId", json_string(group_id)) < 0)
		goto nomem;
	struct http_response h;
	if (!sqs_call(c, "SendMessage", req, true, c->timeout_ms, SQS_SMALL_ANSWER_MAX, queue_url,
		      NULL, &h, res))
		goto out;
	json_t *doc = json_loadb(h.body, h.body_len, 0, NULL);
	const char *id = json_string_value(json_object_get(doc, "MessageId"));
	const char *md5 = json_string_value(json_object_get(doc, "MD5OfMessageBody"));
	char mine[33];
	if (!id || !*id || strlen(id) >= SQS_MESSAGE_ID_MAX) {
		/* Accepted, as the status says, but we cannot tell which it is. */
		client_result_set(res, CLIENT_RETRY, h.status, "sqs SendMessage: the answer has no MessageId");
		res->uncertain = true;
	} else if (md5 && sqs_md5_hex(body, len, mine) && strcasecmp(md5, mine) != 0) {
		client_result_set(res, CLIENT_RETRY, h.status,
				  "sqs SendMessage: MD5OfMessageBody does not match the body sent (%.40s)",
				  id);
		res->uncertain = true;
	} else if (ret_message_id) {
		snprintf(ret_message_id, SQS_MESSAGE_ID_MAX, "%s", id);
	}
	json_decref(doc);
out:
	http_response_release(&h);
	return 0;
nomem:
	json_decref(req);
	client_result_set(res, CLIENT_RETRY, 0, "sqs SendMessage: out of memory");
	return 0;
}

int sqs_change_visibility(struct sqs_client *c, const char *queue_url,
			  const char *receipt_handle, int visibility_s, struct client_result *res)
{
	if (!c || !res)
		return HQ_E_INVAL;
	client_result_init(res);
	if (!sqs_queue_ok("ChangeMessageVisibility", queue_url, res))
		return 0;
	if (!receipt_handle || !*receipt_handle || visibility_s < 0 ||
	    visibility_s > SQS_VISIBILITY_MAX_S) {
		client_result_set(res, CLIENT_FAILED, 0,
				  "sqs ChangeMessageVisibility: no receipt handle, or visibility "
				  "not 0..43200 s");
		return 0;
	}
	json_t *handle = client_json_text(receipt_handle);
	json_t *req = handle ? json_pack("{s:s, s:o, s:i}", "QueueUrl", queue_url, "ReceiptHandle",
					 handle, "VisibilityTimeout", visibility_s) :
			       NULL;
	struct http_response h;
	sqs_call(c, "ChangeMessageVisibility", req, true, c->timeout_ms, SQS_SMALL_ANSWER_MAX,
		 queue_url, NULL, &h, res);
	http_response_release(&h);
	return 0;
}
