#include "store/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/backend.h"
#include "util/buf.h"
#include "util/crypto.h"
#include "util/error.h"
#include "util/zstd.h"

void store_error_set(struct store_error *err, const char *fmt, ...)
{
	if (!err)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		err->msg[0] = '\0';
}

int store_body_decode(char **body, size_t *body_len, bool zstd, size_t max_body)
{
	if (!zstd && *body_len <= max_body)
		return 0;
	struct buf b;
	buf_init(&b, max_body);
	int r = zstd ? zstd_decompress(*body, *body_len, &b) : HQ_E_TOOBIG;
	if (r == 0 && !b.data)
		r = buf_reserve(&b, 0);
	free(*body);
	*body = NULL;
	*body_len = 0;
	if (r < 0) {
		buf_release(&b);
		return r;
	}
	*body = b.data;
	*body_len = b.len;
	return 0;
}

int store_event_detail_done(struct store_event_detail *d, int r, bool zstd, size_t max_body,
			    struct store_event_detail *ret)
{
	if (r == 0) {
		int dr = store_body_decode(&d->body, &d->body_len, zstd, max_body);
		if (dr == HQ_E_TOOBIG)
			d->body_error = "larger than the size asked for";
		else if (dr < 0)
			d->body_error = "the stored body cannot be decoded";
	}
	if (r < 0) {
		store_event_detail_release(d);
		return r;
	}
	*ret = *d;
	return 0;
}

int store_retry_refused(int64_t id, const char *only, bool exists, struct store_error *err)
{
	if (!exists) {
		store_error_set(err, "no event %lld", (long long)id);
		return HQ_E_NOTFOUND;
	}
	store_error_set(err, "event %lld is not %s", (long long)id,
			only ? only : "dead_letter or completed");
	return HQ_E_CONFLICT;
}

void store_counts_add(struct store_event_counts *c, const char *status, int64_t count,
		      int64_t duplicates)
{
	c->duplicates += duplicates;
	if (!status)
		return;
	if (strcmp(status, "pending") == 0)
		c->pending = count;
	else if (strcmp(status, "processing") == 0)
		c->processing = count;
	else if (strcmp(status, "completed") == 0)
		c->completed = count;
	else if (strcmp(status, "dead_letter") == 0)
		c->dead_letter = count;
}

void store_url_redact(const char *url, char *out, size_t size)
{
	const char *scheme = strstr(url, "://");
	const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
	const char *slash = scheme ? strchr(scheme + 3, '/') : NULL;
	if (!scheme || !at || (slash && slash < at)) {
		snprintf(out, size, "%s", url);
		return;
	}
	const char *colon = memchr(scheme + 3, ':', (size_t)(at - (scheme + 3)));
	if (!colon) {
		snprintf(out, size, "%s", url);
		return;
	}
	int n = snprintf(out, size, "%.*s:***%s", (int)(colon - url), url, at);
	if (n < 0 && size)
		out[0] = '\0';
}

int store_open(const char *url, const struct store_options *opt, struct store **ret,
	       struct store_error *err)
{
	if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0)
		return store_postgres_open(url, opt, ret, err);
	const char *path = url;
	if (strncmp(url, "sqlite://", 9) == 0)
		path = url + 9;
	else if (strncmp(url, "sqlite:", 7) == 0)
		path = url + 7;
	if (!*path) {
		store_error_set(err, "empty database path");
		return HQ_E_INVAL;
	}
	return store_sqlite_open(path, opt, ret, err);
}

void store_close(struct store *s)
{
	if (s)
		s->ops->close(s);
}

int store_insert_events(struct store *s, struct store_event_in *evs, size_t n,
			struct store_error *err)
{
	return s->ops->insert_events(s, evs, n, err);
}

int store_count_events(struct store *s, struct store_event_counts *ret,
		       struct store_error *err)
{
	return s->ops->count_events(s, ret, err);
}

