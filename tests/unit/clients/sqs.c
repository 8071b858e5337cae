/* clients/sqs: the JSON protocol requests and their SigV4 signature,
 * checked against AWS's published test vectors and by recomputing it, the
 * reading of received messages, batch deletes and sends, and the
 * classification of SQS's errors, against a local server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "clients/sqs.h"
#include "fake.h"
#include "util/error.h"

#define QUEUE "https://sqs.us-east-1.amazonaws.com/111122223333/hookq"
#define AK "AKIDEXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define ST "session/token+EXAMPLE=="

/* The example session token of AWS's SigV4 test suite (post-sts-token). */
#define SUITE_TOKEN                                                                          \
	"AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicR" \
	"XmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsbur" \
	"EDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkU" \
	"L64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct env {
	const char *session_token; /* NULL: none */
	bool no_credentials;
	struct fake_server *fake;
	struct aws_provider *aws;
	struct sqs_client *sqs;
};

static const char *env_get(void *ctx, const char *name)
{
	struct env *e = ctx;
	if (e->no_credentials)
		return strcmp(name, "HOME") == 0 ? "/nonexistent-hookq-home" : NULL;
	if (strcmp(name, "AWS_ACCESS_KEY_ID") == 0)
		return AK;
	if (strcmp(name, "AWS_SECRET_ACCESS_KEY") == 0)
		return SK;
	if (strcmp(name, "AWS_SESSION_TOKEN") == 0)
		return e->session_token;
	return NULL;
}

static int start(struct env *e, const char *endpoint, long timeout_ms)
{
	struct aws_provider_options ao = { .region = "us-east-1", .getenv = env_get, .ctx = e };
	char err[256];
	if (aws_provider_new(&ao, &e->aws, err, sizeof(err)) != 0)
		return -1;
	struct sqs_client_options so = { .endpoint = endpoint, .region = "us-east-1",
					 .credentials = e->aws, .timeout_ms = timeout_ms };
	return sqs_client_new(&so, &e->sqs, err, sizeof(err)) == 0 ? 0 : -1;
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	e->session_token = ST;
	e->fake = fake_start();
	if (!e->fake || start(e, fake_url(e->fake), 5000) != 0)
		return -1;
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	sqs_client_free(e->sqs);
	aws_provider_free(e->aws);
	fake_stop(e->fake);
	free(e);
	return 0;
}

/* SigV4 computed here, independently of libcurl, with OpenSSL. */

static void hex(const unsigned char *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", in[i]);
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int n = 0;
	assert_int_equal(EVP_Digest(data, len, md, &n, EVP_sha256(), NULL), 1);
	hex(md, 32, out);
}

static void hmac(const void *key, size_t key_len, const char *data, unsigned char out[32])
{
	unsigned int n = 32;
	assert_non_null(HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)data,
			     strlen(data), out, &n));
}

/* The signature of a canonical request, as AWS's documentation derives it. */
static void sigv4_sign(const char *secret, const char *amz_date, const char *region,
		       const char *service, const char *canonical, char out[65])
{
	char date[9], scope[128], creq_hash[65], sts[512], key[300];
	memcpy(date, amz_date, 8);
	date[8] = '\0';
	snprintf(scope, sizeof(scope), "%s/%s/%s/aws4_request", date, region, service);
	sha256_hex(canonical, strlen(canonical), creq_hash);
	snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n%s\n%s\n%s", amz_date, scope, creq_hash);
	snprintf(key, sizeof(key), "AWS4%s", secret);
	unsigned char k1[32], k2[32];
	hmac(key, strlen(key), date, k1);
	hmac(k1, 32, region, k2);
	hmac(k2, 32, service, k1);
	hmac(k1, 32, "aws4_request", k2);
	hmac(k2, 32, sts, k1);
	hex(k1, 32, out);
}

static void the_tests_signer_reproduces_aws_published_vectors(void **state)
{
	(void)state;
	/* AWS's SigV4 test suite: get-vanilla, post-vanilla and
	 * post-sts-header-before, with its example key and date. */
	static const struct {
		const char *creq, *signature;
	} vectors[] = {
		{ "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
		  "host;x-amz-date\n" EMPTY_SHA256,
		  "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31" },
		{ "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
		  "host;x-amz-date\n" EMPTY_SHA256,
		  "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b" },
		{ "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n"
		  "x-amz-security-token:" SUITE_TOKEN "\n\nhost;x-amz-date;x-amz-security-token\n" EMPTY_SHA256,
		  "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead" },
	};
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		char sig[65];
		sigv4_sign(SK, "20150830T123600Z", "us-east-1", "service", vectors[i].creq, sig);
		assert_string_equal(sig, vectors[i].signature);
	}
}

