#include "sources/http.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "providers/provider.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/crypto.h"
#include "util/histogram.h"
#include "util/error.h"
#include "util/log.h"
#include "util/parse.h"

/* Bodies up to this size get their buffer in one allocation up front;
 * larger ones grow as they arrive, so a false Content-Length cannot make
 * the server reserve memory it will never fill. */
#define MAX_PREALLOC (1024 * 1024)
#define SHUTDOWN_LINGER_MS 200

enum http_route {
	ROUTE_NONE,
	ROUTE_WEBHOOK, /* one of opt.endpoints */
	ROUTE_HEALTH,
	ROUTE_STATUS,
	ROUTE_METRICS,
	ROUTE_API, /* /api/...: engine/admin answers */
};

/* Query parameters an admin API request may carry. */
#define API_PARAMS_MAX 16
/* Admin requests waiting for the admin thread; more get 503 overloaded. */
#define API_QUEUE_MAX 32
/* The largest admin request body (JSON of the webhooks API). */
#define API_BODY_MAX (64 * 1024)

/* Every reason a request is refused, for hookq_requests_rejected_total. */
static const char *const reject_reasons[] = {
	"signature_missing", "signature_invalid", "event_missing",     "event_invalid",
	"delivery_missing",  "delivery_invalid",  "body_too_large",    "headers_too_large",
	"overloaded",	     "store_unavailable", "shutting_down",     "out_of_memory",
	"method_not_allowed", "not_found",	  "unauthorized",      "not_retryable",
	"bad_request",	     "forbidden",	  "timestamp_invalid", "body_invalid",
	"server_misconfigured", "queue_unavailable",
};
#define REJECT_REASONS (sizeof(reject_reasons) / sizeof(reject_reasons[0]))

enum req_state { REQ_READING, REQ_WAITING, REQ_DONE };

struct http_server {
	struct MHD_Daemon *daemon;
	struct ingest *ingest;
	struct http_options opt;
	uint16_t port;
	time_t started;
	atomic_size_t pending_bytes;
	atomic_long active;  /* requests with state */
	/* Suspended requests, and whether new ones may still be suspended:
	 * both under lock, so http_stop() cannot miss one that is being
	 * suspended while it decides to stop the daemon. */
	pthread_mutex_t lock;
	pthread_cond_t idle;
	long waiting;
	bool stopping;	     /* no more suspends: the daemon is about to stop */
	atomic_bool closing; /* no new requests: shutdown has begun */

	/* The admin API runs on its own thread, never on a polling thread
	 * that also acknowledges webhooks: a purge of millions of events or
	 * a write waiting out the busy timeout holds only this one. */
	struct admin admin; /* opt.admin, with cancel set below */
	atomic_bool api_cancel;
	pthread_t api_thread;
	bool api_running;
	pthread_mutex_t api_lock;
	pthread_cond_t api_cond;
	struct http_req *api_head, *api_tail;
	size_t api_queued;
	bool api_stop;

	/* for /metrics */
	atomic_uint_fast64_t accepted;
	atomic_uint_fast64_t duplicates;
	atomic_uint_fast64_t rejected[REJECT_REASONS];
	struct histogram ack_latency;
};

struct http_req {
	struct http_server *srv;
	struct MHD_Connection *conn;
	enum http_route route;
	enum req_state state;
	struct buf body;
	size_t counted; /* bytes held against server.max_pending_bytes */
	uint64_t dropped; /* body bytes read and dropped past a limit */
	bool too_big;
	bool overloaded;
	struct timespec started;
	char *headers_json;
	char delivery_id[201];
	char event[201];
	size_t body_len; /* as received, for the log */
	struct ingest_req ing;
	const struct http_endpoint *endpoint; /* ROUTE_WEBHOOK */
	char webhook_id[72]; /* a dynamic webhook's id, or "" */
	char *answer; /* the provider's own answer, sent once the event is stored */
	struct api_job *api; /* ROUTE_API: the request for the admin thread */
	struct http_req *api_next;
};

/* An admin request, copied out of the connection for the admin thread. */
struct api_job {
	char *method, *path;
	struct admin_param params[API_PARAMS_MAX];
	size_t n;
	char *task_token; /* Authorization: Bearer, for POST /api/tasks */
	bool overloaded; /* the queue was full: answered 503 */
	int result;
	struct admin_reply rep;
};

static void api_job_free(struct api_job *job)
{
	if (!job)
		return;
	free(job->method);
	free(job->path);
	if (job->task_token) {
		crypto_cleanse(job->task_token, strlen(job->task_token));
		free(job->task_token);
	}
	for (size_t i = 0; i < job->n; i++) {
		free((char *)(uintptr_t)job->params[i].name);
		free((char *)(uintptr_t)job->params[i].value);
	}
	admin_reply_release(&job->rep);
	free(job);
}

static double elapsed_ms(const struct timespec *since)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - since->tv_sec) * 1e3 +
	       (double)(now.tv_nsec - since->tv_nsec) / 1e6;
}