int store_schema_version(struct store *s, int *ret, struct store_error *err)
{
	return s->ops->schema_version(s, ret, err);
}

void store_claim_release(struct store_claim *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		struct store_claimed *e = &c->events[i];
		free(e->provider);
		free(e->route);
		free(e->delivery_id);
		free(e->event_type);
		free(e->headers_json);
		free(e->body);
	}
	free(c->events);
	c->events = NULL;
	c->n = 0;
}

int store_claim_events(struct store *s, const char *owner, int64_t now_ms,
		       int64_t lease_ms, size_t max, size_t max_body, struct store_claim *ret,
		       struct store_error *err)
{
	return s->ops->claim_events(s, owner, now_ms, lease_ms, max, max_body, ret, err);
}

int store_finish_events(struct store *s, const char *owner, const struct store_outcome *o,
			size_t n, int64_t now_ms, size_t *applied, struct store_error *err)
{
	return s->ops->finish_events(s, owner, o, n, now_ms, applied, err);
}

int store_reclaim_expired(struct store *s, int64_t now_ms, size_t *reclaimed,
			  struct store_error *err)
{
	return s->ops->reclaim_expired(s, now_ms, reclaimed, err);
}

static const char *const event_states[] = { "pending", "processing", "completed",
					     "dead_letter" };

bool store_status_valid(const char *status)
{
	for (size_t i = 0; status && i < sizeof(event_states) / sizeof(event_states[0]); i++)
		if (strcmp(status, event_states[i]) == 0)
			return true;
	return false;
}

/* The states operators may replay or purge: the ones nothing else will
 * move on. */
static bool status_settled(const char *status)
{
	return strcmp(status, "dead_letter") == 0 || strcmp(status, "completed") == 0;
}

int store_purge_events(struct store *s, const char *status, int64_t before_ms, size_t limit,
		       size_t *purged, struct store_error *err)
{
	if (!status_settled(status)) {
		store_error_set(err, "only completed or dead_letter events can be purged");
		return HQ_E_INVAL;
	}
	return s->ops->purge_events(s, status, before_ms, limit, purged, err);
}

int store_list_events(struct store *s, const struct store_event_filter *f,
		      struct store_event_list *ret, struct store_error *err)
{
	if (f->status && !store_status_valid(f->status)) {
		store_error_set(err, "no such event status '%s'", f->status);
		return HQ_E_INVAL;
	}
	return s->ops->list_events(s, f, ret, err);
}

static void event_row_release(struct store_event_row *r)
{
	free(r->provider);
	free(r->route);
	free(r->delivery_id);
	free(r->event_type);
	free(r->action);
	free(r->repository);
	free(r->sender);
	free(r->status);
	free(r->lease_owner);
	free(r->last_error);
	free(r->routing);
	memset(r, 0, sizeof(*r));
}

void store_event_list_release(struct store_event_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		event_row_release(&l->rows[i]);
	free(l->rows);
	memset(l, 0, sizeof(*l));
}

int store_get_event(struct store *s, int64_t id, size_t max_body,
		    struct store_event_detail *ret, struct store_error *err)
{
	return s->ops->get_event(s, id, max_body, ret, err);
}

void store_event_detail_release(struct store_event_detail *d)
{
	if (!d)
		return;
	event_row_release(&d->row);
	free(d->headers_json);
	free(d->body);
	for (size_t i = 0; i < d->n_attempts; i++) {
		free(d->attempts[i].worker);
		free(d->attempts[i].outcome);
		free(d->attempts[i].error);
	}
	free(d->attempts);
	memset(d, 0, sizeof(*d));
}

int store_next_due(struct store *s, int64_t *ret, struct store_error *err)
{
	return s->ops->next_due(s, ret, err);
}

int store_oldest_pending(struct store *s, int64_t *ret, struct store_error *err)
{
	return s->ops->oldest_pending(s, ret, err);
}

