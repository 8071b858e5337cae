/* clients/github: requests, classification and GitHub App tokens against
 * a local server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <pthread.h>

#include "clients/github.h"
#include "fake.h"
#include "util/crypto.h"
#include "util/error.h"

#define NOW 1700000000000LL /* 2023-11-14T22:13:20Z */

struct env {
	struct fake_server *fake;
	struct github_client *gh;
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	e->fake = fake_start();
	if (!e->fake)
		return -1;
	struct github_options o = { .api_url = fake_url(e->fake), .token = "tok-123" };
	char err[256];
	if (github_client_new(&o, &e->gh, err, sizeof(err)) != 0)
		return -1;
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	github_client_free(e->gh);
	fake_stop(e->fake);
	free(e);
	return 0;
}

static void assert_github_headers(const struct fake_request *req, const char *bearer)
{
	char auth[256];
	snprintf(auth, sizeof(auth), "Bearer %s", bearer);
	assert_string_equal(fake_header(req, "accept"), "application/vnd.github+json");
	assert_string_equal(fake_header(req, "x-github-api-version"), "2022-11-28");
	assert_string_equal(fake_header(req, "authorization"), auth);
}

static void reactions_go_to_each_targets_endpoint(void **state)
{
	struct env *e = *state;
	static const struct {
		const char *kind, *path;
	} cases[] = {
		{ "issue", "/repos/octo/hello.world/issues/12/reactions" },
		{ "issue_comment", "/repos/octo/hello.world/issues/comments/12/reactions" },
		{ "pull_request_review_comment", "/repos/octo/hello.world/pulls/comments/12/reactions" },
		{ "commit_comment", "/repos/octo/hello.world/comments/12/reactions" },
	};
	for (size_t i = 0; i < 4; i++) {
		/* 200: the reaction was there already; as good as 201. */
		fake_script(e->fake, i % 2 ? 200 : 201, "{\"id\":99,\"content\":\"eyes\"}", NULL);
		struct client_result r;
		assert_int_equal(github_add_reaction(e->gh, 0, "octo/hello.world", cases[i].kind, 12,
						     "eyes", NOW, &r),
				 0);
		assert_int_equal(r.outcome, CLIENT_OK);
		assert_string_equal(r.error, "");
		const struct fake_request *req = fake_request(e->fake, i);
		assert_string_equal(req->method, "POST");
		assert_string_equal(req->uri, cases[i].path);
		assert_string_equal(req->body, "{\"content\":\"eyes\"}");
		assert_string_equal(fake_header(req, "content-type"), "application/json");
		assert_github_headers(req, "tok-123");
	}
}

static void a_comment_is_posted_and_its_id_returned(void **state)
{
	struct env *e = *state;
	fake_script(e->fake, 201, "{\"id\":1234567890123,\"body\":\"x\"}", NULL);
	struct client_result r;
	assert_int_equal(github_create_comment(e->gh, 0, "o/r", 7, "Done: \"ok\"\n<!-- hookq:t1 -->",
					       NOW, &r),
			 0);
	assert_int_equal(r.outcome, CLIENT_OK);
	assert_int_equal(r.status, 201);
	assert_int_equal(r.id, 1234567890123LL);
	const struct fake_request *req = fake_request(e->fake, 0);
	assert_string_equal(req->method, "POST");
	assert_string_equal(req->uri, "/repos/o/r/issues/7/comments");
	assert_string_equal(req->body, "{\"body\":\"Done: \\\"ok\\\"\\n<!-- hookq:t1 -->\"}");
	assert_github_headers(req, "tok-123");
}

static void comment(struct env *e, struct client_result *r)
{
	assert_int_equal(github_create_comment(e->gh, 0, "o/r", 7, "hi", NOW, r), 0);
}

