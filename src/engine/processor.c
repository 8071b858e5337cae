#include "engine/processor.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/crypto.h"
#include "util/error.h"
#include "util/log.h"

/* Outcome reasons are kept to this many bytes in last_error. */
#define WHY_MAX 512
/* Retention purges this many events per transaction, so a large purge
 * never holds the write lock for long. */
#define PURGE_BATCH 500

struct processor {
	struct store *store;
	struct processor_options opt;
	char *owner;

	pthread_mutex_t lock;
	pthread_cond_t wake;
	uint64_t generation; /* bumped by every wake */
	bool stopping;
	struct processor_stats stats;
	struct histogram latency;

	pthread_t *threads;
	unsigned started;
};

struct worker {
	struct processor *p;
	unsigned index;
	char owner[160]; /* node id and worker: a stalled worker's late
			    outcome never lands on a re-claimed event */
	uint64_t rnd; /* xorshift state for jitter */
};

static uint64_t next_random(struct worker *w)
{
	uint64_t x = w->rnd;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	w->rnd = x;
	return x;
}

static void count(struct processor *p, uint64_t *field, uint64_t n)
{
	pthread_mutex_lock(&p->lock);
	*field += n;
	pthread_mutex_unlock(&p->lock);
}

static void log_store_error(const char *what, const struct store_error *err)
{
	log_msg(HQ_LOG_ERROR, what, "error", err->msg, NULL);
}

/* Reclaims expired leases and purges old completed events. */
static void maintain(struct processor *p, int64_t now)
{
	struct store_error err;
	size_t n = 0;
	if (store_reclaim_expired(p->store, now, &n, &err) < 0) {
		log_store_error("cannot reclaim expired leases", &err);
		count(p, &p->stats.store_errors, 1);
	} else if (n > 0) {
		char c[24];
		snprintf(c, sizeof(c), "%zu", n);
		log_msg(HQ_LOG_WARN, "expired leases reclaimed", "events", c, NULL);
		count(p, &p->stats.reclaimed, n);
	}
	if (p->opt.retention_ms == 0)
		return;
	int64_t before = now - (int64_t)p->opt.retention_ms;
	size_t purged;
	do {
		purged = 0;
		if (store_purge_events(p->store, "completed", before, PURGE_BATCH, &purged, &err) < 0) {
			log_store_error("cannot purge completed events", &err);
			count(p, &p->stats.store_errors, 1);
			return;
		}
		count(p, &p->stats.purged, purged);
	} while (purged == PURGE_BATCH);
	/* Replies sent or dead as long ago go with them. */
	do {
		purged = 0;
		if (store_outbox_purge(p->store, before, PURGE_BATCH, &purged, &err) < 0) {
			log_store_error("cannot purge replies", &err);
			count(p, &p->stats.store_errors, 1);
			return;
		}
	} while (purged == PURGE_BATCH);
}

/* The tasks routing planned for ev, as the store takes them (pointing
 * into info, which outlives the outcome). */
static int tasks_in(const struct store_claimed *ev, struct event_info *info,
		    struct store_outcome *o)
{
	struct store_task_in *in = calloc(info->n_tasks, sizeof(*in));
	struct store_outbox_in *replies = calloc(info->n_tasks * 2 + 1, sizeof(*replies));
	if (!in || !replies) {
		free(in);
		free(replies);
		return HQ_E_NOMEM;
	}
	for (size_t i = 0; i < info->n_tasks; i++) {
		const struct event_task *t = &info->tasks[i];
		struct store_outbox_in *mine = replies + i * 2;
		for (size_t k = 0; k < t->n_replies && k < 2; k++)
			mine[k] = (struct store_outbox_in){ .name = t->replies[k].name,
							    .kind = t->replies[k].kind,
							    .target_json = t->replies[k].target_json,
							    .body_json = t->replies[k].body_json,
							    .max_attempts = t->replies[k].max_attempts };
		in[i] = (struct store_task_in){
			.origin = t->origin,
			.event_id = ev->id,
			.flow_id = t->flow_id,
			.external_id = t->external_id,
			.new_conversation = t->new_conversation,
			.route = t->route,
			.command = t->command,
			.agent = t->agent,
			.pool = t->test ? "ci" : "main",
			.project = t->project[0] ? t->project : NULL,
			.title = t->title,
			.prompt = t->prompt,
			.metadata_json = t->metadata_json,
			.priority = t->priority,
			.max_attempts = t->max_attempts,
			.outbox = mine,
			.n_outbox = t->n_replies < 2 ? t->n_replies : 2,
		};
	}
	o->tasks = in;
	o->n_tasks = info->n_tasks;
	o->replies = replies;
	return 0;
}

