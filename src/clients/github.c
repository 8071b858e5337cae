#include "clients/github.h"

#include <inttypes.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clients/http.h"
#include "util/crypto.h"
#include "util/error.h"

#define GITHUB_TIMEOUT_DEFAULT_MS 30000L
#define GITHUB_URL_MAX 1024
#define GITHUB_TOKEN_MAX 8192
/* Installations one hookq reports to; beyond it the soonest-expiring
 * token makes room (and is fetched again when next needed). */
#define GITHUB_TOKENS_MAX 16
/* A cached installation token is renewed this long before it expires, so
 * that no request starts with one about to lapse. */
#define GITHUB_REFRESH_BEFORE_MS (5 * 60 * 1000)
/* GitHub's advice when a rate limit answer says nothing of when. */
#define GITHUB_RATE_LIMIT_WAIT_MS (60 * 1000)
#define GITHUB_WRITE_ANSWER_MAX (1024 * 1024)
/* A page of 100 comments of up to 65536 characters each, as JSON. */
#define GITHUB_PAGE_ANSWER_MAX (16 * 1024 * 1024)
#define GITHUB_PER_PAGE 100

struct github_cached {
	int64_t installation_id; /* 0: a free slot */
	char *token;
	int64_t refresh_at_ms;
};

struct github_client {
	char *api_url; /* without a trailing '/' */
	char *token;
	char *app_id;
	EVP_PKEY *key;
	int64_t installation_id;
	long timeout_ms;
	pthread_mutex_t lock; /* guards cache and fetching */
	struct github_cached cache[GITHUB_TOKENS_MAX];
	/* Installations whose token one thread is fetching: the others wait
	 * for it instead of asking GitHub too (fetched is signalled). */
	int64_t fetching[GITHUB_TOKENS_MAX];
	pthread_cond_t fetched;
};

/* The credential one call uses. */
struct github_auth {
	char *token; /* a copy, wiped after the call */
	bool app;
	int64_t installation_id;
};

static void github_free_secret(char *s)
{
	if (!s)
		return;
	crypto_cleanse(s, strlen(s));
	free(s);
}

static bool github_url_ok(const char *u)
{
	size_t n = strlen(u);
	if (n > GITHUB_URL_MAX || !(strncmp(u, "https://", 8) == 0 || strncmp(u, "http://", 7) == 0))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)u[i] <= 0x20 || u[i] == 0x7F || u[i] == '?' || u[i] == '#')
			return false;
	return true;
}

static bool github_plain(const char *s, size_t max, const char *extra)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      strchr(extra, ch)))
			return false;
	}
	return true;
}

/* "owner/name" as GitHub allows them, so nothing else reaches a URL. */
static bool github_repo_ok(const char *repo)
{
	if (!repo)
		return false;
	const char *slash = strchr(repo, '/');
	if (!slash || slash == repo || slash - repo > 39)
		return false;
	char owner[40];
	memcpy(owner, repo, (size_t)(slash - repo));
	owner[slash - repo] = '\0';
	const char *name = slash + 1;
	return github_plain(owner, 39, "-") && github_plain(name, 100, "._-") &&
	       strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

static int github_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0; /* an encrypted key is refused, never prompted for */
}

/* Reads an RSA private key from PEM text; "\n" written as two characters
 * (as an environment variable often holds it) counts as a line break. */
static EVP_PKEY *github_read_key(const char *pem)
{
	size_t n = strlen(pem);
	char *text = malloc(n + 1);
	if (!text)
		return NULL;
	size_t k = 0;
	bool escaped = !strchr(pem, '\n');
	for (size_t i = 0; i < n; i++) {
		if (escaped && pem[i] == '\\' && pem[i + 1] == 'n') {
			text[k++] = '\n';
			i++;
		} else {
			text[k++] = pem[i];
		}
	}
	text[k] = '\0';
	EVP_PKEY *key = NULL;
	BIO *bio = BIO_new_mem_buf(text, (int)k);
	if (bio) {
		key = PEM_read_bio_PrivateKey(bio, NULL, github_no_passphrase, NULL);
		BIO_free(bio);
	}
	crypto_cleanse(text, k);
	free(text);
	if (key && !EVP_PKEY_is_a(key, "RSA")) {
		EVP_PKEY_free(key);
		key = NULL;
	}
	/* What OpenSSL queued about a bad key is ours to drop: the thread's
	 * next OpenSSL caller must not read it as its own. */
	ERR_clear_error();
	return key;
}

