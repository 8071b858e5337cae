#include "sources/sqs.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clients/sqs.h"
#include "core/envelope.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"

/* Receive errors back off from 1 s to 30 s. */
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000

struct sqs_source {
	struct sqs_source_options opt;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* stop, and batches' commits */
	bool stopping;
	atomic_bool stop_wait; /* stopping, for the long polls in flight */
	struct sqs_source_stats stats;
	pthread_t *threads;
	unsigned started;
};

/* One message of a batch on its way to the store. */
struct poller;

struct item {
	struct ingest_req req;
	struct sqs_source *src;
	struct poller *poller;
	struct sqs_message *msg;
	struct envelope env;
	char delivery[PROVIDER_ID_MAX + 1];
	char event[PROVIDER_ID_MAX + 1];
	char *headers_json;
	bool submitted, done, keep; /* keep: leave on the queue */
};

struct poller {
	struct sqs_source *src;
	unsigned index;
	pthread_mutex_t lock;
	pthread_cond_t done; /* an item was stored */
	size_t waiting;
};

static void count(struct sqs_source *s, uint64_t *field, uint64_t n)
{
	pthread_mutex_lock(&s->lock);
	*field += n;
	pthread_mutex_unlock(&s->lock);
}

/* The headers of the envelope, and the SQS message id for a delivery id
 * the headers lack (each provider's header for it). */
struct header_ctx {
	const struct envelope *env;
	const char *message_id;
};

static const char *message_header(void *ctx, const char *name)
{
	static const char *const delivery_headers[] = {
		"x-github-delivery", "x-gitlab-event-uuid",	      "webhook-id",
		"linear-delivery",   "x-atlassian-webhook-identifier", "request-id",
		NULL,
	};
	const struct header_ctx *h = ctx;
	const char *v = envelope_header(h->env, name);
	if (v)
		return v;
	for (const char *const *d = delivery_headers; *d; d++)
		if (strcasecmp(*d, name) == 0)
			return h->message_id;
	return NULL;
}

/* The entry for provider name and route (NULL: the provider's own). */
static const struct sqs_provider_settings *provider_named(const struct sqs_source *s,
							  const char *name, const char *route)
{
	for (size_t i = 0; name && i < s->opt.n_providers; i++) {
		const struct sqs_provider_settings *ps = &s->opt.providers[i];
		if (strcmp(ps->provider->name, name) == 0 &&
		    (route ? ps->route && strcmp(ps->route, route) == 0 : !ps->route))
			return ps;
	}
	return NULL;
}

/* A shared token is the secret itself and never travels on the queue (the
 * forwarder drops it): such a provider is verified where it was received. */
static bool token_provider(const struct sqs_provider_settings *ps)
{
	return strcmp(ps->provider->name, "gitlab") == 0 ||
	       (ps->settings.token_header && *ps->settings.token_header);
}

static char *stored_headers(const struct envelope *env, const struct provider *p)
{
	json_t *o = json_object();
	for (const char *const *h = p->stored_headers; o && *h; h++) {
		const char *v = envelope_header(env, *h);
		if (v)
			json_object_set_new(o, *h, json_string(v));
	}
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return text;
}

static void log_message(const char *msg, const struct sqs_message *m, const char *why,
			enum log_level level)
{
	log_msg(level, msg, "message_id", m->message_id, "reason", why, NULL);
}

/* A message that can never be stored: to the dead-letter queue and off
 * this one; without a dead-letter queue it stays (the queue's own redrive
 * policy decides). */
