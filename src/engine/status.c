#include "engine/status.h"

#include <jansson.h>
#include <stdlib.h>

#include "util/error.h"

/* What both documents report from the store: counts by state and when
 * the oldest pending event arrived (INT64_MAX when none is pending). */
static int read_queue(const struct status_sources *src, struct store_event_counts *c,
		      int64_t *oldest, struct store_error *err)
{
	*oldest = INT64_MAX;
	int r = store_count_events(src->store, c, err);
	if (r == 0)
		r = store_oldest_pending(src->store, oldest, err);
	return r;
}

int status_render(const struct status_sources *src, int64_t now_ms, char **ret,
		  struct store_error *err)
{
	struct store_event_counts c;
	int64_t oldest;
	int r = read_queue(src, &c, &oldest, err);
	if (r < 0)
		return r;
	json_t *events = json_pack("{s:I, s:I, s:I, s:I, s:I}", "pending", (json_int_t)c.pending,
				   "processing", (json_int_t)c.processing, "completed",
				   (json_int_t)c.completed, "dead_letter", (json_int_t)c.dead_letter,
				   "duplicates", (json_int_t)c.duplicates);
	json_t *age = oldest == INT64_MAX ? json_null() :
					    json_real((double)(now_ms - oldest) / 1000.0);
	/* Without a running server (hookq status --db) there are no
	 * in-process counters: those parts are null. */
	json_t *ingest = json_null();
	if (src->ingest) {
		struct ingest_stats is;
		ingest_get_stats(src->ingest, &is);
		ingest = json_pack("{s:I, s:I, s:I}", "stored", (json_int_t)is.events,
				   "transactions", (json_int_t)is.batches, "failed_transactions",
				   (json_int_t)is.failures);
	}
	json_t *proc;
	if (src->processor) {
		struct processor_stats ps;
		processor_get_stats(src->processor, &ps);
		proc = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "state", "running",
				 "completed", (json_int_t)ps.completed, "retried",
				 (json_int_t)ps.retried, "dead_lettered", (json_int_t)ps.dead,
				 "reclaimed", (json_int_t)ps.reclaimed, "purged",
				 (json_int_t)ps.purged, "store_errors", (json_int_t)ps.store_errors);
	} else if (src->ingest) {
		proc = json_pack("{s:s}", "state", "disabled");
	} else {
		proc = json_null();
	}
	json_t *uptime = src->started_ms ? json_integer((now_ms - src->started_ms) / 1000) :
					   json_null();
	json_t *doc = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "status", "ok", "version",
				src->version, "uptime_s", uptime, "events", events,
				"oldest_pending_age_s", age, "ingest", ingest, "processor", proc);
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (!text)
		return HQ_E_NOMEM;
	*ret = text;
	return 0;
}

int status_metrics(const struct status_sources *src, int64_t now_ms, struct buf *out,
		   struct store_error *err)
{
	struct store_event_counts c;
	int64_t oldest;
	int r = read_queue(src, &c, &oldest, err);
	if (r < 0)
		return r;
	struct ingest_stats is;
	ingest_get_stats(src->ingest, &is);
	r = buf_printf(out,
		       "# HELP hookq_events Events in the store by state.\n"
		       "# TYPE hookq_events gauge\n"
		       "hookq_events{status=\"pending\"} %lld\n"
		       "hookq_events{status=\"processing\"} %lld\n"
		       "hookq_events{status=\"completed\"} %lld\n"
		       "hookq_events{status=\"dead_letter\"} %lld\n"
		       "# HELP hookq_event_duplicates Redeliveries counted on stored events.\n"
		       "# TYPE hookq_event_duplicates gauge\n"
		       "hookq_event_duplicates %lld\n"
		       "# HELP hookq_oldest_pending_age_seconds Age of the oldest pending event (0 when none).\n"
		       "# TYPE hookq_oldest_pending_age_seconds gauge\n"
		       "hookq_oldest_pending_age_seconds %.3f\n"
		       "# HELP hookq_store_transactions_total Webhook transactions (group commits) since start.\n"
		       "# TYPE hookq_store_transactions_total counter\n"
		       "hookq_store_transactions_total %llu\n"
		       "# HELP hookq_store_failed_transactions_total Webhook transactions that failed since start.\n"
		       "# TYPE hookq_store_failed_transactions_total counter\n"
		       "hookq_store_failed_transactions_total %llu\n",
		       (long long)c.pending, (long long)c.processing, (long long)c.completed,
		       (long long)c.dead_letter, (long long)c.duplicates,
		       oldest == INT64_MAX ? 0.0 : (double)(now_ms - oldest) / 1000.0,
		       (unsigned long long)is.batches, (unsigned long long)is.failures);
	if (r < 0 || !src->processor)
		return r;
	struct processor_stats ps;
	processor_get_stats(src->processor, &ps);
	r = buf_printf(out,
		       "# HELP hookq_events_processed_total Processing outcomes since start.\n"
		       "# TYPE hookq_events_processed_total counter\n"
		       "hookq_events_processed_total{outcome=\"completed\"} %llu\n"
		       "hookq_events_processed_total{outcome=\"retried\"} %llu\n"
		       "hookq_events_processed_total{outcome=\"dead_letter\"} %llu\n"
		       "# HELP hookq_events_reclaimed_total Events whose lease expired since start.\n"
		       "# TYPE hookq_events_reclaimed_total counter\n"
		       "hookq_events_reclaimed_total %llu\n"
		       "# HELP hookq_events_purged_total Completed events deleted by retention since start.\n"
		       "# TYPE hookq_events_purged_total counter\n"
		       "hookq_events_purged_total %llu\n",
		       (unsigned long long)ps.completed, (unsigned long long)ps.retried,
		       (unsigned long long)ps.dead, (unsigned long long)ps.reclaimed,
		       (unsigned long long)ps.purged);
	if (r == 0)
		r = histogram_render(processor_latency(src->processor),
				     "hookq_processing_latency_seconds",
				     "Time from receipt to completion of processed events.", out);
	return r;
}
