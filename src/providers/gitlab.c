#include "providers/gitlab.h"

#include <stdio.h>

#include "util/error.h"

static const char *const gitlab_stored_headers[] = {
	"X-Gitlab-Event",
	"X-Gitlab-Event-UUID",
	"X-Gitlab-Webhook-UUID",
	"X-Gitlab-Instance",
	"Idempotency-Key",
	"User-Agent",
	"Content-Type",
	NULL,
};

static int gitlab_accept(const struct provider_settings *s, const struct provider_request *req,
			 struct provider_accept *out)
{
	if (s->secret) {
		const char *token = req->header(req->ctx, "X-Gitlab-Token");
		if (!token || !*token)
			return provider_fail(out, HQ_E_SIG_MISSING, "signature_missing",
					     "missing X-Gitlab-Token header");
		if (!provider_token_equal(s, token))
			return provider_fail(out, HQ_E_SIG_INVALID, "signature_invalid",
					     "X-Gitlab-Token does not match the secret");
	}
	int r = provider_take_type(out, req->header(req->ctx, "X-Gitlab-Event"),
				   "X-Gitlab-Event header");
	if (r < 0)
		return r;
	/* Idempotency-Key stays the same across GitLab's retries of one
	 * delivery (16.x+); X-Gitlab-Event-UUID identifies the event. */
	const char *key = req->header(req->ctx, "Idempotency-Key");
	if (key && *key)
		r = provider_take_id(out, key, "Idempotency-Key header");
	else
		r = provider_take_id(out, req->header(req->ctx, "X-Gitlab-Event-UUID"),
				     "X-Gitlab-Event-UUID header");
	if (r < 0)
		return r;
	out->store = true;
	return 0;
}

static int gitlab_normalize(const char *event_type, const char *body, size_t len,
			    struct event_info *info, char *why, size_t why_size)
{
	(void)event_type;
	/* object_kind ("issue", "note", "merge_request", "push") names the
	 * event better than the header's "Issue Hook". */
	char kind[64];
	char msg[160];
	int r = provider_json_get(body, len, "object_kind", false, kind, sizeof(kind), msg,
				  sizeof(msg));
	if (r == HQ_E_INVAL) {
		snprintf(why, why_size, "malformed JSON at %s", msg);
		return r;
	}
	return provider_normalize_json(r == 0 ? kind : event_type, body, len,
				       "object_attributes.action", "project.path_with_namespace",
				       "user.username", info, why, why_size);
}

const struct provider provider_gitlab = {
	.name = "gitlab",
	.stored_headers = gitlab_stored_headers,
	.accept = gitlab_accept,
	.normalize = gitlab_normalize,
};
