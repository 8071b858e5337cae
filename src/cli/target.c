#include "cli/target.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "providers/provider.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/parse.h"

/* A CLI run makes a handful of requests: libcurl is set up once. */
static bool curl_ready;

static void curl_done(void)
{
	curl_global_cleanup();
}

int cli_target_open_store(struct cli_target *t, struct store **ret)
{
	const char *db = t->db;
	if (!db) {
		const char *env = getenv("HOOKQ_DB");
		const char *url = getenv("DATABASE_URL");
		db = env && *env ? env : url && *url ? url : "hookq.db";
	}
	/* Reading must not create a database where there was none. */
	const char *path = db;
	if (strncmp(path, "sqlite://", 9) == 0)
		path += 9;
	else if (strncmp(path, "sqlite:", 7) == 0)
		path += 7;
	struct stat st;
	if (strstr(path, "://") == NULL && stat(path, &st) != 0) {
		fprintf(stderr, "%s: no database at '%s': %s\n", t->cmd, path, strerror(errno));
		return HQ_E_NOTFOUND;
	}
	struct store_options so = { STORE_SYNC_FULL, 5000 };
	struct store_error err;
	int r = store_open(db, &so, ret, &err);
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", t->cmd, err.msg);
		return r;
	}
	char shown[512];
	store_url_redact(db, shown, sizeof(shown));
	snprintf(t->where, sizeof(t->where), "database %s", shown);
	return 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
	struct buf *b = ctx;
	return buf_append(b, data, size * n) == 0 ? size * n : 0;
}

int cli_target_http(struct cli_target *t, const char *method, const char *path_query,
		    const char *body, long timeout_s, long *status, struct buf *out)
{
	char full[4096];
	size_t len = strlen(t->url);
	while (len > 0 && t->url[len - 1] == '/')
		len--;
	if (snprintf(full, sizeof(full), "%.*s%s", (int)len, t->url, path_query) >=
	    (int)sizeof(full)) {
		fprintf(stderr, "%s: --url is too long\n", t->cmd);
		return HQ_E_INVAL;
	}
	/* Messages show the URL without a password it may carry. */
	char shown[sizeof(full)];
	store_url_redact(full, shown, sizeof(shown));
	char base[512];
	snprintf(base, sizeof(base), "%.*s", (int)len, t->url);
	char base_shown[512];
	store_url_redact(base, base_shown, sizeof(base_shown));
	snprintf(t->where, sizeof(t->where), "server %s", base_shown);
	if (!curl_ready) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		atexit(curl_done);
		curl_ready = true;
	}
	const char *user = getenv("ADMIN_USERNAME");
	const char *pass = getenv("ADMIN_PASSWORD");
	CURL *c = curl_easy_init();
	if (!c)
		return HQ_E_NOMEM;
	curl_easy_setopt(c, CURLOPT_URL, full);
	curl_easy_setopt(c, CURLOPT_USERNAME, user && *user ? user : "admin");
	curl_easy_setopt(c, CURLOPT_PASSWORD, pass ? pass : "");
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	struct curl_slist *headers = NULL;
	if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
		if (body)
			headers = curl_slist_append(NULL, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	}
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	CURLcode rc = curl_easy_perform(c);
	long code = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	curl_slist_free_all(headers);
	if (rc != CURLE_OK) {
		fprintf(stderr, "%s: cannot reach '%s': %s\n", t->cmd, shown,
			curl_easy_strerror(rc));
		return HQ_E_IO;
	}
	if (code == 401) {
		fprintf(stderr, "%s: '%s' refused the admin credentials "
				"(set ADMIN_USERNAME and ADMIN_PASSWORD)\n", t->cmd, shown);
		return HQ_E_INVAL;
	}
	*status = code;
	return 0;
}