int store_retry_event(struct store *s, int64_t id, const char *only, int64_t now_ms,
		      struct store_error *err)
{
	if (only && !status_settled(only)) {
		store_error_set(err, "only dead_letter or completed events can be retried");
		return HQ_E_INVAL;
	}
	return s->ops->retry_event(s, id, only, now_ms, err);
}

int store_retry_events(struct store *s, const char *status, int64_t now_ms, int64_t after_id,
		       size_t limit, size_t *count, int64_t *last_id, struct store_error *err)
{
	if (!status_settled(status)) {
		store_error_set(err, "only dead_letter or completed events can be retried");
		return HQ_E_INVAL;
	}
	return s->ops->retry_events(s, status, now_ms, after_id, limit, count, last_id, err);
}

int store_webhook_create(struct store *s, const struct store_webhook *w, int64_t now_ms,
			 struct store_error *err)
{
	return s->ops->webhook_create(s, w, now_ms, err);
}

int store_webhook_update(struct store *s, const char *id, const char *name, const char *secret,
			 int enabled, int64_t now_ms, struct store_error *err)
{
	return s->ops->webhook_update(s, id, name, secret, enabled, now_ms, err);
}

int store_webhook_delete(struct store *s, const char *id, struct store_error *err)
{
	return s->ops->webhook_delete(s, id, err);
}

int store_webhook_get(struct store *s, const char *id, struct store_webhook *ret,
		      struct store_error *err)
{
	struct store_webhook *list = NULL;
	size_t n = 0;
	int r = s->ops->webhook_list(s, id, &list, &n, err);
	if (r < 0)
		return r;
	if (n == 0) {
		free(list);
		store_error_set(err, "no webhook '%s'", id);
		return HQ_E_NOTFOUND;
	}
	*ret = list[0];
	free(list);
	return 0;
}

int store_webhook_list(struct store *s, struct store_webhook **ret, size_t *n,
		       struct store_error *err)
{
	return s->ops->webhook_list(s, NULL, ret, n, err);
}

void store_webhook_release(struct store_webhook *w)
{
	if (!w)
		return;
	free(w->provider);
	free(w->name);
	if (w->secret)
		crypto_cleanse(w->secret, strlen(w->secret));
	free(w->secret);
	for (size_t i = 0; i < w->n_commands; i++) {
		struct store_webhook_command *c = &w->commands[i];
		free(c->trigger);
		free(c->action);
		free(c->agent);
		free(c->template_text);
		free(c->conditions_json);
	}
	free(w->commands);
	memset(w, 0, sizeof(*w));
}

void store_webhook_list_release(struct store_webhook *list, size_t n)
{
	for (size_t i = 0; list && i < n; i++)
		store_webhook_release(&list[i]);
	free(list);
}

int store_webhook_command_put(struct store *s, const char *webhook_id,
			      const struct store_webhook_command *c, bool create, int64_t now_ms,
			      struct store_error *err)
{
	return s->ops->webhook_command_put(s, webhook_id, c, create, now_ms, err);
}

int store_webhook_command_delete(struct store *s, const char *webhook_id, const char *id,
				 struct store_error *err)
{
	return s->ops->webhook_command_delete(s, webhook_id, id, err);
}

int store_webhook_peek(struct store *s, const char *id, char *provider, size_t provider_size,
		       bool *enabled, char *secret, size_t secret_size, bool *has_secret,
		       struct store_error *err)
{
	return s->ops->webhook_peek(s, id, provider, provider_size, enabled, secret, secret_size,
				    has_secret, err);
}

/* Tasks */

int store_create_tasks(struct store *s, struct store_task_in *tasks, size_t n, int64_t now_ms,
		       struct store_error *err)
{
	int r = s->task_ops->create_tasks(s, tasks, n, now_ms, err);
	for (size_t i = 0; r < 0 && i < n; i++) {
		/* Rolled back: no result names a row that does not exist. */
		tasks[i].id = 0;
		tasks[i].duplicate = false;
		tasks[i].ret_flow_id[0] = '\0';
		tasks[i].ret_conversation_id[0] = '\0';
	}
	return r;
}

