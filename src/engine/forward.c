#include "engine/forward.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients/sqs.h"
#include "core/envelope.h"
#include "util/clock.h"
#include "util/crypto.h"
#include "util/error.h"
#include "util/log.h"

struct forward {
	struct forward_options opt;
	pthread_mutex_t lock;
	pthread_cond_t more;
	struct ingest_req *head, *tail;
	size_t queued;
	bool stopping;
	int64_t deadline_ms; /* stopping: what is not sent by then is refused */
	struct forward_stats stats;
	pthread_t *threads;
	unsigned started;
	bool fifo;
};

/* The envelope of req: its stored headers, the provider named outright,
 * the body as base64. */
static char *envelope_of(const struct ingest_req *req)
{
	const struct store_event_in *ev = &req->ev;
	json_t *h = json_loads(ev->headers_json ? ev->headers_json : "{}", 0, NULL);
	const char *names[ENVELOPE_HEADERS_MAX + 2];
	const char *values[ENVELOPE_HEADERS_MAX + 2];
	size_t n = 0;
	const char *key;
	json_t *v;
	json_object_foreach(h, key, v) {
		if (n + 2 < ENVELOPE_HEADERS_MAX && json_is_string(v)) {
			names[n] = key;
			values[n++] = json_string_value(v);
		}
	}
	names[n] = "X-Hookq-Provider";
	values[n++] = ev->provider;
	if (ev->route && strcmp(ev->route, ev->provider) != 0) {
		/* A route's own endpoint: the worker stores it under that route. */
		names[n] = "X-Hookq-Route";
		values[n++] = ev->route;
	}
	char *text = envelope_make(names, values, n, ev->body, ev->body_len);
	json_decref(h);
	return text;
}

/* A FIFO queue deduplicates on the whole queue, and ids may be longer than
 * its 128 characters: the key is the hex SHA-256 of provider, route and
 * delivery id, as unique as the store's own key. */
static void fifo_key(const struct store_event_in *ev, char out[2 * CRYPTO_SHA256_LEN + 1])
{
	char text[512];
	int n = snprintf(text, sizeof(text), "%s%c%s%c%s", ev->provider, 0,
			 ev->route ? ev->route : "", 0, ev->delivery_id);
	uint8_t sum[CRYPTO_SHA256_LEN];
	(void)crypto_sha256(text, n > 0 && (size_t)n < sizeof(text) ? (size_t)n : 0, sum);
	for (size_t i = 0; i < sizeof(sum); i++)
		snprintf(out + 2 * i, 3, "%02x", sum[i]);
}

static void send_one(struct forward *f, struct ingest_req *req)
{
	char *msg = envelope_of(req);
	struct client_result res;
	client_result_init(&res);
	if (!msg) {
		client_result_set(&res, CLIENT_RETRY, 0, "out of memory");
	} else {
		char id[SQS_MESSAGE_ID_MAX + 1] = "";
		char key[2 * CRYPTO_SHA256_LEN + 1];
		if (f->fifo)
			fifo_key(&req->ev, key);
		/* FIFO: SQS drops a second message with the same key within
		 * 5 minutes (a redelivery); every message its own group, so
		 * one stuck message holds back no other. */
		sqs_send(f->opt.client, f->opt.queue_url, msg, strlen(msg), f->fifo ? key : NULL,
			 f->fifo ? key : NULL, id, &res);
	}
	free(msg);
	req->ev.id = 0;
	req->ev.duplicate = false;
	req->ev.result = res.outcome == CLIENT_OK ? 0 : HQ_E_IO;
	pthread_mutex_lock(&f->lock);
	if (res.outcome == CLIENT_OK)
		f->stats.forwarded++;
	else
		f->stats.failed++;
	pthread_mutex_unlock(&f->lock);
	if (res.outcome != CLIENT_OK)
		log_msg(HQ_LOG_ERROR, "the queue did not take a webhook", "delivery_id",
			req->ev.delivery_id, "error", res.error, NULL);
	req->done(req);
}

static void *sender_main(void *arg)
{
	struct forward *f = arg;
	pthread_setname_np(pthread_self(), "hq-forward");
	pthread_mutex_lock(&f->lock);
	for (;;) {
		while (!f->head && !f->stopping)
			pthread_cond_wait(&f->more, &f->lock);
		struct ingest_req *req = f->head;
		if (!req)
			break; /* stopping, nothing left */
		f->head = req->next;
		if (!f->head)
			f->tail = NULL;
		f->queued--;
		bool late = f->stopping && clock_now_ms() >= f->deadline_ms;
		pthread_mutex_unlock(&f->lock);
		if (late) {
			/* Answered 503 shutting_down: the provider delivers again. */
			req->ev.result = HQ_E_SHUTDOWN;
			req->done(req);
		} else {
			send_one(f, req);
		}
		pthread_mutex_lock(&f->lock);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

int forward_submit(void *ctx, struct ingest_req *req)
{
	struct forward *f = ctx;
	pthread_mutex_lock(&f->lock);
	int r = f->stopping ? HQ_E_SHUTDOWN : f->queued >= f->opt.queue_max ? HQ_E_OVERLOAD : 0;
	if (r == 0) {
		req->next = NULL;
		if (f->tail)
			f->tail->next = req;
		else
			f->head = req;
		f->tail = req;
		f->queued++;
		pthread_cond_signal(&f->more);
	}
	pthread_mutex_unlock(&f->lock);
	return r;
}

void forward_get_stats(struct forward *f, struct forward_stats *stats)
{
	pthread_mutex_lock(&f->lock);
	*stats = f->stats;
	stats->queued = f->queued;
	pthread_mutex_unlock(&f->lock);
}

void forward_stop_begin(struct forward *f, int64_t grace_ms)
{
	pthread_mutex_lock(&f->lock);
	if (!f->stopping) {
		f->stopping = true;
		f->deadline_ms = clock_now_ms() + grace_ms;
	}
	pthread_cond_broadcast(&f->more);
	pthread_mutex_unlock(&f->lock);
}

void forward_stop(struct forward *f, struct forward_stats *stats)
{
	if (!f)
		return;
	forward_stop_begin(f, 0);
	for (unsigned i = 0; i < f->started; i++)
		pthread_join(f->threads[i], NULL);
	if (stats)
		*stats = f->stats;
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->more);
	free(f->threads);
	free(f);
}

int forward_start(const struct forward_options *opt, struct forward **ret)
{
	if (!opt->client || !opt->queue_url || opt->senders == 0 || opt->queue_max == 0)
		return HQ_E_INVAL;
	struct forward *f = calloc(1, sizeof(*f));
	if (!f)
		return HQ_E_NOMEM;
	f->opt = *opt;
	size_t ul = strlen(opt->queue_url);
	f->fifo = ul > 5 && strcmp(opt->queue_url + ul - 5, ".fifo") == 0;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->more, NULL);
	f->threads = calloc(opt->senders, sizeof(*f->threads));
	if (!f->threads) {
		forward_stop(f, NULL);
		return HQ_E_NOMEM;
	}
	for (unsigned i = 0; i < opt->senders; i++) {
		if (pthread_create(&f->threads[i], NULL, sender_main, f) != 0)
			break;
		f->started++;
	}
	if (f->started < opt->senders) {
		forward_stop(f, NULL);
		return HQ_E_SYSTEM;
	}
	*ret = f;
	return 0;
}