static void rate_limits_retry_when_github_says(void **state)
{
	struct env *e = *state;
	struct client_result r;
	fake_script(e->fake, 403, "{\"message\":\"slow down\"}", "Retry-After: 30", NULL);
	comment(e, &r);
	assert_int_equal(r.outcome, CLIENT_RETRY);
	assert_int_equal(r.status, 403);
	assert_int_equal(r.retry_at_ms, NOW + 30000);
	assert_false(r.uncertain);

	fake_script(e->fake, 429, "{}", "Retry-After: 5", NULL);
	comment(e, &r);
	assert_int_equal(r.outcome, CLIENT_RETRY);
	assert_int_equal(r.retry_at_ms, NOW + 5000);

	fake_script(e->fake, 403, "{\"message\":\"API rate limit exceeded\"}",
		    "X-RateLimit-Remaining: 0", "X-RateLimit-Reset: 1700000100", NULL);
	comment(e, &r);
	assert_int_equal(r.outcome, CLIENT_RETRY);
	assert_int_equal(r.retry_at_ms, 1700000100000LL);

	fake_script(e->fake, 403,
		    "{\"message\":\"You have exceeded a secondary rate limit. Please wait.\"}", NULL);
	comment(e, &r);
	assert_int_equal(r.outcome, CLIENT_RETRY);
	assert_int_equal(r.retry_at_ms, NOW + 60000);

	fake_script(e->fake, 429, "", NULL);
	comment(e, &r);
	assert_int_equal(r.outcome, CLIENT_RETRY);
	assert_int_equal(r.retry_at_ms, NOW + 60000);
}

static void a_plain_403_fails_with_githubs_message(void **state)
{
	struct env *e = *state;
	struct client_result r;
	fake_script(e->fake, 403, "{\"message\":\"Resource not accessible by integration\"}",
		    "X-RateLimit-Remaining: 4999", "X-RateLimit-Reset: 1700000100", NULL);
	comment(e, &r);
	assert_int_equal(r.outcome, CLIENT_FAILED);
	assert_int_equal(r.status, 403);
	assert_non_null(strstr(r.error, "Resource not accessible by integration"));
}

static void server_errors_retry_at_the_callers_backoff(void **state)
{
	struct env *e = *state;
	struct client_result r;
	fake_script(e->fake, 500, "{\"message\":\"boom\"}", NULL);
	comment(e, &r);
	assert_int_equal(r.outcome, CLIENT_RETRY);
	assert_int_equal(r.status, 500);
	assert_int_equal(r.retry_at_ms, 0);
	/* The comment may exist although GitHub failed to say so. */
	assert_true(r.uncertain);

	fake_script(e->fake, 503, "", "Retry-After: 10", NULL);
	comment(e, &r);
	assert_int_equal(r.outcome, CLIENT_RETRY);
	assert_int_equal(r.retry_at_ms, NOW + 10000);
	assert_false(r.uncertain);

	fake_script(e->fake, 408, "", NULL);
	comment(e, &r);
	assert_int_equal(r.outcome, CLIENT_RETRY);
	assert_false(r.uncertain);

	/* A read is never uncertain. */
	fake_script(e->fake, 502, "", NULL);
	assert_int_equal(github_find_comment(e->gh, 0, "o/r", 7, "m", NOW, &r), 0);
	assert_int_equal(r.outcome, CLIENT_RETRY);
	assert_false(r.uncertain);
}