/* libcurl's signer, set up as clients/sqs sets it up, on the published
 * vectors. libcurl takes the time from the clock unless the request
 * carries X-Amz-Date; given one, it signs with it (7.88 then sends the
 * header twice, which is why the client never pins it). */
static void libcurl_signs_the_published_vectors(void **state)
{
	struct env *e = *state;
	static const struct {
		const char *method, *token, *authorization;
	} vectors[] = {
		{ "GET", NULL,
		  "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
		  "SignedHeaders=host;x-amz-date, "
		  "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31" },
		{ "POST", SUITE_TOKEN,
		  "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
		  "SignedHeaders=host;x-amz-date;x-amz-security-token, "
		  "Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead" },
	};
	char connect_to[128];
	const char *port = strrchr(fake_url(e->fake), ':') + 1;
	snprintf(connect_to, sizeof(connect_to), "example.amazonaws.com:80:127.0.0.1:%s", port);
	for (size_t i = 0; i < 2; i++) {
		fake_script(e->fake, 200, "", NULL);
		CURL *c = curl_easy_init();
		struct curl_slist *headers = curl_slist_append(NULL, "X-Amz-Date: 20150830T123600Z");
		if (vectors[i].token)
			headers = curl_slist_append(headers, "X-Amz-Security-Token: " SUITE_TOKEN);
		struct curl_slist *to = curl_slist_append(NULL, connect_to);
		curl_easy_setopt(c, CURLOPT_URL, "http://example.amazonaws.com/");
		curl_easy_setopt(c, CURLOPT_CONNECT_TO, to);
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, vectors[i].method);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
		curl_easy_setopt(c, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:service");
		curl_easy_setopt(c, CURLOPT_USERNAME, AK);
		curl_easy_setopt(c, CURLOPT_PASSWORD, SK);
		assert_int_equal(curl_easy_perform(c), CURLE_OK);
		curl_easy_cleanup(c);
		curl_slist_free_all(headers);
		curl_slist_free_all(to);
		const struct fake_request *req = fake_request(e->fake, i);
		assert_string_equal(req->method, vectors[i].method);
		assert_string_equal(fake_header(req, "host"), "example.amazonaws.com");
		assert_string_equal(fake_header(req, "authorization"), vectors[i].authorization);
	}
}

/* Checks a recorded request's Authorization by recomputing it from what
 * arrived: every signed header must have been sent, with the value signed. */
static void assert_signed(const struct fake_request *req, const char *session_token)
{
	const char *amz_date = fake_header(req, "x-amz-date");
	char date[32];
	snprintf(date, sizeof(date), "%s", amz_date);
	assert_int_equal(strlen(date), 16);
	assert_int_equal(date[8], 'T');
	assert_int_equal(date[15], 'Z');

	char auth[4096], prefix[160];
	snprintf(auth, sizeof(auth), "%s", fake_header(req, "authorization"));
	snprintf(prefix, sizeof(prefix),
		 "AWS4-HMAC-SHA256 Credential=" AK "/%.8s/us-east-1/sqs/aws4_request, SignedHeaders=",
		 date);
	assert_memory_equal(auth, prefix, strlen(prefix));
	char *signed_headers = auth + strlen(prefix);
	char *comma = strstr(signed_headers, ", Signature=");
	assert_non_null(comma);
	*comma = '\0';
	const char *signature = comma + strlen(", Signature=");
	assert_int_equal(strlen(signature), 64);

	/* The canonical request, as AWS would build it from what it received. */
	static char creq[16384];
	int k = snprintf(creq, sizeof(creq), "%s\n%s\n\n", req->method, req->uri);
	char names[512];
	snprintf(names, sizeof(names), "%s", signed_headers);
	bool token_signed = false;
	for (char *save = NULL, *name = strtok_r(names, ";", &save); name;
	     name = strtok_r(NULL, ";", &save)) {
		char needle[64];
		snprintf(needle, sizeof(needle), "%s: ", name);
		/* Sent, not only signed (libcurl signs a suppressed header). */
		char line[80];
		snprintf(line, sizeof(line), "\n%s", needle);
		assert_true(strncmp(req->headers, needle, strlen(needle)) == 0 ||
			    strstr(req->headers, line) != NULL);
		k += snprintf(creq + k, sizeof(creq) - (size_t)k, "%s:%s\n", name,
			      fake_header(req, name));
		token_signed |= strcmp(name, "x-amz-security-token") == 0;
	}
	char body_hash[65];
	sha256_hex(req->body, req->body_len, body_hash);
	snprintf(creq + k, sizeof(creq) - (size_t)k, "\n%s\n%s", signed_headers, body_hash);
	assert_non_null(strstr(signed_headers, "content-type"));
	assert_non_null(strstr(signed_headers, "host"));
	assert_non_null(strstr(signed_headers, "x-amz-date"));
	assert_non_null(strstr(signed_headers, "x-amz-target"));
	assert_int_equal(token_signed, session_token != NULL);
	if (session_token)
		assert_string_equal(fake_header(req, "x-amz-security-token"), session_token);

	char mine[65];
	sigv4_sign(SK, date, "us-east-1", "sqs", creq, mine);
	assert_string_equal(signature, mine);
}