int github_client_new(const struct github_options *o, struct github_client **ret, char *err,
		      size_t err_size)
{
	const char *api = o->api_url && *o->api_url ? o->api_url : "https://api.github.com";
	if (!github_url_ok(api)) {
		hq_set_err(err, err_size, "GitHub API URL: not an http(s) URL without query");
		return HQ_E_CONFIG;
	}
	bool app = o->app_id && *o->app_id;
	if (app) {
		if (!github_plain(o->app_id, 64, "._-")) {
			hq_set_err(err, err_size, "GITHUB_APP_ID: not an app id");
			return HQ_E_CONFIG;
		}
		if (!o->app_private_key_pem || !*o->app_private_key_pem) {
			hq_set_err(err, err_size, "GITHUB_APP_PRIVATE_KEY: missing for GITHUB_APP_ID");
			return HQ_E_CONFIG;
		}
	} else if (!o->token || !*o->token) {
		hq_set_err(err, err_size, "GITHUB_TOKEN: missing (or set GITHUB_APP_ID and "
					  "GITHUB_APP_PRIVATE_KEY)");
		return HQ_E_CONFIG;
	} else if (strlen(o->token) > GITHUB_TOKEN_MAX || strpbrk(o->token, " \t\r\n")) {
		hq_set_err(err, err_size, "GITHUB_TOKEN: not a token");
		return HQ_E_CONFIG;
	}
	if (o->installation_id < 0) {
		hq_set_err(err, err_size, "GitHub App installation id: negative");
		return HQ_E_CONFIG;
	}
	struct github_client *c = calloc(1, sizeof(*c));
	if (!c)
		return HQ_E_NOMEM;
	if (pthread_mutex_init(&c->lock, NULL) != 0) {
		free(c);
		return HQ_E_SYSTEM;
	}
	if (pthread_cond_init(&c->fetched, NULL) != 0) {
		pthread_mutex_destroy(&c->lock);
		free(c);
		return HQ_E_SYSTEM;
	}
	size_t len = strlen(api);
	while (len > 0 && api[len - 1] == '/')
		len--;
	c->api_url = strndup(api, len);
	c->installation_id = o->installation_id;
	c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : GITHUB_TIMEOUT_DEFAULT_MS;
	if (!c->api_url)
		goto nomem;
	if (app) {
		c->app_id = strdup(o->app_id);
		if (!c->app_id)
			goto nomem;
		c->key = github_read_key(o->app_private_key_pem);
		if (!c->key) {
			hq_set_err(err, err_size,
				   "GITHUB_APP_PRIVATE_KEY: not an RSA private key in PEM");
			github_client_free(c);
			return HQ_E_CONFIG;
		}
	} else {
		c->token = strdup(o->token);
		if (!c->token)
			goto nomem;
	}
	*ret = c;
	return 0;
nomem:
	github_client_free(c);
	return HQ_E_NOMEM;
}

void github_client_free(struct github_client *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < GITHUB_TOKENS_MAX; i++)
		github_free_secret(c->cache[i].token);
	github_free_secret(c->token);
	EVP_PKEY_free(c->key);
	free(c->app_id);
	free(c->api_url);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->fetched);
	free(c);
}

/* base64url without padding (RFC 7515 section 2); out holds
 * 4 * ceil(len / 3) + 1 bytes. */
static void github_base64url(const uint8_t *in, size_t len, char *out)
{
	crypto_base64_encode(in, len, out);
	size_t k = 0;
	for (size_t i = 0; out[i]; i++) {
		if (out[i] == '=')
			break;
		out[k++] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
	}
	out[k] = '\0';
}

