/* clients/aws: where credentials are found (environment, shared file,
 * container endpoint), their refresh before expiry, and errors that say
 * what is missing without ever holding a secret. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "clients/aws.h"
#include "fake.h"
#include "util/error.h"

#define NOW 1700000000000LL /* 2023-11-14T22:13:20Z */
#define MIN (60 * 1000LL)

/* A made-up environment. */
struct env {
	const char *names[16];
	const char *values[16];
	size_t n;
};

static const char *env_get(void *ctx, const char *name)
{
	struct env *e = ctx;
	for (size_t i = 0; i < e->n; i++)
		if (strcmp(e->names[i], name) == 0)
			return e->values[i];
	return NULL;
}

static void env_set(struct env *e, const char *name, const char *value)
{
	for (size_t i = 0; i < e->n; i++)
		if (strcmp(e->names[i], name) == 0) {
			e->values[i] = value;
			return;
		}
	e->names[e->n] = name;
	e->values[e->n++] = value;
}

static struct aws_provider *provider(struct env *e)
{
	struct aws_provider_options o = { .region = "us-east-1", .getenv = env_get, .ctx = e,
					  .timeout_ms = 2000 };
	struct aws_provider *p = NULL;
	char err[256];
	assert_int_equal(aws_provider_new(&o, &p, err, sizeof(err)), 0);
	return p;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static const char credentials_file[] =
	"# two profiles\n"
	"[default]\n"
	"aws_access_key_id = AKIADEFAULT\n"
	"aws_secret_access_key = default/secret+key\n"
	"\n"
	"[work]\n"
	"  aws_access_key_id=AKIAWORK  \r\n"
	"; a comment\n"
	"aws_secret_access_key\t=\twork-secret\n"
	"aws_session_token = work-session-token\n"
	"region = eu-west-1\n"
	"[broken]\n"
	"aws_access_key_id = AKIABROKEN\n";

struct tmp {
	char dir[64];
	char file[128];
};

static void tmp_make(struct tmp *t)
{
	snprintf(t->dir, sizeof(t->dir), "/tmp/hookq-aws-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->file, sizeof(t->file), "%s/credentials", t->dir);
	write_file(t->file, credentials_file);
}

static void tmp_remove(struct tmp *t)
{
	unlink(t->file);
	rmdir(t->dir);
}

static void environment_credentials_come_first(void **state)
{
	(void)state;
	struct tmp t;
	tmp_make(&t);
	struct env e = { 0 };
	env_set(&e, "AWS_ACCESS_KEY_ID", "AKIAENV");
	env_set(&e, "AWS_SECRET_ACCESS_KEY", "env-secret");
	env_set(&e, "AWS_SESSION_TOKEN", "env-token");
	env_set(&e, "AWS_SHARED_CREDENTIALS_FILE", t.file);
	struct aws_provider *p = provider(&e);
	struct aws_credentials c;
	char err[256] = "";
	assert_int_equal(aws_provider_get(p, NOW, &c, err, sizeof(err)), 0);
	assert_string_equal(c.access_key, "AKIAENV");
	assert_string_equal(c.secret_key, "env-secret");
	assert_string_equal(c.session_token, "env-token");
	assert_int_equal(c.expires_at_ms, 0);
	assert_string_equal(c.source, "the environment");
	/* Static credentials stay, whatever the time. */
	assert_int_equal(aws_provider_get(p, NOW + 1000 * MIN, &c, err, sizeof(err)), 0);
	assert_string_equal(c.access_key, "AKIAENV");
	assert_false(aws_provider_expire(p));
	aws_credentials_wipe(&c);
	assert_int_equal(c.secret_key[0], 0);
	aws_provider_free(p);
	tmp_remove(&t);
}

static void half_a_key_pair_is_named_without_its_value(void **state)
{
	(void)state;
	struct env e = { 0 };
	env_set(&e, "AWS_SECRET_ACCESS_KEY", "lonely-secret");
	struct aws_provider *p = provider(&e);
	struct aws_credentials c;
	char err[256] = "";
	assert_int_equal(aws_provider_get(p, NOW, &c, err, sizeof(err)), HQ_E_CONFIG);
	assert_string_equal(err,
			    "AWS credentials: AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
	aws_provider_free(p);

	/* A session token too long to use is refused by name. */
	char token[3000];
	memset(token, 'T', sizeof(token) - 1);
	token[sizeof(token) - 1] = '\0';
	env_set(&e, "AWS_ACCESS_KEY_ID", "AKIA");
	env_set(&e, "AWS_SESSION_TOKEN", token);
	p = provider(&e);
	assert_int_equal(aws_provider_get(p, NOW, &c, err, sizeof(err)), HQ_E_CONFIG);
	assert_string_equal(err, "AWS_SESSION_TOKEN: longer than 2047 bytes");
	aws_provider_free(p);
}

static void the_shared_file_gives_the_profile_asked_for(void **state)
{
	(void)state;
	struct tmp t;
	tmp_make(&t);
	struct env e = { 0 };
	env_set(&e, "AWS_SHARED_CREDENTIALS_FILE", t.file);
	struct aws_provider *p = provider(&e);
	struct aws_credentials c;
	char err[256] = "";
	assert_int_equal(aws_provider_get(p, NOW, &c, err, sizeof(err)), 0);
	assert_string_equal(c.access_key, "AKIADEFAULT");
	assert_string_equal(c.secret_key, "default/secret+key");
	assert_string_equal(c.session_token, "");
	assert_string_equal(c.source, "the shared credentials file");
	aws_provider_free(p);

	env_set(&e, "AWS_PROFILE", "work");
	p = provider(&e);
	assert_int_equal(aws_provider_get(p, NOW, &c, err, sizeof(err)), 0);
	assert_string_equal(c.access_key, "AKIAWORK");
	assert_string_equal(c.secret_key, "work-secret");
	assert_string_equal(c.session_token, "work-session-token");
	aws_provider_free(p);

	/* Without AWS_SHARED_CREDENTIALS_FILE: ~/.aws/credentials. */
	char aws_dir[128], path[160];
	snprintf(aws_dir, sizeof(aws_dir), "%s/.aws", t.dir);
	snprintf(path, sizeof(path), "%s/credentials", aws_dir);
	assert_int_equal(mkdir(aws_dir, 0700), 0);
	write_file(path, "[work]\naws_access_key_id=AKIAHOME\naws_secret_access_key=home-secret\n");
	struct env h = { 0 };
	env_set(&h, "HOME", t.dir);
	env_set(&h, "AWS_PROFILE", "work");
	p = provider(&h);
	assert_int_equal(aws_provider_get(p, NOW, &c, err, sizeof(err)), 0);
	assert_string_equal(c.access_key, "AKIAHOME");
	aws_provider_free(p);
	unlink(path);
	rmdir(aws_dir);
	tmp_remove(&t);
}

static void a_profile_missing_a_key_or_absent_is_reported(void **state)
{
	(void)state;
	struct tmp t;
	tmp_make(&t);
	struct env e = { 0 };
	env_set(&e, "AWS_SHARED_CREDENTIALS_FILE", t.file);
	env_set(&e, "AWS_PROFILE", "broken");
	struct aws_provider *p = provider(&e);
	struct aws_credentials c;
	char err[256] = "", want[256];
	assert_int_equal(aws_provider_get(p, NOW, &c, err, sizeof(err)), HQ_E_CONFIG);
	snprintf(want, sizeof(want),
		 "AWS shared credentials file '%s': profile 'broken' has no aws_secret_access_key",
		 t.file);
	assert_string_equal(err, want);
	aws_provider_free(p);

	env_set(&e, "AWS_PROFILE", "nope");
	p = provider(&e);
	assert_int_equal(aws_provider_get(p, NOW, &c, err, sizeof(err)), HQ_E_CONFIG);
	assert_non_null(strstr(err, "no AWS credentials: "));
	snprintf(want, sizeof(want), "(no profile 'nope' in '%s')", t.file);
	assert_non_null(strstr(err, want));
	assert_null(strstr(err, "secret"));
	aws_provider_free(p);
	tmp_remove(&t);
}

static void nothing_set_says_what_to_set(void **state)
{
	(void)state;
	struct env e = { 0 };
	env_set(&e, "HOME", "/nonexistent-hookq-home");
	struct aws_provider *p = provider(&e);
	struct aws_credentials c;
	char err[256] = "";
	assert_int_equal(aws_provider_get(p, NOW, &c, err, sizeof(err)), HQ_E_CONFIG);
	assert_string_equal(err, "no AWS credentials: set AWS_ACCESS_KEY_ID and "
				 "AWS_SECRET_ACCESS_KEY, AWS_PROFILE with ~/.aws/credentials, or "
				 "AWS_CONTAINER_CREDENTIALS_FULL_URI");
	aws_provider_free(p);
}

/* The container endpoint: answers with numbered keys that expire an hour
 * after its clock. */
struct endpoint {
	int64_t clock_ms;
	int served;
	const char *secret_field; /* NULL: "SecretAccessKey" */
	char body[1024];
};

static void iso_time(int64_t ms, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static bool endpoint_answer(void *ctx, const struct fake_request *req, struct fake_reply *out)
{
	(void)req;
	struct endpoint *ep = ctx;
	char exp[32];
	iso_time(ep->clock_ms + 60 * MIN, exp);
	ep->served++;
	snprintf(ep->body, sizeof(ep->body),
		 "{\"AccessKeyId\":\"ASIA%d\",\"%s\":\"container-secret-%d\","
		 "\"Token\":\"container-token-%d\",\"Expiration\":\"%s\",\"RoleArn\":\"x\"}",
		 ep->served, ep->secret_field ? ep->secret_field : "SecretAccessKey", ep->served,
		 ep->served, exp);
	out->status = 200;
	out->body = ep->body;
	return true;
}

static void container_credentials_are_fetched_and_refreshed_before_expiry(void **state)
{
	(void)state;
	struct fake_server *f = fake_start();
	assert_non_null(f);
	struct endpoint ep = { .clock_ms = NOW };
	fake_handle(f, endpoint_answer, &ep);
	char uri[128];
	snprintf(uri, sizeof(uri), "%s/v2/credentials/abc", fake_url(f));
	struct env e = { 0 };
	env_set(&e, "HOME", "/nonexistent-hookq-home");
	env_set(&e, "AWS_CONTAINER_CREDENTIALS_FULL_URI", uri);
	env_set(&e, "AWS_CONTAINER_AUTHORIZATION_TOKEN", "Basic auth-token-1");
	struct aws_provider *p = provider(&e);
	struct aws_credentials c;
	char err[256] = "";
	assert_int_equal(aws_provider_get(p, NOW, &c, err, sizeof(err)), 0);
	assert_string_equal(c.access_key, "ASIA1");
	assert_string_equal(c.secret_key, "container-secret-1");
	assert_string_equal(c.session_token, "container-token-1");
	assert_int_equal(c.expires_at_ms, NOW + 60 * MIN);
	assert_string_equal(c.source, "the container endpoint");
	const struct fake_request *req = fake_request(f, 0);
	assert_string_equal(req->method, "GET");
	assert_string_equal(req->uri, "/v2/credentials/abc");
	assert_string_equal(fake_header(req, "authorization"), "Basic auth-token-1");

	/* Cached while more than 5 minutes are left. */
	assert_int_equal(aws_provider_get(p, NOW + 54 * MIN, &c, err, sizeof(err)), 0);
	assert_string_equal(c.access_key, "ASIA1");
	assert_int_equal(fake_count(f), 1);
	/* Then fetched again. */
	ep.clock_ms = NOW + 56 * MIN;
	assert_int_equal(aws_provider_get(p, NOW + 56 * MIN, &c, err, sizeof(err)), 0);
	assert_string_equal(c.access_key, "ASIA2");
	assert_int_equal(c.expires_at_ms, NOW + 116 * MIN);
	assert_int_equal(fake_count(f), 2);

	/* After a service said ExpiredToken: fetched at once. */
	assert_true(aws_provider_expire(p));
	assert_int_equal(aws_provider_get(p, NOW + 57 * MIN, &c, err, sizeof(err)), 0);
	assert_string_equal(c.access_key, "ASIA3");
	assert_int_equal(fake_count(f), 3);
	aws_credentials_wipe(&c);
	aws_provider_free(p);
	fake_stop(f);
}

static void the_token_file_is_read_at_each_fetch(void **state)
{
	(void)state;
	struct fake_server *f = fake_start();
	struct endpoint ep = { .clock_ms = NOW };
	fake_handle(f, endpoint_answer, &ep);
	struct tmp t;
	tmp_make(&t);
	char token_path[160];
	snprintf(token_path, sizeof(token_path), "%s/token", t.dir);
	write_file(token_path, "eks-token-1\n");
	struct env e = { 0 };
	env_set(&e, "HOME", "/nonexistent-hookq-home");
	env_set(&e, "AWS_CONTAINER_CREDENTIALS_FULL_URI", fake_url(f));
	/* The file wins over the variable. */
	env_set(&e, "AWS_CONTAINER_AUTHORIZATION_TOKEN", "ignored");
	env_set(&e, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token_path);
	struct aws_provider *p = provider(&e);
	struct aws_credentials c;
	char err[256] = "";
	assert_int_equal(aws_provider_get(p, NOW, &c, err, sizeof(err)), 0);
	assert_string_equal(fake_header(fake_request(f, 0), "authorization"), "eks-token-1");
	write_file(token_path, "eks-token-2");
	ep.clock_ms = NOW + 60 * MIN;
	assert_int_equal(aws_provider_get(p, NOW + 58 * MIN, &c, err, sizeof(err)), 0);
	assert_string_equal(fake_header(fake_request(f, 1), "authorization"), "eks-token-2");
	aws_provider_free(p);

	/* A token file that cannot be read is named. */
	unlink(token_path);
	p = provider(&e);
	assert_int_equal(aws_provider_get(p, NOW, &c, err, sizeof(err)), HQ_E_CONFIG);
	assert_non_null(strstr(err, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"));
	aws_provider_free(p);
	tmp_remove(&t);
	fake_stop(f);
}

static void a_failing_endpoint_is_retry_and_old_credentials_last_until_expiry(void **state)
{
	(void)state;
	struct fake_server *f = fake_start();
	struct env e = { 0 };
	env_set(&e, "HOME", "/nonexistent-hookq-home");
	env_set(&e, "AWS_CONTAINER_CREDENTIALS_FULL_URI", fake_url(f));
	env_set(&e, "AWS_CONTAINER_AUTHORIZATION_TOKEN", "super-secret-token");
	struct aws_provider *p = provider(&e);
	struct aws_credentials c;
	char err[256] = "", want[256];

	fake_script(f, 500, "{\"message\":\"agent down\"}", NULL);
	assert_int_equal(aws_provider_get(p, NOW, &c, err, sizeof(err)), HQ_E_RETRY);
	snprintf(want, sizeof(want), "container credentials endpoint '%s' answered 500",
		 fake_url(f));
	assert_string_equal(err, want);

	/* An answer without the secret: retry, and nothing of it echoed. */
	struct endpoint ep = { .clock_ms = NOW, .secret_field = "Secret" };
	fake_handle(f, endpoint_answer, &ep);
	assert_int_equal(aws_provider_get(p, NOW, &c, err, sizeof(err)), HQ_E_RETRY);
	assert_non_null(strstr(err, "no AccessKeyId and SecretAccessKey"));
	assert_null(strstr(err, "container-secret"));
	assert_null(strstr(err, "super-secret-token"));

	ep.secret_field = NULL;
	assert_int_equal(aws_provider_get(p, NOW, &c, err, sizeof(err)), 0);
	size_t served = fake_count(f);
	assert_string_equal(c.access_key, "ASIA2");

	/* At refresh time the endpoint fails: the old ones still serve, and
	 * the endpoint is asked again only after 10 s. */
	fake_handle(f, NULL, NULL);
	fake_script(f, 503, "", NULL);
	assert_int_equal(aws_provider_get(p, NOW + 56 * MIN, &c, err, sizeof(err)), 0);
	assert_string_equal(c.access_key, "ASIA2");
	assert_int_equal(fake_count(f), served + 1);
	assert_int_equal(aws_provider_get(p, NOW + 56 * MIN + 5000, &c, err, sizeof(err)), 0);
	assert_int_equal(fake_count(f), served + 1);
	/* Once they have expired, the failure shows. */
	fake_script(f, 503, "", NULL);
	assert_int_equal(aws_provider_get(p, NOW + 61 * MIN, &c, err, sizeof(err)), HQ_E_RETRY);
	assert_null(strstr(err, "super-secret-token"));
	aws_provider_free(p);

	/* Nothing listening at all. */
	char closed[64];
	snprintf(closed, sizeof(closed), "http://127.0.0.1:%u/creds", fake_closed_port());
	env_set(&e, "AWS_CONTAINER_CREDENTIALS_FULL_URI", closed);
	p = provider(&e);
	assert_int_equal(aws_provider_get(p, NOW, &c, err, sizeof(err)), HQ_E_RETRY);
	assert_non_null(strstr(err, closed));
	aws_provider_free(p);
	fake_stop(f);
}

static void a_full_uri_must_be_https_or_local(void **state)
{
	(void)state;
	static const char *const refused[] = { "http://10.0.0.1/creds", "http://example.com/x",
					       "ftp://127.0.0.1/", "not a url" };
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		struct env e = { 0 };
		env_set(&e, "HOME", "/nonexistent-hookq-home");
		env_set(&e, "AWS_CONTAINER_CREDENTIALS_FULL_URI", refused[i]);
		struct aws_provider *p = provider(&e);
		struct aws_credentials c;
		char err[256] = "";
		assert_int_equal(aws_provider_get(p, NOW, &c, err, sizeof(err)), HQ_E_CONFIG);
		assert_non_null(strstr(err, "AWS_CONTAINER_CREDENTIALS_FULL_URI"));
		aws_provider_free(p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(environment_credentials_come_first),
		cmocka_unit_test(half_a_key_pair_is_named_without_its_value),
		cmocka_unit_test(the_shared_file_gives_the_profile_asked_for),
		cmocka_unit_test(a_profile_missing_a_key_or_absent_is_reported),
		cmocka_unit_test(nothing_set_says_what_to_set),
		cmocka_unit_test(container_credentials_are_fetched_and_refreshed_before_expiry),
		cmocka_unit_test(the_token_file_is_read_at_each_fetch),
		cmocka_unit_test(a_failing_endpoint_is_retry_and_old_credentials_last_until_expiry),
		cmocka_unit_test(a_full_uri_must_be_https_or_local),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