static void assert_json_body(const struct fake_request *req, const char *want)
{
	json_t *got = json_loadb(req->body, req->body_len, 0, NULL);
	json_t *exp = json_loads(want, 0, NULL);
	assert_non_null(got);
	assert_non_null(exp);
	if (!json_equal(got, exp)) {
		fprintf(stderr, "body: %.*s\n", (int)req->body_len, req->body);
		fail();
	}
	json_decref(got);
	json_decref(exp);
}

static void assert_sqs_request(const struct fake_request *req, const char *op)
{
	char target[64];
	snprintf(target, sizeof(target), "AmazonSQS.%s", op);
	assert_string_equal(req->method, "POST");
	assert_string_equal(req->uri, "/");
	assert_string_equal(fake_header(req, "content-type"), "application/x-amz-json-1.0");
	assert_string_equal(fake_header(req, "x-amz-target"), target);
}

static void a_receive_is_the_exact_signed_json_request(void **state)
{
	struct env *e = *state;
	fake_script(e->fake, 200, "{}", NULL);
	struct sqs_message *m = (struct sqs_message *)1;
	size_t n = 99;
	struct client_result r;
	assert_int_equal(sqs_receive(e->sqs, QUEUE, 10, 0, 45, &m, &n, &r), 0);
	assert_int_equal(r.outcome, CLIENT_OK);
	assert_string_equal(r.error, "");
	assert_null(m);
	assert_int_equal(n, 0);
	const struct fake_request *req = fake_request(e->fake, 0);
	assert_sqs_request(req, "ReceiveMessage");
	assert_json_body(req, "{\"QueueUrl\":\"" QUEUE "\",\"MaxNumberOfMessages\":10,"
			      "\"WaitTimeSeconds\":0,\"VisibilityTimeout\":45,"
			      "\"MessageSystemAttributeNames\":[\"ApproximateReceiveCount\"],"
			      "\"AttributeNames\":[\"ApproximateReceiveCount\"],"
			      "\"MessageAttributeNames\":[\"All\"]}");
	assert_signed(req, ST);
}

static void without_a_session_token_none_is_sent(void **state)
{
	struct env *e = *state;
	e->session_token = NULL;
	aws_provider_free(e->aws);
	sqs_client_free(e->sqs);
	assert_int_equal(start(e, fake_url(e->fake), 5000), 0);
	fake_script(e->fake, 200, "{\"Messages\":[]}", NULL);
	struct sqs_message *m = NULL;
	size_t n = 0;
	struct client_result r;
	assert_int_equal(sqs_receive(e->sqs, QUEUE, 1, 0, 0, &m, &n, &r), 0);
	assert_int_equal(r.outcome, CLIENT_OK);
	const struct fake_request *req = fake_request(e->fake, 0);
	assert_null(strstr(req->headers, "x-amz-security-token"));
	/* The queue's own visibility timeout: none sent. */
	assert_null(strstr(req->body, "VisibilityTimeout"));
	assert_signed(req, NULL);
}

static void md5_hex(const char *s, char out[33])
{
	unsigned char md[16];
	unsigned int n = 0;
	assert_int_equal(EVP_Digest(s, strlen(s), md, &n, EVP_md5(), NULL), 1);
	hex(md, 16, out);
}