/* The App's JWT (RS256): valid from a minute ago (clock drift) for nine
 * minutes, under GitHub's ten-minute limit. */
static int github_jwt(struct github_client *c, int64_t now_ms, char **ret)
{
	static const char header[] = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
	int64_t now = now_ms / 1000;
	json_t *claims = json_pack("{s:I, s:I, s:s}", "iat", (json_int_t)(now - 60), "exp",
				   (json_int_t)(now + 540), "iss", c->app_id);
	char *payload = claims ? json_dumps(claims, JSON_COMPACT) : NULL;
	json_decref(claims);
	if (!payload)
		return HQ_E_NOMEM;
	size_t plen = strlen(payload);
	size_t sig_max = (size_t)EVP_PKEY_get_size(c->key);
	size_t cap = 4 * ((sizeof(header) + 2) / 3) + 4 * ((plen + 2) / 3) + 4 * ((sig_max + 2) / 3) + 3;
	char *jwt = malloc(cap);
	uint8_t *sig = malloc(sig_max);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int r = HQ_E_NOMEM;
	if (!jwt || !sig || !md)
		goto out;
	github_base64url((const uint8_t *)header, sizeof(header) - 1, jwt);
	size_t k = strlen(jwt);
	jwt[k++] = '.';
	github_base64url((const uint8_t *)payload, plen, jwt + k);
	k += strlen(jwt + k);
	size_t sig_len = sig_max;
	r = HQ_E_SYSTEM;
	/* RSA keys sign with PKCS#1 v1.5 padding unless told otherwise. */
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, c->key) != 1 ||
	    EVP_DigestSign(md, sig, &sig_len, (const uint8_t *)jwt, k) != 1) {
		ERR_clear_error();
		goto out;
	}
	jwt[k++] = '.';
	github_base64url(sig, sig_len, jwt + k);
	*ret = jwt;
	jwt = NULL;
	r = 0;
out:
	EVP_MD_CTX_free(md);
	free(sig);
	free(jwt);
	free(payload);
	return r;
}

/* "2016-07-11T22:14:10Z" as milliseconds since the epoch, -1 otherwise. */
static int64_t github_parse_time(const char *s)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	if (!end)
		return -1;
	if (*end == '.') /* fractional seconds */
		while (*++end >= '0' && *end <= '9')
			;
	if (strcmp(end, "Z") != 0)
		return -1;
	time_t t = timegm(&tm);
	return t == (time_t)-1 ? -1 : (int64_t)t * 1000;
}

/* GitHub's "message", with the first of "errors"' messages when it names
 * what failed validation, into out. */
static void github_message(const struct http_response *h, char *out, size_t size)
{
	out[0] = '\0';
	json_t *doc = h->body ? json_loadb(h->body, h->body_len, 0, NULL) : NULL;
	const char *msg = json_string_value(json_object_get(doc, "message"));
	json_t *first = json_array_get(json_object_get(doc, "errors"), 0);
	const char *detail = json_string_value(json_object_get(first, "message"));
	if (!detail)
		detail = json_string_value(json_object_get(first, "code"));
	char text[512];
	if (msg && detail)
		snprintf(text, sizeof(text), "%s (%s)", msg, detail);
	else
		snprintf(text, sizeof(text), "%s", msg ? msg : "no message");
	client_text(out, size, text, strlen(text));
	json_decref(doc);
}

static void github_drop_token(struct github_client *c, int64_t installation_id)
{
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < GITHUB_TOKENS_MAX; i++) {
		struct github_cached *e = &c->cache[i];
		if (e->installation_id == installation_id) {
			github_free_secret(e->token);
			*e = (struct github_cached){ 0 };
		}
	}
	pthread_mutex_unlock(&c->lock);
}

/* Classifies an answer (or its absence) as the header comment says. what
 * names the call in the error. */