static void client_errors_fail_with_githubs_message(void **state)
{
	struct env *e = *state;
	struct client_result r;
	fake_script(e->fake, 404, "{\"message\":\"Not Found\",\"documentation_url\":\"x\"}", NULL);
	comment(e, &r);
	assert_int_equal(r.outcome, CLIENT_FAILED);
	assert_int_equal(r.status, 404);
	assert_non_null(strstr(r.error, "404: Not Found"));

	fake_script(e->fake, 422,
		    "{\"message\":\"Validation Failed\",\"errors\":[{\"resource\":\"IssueComment\","
		    "\"code\":\"custom\",\"field\":\"body\",\"message\":\"body is too long\"}]}",
		    NULL);
	comment(e, &r);
	assert_int_equal(r.outcome, CLIENT_FAILED);
	assert_int_equal(r.status, 422);
	assert_non_null(strstr(r.error, "Validation Failed (body is too long)"));

	/* A token that does not work stays that way. */
	fake_script(e->fake, 401, "{\"message\":\"Bad credentials\"}", NULL);
	comment(e, &r);
	assert_int_equal(r.outcome, CLIENT_FAILED);
	assert_int_equal(r.status, 401);
}

static void a_message_echoing_the_token_is_redacted(void **state)
{
	struct env *e = *state;
	struct client_result r;
	fake_script(e->fake, 422, "{\"message\":\"token tok-123 is odd\"}", NULL);
	comment(e, &r);
	assert_int_equal(r.outcome, CLIENT_FAILED);
	assert_null(strstr(r.error, "tok-123"));
	assert_non_null(strstr(r.error, "token [redacted] is odd"));
}

static void arguments_that_cannot_work_fail_without_a_request(void **state)
{
	struct env *e = *state;
	struct client_result r;
	static const char *const repos[] = { "o",	    "/r",     "o/",	   "o/r/x", "o/..",
					     "o/r?x=1", "o r/x", "../r",   "o/r#1", NULL };
	for (size_t i = 0; repos[i]; i++) {
		assert_int_equal(github_create_comment(e->gh, 0, repos[i], 1, "x", NOW, &r), 0);
		assert_int_equal(r.outcome, CLIENT_FAILED);
		assert_int_equal(r.status, 0);
	}
	assert_int_equal(github_add_reaction(e->gh, 0, "o/r", "issue", 1, "smile", NOW, &r), 0);
	assert_int_equal(r.outcome, CLIENT_FAILED);
	assert_int_equal(github_add_reaction(e->gh, 0, "o/r", "release", 1, "eyes", NOW, &r), 0);
	assert_int_equal(r.outcome, CLIENT_FAILED);
	assert_int_equal(github_create_comment(e->gh, 0, "o/r", 0, "x", NOW, &r), 0);
	assert_int_equal(r.outcome, CLIENT_FAILED);
	assert_int_equal(fake_count(e->fake), 0);
}

static void transport_failures_retry_and_say_whether_the_write_may_have_landed(void **state)
{
	(void)state;
	char url[64], err[256];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)fake_closed_port());
	struct github_options o = { .api_url = url, .token = "t" };
	struct github_client *gh;
	assert_int_equal(github_client_new(&o, &gh, err, sizeof(err)), 0);
	struct client_result r;
	assert_int_equal(github_create_comment(gh, 0, "o/r", 1, "x", NOW, &r), 0);
	assert_int_equal(r.outcome, CLIENT_RETRY);
	assert_int_equal(r.retry_at_ms, 0);
	assert_false(r.uncertain);
	github_client_free(gh);

	struct fake_raw *raw = fake_raw_start(FAKE_RAW_CLOSE);
	o.api_url = fake_raw_url(raw);
	assert_int_equal(github_client_new(&o, &gh, err, sizeof(err)), 0);
	assert_int_equal(github_create_comment(gh, 0, "o/r", 1, "x", NOW, &r), 0);
	assert_true(fake_raw_stop(raw));
	assert_int_equal(r.outcome, CLIENT_RETRY);
	assert_true(r.uncertain);
	github_client_free(gh);
}

/* A page of n comments with ids from first; the one with marker_id
 * carries the marker. */
static char *comments_page(int64_t first, int n, int64_t marker_id)
{
	json_t *a = json_array();
	for (int i = 0; i < n; i++) {
		int64_t id = first + i;
		json_array_append_new(a, json_pack("{s:I, s:s}", "id", (json_int_t)id, "body",
						   id == marker_id ? "done <!-- hookq:task-9 -->" :
								     "chatter"));
	}
	char *s = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return s;
}