static void received_messages_are_read_whole(void **state)
{
	struct env *e = *state;
	char md5_a[33], md5_b[33], answer[2048];
	md5_hex("{\"headers\":{},\"payload\":\"h\\u00e9\"}", md5_a);
	md5_hex("second", md5_b);
	snprintf(answer, sizeof(answer),
		 "{\"Messages\":["
		 "{\"MessageId\":\"m-1\",\"ReceiptHandle\":\"rh-1\",\"MD5OfBody\":\"%s\","
		 "\"Body\":\"{\\\"headers\\\":{},\\\"payload\\\":\\\"h\\\\u00e9\\\"}\","
		 "\"Attributes\":{\"ApproximateReceiveCount\":\"3\"},"
		 "\"MessageAttributes\":{\"provider\":{\"DataType\":\"String\",\"StringValue\":\"github\"}}},"
		 "{\"MessageId\":\"m-2\",\"ReceiptHandle\":\"rh-2\",\"MD5OfBody\":\"%s\","
		 "\"Body\":\"second\"}]}",
		 md5_a, md5_b);
	fake_script(e->fake, 200, answer, NULL);
	struct sqs_message *m = NULL;
	size_t n = 0;
	struct client_result r;
	assert_int_equal(sqs_receive(e->sqs, QUEUE, 10, 0, 0, &m, &n, &r), 0);
	assert_int_equal(r.outcome, CLIENT_OK);
	assert_string_equal(r.error, "");
	assert_int_equal(n, 2);
	assert_string_equal(m[0].message_id, "m-1");
	assert_string_equal(m[0].receipt_handle, "rh-1");
	assert_string_equal(m[0].body, "{\"headers\":{},\"payload\":\"h\\u00e9\"}");
	assert_int_equal(m[0].body_len, strlen(m[0].body));
	assert_int_equal(m[0].receive_count, 3);
	assert_string_equal(m[0].attributes_json,
			    "{\"provider\":{\"DataType\":\"String\",\"StringValue\":\"github\"}}");
	assert_string_equal(m[1].message_id, "m-2");
	assert_string_equal(m[1].body, "second");
	assert_int_equal(m[1].receive_count, 0);
	assert_null(m[1].attributes_json);
	sqs_messages_release(m, n);
}

static void a_body_that_fails_its_md5_is_left_out_and_named(void **state)
{
	struct env *e = *state;
	char md5_ok[33], answer[1024];
	md5_hex("good", md5_ok);
	snprintf(answer, sizeof(answer),
		 "{\"Messages\":["
		 "{\"MessageId\":\"m-ok\",\"ReceiptHandle\":\"rh-1\",\"MD5OfBody\":\"%s\",\"Body\":\"good\"},"
		 "{\"MessageId\":\"m-bad\",\"ReceiptHandle\":\"rh-2\",\"MD5OfBody\":\"%s\",\"Body\":\"g00d\"},"
		 "{\"ReceiptHandle\":\"rh-3\",\"Body\":\"no id\"},"
		 "{\"MessageId\":\"m-nomd5\",\"ReceiptHandle\":\"rh-4\",\"Body\":\"unchecked\"}]}",
		 md5_ok, md5_ok);
	fake_script(e->fake, 200, answer, NULL);
	struct sqs_message *m = NULL;
	size_t n = 0;
	struct client_result r;
	assert_int_equal(sqs_receive(e->sqs, QUEUE, 10, 0, 0, &m, &n, &r), 0);
	assert_int_equal(r.outcome, CLIENT_OK);
	assert_int_equal(n, 2);
	assert_string_equal(m[0].message_id, "m-ok");
	assert_string_equal(m[1].message_id, "m-nomd5");
	assert_string_equal(r.error, "sqs ReceiveMessage: left out 2 of 4: m-bad: the body does "
				     "not match MD5OfBody (corrupt)");
	sqs_messages_release(m, n);
}