static void handle_one(struct worker *w, const struct store_claimed *ev,
		       struct store_outcome *o, struct event_info *info, char *why)
{
	struct processor *p = w->p;
	memset(o, 0, sizeof(*o));
	o->id = ev->id;
	why[0] = '\0';
	int r;
	if (!ev->body) {
		snprintf(why, WHY_MAX, "the stored body cannot be decoded or exceeds %zu bytes",
			 p->opt.max_body);
		r = HQ_E_INVAL;
	} else {
		r = p->opt.handle(p->opt.handle_ctx, ev, info, why, WHY_MAX);
	}
	char id[24], attempt[32];
	snprintf(id, sizeof(id), "%lld", (long long)ev->id);
	snprintf(attempt, sizeof(attempt), "%d/%d", ev->attempts, ev->max_attempts);
	if (r == 0) {
		o->kind = STORE_OUTCOME_DONE;
		o->action = info->action[0] ? info->action : NULL;
		o->repository = info->repository[0] ? info->repository : NULL;
		o->sender = info->sender[0] ? info->sender : NULL;
		o->routing = info->routing;
		if (info->n_tasks && tasks_in(ev, info, o) < 0) {
			/* Without memory for the tasks the event cannot be
			 * recorded as done: it comes back. */
			memset(o, 0, sizeof(*o));
			o->id = ev->id;
			snprintf(why, WHY_MAX, "out of memory for its tasks");
			o->kind = STORE_OUTCOME_RETRY;
			o->error = why;
			o->next_attempt_at_ms = clock_now_ms() + 1000;
			return;
		}
		log_msg(HQ_LOG_DEBUG, "event completed", "event_id", id, "type", info->type,
			"repository", info->repository, NULL);
		int64_t waited = clock_now_ms() - ev->received_at_ms;
		histogram_observe_us(&p->latency, waited > 0 ? (uint64_t)waited * 1000 : 0);
		return;
	}
	if (!why[0])
		snprintf(why, WHY_MAX, "%s", hq_strerror(r));
	o->error = why;
	if (r == HQ_E_RETRY && ev->attempts < ev->max_attempts) {
		uint64_t delay = backoff_delay_ms(&p->opt.backoff, (uint32_t)ev->attempts,
						  next_random(w));
		o->kind = STORE_OUTCOME_RETRY;
		o->next_attempt_at_ms = clock_now_ms() + (int64_t)delay;
		char in[24];
		snprintf(in, sizeof(in), "%llu", (unsigned long long)delay);
		log_msg(HQ_LOG_WARN, "event will be retried", "event_id", id, "attempt", attempt,
			"retry_in_ms", in, "error", why, NULL);
		return;
	}
	o->kind = STORE_OUTCOME_DEAD;
	log_msg(HQ_LOG_ERROR, "event dead-lettered", "event_id", id, "attempt", attempt,
		"permanent", r == HQ_E_RETRY ? "no" : "yes", "error", why, NULL);
}