static void client_addr(struct MHD_Connection *conn, char *out, size_t size)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	out[0] = '\0';
	if (!ci || !ci->client_addr)
		return;
	const struct sockaddr *sa = ci->client_addr;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
			  out, (socklen_t)size);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6,
			  &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
			  (socklen_t)size);
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status,
			       const char *body, const char *allow, bool close_after)
{
	struct MHD_Response *res = MHD_create_response_from_buffer(
		strlen(body), (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
	if (!res)
		return MHD_NO;
	MHD_add_response_header(res, "Content-Type", "application/json");
	if (allow)
		MHD_add_response_header(res, "Allow", allow);
	if (close_after)
		MHD_add_response_header(res, MHD_HTTP_HEADER_CONNECTION, "close");
	enum MHD_Result r = MHD_queue_response(conn, status, res);
	MHD_destroy_response(res);
	return r;
}

/* Answers with {"error": code, "message": text} and logs the rejection
 * once. Messages are fixed strings or validated tokens: no request bytes
 * are echoed unescaped. */
static void count_rejected(struct http_server *srv, const char *code)
{
	for (size_t i = 0; i < REJECT_REASONS; i++) {
		if (strcmp(reject_reasons[i], code) == 0) {
			atomic_fetch_add_explicit(&srv->rejected[i], 1, memory_order_relaxed);
			return;
		}
	}
}

static enum MHD_Result reject(struct http_server *srv, struct MHD_Connection *conn,
			      unsigned status, const char *code, const char *message,
			      const char *allow)
{
	count_rejected(srv, code);
	json_t *o = json_pack("{s:s, s:s}", "error", code, "message", message);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	char addr[INET6_ADDRSTRLEN];
	client_addr(conn, addr, sizeof(addr));
	char st[8];
	snprintf(st, sizeof(st), "%u", status);
	log_msg(status >= 500 ? HQ_LOG_ERROR : HQ_LOG_WARN, "request rejected", "status", st,
		"reason", code, "detail", message, "remote", addr, NULL);
	/* A server that is shutting down closes the connection after. */
	enum MHD_Result r = respond(conn, status, text ? text : "{\"error\":\"internal\"}",
				    allow, strcmp(code, "shutting_down") == 0);
	free(text);
	return r;
}

static const struct http_endpoint *endpoint_of(const struct http_server *srv, const char *url)
{
	for (size_t i = 0; i < srv->opt.n_endpoints; i++)
		if (strcmp(srv->opt.endpoints[i].path, url) == 0)
			return &srv->opt.endpoints[i];
	return NULL;
}

/* "/webhooks/{provider}/{id}": the provider's template endpoint (its
 * settings, without a secret) and the id, for a dynamic webhook. */
static const struct http_endpoint *dynamic_of(const struct http_server *srv, const char *url,
					      const char **id)
{
	static const char prefix[] = "/webhooks/";
	if (strncmp(url, prefix, sizeof(prefix) - 1) != 0)
		return NULL;
	const char *p = url + sizeof(prefix) - 1, *slash = strchr(p, '/');
	if (!slash || !slash[1] || strchr(slash + 1, '/'))
		return NULL;
	for (size_t i = 0; i < srv->opt.n_dynamic; i++) {
		const char *name = srv->opt.dynamic[i].provider->name;
		if (strlen(name) == (size_t)(slash - p) && strncmp(name, p, (size_t)(slash - p)) == 0) {
			*id = slash + 1;
			return &srv->opt.dynamic[i];
		}
	}
	return NULL;
}

static enum http_route route_of(const struct http_server *srv, const char *url)
{
	const char *id;
	if (endpoint_of(srv, url) || (srv->opt.lookup && dynamic_of(srv, url, &id)))
		return ROUTE_WEBHOOK;
	if (strcmp(url, "/health") == 0)
		return ROUTE_HEALTH;
	if (strcmp(url, "/status") == 0)
		return ROUTE_STATUS;
	if (strcmp(url, "/metrics") == 0)
		return ROUTE_METRICS;
	if (strncmp(url, "/api/", 5) == 0)
		return ROUTE_API;
	return ROUTE_NONE;
}

static void req_free(struct http_req *req)
{
	if (!req)
		return;
	if (req->counted)
		atomic_fetch_sub(&req->srv->pending_bytes, req->counted);
	atomic_fetch_sub(&req->srv->active, 1);
	ingest_req_release(&req->ing);
	api_job_free(req->api);
	free(req->answer);
	buf_release(&req->body);
	free(req->headers_json);
	free(req);
}

static enum MHD_Result health(struct http_server *srv, struct MHD_Connection *conn)
{
	char body[256];
	int n = snprintf(body, sizeof(body),
			 "{\"status\":\"healthy\",\"version\":\"%s\",\"uptime_s\":%lld}",
			 srv->opt.version, (long long)(time(NULL) - srv->started));
	if (n < 0 || (size_t)n >= sizeof(body))
		return MHD_NO;
	return respond(conn, MHD_HTTP_OK, body, NULL, false);
}

/* Digest of s under a fixed key: equal-length values to compare in
 * constant time, whatever the lengths of what was sent. */
static void admin_digest(const char *s, uint8_t out[CRYPTO_SHA256_LEN])
{
	static const char key[] = "hookq admin credentials";
	if (crypto_hmac_sha256(key, sizeof(key) - 1, s, strlen(s), out) < 0)
		memset(out, 0, CRYPTO_SHA256_LEN);
}

/* The token of "Authorization: Bearer <token>", or NULL. */
static const char *bearer_token(struct MHD_Connection *conn)
{
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	return *h ? h : NULL;
}

/* HTTP Basic against admin.username/admin.password, in constant time. */
static bool admin_allowed(struct http_server *srv, struct MHD_Connection *conn)
{
	if (!srv->opt.admin_password)
		return true; /* dev mode without a password: warned at start */
	char *pass = NULL;
	char *user = MHD_basic_auth_get_username_password(conn, &pass);
	bool ok = false;
	if (user && pass) {
		uint8_t a[CRYPTO_SHA256_LEN], b[CRYPTO_SHA256_LEN];
		uint8_t c[CRYPTO_SHA256_LEN], d[CRYPTO_SHA256_LEN];
		admin_digest(user, a);
		admin_digest(srv->opt.admin_user ? srv->opt.admin_user : "", b);
		admin_digest(pass, c);
		admin_digest(srv->opt.admin_password, d);
		/* Both compared, always: no early exit on the user name. */
		bool user_ok = crypto_equal(a, b, sizeof(a));
		bool pass_ok = crypto_equal(c, d, sizeof(c));
		ok = user_ok & pass_ok;
		crypto_cleanse(c, sizeof(c));
		crypto_cleanse(d, sizeof(d));
	}
	if (pass) {
		crypto_cleanse(pass, strlen(pass));
		MHD_free(pass);
	}
	if (user)
		MHD_free(user);
	return ok;
}

static enum MHD_Result admin_denied(struct http_server *srv, struct MHD_Connection *conn,
				    const char *path)
{
	count_rejected(srv, "unauthorized");
	char addr[INET6_ADDRSTRLEN];
	client_addr(conn, addr, sizeof(addr));
	log_msg(HQ_LOG_WARN, "request rejected", "status", "401", "reason", "unauthorized", "path",
		path, "remote", addr, NULL);
	static const char body[] = "{\"error\":\"unauthorized\",\"message\":\"admin credentials "
				   "required (HTTP Basic)\"}";
	struct MHD_Response *res = MHD_create_response_from_buffer(
		sizeof(body) - 1, (void *)(uintptr_t)body, MHD_RESPMEM_PERSISTENT);
	if (!res)
		return MHD_NO;
	MHD_add_response_header(res, "Content-Type", "application/json");
	MHD_add_response_header(res, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
				"Basic realm=\"hookq\", charset=\"UTF-8\"");
	enum MHD_Result r = MHD_queue_response(conn, MHD_HTTP_UNAUTHORIZED, res);
	MHD_destroy_response(res);
	return r;
}

static enum MHD_Result admin_status(struct http_server *srv, struct MHD_Connection *conn)
{
	char *json = NULL;
	if (!srv->opt.status || srv->opt.status(srv->opt.status_ctx, &json) < 0)
		return reject(srv, conn, MHD_HTTP_SERVICE_UNAVAILABLE, "store_unavailable",
			      "the status cannot be read now; retry later", NULL);
	enum MHD_Result r = respond(conn, MHD_HTTP_OK, json, NULL, false);
	free(json);
	return r;
}

static enum MHD_Result admin_metrics(struct http_server *srv, struct MHD_Connection *conn)
{
	struct buf out;
	buf_init(&out, 1024 * 1024);
	int r = buf_printf(&out,
			   "# HELP hookq_webhooks_received_total Webhooks stored, by result.\n"
			   "# TYPE hookq_webhooks_received_total counter\n"
			   "hookq_webhooks_received_total{result=\"accepted\"} %llu\n"
			   "hookq_webhooks_received_total{result=\"duplicate\"} %llu\n"
			   "# HELP hookq_requests_rejected_total Requests refused, by reason.\n"
			   "# TYPE hookq_requests_rejected_total counter\n",
			   (unsigned long long)atomic_load(&srv->accepted),
			   (unsigned long long)atomic_load(&srv->duplicates));
	for (size_t i = 0; r == 0 && i < REJECT_REASONS; i++)
		r = buf_printf(&out, "hookq_requests_rejected_total{reason=\"%s\"} %llu\n",
			       reject_reasons[i], (unsigned long long)atomic_load(&srv->rejected[i]));
	if (r == 0)
		r = histogram_render(&srv->ack_latency, "hookq_ack_latency_seconds",
				     "Time from a webhook's headers to its 200.", &out);
	if (r == 0 && srv->opt.metrics)
		r = srv->opt.metrics(srv->opt.status_ctx, &out);
	if (r < 0) {
		buf_release(&out);
		return reject(srv, conn, MHD_HTTP_SERVICE_UNAVAILABLE, "store_unavailable",
			      "the metrics cannot be read now; retry later", NULL);
	}
	struct MHD_Response *res = MHD_create_response_from_buffer(out.len, out.data,
								   MHD_RESPMEM_MUST_COPY);
	buf_release(&out);
	if (!res)
		return MHD_NO;
	MHD_add_response_header(res, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	enum MHD_Result q = MHD_queue_response(conn, MHD_HTTP_OK, res);
	MHD_destroy_response(res);
	return q;
}

static void waiting_done(struct http_server *srv)
{
	pthread_mutex_lock(&srv->lock);
	if (--srv->waiting == 0)
		pthread_cond_broadcast(&srv->idle);
	pthread_mutex_unlock(&srv->lock);
}

/* Counts req as suspended and suspends its connection, unless the daemon
 * is about to stop (false: answer 503 instead). Both under lock, so
 * http_stop() cannot miss a connection being suspended. */
static bool suspend_begin(struct http_server *srv, struct http_req *req)
{
	pthread_mutex_lock(&srv->lock);
	bool stopping = srv->stopping;
	if (!stopping)
		srv->waiting++;
	pthread_mutex_unlock(&srv->lock);
	if (stopping)
		return false;
	req->state = REQ_WAITING;
	MHD_suspend_connection(req->conn);
	return true;
}

/* The answer is ready: resume the connection. The last touch of req:
 * after resume, MHD may finish and free it. The count drops only after
 * the resume, so http_stop() never stops the daemon with this connection
 * still suspended (a resumed one MHD_stop_daemon() handles). */
static void resume_done(struct http_server *srv, struct http_req *req)
{
	req->state = REQ_DONE;
	MHD_resume_connection(req->conn);
	waiting_done(srv);
}

struct api_params {
	struct admin_param p[API_PARAMS_MAX];
	size_t n;
	bool too_many;
	bool nomem;
};

static enum MHD_Result collect_param(void *cls, enum MHD_ValueKind kind, const char *key,
				     const char *value)
{
	(void)kind;
	struct api_params *ap = cls;
	if (ap->n == API_PARAMS_MAX) {
		ap->too_many = true;
		return MHD_NO;
	}
	/* Copies: the admin thread reads them after this callback. */
	char *k = strdup(key);
	char *v = value ? strdup(value) : NULL;
	if (!k || (value && !v)) {
		free(k);
		free(v);
		ap->nomem = true;
		return MHD_NO;
	}
	ap->p[ap->n].name = k;
	ap->p[ap->n].value = v;
	ap->n++;
	return MHD_YES;
}

/* A browser that holds the admin credentials sends them along with a
 * form another site makes it post: state-changing admin requests that
 * carry the marks of a cross-site request are refused. curl and the CLI
 * send neither header. */
static bool api_cross_site(struct MHD_Connection *conn, const char *method)
{
	if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
		return false;
	const char *site = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-Fetch-Site");
	if (site && strcmp(site, "none") != 0 && strcmp(site, "same-origin") != 0)
		return true;
	return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin") != NULL;
}

static void *api_main(void *arg)
{
	struct http_server *srv = arg;
	for (;;) {
		pthread_mutex_lock(&srv->api_lock);
		while (!srv->api_head && !srv->api_stop)
			pthread_cond_wait(&srv->api_cond, &srv->api_lock);
		struct http_req *req = srv->api_head;
		if (req) {
			srv->api_head = req->api_next;
			if (!srv->api_head)
				srv->api_tail = NULL;
			srv->api_queued--;
		}
		pthread_mutex_unlock(&srv->api_lock);
		if (!req)
			return NULL;
		struct api_job *job = req->api;
		struct admin_request areq = { job->method,   job->path,	     job->params,
					      job->n,	     req->body.data, req->body.len,
					      job->task_token };
		job->result = admin_handle(&srv->admin, &areq, clock_now_ms(), &job->rep);
		resume_done(srv, req); /* the last touch of req */
	}
}

/* The request has been read: hand it to the admin thread, suspended. */
static enum MHD_Result api_submit(struct http_server *srv, struct http_req *req,
				  const char *url, const char *method)
{
	struct MHD_Connection *conn = req->conn;
	if (req->too_big)
		return reject(srv, conn, MHD_HTTP_CONTENT_TOO_LARGE, "body_too_large",
			      "admin request bodies are at most 64 KiB", NULL);
	if (!srv->opt.admin)
		return reject(srv, conn, MHD_HTTP_NOT_FOUND, "not_found", "no such endpoint",
			      NULL);
	struct api_job *job = calloc(1, sizeof(*job));
	if (!job)
		return reject(srv, conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out_of_memory",
			      "out of memory; retry later", NULL);
	req->api = job;
	struct api_params ap = { .n = 0 };
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_param, &ap);
	memcpy(job->params, ap.p, sizeof(ap.p));
	job->n = ap.n;
	job->method = strdup(method);
	job->path = strdup(url);
	const char *token = bearer_token(conn);
	if (token)
		job->task_token = strdup(token);
	if (ap.nomem || !job->method || !job->path || (token && !job->task_token))
		return reject(srv, conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out_of_memory",
			      "out of memory; retry later", NULL);
	if (ap.too_many)
		return reject(srv, conn, MHD_HTTP_BAD_REQUEST, "bad_request",
			      "too many query parameters", NULL);

	if (!suspend_begin(srv, req))
		return reject(srv, conn, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting_down",
			      "the server is shutting down; retry later", NULL);
	/* Suspended before queueing: the admin thread may resume at once. */
	pthread_mutex_lock(&srv->api_lock);
	bool full = srv->api_queued >= API_QUEUE_MAX;
	if (!full) {
		req->api_next = NULL;
		if (srv->api_tail)
			srv->api_tail->api_next = req;
		else
			srv->api_head = req;
		srv->api_tail = req;
		srv->api_queued++;
		pthread_cond_signal(&srv->api_cond);
	}
	pthread_mutex_unlock(&srv->api_lock);
	if (full) {
		job->overloaded = true;
		resume_done(srv, req);
	}
	return MHD_YES;
}

/* The admin thread is done with the request: send its answer. */
static enum MHD_Result api_answer(struct http_server *srv, struct http_req *req)
{
	struct MHD_Connection *conn = req->conn;
	struct api_job *job = req->api;
	if (job->overloaded)
		return reject(srv, conn, MHD_HTTP_SERVICE_UNAVAILABLE, "overloaded",
			      "too many admin requests waiting; retry later", NULL);
	if (job->result < 0)
		return reject(srv, conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out_of_memory",
			      "out of memory; retry later", NULL);
	struct admin_reply *rep = &job->rep;
	if (rep->detail[0])
		log_msg(HQ_LOG_ERROR, "admin request failed", "path", job->path, "error",
			rep->detail, NULL);
	if (!rep->body)
		return reject(srv, conn, rep->status, rep->code, rep->message, rep->allow);
	/* Every change an operator makes leaves a line (the answer never
	 * holds a secret). */
	if (strcmp(job->method, "GET") != 0 && strcmp(job->method, "HEAD") != 0) {
		char addr[INET6_ADDRSTRLEN];
		client_addr(conn, addr, sizeof(addr));
		log_msg(HQ_LOG_INFO, "operator action", "method", job->method, "request", job->path,
			"result", rep->body, "remote", addr, NULL);
	}
	return respond(conn, rep->status, rep->body, NULL, false);
}

/* Called by the committer thread once the event is stored (or not). */
static void on_stored(struct ingest_req *ing)
{
	struct http_req *req = ing->ctx;
	struct http_server *srv = req->srv;
	resume_done(srv, req);
}

static enum MHD_Result webhook_answer(struct http_req *req)
{
	struct http_server *srv = req->srv;
	struct MHD_Connection *conn = req->conn;
	const struct store_event_in *ev = &req->ing.ev;
	if (ev->result == HQ_E_OVERLOAD)
		return reject(srv, conn, MHD_HTTP_SERVICE_UNAVAILABLE, "overloaded",
			      srv->opt.submit ?
				      "too many webhooks waiting for the queue; retry later" :
				      "too many webhooks waiting to be stored; retry later",
			      NULL);
	if (ev->result == HQ_E_SHUTDOWN)
		return reject(srv, conn, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting_down",
			      "the server is shutting down; retry later", NULL);
	if (ev->result < 0 && srv->opt.submit)
		return reject(srv, conn, MHD_HTTP_SERVICE_UNAVAILABLE, "queue_unavailable",
			      "the queue did not take the webhook; retry later", NULL);
	if (ev->result < 0)
		return reject(srv, conn, MHD_HTTP_SERVICE_UNAVAILABLE, "store_unavailable",
			      "the event could not be stored; retry later", NULL);
	if (req->answer && !ev->duplicate)
		log_msg(HQ_LOG_DEBUG, "provider answer", "provider", req->endpoint->provider->name,
			NULL);
	char body[400];
	int n = srv->opt.submit ?
			snprintf(body, sizeof(body),
				 "{\"status\":\"forwarded\",\"delivery_id\":\"%s\"}",
				 req->delivery_id) :
			snprintf(body, sizeof(body),
				 "{\"status\":\"%s\",\"event_id\":%lld,\"delivery_id\":\"%s\"}",
				 ev->duplicate ? "duplicate" : "accepted", (long long)ev->id,
				 req->delivery_id);
	if (n < 0 || (size_t)n >= sizeof(body))
		return MHD_NO;
	double took_ms = elapsed_ms(&req->started);
	histogram_observe_us(&srv->ack_latency, took_ms > 0 ? (uint64_t)(took_ms * 1000) : 0);
	atomic_fetch_add_explicit(ev->duplicate ? &srv->duplicates : &srv->accepted, 1,
				  memory_order_relaxed);
	char id[24], bytes[24], ms[24];
	snprintf(id, sizeof(id), "%lld", (long long)ev->id);
	snprintf(bytes, sizeof(bytes), "%zu", req->body_len);
	snprintf(ms, sizeof(ms), "%.2f", took_ms);
	log_msg(HQ_LOG_INFO,
		srv->opt.submit	 ? "webhook forwarded" :
		ev->duplicate	 ? "webhook duplicate" :
				   "webhook accepted",
		"provider", req->endpoint->provider->name, "event", req->event, "delivery_id",
		req->delivery_id, "bytes", bytes, "ms", ms,
		srv->opt.submit ? NULL : "event_id", id, NULL);
	/* A provider that expects its own answer (a slash command's ack)
	 * gets it, now that the event is stored. */
	return respond(conn, MHD_HTTP_OK, req->answer ? req->answer : body, NULL, false);
}

/* Header lookup for providers (libmicrohttpd compares names without
 * regard to case). */
static const char *request_header(void *ctx, const char *name)
{
	return MHD_lookup_connection_value(ctx, MHD_HEADER_KIND, name);
}

/* The forwarder's reading of a request: every header the provider looked
 * at (signature, timestamp, delivery id, event type, including a generic
 * route's own names) goes into the queue message too, so a worker reads
 * the delivery as this node did and can verify it again. */
#define READ_HEADERS_MAX 16
struct read_headers {
	struct MHD_Connection *conn;
	const char *names[READ_HEADERS_MAX];
	size_t n;
};

static const char *recording_header(void *ctx, const char *name)
{
	struct read_headers *rh = ctx;
	const char *v = MHD_lookup_connection_value(rh->conn, MHD_HEADER_KIND, name);
	if (!v)
		return NULL;
	for (size_t i = 0; i < rh->n; i++)
		if (strcasecmp(rh->names[i], name) == 0)
			return v;
	if (rh->n < READ_HEADERS_MAX)
		rh->names[rh->n++] = name;
	return v;
}

/* A shared token is the secret itself: never put on a queue. */
static bool token_header(const struct provider_settings *s, const char *name)
{
	return strcasecmp(name, "X-Gitlab-Token") == 0 || strcasecmp(name, "Authorization") == 0 ||
	       (s->token_header && strcasecmp(name, s->token_header) == 0);
}

/* The stored headers, and for the forwarder those the provider read. */
static char *message_headers(struct MHD_Connection *conn, const struct provider *p,
			     const struct provider_settings *s, const struct read_headers *rh)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	for (const char *const *h = p->stored_headers; *h; h++) {
		const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, *h);
		if (v)
			json_object_set_new(o, *h, json_string(v));
	}
	for (size_t i = 0; rh && i < rh->n; i++) {
		const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, rh->names[i]);
		if (v && !token_header(s, rh->names[i]))
			json_object_set_new(o, rh->names[i], json_string(v));
	}
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