static void a_long_poll_gets_its_wait_on_top_of_the_timeout(void **state)
{
	struct env *e = *state;
	/* A client whose own timeout (300 ms) is shorter than the server's
	 * wait (1 s): the poll must still get its answer. */
	sqs_client_free(e->sqs);
	aws_provider_free(e->aws);
	assert_int_equal(start(e, fake_url(e->fake), 300), 0);
	fake_handle(e->fake, NULL, NULL);
	fake_script(e->fake, 200, "{}", NULL);
	struct sqs_message *m = NULL;
	size_t n = 0;
	struct client_result r;
	/* The fake answers at once; what matters is that a 1 s wait is
	 * accepted and sent. The timing is covered by the raw server below. */
	assert_int_equal(sqs_receive(e->sqs, QUEUE, 1, 1, 0, &m, &n, &r), 0);
	assert_int_equal(r.outcome, CLIENT_OK);
	assert_non_null(strstr(fake_request(e->fake, 0)->body, "\"WaitTimeSeconds\":1"));

	/* A server that never answers: given up after wait + timeout, not
	 * after the timeout alone. */
	struct fake_raw *raw = fake_raw_start(FAKE_RAW_HANG);
	sqs_client_free(e->sqs);
	aws_provider_free(e->aws);
	assert_int_equal(start(e, fake_raw_url(raw), 300), 0);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(sqs_receive(e->sqs, QUEUE, 1, 1, 0, &m, &n, &r), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_int_equal(r.outcome, CLIENT_RETRY);
	assert_false(r.uncertain); /* a receive is not a write */
	assert_true(ms >= 1200);
	assert_true(ms < 5000);
	fake_raw_stop(raw);
}

static void deletes_report_each_entry(void **state)
{
	struct env *e = *state;
	const char *handles[] = { "rh-0", "rh-1", "rh-2" };
	bool failed[3];
	struct client_result r;

	fake_script(e->fake, 200, "{\"Successful\":[{\"Id\":\"0\"},{\"Id\":\"1\"},{\"Id\":\"2\"}]}",
		    NULL);
	assert_int_equal(sqs_delete_batch(e->sqs, QUEUE, handles, 3, failed, &r), 0);
	assert_int_equal(r.outcome, CLIENT_OK);
	assert_false(failed[0] || failed[1] || failed[2]);
	const struct fake_request *req = fake_request(e->fake, 0);
	assert_sqs_request(req, "DeleteMessageBatch");
	assert_json_body(req, "{\"QueueUrl\":\"" QUEUE "\",\"Entries\":["
			      "{\"Id\":\"0\",\"ReceiptHandle\":\"rh-0\"},"
			      "{\"Id\":\"1\",\"ReceiptHandle\":\"rh-1\"},"
			      "{\"Id\":\"2\",\"ReceiptHandle\":\"rh-2\"}]}");
	assert_signed(req, ST);

	/* Ours to fix: FAILED, and only that entry. */
	fake_script(e->fake, 200,
		    "{\"Successful\":[{\"Id\":\"0\"},{\"Id\":\"2\"}],\"Failed\":[{\"Id\":\"1\","
		    "\"SenderFault\":true,\"Code\":\"ReceiptHandleIsInvalid\","
		    "\"Message\":\"The input receipt handle is invalid.\"}]}",
		    NULL);
	assert_int_equal(sqs_delete_batch(e->sqs, QUEUE, handles, 3, failed, &r), 0);
	assert_int_equal(r.outcome, CLIENT_FAILED);
	assert_false(failed[0]);
	assert_true(failed[1]);
	assert_false(failed[2]);
	assert_string_equal(r.error, "sqs DeleteMessageBatch: 1 of 3 not deleted; entry 1: "
				     "ReceiptHandleIsInvalid: The input receipt handle is invalid.");

	/* SQS's fault, or an entry it said nothing of: RETRY. */
	fake_script(e->fake, 200,
		    "{\"Successful\":[{\"Id\":\"0\"}],\"Failed\":[{\"Id\":\"2\",\"SenderFault\":false,"
		    "\"Code\":\"InternalError\"}]}",
		    NULL);
	assert_int_equal(sqs_delete_batch(e->sqs, QUEUE, handles, 3, failed, &r), 0);
	assert_int_equal(r.outcome, CLIENT_RETRY);
	assert_false(failed[0]);
	assert_true(failed[1]);
	assert_true(failed[2]);
	assert_non_null(strstr(r.error, "2 of 3 not deleted; entry 2: InternalError"));

	/* The whole call failing leaves every entry failed. */
	fake_script(e->fake, 500, "{\"__type\":\"InternalError\"}", NULL);
	assert_int_equal(sqs_delete_batch(e->sqs, QUEUE, handles, 3, failed, &r), 0);
	assert_int_equal(r.outcome, CLIENT_RETRY);
	assert_true(failed[0] && failed[1] && failed[2]);

	/* Too many entries: nothing sent. */
	size_t before = fake_count(e->fake);
	const char *eleven[11] = { "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k" };
	bool f11[11];
	assert_int_equal(sqs_delete_batch(e->sqs, QUEUE, eleven, 11, f11, &r), 0);
	assert_int_equal(r.outcome, CLIENT_FAILED);
	assert_int_equal(r.status, 0);
	assert_int_equal(fake_count(e->fake), before);
}

static void a_send_returns_the_message_id_and_checks_the_md5(void **state)
{
	struct env *e = *state;
	char md5[33], answer[256], id[SQS_MESSAGE_ID_MAX] = "";
	const char *body = "{\"headers\":{\"x-github-event\":\"issues\"},\"payload\":{}}";
	md5_hex(body, md5);
	snprintf(answer, sizeof(answer),
		 "{\"MessageId\":\"5fea7756-0ea4-451a-a703-a558b933e274\",\"MD5OfMessageBody\":\"%s\","
		 "\"SequenceNumber\":\"1\"}",
		 md5);
	fake_script(e->fake, 200, answer, NULL);
	struct client_result r;
	assert_int_equal(sqs_send(e->sqs, QUEUE ".fifo", body, strlen(body), "delivery-1", "o/r",
				  id, &r),
			 0);
	assert_int_equal(r.outcome, CLIENT_OK);
	assert_string_equal(id, "5fea7756-0ea4-451a-a703-a558b933e274");
	const struct fake_request *req = fake_request(e->fake, 0);
	assert_sqs_request(req, "SendMessage");
	assert_json_body(req, "{\"QueueUrl\":\"" QUEUE ".fifo\",\"MessageBody\":"
			      "\"{\\\"headers\\\":{\\\"x-github-event\\\":\\\"issues\\\"},"
			      "\\\"payload\\\":{}}\",\"MessageDeduplicationId\":\"delivery-1\","
			      "\"MessageGroupId\":\"o/r\"}");
	assert_signed(req, ST);

	/* SQS stored something else than what was sent. */
	fake_script(e->fake, 200,
		    "{\"MessageId\":\"m\",\"MD5OfMessageBody\":\"00000000000000000000000000000000\"}",
		    NULL);
	id[0] = '\0';
	assert_int_equal(sqs_send(e->sqs, QUEUE, "x", 1, NULL, NULL, id, &r), 0);
	assert_int_equal(r.outcome, CLIENT_RETRY);
	assert_true(r.uncertain);
	assert_string_equal(id, "");
	assert_null(strstr(fake_request(e->fake, 1)->body, "MessageGroupId"));

	/* Bytes that are not text are refused before sending. */
	size_t before = fake_count(e->fake);
	assert_int_equal(sqs_send(e->sqs, QUEUE, "\xff\xfe", 2, NULL, NULL, NULL, &r), 0);
	assert_int_equal(r.outcome, CLIENT_FAILED);
	assert_string_equal(r.error, "sqs SendMessage: the body is not valid UTF-8");
	assert_int_equal(fake_count(e->fake), before);
}

static void a_visibility_change_names_the_handle(void **state)
{
	struct env *e = *state;
	fake_script(e->fake, 200, "{}", NULL);
	struct client_result r;
	assert_int_equal(sqs_change_visibility(e->sqs, QUEUE, "rh-9", 120, &r), 0);
	assert_int_equal(r.outcome, CLIENT_OK);
	const struct fake_request *req = fake_request(e->fake, 0);
	assert_sqs_request(req, "ChangeMessageVisibility");
	assert_json_body(req, "{\"QueueUrl\":\"" QUEUE "\",\"ReceiptHandle\":\"rh-9\","
			      "\"VisibilityTimeout\":120}");
}

static void send_one(struct env *e, struct client_result *r)
{
	assert_int_equal(sqs_send(e->sqs, QUEUE, "x", 1, NULL, NULL, NULL, r), 0);
}

static void errors_are_classified(void **state)
{
	struct env *e = *state;
	struct client_result r;

	fake_script(e->fake, 400,
		    "{\"__type\":\"com.amazonaws.sqs#QueueDoesNotExist\","
		    "\"message\":\"The specified queue does not exist.\"}",
		    "x-amzn-query-error: AWS.SimpleQueueService.NonExistentQueue;Sender", NULL);
	send_one(e, &r);
	assert_int_equal(r.outcome, CLIENT_FAILED);
	assert_int_equal(r.status, 400);
	assert_false(r.uncertain);
	assert_string_equal(r.error, "sqs SendMessage: queue " QUEUE " does not exist (or is not "
				     "visible to these credentials); SQS answered 400 "
				     "QueueDoesNotExist: The specified queue does not exist.");

	/* The older code, in the header only. */
	fake_script(e->fake, 400, "", "x-amzn-query-error: AWS.SimpleQueueService.NonExistentQueue;Sender",
		    NULL);
	send_one(e, &r);
	assert_int_equal(r.outcome, CLIENT_FAILED);
	assert_non_null(strstr(r.error, "does not exist"));
	assert_non_null(strstr(r.error, "AWS.SimpleQueueService.NonExistentQueue"));

	static const char *const throttled[] = {
		"{\"__type\":\"com.amazonaws.sqs#RequestThrottled\",\"message\":\"slow down\"}",
		"{\"__type\":\"ThrottlingException\",\"message\":\"Rate exceeded\"}",
		"{\"__type\":\"com.amazonaws.sqs#KmsThrottled\"}",
	};
	for (size_t i = 0; i < 3; i++) {
		fake_script(e->fake, 400, throttled[i], NULL);
		send_one(e, &r);
		assert_int_equal(r.outcome, CLIENT_RETRY);
		assert_int_equal(r.status, 400);
		assert_false(r.uncertain); /* refused up front */
	}

	fake_script(e->fake, 500, "{\"__type\":\"InternalFailure\"}", NULL);
	send_one(e, &r);
	assert_int_equal(r.outcome, CLIENT_RETRY);
	assert_true(r.uncertain); /* the message may be on the queue */
	fake_script(e->fake, 503, "", NULL);
	send_one(e, &r);
	assert_int_equal(r.outcome, CLIENT_RETRY);
	assert_false(r.uncertain);

	fake_script(e->fake, 400, "{\"__type\":\"com.amazonaws.sqs#InvalidParameterValue\","
				  "\"message\":\"Value for parameter x is invalid.\"}",
		    NULL);
	send_one(e, &r);
	assert_int_equal(r.outcome, CLIENT_FAILED);
	assert_string_equal(r.error, "sqs SendMessage: SQS answered 400 InvalidParameterValue: "
				     "Value for parameter x is invalid.");
}

static void credential_errors_say_what_to_check_and_never_echo_secrets(void **state)
{
	struct env *e = *state;
	struct client_result r;

	fake_script(e->fake, 403, "{\"__type\":\"com.amazon.coral.service#InvalidClientTokenId\","
				  "\"message\":\"The security token included in the request is invalid.\"}",
		    NULL);
	send_one(e, &r);
	assert_int_equal(r.outcome, CLIENT_FAILED);
	assert_int_equal(r.status, 403);
	assert_string_equal(r.error, "sqs SendMessage: AWS does not know the access key from the "
				     "environment; SQS answered 403 InvalidClientTokenId: The security "
				     "token included in the request is invalid.");

	/* A service that echoes what it signed: secret and token redacted. */
	fake_script(e->fake, 403,
		    "{\"__type\":\"SignatureDoesNotMatch\",\"message\":\"x-amz-security-token:" ST
		    " key " SK "\"}",
		    NULL);
	send_one(e, &r);
	assert_int_equal(r.outcome, CLIENT_FAILED);
	assert_non_null(strstr(r.error, "check the secret key from the environment and region us-east-1"));
	assert_null(strstr(r.error, SK));
	assert_null(strstr(r.error, ST));
	assert_non_null(strstr(r.error, "[redacted]"));

	/* Static credentials that expired: the operator's to renew. */
	fake_script(e->fake, 403, "{\"__type\":\"ExpiredToken\",\"message\":\"expired\"}", NULL);
	send_one(e, &r);
	assert_int_equal(r.outcome, CLIENT_FAILED);
	assert_non_null(strstr(r.error, "the session token from the environment has expired"));

	fake_script(e->fake, 400, "{\"__type\":\"AccessDenied\",\"message\":\"not authorized\"}",
		    NULL);
	send_one(e, &r);
	assert_int_equal(r.outcome, CLIENT_FAILED);
	assert_non_null(strstr(r.error, "may not call sqs:SendMessage"));
}

static void no_credentials_fail_before_sending(void **state)
{
	struct env *e = *state;
	e->no_credentials = true;
	struct client_result r;
	send_one(e, &r);
	assert_int_equal(r.outcome, CLIENT_FAILED);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.error, "sqs SendMessage: no AWS credentials: set AWS_ACCESS_KEY_ID"));
	assert_int_equal(fake_count(e->fake), 0);
}

