#include "store/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "store/backend.h"
#include "util/error.h"

void store_error_set(struct store_error *err, const char *fmt, ...)
{
	if (!err)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		err->msg[0] = '\0';
}

int store_open(const char *url, const struct store_options *opt, struct store **ret,
	       struct store_error *err)
{
	if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0) {
		store_error_set(err, "PostgreSQL URLs are not supported by this build yet");
		return HQ_E_UNSUPPORTED;
	}
	const char *path = url;
	if (strncmp(url, "sqlite://", 9) == 0)
		path = url + 9;
	else if (strncmp(url, "sqlite:", 7) == 0)
		path = url + 7;
	if (!*path) {
		store_error_set(err, "empty database path");
		return HQ_E_INVAL;
	}
	return store_sqlite_open(path, opt, ret, err);
}

void store_close(struct store *s)
{
	if (s)
		s->ops->close(s);
}

int store_insert_events(struct store *s, struct store_event_in *evs, size_t n,
			struct store_error *err)
{
	return s->ops->insert_events(s, evs, n, err);
}

int store_count_events(struct store *s, struct store_event_counts *ret,
		       struct store_error *err)
{
	return s->ops->count_events(s, ret, err);
}

int store_schema_version(struct store *s, int *ret, struct store_error *err)
{
	return s->ops->schema_version(s, ret, err);
}