static void dead_letter(struct poller *p, struct item *it, const char *why)
{
	struct sqs_source *s = p->src;
	it->keep = true;
	if (!s->opt.dlq_url) {
		log_message("queue message refused; left on the queue (no AWS_SQS_DLQ_URL)",
			    it->msg, why, HQ_LOG_ERROR);
		count(s, &s->stats.refused, 1);
		return;
	}
	struct client_result res;
	char id[SQS_MESSAGE_ID_MAX + 1] = "";
	sqs_send(s->opt.client, s->opt.dlq_url, it->msg->body, it->msg->body_len, NULL, NULL, id,
		 &res);
	if (res.outcome != CLIENT_OK) {
		log_message("queue message refused; the dead-letter queue did not take it",
			    it->msg, res.error, HQ_LOG_ERROR);
		count(s, &s->stats.errors, 1);
		return;
	}
	it->keep = false; /* deleted with the batch */
	it->done = true;
	log_message("queue message moved to the dead-letter queue", it->msg, why, HQ_LOG_WARN);
	count(s, &s->stats.dead_lettered, 1);
}

static void on_stored(struct ingest_req *req)
{
	struct item *it = req->ctx;
	struct poller *p = it->poller;
	pthread_mutex_lock(&p->lock);
	it->done = true;
	p->waiting--;
	pthread_cond_signal(&p->done);
	pthread_mutex_unlock(&p->lock);
}

/* Reads one message and hands it to the committer. */
static void take(struct poller *p, struct item *it)
{
	struct sqs_source *s = p->src;
	char why[300];
	int r = envelope_parse(it->msg->body, it->msg->body_len, s->opt.max_body, &it->env, why,
			       sizeof(why));
	if (r == HQ_E_NOMEM) {
		it->keep = true;
		return;
	}
	if (r < 0) {
		dead_letter(p, it, why);
		return;
	}
	const char *name = envelope_provider(&it->env);
	if (!name)
		name = s->opt.default_provider;
	const char *route = envelope_header(&it->env, "X-Hookq-Route");
	const struct sqs_provider_settings *ps = provider_named(s, name, route);
	if (!ps) {
		if (route)
			snprintf(why, sizeof(why), "no route '%.64s' with its own endpoint for provider "
						   "'%.64s'", route, name);
		else
			snprintf(why, sizeof(why), "no provider '%.64s'", name);
		dead_letter(p, it, why);
		return;
	}
	bool verify = s->opt.verify && !token_provider(ps);
	if (verify && !ps->settings.secret) {
		snprintf(why, sizeof(why), "no secret to verify %s messages with (SQS_VERIFY_SIGNATURES)",
			 ps->route ? ps->route : ps->provider->name);
		dead_letter(p, it, why);
		return;
	}
	if (verify && !it->env.raw) {
		dead_letter(p, it, "the payload is re-encoded JSON: its signature cannot be checked "
				   "(send it as a string or base64)");
		return;
	}
	/* Unverified, the provider reads it as an unsigned delivery. */
	struct provider_settings settings = ps->settings;
	if (!verify) {
		settings.secret = NULL;
		settings.secret_len = 0;
		settings.token_header = NULL;
	}
	struct header_ctx hc = { &it->env, it->msg->message_id };
	struct provider_request preq = {
		.header = message_header,
		.ctx = &hc,
		.body = it->env.payload,
		.body_len = it->env.payload_len,
		.now_s = clock_now_ms() / 1000,
	};
	struct provider_accept acc;
	memset(&acc, 0, sizeof(acc));
	r = ps->provider->accept(&settings, &preq, &acc);
	if (r < 0) {
		snprintf(why, sizeof(why), "%s: %s", acc.code ? acc.code : "refused",
			 acc.message[0] ? acc.message : hq_strerror(r));
		provider_accept_release(&acc);
		if (r == HQ_E_NOMEM) {
			it->keep = true;
			return;
		}
		dead_letter(p, it, why);
		return;
	}
	bool store = acc.store;
	snprintf(it->delivery, sizeof(it->delivery), "%s", acc.delivery_id);
	snprintf(it->event, sizeof(it->event), "%s", acc.event_type);
	provider_accept_release(&acc);
	if (!store) {
		it->done = true; /* a handshake: nothing to keep */
		return;
	}
	it->headers_json = stored_headers(&it->env, ps->provider);
	if (!it->headers_json) {
		it->keep = true;
		return;
	}
	struct store_event_in *ev = &it->req.ev;
	ev->provider = ps->provider->name;
	ev->route = ps->route ? ps->route : ps->provider->name;
	ev->delivery_id = it->delivery;
	ev->event_type = it->event;
	ev->headers_json = it->headers_json;
	ev->body = it->env.payload;
	ev->body_len = it->env.payload_len;
	ev->received_at_ms = clock_now_ms();
	it->req.done = on_stored;
	it->req.ctx = it;
	pthread_mutex_lock(&p->lock);
	p->waiting++;
	pthread_mutex_unlock(&p->lock);
	r = ingest_submit(s->opt.ingest, &it->req);
	if (r < 0) {
		/* Overloaded or stopping: it stays on the queue. */
		pthread_mutex_lock(&p->lock);
		p->waiting--;
		pthread_mutex_unlock(&p->lock);
		it->keep = true;
		count(s, &s->stats.errors, 1);
		return;
	}
	it->submitted = true;
}