static void transport_failures_retry_and_say_if_a_send_may_have_landed(void **state)
{
	struct env *e = *state;
	struct client_result r;
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", fake_closed_port());
	sqs_client_free(e->sqs);
	aws_provider_free(e->aws);
	assert_int_equal(start(e, url, 2000), 0);
	send_one(e, &r);
	assert_int_equal(r.outcome, CLIENT_RETRY);
	assert_false(r.uncertain); /* never connected */
	assert_int_equal(r.status, 0);

	struct fake_raw *raw = fake_raw_start(FAKE_RAW_CLOSE);
	sqs_client_free(e->sqs);
	aws_provider_free(e->aws);
	assert_int_equal(start(e, fake_raw_url(raw), 2000), 0);
	send_one(e, &r);
	assert_true(fake_raw_stop(raw));
	assert_int_equal(r.outcome, CLIENT_RETRY);
	assert_true(r.uncertain); /* sent, then no answer */
	assert_null(strstr(r.error, SK));
}

static bool huge_answer(void *ctx, const struct fake_request *req, struct fake_reply *out)
{
	(void)req;
	out->status = 200;
	out->body = ctx;
	return true;
}

static void an_answer_over_the_cap_is_retried_not_read(void **state)
{
	struct env *e = *state;
	size_t len = SQS_ANSWER_MAX + 4096;
	char *big = malloc(len + 1);
	memset(big, ' ', len);
	memcpy(big, "{\"Messages\":[", 13);
	big[len] = '\0';
	fake_handle(e->fake, huge_answer, big);
	struct sqs_message *m = NULL;
	size_t n = 0;
	struct client_result r;
	assert_int_equal(sqs_receive(e->sqs, QUEUE, 10, 0, 0, &m, &n, &r), 0);
	assert_int_equal(r.outcome, CLIENT_RETRY);
	assert_non_null(strstr(r.error, "larger than"));
	assert_null(m);
	fake_handle(e->fake, NULL, NULL);
	free(big);
}