static void github_classify(struct github_client *c, const struct github_auth *a, int rc,
			    const struct http_response *h, bool write, int64_t now_ms,
			    const char *what, struct client_result *ret)
{
	if (!client_result_http(ret, rc, h, write, what))
		return;
	long st = h->status;
	if (st >= 200 && st <= 299) {
		client_result_set(ret, CLIENT_OK, st, "%s", "");
		return;
	}
	char msg[200];
	github_message(h, msg, sizeof(msg));
	enum client_outcome outcome = CLIENT_FAILED;
	int64_t at = 0;
	if (st == 401 && a && a->app) {
		/* Revoked early or never valid: a new one is fetched next time. */
		github_drop_token(c, a->installation_id);
		outcome = CLIENT_RETRY;
	} else if (st == 403 || st == 429) {
		if (h->retry_after_s >= 0) {
			outcome = CLIENT_RETRY;
			at = client_retry_after_at(h, now_ms);
		} else if (h->ratelimit_remaining == 0 && h->ratelimit_reset >= 0) {
			outcome = CLIENT_RETRY;
			int64_t cap = now_ms + (int64_t)CLIENT_RETRY_MAX_S * 1000;
			at = h->ratelimit_reset * 1000;
			at = at < now_ms ? now_ms : at > cap ? cap : at;
		} else if (st == 429 || strcasestr(msg, "rate limit")) {
			outcome = CLIENT_RETRY;
			at = now_ms + GITHUB_RATE_LIMIT_WAIT_MS;
		}
	} else if (st == 408 || (st >= 500 && st <= 599)) {
		outcome = CLIENT_RETRY;
		at = client_retry_after_at(h, now_ms);
		/* A 502 or 504 may come after GitHub did the work; 503 is a
		 * refusal up front. */
		ret->uncertain = write && st >= 500 && st != 503;
	}
	client_result_set(ret, outcome, st, "%s: GitHub answered %ld: %s", what, st, msg);
	ret->retry_at_ms = outcome == CLIENT_RETRY ? at : 0;
}

static int github_request(struct github_client *c, const char *bearer, const char *method,
			  const char *path, const char *body, size_t max_answer,
			  struct http_response *h)
{
	char url[GITHUB_URL_MAX + 512];
	if (snprintf(url, sizeof(url), "%s%s", c->api_url, path) >= (int)sizeof(url)) {
		memset(h, 0, sizeof(*h));
		snprintf(h->error, sizeof(h->error), "the URL is too long");
		return HQ_E_INVAL;
	}
	size_t alen = strlen("Authorization: Bearer ") + strlen(bearer) + 1;
	char *auth = malloc(alen);
	if (!auth) {
		memset(h, 0, sizeof(*h));
		return HQ_E_NOMEM;
	}
	snprintf(auth, alen, "Authorization: Bearer %s", bearer);
	const char *headers[] = { "Accept: application/vnd.github+json",
				  "X-GitHub-Api-Version: 2022-11-28", auth,
				  body ? "Content-Type: application/json" : NULL, NULL };
	int r = http_request(method, url, headers, body, body ? strlen(body) : 0, c->timeout_ms,
			     max_answer, h);
	github_free_secret(auth);
	return r;
}

