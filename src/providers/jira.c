#include "providers/jira.h"

#include <stdio.h>
#include <string.h>

#include "core/event.h"
#include "util/error.h"

static const char *const jira_stored_headers[] = {
	"X-Atlassian-Webhook-Identifier",
	"X-Atlassian-Webhook-Retry",
	"User-Agent",
	"Content-Type",
	NULL,
};

static int jira_accept(const struct provider_settings *s, const struct provider_request *req,
		       struct provider_accept *out)
{
	static const char prefix[] = "sha256=";
	if (s->secret) {
		const char *sig = req->header(req->ctx, "X-Hub-Signature");
		if (!sig || !*sig)
			return provider_fail(out, HQ_E_SIG_MISSING, "signature_missing",
					     "missing X-Hub-Signature header");
		struct crypto_part body = { req->body, req->body_len };
		if (strncmp(sig, prefix, sizeof(prefix) - 1) != 0 ||
		    provider_hmac_check(s, CRYPTO_SHA256, &body, 1, sig + sizeof(prefix) - 1,
					strlen(sig) - (sizeof(prefix) - 1), false) < 0)
			return provider_fail(out, HQ_E_SIG_INVALID, "signature_invalid",
					     "X-Hub-Signature does not match the body");
	}
	int r = provider_take_id(out, req->header(req->ctx, "X-Atlassian-Webhook-Identifier"),
				 "X-Atlassian-Webhook-Identifier header");
	if (r < 0)
		return r;
	char type[PROVIDER_ID_MAX + 2], msg[160];
	r = provider_json_get(req->body, req->body_len, "webhookEvent", false, type, sizeof(type),
			      msg, sizeof(msg));
	if (r == HQ_E_INVAL)
		return provider_fail(out, HQ_E_INVAL, "body_invalid", "the body is not JSON: %s",
				     msg);
	r = provider_take_type(out, r == 0 ? type : NULL, "webhookEvent in the body");
	if (r < 0)
		return r;
	out->store = true;
	return 0;
}

static int jira_normalize(const char *event_type, const char *body, size_t len,
			  struct event_info *info, char *why, size_t why_size)
{
	int r = provider_normalize_json(event_type, body, len, NULL, "issue.fields.project.key",
					"user.displayName", info, why, why_size);
	if (r == 0) /* "jira:issue_created" already says what happened */
		snprintf(info->type, sizeof(info->type), "%s", event_type);
	return r;
}

const struct provider provider_jira = {
	.name = "jira",
	.stored_headers = jira_stored_headers,
	.accept = jira_accept,
	.normalize = jira_normalize,
};