int store_task_candidates(struct store *s, const char *owner, int64_t now_ms, size_t limit,
			  bool single_queue, struct store_candidates *ret, struct store_error *err)
{
	return s->task_ops->candidates(s, owner, now_ms, limit, single_queue, ret, err);
}

int store_task_start(struct store *s, int64_t id, const char *worker, const char *owner,
		     const char *host, const unsigned char *token_hash, int64_t now_ms,
		     int64_t lease_ms, int64_t claim_ttl_ms, struct store_task *ret,
		     struct store_error *err)
{
	return s->task_ops->start(s, id, worker, owner, host, token_hash, now_ms, lease_ms,
				  claim_ttl_ms, ret, err);
}

int store_task_set_pid(struct store *s, int64_t id, const char *owner, int attempt,
		       int64_t pid, int64_t pid_start, struct store_error *err)
{
	return s->task_ops->set_pid(s, id, owner, attempt, pid, pid_start, err);
}

static int id_cmp(const void *pa, const void *pb)
{
	int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
	return (a > b) - (a < b);
}

/* Appends to *cancel each of the n held ids not among the n_renewed
 * renewed ones: a task this node still runs but no longer holds (another
 * node found this one dead, rescued it, and may run it again), to be
 * ended here. Sorts renewed. */
static int heartbeat_lost(const int64_t *held, size_t n, int64_t *renewed, size_t n_renewed,
			  int64_t **cancel, size_t *n_cancel)
{
	size_t cap = *n_cancel;
	if (n_renewed > 1)
		qsort(renewed, n_renewed, sizeof(*renewed), id_cmp);
	for (size_t i = 0; i < n; i++) {
		if (n_renewed && bsearch(&held[i], renewed, n_renewed, sizeof(*renewed), id_cmp))
			continue;
		if (*n_cancel == cap) {
			size_t grown = cap ? cap * 2 : 8;
			int64_t *p = realloc(*cancel, grown * sizeof(*p));
			if (!p)
				return HQ_E_NOMEM;
			*cancel = p;
			cap = grown;
		}
		(*cancel)[(*n_cancel)++] = held[i];
	}
	return 0;
}

int store_task_heartbeat(struct store *s, const char *owner, const int64_t *held, size_t n,
			 int64_t now_ms, int64_t lease_ms, int64_t claim_ttl_ms, int64_t **cancel,
			 size_t *n_cancel, struct store_error *err)
{
	*cancel = NULL;
	*n_cancel = 0;
	if (n == 0)
		return 0;
	int64_t *renewed = NULL;
	size_t n_renewed = 0;
	int r = s->task_ops->heartbeat(s, owner, held, n, now_ms, lease_ms, claim_ttl_ms, cancel,
				       n_cancel, &renewed, &n_renewed, err);
	if (r == 0)
		r = heartbeat_lost(held, n, renewed, n_renewed, cancel, n_cancel);
	free(renewed);
	if (r < 0) {
		free(*cancel);
		*cancel = NULL;
		*n_cancel = 0;
	}
	return r;
}

int store_task_finish(struct store *s, int64_t id, const char *owner, const char *worker,
		      int attempt, const struct store_task_end *end, int64_t now_ms,
		      int64_t claim_ttl_ms, struct store_error *err)
{
	if (!store_task_status_valid(end->status) || strcmp(end->status, "running") == 0) {
		store_error_set(err, "'%s' is not how a task ends", end->status);
		return HQ_E_INVAL;
	}
	return s->task_ops->finish(s, id, owner, worker, attempt, end, now_ms, claim_ttl_ms, err);
}

int store_task_reclaim(struct store *s, int64_t now_ms, const int64_t *keep, size_t n_keep,
		       struct store_lost_task **ret, size_t *n, struct store_error *err)
{
	return s->task_ops->reclaim(s, now_ms, keep, n_keep, ret, n, err);
}