static enum MHD_Result webhook_finish(struct http_server *srv, struct http_req *req)
{
	struct MHD_Connection *conn = req->conn;
	if (req->too_big)
		return reject(srv, conn, MHD_HTTP_CONTENT_TOO_LARGE, "body_too_large",
			      "the request body exceeds server.max_body", NULL);
	if (req->overloaded)
		return reject(srv, conn, MHD_HTTP_SERVICE_UNAVAILABLE, "overloaded",
			      "too many request bodies in memory; retry later", NULL);

	const struct http_endpoint *ep = req->endpoint;
	struct http_endpoint dyn;
	char secret[1025];
	if (req->webhook_id[0]) {
		/* A dynamic webhook: its row says whether it exists and is
		 * enabled, and holds its secret. Read per request, so changes
		 * apply to the next delivery. */
		bool enabled = false, has_secret = false;
		int lr = srv->opt.lookup(srv->opt.lookup_ctx, ep->provider->name, req->webhook_id,
					 &enabled, secret, sizeof(secret), &has_secret);
		if (lr < 0 || !enabled || !has_secret)
			crypto_cleanse(secret, sizeof(secret));
		if (lr == HQ_E_NOTFOUND || (lr == 0 && !enabled))
			return reject(srv, conn, MHD_HTTP_NOT_FOUND, "not_found",
				      lr == 0 ? "this webhook is disabled" : "no such webhook", NULL);
		if (lr < 0)
			return reject(srv, conn, MHD_HTTP_SERVICE_UNAVAILABLE, "store_unavailable",
				      "the webhook cannot be looked up now; retry later", NULL);
		if (!has_secret && !srv->opt.dev)
			return reject(srv, conn, MHD_HTTP_NOT_FOUND, "not_found",
				      "this webhook has no secret (allowed in dev mode only)", NULL);
		dyn = *ep;
		dyn.settings.secret = has_secret ? secret : NULL;
		dyn.settings.secret_len = has_secret ? strlen(secret) : 0;
		ep = &dyn;
	}
	struct read_headers rh = { .conn = conn };
	struct provider_request preq = {
		.header = srv->opt.submit ? recording_header : request_header,
		.ctx = srv->opt.submit ? (void *)&rh : (void *)conn,
		.body = req->body.data ? req->body.data : "",
		.body_len = req->body.len,
		.now_s = clock_now_ms() / 1000,
	};
	struct provider_accept acc;
	memset(&acc, 0, sizeof(acc));
	int pr = ep->provider->accept(&ep->settings, &preq, &acc);
	if (req->webhook_id[0])
		crypto_cleanse(secret, sizeof(secret));
	if (pr < 0) {
		unsigned status = pr == HQ_E_SIG_MISSING || pr == HQ_E_SIG_INVALID ?
					  MHD_HTTP_UNAUTHORIZED :
				  pr == HQ_E_INVAL ? MHD_HTTP_BAD_REQUEST :
						     MHD_HTTP_SERVICE_UNAVAILABLE;
		enum MHD_Result res = reject(srv, conn, status,
					     acc.code ? acc.code : "out_of_memory",
					     acc.message[0] ? acc.message : "retry later", NULL);
		provider_accept_release(&acc);
		return res;
	}
	if (!acc.store) {
		/* A handshake (Slack's url_verification): answered, not stored. */
		log_msg(HQ_LOG_INFO, "webhook handshake answered", "provider", ep->provider->name,
			"event", acc.event_type, NULL);
		enum MHD_Result res = respond(conn, MHD_HTTP_OK, acc.answer ? acc.answer : "{}",
					      NULL, false);
		provider_accept_release(&acc);
		return res;
	}
	req->answer = acc.answer; /* sent once the event is stored */
	acc.answer = NULL;
	snprintf(req->event, sizeof(req->event), "%s", acc.event_type);
	snprintf(req->delivery_id, sizeof(req->delivery_id), "%s", acc.delivery_id);

