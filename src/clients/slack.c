#include "clients/slack.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/crypto.h"
#include "util/error.h"

#define SLACK_ANSWER_MAX (256 * 1024)
#define SLACK_TOKEN_MAX 1024
#define SLACK_URL_MAX 2048

/* Slack's errors after which trying again can work; Slack documents that
 * part of the work may have been done before them. */
static bool slack_error_transient(const char *e)
{
	return strcmp(e, "internal_error") == 0 || strcmp(e, "fatal_error") == 0 ||
	       strcmp(e, "service_unavailable") == 0 || strcmp(e, "request_timeout") == 0;
}

/* Reads Slack's answer into ret: the common status reading, then what a
 * JSON body with "ok" says. */
static void slack_classify(int rc, const struct http_response *h, const char *what,
			   bool want_json, struct client_result *ret)
{
	int64_t now_ms = clock_now_ms();
	if (!client_result_http(ret, rc, h, true, what))
		return;
	client_result_status(ret, h, now_ms, true);
	json_t *doc = json_loadb(h->body, h->body_len, 0, NULL);
	json_t *ok = json_object_get(doc, "ok");
	const char *err = json_string_value(json_object_get(doc, "error"));
	char text[128];
	if (err)
		client_text(text, sizeof(text), err, strlen(err));
	else
		client_text(text, sizeof(text), h->body, h->body_len);
	if (ret->outcome == CLIENT_OK && json_is_false(ok)) {
		if (err && (strcmp(err, "ratelimited") == 0 || strcmp(err, "rate_limited") == 0)) {
			ret->outcome = CLIENT_RETRY;
			ret->retry_at_ms = client_retry_after_at(h, now_ms);
		} else if (err && slack_error_transient(err)) {
			ret->outcome = CLIENT_RETRY;
			ret->uncertain = true;
		} else {
			ret->outcome = CLIENT_FAILED;
		}
		snprintf(ret->error, sizeof(ret->error), "%s: Slack answered %s", what,
			 err ? text : "ok: false");
	} else if (ret->outcome == CLIENT_OK && want_json && !json_is_true(ok)) {
		ret->outcome = CLIENT_FAILED;
		snprintf(ret->error, sizeof(ret->error), "%s: Slack's answer is not ok: true", what);
	} else if (ret->outcome != CLIENT_OK) {
		snprintf(ret->error, sizeof(ret->error), "%s: Slack answered %ld: %s", what,
			 h->status, text[0] ? text : "no reason");
	}
	if (ret->outcome == CLIENT_OK) {
		const char *ts = json_string_value(json_object_get(doc, "ts"));
		if (ts && strlen(ts) < sizeof(ret->ts))
			client_text(ret->ts, sizeof(ret->ts), ts, strlen(ts));
	}
	json_decref(doc);
}

static char *slack_dump(json_t *doc)
{
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	return text;
}

int slack_respond(const char *response_url, const char *text, long timeout_ms,
		  struct client_result *ret)
{
	if (!ret)
		return HQ_E_INVAL;
	client_result_init(ret);
	if (!response_url || strlen(response_url) > SLACK_URL_MAX || !text) {
		client_result_set(ret, CLIENT_FAILED, 0, "slack reply: no response_url or text");
		return 0;
	}
	json_t *t = client_json_text(text);
	char *body = slack_dump(t ? json_pack("{s:o, s:s}", "text", t, "response_type",
					      "in_channel") :
				    NULL);
	if (!body) {
		client_result_set(ret, CLIENT_RETRY, 0, "slack reply: out of memory");
		return 0;
	}
	static const char *const headers[] = { "Content-Type: application/json; charset=utf-8",
					       NULL };
	struct http_response h;
	int r = http_request("POST", response_url, headers, body, strlen(body), timeout_ms,
			     SLACK_ANSWER_MAX, &h);
	/* The URL is a credential: an error must not carry it. */
	if (r == HQ_E_INVAL)
		snprintf(h.error, sizeof(h.error), "the response_url is not an http(s) URL");
	slack_classify(r, &h, "slack reply", false, ret);
	client_result_redact(ret, response_url);
	http_response_release(&h);
	free(body);
	return 0;
}

int slack_post_message(const char *api_url, const char *bot_token, const char *channel,
		       const char *thread_ts, const char *text, long timeout_ms,
		       struct client_result *ret)
{
	if (!ret)
		return HQ_E_INVAL;
	client_result_init(ret);
	if (!api_url || strlen(api_url) > SLACK_URL_MAX || !bot_token || !*bot_token ||
	    strlen(bot_token) > SLACK_TOKEN_MAX || strpbrk(bot_token, " \t\r\n") || !channel ||
	    !*channel || !text) {
		client_result_set(ret, CLIENT_FAILED, 0,
				  "slack message: no API URL, bot token, channel or text");
		return 0;
	}
	char url[SLACK_URL_MAX + 32];
	size_t len = strlen(api_url);
	while (len > 0 && api_url[len - 1] == '/')
		len--;
	snprintf(url, sizeof(url), "%.*s/chat.postMessage", (int)len, api_url);
	json_t *doc = json_object();
	if (json_object_set_new(doc, "channel", client_json_text(channel)) < 0 ||
	    json_object_set_new(doc, "text", client_json_text(text)) < 0 ||
	    (thread_ts && *thread_ts &&
	     json_object_set_new(doc, "thread_ts", client_json_text(thread_ts)) < 0)) {
		json_decref(doc);
		doc = NULL;
	}
	char *body = slack_dump(doc);
	size_t alen = strlen("Authorization: Bearer ") + strlen(bot_token) + 1;
	char *auth = body ? malloc(alen) : NULL;
	if (!auth) {
		free(body);
		client_result_set(ret, CLIENT_RETRY, 0, "slack message: out of memory");
		return 0;
	}
	snprintf(auth, alen, "Authorization: Bearer %s", bot_token);
	const char *headers[] = { "Content-Type: application/json; charset=utf-8", auth, NULL };
	struct http_response h;
	int r = http_request("POST", url, headers, body, strlen(body), timeout_ms,
			     SLACK_ANSWER_MAX, &h);
	crypto_cleanse(auth, strlen(auth));
	free(auth);
	slack_classify(r, &h, "slack message", true, ret);
	client_result_redact(ret, bot_token);
	http_response_release(&h);
	free(body);
	return 0;
}
