/* nodes: heartbeats and the rescue of dead nodes (see nodes.h). */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/nodes.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"

struct nodes {
	struct store *store;
	struct nodes_options opt;
	char *id, *host, *version;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stopping;
	/* A store error was logged: the next one is not, until a beat
	 * succeeds again (a database down for minutes logs once). */
	bool failing;
	/* Since when beats succeed without a failure in between. After a
	 * failure (the database was out of reach, for the other nodes too,
	 * most likely), nobody is found dead before this node has beaten
	 * for a whole timeout plus STORE_RECOVERY_SLACK_MS: the others get
	 * the time to reconnect (their backoff may still be running when
	 * this node is through) and to beat again. */
	int64_t beating_since;
	struct nodes_stats stats;
};

static int beat(struct nodes *n, int64_t now, struct store_error *err)
{
	struct store_node self = { .id = n->id, .host = n->host, .version = n->version,
				   .pid = n->opt.pid };
	bool rescued = false;
	int r = store_node_beat(n->store, &self, now, &rescued, err);
	if (r == 0 && rescued)
		log_msg(HQ_LOG_WARN,
			"this node was silent for longer than the node timeout and another node "
			"took its work over (its leases ended; what it finishes now is not recorded)",
			"node", n->id, NULL);
	return r;
}

static void rescue(struct nodes *n, int64_t now)
{
	struct store_error err;
	char **ids = NULL;
	size_t count = 0;
	if (store_nodes_rescue(n->store, n->id, now, (int64_t)n->opt.timeout_ms, &ids, &count,
			       &err) < 0) {
		log_msg(HQ_LOG_ERROR, "cannot look for dead nodes", "error", err.msg, NULL);
		n->stats.store_errors++;
		return;
	}
	char timeout[24];
	snprintf(timeout, sizeof(timeout), "%llu", (unsigned long long)n->opt.timeout_ms);
	for (size_t i = 0; i < count; i++)
		log_msg(HQ_LOG_WARN, "node found dead: its work is taken over", "dead_node", ids[i],
			"silent_for_more_than_ms", timeout, NULL);
	store_strings_release(ids, count);
	if (!count)
		return;
	n->stats.rescued += count;
	/* The dead node's leases ended now: reclaim them now. */
	size_t got;
	if (store_reclaim_expired(n->store, now, &got, &err) < 0 ||
	    store_outbox_reclaim(n->store, now, &got, &err) < 0) {
		log_msg(HQ_LOG_ERROR, "cannot reclaim a dead node's work", "error", err.msg, NULL);
		n->stats.store_errors++;
	}
	if (n->opt.rescued)
		n->opt.rescued(n->opt.rescued_ctx);
}

static void *nodes_main(void *arg)
{
	struct nodes *n = arg;
	pthread_setname_np(pthread_self(), "hq-nodes");
	uint64_t every = n->opt.timeout_ms / 3;
	for (;;) {
		/* A failed beat is tried again sooner: a node must not look
		 * dead to the others for a hiccup. */
		uint64_t wait = n->failing && every > STORE_RETRY_AFTER_FAILURE_MS
					? STORE_RETRY_AFTER_FAILURE_MS
					: every;
		int64_t wake_at = clock_now_ms() + (int64_t)wait;
		struct timespec until = { (time_t)(wake_at / 1000),
					  (long)(wake_at % 1000) * 1000000L };
		pthread_mutex_lock(&n->lock);
		while (!n->stopping && pthread_cond_timedwait(&n->wake, &n->lock, &until) == 0)
			;
		bool stop = n->stopping;
		pthread_mutex_unlock(&n->lock);
		if (stop)
			break;
		int64_t now = clock_now_ms();
		struct store_error err;
		if (beat(n, now, &err) < 0) {
			n->stats.store_errors++;
			if (!n->failing)
				log_msg(HQ_LOG_ERROR, "cannot record this node's heartbeat", "error",
					err.msg, NULL);
			n->failing = true;
			n->beating_since = 0;
			continue;
		}
		if (n->failing)
			log_msg(HQ_LOG_INFO, "this node's heartbeat is recorded again", NULL);
		n->failing = false;
		if (!n->beating_since)
			n->beating_since = now + STORE_RECOVERY_SLACK_MS;
		n->stats.beats++;
		if (now - n->beating_since >= (int64_t)n->opt.timeout_ms)
			rescue(n, now);
	}
	return NULL;
}

static void nodes_free(struct nodes *n)
{
	pthread_mutex_destroy(&n->lock);
	pthread_cond_destroy(&n->wake);
	free(n->id);
	free(n->host);
	free(n->version);
	free(n);
}

int nodes_start(struct store *store, const struct nodes_options *opt, struct nodes **ret,
		struct store_error *err)
{
	struct nodes *n = calloc(1, sizeof(*n));
	if (!n)
		return HQ_E_NOMEM;
	n->store = store;
	n->opt = *opt;
	pthread_mutex_init(&n->lock, NULL);
	pthread_cond_init(&n->wake, NULL);
	n->id = strdup(opt->id);
	n->host = strdup(opt->host);
	n->version = strdup(opt->version);
	int r = HQ_E_NOMEM;
	if (!n->id || !n->host || !n->version)
		goto fail;
	if (opt->timeout_ms < 3) {
		snprintf(err->msg, sizeof(err->msg), "node timeout of %llu ms is too short",
			 (unsigned long long)opt->timeout_ms);
		r = HQ_E_INVAL;
		goto fail;
	}
	int64_t now = clock_now_ms();
	if ((r = beat(n, now, err)) < 0)
		goto fail;
	n->stats.beats++;
	/* A node starting finds the dead at its first look. */
	n->beating_since = now - (int64_t)opt->timeout_ms;
	if (pthread_create(&n->thread, NULL, nodes_main, n) != 0) {
		r = HQ_E_NOMEM;
		goto fail;
	}
	*ret = n;
	return 0;
fail:
	if (r == HQ_E_NOMEM)
		snprintf(err->msg, sizeof(err->msg), "out of memory");
	nodes_free(n);
	return r;
}

void nodes_stop(struct nodes *n, struct nodes_stats *stats)
{
	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	n->stopping = true;
	pthread_cond_signal(&n->wake);
	pthread_mutex_unlock(&n->lock);
	pthread_join(n->thread, NULL);
	struct store_error err;
	if (store_node_stop(n->store, n->id, clock_now_ms(), &err) < 0)
		log_msg(HQ_LOG_WARN, "cannot record this node's stop (others will find it dead)",
			"error", err.msg, NULL);
	if (stats)
		*stats = n->stats;
	nodes_free(n);
}