static void arguments_that_cannot_work_fail_without_a_request(void **state)
{
	struct env *e = *state;
	struct sqs_message *m = NULL;
	size_t n = 0;
	struct client_result r;
	assert_int_equal(sqs_receive(e->sqs, QUEUE, 11, 0, 0, &m, &n, &r), 0);
	assert_int_equal(r.outcome, CLIENT_FAILED);
	assert_int_equal(sqs_receive(e->sqs, QUEUE, 1, 21, 0, &m, &n, &r), 0);
	assert_int_equal(r.outcome, CLIENT_FAILED);
	assert_int_equal(sqs_receive(e->sqs, "file:///etc/passwd", 1, 0, 0, &m, &n, &r), 0);
	assert_int_equal(r.outcome, CLIENT_FAILED);
	assert_int_equal(sqs_send(e->sqs, QUEUE, "x", 1, "bad id", "g", NULL, &r), 0);
	assert_int_equal(r.outcome, CLIENT_FAILED);
	assert_int_equal(sqs_change_visibility(e->sqs, QUEUE, "rh", 43201, &r), 0);
	assert_int_equal(r.outcome, CLIENT_FAILED);
	assert_int_equal(fake_count(e->fake), 0);
	assert_int_equal(sqs_receive(NULL, QUEUE, 1, 0, 0, &m, &n, &r), HQ_E_INVAL);
}