static void find_comment_follows_pages_to_the_marker(void **state)
{
	struct env *e = *state;
	char *p1 = comments_page(1, 100, 0), *p2 = comments_page(101, 3, 102);
	fake_script(e->fake, 200, p1, "Link: <https://api.github.com/x?page=2>; rel=\"next\"", NULL);
	fake_script(e->fake, 200, p2, "Link: <https://api.github.com/x?page=1>; rel=\"prev\"", NULL);
	struct client_result r;
	assert_int_equal(github_find_comment(e->gh, 0, "o/r", 5, "<!-- hookq:task-9 -->", NOW, &r),
			 0);
	assert_int_equal(r.outcome, CLIENT_OK);
	assert_int_equal(r.id, 102);
	assert_int_equal(fake_count(e->fake), 2);
	const struct fake_request *q1 = fake_request(e->fake, 0), *q2 = fake_request(e->fake, 1);
	assert_string_equal(q1->method, "GET");
	assert_string_equal(q1->uri, "/repos/o/r/issues/5/comments?per_page=100&page=1");
	assert_string_equal(q2->uri, "/repos/o/r/issues/5/comments?per_page=100&page=2");
	assert_github_headers(q2, "tok-123");
	free(p1);
	free(p2);
}

static void find_comment_stops_at_the_last_page(void **state)
{
	struct env *e = *state;
	/* A full page without a Link header: there may be more. */
	char *full = comments_page(1, 100, 0), *last = comments_page(101, 1, 0);
	fake_script(e->fake, 200, full, NULL);
	fake_script(e->fake, 200, last, NULL);
	struct client_result r;
	assert_int_equal(github_find_comment(e->gh, 0, "o/r", 5, "<!-- hookq:task-9 -->", NOW, &r),
			 0);
	assert_int_equal(r.outcome, CLIENT_OK);
	assert_int_equal(r.id, 0);
	assert_int_equal(fake_count(e->fake), 2);
	/* A Link without rel="next" ends it, full or not. */
	fake_script(e->fake, 200, full, "Link: <https://api.github.com/x?page=1>; rel=\"first\"",
		    NULL);
	assert_int_equal(github_find_comment(e->gh, 0, "o/r", 5, "<!-- hookq:task-9 -->", NOW, &r),
			 0);
	assert_int_equal(r.id, 0);
	assert_int_equal(fake_count(e->fake), 3);
	free(full);
	free(last);
}

static void find_comment_fails_on_an_answer_that_is_not_a_list(void **state)
{
	struct env *e = *state;
	fake_script(e->fake, 200, "{\"message\":\"odd\"}", NULL);
	struct client_result r;
	assert_int_equal(github_find_comment(e->gh, 0, "o/r", 5, "m", NOW, &r), 0);
	assert_int_equal(r.outcome, CLIENT_FAILED);
}

/* GitHub App */

static EVP_PKEY *app_key;
static char *app_pem;

static int app_group_setup(void **state)
{
	(void)state;
	app_key = EVP_RSA_gen(2048);
	if (!app_key)
		return -1;
	BIO *b = BIO_new(BIO_s_mem());
	/* "BEGIN RSA PRIVATE KEY": the PKCS#1 form GitHub hands out. */
	if (!b || !PEM_write_bio_PrivateKey_traditional(b, app_key, NULL, NULL, 0, NULL, NULL))
		return -1;
	char *data;
	long len = BIO_get_mem_data(b, &data);
	/* BIO data has no terminating NUL: copy exactly len bytes. */
	app_pem = len > 0 ? malloc((size_t)len + 1) : NULL;
	if (app_pem) {
		memcpy(app_pem, data, (size_t)len);
		app_pem[len] = '\0';
	}
	BIO_free(b);
	return app_pem ? 0 : -1;
}

