/* store: the only door to persistence. Callers see plain structs; which
 * backend holds the rows (SQLite today) is chosen by the database URL and
 * never leaks out of src/store/. Functions are safe to call from several
 * threads; writes are serialized inside the backend. */
#ifndef HOOKQ_STORE_STORE_H
#define HOOKQ_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

enum store_sync { STORE_SYNC_OFF, STORE_SYNC_NORMAL, STORE_SYNC_FULL, STORE_SYNC_EXTRA };

struct store_options {
	enum store_sync synchronous;
	uint64_t busy_timeout_ms;
};

#define STORE_ERROR_MAX 256
struct store_error {
	char msg[STORE_ERROR_MAX];
};

/* One webhook to store. The result fields are written by
 * store_insert_events(): id of the row, and whether it already existed. */
struct store_event_in {
	const char *provider;
	const char *route;
	const char *delivery_id;
	const char *event_type;
	const char *headers_json;
	const void *body;
	size_t body_len;
	const char *body_encoding; /* "zstd", or NULL for the bytes as received */
	int64_t received_at_ms;
	int max_attempts;

	int64_t id;
	bool duplicate;
	int result; /* 0, or the error that kept this one event out */
};

struct store_event_counts {
	int64_t pending, processing, completed, dead_letter;
	int64_t duplicates;
};

/* Opens (creating if needed) the database named by url and applies the
 * pending migrations. */
int store_open(const char *url, const struct store_options *opt, struct store **ret,
	       struct store_error *err);
void store_close(struct store *s);

/* Stores n events in one transaction (one fsync): a redelivery of a known
 * (provider, route, delivery_id) marks the event duplicate, counts it, and
 * yields the original id. When the transaction as a whole cannot commit,
 * every event gets the error; when one event is refused, the others still
 * commit. Returns 0 when every event was stored or found. */
int store_insert_events(struct store *s, struct store_event_in *evs, size_t n,
			struct store_error *err);

int store_count_events(struct store *s, struct store_event_counts *ret,
		       struct store_error *err);

/* The schema version the database is at. */
int store_schema_version(struct store *s, int *ret, struct store_error *err);

#endif
