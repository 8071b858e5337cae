/* fake: a local HTTP server for the clients' unit tests. It records every
 * request and answers from a script (or a handler), so a test can check
 * exactly what a client sent and how it reads each kind of answer. Also
 * raw servers that misbehave at the socket level. */
#ifndef HOOKQ_TESTS_CLIENTS_FAKE_H
#define HOOKQ_TESTS_CLIENTS_FAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FAKE_REQUESTS_MAX 128
#define FAKE_REPLIES_MAX 64

struct fake_request {
	char method[16];
	char *uri;     /* path and query, as sent */
	char *headers; /* "name: value\n" lines, names in lower case */
	char *body;
	size_t body_len;
};

struct fake_reply {
	unsigned status;
	const char *headers[8]; /* "Name: value", NULL-terminated */
	const char *body;
};

/* Answers a request itself when it returns true (out's strings must live
 * until the next request); the script answers otherwise. */
typedef bool (*fake_handler)(void *ctx, const struct fake_request *req, struct fake_reply *out);

struct fake_server;

struct fake_server *fake_start(void);
void fake_stop(struct fake_server *f);
/* "http://127.0.0.1:PORT" */
const char *fake_url(const struct fake_server *f);
void fake_handle(struct fake_server *f, fake_handler fn, void *ctx);
/* Queues the answer to the next request without a handler's answer; with
 * the script empty the answer is 599. */
void fake_script(struct fake_server *f, unsigned status, const char *body, ...)
	__attribute__((sentinel));
size_t fake_count(struct fake_server *f);
/* The i-th request received (valid until fake_stop). */
const struct fake_request *fake_request(struct fake_server *f, size_t i);
/* A request header's value ("" when absent, static buffer). */
const char *fake_header(const struct fake_request *r, const char *name);

/* A port where nothing listens. */
uint16_t fake_closed_port(void);

/* A raw server for one connection: it reads a whole request, then closes
 * without a word (FAKE_RAW_CLOSE) or stays silent until the client gives
 * up (FAKE_RAW_HANG). */
enum fake_raw_mode { FAKE_RAW_CLOSE, FAKE_RAW_HANG };
struct fake_raw;
struct fake_raw *fake_raw_start(enum fake_raw_mode mode);
const char *fake_raw_url(const struct fake_raw *r);
/* Whether a whole request arrived. Waits for the server to finish. */
bool fake_raw_stop(struct fake_raw *r);

#endif
