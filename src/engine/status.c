#include "engine/status.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

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

/* The nodes sharing the store: running ones with their heartbeat's age,
 * ended ones (stopped, or found dead and taken over) for a day. */
static int nodes_json(struct store *store, int64_t now_ms, json_t **ret,
		      struct store_error *err)
{
	struct store_node *v;
	size_t n;
	int r = store_nodes_list(store, &v, &n, err);
	if (r < 0)
		return r;
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++) {
		const struct store_node *x = &v[i];
		const char *state = !x->ended_by ? "running" :
				    strcmp(x->ended_by, x->id) == 0 ? "stopped" :
								      "dead";
		json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:s, s:I, s:f}", "id", x->id, "state",
				      state, "host", x->host, "pid", (json_int_t)x->pid, "version",
				      x->version, "started_at_ms", (json_int_t)x->started_at_ms,
				      "heartbeat_age_s",
				      (double)(now_ms - x->heartbeat_at_ms) / 1000.0);
		if (o && x->ended_by && strcmp(state, "dead") == 0)
			json_object_set_new(o, "taken_over_by", json_string(x->ended_by));
		if (!o || json_array_append_new(a, o) < 0) {
			json_decref(a);
			a = NULL;
		}
	}
	store_nodes_release(v, n);
	if (!a)
		return HQ_E_NOMEM;
	*ret = a;
	return 0;
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
	struct store_task_counts tc;
	if ((r = store_count_tasks(src->store, &tc, err)) < 0) {
		json_decref(events);
		json_decref(age);
		json_decref(ingest);
		json_decref(proc);
		return r;
	}
	json_t *tasks = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "queued",
				  (json_int_t)tc.queued, "running", (json_int_t)tc.running,
				  "succeeded", (json_int_t)tc.succeeded, "failed",
				  (json_int_t)tc.failed, "timed_out", (json_int_t)tc.timed_out,
				  "cancelled", (json_int_t)tc.cancelled, "dead_letter",
				  (json_int_t)tc.dead_letter);
	struct store_outbox_counts oc;
	if ((r = store_outbox_count(src->store, &oc, err)) < 0) {
		json_decref(events);
		json_decref(age);
		json_decref(ingest);
		json_decref(proc);
		json_decref(tasks);
		return r;
	}
	json_t *outbox = json_pack("{s:I, s:I, s:I, s:I}", "pending", (json_int_t)oc.pending,
				   "sending", (json_int_t)oc.sending, "sent", (json_int_t)oc.sent,
				   "dead", (json_int_t)oc.dead);
	json_t *nodes = NULL;
	if ((r = nodes_json(src->store, now_ms, &nodes, err)) < 0) {
		json_decref(events);
		json_decref(age);
		json_decref(ingest);
		json_decref(proc);
		json_decref(tasks);
		json_decref(outbox);
		return r;
	}
	json_t *pool = json_null();
	struct dispatcher_stats ds;
	size_t busy, total;
	if (src->pool && src->pool(NULL, &ds, &busy, &total) == 0) {
		pool = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "workers",
				 (json_int_t)total, "busy", (json_int_t)busy, "started",
				 (json_int_t)ds.started, "succeeded", (json_int_t)ds.succeeded,
				 "failed", (json_int_t)ds.failed, "timed_out",
				 (json_int_t)ds.timed_out, "cancelled", (json_int_t)ds.cancelled,
				 "retried", (json_int_t)ds.retried, "lost", (json_int_t)ds.lost,
				 "store_errors", (json_int_t)ds.store_errors);
	}
	json_t *uptime = src->started_ms ? json_integer((now_ms - src->started_ms) / 1000) :
					   json_null();
	json_t *doc = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
				"status", "ok", "version", src->version, "uptime_s", uptime,
				"events", events, "oldest_pending_age_s", age, "ingest", ingest,
				"processor", proc, "tasks", tasks, "outbox", outbox, "pool", pool,
				"nodes", nodes);
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (!text)
		return HQ_E_NOMEM;
	*ret = text;
	return 0;
}

/* Tasks and replies by state, and the worker pool's counters when it
 * runs. */
static int task_metrics(const struct status_sources *src, struct buf *out,
			struct store_error *err)
{
	struct store_task_counts tc;
	int r = store_count_tasks(src->store, &tc, err);
	if (r < 0)
		return r;
	r = buf_printf(out,
		       "# HELP hookq_tasks Tasks in the store by state.\n"
		       "# TYPE hookq_tasks gauge\n"
		       "hookq_tasks{status=\"queued\"} %lld\n"
		       "hookq_tasks{status=\"running\"} %lld\n"
		       "hookq_tasks{status=\"succeeded\"} %lld\n"
		       "hookq_tasks{status=\"failed\"} %lld\n"
		       "hookq_tasks{status=\"timed_out\"} %lld\n"
		       "hookq_tasks{status=\"cancelled\"} %lld\n"
		       "hookq_tasks{status=\"dead_letter\"} %lld\n",
		       (long long)tc.queued, (long long)tc.running, (long long)tc.succeeded,
		       (long long)tc.failed, (long long)tc.timed_out, (long long)tc.cancelled,
		       (long long)tc.dead_letter);
	struct store_outbox_counts oc;
	if (r == 0)
		r = store_outbox_count(src->store, &oc, err);
	if (r == 0)
		r = buf_printf(out,
			       "# HELP hookq_outbox Replies in the outbox by state.\n"
			       "# TYPE hookq_outbox gauge\n"
			       "hookq_outbox{status=\"pending\"} %lld\n"
			       "hookq_outbox{status=\"sending\"} %lld\n"
			       "hookq_outbox{status=\"sent\"} %lld\n"
			       "hookq_outbox{status=\"dead\"} %lld\n",
			       (long long)oc.pending, (long long)oc.sending, (long long)oc.sent,
			       (long long)oc.dead);
	struct dispatcher_stats ds;
	size_t busy, total;
	if (r < 0 || !src->pool || src->pool(NULL, &ds, &busy, &total) < 0)
		return r;
	r = buf_printf(out,
		       "# HELP hookq_workers Workers in the pool, and those running a task.\n"
		       "# TYPE hookq_workers gauge\n"
		       "hookq_workers{state=\"total\"} %zu\n"
		       "hookq_workers{state=\"busy\"} %zu\n"
		       "# HELP hookq_task_attempts_total Task attempts this node ended, by outcome.\n"
		       "# TYPE hookq_task_attempts_total counter\n"
		       "hookq_task_attempts_total{outcome=\"succeeded\"} %llu\n"
		       "hookq_task_attempts_total{outcome=\"failed\"} %llu\n"
		       "hookq_task_attempts_total{outcome=\"timed_out\"} %llu\n"
		       "hookq_task_attempts_total{outcome=\"cancelled\"} %llu\n"
		       "hookq_task_attempts_total{outcome=\"interrupted\"} %llu\n"
		       "hookq_task_attempts_total{outcome=\"dead_letter\"} %llu\n"
		       "# HELP hookq_tasks_lost_total Running tasks rescued after their lease expired.\n"
		       "# TYPE hookq_tasks_lost_total counter\n"
		       "hookq_tasks_lost_total %llu\n",
		       total, busy, (unsigned long long)ds.succeeded, (unsigned long long)ds.failed,
		       (unsigned long long)ds.timed_out, (unsigned long long)ds.cancelled,
		       (unsigned long long)ds.interrupted, (unsigned long long)ds.dead,
		       (unsigned long long)ds.lost);
	if (r == 0 && src->pool_latency)
		r = src->pool_latency(NULL, out);
	return r;
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
	if (r == 0)
		r = task_metrics(src, out, err);
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
