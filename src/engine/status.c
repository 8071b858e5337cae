#include "engine/status.h"

#include <jansson.h>
#include <stdlib.h>

#include "util/error.h"

int status_render(const struct status_sources *src, int64_t now_ms, char **ret,
		  struct store_error *err)
{
	struct store_event_counts c;
	int64_t oldest = INT64_MAX;
	int r = store_count_events(src->store, &c, err);
	if (r == 0)
		r = store_oldest_pending(src->store, &oldest, err);
	if (r < 0)
		return r;
	json_t *events = json_pack("{s:I, s:I, s:I, s:I, s:I}", "pending", (json_int_t)c.pending,
				   "processing", (json_int_t)c.processing, "completed",
				   (json_int_t)c.completed, "dead_letter", (json_int_t)c.dead_letter,
				   "duplicates", (json_int_t)c.duplicates);
	json_t *age = oldest == INT64_MAX ? json_null() :
					    json_real((double)(now_ms - oldest) / 1000.0);
	struct ingest_stats is;
	ingest_get_stats(src->ingest, &is);
	json_t *ingest = json_pack("{s:I, s:I, s:I}", "stored", (json_int_t)is.events,
				   "transactions", (json_int_t)is.batches, "failed_transactions",
				   (json_int_t)is.failures);
	json_t *proc;
	if (src->processor) {
		struct processor_stats ps;
		processor_get_stats(src->processor, &ps);
		proc = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "state", "running",
				 "completed", (json_int_t)ps.completed, "retried",
				 (json_int_t)ps.retried, "dead_lettered", (json_int_t)ps.dead,
				 "reclaimed", (json_int_t)ps.reclaimed, "purged",
				 (json_int_t)ps.purged, "store_errors", (json_int_t)ps.store_errors);
	} else {
		proc = json_pack("{s:s}", "state", "disabled");
	}
	json_t *doc = json_pack("{s:s, s:s, s:I, s:o, s:o, s:o, s:o}", "status", "ok", "version",
				src->version, "uptime_s",
				(json_int_t)((now_ms - src->started_ms) / 1000), "events", events,
				"oldest_pending_age_s", age, "ingest", ingest, "processor", proc);
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (!text)
		return HQ_E_NOMEM;
	*ret = text;
	return 0;
}