/* Deletes the messages of the batch that are done with (stored, found a
 * duplicate, a handshake, moved to the dead-letter queue). */
static void delete_done(struct poller *p, struct item *items, size_t n)
{
	struct sqs_source *s = p->src;
	const char *handles[SQS_BATCH_MAX];
	size_t k = 0;
	uint64_t stored = 0, dup = 0;
	for (size_t i = 0; i < n; i++) {
		struct item *it = &items[i];
		if (it->keep || !it->done)
			continue;
		if (it->submitted) {
			if (it->req.ev.result < 0) {
				/* Not committed: it comes back after its visibility
				 * timeout. */
				count(s, &s->stats.errors, 1);
				continue;
			}
			if (it->req.ev.duplicate)
				dup++;
			else
				stored++;
		}
		handles[k++] = it->msg->receipt_handle;
	}
	count(s, &s->stats.stored, stored);
	count(s, &s->stats.duplicates, dup);
	if (k == 0)
		return;
	bool failed[SQS_BATCH_MAX] = { false };
	struct client_result res;
	sqs_delete_batch(s->opt.client, s->opt.queue_url, handles, k, failed, &res);
	size_t gone = 0;
	for (size_t i = 0; i < k; i++)
		gone += !failed[i] && res.outcome == CLIENT_OK;
	count(s, &s->stats.deleted, gone);
	if (gone < k)
		log_msg(HQ_LOG_WARN, "queue messages not deleted: they come back and are found "
				     "duplicates",
			"error", res.error, NULL);
	if (s->opt.on_batch)
		s->opt.on_batch(s->opt.ctx, (size_t)stored);
}

/* Sleeps ms unless the source stops; returns whether it stops. */
static bool pause_ms(struct sqs_source *s, int64_t ms)
{
	int64_t until_ms = clock_now_ms() + ms;
	struct timespec until = { (time_t)(until_ms / 1000), (long)(until_ms % 1000) * 1000000L };
	pthread_mutex_lock(&s->lock);
	while (!s->stopping && pthread_cond_timedwait(&s->cond, &s->lock, &until) == 0)
		;
	bool stop = s->stopping;
	pthread_mutex_unlock(&s->lock);
	return stop;
}