	req->headers_json = message_headers(conn, ep->provider, &ep->settings,
					    srv->opt.submit ? &rh : NULL);
	if (!req->headers_json)
		return reject(srv, conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out_of_memory",
			      "out of memory; retry later", NULL);

	struct store_event_in *ev = &req->ing.ev;
	ev->provider = ep->provider->name;
	ev->route = req->webhook_id[0] ? req->webhook_id :
		    ep->route		   ? ep->route :
					     ep->provider->name;
	ev->delivery_id = req->delivery_id;
	ev->event_type = req->event;
	ev->headers_json = req->headers_json;
	ev->body = req->body.data ? req->body.data : "";
	ev->body_len = req->body.len;
	ev->received_at_ms = clock_now_ms();
	ev->max_attempts = 0;
	req->ing.done = on_stored;
	req->ing.ctx = req;

	if (!suspend_begin(srv, req))
		return reject(srv, conn, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting_down",
			      "the server is shutting down; retry later", NULL);

	/* Suspended before submitting: the committer may resume at once. */
	req->body_len = req->body.len;
	int r = srv->opt.submit ? srv->opt.submit(srv->opt.submit_ctx, &req->ing) :
				  ingest_submit(srv->ingest, &req->ing);
	if (r < 0) {
		req->ing.ev.result = r;
		resume_done(srv, req);
	} else if (req->ing.ev.body != req->body.data) {
		/* The body went in compressed: the raw copy is not needed any
		 * more. The connection is ours until this handler returns, and
		 * the committer only reads the compressed copy. */
		buf_release(&req->body);
	}
	return MHD_YES;
}

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	(void)kind;
	size_t *total = cls;
	/* "Key: value\r\n" */
	*total += strlen(key) + (value ? strlen(value) : 0) + 4;
	return MHD_YES;
}

