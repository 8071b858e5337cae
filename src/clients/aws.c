#include "clients/aws.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clients/http.h"
#include "util/buf.h"
#include "util/crypto.h"
#include "util/error.h"
#include "util/file.h"

#define AWS_TIMEOUT_DEFAULT_MS 5000L
/* The ECS agent's address for AWS_CONTAINER_CREDENTIALS_RELATIVE_URI. */
#define AWS_ECS_HOST "http://169.254.170.2"
#define AWS_FILE_MAX (1024 * 1024)
#define AWS_TOKEN_FILE_MAX (16 * 1024)
#define AWS_ANSWER_MAX (64 * 1024)
#define AWS_URI_MAX 2048
/* While a refresh fails and the old credentials still work, this long
 * between attempts, so a down endpoint is not asked on every request. */
#define AWS_RETRY_WAIT_MS 10000
/* Credentials the endpoint gives without an expiry are asked for again
 * after this long all the same: the role behind them may change. */
#define AWS_NO_EXPIRY_REFRESH_MS (60 * 60 * 1000)

struct aws_provider {
	const char *(*getenv)(void *ctx, const char *name);
	void *ctx;
	char *region;
	long timeout_ms;
	pthread_mutex_t lock; /* guards what follows, and fetching */
	bool have;
	bool refreshable; /* from the container endpoint */
	struct aws_credentials creds;
	int64_t refresh_at_ms;
	int64_t next_try_ms;
};

static const char *aws_real_getenv(void *ctx, const char *name)
{
	(void)ctx;
	return getenv(name);
}

/* A variable's value, NULL when unset or empty (as the SDKs take it). */
static const char *aws_env(const struct aws_provider *p, const char *name)
{
	const char *v = p->getenv(p->ctx, name);
	return v && *v ? v : NULL;
}

int aws_provider_new(const struct aws_provider_options *o, struct aws_provider **ret, char *err,
		     size_t err_size)
{
	if (!o || !ret) {
		hq_set_err(err, err_size, "AWS credentials: no options");
		return HQ_E_INVAL;
	}
	struct aws_provider *p = calloc(1, sizeof(*p));
	if (!p)
		return HQ_E_NOMEM;
	if (pthread_mutex_init(&p->lock, NULL) != 0) {
		free(p);
		return HQ_E_SYSTEM;
	}
	p->getenv = o->getenv ? o->getenv : aws_real_getenv;
	p->ctx = o->ctx;
	p->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : AWS_TIMEOUT_DEFAULT_MS;
	if (o->region && !(p->region = strdup(o->region))) {
		aws_provider_free(p);
		return HQ_E_NOMEM;
	}
	*ret = p;
	return 0;
}

void aws_credentials_wipe(struct aws_credentials *c)
{
	if (c)
		crypto_cleanse(c, sizeof(*c));
}

void aws_provider_free(struct aws_provider *p)
{
	if (!p)
		return;
	aws_credentials_wipe(&p->creds);
	pthread_mutex_destroy(&p->lock);
	free(p->region);
	free(p);
}

/* A credential goes into a header: printable ASCII without blanks. */
static bool aws_token_chars(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7F)
			return false;
	return true;
}

/* Copies one credential into out; what names it in the error (never its
 * value). */
static int aws_copy(char *out, size_t size, const char *value, size_t len, bool required,
		    const char *what, char *err, size_t err_size)
{
	if (len == 0) {
		if (!required) {
			out[0] = '\0';
			return 0;
		}
		hq_set_err(err, err_size, "%s: empty", what);
		return HQ_E_CONFIG;
	}
	if (len >= size) {
		hq_set_err(err, err_size, "%s: longer than %zu bytes", what, size - 1);
		return HQ_E_CONFIG;
	}
	memcpy(out, value, len);
	out[len] = '\0';
	if (!aws_token_chars(out)) {
		crypto_cleanse(out, len);
		out[0] = '\0';
		hq_set_err(err, err_size, "%s: holds blanks or characters that are not ASCII", what);
		return HQ_E_CONFIG;
	}
	return 0;
}