int store_task_cancel(struct store *s, int64_t id, int64_t now_ms, bool *running,
		      struct store_error *err)
{
	return s->task_ops->cancel(s, id, now_ms, running, err);
}

int store_task_retry(struct store *s, int64_t id, const char *only, int64_t now_ms,
		     struct store_error *err)
{
	return s->task_ops->retry(s, id, only, now_ms, err);
}

int store_list_tasks(struct store *s, const struct store_task_filter *f,
		     struct store_task_list *ret, struct store_error *err)
{
	return s->task_ops->list(s, f, ret, err);
}

int store_get_task(struct store *s, int64_t id, struct store_task_detail *ret,
		   struct store_error *err)
{
	return s->task_ops->get(s, id, ret, err);
}

int store_task_by_token(struct store *s, const unsigned char *token_hash, int64_t *id,
			struct store_error *err)
{
	return s->task_ops->by_token(s, token_hash, id, err);
}

int store_get_flow(struct store *s, const char *flow_id, size_t max_tasks,
		   struct store_flow *ret, struct store_error *err)
{
	return s->task_ops->get_flow(s, flow_id, max_tasks, ret, err);
}

int store_tasks_changed(struct store *s, int64_t after_seq, size_t limit,
			struct store_task_list *ret, struct store_error *err)
{
	return s->task_ops->changed(s, after_seq, limit, ret, err);
}

int store_list_claims(struct store *s, int64_t now_ms, struct store_claim_row **ret, size_t *n,
		      struct store_error *err)
{
	return s->task_ops->list_claims(s, now_ms, ret, n, err);
}

int store_count_tasks(struct store *s, struct store_task_counts *ret, struct store_error *err)
{
	return s->task_ops->count(s, ret, err);
}

int store_task_next_due(struct store *s, int64_t *ret, struct store_error *err)
{
	return s->task_ops->next_due(s, ret, err);
}

bool store_task_status_valid(const char *status)
{
	static const char *const names[] = { "queued",	  "running",   "succeeded",   "failed",
					     "timed_out", "cancelled", "dead_letter", NULL };
	for (const char *const *n = names; *n; n++)
		if (strcmp(*n, status) == 0)
			return true;
	return false;
}

int store_conversation_id(char out[STORE_CONVERSATION_ID_MAX], struct store_error *err)
{
	unsigned char rnd[8];
	char hex[17];
	if (crypto_random(rnd, sizeof(rnd)) < 0) {
		store_error_set(err, "no randomness for a conversation id");
		return HQ_E_SYSTEM;
	}
	crypto_hex_encode(rnd, sizeof(rnd), hex);
	snprintf(out, STORE_CONVERSATION_ID_MAX, "conv-%s", hex);
	return 0;
}



char *store_id_list(const int64_t *ids, size_t n, char open, char close)
{
	size_t cap = 3 + n * 21;
	char *out = malloc(cap);
	if (!out)
		return NULL;
	size_t len = 0;
	out[len++] = open;
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(out + len, cap - len, "%s%lld", i ? "," : "",
					(long long)ids[i]);
	out[len++] = close;
	out[len] = '\0';
	return out;
}

void store_task_counts_set(struct store_task_counts *c, const char *status, int64_t count)
{
	struct {
		const char *name;
		int64_t *field;
	} map[] = { { "queued", &c->queued },	   { "running", &c->running },
		    { "succeeded", &c->succeeded }, { "failed", &c->failed },
		    { "timed_out", &c->timed_out }, { "cancelled", &c->cancelled },
		    { "dead_letter", &c->dead_letter } };
	for (size_t i = 0; status && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i].name, status) == 0)
			*map[i].field = count;
}