/* Fetches an installation token; fills ret and returns -1 when it cannot. */
static int github_fetch_token(struct github_client *c, int64_t installation_id, int64_t now_ms,
			      char **token, int64_t *refresh_at_ms, struct client_result *ret)
{
	char *jwt = NULL;
	int r = github_jwt(c, now_ms, &jwt);
	if (r < 0) {
		client_result_set(ret, CLIENT_RETRY, 0, "installation token: cannot sign the JWT: %s",
				  hq_strerror(r));
		return -1;
	}
	char path[96];
	snprintf(path, sizeof(path), "/app/installations/%" PRId64 "/access_tokens",
		 installation_id);
	struct http_response h;
	r = github_request(c, jwt, "POST", path, NULL, 64 * 1024, &h);
	github_free_secret(jwt);
	if (r < 0 || h.status != 201) {
		/* Nothing was written on the caller's behalf. */
		github_classify(c, NULL, r, &h, false, now_ms, "installation token", ret);
		if (r == 0 && h.status >= 200 && h.status <= 299)
			client_result_set(ret, CLIENT_FAILED, h.status,
					  "installation token: GitHub answered %ld, not 201", h.status);
		ret->uncertain = false;
		http_response_release(&h);
		return -1;
	}
	json_t *doc = json_loadb(h.body, h.body_len, 0, NULL);
	const char *tok = json_string_value(json_object_get(doc, "token"));
	int64_t expires = github_parse_time(json_string_value(json_object_get(doc, "expires_at")));
	int out = -1;
	if (!tok || !*tok || strlen(tok) > GITHUB_TOKEN_MAX || strpbrk(tok, " \t\r\n")) {
		client_result_set(ret, CLIENT_RETRY, h.status,
				  "installation token: GitHub's answer holds no token");
	} else if (!(*token = strdup(tok))) {
		client_result_set(ret, CLIENT_RETRY, 0, "installation token: out of memory");
	} else {
		/* Without a readable expiry the token serves this call only. */
		*refresh_at_ms = expires < 0 ? 0 : expires - GITHUB_REFRESH_BEFORE_MS;
		out = 0;
	}
	if (tok)
		crypto_cleanse((void *)(uintptr_t)tok, strlen(tok));
	json_decref(doc);
	crypto_cleanse(h.body, h.body_len);
	http_response_release(&h);
	return out;
}

static void github_cache_put(struct github_client *c, int64_t installation_id,
			     const char *token, int64_t refresh_at_ms)
{
	char *copy = strdup(token);
	if (!copy)
		return; /* not cached: fetched again next time */
	pthread_mutex_lock(&c->lock);
	struct github_cached *slot = NULL;
	for (size_t i = 0; i < GITHUB_TOKENS_MAX && !slot; i++)
		if (c->cache[i].installation_id == installation_id)
			slot = &c->cache[i];
	for (size_t i = 0; i < GITHUB_TOKENS_MAX && !slot; i++)
		if (c->cache[i].installation_id == 0)
			slot = &c->cache[i];
	if (!slot) {
		slot = &c->cache[0];
		for (size_t i = 1; i < GITHUB_TOKENS_MAX; i++)
			if (c->cache[i].refresh_at_ms < slot->refresh_at_ms)
				slot = &c->cache[i];
	}
	github_free_secret(slot->token);
	*slot = (struct github_cached){ installation_id, copy, refresh_at_ms };
	pthread_mutex_unlock(&c->lock);
}

/* The credential for one call; fills ret and returns -1 when there is none. */
static int github_auth_get(struct github_client *c, int64_t installation_id, int64_t now_ms,
			   struct github_auth *a, struct client_result *ret)
{
	*a = (struct github_auth){ 0 };
	if (!c->key) {
		a->token = strdup(c->token);
		if (!a->token) {
			client_result_set(ret, CLIENT_RETRY, 0, "out of memory");
			return -1;
		}
		return 0;
	}
	a->app = true;
	a->installation_id = installation_id > 0 ? installation_id : c->installation_id;
	if (a->installation_id <= 0) {
		client_result_set(ret, CLIENT_FAILED, 0, "no GitHub App installation id for this call");
		return -1;
	}
	pthread_mutex_lock(&c->lock);
	ssize_t mine = -1;
	for (;;) {
		for (size_t i = 0; i < GITHUB_TOKENS_MAX && !a->token; i++) {
			struct github_cached *e = &c->cache[i];
			if (e->installation_id == a->installation_id && now_ms < e->refresh_at_ms)
				a->token = strdup(e->token);
		}
		if (a->token)
			break;
		bool busy = false;
		for (size_t i = 0; i < GITHUB_TOKENS_MAX; i++)
			busy |= c->fetching[i] == a->installation_id;
		if (!busy) {
			/* This thread fetches; others of this installation wait. */
			for (size_t i = 0; i < GITHUB_TOKENS_MAX && mine < 0; i++)
				if (c->fetching[i] == 0)
					mine = (ssize_t)i;
			if (mine >= 0)
				c->fetching[mine] = a->installation_id;
			break;
		}
		/* Bounded: a fetch ends within the request timeout. */
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += c->timeout_ms / 1000 + 2;
		if (pthread_cond_timedwait(&c->fetched, &c->lock, &until) != 0)
			break;
	}
	pthread_mutex_unlock(&c->lock);
	if (a->token)
		return 0;
	/* Fetched without the lock: other installations' calls go on. */
	int64_t refresh_at = 0;
	int r = github_fetch_token(c, a->installation_id, now_ms, &a->token, &refresh_at, ret);
	if (r == 0 && refresh_at > now_ms)
		github_cache_put(c, a->installation_id, a->token, refresh_at);
	if (mine >= 0) {
		pthread_mutex_lock(&c->lock);
		c->fetching[mine] = 0;
		pthread_cond_broadcast(&c->fetched);
		pthread_mutex_unlock(&c->lock);
	}
	return r < 0 ? -1 : 0;
}