static int aws_from_env(const struct aws_provider *p, struct aws_credentials *c, bool *found,
			char *err, size_t err_size)
{
	const char *ak = aws_env(p, "AWS_ACCESS_KEY_ID");
	const char *sk = aws_env(p, "AWS_SECRET_ACCESS_KEY");
	const char *st = aws_env(p, "AWS_SESSION_TOKEN");
	*found = false;
	if (!ak && !sk)
		return 0;
	if (!ak || !sk) {
		hq_set_err(err, err_size, "AWS credentials: %s is set but %s is not",
			   ak ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
			   ak ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
		return HQ_E_CONFIG;
	}
	int r = aws_copy(c->access_key, sizeof(c->access_key), ak, strlen(ak), true,
			 "AWS_ACCESS_KEY_ID", err, err_size);
	if (r == 0)
		r = aws_copy(c->secret_key, sizeof(c->secret_key), sk, strlen(sk), true,
			     "AWS_SECRET_ACCESS_KEY", err, err_size);
	if (r == 0)
		r = aws_copy(c->session_token, sizeof(c->session_token), st ? st : "",
			     st ? strlen(st) : 0, false, "AWS_SESSION_TOKEN", err, err_size);
	if (r < 0)
		return r;
	c->source = "the environment";
	*found = true;
	return 0;
}

/* Blanks around s[0..*len) removed; returns the new start. */
static const char *aws_trim(const char *s, size_t *len)
{
	while (*len > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		(*len)--;
	}
	while (*len > 0 && (s[*len - 1] == ' ' || s[*len - 1] == '\t' || s[*len - 1] == '\r'))
		(*len)--;
	return s;
}

struct aws_ini_keys {
	bool section_found;
	const char *ak, *sk, *st; /* into the file's text */
	size_t ak_len, sk_len, st_len;
};

/* Finds profile's keys in the INI text of a shared credentials file: "[name]"
 * sections, "key = value" lines, '#' and ';' comment lines. A section
 * named twice counts as one (later keys win, as in botocore). */
static void aws_ini_find(const char *text, size_t len, const char *profile,
			 struct aws_ini_keys *k)
{
	size_t plen = strlen(profile);
	bool in = false;
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t line_len = nl ? (size_t)(nl - (text + i)) : len - i;
		const char *line = aws_trim(text + i, &line_len);
		i += (nl ? (size_t)(nl - (text + i)) + 1 : len - i);
		if (line_len == 0 || line[0] == '#' || line[0] == ';')
			continue;
		if (line[0] == '[') {
			const char *close = memchr(line, ']', line_len);
			size_t n = close ? (size_t)(close - line - 1) : 0;
			const char *name = aws_trim(line + 1, &n);
			in = close && n == plen && memcmp(name, profile, plen) == 0;
			k->section_found |= in;
			continue;
		}
		const char *eq = in ? memchr(line, '=', line_len) : NULL;
		if (!eq)
			continue;
		size_t key_len = (size_t)(eq - line);
		const char *key = aws_trim(line, &key_len);
		size_t v_len = line_len - (size_t)(eq - line) - 1;
		const char *v = aws_trim(eq + 1, &v_len);
		if (key_len == 17 && strncasecmp(key, "aws_access_key_id", 17) == 0) {
			k->ak = v;
			k->ak_len = v_len;
		} else if (key_len == 21 && strncasecmp(key, "aws_secret_access_key", 21) == 0) {
			k->sk = v;
			k->sk_len = v_len;
		} else if (key_len == 17 && strncasecmp(key, "aws_session_token", 17) == 0) {
			k->st = v;
			k->st_len = v_len;
		}
	}
}

/* The shared credentials file. *found false with note set says why it
 * gave nothing, for the final error. */
