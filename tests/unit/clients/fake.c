#include "fake.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

struct fake_scripted {
	unsigned status;
	char *headers[8];
	char *body;
};

struct fake_server {
	struct MHD_Daemon *daemon;
	char url[64];
	pthread_mutex_t lock;
	fake_handler handler;
	void *handler_ctx;
	struct fake_scripted script[FAKE_REPLIES_MAX];
	size_t script_head, script_len;
	struct fake_request requests[FAKE_REQUESTS_MAX];
	size_t n_requests;
};

struct fake_pending {
	char *uri;
	char *body;
	size_t body_len;
	bool started;
};

static void *fake_uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
	(void)cls;
	(void)conn;
	struct fake_pending *p = calloc(1, sizeof(*p));
	if (p)
		p->uri = strdup(uri);
	return p;
}

static void fake_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			   enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	struct fake_pending *p = *con_cls;
	if (p) {
		free(p->uri);
		free(p->body);
		free(p);
	}
	*con_cls = NULL;
}

struct fake_header_acc {
	char *text;
	size_t len;
};

static enum MHD_Result fake_each_header(void *cls, enum MHD_ValueKind kind, const char *key,
					const char *value)
{
	(void)kind;
	struct fake_header_acc *a = cls;
	size_t add = strlen(key) + 2 + strlen(value ? value : "") + 1;
	char *t = realloc(a->text, a->len + add + 1);
	if (!t)
		return MHD_NO;
	a->text = t;
	size_t k = a->len;
	for (const char *c = key; *c; c++)
		t[k++] = (char)tolower((unsigned char)*c);
	snprintf(t + k, add + 1 - (k - a->len), ": %s\n", value ? value : "");
	a->len = k + strlen(t + k);
	return MHD_YES;
}

static enum MHD_Result fake_answer(void *cls, struct MHD_Connection *conn, const char *url,
				   const char *method, const char *version,
				   const char *upload_data, size_t *upload_data_size,
				   void **con_cls)
{
	(void)url;
	(void)version;
	struct fake_server *f = cls;
	struct fake_pending *p = *con_cls;
	if (!p)
		return MHD_NO;
	if (!p->started) {
		p->started = true;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		char *b = realloc(p->body, p->body_len + *upload_data_size + 1);
		if (!b)
			return MHD_NO;
		memcpy(b + p->body_len, upload_data, *upload_data_size);
		p->body = b;
		p->body_len += *upload_data_size;
		b[p->body_len] = '\0';
		*upload_data_size = 0;
		return MHD_YES;
	}
	struct fake_request req;
	memset(&req, 0, sizeof(req));
	snprintf(req.method, sizeof(req.method), "%s", method);
	req.uri = strdup(p->uri ? p->uri : "");
	struct fake_header_acc acc = { NULL, 0 };
	MHD_get_connection_values(conn, MHD_HEADER_KIND, fake_each_header, &acc);
	req.headers = acc.text ? acc.text : strdup("");
	req.body = p->body ? p->body : strdup("");
	req.body_len = p->body_len;
	p->body = NULL;
	p->body_len = 0;

	struct fake_reply out;
	memset(&out, 0, sizeof(out));
	out.status = 599;
	out.body = "";
	pthread_mutex_lock(&f->lock);
	const struct fake_request *stored = NULL;
	if (f->n_requests < FAKE_REQUESTS_MAX) {
		f->requests[f->n_requests] = req;
		stored = &f->requests[f->n_requests++];
	} else {
		free(req.uri);
		free(req.headers);
		free(req.body);
	}
	bool handled = stored && f->handler && f->handler(f->handler_ctx, stored, &out);
	if (!handled && f->script_len > 0) {
		struct fake_scripted *s = &f->script[f->script_head];
		out.status = s->status;
		out.body = s->body;
		for (size_t i = 0; i < 8; i++)
			out.headers[i] = s->headers[i];
	}
	struct MHD_Response *res = MHD_create_response_from_buffer(
		strlen(out.body ? out.body : ""), (void *)(uintptr_t)(out.body ? out.body : ""),
		MHD_RESPMEM_MUST_COPY);
	for (size_t i = 0; res && i < 8 && out.headers[i]; i++) {
		const char *colon = strchr(out.headers[i], ':');
		char name[128];
		snprintf(name, sizeof(name), "%.*s", (int)(colon - out.headers[i]), out.headers[i]);
		MHD_add_response_header(res, name, colon + 1 + (colon[1] == ' '));
	}
	if (!handled && f->script_len > 0) {
		struct fake_scripted *s = &f->script[f->script_head];
		free(s->body);
		for (size_t i = 0; i < 8; i++)
			free(s->headers[i]);
		memset(s, 0, sizeof(*s));
		f->script_head = (f->script_head + 1) % FAKE_REPLIES_MAX;
		f->script_len--;
	}
	pthread_mutex_unlock(&f->lock);
	if (!res)
		return MHD_NO;
	enum MHD_Result r = MHD_queue_response(conn, out.status, res);
	MHD_destroy_response(res);
	return r;
}

struct fake_server *fake_start(void)
{
	struct fake_server *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	pthread_mutex_init(&f->lock, NULL);
	struct sockaddr_in addr;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, fake_answer, f,
				     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
				     MHD_OPTION_URI_LOG_CALLBACK, fake_uri_log, f,
				     MHD_OPTION_NOTIFY_COMPLETED, fake_completed, f,
				     MHD_OPTION_END);
	if (!f->daemon) {
		free(f);
		return NULL;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(f->daemon, MHD_DAEMON_INFO_BIND_PORT);
	snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u", (unsigned)info->port);
	return f;
}