static void *poller_main(void *arg)
{
	struct poller *p = arg;
	struct sqs_source *s = p->src;
	char name[16];
	snprintf(name, sizeof(name), "hq-sqs-%u", p->index);
	pthread_setname_np(pthread_self(), name);
	int64_t backoff = 0;
	for (;;) {
		pthread_mutex_lock(&s->lock);
		bool stop = s->stopping;
		pthread_mutex_unlock(&s->lock);
		if (stop)
			break;
		struct sqs_message *msgs = NULL;
		size_t n = 0;
		struct client_result res;
		sqs_receive_stoppable(s->opt.client, s->opt.queue_url, SQS_BATCH_MAX,
				      s->opt.wait_s, s->opt.visibility_s, &s->stop_wait, &msgs, &n,
				      &res);
		if (res.outcome != CLIENT_OK && atomic_load(&s->stop_wait)) {
			sqs_messages_release(msgs, n);
			break; /* the long poll given up: stopping */
		}
		if (res.outcome != CLIENT_OK) {
			backoff = backoff ? backoff * 2 : BACKOFF_MIN_MS;
			if (backoff > BACKOFF_MAX_MS)
				backoff = BACKOFF_MAX_MS;
			char ms[24];
			snprintf(ms, sizeof(ms), "%lld", (long long)backoff);
			log_msg(HQ_LOG_ERROR, "cannot receive from the queue", "error", res.error,
				"retry_in_ms", ms, NULL);
			count(s, &s->stats.errors, 1);
			sqs_messages_release(msgs, n);
			if (pause_ms(s, backoff))
				break;
			continue;
		}
		count(s, &s->stats.received, n);
		struct item *items = n ? calloc(n, sizeof(*items)) : NULL;
		if (n && !items) {
			sqs_messages_release(msgs, n);
			pause_ms(s, BACKOFF_MIN_MS);
			continue;
		}
		for (size_t i = 0; i < n; i++) {
			items[i].src = s;
			items[i].poller = p;
			items[i].msg = &msgs[i];
			take(p, &items[i]);
		}
		/* Deleted only once the commit answered. */
		pthread_mutex_lock(&p->lock);
		while (p->waiting > 0)
			pthread_cond_wait(&p->done, &p->lock);
		pthread_mutex_unlock(&p->lock);
		delete_done(p, items, n);
		bool store_down = false;
		for (size_t i = 0; i < n; i++) {
			store_down |= items[i].submitted && items[i].req.ev.result < 0;
			ingest_req_release(&items[i].req);
			envelope_release(&items[i].env);
			free(items[i].headers_json);
		}
		free(items);
		sqs_messages_release(msgs, n);
		if (store_down) {
			/* The store refused: the messages come back after their
			 * visibility timeout; meanwhile, receive less. */
			backoff = backoff ? backoff * 2 : BACKOFF_MIN_MS;
			if (backoff > BACKOFF_MAX_MS)
				backoff = BACKOFF_MAX_MS;
			if (pause_ms(s, backoff))
				break;
		} else {
			backoff = 0;
		}
	}
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->done);
	free(p);
	return NULL;
}

void sqs_source_get_stats(struct sqs_source *s, struct sqs_source_stats *ret)
{
	pthread_mutex_lock(&s->lock);
	*ret = s->stats;
	pthread_mutex_unlock(&s->lock);
}

void sqs_source_stop(struct sqs_source *s, struct sqs_source_stats *stats)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	atomic_store(&s->stop_wait, true);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	for (unsigned i = 0; i < s->started; i++)
		pthread_join(s->threads[i], NULL);
	if (stats)
		*stats = s->stats;
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	free(s->threads);
	free(s);
}

int sqs_source_start(const struct sqs_source_options *opt, struct sqs_source **ret)
{
	if (!opt->client || !opt->queue_url || !opt->ingest || opt->pollers == 0)
		return HQ_E_INVAL;
	struct sqs_source *s = calloc(1, sizeof(*s));
	if (!s)
		return HQ_E_NOMEM;
	s->opt = *opt;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	s->threads = calloc(opt->pollers, sizeof(*s->threads));
	if (!s->threads) {
		sqs_source_stop(s, NULL);
		return HQ_E_NOMEM;
	}
	for (unsigned i = 0; i < opt->pollers; i++) {
		struct poller *p = calloc(1, sizeof(*p));
		if (!p)
			break;
		p->src = s;
		p->index = i;
		pthread_mutex_init(&p->lock, NULL);
		pthread_cond_init(&p->done, NULL);
		if (pthread_create(&s->threads[i], NULL, poller_main, p) != 0) {
			pthread_mutex_destroy(&p->lock);
			pthread_cond_destroy(&p->done);
			free(p);
			break;
		}
		s->started++;
	}
	if (s->started < opt->pollers) {
		sqs_source_stop(s, NULL);
		return HQ_E_SYSTEM;
	}
	*ret = s;
	return 0;
}