static int aws_from_file(const struct aws_provider *p, struct aws_credentials *c, bool *found,
			 char *note, size_t note_size, char *err, size_t err_size)
{
	*found = false;
	char path[4096];
	const char *named = aws_env(p, "AWS_SHARED_CREDENTIALS_FILE");
	const char *home = aws_env(p, "HOME");
	int w;
	if (named)
		w = snprintf(path, sizeof(path), "%s", named);
	else if (home)
		w = snprintf(path, sizeof(path), "%s/.aws/credentials", home);
	else
		return 0;
	if (w < 0 || (size_t)w >= sizeof(path)) {
		hq_set_err(err, err_size, "AWS shared credentials file: path too long");
		return HQ_E_CONFIG;
	}
	const char *profile_env = aws_env(p, "AWS_PROFILE");
	const char *profile = profile_env ? profile_env : "default";
	struct buf b;
	buf_init(&b, AWS_FILE_MAX);
	int r = file_read(path, &b);
	if (r < 0) {
		int e = errno;
		buf_release(&b);
		if (r == HQ_E_IO && (e == ENOENT || e == ENOTDIR)) {
			if (named || profile_env)
				hq_set_err(note, note_size, " ('%s' does not exist)", path);
			return 0;
		}
		hq_set_err(err, err_size, "AWS shared credentials file '%s': %s", path,
			   r == HQ_E_TOOBIG ? "larger than 1 MiB" : strerror(e));
		return HQ_E_CONFIG;
	}
	struct aws_ini_keys k = { 0 };
	aws_ini_find(b.data, b.len, profile, &k);
	r = 0;
	if (!k.section_found) {
		hq_set_err(note, note_size, " (no profile '%s' in '%s')", profile, path);
	} else if (!k.ak || !k.sk || k.ak_len == 0 || k.sk_len == 0) {
		hq_set_err(err, err_size, "AWS shared credentials file '%s': profile '%s' has no %s",
			   path, profile,
			   !k.ak || k.ak_len == 0 ? "aws_access_key_id" : "aws_secret_access_key");
		r = HQ_E_CONFIG;
	} else {
		r = aws_copy(c->access_key, sizeof(c->access_key), k.ak, k.ak_len, true,
			     "aws_access_key_id", err, err_size);
		if (r == 0)
			r = aws_copy(c->secret_key, sizeof(c->secret_key), k.sk, k.sk_len, true,
				     "aws_secret_access_key", err, err_size);
		if (r == 0)
			r = aws_copy(c->session_token, sizeof(c->session_token), k.st ? k.st : "",
				     k.st ? k.st_len : 0, false, "aws_session_token", err, err_size);
		if (r == 0) {
			c->source = "the shared credentials file";
			*found = true;
		}
	}
	/* The text holds the secret key. */
	if (b.data)
		crypto_cleanse(b.data, b.len);
	buf_release(&b);
	return r;
}

/* Whether http (not https) may carry credentials to host: only to this
 * machine or to the ECS / EKS Pod Identity agents' link-local addresses,
 * as the SDKs allow. */