static int app_group_teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(app_key);
	free(app_pem);
	return 0;
}

struct app_server {
	int64_t expect_now_s; /* the iat/exp the JWT must carry */
	char expires_at[32];  /* of the next token handed out */
	int tokens;	      /* handed out */
	int bad_jwts;
	char token_uris[8][128];
	char body[256];
};

static size_t b64url_decode(const char *in, size_t len, uint8_t *out, size_t size)
{
	char std[2048];
	if (len + 4 > sizeof(std))
		return 0;
	size_t k = 0;
	for (size_t i = 0; i < len; i++)
		std[k++] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
	while (k % 4)
		std[k++] = '=';
	size_t n = 0;
	return crypto_base64_decode(std, k, out, size, &n) == 0 ? n : 0;
}

static bool jwt_valid(const char *jwt, int64_t now_s)
{
	const char *d1 = strchr(jwt, '.');
	const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	if (!d2)
		return false;
	uint8_t head[256], claims[512], sig[512];
	size_t hl = b64url_decode(jwt, (size_t)(d1 - jwt), head, sizeof(head) - 1);
	size_t cl = b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), claims, sizeof(claims) - 1);
	size_t sl = b64url_decode(d2 + 1, strlen(d2 + 1), sig, sizeof(sig));
	if (!hl || !cl || !sl || strchr(jwt, '='))
		return false;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	bool ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, app_key) == 1 &&
		  EVP_DigestVerify(md, sig, sl, (const uint8_t *)jwt, (size_t)(d2 - jwt)) == 1;
	EVP_MD_CTX_free(md);
	json_t *h = json_loadb((const char *)head, hl, 0, NULL);
	json_t *c = json_loadb((const char *)claims, cl, 0, NULL);
	ok = ok && json_is_string(json_object_get(h, "alg")) &&
	     strcmp(json_string_value(json_object_get(h, "alg")), "RS256") == 0 &&
	     strcmp(json_string_value(json_object_get(h, "typ")), "JWT") == 0;
	const char *iss = json_string_value(json_object_get(c, "iss"));
	ok = ok && iss && strcmp(iss, "12345") == 0 &&
	     json_integer_value(json_object_get(c, "iat")) == now_s - 60 &&
	     json_integer_value(json_object_get(c, "exp")) == now_s + 540;
	json_decref(h);
	json_decref(c);
	return ok;
}

static bool app_handler(void *ctx, const struct fake_request *req, struct fake_reply *out)
{
	struct app_server *s = ctx;
	if (strncmp(req->uri, "/app/installations/", 19) != 0)
		return false;
	const char *auth = fake_header(req, "authorization");
	if (s->tokens < 8)
		snprintf(s->token_uris[s->tokens], sizeof(s->token_uris[0]), "%s %s", req->method,
			 req->uri);
	if (strncmp(auth, "Bearer ", 7) != 0 || !jwt_valid(auth + 7, s->expect_now_s) ||
	    strcmp(fake_header(req, "accept"), "application/vnd.github+json") != 0) {
		s->bad_jwts++;
		out->status = 401;
		out->body = "{\"message\":\"A JSON web token could not be decoded\"}";
		return true;
	}
	s->tokens++;
	snprintf(s->body, sizeof(s->body), "{\"token\":\"ghs_secret%d\",\"expires_at\":\"%s\"}",
		 s->tokens, s->expires_at);
	out->status = 201;
	out->body = s->body;
	return true;
}