/* The size of the request line and headers as sent, near enough: MHD's
 * memory pool bounds them too, but only loosely (it also holds the read
 * buffer), so the documented limit is checked here. */
static size_t header_bytes(struct MHD_Connection *conn, const char *url)
{
	size_t total = strlen(url) + 16;
	MHD_get_connection_values(conn, MHD_HEADER_KIND, count_header, &total);
	return total;
}

/* An answer sent before the body is read makes MHD close the connection
 * while the client is still sending: most clients then see a reset, not
 * the 413. So an oversized body is read and dropped, and 413 follows once
 * it is in, unless the client waits for "100 Continue" (then it gets the
 * 413 instead, at once) or the excess is past DRAIN_MAX (not worth the
 * bandwidth: the connection is cut). */
#define DRAIN_MAX (64 * 1024 * 1024)

static bool drain_first(struct MHD_Connection *conn, uint64_t excess)
{
	const char *expect = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							 MHD_HTTP_HEADER_EXPECT);
	if (expect && strcasecmp(expect, "100-continue") == 0)
		return false;
	return excess <= DRAIN_MAX;
}

/* Holds n more body bytes against max_pending_bytes; HQ_E_OVERLOAD when
 * that would pass the limit. */
static int pending_take(struct http_server *srv, size_t n)
{
	if (atomic_fetch_add(&srv->pending_bytes, n) + n > srv->opt.max_pending_bytes) {
		atomic_fetch_sub(&srv->pending_bytes, n);
		return HQ_E_OVERLOAD;
	}
	return 0;
}