/* "?a=1&b=x%20y" from params, each value percent-encoded. */
static int query_string(const struct admin_param *p, size_t n, struct buf *out)
{
	int r = 0;
	for (size_t i = 0; r == 0 && i < n; i++) {
		char *v = curl_easy_escape(NULL, p[i].value, 0);
		if (!v)
			return HQ_E_NOMEM;
		r = buf_printf(out, "%c%s=%s", i == 0 ? '?' : '&', p[i].name, v);
		curl_free(v);
	}
	return r;
}

static int admin_local(struct cli_target *t, const char *method, const char *path,
		       const struct admin_param *params, size_t n, const char *body, long *status,
		       char **json)
{
	struct store *store = NULL;
	int r = cli_target_open_store(t, &store);
	if (r < 0)
		return r;
	/* No processor here to wake: a running server's picks replays up at
	 * its next poll (processor.poll_interval). */
	struct admin a = { .store = store, .max_body = CLI_RESPONSE_MAX / 4 };
	struct admin_reply rep;
	const char *names[16];
	size_t k = 0;
	for (const struct provider *const *p = provider_all; *p && k < 15; p++)
		names[k++] = (*p)->name;
	names[k] = NULL;
	a.providers = names;
	struct admin_request req = { .method = method,
				     .path = path,
				     .params = params,
				     .n_params = n,
				     .body = body,
				     .body_len = body ? strlen(body) : 0 };
	r = admin_handle(&a, &req, clock_now_ms(), &rep);
	store_close(store);
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", t->cmd, hq_strerror(r));
		return r;
	}
	if (rep.detail[0])
		fprintf(stderr, "%s: %s\n", t->cmd, rep.detail);
	*status = rep.status;
	if (rep.body) {
		*json = rep.body;
		return 0;
	}
	json_t *o = json_pack("{s:s, s:s}", "error", rep.code, "message", rep.message);
	*json = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return *json ? 0 : HQ_E_NOMEM;
}

int cli_target_admin(struct cli_target *t, const char *method, const char *path,
		     const struct admin_param *params, size_t n, const char *req_body, long *status,
		     char **json)
{
	if (!t->url)
		return admin_local(t, method, path, params, n, req_body, status, json);
	struct buf q, body;
	buf_init(&q, 4096);
	buf_init(&body, CLI_RESPONSE_MAX);
	int r = buf_printf(&q, "%s", path);
	if (r == 0)
		r = query_string(params, n, &q);
	if (r == 0)
		r = buf_append(&q, "", 1);
	if (r < 0) {
		fprintf(stderr, "%s: the request is too long\n", t->cmd);
	} else {
		r = cli_target_http(t, method, q.data, req_body,
				    strcmp(method, "GET") == 0 ? CLI_TIMEOUT_READ_S :
								 CLI_TIMEOUT_WRITE_S,
				    status, &body);
		if (r == 0)
			r = buf_append(&body, "", 1);
	}
	buf_release(&q);
	if (r < 0) {
		buf_release(&body);
		return r;
	}
	*json = body.data;
	return 0;
}

void cli_target_print_error(const struct cli_target *t, const char *json)
{
	json_t *o = json_loads(json, 0, NULL);
	const char *msg = json_string_value(json_object_get(o, "message"));
	char shown[512];
	fprintf(stderr, "%s: %s\n", t->cmd,
		cli_cell(msg ? msg : "the server gave no reason", sizeof(shown) - 1, shown,
			 sizeof(shown)));
	json_decref(o);
}

int cli_target_json(struct cli_target *t, const char *method, const char *path,
		    const struct admin_param *params, size_t n, const char *body, long *status,
		    json_t **doc)
{
	long code = 0;
	char *text = NULL;
	int r = cli_target_admin(t, method, path, params, n, body, &code, &text);
	if (r < 0)
		return r;
	*status = code;
	if (code < 200 || code > 299) {
		cli_target_print_error(t, text);
		free(text);
		return code == 400 ? HQ_E_INVAL : code == 404 ? HQ_E_NOTFOUND :
			code == 409 ? HQ_E_CONFLICT : HQ_E_IO;
	}
	json_t *o = json_loads(text, 0, NULL);
	free(text);
	if (!o) {
		fprintf(stderr, "%s: the answer from the %s is not JSON\n", t->cmd, t->where);
		return HQ_E_IO;
	}
	*doc = o;
	return 0;
}