static void iso_time(int64_t epoch_s, char *out, size_t size)
{
	time_t t = (time_t)epoch_s;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void an_app_signs_a_jwt_and_caches_the_installation_token(void **state)
{
	(void)state;
	struct fake_server *f = fake_start();
	struct app_server s = { .expect_now_s = NOW / 1000 };
	iso_time(NOW / 1000 + 3600, s.expires_at, sizeof(s.expires_at));
	fake_handle(f, app_handler, &s);
	struct github_options o = { .api_url = fake_url(f),
				    .app_id = "12345",
				    .app_private_key_pem = app_pem,
				    .installation_id = 42 };
	char err[256];
	struct github_client *gh;
	assert_int_equal(github_client_new(&o, &gh, err, sizeof(err)), 0);
	struct client_result r;

	fake_script(f, 201, "{\"id\":1}", NULL);
	assert_int_equal(github_add_reaction(gh, 0, "o/r", "issue", 3, "eyes", NOW, &r), 0);
	assert_int_equal(r.outcome, CLIENT_OK);
	assert_int_equal(s.bad_jwts, 0);
	assert_int_equal(s.tokens, 1);
	assert_string_equal(s.token_uris[0], "POST /app/installations/42/access_tokens");
	assert_github_headers(fake_request(f, 1), "ghs_secret1");

	/* Ten minutes on: the same token, no second token request. */
	fake_script(f, 201, "{\"id\":2}", NULL);
	assert_int_equal(github_create_comment(gh, 0, "o/r", 3, "hi", NOW + 600000, &r), 0);
	assert_int_equal(r.outcome, CLIENT_OK);
	assert_int_equal(s.tokens, 1);
	assert_int_equal(fake_count(f), 3);
	assert_github_headers(fake_request(f, 2), "ghs_secret1");

	/* Within five minutes of expiry: a fresh token, with a fresh JWT. */
	int64_t later = NOW + (3600 - 299) * 1000LL;
	s.expect_now_s = later / 1000;
	fake_script(f, 201, "{\"id\":3}", NULL);
	assert_int_equal(github_create_comment(gh, 0, "o/r", 3, "hi", later, &r), 0);
	assert_int_equal(r.outcome, CLIENT_OK);
	assert_int_equal(s.bad_jwts, 0);
	assert_int_equal(s.tokens, 2);
	assert_github_headers(fake_request(f, 4), "ghs_secret2");

	/* Another installation named by the call gets its own token. */
	fake_script(f, 201, "{\"id\":4}", NULL);
	assert_int_equal(github_create_comment(gh, 77, "o/r", 3, "hi", later, &r), 0);
	assert_int_equal(s.tokens, 3);
	assert_string_equal(s.token_uris[2], "POST /app/installations/77/access_tokens");
	assert_github_headers(fake_request(f, 6), "ghs_secret3");

	github_client_free(gh);
	fake_stop(f);
}

static void an_app_drops_a_refused_token_and_retries(void **state)
{
	(void)state;
	struct fake_server *f = fake_start();
	struct app_server s = { .expect_now_s = NOW / 1000 };
	iso_time(NOW / 1000 + 3600, s.expires_at, sizeof(s.expires_at));
	fake_handle(f, app_handler, &s);
	struct github_options o = { .api_url = fake_url(f),
				    .app_id = "12345",
				    .app_private_key_pem = app_pem,
				    .installation_id = 42 };
	char err[256];
	struct github_client *gh;
	assert_int_equal(github_client_new(&o, &gh, err, sizeof(err)), 0);
	struct client_result r;
	fake_script(f, 401, "{\"message\":\"Bad credentials ghs_secret1\"}", NULL);
	assert_int_equal(github_create_comment(gh, 0, "o/r", 3, "hi", NOW, &r), 0);
	assert_int_equal(r.outcome, CLIENT_RETRY);
	assert_int_equal(r.retry_at_ms, 0);
	assert_int_equal(r.status, 401);
	/* GitHub echoing the token does not make it ours to show. */
	assert_null(strstr(r.error, "ghs_secret"));

	s.expect_now_s = NOW / 1000 + 1;
	fake_script(f, 201, "{\"id\":5}", NULL);
	assert_int_equal(github_create_comment(gh, 0, "o/r", 3, "hi", NOW + 1000, &r), 0);
	assert_int_equal(r.outcome, CLIENT_OK);
	assert_int_equal(s.tokens, 2);
	assert_github_headers(fake_request(f, 3), "ghs_secret2");
	github_client_free(gh);
	fake_stop(f);
}

static void an_app_whose_jwt_github_refuses_fails(void **state)
{
	(void)state;
	struct fake_server *f = fake_start();
	/* The JWT's clock is not what the server expects: GitHub refuses it. */
	struct app_server s = { .expect_now_s = NOW / 1000 + 3600 };
	iso_time(NOW / 1000 + 3600, s.expires_at, sizeof(s.expires_at));
	fake_handle(f, app_handler, &s);
	struct github_options o = { .api_url = fake_url(f),
				    .app_id = "12345",
				    .app_private_key_pem = app_pem };
	char err[256];
	struct github_client *gh;
	assert_int_equal(github_client_new(&o, &gh, err, sizeof(err)), 0);
	struct client_result r;
	/* No installation id from the options nor the call. */
	assert_int_equal(github_create_comment(gh, 0, "o/r", 3, "hi", NOW, &r), 0);
	assert_int_equal(r.outcome, CLIENT_FAILED);
	assert_int_equal(fake_count(f), 0);

	assert_int_equal(github_create_comment(gh, 42, "o/r", 3, "hi", NOW, &r), 0);
	assert_int_equal(r.outcome, CLIENT_FAILED);
	assert_int_equal(r.status, 401);
	assert_false(r.uncertain);
	assert_non_null(strstr(r.error, "installation token"));
	assert_int_equal(fake_count(f), 1); /* the comment was never tried */
	github_client_free(gh);
	fake_stop(f);
}

struct sender {
	struct github_client *gh;
	int ok;
};

static void *send_comments(void *arg)
{
	struct sender *s = arg;
	for (int i = 0; i < 5; i++) {
		struct client_result r;
		if (github_create_comment(s->gh, 0, "o/r", 3, "hi", NOW, &r) == 0 &&
		    r.outcome == CLIENT_OK)
			s->ok++;
	}
	return NULL;
}

static void sender_threads_share_one_app_client(void **state)
{
	(void)state;
	struct fake_server *f = fake_start();
	struct app_server s = { .expect_now_s = NOW / 1000 };
	iso_time(NOW / 1000 + 3600, s.expires_at, sizeof(s.expires_at));
	fake_handle(f, app_handler, &s);
	for (int i = 0; i < 20; i++)
		fake_script(f, 201, "{\"id\":1}", NULL);
	struct github_options o = { .api_url = fake_url(f),
				    .app_id = "12345",
				    .app_private_key_pem = app_pem,
				    .installation_id = 42 };
	char err[256];
	struct github_client *gh;
	assert_int_equal(github_client_new(&o, &gh, err, sizeof(err)), 0);
	pthread_t th[4];
	struct sender senders[4];
	for (int i = 0; i < 4; i++) {
		senders[i] = (struct sender){ gh, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, send_comments, &senders[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(senders[i].ok, 5);
	}
	/* Threads that found no token at first may each have fetched one. */
	assert_in_range(s.tokens, 1, 4);
	assert_int_equal(s.bad_jwts, 0);
	github_client_free(gh);
	fake_stop(f);
}

static void client_options_are_checked(void **state)
{
	(void)state;
	char err[256];
	struct github_client *gh = NULL;
	struct github_options none = { .api_url = "https://api.github.com" };
	assert_int_equal(github_client_new(&none, &gh, err, sizeof(err)), HQ_E_CONFIG);
	assert_non_null(strstr(err, "GITHUB_TOKEN"));

	struct github_options bad_url = { .api_url = "ftp://x", .token = "t" };
	assert_int_equal(github_client_new(&bad_url, &gh, err, sizeof(err)), HQ_E_CONFIG);

	struct github_options not_pem = { .app_id = "1", .app_private_key_pem = "hello" };
	assert_int_equal(github_client_new(&not_pem, &gh, err, sizeof(err)), HQ_E_CONFIG);
	assert_string_equal(err, "GITHUB_APP_PRIVATE_KEY: not an RSA private key in PEM");

	/* An EC key is a key, but not one GitHub signs with. */
	EVP_PKEY *ec = EVP_EC_gen("P-256");
	BIO *b = BIO_new(BIO_s_mem());
	assert_true(PEM_write_bio_PrivateKey(b, ec, NULL, NULL, 0, NULL, NULL));
	char *data;
	long len = BIO_get_mem_data(b, &data);
	char *ec_pem = calloc(1, (size_t)len + 1);
	assert_non_null(ec_pem);
	memcpy(ec_pem, data, (size_t)len);
	struct github_options ec_app = { .app_id = "1", .app_private_key_pem = ec_pem };
	assert_int_equal(github_client_new(&ec_app, &gh, err, sizeof(err)), HQ_E_CONFIG);
	assert_string_equal(err, "GITHUB_APP_PRIVATE_KEY: not an RSA private key in PEM");
	free(ec_pem);
	BIO_free(b);
	EVP_PKEY_free(ec);

	/* PKCS#8 ("BEGIN PRIVATE KEY") and "\n" written out both work. */
	b = BIO_new(BIO_s_mem());
	assert_true(PEM_write_bio_PrivateKey(b, app_key, NULL, NULL, 0, NULL, NULL));
	len = BIO_get_mem_data(b, &data);
	char *escaped = calloc(1, (size_t)len * 2 + 1);
	for (long i = 0, k = 0; i < len; i++) {
		if (data[i] == '\n') {
			escaped[k++] = '\\';
			escaped[k++] = 'n';
		} else {
			escaped[k++] = data[i];
		}
	}
	struct github_options pk8 = { .app_id = "Iv1.abc", .app_private_key_pem = escaped };
	assert_int_equal(github_client_new(&pk8, &gh, err, sizeof(err)), 0);
	github_client_free(gh);
	free(escaped);
	BIO_free(b);
	github_client_free(NULL);
}

int main(void)
{
	setenv("NO_PROXY", "127.0.0.1", 1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(reactions_go_to_each_targets_endpoint, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_comment_is_posted_and_its_id_returned, setup,
						teardown),
		cmocka_unit_test_setup_teardown(rate_limits_retry_when_github_says, setup, teardown),
		cmocka_unit_test_setup_teardown(a_plain_403_fails_with_githubs_message, setup,
						teardown),
		cmocka_unit_test_setup_teardown(server_errors_retry_at_the_callers_backoff, setup,
						teardown),
		cmocka_unit_test_setup_teardown(client_errors_fail_with_githubs_message, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_message_echoing_the_token_is_redacted, setup,
						teardown),
		cmocka_unit_test_setup_teardown(arguments_that_cannot_work_fail_without_a_request,
						setup, teardown),
		cmocka_unit_test(transport_failures_retry_and_say_whether_the_write_may_have_landed),
		cmocka_unit_test_setup_teardown(find_comment_follows_pages_to_the_marker, setup,
						teardown),
		cmocka_unit_test_setup_teardown(find_comment_stops_at_the_last_page, setup, teardown),
		cmocka_unit_test_setup_teardown(find_comment_fails_on_an_answer_that_is_not_a_list,
						setup, teardown),
		cmocka_unit_test(an_app_signs_a_jwt_and_caches_the_installation_token),
		cmocka_unit_test(an_app_drops_a_refused_token_and_retries),
		cmocka_unit_test(an_app_whose_jwt_github_refuses_fails),
		cmocka_unit_test(sender_threads_share_one_app_client),
		cmocka_unit_test(client_options_are_checked),
	};
	return cmocka_run_group_tests(tests, app_group_setup, app_group_teardown);
}
