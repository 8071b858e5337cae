#include "clients/jira.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/crypto.h"
#include "util/error.h"
#include "util/parse.h"

#define JIRA_ANSWER_MAX (256 * 1024)
#define JIRA_URL_MAX 2048
#define JIRA_KEY_MAX 255
#define JIRA_CREDENTIAL_MAX 1024

bool jira_issue_key_ok(const char *key)
{
	if (!key || strlen(key) > JIRA_KEY_MAX || !(key[0] >= 'A' && key[0] <= 'Z'))
		return false;
	size_t i = 1, project = 0;
	for (; (key[i] >= 'A' && key[i] <= 'Z') || (key[i] >= '0' && key[i] <= '9') ||
	       key[i] == '_';
	     i++)
		project++;
	if (project == 0 || key[i] != '-')
		return false;
	i++;
	size_t digits = 0;
	for (; key[i] >= '0' && key[i] <= '9'; i++)
		digits++;
	return digits > 0 && key[i] == '\0';
}

/* Jira's reasons: "errorMessages" and the values of "errors", joined. */
static void jira_message(const struct http_response *h, char *out, size_t size)
{
	char text[512] = "";
	size_t n = 0;
	json_t *doc = json_loadb(h->body, h->body_len, 0, NULL);
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(doc, "errorMessages"), i, v) {
		const char *s = json_string_value(v);
		if (s && n < sizeof(text)) {
			int k = snprintf(text + n, sizeof(text) - n, "%s%s", n ? "; " : "", s);
			n = k < 0 ? sizeof(text) : n + (size_t)k;
		}
	}
	const char *field;
	json_object_foreach(json_object_get(doc, "errors"), field, v) {
		const char *s = json_string_value(v);
		if (s && n < sizeof(text)) {
			int k = snprintf(text + n, sizeof(text) - n, "%s%s: %s", n ? "; " : "", field,
					 s);
			n = k < 0 ? sizeof(text) : n + (size_t)k;
		}
	}
	json_decref(doc);
	if (text[0])
		client_text(out, size, text, strlen(text));
	else if (h->body_len && h->body[0] != '<') /* not an HTML error page */
		client_text(out, size, h->body, h->body_len);
	else
		snprintf(out, size, "no reason");
}

/* "Authorization: Basic base64(email:token)", wiped by the caller. */
static char *jira_basic(const char *email, const char *api_token)
{
	size_t el = strlen(email), tl = strlen(api_token);
	size_t plain_len = el + 1 + tl;
	char *plain = malloc(plain_len + 1);
	size_t enc_len = 4 * ((plain_len + 2) / 3);
	size_t hlen = strlen("Authorization: Basic ") + enc_len + 1;
	char *header = malloc(hlen);
	if (!plain || !header) {
		free(plain);
		free(header);
		return NULL;
	}
	memcpy(plain, email, el);
	plain[el] = ':';
	memcpy(plain + el + 1, api_token, tl);
	plain[plain_len] = '\0';
	memcpy(header, "Authorization: Basic ", strlen("Authorization: Basic "));
	crypto_base64_encode((const uint8_t *)plain, plain_len,
			     header + strlen("Authorization: Basic "));
	crypto_cleanse(plain, plain_len);
	free(plain);
	return header;
}

static bool jira_credential_ok(const char *s)
{
	return s && *s && strlen(s) <= JIRA_CREDENTIAL_MAX && !strpbrk(s, "\r\n");
}

int jira_add_comment(const char *base_url, const char *email, const char *api_token,
		     const char *issue_key, const char *text, long timeout_ms,
		     struct client_result *ret)
{
	if (!ret)
		return HQ_E_INVAL;
	client_result_init(ret);
	if (!jira_issue_key_ok(issue_key)) {
		client_result_set(ret, CLIENT_FAILED, 0, "jira comment: not an issue key");
		return 0;
	}
	/* The email goes before a ':' in Basic credentials: it cannot hold one. */
	if (!base_url || strlen(base_url) > JIRA_URL_MAX || !jira_credential_ok(email) ||
	    strchr(email, ':') || !jira_credential_ok(api_token) || !text) {
		client_result_set(ret, CLIENT_FAILED, 0,
				  "jira comment: no base URL, email, API token or text");
		return 0;
	}
	char url[JIRA_URL_MAX + JIRA_KEY_MAX + 64];
	size_t len = strlen(base_url);
	while (len > 0 && base_url[len - 1] == '/')
		len--;
	snprintf(url, sizeof(url), "%.*s/rest/api/2/issue/%s/comment", (int)len, base_url,
		 issue_key);
	json_t *doc = json_object();
	char *body = NULL;
	if (json_object_set_new(doc, "body", client_json_text(text)) == 0)
		body = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	char *auth = body ? jira_basic(email, api_token) : NULL;
	if (!auth) {
		free(body);
		client_result_set(ret, CLIENT_RETRY, 0, "jira comment: out of memory");
		return 0;
	}
	const char *headers[] = { "Accept: application/json",
				  "Content-Type: application/json", auth, NULL };
	struct http_response h;
	int r = http_request("POST", url, headers, body, strlen(body), timeout_ms,
			     JIRA_ANSWER_MAX, &h);
	crypto_cleanse(auth, strlen(auth));
	free(auth);
	if (client_result_http(ret, r, &h, true, "jira comment")) {
		client_result_status(ret, &h, clock_now_ms(), true);
		if (ret->outcome == CLIENT_OK) {
			json_t *answer = json_loadb(h.body, h.body_len, 0, NULL);
			uint64_t id;
			const char *s = json_string_value(json_object_get(answer, "id"));
			if (s && parse_u64(s, 1, INT64_MAX, &id) == 0)
				ret->id = (int64_t)id;
			json_decref(answer);
		} else {
			char msg[200];
			jira_message(&h, msg, sizeof(msg));
			snprintf(ret->error, sizeof(ret->error), "jira comment: Jira answered %ld: %s",
				 h.status, msg);
		}
	}
	client_result_redact(ret, api_token);
	http_response_release(&h);
	free(body);
	return 0;
}