int cli_target_request(struct cli_target *t, const char *method, const char *path,
		       const struct admin_param *params, size_t n, long *status, json_t **doc)
{
	long code = 0;
	int r = cli_target_json(t, method, path, params, n, NULL, &code, doc);
	if (status)
		*status = code;
	if (r == HQ_E_INVAL && code == 400)
		return CLI_EXIT_USAGE;
	return r < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

const char cli_where_help[] =
    "  --db PATH          act on the database directly (env HOOKQ_DB; default hookq.db)\n"
    "  --url URL          ask a running server, with HTTP Basic from ADMIN_USERNAME\n"
    "                     (default admin) and ADMIN_PASSWORD\n"
    "  --json             print the admin API's JSON instead of a table\n";

static const char *opt_name(const struct option *long_opts, const char *letters, unsigned bit)
{
	for (const struct option *o = long_opts; o->name; o++) {
		const char *at = strchr(letters, o->val);
		if (at && (1u << (at - letters)) == bit)
			return o->name;
	}
	return "?";
}

int cli_opts_parse(int argc, char **argv, const struct option *long_opts, const char *letters,
		   unsigned allowed, void (*help)(FILE *), struct cli_opts *o)
{
	memset(o, 0, sizeof(*o));
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		if (c == 'h') {
			help(stdout);
			return 1;
		}
		const char *at = c > 0 ? strchr(letters, c) : NULL;
		if (!at) {
			fprintf(stderr, "Try '%s --help'.\n", argv[0]);
			return HQ_E_INVAL;
		}
		unsigned bit = 1u << (at - letters);
		if (!(bit & allowed)) {
			fprintf(stderr, "%s: --%s does not apply here\nTry '%s --help'.\n", argv[0],
				opt_name(long_opts, letters, bit), argv[0]);
			return HQ_E_INVAL;
		}
		o->arg[at - letters] = optarg;
		o->given |= bit;
	}
	if (cli_opts_arg(o, CLI_OPT_DB) && cli_opts_arg(o, CLI_OPT_URL)) {
		fprintf(stderr, "%s: --db and --url exclude each other\n", argv[0]);
		return HQ_E_INVAL;
	}
	return 0;
}

const char *cli_opts_arg(const struct cli_opts *o, unsigned bit)
{
	for (int i = 0; i < CLI_OPTS_MAX; i++)
		if (bit == 1u << i)
			return o->arg[i];
	return NULL;
}

void cli_target_init(struct cli_target *t, const char *cmd, const struct cli_opts *o)
{
	*t = (struct cli_target){ .cmd = cmd,
				  .db = cli_opts_arg(o, CLI_OPT_DB),
				  .url = cli_opts_arg(o, CLI_OPT_URL) };
}

bool cli_is_help(const char *s)
{
	return strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0 || strcmp(s, "help") == 0;
}

int cli_sub_argv(int argc, char **argv, char *name, size_t size)
{
	if (argc < 2 || argv[1][0] == '-')
		return -1;
	snprintf(name, size, "%s %s", argv[0], argv[1]);
	argv[1] = name;
	return 0;
}

int cli_positional(const char *cmd, int argc, char **argv, int want, const char *what)
{
	if (argc - optind == want)
		return 0;
	fprintf(stderr, "%s: %s%s\nTry '%s --help'.\n", cmd,
		argc - optind < want ? "missing " : "unexpected argument",
		argc - optind < want ? what : "", cmd);
	return -1;
}

int cli_id_parse(const char *cmd, const char *what, const char *s, unsigned long long *ret)
{
	uint64_t v;
	if (parse_u64(s, 1, INT64_MAX, &v) < 0) {
		char shown[64];
		fprintf(stderr, "%s: not %s: '%s'\n", cmd, what,
			cli_cell(s, 40, shown, sizeof(shown)));
		return -1;
	}
	*ret = (unsigned long long)v;
	return 0;
}

