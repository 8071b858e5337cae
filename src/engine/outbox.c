#include "engine/outbox.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "clients/github.h"
#include "clients/jira.h"
#include "clients/result.h"
#include "clients/slack.h"
#include "clients/sqs.h"
#include "util/clock.h"
#include "util/crypto.h"
#include "util/error.h"
#include "util/log.h"

/* Entries claimed per round by one sender: one, so that a lease (twice
 * the request timeout and some) always covers the send it guards; a batch
 * sent one by one could outlive it and be sent again by another sender. */
#define CLAIM_MAX 1

struct outbox {
	struct store *store;
	struct outbox_options opt;
	char *owner;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	uint64_t generation;
	bool stopping;
	struct outbox_stats stats;
	pthread_t *threads;
	unsigned started;
};

struct sender {
	struct outbox *o;
	unsigned index;
	char owner[200];
	uint64_t rnd;
};

static void count(struct outbox *o, uint64_t *field)
{
	pthread_mutex_lock(&o->lock);
	(*field)++;
	pthread_mutex_unlock(&o->lock);
}

static uint64_t next_random(struct sender *s)
{
	uint64_t x = s->rnd;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	s->rnd = x;
	return x;
}

static int64_t int_at(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	if (json_is_integer(v))
		return json_integer_value(v);
	const char *s = json_string_value(v);
	return s ? strtoll(s, NULL, 10) : 0;
}