static void github_auth_release(struct github_auth *a)
{
	github_free_secret(a->token);
	a->token = NULL;
}

/* One call: credential, request, classification, the created id. */
static int github_call(struct github_client *c, int64_t installation_id, const char *method,
		       const char *path, json_t *body, bool write, const char *what,
		       int64_t now_ms, struct client_result *ret)
{
	struct github_auth a;
	if (github_auth_get(c, installation_id, now_ms, &a, ret) < 0)
		return 0;
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	if (body && !text) {
		client_result_set(ret, CLIENT_RETRY, 0, "%s: out of memory", what);
		github_auth_release(&a);
		return 0;
	}
	struct http_response h;
	int r = github_request(c, a.token, method, path, text, GITHUB_WRITE_ANSWER_MAX, &h);
	github_classify(c, &a, r, &h, write, now_ms, what, ret);
	if (ret->outcome == CLIENT_OK) {
		json_t *doc = json_loadb(h.body, h.body_len, 0, NULL);
		json_int_t id = json_integer_value(json_object_get(doc, "id"));
		ret->id = id > 0 ? (int64_t)id : 0;
		json_decref(doc);
	}
	client_result_redact(ret, a.token);
	http_response_release(&h);
	free(text);
	github_auth_release(&a);
	return 0;
}

static bool github_reaction_ok(const char *content)
{
	static const char *const known[] = { "+1",	 "-1",	   "laugh",  "confused",
					     "heart", "hooray", "rocket", "eyes" };
	for (size_t i = 0; content && i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(content, known[i]) == 0)
			return true;
	return false;
}

int github_add_reaction(struct github_client *c, int64_t installation_id, const char *repo,
			const char *target_kind, int64_t target_id, const char *content,
			int64_t now_ms, struct client_result *ret)
{
	if (!c || !ret)
		return HQ_E_INVAL;
	client_result_init(ret);
	/* Where each kind of target keeps its reactions. */
	const char *where = NULL;
	if (!target_kind)
		where = NULL;
	else if (strcmp(target_kind, "issue") == 0)
		where = "issues";
	else if (strcmp(target_kind, "issue_comment") == 0)
		where = "issues/comments";
	else if (strcmp(target_kind, "pull_request_review_comment") == 0)
		where = "pulls/comments";
	else if (strcmp(target_kind, "commit_comment") == 0)
		where = "comments";
	if (!github_repo_ok(repo) || !where || target_id <= 0 || !github_reaction_ok(content)) {
		client_result_set(ret, CLIENT_FAILED, 0,
				  "reaction: not a repository, target or reaction GitHub knows");
		return 0;
	}
	char path[256];
	snprintf(path, sizeof(path), "/repos/%s/%s/%" PRId64 "/reactions", repo, where, target_id);
	json_t *body = json_pack("{s:s}", "content", content);
	if (!body) {
		client_result_set(ret, CLIENT_RETRY, 0, "reaction: out of memory");
		return 0;
	}
	int r = github_call(c, installation_id, "POST", path, body, true, "reaction", now_ms, ret);
	json_decref(body);
	return r;
}