/* A request with state, counted as active until http_completed(). */
static struct http_req *req_new(struct http_server *srv, struct MHD_Connection *conn,
				enum http_route route, size_t max_body)
{
	struct http_req *req = calloc(1, sizeof(*req));
	if (!req)
		return NULL;
	req->srv = srv;
	req->conn = conn;
	req->route = route;
	buf_init(&req->body, max_body);
	atomic_fetch_add(&srv->active, 1);
	return req;
}

static enum MHD_Result http_access(void *cls, struct MHD_Connection *conn, const char *url,
				   const char *method, const char *version,
				   const char *upload_data, size_t *upload_data_size,
				   void **con_cls)
{
	(void)version;
	struct http_server *srv = cls;
	struct http_req *req = *con_cls;

	if (!req) {
		enum http_route route = route_of(srv, url);
		if (route == ROUTE_NONE)
			return reject(srv, conn, MHD_HTTP_NOT_FOUND, "not_found",
				      "no such endpoint", NULL);
		if (route == ROUTE_API) {
			/* A running agent creates its follow-up tasks with its
			 * task token instead of the admin credentials; engine/admin
			 * checks the token. */
			bool task_token = bearer_token(conn) && strcmp(method, "POST") == 0 &&
					  strcmp(url, "/api/tasks") == 0;
			if (bearer_token(conn) && !task_token)
				return reject(srv, conn, MHD_HTTP_FORBIDDEN, "forbidden",
					      "a task token only creates follow-up tasks "
					      "(POST /api/tasks)",
					      NULL);
			if (!task_token && !admin_allowed(srv, conn))
				return admin_denied(srv, conn, url);
			if (api_cross_site(conn, method))
				return reject(srv, conn, MHD_HTTP_FORBIDDEN, "forbidden",
					      "cross-site admin requests are refused", NULL);
			req = req_new(srv, conn, route, API_BODY_MAX);
			if (!req)
				return MHD_NO;
			*con_cls = req;
			return MHD_YES;
		}
		if (route == ROUTE_STATUS || route == ROUTE_METRICS) {
			if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
				return reject(srv, conn, MHD_HTTP_METHOD_NOT_ALLOWED,
					      "method_not_allowed", "use GET", "GET, HEAD");
			if (!admin_allowed(srv, conn))
				return admin_denied(srv, conn, url);
			return route == ROUTE_STATUS ? admin_status(srv, conn) :
						       admin_metrics(srv, conn);
		}
		if (route == ROUTE_HEALTH) {
			if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
				return reject(srv, conn, MHD_HTTP_METHOD_NOT_ALLOWED,
					      "method_not_allowed", "use GET", "GET, HEAD");
			return health(srv, conn);
		}
		if (strcmp(method, "POST") != 0)
			return reject(srv, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
				      "webhooks are delivered with POST", "POST");
		if (atomic_load(&srv->closing))
			return reject(srv, conn, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting_down",
				      "the server is shutting down; retry later", NULL);
		if (header_bytes(conn, url) > srv->opt.max_header_size)
			return reject(srv, conn, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE,
				      "headers_too_large",
				      "the request headers exceed server.max_header_size", NULL);
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		uint64_t length = 0;
		bool too_big = cl && parse_u64(cl, 0, UINT64_MAX, &length) == 0 &&
			       length > srv->opt.max_body;
		if (too_big && !drain_first(conn, length - srv->opt.max_body))
			return reject(srv, conn, MHD_HTTP_CONTENT_TOO_LARGE, "body_too_large",
				      "the request body exceeds server.max_body", NULL);
		req = req_new(srv, conn, route, srv->opt.max_body);
		if (!req)
			return MHD_NO;
		req->endpoint = endpoint_of(srv, url);
		if (!req->endpoint) {
			const char *id = NULL;
			req->endpoint = dynamic_of(srv, url, &id);
			snprintf(req->webhook_id, sizeof(req->webhook_id), "%s", id ? id : "");
		}
		req->too_big = too_big;
		/* One allocation for the whole body when its length is known,
		 * held against max_pending_bytes from now on. */
		if (!too_big && length > 0 && length <= MAX_PREALLOC &&
		    pending_take(srv, (size_t)length) == 0) {
			req->counted = (size_t)length;
			(void)buf_reserve(&req->body, (size_t)length);
		}
		clock_gettime(CLOCK_MONOTONIC, &req->started);
		*con_cls = req;
		return MHD_YES;
	}

	if (req->state == REQ_DONE)
		return req->route == ROUTE_API ? api_answer(srv, req) : webhook_answer(req);

	if (req->route == ROUTE_API) {
		if (*upload_data_size == 0)
			return api_submit(srv, req, url, method);
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		/* JSON bodies of the webhooks API; past the cap the rest is
		 * read and dropped (413), and past 64 MiB more the cut. */
		if (!req->too_big && buf_append(&req->body, upload_data, n) < 0)
			req->too_big = true;
		if (req->too_big)
			req->dropped += n;
		return req->dropped <= DRAIN_MAX ? MHD_YES : MHD_NO;
	}

	if (*upload_data_size) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		/* Past a limit the rest of the body is read and dropped (MHD
		 * cannot answer before the upload ends), up to DRAIN_MAX: then
		 * the connection is cut. */
		if (req->too_big || req->overloaded) {
			req->dropped += n;
			if (req->body.len + req->dropped <= srv->opt.max_body + DRAIN_MAX)
				return MHD_YES;
			char addr[INET6_ADDRSTRLEN];
			client_addr(conn, addr, sizeof(addr));
			log_msg(HQ_LOG_WARN, "request cut", "reason", "body_too_large",
				"detail", "more than 64 MiB over server.max_body", "remote", addr,
				NULL);
			return MHD_NO;
		}
		size_t held = req->body.len + n;
		if (held > req->counted) {
			if (pending_take(srv, held - req->counted) < 0) {
				req->overloaded = true;
				req->dropped += n;
				return MHD_YES;
			}
			req->counted = held;
		}
		int r = buf_append(&req->body, upload_data, n);
		if (r == HQ_E_TOOBIG)
			req->too_big = true;
		else if (r < 0)
			req->overloaded = true;
		return MHD_YES;
	}

	return webhook_finish(srv, req);
}