static bool aws_plain_http_host_ok(const char *host)
{
	if (strcasecmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0 ||
	    strcmp(host, "169.254.170.2") == 0 || strcmp(host, "169.254.170.23") == 0 ||
	    strcasecmp(host, "[fd00:ec2::23]") == 0)
		return true;
	struct in_addr a;
	return inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

static int aws_check_full_uri(const char *uri, char *err, size_t err_size)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	int r = HQ_E_CONFIG;
	if (!u)
		return HQ_E_NOMEM;
	if (strlen(uri) > AWS_URI_MAX || curl_url_set(u, CURLUPART_URL, uri, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		hq_set_err(err, err_size, "AWS_CONTAINER_CREDENTIALS_FULL_URI: not a URL");
		goto out;
	}
	if (strcasecmp(scheme, "https") == 0 ||
	    (strcasecmp(scheme, "http") == 0 && aws_plain_http_host_ok(host)))
		r = 0;
	else
		hq_set_err(err, err_size,
			   "AWS_CONTAINER_CREDENTIALS_FULL_URI: '%s' is not https, nor http to a "
			   "loopback address or the container agent (169.254.170.2, 169.254.170.23)",
			   host);
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return r;
}

/* The Authorization value for the endpoint into out ("" when none is
 * configured): the token file, read anew each time, else the variable. */
static int aws_container_token(const struct aws_provider *p, struct buf *out, char *err,
			       size_t err_size)
{
	const char *file = aws_env(p, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	const char *value = aws_env(p, "AWS_CONTAINER_AUTHORIZATION_TOKEN");
	if (file) {
		int r = file_read(file, out);
		if (r < 0) {
			hq_set_err(err, err_size, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE '%s': %s",
				   file, r == HQ_E_TOOBIG ? "larger than 16 KiB" : strerror(errno));
			return HQ_E_CONFIG;
		}
		/* Written by hand or by a tool, it may end in a line break. */
		while (out->len > 0 && strchr(" \t\r\n", out->data[out->len - 1]))
			out->data[--out->len] = '\0';
	} else if (value) {
		if (buf_appends(out, value) < 0) {
			hq_set_err(err, err_size, "AWS_CONTAINER_AUTHORIZATION_TOKEN: too long");
			return HQ_E_CONFIG;
		}
	}
	if (out->len > 0 && (memchr(out->data, '\r', out->len) || memchr(out->data, '\n', out->len) ||
			     memchr(out->data, '\0', out->len))) {
		hq_set_err(err, err_size, "the container authorization token holds a line break");
		return HQ_E_CONFIG;
	}
	return 0;
}

/* "2019-05-29T00:21:43Z", with optional fractional seconds, or with
 * "+00:00" for Z; milliseconds since the epoch, -1 otherwise. */
static int64_t aws_parse_time(const char *s)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	if (!end)
		return -1;
	if (*end == '.')
		while (*++end >= '0' && *end <= '9')
			;
	if (strcmp(end, "Z") != 0 && strcmp(end, "+00:00") != 0)
		return -1;
	time_t t = timegm(&tm);
	return t == (time_t)-1 ? -1 : (int64_t)t * 1000;
}

static int aws_read_container_answer(const struct http_response *h, struct aws_credentials *c,
				     const char *uri, char *err, size_t err_size)
{
	json_t *doc = json_loadb(h->body, h->body_len, 0, NULL);
	const char *ak = json_string_value(json_object_get(doc, "AccessKeyId"));
	const char *sk = json_string_value(json_object_get(doc, "SecretAccessKey"));
	const char *st = json_string_value(json_object_get(doc, "Token"));
	const char *exp = json_string_value(json_object_get(doc, "Expiration"));
	int r = HQ_E_RETRY;
	if (!ak || !sk || !*ak || !*sk) {
		/* The answer is not echoed: it may hold half a secret. */
		hq_set_err(err, err_size,
			   "container credentials endpoint '%s': the answer has no "
			   "AccessKeyId and SecretAccessKey",
			   uri);
		goto out;
	}
	int64_t expires = 0;
	if (exp && (expires = aws_parse_time(exp)) < 0) {
		hq_set_err(err, err_size,
			   "container credentials endpoint '%s': Expiration is not an ISO 8601 time",
			   uri);
		goto out;
	}
	r = aws_copy(c->access_key, sizeof(c->access_key), ak, strlen(ak), true, "AccessKeyId",
		     err, err_size);
	if (r == 0)
		r = aws_copy(c->secret_key, sizeof(c->secret_key), sk, strlen(sk), true,
			     "SecretAccessKey", err, err_size);
	if (r == 0)
		r = aws_copy(c->session_token, sizeof(c->session_token), st ? st : "",
			     st ? strlen(st) : 0, false, "Token", err, err_size);
	if (r < 0) {
		/* A malformed answer is the endpoint's fault: try again later. */
		r = HQ_E_RETRY;
		goto out;
	}
	c->expires_at_ms = expires;
	c->source = "the container endpoint";
out:
	if (doc) {
		/* jansson's copies of the secret go with the document; the
		 * strings are wiped first. */
		json_t *v;
		const char *key;
		json_object_foreach(doc, key, v)
		{
			if (json_is_string(v)) {
				char *s = (char *)(uintptr_t)json_string_value(v);
				crypto_cleanse(s, json_string_length(v));
			}
		}
		json_decref(doc);
	}
	return r;
}

static int aws_from_container(const struct aws_provider *p, struct aws_credentials *c,
			      bool *found, char *err, size_t err_size)
{
	*found = false;
	const char *rel = aws_env(p, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = aws_env(p, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
	if (!rel && !full)
		return 0;
	char uri[AWS_URI_MAX + 64];
	int w;
	if (rel) {
		/* The SDKs prefer it when both are set. */
		w = snprintf(uri, sizeof(uri), "%s%s%s", AWS_ECS_HOST, rel[0] == '/' ? "" : "/", rel);
		if (w < 0 || (size_t)w >= sizeof(uri) || strlen(rel) > AWS_URI_MAX) {
			hq_set_err(err, err_size, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: too long");
			return HQ_E_CONFIG;
		}
	} else {
		int r = aws_check_full_uri(full, err, err_size);
		if (r < 0)
			return r;
		snprintf(uri, sizeof(uri), "%s", full);
	}
	struct buf token;
	buf_init(&token, AWS_TOKEN_FILE_MAX);
	char *auth = NULL;
	struct http_response h;
	memset(&h, 0, sizeof(h));
	int r = aws_container_token(p, &token, err, err_size);
	if (r < 0)
		goto out;
	const char *headers[3] = { "Accept: application/json", NULL, NULL };
	if (token.len > 0) {
		size_t n = token.len + sizeof("Authorization: ");
		auth = malloc(n);
		if (!auth) {
			r = HQ_E_NOMEM;
			goto out;
		}
		snprintf(auth, n, "Authorization: %s", token.data);
		headers[1] = auth;
	}
	r = http_request("GET", uri, headers, NULL, 0, p->timeout_ms, AWS_ANSWER_MAX, &h);
	if (r == HQ_E_INVAL) {
		hq_set_err(err, err_size, "container credentials endpoint '%s': %s", uri, h.error);
		r = HQ_E_CONFIG;
		goto out;
	}
	if (r < 0) {
		hq_set_err(err, err_size, "container credentials endpoint '%s': %s", uri,
			   h.error[0] ? h.error : hq_strerror(r));
		r = HQ_E_RETRY;
		goto out;
	}
	if (h.status != 200) {
		hq_set_err(err, err_size, "container credentials endpoint '%s' answered %ld", uri,
			   h.status);
		r = HQ_E_RETRY;
		goto out;
	}
	r = aws_read_container_answer(&h, c, uri, err, err_size);
	if (r == 0)
		*found = true;
out:
	if (h.body)
		crypto_cleanse(h.body, h.body_len);
	http_response_release(&h);
	if (auth) {
		crypto_cleanse(auth, strlen(auth));
		free(auth);
	}
	if (token.data)
		crypto_cleanse(token.data, token.len);
	buf_release(&token);
	return r;
}

/* Looks through the chain once; *refreshable says the result can be
 * fetched again. */
static int aws_resolve(const struct aws_provider *p, struct aws_credentials *c, bool *refreshable,
		       char *err, size_t err_size)
{
	bool found = false;
	char note[512] = "";
	memset(c, 0, sizeof(*c));
	*refreshable = false;
	int r = aws_from_env(p, c, &found, err, err_size);
	if (r == 0 && !found)
		r = aws_from_file(p, c, &found, note, sizeof(note), err, err_size);
	if (r == 0 && !found) {
		r = aws_from_container(p, c, &found, err, err_size);
		*refreshable = found;
	}
	if (r == 0 && !found) {
		hq_set_err(err, err_size,
			   "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
			   "AWS_PROFILE with ~/.aws/credentials, or "
			   "AWS_CONTAINER_CREDENTIALS_FULL_URI%s",
			   note);
		r = HQ_E_CONFIG;
	}
	if (r < 0)
		aws_credentials_wipe(c);
	return r;
}

int aws_provider_get(struct aws_provider *p, int64_t now_ms, struct aws_credentials *ret,
		     char *err, size_t err_size)
{
	if (!p || !ret)
		return HQ_E_INVAL;
	pthread_mutex_lock(&p->lock);
	bool still_valid = p->have && (p->creds.expires_at_ms == 0 || now_ms < p->creds.expires_at_ms);
	if (p->have && (!p->refreshable || now_ms < p->refresh_at_ms))
		goto copy;
	if (p->have && p->refreshable && now_ms < p->next_try_ms && still_valid)
		goto copy;
	struct aws_credentials fresh;
	bool refreshable;
	int r = aws_resolve(p, &fresh, &refreshable, err, err_size);
	if (r < 0) {
		if (!(p->have && p->refreshable && still_valid)) {
			pthread_mutex_unlock(&p->lock);
			return r;
		}
		/* The old ones work for a while yet. */
		p->next_try_ms = now_ms + AWS_RETRY_WAIT_MS;
		goto copy;
	}
	aws_credentials_wipe(&p->creds);
	p->creds = fresh;
	aws_credentials_wipe(&fresh);
	p->have = true;
	p->refreshable = refreshable;
	p->next_try_ms = 0;
	if (!refreshable) {
		p->refresh_at_ms = 0;
	} else if (p->creds.expires_at_ms == 0) {
		p->refresh_at_ms = now_ms + AWS_NO_EXPIRY_REFRESH_MS;
	} else {
		p->refresh_at_ms = p->creds.expires_at_ms - AWS_REFRESH_BEFORE_MS;
		/* Credentials that come with less than the margin left are
		 * used, and asked for again at the retry pace, not on every
		 * request. */
		if (p->refresh_at_ms < now_ms + AWS_RETRY_WAIT_MS)
			p->refresh_at_ms = now_ms + AWS_RETRY_WAIT_MS;
	}
copy:
	*ret = p->creds;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

bool aws_provider_expire(struct aws_provider *p)
{
	if (!p)
		return false;
	pthread_mutex_lock(&p->lock);
	bool refreshable = p->have && p->refreshable;
	if (refreshable) {
		aws_credentials_wipe(&p->creds);
		p->have = false;
		p->refreshable = false;
		p->next_try_ms = 0;
	}
	pthread_mutex_unlock(&p->lock);
	return refreshable;
}