void store_candidates_release(struct store_candidates *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		free(c->tasks[i].agent);
		free(c->tasks[i].pool);
		free(c->tasks[i].project);
		free(c->tasks[i].claim_worker);
	}
	free(c->tasks);
	for (size_t i = 0; i < c->n_load; i++)
		free(c->load_worker[i]);
	free(c->load_worker);
	free(c->load);
	memset(c, 0, sizeof(*c));
}

void store_task_release(struct store_task *t)
{
	if (!t)
		return;
	char *fields[] = { t->origin, t->external_id, t->route,	 t->command, t->agent,
			   t->pool,   t->project,     t->title,	 t->prompt,  t->metadata_json,
			   t->status, t->worker,      t->lease_owner, t->error,   t->output };
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		free(fields[i]);
	memset(t, 0, sizeof(*t));
}

void store_task_list_release(struct store_task_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		store_task_release(&l->rows[i]);
	free(l->rows);
	memset(l, 0, sizeof(*l));
}

void store_task_detail_release(struct store_task_detail *d)
{
	if (!d)
		return;
	store_task_release(&d->task);
	for (size_t i = 0; i < d->n_attempts; i++) {
		free(d->attempts[i].worker);
		free(d->attempts[i].outcome);
		free(d->attempts[i].error);
	}
	free(d->attempts);
	memset(d, 0, sizeof(*d));
}

void store_lost_tasks_release(struct store_lost_task *l, size_t n)
{
	for (size_t i = 0; l && i < n; i++)
		free(l[i].host);
	free(l);
}

void store_flow_release(struct store_flow *f)
{
	if (!f)
		return;
	free(f->external_id);
	free(f->conversations);
	for (size_t i = 0; i < f->n_tasks; i++)
		store_task_release(&f->tasks[i]);
	free(f->tasks);
	memset(f, 0, sizeof(*f));
}

void store_claims_release(struct store_claim_row *c, size_t n)
{
	for (size_t i = 0; c && i < n; i++) {
		free(c[i].project);
		free(c[i].worker);
		free(c[i].node);
	}
	free(c);
}

/* Outbox */

int store_outbox_claim(struct store *s, const char *owner, int64_t now_ms, int64_t lease_ms,
		       size_t max, struct store_outbox_item **ret, size_t *n,
		       struct store_error *err)
{
	return s->outbox_ops->claim(s, owner, now_ms, lease_ms, max, ret, n, err);
}

int store_outbox_finish(struct store *s, int64_t id, const char *owner,
			const struct store_outbox_end *end, int64_t now_ms, struct store_error *err)
{
	return s->outbox_ops->finish(s, id, owner, end, now_ms, err);
}

int store_outbox_reclaim(struct store *s, int64_t now_ms, size_t *n, struct store_error *err)
{
	return s->outbox_ops->reclaim(s, now_ms, n, err);
}

int store_outbox_list(struct store *s, const struct store_outbox_filter *f,
		      struct store_outbox_list *ret, struct store_error *err)
{
	return s->outbox_ops->list(s, f, ret, err);
}

int store_outbox_retry(struct store *s, int64_t id, int64_t now_ms, struct store_error *err)
{
	return s->outbox_ops->retry(s, id, now_ms, err);
}

int store_outbox_count(struct store *s, struct store_outbox_counts *ret, struct store_error *err)
{
	return s->outbox_ops->count(s, ret, err);
}

int store_outbox_write(struct store *s, int64_t task_id, int run,
		       const struct store_outbox_in *in, size_t n, int64_t now_ms,
		       struct store_error *err)
{
	return s->outbox_ops->write(s, task_id, run, in, n, now_ms, err);
}

int store_outbox_purge(struct store *s, int64_t before_ms, size_t limit, size_t *purged,
		       struct store_error *err)
{
	return s->outbox_ops->purge(s, before_ms, limit, purged, err);
}

int store_outbox_next_due(struct store *s, int64_t *ret, struct store_error *err)
{
	return s->outbox_ops->next_due(s, ret, err);
}