const char *cli_str_at(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

const char *cli_txt(json_t *o, const char *key)
{
	const char *v = cli_str_at(o, key);
	return v ? v : "-";
}

long long cli_int_at(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

const char *cli_when(json_t *o, const char *key, char *out, size_t size)
{
	const char *iso = cli_str_at(o, key);
	if (!iso)
		return "-";
	snprintf(out, size, "%.10s %.8s", iso, strlen(iso) > 11 ? iso + 11 : "");
	return out;
}

void cli_print_field(const char *name, const char *value)
{
	char v[1024];
	printf("  %-13s %s\n", name, cli_cell(value, sizeof(v) - 1, v, sizeof(v)));
}

void cli_print_json(json_t *doc)
{
	char *text = json_dumps(doc, JSON_COMPACT);
	printf("%s\n", text ? text : "null");
	free(text);
}

/* Decodes the UTF-8 sequence at s (up to 4 bytes): its code point and
 * length, or length 1 and code point -1 for a byte that starts none. */
static int utf8_next(const unsigned char *s, long *cp)
{
	int len = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 :
			   (s[0] & 0xF8) == 0xF0 ? 4 : 0;
	if (len == 0) {
		*cp = -1;
		return 1;
	}
	long v = len == 1 ? s[0] : s[0] & (0x3F >> (len - 1));
	for (int i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80) {
			*cp = -1;
			return 1;
		}
		v = (v << 6) | (s[i] & 0x3F);
	}
	*cp = v;
	return len;
}

/* What a terminal must not receive from payload text: C0 and C1 controls
 * (ESC, CSI U+009B), and the bidirectional overrides that can make text
 * read differently from what it is. */
static bool unsafe_code_point(long cp)
{
	return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) ||
	       (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) ||
	       cp == 0x200E || cp == 0x200F;
}

const char *cli_text(const char *s, size_t width, bool lines, char *out, size_t size)
{
	if (!s)
		s = "-";
	size_t max = width < size ? width : size - 1;
	size_t n = 0, i = 0;
	const unsigned char *u = (const unsigned char *)s;
	while (u[i] && n < max) {
		long cp;
		int len = utf8_next(u + i, &cp);
		if (cp < 0 || (unsafe_code_point(cp) && !(lines && (cp == '\n' || cp == '\t')))) {
			out[n++] = '?';
		} else {
			if (n + (size_t)len > max)
				break;
			memcpy(out + n, u + i, (size_t)len);
			n += (size_t)len;
		}
		i += (size_t)len;
	}
	if (u[i] && n > 0) {
		/* Cut: the last whole character gives way to the mark. */
		while (n > 0 && ((unsigned char)out[n - 1] & 0xC0) == 0x80)
			n--;
		if (n > 0)
			n--;
		out[n++] = '~';
	}
	out[n] = '\0';
	return out;
}

const char *cli_cell(const char *s, size_t width, char *out, size_t size)
{
	return cli_text(s, width, false, out, size);
}

void cli_text_tail(FILE *out, const char *text, size_t max)
{
	size_t len = strlen(text);
	const char *from = text;
	if (len > max) {
		from = text + len - max;
		/* A whole first line when one starts in the window, else a
		 * whole first character. */
		const char *nl = strchr(from, '\n');
		if (nl && nl[1])
			from = nl + 1;
		else
			while (((unsigned char)*from & 0xC0) == 0x80)
				from++;
		fprintf(out, "(%zu earlier bytes left out)\n", (size_t)(from - text));
	}
	size_t n = strlen(from);
	char *safe = malloc(n + 1);
	if (!safe)
		return;
	fputs(cli_text(from, n, true, safe, n + 1), out);
	if (n > 0 && from[n - 1] != '\n')
		fputc('\n', out);
	free(safe);
}