static void http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			   enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	req_free(*con_cls);
	*con_cls = NULL;
}

static int resolve(const char *host, uint16_t port, struct sockaddr_storage *ss,
		   bool *ipv6)
{
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	char service[8];
	snprintf(service, sizeof(service), "%u", port);
	if (getaddrinfo(host, service, &hints, &res) != 0 || !res)
		return HQ_E_INVAL;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*ipv6 = res->ai_family == AF_INET6;
	freeaddrinfo(res);
	return 0;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char text[512];
	int n = vsnprintf(text, sizeof(text), fmt, ap);
	if (n < 0)
		return;
	while (n > 0 && (size_t)n < sizeof(text) && text[n - 1] == '\n')
		text[--n] = '\0';
	log_msg(HQ_LOG_DEBUG, "http server", "detail", text, NULL);
}

/* Stops the admin thread (its queue is empty: every admin request has
 * been answered before the daemon stops) and frees srv. */
static void http_free(struct http_server *srv)
{
	if (srv->api_running) {
		pthread_mutex_lock(&srv->api_lock);
		srv->api_stop = true;
		pthread_cond_signal(&srv->api_cond);
		pthread_mutex_unlock(&srv->api_lock);
		pthread_join(srv->api_thread, NULL);
	}
	pthread_mutex_destroy(&srv->api_lock);
	pthread_cond_destroy(&srv->api_cond);
	pthread_mutex_destroy(&srv->lock);
	pthread_cond_destroy(&srv->idle);
	free(srv);
}

