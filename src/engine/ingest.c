#include "engine/ingest.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/log.h"
#include "util/zstd.h"

/* Smaller bodies are stored as they are: compression would not pay. */
#define COMPRESS_MIN 256

struct ingest {
	struct store *store;
	size_t batch_max;
	size_t queue_max;
	int zstd_level;
	int max_attempts;
	void (*on_commit)(void *ctx);
	void *on_commit_ctx;

	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct ingest_req *head, *tail;
	size_t queued;
	bool stopping;
	pthread_t thread;

	struct store_event_in *batch; /* batch_max slots, reused */
	struct ingest_req **reqs;
	struct ingest_stats stats;
};

static void ingest_commit(struct ingest *in, struct ingest_req *list, size_t n)
{
	size_t i = 0;
	for (struct ingest_req *r = list; r; r = r->next)
		in->reqs[i++] = r;
	for (i = 0; i < n; i++)
		in->batch[i] = in->reqs[i]->ev;

	struct store_error err;
	err.msg[0] = '\0';
	int r = store_insert_events(in->store, in->batch, n, &err);
	if (r < 0) {
		char count[32];
		snprintf(count, sizeof(count), "%zu", n);
		log_msg(HQ_LOG_ERROR, "cannot store webhooks", "events", count, "error",
			err.msg, NULL);
	}

	pthread_mutex_lock(&in->lock);
	in->stats.batches++;
	in->stats.events += n;
	if (r < 0)
		in->stats.failures++;
	pthread_mutex_unlock(&in->lock);

	bool fresh = false;
	for (i = 0; i < n; i++)
		fresh |= in->batch[i].result == 0 && !in->batch[i].duplicate;
	if (fresh && in->on_commit)
		in->on_commit(in->on_commit_ctx);

	for (i = 0; i < n; i++) {
		struct ingest_req *req = in->reqs[i];
		req->ev.id = in->batch[i].id;
		req->ev.duplicate = in->batch[i].duplicate;
		req->ev.result = in->batch[i].result;
		req->next = NULL;
		req->done(req);
	}
}

static void *ingest_main(void *arg)
{
	struct ingest *in = arg;
	pthread_setname_np(pthread_self(), "hq-commit");
	pthread_mutex_lock(&in->lock);
	for (;;) {
		while (!in->head && !in->stopping)
			pthread_cond_wait(&in->wake, &in->lock);
		if (!in->head && in->stopping)
			break;
		/* Take everything that queued while the last commit ran, up to
		 * batch_max: that is the group in group commit. */
		struct ingest_req *list = in->head, *last = in->head;
		size_t n = 1;
		while (last->next && n < in->batch_max) {
			last = last->next;
			n++;
		}
		in->head = last->next;
		if (!in->head)
			in->tail = NULL;
		last->next = NULL;
		in->queued -= n;
		pthread_mutex_unlock(&in->lock);

		ingest_commit(in, list, n);

		pthread_mutex_lock(&in->lock);
	}
	pthread_mutex_unlock(&in->lock);
	return NULL;
}

int ingest_start(struct store *store, const struct ingest_options *opt,
		 struct ingest **ret)
{
	if (opt->batch_max == 0 || opt->queue_max == 0)
		return HQ_E_INVAL;
	struct ingest *in = calloc(1, sizeof(*in));
	if (!in)
		return HQ_E_NOMEM;
	in->store = store;
	in->batch_max = opt->batch_max;
	in->queue_max = opt->queue_max;
	in->zstd_level = opt->zstd_level;
	in->max_attempts = opt->max_attempts;
	in->on_commit = opt->on_commit;
	in->on_commit_ctx = opt->on_commit_ctx;
	in->batch = calloc(in->batch_max, sizeof(*in->batch));
	in->reqs = calloc(in->batch_max, sizeof(*in->reqs));
	if (!in->batch || !in->reqs)
		goto out_free;
	pthread_mutex_init(&in->lock, NULL);
	pthread_cond_init(&in->wake, NULL);
	if (pthread_create(&in->thread, NULL, ingest_main, in) != 0) {
		pthread_mutex_destroy(&in->lock);
		pthread_cond_destroy(&in->wake);
		goto out_free;
	}
	*ret = in;
	return 0;

out_free:
	free(in->batch);
	free(in->reqs);
	free(in);
	return HQ_E_NOMEM;
}

void ingest_req_release(struct ingest_req *req)
{
	if (req)
		buf_release(&req->packed);
}

int ingest_submit(struct ingest *in, struct ingest_req *req)
{
	req->next = NULL;
	if (req->ev.max_attempts <= 0)
		req->ev.max_attempts = in->max_attempts;
	if (in->zstd_level > 0 && req->ev.body_len >= COMPRESS_MIN && !req->ev.body_encoding) {
		buf_init(&req->packed, req->ev.body_len);
		if (zstd_compress(req->ev.body, req->ev.body_len, in->zstd_level,
				  &req->packed) == 0) {
			req->ev.body = req->packed.data;
			req->ev.body_len = req->packed.len;
			req->ev.body_encoding = "zstd";
		}
	}
	pthread_mutex_lock(&in->lock);
	if (in->stopping) {
		pthread_mutex_unlock(&in->lock);
		return HQ_E_SHUTDOWN;
	}
	if (in->queued >= in->queue_max) {
		pthread_mutex_unlock(&in->lock);
		return HQ_E_OVERLOAD;
	}
	if (in->tail)
		in->tail->next = req;
	else
		in->head = req;
	in->tail = req;
	in->queued++;
	pthread_cond_signal(&in->wake);
	pthread_mutex_unlock(&in->lock);
	return 0;
}

void ingest_stop(struct ingest *in)
{
	if (!in)
		return;
	pthread_mutex_lock(&in->lock);
	in->stopping = true;
	pthread_cond_signal(&in->wake);
	pthread_mutex_unlock(&in->lock);
	pthread_join(in->thread, NULL);
	pthread_mutex_destroy(&in->lock);
	pthread_cond_destroy(&in->wake);
	free(in->batch);
	free(in->reqs);
	free(in);
}

void ingest_get_stats(struct ingest *in, struct ingest_stats *ret)
{
	pthread_mutex_lock(&in->lock);
	*ret = in->stats;
	pthread_mutex_unlock(&in->lock);
}
