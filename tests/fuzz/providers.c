/* Fuzz target: every provider's accept() (signature, timestamp, delivery
 * id, event type, Slack forms and JSON) and normalize(), as a webhook
 * would reach them. Input: one byte choosing the provider, one byte of
 * flags (bit 0: a secret is set), header lines "Name: value" up to an
 * empty line, then the body. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/event.h"
#include "core/form.h"
#include "providers/provider.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_HEADERS 16

struct headers {
	char *name[MAX_HEADERS], *value[MAX_HEADERS];
	size_t n;
};

static const char *lookup(void *ctx, const char *name)
{
	struct headers *h = ctx;
	for (size_t i = 0; i < h->n; i++)
		if (strcasecmp(h->name[i], name) == 0)
			return h->value[i];
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t count = 0;
	while (provider_all[count])
		count++;
	const struct provider *p = provider_all[data[0] % count];
	bool signed_ = data[1] & 1;
	/* Headers end at the first empty line; a copy gives them NULs. */
	char *text = malloc(size - 1);
	if (!text)
		return 0;
	memcpy(text, data + 2, size - 2);
	text[size - 2] = '\0';
	size_t len = size - 2;
	struct headers h = { .n = 0 };
	size_t pos = 0;
	while (pos < len && h.n < MAX_HEADERS) {
		char *line = text + pos;
		char *nl = memchr(line, '\n', len - pos);
		if (!nl)
			break;
		*nl = '\0';
		pos = (size_t)(nl - text) + 1;
		if (line == nl)
			break;
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		char *v = colon + 1;
		while (*v == ' ')
			v++;
		h.name[h.n] = line;
		h.value[h.n++] = v;
	}
	const char *body = text + pos;
	size_t body_len = len - pos;
	struct provider_settings s = {
		.secret = signed_ ? "whsec_ZnV6ei1zZWNyZXQ=" : NULL,
		.secret_len = signed_ ? 22 : 0,
		.tolerance_s = 300,
		.ack_text = "ok",
		.algorithm = (data[1] >> 1) % 3 == 0 ? CRYPTO_SHA1 : (data[1] >> 1) % 3 == 1 ? CRYPTO_SHA256 : CRYPTO_SHA512,
		.base64 = data[1] & 8,
		.signature_header = "X-Signature",
		.signature_prefix = data[1] & 16 ? "sha256=" : "",
		.token_header = data[1] & 32 ? "X-Token" : NULL,
		.delivery_header = data[1] & 64 ? "X-Delivery" : NULL,
		.delivery_json = data[1] & 64 ? NULL : "data.id",
		.event_header = NULL,
		.event_json = "type",
	};
	struct provider_request req = { lookup, &h, body, body_len, 1700000000 };
	struct provider_accept acc;
	memset(&acc, 0, sizeof(acc));
	int r = p->accept(&s, &req, &acc);
	if (r == 0 && (!provider_id_valid(acc.delivery_id) && acc.store))
		abort(); /* stored under an id that fails the rules */
	provider_accept_release(&acc);
	struct event_info info;
	char why[256];
	(void)p->normalize(r == 0 && acc.event_type[0] ? acc.event_type : "x", body, body_len,
			   &info, why, sizeof(why));
	char field[64];
	(void)form_get(body, body_len, "text", field, sizeof(field), NULL);
	free(text);
	return 0;
}
