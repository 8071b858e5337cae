#include "providers/slack.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "core/form.h"
#include "core/jscan.h"
#include "util/error.h"

static const char *const slack_stored_headers[] = {
	"X-Slack-Request-Timestamp",
	"X-Slack-Retry-Num",
	"X-Slack-Retry-Reason",
	"User-Agent",
	"Content-Type",
	NULL,
};

/* Interactivity payloads and slash commands are form fields; the JSON
 * inside "payload" is read up to this size at acknowledgement. */
#define SLACK_PAYLOAD_MAX (64 * 1024)

static int slack_verify(const struct provider_settings *s, const struct provider_request *req,
			struct provider_accept *out)
{
	const char *sig = req->header(req->ctx, "X-Slack-Signature");
	if (!sig || !*sig)
		return provider_fail(out, HQ_E_SIG_MISSING, "signature_missing",
				     "missing X-Slack-Signature header");
	const char *ts = req->header(req->ctx, "X-Slack-Request-Timestamp");
	if (!ts || !*ts)
		return provider_fail(out, HQ_E_SIG_INVALID, "timestamp_invalid",
				     "missing X-Slack-Request-Timestamp header");
	struct crypto_part parts[] = { { "v0:", 3 }, { ts, strlen(ts) }, { ":", 1 },
				       { req->body, req->body_len } };
	if (strncmp(sig, "v0=", 3) != 0 ||
	    provider_hmac_check(s, CRYPTO_SHA256, parts, 4, sig + 3, strlen(sig) - 3, false) < 0)
		return provider_fail(out, HQ_E_SIG_INVALID, "signature_invalid",
				     "X-Slack-Signature does not match the body");
	return provider_timestamp_check(s, req, ts, 1, "X-Slack-Request-Timestamp header", out);
}

/* A delivery id for a payload that carries none: its hash. Slack retries
 * send the same bytes, so a retry is still a duplicate. */
static void body_hash_id(const struct provider_request *req, struct provider_accept *out)
{
	uint8_t d[CRYPTO_SHA256_LEN];
	char hex[2 * CRYPTO_SHA256_LEN + 1] = "";
	if (crypto_sha256(req->body, req->body_len, d) == 0)
		crypto_hex_encode(d, sizeof(d), hex);
	snprintf(out->delivery_id, sizeof(out->delivery_id), "sha256:%s", hex);
}

/* Events API: {"type":"event_callback","event_id":..,"event":{"type":..}},
 * or the url_verification handshake, answered here and not stored. */
static int slack_json(const struct provider_request *req, struct provider_accept *out)
{
	char type[64], id[PROVIDER_ID_MAX + 2], etype[PROVIDER_ID_MAX + 2], challenge[256];
	char msg[160];
	struct jscan_field f[] = {
		{ { "type", NULL }, type, sizeof(type), false, false },
		{ { "event_id", NULL }, id, sizeof(id), false, false },
		{ { "event", "type", NULL }, etype, sizeof(etype), false, false },
		{ { "challenge", NULL }, challenge, sizeof(challenge), false, false },
	};
	enum jscan_type top = JSCAN_NONE;
	if (jscan(req->body, req->body_len, f, 4, &top, msg, sizeof(msg)) < 0)
		return provider_fail(out, HQ_E_INVAL, "body_invalid", "the body is not JSON: %s",
				     msg);
	if (top != JSCAN_OBJECT)
		return provider_fail(out, HQ_E_INVAL, "body_invalid",
				     "the body is JSON but not an object");
	if (f[0].found && strcmp(type, "url_verification") == 0) {
		json_t *o = json_pack("{s:s}", "challenge", f[3].found ? challenge : "");
		out->answer = o ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
		if (!out->answer)
			return provider_fail(out, HQ_E_NOMEM, "out_of_memory", "out of memory");
		snprintf(out->event_type, sizeof(out->event_type), "url_verification");
		out->store = false;
		return 0;
	}
	int r = 0;
	if (f[1].found)
		r = provider_take_id(out, id, "event_id in the body");
	else
		body_hash_id(req, out);
	if (r == 0)
		r = provider_take_type(out, f[2].found ? etype : f[0].found ? type : NULL,
				       "event.type in the body");
	if (r < 0)
		return r;
	out->store = true;
	return 0;
}

/* Slash commands (command=/agent&text=...&trigger_id=...) and
 * interactivity (payload={json}). */
