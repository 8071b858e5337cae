#include "core/envelope.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/crypto.h"
#include "util/error.h"

void envelope_release(struct envelope *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->n_headers; i++) {
		free(e->names[i]);
		free(e->values[i]);
	}
	free(e->payload);
	memset(e, 0, sizeof(*e));
}

const char *envelope_header(const struct envelope *e, const char *name)
{
	for (size_t i = 0; i < e->n_headers; i++)
		if (strcasecmp(e->names[i], name) == 0)
			return e->values[i];
	return NULL;
}

const char *envelope_provider(const struct envelope *e)
{
	static const struct {
		const char *header, *provider;
	} marks[] = {
		{ "x-github-event", "github" },
		{ "x-gitlab-event", "gitlab" },
		{ "x-slack-signature", "slack" },
		{ "sentry-hook-resource", "sentry" },
		{ "x-atlassian-webhook-identifier", "jira" },
		{ "linear-delivery", "linear" },
		{ "stripe-signature", "stripe" },
		{ "webhook-id", "standard" },
		{ "x-hookq-provider", NULL }, /* named outright: below */
	};
	const char *named = envelope_header(e, "x-hookq-provider");
	if (named && *named)
		return named;
	for (size_t i = 0; i + 1 < sizeof(marks) / sizeof(marks[0]); i++)
		if (envelope_header(e, marks[i].header))
			return marks[i].provider;
	return NULL;
}

static int fail(char *err, size_t size, int code, const char *what)
{
	snprintf(err, size, "%s", what);
	return code;
}

/* Whether s (len bytes) is a JSON text (an object or an array). */
static bool json_text(const char *s, size_t len)
{
	size_t i = 0;
	while (i < len && isspace((unsigned char)s[i]))
		i++;
	if (i == len || (s[i] != '{' && s[i] != '['))
		return false;
	json_error_t jerr;
	json_t *v = json_loadb(s, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	json_decref(v);
	return v != NULL;
}

static int take_payload(const json_t *p, size_t max, struct envelope *e, char *err,
			size_t err_size)
{
	if (json_is_object(p) || json_is_array(p)) {
		char *text = json_dumps(p, JSON_COMPACT);
		if (!text)
			return HQ_E_NOMEM;
		size_t len = strlen(text);
		if (len > max) {
			free(text);
			return fail(err, err_size, HQ_E_TOOBIG, "the payload is too large");
		}
		e->payload = text;
		e->payload_len = len;
		e->raw = false;
		return 0;
	}
	if (!json_is_string(p))
		return fail(err, err_size, HQ_E_INVAL,
			    "'payload' must be a JSON object, a JSON text or base64");
	const char *s = json_string_value(p);
	size_t len = json_string_length(p);
	if (json_text(s, len)) {
		if (len > max)
			return fail(err, err_size, HQ_E_TOOBIG, "the payload is too large");
		e->payload = malloc(len + 1);
		if (!e->payload)
			return HQ_E_NOMEM;
		memcpy(e->payload, s, len);
		e->payload[len] = '\0';
		e->payload_len = len;
		e->raw = true;
		return 0;
	}
	/* Base64: the bytes as the provider sent them. Refused before
	 * decoding only when even with the most padding it decodes to more
	 * than max (len / 4 * 3 - 2 bytes at least). */
	size_t cap = len / 4 * 3 + 3;
	if (len / 4 * 3 > max + 2)
		return fail(err, err_size, HQ_E_TOOBIG, "the payload is too large");
	e->payload = malloc(cap + 1);
	if (!e->payload)
		return HQ_E_NOMEM;
	size_t out = 0;
	/* "": a webhook without a body (what the forwarder sends for one). */
	if (len > 0 && crypto_base64_decode(s, len, (uint8_t *)e->payload, cap, &out) < 0) {
		free(e->payload);
		e->payload = NULL;
		return fail(err, err_size, HQ_E_INVAL, "'payload' is neither JSON nor base64");
	}
	if (out > max) {
		free(e->payload);
		e->payload = NULL;
		return fail(err, err_size, HQ_E_TOOBIG, "the payload is too large");
	}
	e->payload[out] = '\0';
	e->payload_len = out;
	e->raw = true;
	return 0;
}

int envelope_parse(const char *body, size_t len, size_t max_payload, struct envelope *ret,
		   char *err, size_t err_size)
{
	struct envelope e;
	memset(&e, 0, sizeof(e));
	json_error_t jerr;
	/* "\u0000" is valid JSON, and a webhook body may hold it. */
	json_t *root = json_loadb(body, len, JSON_ALLOW_NUL, &jerr);
	if (!root) {
		snprintf(err, err_size, "the message is not JSON: line %d column %d: %.100s",
			 jerr.line, jerr.column, jerr.text);
		return HQ_E_INVAL;
	}
	int r = 0;
	const json_t *headers = json_object_get(root, "headers");
	const json_t *payload = json_object_get(root, "payload");
	if (!json_is_object(root)) {
		r = fail(err, err_size, HQ_E_INVAL, "the message must be a JSON object");
	} else if (headers && !json_is_object(headers)) {
		r = fail(err, err_size, HQ_E_INVAL, "'headers' must be an object of strings");
	} else if (!payload || json_is_null(payload)) {
		r = fail(err, err_size, HQ_E_INVAL, "the message has no 'payload'");
	}
	const char *key;
	const json_t *v;
	if (r == 0 && headers) {
		json_object_foreach((json_t *)(uintptr_t)headers, key, v) {
			if (!json_is_string(v) || json_string_length(v) > ENVELOPE_HEADER_MAX ||
			    strlen(json_string_value(v)) != json_string_length(v) || !*key ||
			    strlen(key) > 256) {
				r = fail(err, err_size, HQ_E_INVAL,
					 "'headers' must be an object of strings");
				break;
			}
			if (e.n_headers == ENVELOPE_HEADERS_MAX) {
				r = fail(err, err_size, HQ_E_INVAL, "too many headers");
				break;
			}
			char *name = strdup(key), *value = strdup(json_string_value(v));
			if (!name || !value) {
				free(name);
				free(value);
				r = HQ_E_NOMEM;
				break;
			}
			for (char *c = name; *c; c++)
				*c = (char)tolower((unsigned char)*c);
			e.names[e.n_headers] = name;
			e.values[e.n_headers++] = value;
		}
	}
	if (r == 0)
		r = take_payload(payload, max_payload, &e, err, err_size);
	json_decref(root);
	if (r < 0) {
		envelope_release(&e);
		return r;
	}
	*ret = e;
	return 0;
}

char *envelope_make(const char *const *names, const char *const *values, size_t n,
		    const char *body, size_t len)
{
	json_t *h = json_object();
	for (size_t i = 0; h && i < n; i++)
		json_object_set_new(h, names[i], json_string(values[i]));
	char *b64 = malloc(len / 3 * 4 + 8);
	if (!h || !b64) {
		json_decref(h);
		free(b64);
		return NULL;
	}
	crypto_base64_encode((const uint8_t *)body, len, b64);
	json_t *doc = json_pack("{s:o, s:s}", "headers", h, "payload", b64);
	free(b64);
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	return text;
}