/* Claims and processes one batch; returns how many events it claimed. */
static size_t process_batch(struct worker *w)
{
	struct processor *p = w->p;
	struct store_claim claim;
	struct store_error err;
	if (store_claim_events(p->store, w->owner, clock_now_ms(), (int64_t)p->opt.lease_ms,
			       p->opt.batch_max, p->opt.max_body, &claim, &err) < 0) {
		log_store_error("cannot claim events", &err);
		count(p, &p->stats.store_errors, 1);
		return 0;
	}
	if (claim.n == 0)
		return 0;

	struct store_outcome *out = calloc(claim.n, sizeof(*out));
	struct event_info *info = calloc(claim.n, sizeof(*info));
	char *why = calloc(claim.n, WHY_MAX);
	if (!out || !info || !why) {
		/* The leases expire and the events are reclaimed. */
		free(out);
		free(info);
		free(why);
		store_claim_release(&claim);
		return 0;
	}
	uint64_t done = 0, retried = 0, dead = 0, tasks = 0;
	for (size_t i = 0; i < claim.n; i++) {
		handle_one(w, &claim.events[i], &out[i], &info[i], why + i * WHY_MAX);
		done += out[i].kind == STORE_OUTCOME_DONE;
		retried += out[i].kind == STORE_OUTCOME_RETRY;
		dead += out[i].kind == STORE_OUTCOME_DEAD;
		tasks += out[i].n_tasks;
	}
	size_t n = claim.n;
	/* A store that fails (a database restarting) is tried again while
	 * the leases have time left, so a short outage does not make the
	 * events run again: from 100 ms doubling to 2 s, for half a lease,
	 * or once more when stopping. */
	int64_t give_up = clock_now_ms() + (int64_t)p->opt.lease_ms / 2;
	int r;
	for (uint32_t tries = 1;; tries++) {
		r = store_finish_events(p->store, w->owner, out, n, clock_now_ms(), NULL, &err);
		if (r == 0)
			break;
		log_store_error("cannot record outcomes", &err);
		count(p, &p->stats.store_errors, 1);
		pthread_mutex_lock(&p->lock);
		bool stop = p->stopping;
		pthread_mutex_unlock(&p->lock);
		/* Only an unreachable or busy store is worth waiting for. */
		uint64_t pause_ms = backoff_ceiling_ms(&BACKOFF_STORE_OUTAGE, tries);
		if (stop || (r != HQ_E_IO && r != HQ_E_BUSY) ||
		    clock_now_ms() + (int64_t)pause_ms >= give_up)
			break;
		clock_sleep_ms(pause_ms);
	}
	/* Nothing recorded (r < 0): the leases expire, the events come back. */
	if (r == 0) {
		pthread_mutex_lock(&p->lock);
		p->stats.completed += done;
		p->stats.retried += retried;
		p->stats.dead += dead;
		p->stats.tasks_created += tasks;
		pthread_mutex_unlock(&p->lock);
		if (tasks && p->opt.tasks_created)
			p->opt.tasks_created(p->opt.tasks_ctx);
	}
	for (size_t i = 0; i < claim.n; i++) {
		free(out[i].tasks);
		free(out[i].replies);
	}
	free(out);
	for (size_t i = 0; i < claim.n; i++)
		event_info_release(&info[i]);
	free(info);
	free(why);
	store_claim_release(&claim);
	return n;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct processor *p = w->p;
	char name[16];
	snprintf(name, sizeof(name), "hq-process-%u", w->index);
	pthread_setname_np(pthread_self(), name);
	/* Background work: when CPUs are short, acknowledging webhooks
	 * (HTTP threads, committer) goes first. */
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), 5);

	/* Maintenance runs on worker 0 only, at least twice per lease. */
	uint64_t every = p->opt.lease_ms / 2 < p->opt.poll_ms ? p->opt.lease_ms / 2 :
								p->opt.poll_ms;
	int64_t next_maintenance = 0;
	for (;;) {
		pthread_mutex_lock(&p->lock);
		bool stop = p->stopping;
		uint64_t seen = p->generation;
		pthread_mutex_unlock(&p->lock);
		if (stop)
			break;

		if (w->index == 0 && clock_now_ms() >= next_maintenance) {
			maintain(p, clock_now_ms());
			next_maintenance = clock_now_ms() + (int64_t)(every ? every : 1);
		}
		if (process_batch(w) > 0)
			continue;

		/* Nothing due: sleep until a wake, the next pending event's due
		 * time (a retry), or the poll interval, unless a wake came while
		 * this batch was being claimed. */
		int64_t now = clock_now_ms();
		int64_t wake_at = now + (int64_t)p->opt.poll_ms;
		int64_t due = INT64_MAX;
		struct store_error err;
		if (store_next_due(p->store, &due, &err) == 0 && due < wake_at)
			wake_at = due;
		if (w->index == 0 && next_maintenance < wake_at)
			wake_at = next_maintenance;
		/* Never spin: a due event the claim did not get (a store error,
		 * another worker) is looked at again shortly. */
		if (wake_at < now + 10)
			wake_at = now + 10;
		struct timespec until = { (time_t)(wake_at / 1000),
					  (long)(wake_at % 1000) * 1000000L };
		pthread_mutex_lock(&p->lock);
		while (!p->stopping && p->generation == seen) {
			if (pthread_cond_timedwait(&p->wake, &p->lock, &until) != 0)
				break;
		}
		pthread_mutex_unlock(&p->lock);
	}
	free(w);
	return NULL;
}

void processor_wake(struct processor *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->generation++;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
}

static void processor_free(struct processor *p)
{
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->wake);
	free(p->threads);
	free(p->owner);
	free(p);
}

void processor_stop(struct processor *p, struct processor_stats *stats)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->started; i++)
		pthread_join(p->threads[i], NULL);
	if (stats)
		*stats = p->stats;
	processor_free(p);
}

int processor_start(struct store *store, const struct processor_options *opt,
		    struct processor **ret)
{
	if (!opt->handle || opt->batch_max == 0 || opt->concurrency == 0 || opt->lease_ms == 0 ||
	    opt->poll_ms == 0)
		return HQ_E_INVAL;
	struct processor *p = calloc(1, sizeof(*p));
	if (!p)
		return HQ_E_NOMEM;
	p->store = store;
	p->opt = *opt;
	histogram_init(&p->latency);
	p->owner = strdup(opt->owner ? opt->owner : "hookq");
	p->threads = calloc(opt->concurrency, sizeof(*p->threads));
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->wake, NULL);
	if (!p->owner || !p->threads) {
		processor_free(p);
		return HQ_E_NOMEM;
	}
	for (unsigned i = 0; i < opt->concurrency; i++) {
		struct worker *w = calloc(1, sizeof(*w));
		if (!w)
			goto out_stop;
		w->p = p;
		w->index = i;
		snprintf(w->owner, sizeof(w->owner), "%.140s/w%u", p->owner, i);
		if (crypto_random(&w->rnd, sizeof(w->rnd)) < 0 || w->rnd == 0)
			w->rnd = 0x9e3779b97f4a7c15ull + i;
		if (pthread_create(&p->threads[i], NULL, worker_main, w) != 0) {
			free(w);
			goto out_stop;
		}
		p->started++;
	}
	*ret = p;
	return 0;

out_stop:
	processor_stop(p, NULL);
	return HQ_E_SYSTEM;
}

void processor_get_stats(struct processor *p, struct processor_stats *ret)
{
	pthread_mutex_lock(&p->lock);
	*ret = p->stats;
	pthread_mutex_unlock(&p->lock);
}

const struct histogram *processor_latency(struct processor *p)
{
	return &p->latency;
}
