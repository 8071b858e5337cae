#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>
#include <cmocka.h>

#include "engine/ingest.h"
#include "store/store.h"
#include "util/error.h"

#define THREADS 16
#define PER_THREAD 50

struct waiter {
	struct ingest_req req;
	char delivery[32];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;
};

static void on_done(struct ingest_req *req)
{
	struct waiter *w = req->ctx;
	pthread_mutex_lock(&w->lock);
	w->done = 1;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

struct worker {
	struct ingest *in;
	int index;
	int failures;
	int64_t ids[PER_THREAD];
};

static void *submitter(void *arg)
{
	struct worker *wk = arg;
	for (int i = 0; i < PER_THREAD; i++) {
		struct waiter w;
		memset(&w, 0, sizeof(w));
		pthread_mutex_init(&w.lock, NULL);
		pthread_cond_init(&w.cond, NULL);
		/* every other submission repeats an earlier delivery id */
		snprintf(w.delivery, sizeof(w.delivery), "d-%d-%d", wk->index, i / 2);
		w.req.ev.provider = "github";
		w.req.ev.route = "github";
		w.req.ev.delivery_id = w.delivery;
		w.req.ev.event_type = "push";
		w.req.ev.headers_json = "{}";
		w.req.ev.body = "{}";
		w.req.ev.body_len = 2;
		w.req.done = on_done;
		w.req.ctx = &w;
		if (ingest_submit(wk->in, &w.req) < 0) {
			wk->failures++;
			continue;
		}
		pthread_mutex_lock(&w.lock);
		while (!w.done)
			pthread_cond_wait(&w.cond, &w.lock);
		pthread_mutex_unlock(&w.lock);
		if (w.req.ev.result < 0 || w.req.ev.duplicate != (i % 2 == 1))
			wk->failures++;
		wk->ids[i] = w.req.ev.id;
		ingest_req_release(&w.req);
		pthread_mutex_destroy(&w.lock);
		pthread_cond_destroy(&w.cond);
	}
	return NULL;
}

static void concurrent_submissions_share_transactions_and_stay_exactly_once(void **state)
{
	(void)state;
	char dir[] = "/tmp/hookq-ingest-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[64];
	snprintf(path, sizeof(path), "%s/i.db", dir);
	struct store_options opts = { STORE_SYNC_FULL, 5000 };
	struct store *s;
	struct store_error err;
	assert_int_equal(store_open(path, &opts, &s, &err), 0);
	struct ingest *in;
	struct ingest_options iopt = { 64, 1024, 1, 5, NULL, NULL };
	assert_int_equal(ingest_start(s, &iopt, &in), 0);

	pthread_t th[THREADS];
	struct worker wk[THREADS];
	for (int t = 0; t < THREADS; t++) {
		memset(&wk[t], 0, sizeof(wk[t]));
		wk[t].in = in;
		wk[t].index = t;
		assert_int_equal(pthread_create(&th[t], NULL, submitter, &wk[t]), 0);
	}
	for (int t = 0; t < THREADS; t++) {
		pthread_join(th[t], NULL);
		assert_int_equal(wk[t].failures, 0);
		for (int i = 1; i < PER_THREAD; i += 2)
			assert_int_equal(wk[t].ids[i], wk[t].ids[i - 1]);
	}
	struct ingest_stats st;
	ingest_get_stats(in, &st);
	assert_int_equal(st.events, THREADS * PER_THREAD);
	/* Group commit: with 16 submitters, transactions hold several events. */
	assert_true(st.batches < st.events);

	struct store_event_counts c;
	assert_int_equal(store_count_events(s, &c, &err), 0);
	assert_int_equal(c.pending, THREADS * PER_THREAD / 2);
	assert_int_equal(c.duplicates, THREADS * PER_THREAD / 2);

	ingest_stop(in);
	store_close(s);
	unlink(path);
	rmdir(dir);
}

static void zero_batch_or_queue_is_refused(void **state)
{
	(void)state;
	struct ingest_options a = { 0, 1, 0, 5, NULL, NULL }, b = { 1, 0, 0, 5, NULL, NULL };
	assert_int_equal(ingest_start(NULL, &a, NULL), HQ_E_INVAL);
	assert_int_equal(ingest_start(NULL, &b, NULL), HQ_E_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(concurrent_submissions_share_transactions_and_stay_exactly_once),
		cmocka_unit_test(zero_batch_or_queue_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