static void options_are_checked_and_the_endpoint_defaults_to_the_region(void **state)
{
	(void)state;
	struct env e = { 0 };
	struct aws_provider_options ao = { .getenv = env_get, .ctx = &e };
	struct aws_provider *aws = NULL;
	char err[256] = "";
	assert_int_equal(aws_provider_new(&ao, &aws, err, sizeof(err)), 0);
	struct sqs_client *c = NULL;
	struct sqs_client_options o = { .credentials = aws };
	assert_int_equal(sqs_client_new(&o, &c, err, sizeof(err)), HQ_E_CONFIG);
	assert_string_equal(err, "AWS_REGION: missing (SQS requests are signed for a region)");
	o.region = "us east";
	assert_int_equal(sqs_client_new(&o, &c, err, sizeof(err)), HQ_E_CONFIG);
	o.region = "eu-west-1";
	o.endpoint = "ftp://x";
	assert_int_equal(sqs_client_new(&o, &c, err, sizeof(err)), HQ_E_CONFIG);
	o.endpoint = NULL;
	assert_int_equal(sqs_client_new(&o, &c, err, sizeof(err)), 0);
	sqs_client_free(c);
	sqs_client_free(NULL);
	aws_provider_free(aws);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_tests_signer_reproduces_aws_published_vectors),
		cmocka_unit_test_setup_teardown(libcurl_signs_the_published_vectors, setup, teardown),
		cmocka_unit_test_setup_teardown(a_receive_is_the_exact_signed_json_request, setup,
						teardown),
		cmocka_unit_test_setup_teardown(without_a_session_token_none_is_sent, setup, teardown),
		cmocka_unit_test_setup_teardown(received_messages_are_read_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(a_body_that_fails_its_md5_is_left_out_and_named, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_long_poll_gets_its_wait_on_top_of_the_timeout, setup,
						teardown),
		cmocka_unit_test_setup_teardown(deletes_report_each_entry, setup, teardown),
		cmocka_unit_test_setup_teardown(a_send_returns_the_message_id_and_checks_the_md5, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_visibility_change_names_the_handle, setup, teardown),
		cmocka_unit_test_setup_teardown(errors_are_classified, setup, teardown),
		cmocka_unit_test_setup_teardown(credential_errors_say_what_to_check_and_never_echo_secrets,
						setup, teardown),
		cmocka_unit_test_setup_teardown(no_credentials_fail_before_sending, setup, teardown),
		cmocka_unit_test_setup_teardown(
			transport_failures_retry_and_say_if_a_send_may_have_landed, setup, teardown),
		cmocka_unit_test_setup_teardown(an_answer_over_the_cap_is_retried_not_read, setup,
						teardown),
		cmocka_unit_test_setup_teardown(arguments_that_cannot_work_fail_without_a_request,
						setup, teardown),
		cmocka_unit_test(options_are_checked_and_the_endpoint_defaults_to_the_region),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