static int slack_form(const struct provider_settings *s, const struct provider_request *req,
		      struct provider_accept *out)
{
	/* One byte over the limit: a longer id is refused, never cut. */
	char trigger[PROVIDER_ID_MAX + 2];
	char *payload = malloc(SLACK_PAYLOAD_MAX);
	if (!payload)
		return provider_fail(out, HQ_E_NOMEM, "out_of_memory", "out of memory");
	size_t plen = 0;
	int r = form_get(req->body, req->body_len, "payload", payload, SLACK_PAYLOAD_MAX, &plen);
	if (r == 0) {
		char type[64], msg[160];
		struct jscan_field f[] = {
			{ { "type", NULL }, type, sizeof(type), false, false },
			{ { "trigger_id", NULL }, trigger, sizeof(trigger), false, false },
		};
		enum jscan_type top;
		int jr = plen < SLACK_PAYLOAD_MAX ?
				 jscan(payload, plen, f, 2, &top, msg, sizeof(msg)) :
				 HQ_E_TOOBIG;
		free(payload);
		if (jr < 0)
			return provider_fail(out, HQ_E_INVAL, "body_invalid",
					     "the payload field is not JSON (or over 64 KiB)");
		if (f[1].found)
			r = provider_take_id(out, trigger, "trigger_id in the payload");
		else
			body_hash_id(req, out);
		if (r == 0)
			r = provider_take_type(out, f[0].found ? type : NULL, "type in the payload");
		if (r < 0)
			return r;
		out->store = true;
		return 0;
	}
	free(payload);
	if (r == HQ_E_INVAL)
		return provider_fail(out, HQ_E_INVAL, "body_invalid", "malformed form body");
	char command[64];
	if (form_get(req->body, req->body_len, "command", command, sizeof(command), NULL) < 0)
		return provider_fail(out, HQ_E_INVAL, "body_invalid",
				     "a form body needs command= (a slash command) or payload=");
	r = form_get(req->body, req->body_len, "trigger_id", trigger, sizeof(trigger), NULL);
	r = provider_take_id(out, r == 0 ? trigger : NULL, "trigger_id in the form");
	if (r < 0)
		return r;
	snprintf(out->event_type, sizeof(out->event_type), "slash_command");
	/* Slack shows this to the user at once; the work follows. */
	json_t *o = json_pack("{s:s, s:s}", "response_type", "ephemeral", "text",
			      s->ack_text && *s->ack_text ? s->ack_text : "Working on it.");
	out->answer = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!out->answer)
		return provider_fail(out, HQ_E_NOMEM, "out_of_memory", "out of memory");
	out->store = true;
	return 0;
}

static int slack_accept(const struct provider_settings *s, const struct provider_request *req,
			struct provider_accept *out)
{
	if (s->secret) {
		int r = slack_verify(s, req, out);
		if (r < 0)
			return r;
	}
	/* Events API bodies are JSON; commands and interactivity are forms. */
	size_t i = 0;
	while (i < req->body_len && (req->body[i] == ' ' || req->body[i] == '\n' ||
				     req->body[i] == '\r' || req->body[i] == '\t'))
		i++;
	if (i < req->body_len && req->body[i] == '{')
		return slack_json(req, out);
	return slack_form(s, req, out);
}

static int slack_normalize(const char *event_type, const char *body, size_t len,
			   struct event_info *info, char *why, size_t why_size)
{
	memset(info, 0, sizeof(*info));
	snprintf(info->type, sizeof(info->type), "%s", event_type);
	size_t i = 0;
	while (i < len && (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t'))
		i++;
	if (i < len && body[i] == '{')
		return provider_normalize_json(event_type, body, len, NULL, "team_id", "event.user",
					       info, why, why_size);
	/* Slack users are named by id everywhere (U0123...): user names
	 * change, ids do not. */
	char user[EVENT_FIELD_MAX];
	if (form_get(body, len, "user_id", user, sizeof(user), NULL) == 0)
		snprintf(info->sender, sizeof(info->sender), "%s", user);
	size_t plen = 0;
	char *payload = malloc(SLACK_PAYLOAD_MAX);
	if (payload && form_get(body, len, "payload", payload, SLACK_PAYLOAD_MAX, &plen) == 0 &&
	    plen < SLACK_PAYLOAD_MAX) {
		char id[EVENT_FIELD_MAX], msg[160];
		if (provider_json_get(payload, plen, "user.id", false, id, sizeof(id), msg,
				      sizeof(msg)) == 0)
			snprintf(info->sender, sizeof(info->sender), "%s", id);
	}
	free(payload);
	if (form_get(body, len, "team_domain", user, sizeof(user), NULL) == 0)
		snprintf(info->repository, sizeof(info->repository), "%s", user);
	return 0;
}

const struct provider provider_slack = {
	.name = "slack",
	.stored_headers = slack_stored_headers,
	.accept = slack_accept,
	.normalize = slack_normalize,
};