int github_create_comment(struct github_client *c, int64_t installation_id, const char *repo,
			  int64_t number, const char *body, int64_t now_ms,
			  struct client_result *ret)
{
	if (!c || !ret)
		return HQ_E_INVAL;
	client_result_init(ret);
	if (!github_repo_ok(repo) || number <= 0 || !body) {
		client_result_set(ret, CLIENT_FAILED, 0,
				  "comment: not a repository and issue number GitHub knows");
		return 0;
	}
	char path[256];
	snprintf(path, sizeof(path), "/repos/%s/issues/%" PRId64 "/comments", repo, number);
	json_t *text = client_json_text(body);
	json_t *doc = text ? json_pack("{s:o}", "body", text) : NULL;
	if (!doc) {
		client_result_set(ret, CLIENT_RETRY, 0, "comment: out of memory");
		return 0;
	}
	int r = github_call(c, installation_id, "POST", path, doc, true, "comment", now_ms, ret);
	json_decref(doc);
	return r;
}

/* Looks for marker in one page of comments: 1 found (*id set), 0 not on
 * this page (*count: its comments), -1 not a list of comments. */
static int github_scan_page(const struct http_response *h, const char *marker, int64_t *id,
			    size_t *count)
{
	json_t *doc = json_loadb(h->body, h->body_len, 0, NULL);
	if (!json_is_array(doc)) {
		json_decref(doc);
		return -1;
	}
	int found = 0;
	size_t i;
	json_t *item;
	json_array_foreach(doc, i, item) {
		const char *text = json_string_value(json_object_get(item, "body"));
		json_int_t cid = json_integer_value(json_object_get(item, "id"));
		if (text && cid > 0 && strstr(text, marker)) {
			*id = (int64_t)cid;
			found = 1;
			break;
		}
	}
	*count = json_array_size(doc);
	json_decref(doc);
	return found;
}

int github_find_comment(struct github_client *c, int64_t installation_id, const char *repo,
			int64_t number, const char *marker, int64_t now_ms,
			struct client_result *ret)
{
	if (!c || !ret)
		return HQ_E_INVAL;
	client_result_init(ret);
	if (!github_repo_ok(repo) || number <= 0 || !marker || !*marker) {
		client_result_set(ret, CLIENT_FAILED, 0,
				  "find comment: not a repository, issue number and marker");
		return 0;
	}
	struct github_auth a;
	if (github_auth_get(c, installation_id, now_ms, &a, ret) < 0)
		return 0;
	/* Pages are asked for by number (GitHub's Link header names the same
	 * URLs): the token only ever goes to api_url, whatever a Link says. */
	for (int page = 1; page <= GITHUB_FIND_PAGES_MAX; page++) {
		char path[256];
		snprintf(path, sizeof(path),
			 "/repos/%s/issues/%" PRId64 "/comments?per_page=%d&page=%d", repo, number,
			 GITHUB_PER_PAGE, page);
		struct http_response h;
		int r = github_request(c, a.token, "GET", path, NULL, GITHUB_PAGE_ANSWER_MAX, &h);
		github_classify(c, &a, r, &h, false, now_ms, "find comment", ret);
		if (ret->outcome != CLIENT_OK) {
			http_response_release(&h);
			break;
		}
		size_t count = 0;
		bool cut = h.truncated;
		int found = cut ? -1 : github_scan_page(&h, marker, &ret->id, &count);
		bool more = h.link_next == 1 || (h.link_next == -1 && count == GITHUB_PER_PAGE);
		http_response_release(&h);
		if (found < 0) {
			client_result_set(ret, CLIENT_FAILED, ret->status,
					  "find comment: page %d is not a list of comments%s", page,
					  cut ? " (too large)" : "");
			break;
		}
		if (found > 0 || !more)
			break;
	}
	client_result_redact(ret, a.token);
	github_auth_release(&a);
	return 0;
}
