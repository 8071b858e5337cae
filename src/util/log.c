#include "util/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_format log_fmt = HQ_LOG_KV;
static enum log_level log_min = HQ_LOG_INFO;
static int log_fd = 2;

/* A line never exceeds this; longer values are cut and marked with "...". */
#define LOG_LINE_MAX 4096
#define LOG_VALUE_MAX 1024

struct line {
	char data[LOG_LINE_MAX];
	size_t len;
};

void log_setup(enum log_format format, enum log_level min_level, int fd)
{
	log_fmt = format;
	log_min = min_level;
	log_fd = fd;
}

int log_enabled(enum log_level level)
{
	return level >= log_min;
}

static void line_put(struct line *l, const char *s, size_t n)
{
	/* Keep one byte for the final newline. */
	size_t room = sizeof(l->data) - 1 - l->len;
	if (n > room)
		n = room;
	memcpy(l->data + l->len, s, n);
	l->len += n;
}

static void line_putc(struct line *l, char c)
{
	line_put(l, &c, 1);
}

static void line_escaped(struct line *l, const char *v, int json)
{
	size_t n = strlen(v);
	int cut = n > LOG_VALUE_MAX;
	if (cut)
		n = LOG_VALUE_MAX;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c == '"' || c == '\\') {
			line_putc(l, '\\');
			line_putc(l, (char)c);
		} else if (c == '\n') {
			line_put(l, "\\n", 2);
		} else if (c == '\t') {
			line_put(l, "\\t", 2);
		} else if (c < 0x20 || c == 0x7f) {
			char esc[8];
			int k = json ? snprintf(esc, sizeof(esc), "\\u%04x", c)
				     : snprintf(esc, sizeof(esc), "\\x%02x", c);
			if (k > 0)
				line_put(l, esc, (size_t)k);
		} else {
			line_putc(l, (char)c);
		}
	}
	if (cut)
		line_put(l, "...", 3);
}

static int kv_needs_quotes(const char *v)
{
	if (!*v)
		return 1;
	for (const char *p = v; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= ' ' || c == '=' || c == '"' || c == '\\' || c == 0x7f)
			return 1;
	}
	return 0;
}

static void line_field(struct line *l, const char *key, const char *value, int first)
{
	if (!value)
		value = "";
	if (log_fmt == HQ_LOG_JSON) {
		if (!first)
			line_putc(l, ',');
		line_putc(l, '"');
		line_escaped(l, key, 1);
		line_put(l, "\":\"", 3);
		line_escaped(l, value, 1);
		line_putc(l, '"');
		return;
	}
	if (!first)
		line_putc(l, ' ');
	line_put(l, key, strlen(key));
	line_putc(l, '=');
	if (kv_needs_quotes(value)) {
		line_putc(l, '"');
		line_escaped(l, value, 0);
		line_putc(l, '"');
	} else {
		line_escaped(l, value, 0);
	}
}

void log_msg(enum log_level level, const char *msg, ...)
{
	static const char *const names[] = { "debug", "info", "warn", "error" };
	if (level < log_min)
		return;
	int saved_errno = errno;
	struct line l;
	l.len = 0;

	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char when[40];
	int k = snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
	if (k < 0 || (size_t)k >= sizeof(when))
		when[0] = '\0';

	if (log_fmt == HQ_LOG_JSON)
		line_putc(&l, '{');
	line_field(&l, "ts", when, 1);
	line_field(&l, "level", names[level], 0);
	line_field(&l, "msg", msg, 0);
	va_list ap;
	va_start(ap, msg);
	for (;;) {
		const char *key = va_arg(ap, const char *);
		if (!key)
			break;
		const char *value = va_arg(ap, const char *);
		line_field(&l, key, value, 0);
	}
	va_end(ap);
	if (log_fmt == HQ_LOG_JSON)
		line_putc(&l, '}');
	l.data[l.len++] = '\n';

	const char *p = l.data;
	size_t left = l.len;
	while (left > 0) {
		ssize_t w = write(log_fd, p, left);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		p += w;
		left -= (size_t)w;
	}
	errno = saved_errno;
}