static const char *str_at(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* Sends one entry; res says how it went. */
static void send_one(struct sender *s, const struct store_outbox_item *it,
		     struct client_result *res)
{
	struct outbox *o = s->o;
	client_result_init(res);
	json_t *target = json_loads(it->target_json, 0, NULL);
	json_t *body = json_loads(it->body_json, 0, NULL);
	int64_t now = clock_now_ms();
	long tmo = o->opt.timeout_ms;
	if (!json_is_object(target) || !json_is_object(body)) {
		client_result_set(res, CLIENT_FAILED, 0, "the stored reply is not JSON");
		goto out;
	}
	if (strcmp(it->kind, "reaction") == 0 || strcmp(it->kind, "comment") == 0) {
		if (!o->opt.github) {
			client_result_set(res, CLIENT_FAILED, 0,
					  "no GitHub credentials are configured (GITHUB_TOKEN or "
					  "GITHUB_APP_ID with GITHUB_APP_PRIVATE_KEY)");
			goto out;
		}
		const char *repo = str_at(target, "repository");
		int64_t inst = int_at(target, "installation");
		if (strcmp(it->kind, "reaction") == 0) {
			/* GitHub answers 200 for a reaction that exists: sending
			 * again is harmless. */
			github_add_reaction(o->opt.github, inst, repo, str_at(target, "target"),
					    int_at(target, "id"), str_at(body, "content"), now, res);
			goto out;
		}
		int64_t number = int_at(target, "number");
		const char *marker = str_at(body, "marker");
		if (it->uncertain && marker) {
			/* An earlier attempt may have posted it: look first. */
			github_find_comment(o->opt.github, inst, repo, number, marker, now, res);
			if (res->outcome != CLIENT_OK || res->id > 0)
				goto out;
			client_result_init(res);
		}
		github_create_comment(o->opt.github, inst, repo, number, str_at(body, "text"), now,
				      res);
	} else if (strcmp(it->kind, "slack_reply") == 0) {
		const char *url = str_at(target, "response_url");
		if (url) {
			slack_respond(url, str_at(body, "text"), tmo, res);
		} else if (!o->opt.slack_token) {
			client_result_set(res, CLIENT_FAILED, 0,
					  "no Slack bot token is configured (SLACK_BOT_TOKEN)");
		} else {
			slack_post_message(o->opt.slack_api_url, o->opt.slack_token,
					   str_at(target, "channel"), str_at(target, "thread_ts"),
					   str_at(body, "text"), tmo, res);
		}
	} else if (strcmp(it->kind, "jira_comment") == 0) {
		if (!o->opt.jira_base_url || !o->opt.jira_email || !o->opt.jira_token)
			client_result_set(res, CLIENT_FAILED, 0,
					  "Jira is not configured (JIRA_BASE_URL, JIRA_EMAIL, "
					  "JIRA_API_TOKEN)");
		else
			jira_add_comment(o->opt.jira_base_url, o->opt.jira_email,
					 o->opt.jira_token, str_at(target, "issue"),
					 str_at(body, "text"), tmo, res);
	} else if (strcmp(it->kind, "output_message") == 0) {
		if (!o->opt.sqs || !o->opt.output_url) {
			client_result_set(res, CLIENT_FAILED, 0,
					  "no output queue is configured (AWS_SQS_OUTPUT_URL)");
		} else {
			/* The message is the body as written; a FIFO queue
			 * dedups on the entry's origin. */
			char id[SQS_MESSAGE_ID_MAX + 1] = "";
			bool fifo = strlen(o->opt.output_url) > 5 &&
				    strcmp(o->opt.output_url + strlen(o->opt.output_url) - 5,
					   ".fifo") == 0;
			char group[32];
			snprintf(group, sizeof(group), "task-%lld", (long long)it->task_id);
			sqs_send(o->opt.sqs, o->opt.output_url, it->body_json, strlen(it->body_json),
				 fifo ? it->origin : NULL, fifo ? group : NULL, id, res);
		}
	} else {
		client_result_set(res, CLIENT_FAILED, 0, "no sender for replies of kind '%.32s'",
				  it->kind);
	}
out:
	json_decref(target);
	json_decref(body);
}

static void log_item(const struct store_outbox_item *it, const char *msg,
		     const struct client_result *res, enum log_level level)
{
	char id[24], task[24], attempt[32], status[16];
	snprintf(id, sizeof(id), "%lld", (long long)it->id);
	snprintf(task, sizeof(task), "%lld", (long long)it->task_id);
	snprintf(attempt, sizeof(attempt), "%d/%d", it->attempts, it->max_attempts);
	snprintf(status, sizeof(status), "%ld", res->status);
	log_msg(level, msg, "reply_id", id, "kind", it->kind, "task_id", task, "attempt", attempt,
		"http_status", status, "error", res->error, NULL);
}

static void settle(struct sender *s, const struct store_outbox_item *it,
		   const struct client_result *res)
{
	struct outbox *o = s->o;
	struct store_outbox_end end = { 0 };
	char result[32] = "";
	int64_t now = clock_now_ms();
	if (res->outcome == CLIENT_OK) {
		end.outcome = STORE_OUTBOX_SENT;
		if (res->id > 0) {
			snprintf(result, sizeof(result), "%lld", (long long)res->id);
			end.result = result;
		}
		log_item(it, "reply sent", res, HQ_LOG_INFO);
		count(o, &o->stats.sent);
	} else if (res->outcome == CLIENT_RETRY && it->attempts < it->max_attempts) {
		uint64_t delay = backoff_delay_ms(&o->opt.backoff, (uint32_t)it->attempts,
						  next_random(s));
		end.outcome = STORE_OUTBOX_RETRY;
		end.next_attempt_at_ms = now + (int64_t)delay;
		/* The receiver's own time (Retry-After, a rate limit's reset)
		 * wins when it is later. */
		if (res->retry_at_ms > end.next_attempt_at_ms)
			end.next_attempt_at_ms = res->retry_at_ms;
		end.uncertain = res->uncertain;
		end.error = res->error;
		log_item(it, "reply will be retried", res, HQ_LOG_WARN);
		count(o, &o->stats.retried);
	} else {
		end.outcome = res->outcome == CLIENT_RETRY ? STORE_OUTBOX_RETRY : STORE_OUTBOX_DEAD;
		end.next_attempt_at_ms = now;
		end.uncertain = res->uncertain;
		end.error = res->error;
		log_item(it, "reply dead", res, HQ_LOG_ERROR);
		count(o, &o->stats.dead);
	}
	/* Recorded with a few tries: a reply sent and left "sending" would be
	 * sent again once its lease expires. */
	struct store_error err;
	for (int i = 0; i < 5; i++) {
		int r = store_outbox_finish(o->store, it->id, s->owner, &end, now, &err);
		if (r == 0 || r == HQ_E_CONFLICT)
			return;
		log_msg(HQ_LOG_ERROR, "cannot record a reply", "error", err.msg, NULL);
		count(o, &o->stats.store_errors);
		clock_sleep_ms(100 + 200 * (uint64_t)i);
	}
}

/* Sends what is due; returns how many it claimed, -1 after a store error
 * (the caller then waits a poll interval instead of trying at once). */
static ssize_t send_round(struct sender *s)
{
	struct outbox *o = s->o;
	struct store_outbox_item *items = NULL;
	size_t n = 0;
	struct store_error err;
	if (store_outbox_claim(o->store, s->owner, clock_now_ms(), (int64_t)o->opt.lease_ms,
			       CLAIM_MAX, &items, &n, &err) < 0) {
		log_msg(HQ_LOG_ERROR, "cannot claim replies", "error", err.msg, NULL);
		count(o, &o->stats.store_errors);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct client_result res;
		send_one(s, &items[i], &res);
		settle(s, &items[i], &res);
	}
	store_outbox_items_release(items, n);
	return (ssize_t)n;
}

static void *sender_main(void *arg)
{
	struct sender *s = arg;
	struct outbox *o = s->o;
	char name[16];
	snprintf(name, sizeof(name), "hq-outbox-%u", s->index);
	pthread_setname_np(pthread_self(), name);
	int64_t next_reclaim = 0;
	for (;;) {
		pthread_mutex_lock(&o->lock);
		bool stop = o->stopping;
		uint64_t seen = o->generation;
		pthread_mutex_unlock(&o->lock);
		if (stop)
			break;
		int64_t now = clock_now_ms();
		if (s->index == 0 && now >= next_reclaim) {
			size_t n = 0;
			struct store_error err;
			if (store_outbox_reclaim(o->store, now, &n, &err) < 0) {
				log_msg(HQ_LOG_ERROR, "cannot reclaim replies", "error", err.msg,
					NULL);
			} else if (n > 0) {
				char c[24];
				snprintf(c, sizeof(c), "%zu", n);
				log_msg(HQ_LOG_WARN, "replies whose sender stopped are sent again",
					"replies", c, NULL);
				pthread_mutex_lock(&o->lock);
				o->stats.reclaimed += n;
				pthread_mutex_unlock(&o->lock);
			}
			next_reclaim = now + (int64_t)(o->opt.lease_ms / 2);
		}
		ssize_t sent = send_round(s);
		if (sent > 0)
			continue;
		now = clock_now_ms();
		int64_t wake_at = now + (int64_t)o->opt.poll_ms;
		int64_t due = INT64_MAX;
		struct store_error err;
		if (sent == 0 && store_outbox_next_due(o->store, &due, &err) == 0 && due < wake_at)
			wake_at = due;
		if (s->index == 0 && next_reclaim < wake_at)
			wake_at = next_reclaim;
		if (wake_at < now + 10)
			wake_at = now + 10;
		struct timespec until = { (time_t)(wake_at / 1000),
					  (long)(wake_at % 1000) * 1000000L };
		pthread_mutex_lock(&o->lock);
		while (!o->stopping && o->generation == seen) {
			if (pthread_cond_timedwait(&o->wake, &o->lock, &until) != 0)
				break;
		}
		pthread_mutex_unlock(&o->lock);
	}
	free(s);
	return NULL;
}

void outbox_wake(struct outbox *o)
{
	if (!o)
		return;
	pthread_mutex_lock(&o->lock);
	o->generation++;
	pthread_cond_broadcast(&o->wake);
	pthread_mutex_unlock(&o->lock);
}

void outbox_stop(struct outbox *o, struct outbox_stats *stats)
{
	if (!o)
		return;
	pthread_mutex_lock(&o->lock);
	o->stopping = true;
	pthread_cond_broadcast(&o->wake);
	pthread_mutex_unlock(&o->lock);
	for (unsigned i = 0; i < o->started; i++)
		pthread_join(o->threads[i], NULL);
	if (stats)
		*stats = o->stats;
	pthread_mutex_destroy(&o->lock);
	pthread_cond_destroy(&o->wake);
	free(o->threads);
	free(o->owner);
	free(o);
}

void outbox_get_stats(struct outbox *o, struct outbox_stats *ret)
{
	pthread_mutex_lock(&o->lock);
	*ret = o->stats;
	pthread_mutex_unlock(&o->lock);
}

int outbox_start(struct store *store, const struct outbox_options *opt, struct outbox **ret)
{
	if (opt->senders == 0 || opt->lease_ms == 0 || opt->poll_ms == 0)
		return HQ_E_INVAL;
	struct outbox *o = calloc(1, sizeof(*o));
	if (!o)
		return HQ_E_NOMEM;
	o->store = store;
	o->opt = *opt;
	o->owner = strdup(opt->owner ? opt->owner : "hookq");
	o->threads = calloc(opt->senders, sizeof(*o->threads));
	pthread_mutex_init(&o->lock, NULL);
	pthread_cond_init(&o->wake, NULL);
	if (!o->owner || !o->threads) {
		outbox_stop(o, NULL);
		return HQ_E_NOMEM;
	}
	for (unsigned i = 0; i < opt->senders; i++) {
		struct sender *s = calloc(1, sizeof(*s));
		if (!s)
			break;
		s->o = o;
		s->index = i;
		snprintf(s->owner, sizeof(s->owner), "%.180s/o%u", o->owner, i);
		if (crypto_random(&s->rnd, sizeof(s->rnd)) < 0 || s->rnd == 0)
			s->rnd = 0x9e3779b97f4a7c15ull + i;
		if (pthread_create(&o->threads[i], NULL, sender_main, s) != 0) {
			free(s);
			break;
		}
		o->started++;
	}
	if (o->started < opt->senders) {
		outbox_stop(o, NULL);
		return HQ_E_SYSTEM;
	}
	*ret = o;
	return 0;
}