bool store_outbox_status_valid(const char *status)
{
	static const char *const names[] = { "pending", "sending", "sent", "dead", NULL };
	for (const char *const *n = names; *n; n++)
		if (strcmp(*n, status) == 0)
			return true;
	return false;
}

const char *const store_outbox_outcome_names[3] = {
	[STORE_OUTBOX_SENT] = "sent",
	[STORE_OUTBOX_RETRY] = "retry",
	[STORE_OUTBOX_DEAD] = "dead",
};

int store_outbox_task_origin(char *out, size_t size, int64_t task_id, int run,
			     const char *name, struct store_error *err)
{
	int n = snprintf(out, size, "task:%lld:%d:%s", (long long)task_id, run, name);
	if (n < 0 || (size_t)n >= size) {
		store_error_set(err, "writing a reply: the name '%.40s' is too long", name);
		return HQ_E_TOOBIG;
	}
	return 0;
}

int store_outbox_retry_refused(int64_t id, bool exists, struct store_error *err)
{
	if (!exists) {
		store_error_set(err, "no reply %lld", (long long)id);
		return HQ_E_NOTFOUND;
	}
	store_error_set(err, "reply %lld is not dead", (long long)id);
	return HQ_E_CONFLICT;
}

int store_outbox_not_owner(int64_t id, struct store_error *err)
{
	store_error_set(err, "reply %lld is not being sent by this node", (long long)id);
	return HQ_E_CONFLICT;
}

void store_outbox_counts_add(struct store_outbox_counts *c, const char *status, int64_t count)
{
	if (!status)
		return;
	if (strcmp(status, "pending") == 0)
		c->pending = count;
	else if (strcmp(status, "sending") == 0)
		c->sending = count;
	else if (strcmp(status, "sent") == 0)
		c->sent = count;
	else if (strcmp(status, "dead") == 0)
		c->dead = count;
}

void store_outbox_items_release(struct store_outbox_item *items, size_t n)
{
	for (size_t i = 0; items && i < n; i++) {
		struct store_outbox_item *it = &items[i];
		free(it->origin);
		free(it->kind);
		free(it->target_json);
		free(it->body_json);
		free(it->status);
		free(it->last_error);
		free(it->result);
	}
	free(items);
}

void store_outbox_list_release(struct store_outbox_list *l)
{
	if (!l)
		return;
	store_outbox_items_release(l->items, l->n);
	memset(l, 0, sizeof(*l));
}

/* Nodes */

int store_node_beat(struct store *s, const struct store_node *n, int64_t now_ms,
		    bool *was_rescued, struct store_error *err)
{
	*was_rescued = false;
	return s->node_ops->beat(s, n, now_ms, was_rescued, err);
}

int store_node_stop(struct store *s, const char *id, int64_t now_ms, struct store_error *err)
{
	return s->node_ops->stop(s, id, now_ms, err);
}

int store_nodes_rescue(struct store *s, const char *by, int64_t now_ms, int64_t timeout_ms,
		       char ***ids, size_t *n, struct store_error *err)
{
	if (ids)
		*ids = NULL;
	*n = 0;
	return s->node_ops->rescue(s, by, now_ms, timeout_ms, ids, n, err);
}

int store_listen(struct store *s, void (*fn)(void *ctx, unsigned what), void *ctx,
		 struct store_error *err)
{
	return s->node_ops->listen ? s->node_ops->listen(s, fn, ctx, err) : 0;
}

void store_strings_release(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

int store_nodes_list(struct store *s, struct store_node **ret, size_t *n,
		     struct store_error *err)
{
	*ret = NULL;
	*n = 0;
	return s->node_ops->list(s, ret, n, err);
}

void store_nodes_release(struct store_node *n, size_t count)
{
	for (size_t i = 0; n && i < count; i++) {
		free(n[i].id);
		free(n[i].host);
		free(n[i].version);
		free(n[i].ended_by);
	}
	free(n);
}