int http_start(const struct http_options *opt, struct ingest *ingest,
	       struct http_server **ret, char *err, size_t err_size)
{
	struct sockaddr_storage ss;
	bool ipv6 = false;
	if (resolve(opt->host, opt->port, &ss, &ipv6) < 0) {
		snprintf(err, err_size, "cannot resolve listen address '%s'", opt->host);
		return HQ_E_INVAL;
	}
	struct http_server *srv = calloc(1, sizeof(*srv));
	if (!srv)
		return HQ_E_NOMEM;
	srv->opt = *opt;
	srv->ingest = ingest;
	srv->started = time(NULL);
	atomic_init(&srv->pending_bytes, 0);
	atomic_init(&srv->active, 0);
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->idle, NULL);
	atomic_init(&srv->closing, false);
	atomic_init(&srv->accepted, 0);
	atomic_init(&srv->duplicates, 0);
	for (size_t i = 0; i < REJECT_REASONS; i++)
		atomic_init(&srv->rejected[i], 0);
	histogram_init(&srv->ack_latency);
	atomic_init(&srv->api_cancel, false);
	pthread_mutex_init(&srv->api_lock, NULL);
	pthread_cond_init(&srv->api_cond, NULL);
	if (opt->admin) {
		srv->admin = *opt->admin;
		srv->admin.cancel = &srv->api_cancel;
		if (pthread_create(&srv->api_thread, NULL, api_main, srv) != 0) {
			snprintf(err, err_size, "cannot start the admin API thread");
			http_free(srv);
			return HQ_E_SYSTEM;
		}
		srv->api_running = true;
	}

	unsigned threads = opt->threads;
	if (threads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 ? (unsigned)n : 1;
	}
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
			 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	if (ipv6)
		flags |= MHD_USE_DUAL_STACK;
	/* The connection's memory pool holds the request line, the headers
	 * and the read buffer: the header limit plus room to read the body. */
	size_t pool = opt->max_header_size + 16 * 1024;
	srv->daemon = MHD_start_daemon(
		flags, opt->port, NULL, NULL, http_access, srv,
		/* First, so that MHD reports option errors through it too. */
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_THREAD_POOL_SIZE, threads,
		MHD_OPTION_CONNECTION_LIMIT, opt->max_connections,
		MHD_OPTION_CONNECTION_TIMEOUT, opt->connection_timeout_s,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool,
		MHD_OPTION_NOTIFY_COMPLETED, http_completed, srv,
		MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024,
		MHD_OPTION_END);
	if (!srv->daemon) {
		snprintf(err, err_size, "cannot listen on %s:%u (address in use or not permitted)",
			 opt->host, opt->port);
		http_free(srv);
		return HQ_E_IO;
	}
	const union MHD_DaemonInfo *di =
		MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = di ? di->port : opt->port;
	*ret = srv;
	return 0;
}

uint16_t http_port(const struct http_server *srv)
{
	return srv->port;
}

void http_stop(struct http_server *srv, uint64_t grace_ms)
{
	if (!srv)
		return;
	/* No new connections. The listening socket stays open until the
	 * daemon stops: its threads may still be using it. */
	MHD_socket fd = MHD_quiesce_daemon(srv->daemon);
	/* Requests in flight finish: the committer is still running and
	 * resumes every suspended one. New requests on open keep-alive
	 * connections get 503 shutting_down and the connection closes.
	 * Past the grace period requests still being uploaded are cut. */
	atomic_store(&srv->closing, true);
	/* Long admin work (purges, bulk replays) stops between batches. */
	atomic_store(&srv->api_cancel, true);
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	/* Linger a moment even when nothing is in flight: requests already
	 * sent on open connections but not read yet get their 503 instead
	 * of a closed connection. */
	while ((atomic_load(&srv->active) > 0 || elapsed_ms(&start) < SHUTDOWN_LINGER_MS) &&
	       elapsed_ms(&start) < (double)grace_ms) {
		clock_sleep_ms(5);
	}
	/* Suspended requests are always awaited: stopping the daemon under
	 * them is not allowed, and their events may be committing now. */
	pthread_mutex_lock(&srv->lock);
	srv->stopping = true;
	while (srv->waiting > 0)
		pthread_cond_wait(&srv->idle, &srv->lock);
	pthread_mutex_unlock(&srv->lock);
	MHD_stop_daemon(srv->daemon);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	http_free(srv);
}