void fake_stop(struct fake_server *f)
{
	if (!f)
		return;
	MHD_stop_daemon(f->daemon);
	for (size_t i = 0; i < f->n_requests; i++) {
		free(f->requests[i].uri);
		free(f->requests[i].headers);
		free(f->requests[i].body);
	}
	for (size_t i = 0; i < FAKE_REPLIES_MAX; i++) {
		free(f->script[i].body);
		for (size_t k = 0; k < 8; k++)
			free(f->script[i].headers[k]);
	}
	pthread_mutex_destroy(&f->lock);
	free(f);
}

const char *fake_url(const struct fake_server *f)
{
	return f->url;
}

void fake_handle(struct fake_server *f, fake_handler fn, void *ctx)
{
	pthread_mutex_lock(&f->lock);
	f->handler = fn;
	f->handler_ctx = ctx;
	pthread_mutex_unlock(&f->lock);
}

void fake_script(struct fake_server *f, unsigned status, const char *body, ...)
{
	pthread_mutex_lock(&f->lock);
	if (f->script_len < FAKE_REPLIES_MAX) {
		struct fake_scripted *s = &f->script[(f->script_head + f->script_len) % FAKE_REPLIES_MAX];
		s->status = status;
		s->body = strdup(body ? body : "");
		va_list ap;
		va_start(ap, body);
		const char *h;
		for (size_t i = 0; i < 7 && (h = va_arg(ap, const char *)) != NULL; i++)
			s->headers[i] = strdup(h);
		va_end(ap);
		f->script_len++;
	}
	pthread_mutex_unlock(&f->lock);
}

size_t fake_count(struct fake_server *f)
{
	pthread_mutex_lock(&f->lock);
	size_t n = f->n_requests;
	pthread_mutex_unlock(&f->lock);
	return n;
}

const struct fake_request *fake_request(struct fake_server *f, size_t i)
{
	pthread_mutex_lock(&f->lock);
	const struct fake_request *r = i < f->n_requests ? &f->requests[i] : NULL;
	pthread_mutex_unlock(&f->lock);
	return r;
}

const char *fake_header(const struct fake_request *r, const char *name)
{
	static __thread char value[4096];
	value[0] = '\0';
	size_t n = strlen(name);
	for (const char *line = r->headers; line && *line;) {
		const char *end = strchr(line, '\n');
		if (!end)
			break;
		if ((size_t)(end - line) > n + 1 && strncasecmp(line, name, n) == 0 && line[n] == ':') {
			snprintf(value, sizeof(value), "%.*s", (int)(end - line - n - 2), line + n + 2);
			break;
		}
		line = end + 1;
	}
	return value;
}

static int fake_listen(uint16_t *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in addr;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(addr);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(addr.sin_port);
	return fd;
}

uint16_t fake_closed_port(void)
{
	uint16_t port = 0;
	int fd = fake_listen(&port);
	if (fd >= 0)
		close(fd); /* bound, never listened: connections are refused */
	return port;
}

struct fake_raw {
	enum fake_raw_mode mode;
	int fd;
	char url[64];
	pthread_t thread;
	bool whole_request;
};

static void *fake_raw_run(void *arg)
{
	struct fake_raw *r = arg;
	struct pollfd p = { .fd = r->fd, .events = POLLIN };
	if (poll(&p, 1, 10000) != 1)
		return NULL;
	int c = accept4(r->fd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return NULL;
	char buf[65536];
	size_t len = 0;
	long want = -1;
	for (;;) {
		struct pollfd q = { .fd = c, .events = POLLIN };
		if (poll(&q, 1, 5000) != 1)
			break;
		ssize_t n = recv(c, buf + len, sizeof(buf) - 1 - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		char *end = strstr(buf, "\r\n\r\n");
		if (end && want < 0) {
			char *cl = strcasestr(buf, "\r\nContent-Length:");
			want = (long)(end + 4 - buf) + (cl && cl < end ? strtol(cl + 17, NULL, 10) : 0);
		}
		if (want >= 0 && (long)len >= want) {
			r->whole_request = true;
			break;
		}
	}
	if (r->mode == FAKE_RAW_HANG) {
		/* Silent until the client hangs up. */
		struct pollfd q = { .fd = c, .events = POLLIN };
		while (poll(&q, 1, 10000) == 1 && recv(c, buf, sizeof(buf), 0) > 0)
			;
	}
	close(c);
	return NULL;
}

struct fake_raw *fake_raw_start(enum fake_raw_mode mode)
{
	struct fake_raw *r = calloc(1, sizeof(*r));
	uint16_t port = 0;
	if (!r)
		return NULL;
	r->mode = mode;
	r->fd = fake_listen(&port);
	if (r->fd < 0 || listen(r->fd, 4) != 0 ||
	    pthread_create(&r->thread, NULL, fake_raw_run, r) != 0) {
		if (r->fd >= 0)
			close(r->fd);
		free(r);
		return NULL;
	}
	snprintf(r->url, sizeof(r->url), "http://127.0.0.1:%u", (unsigned)port);
	return r;
}

const char *fake_raw_url(const struct fake_raw *r)
{
	return r->url;
}

bool fake_raw_stop(struct fake_raw *r)
{
	pthread_join(r->thread, NULL);
	close(r->fd);
	bool whole = r->whole_request;
	free(r);
	return whole;
}
