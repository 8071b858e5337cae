#include "engine/taskfiles.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/error.h"
#include "util/file.h"
#include "util/utf8.h"

/* Room kept after the directory for "/.hookq-task-<int64>.json.XXXXXX". */
#define TASKFILES_NAME_MAX 64

struct taskfiles {
	char *dir;
	int64_t after_seq; /* the change_seq of the last change written */
};

/* Claude Code knows fewer states than hookq; the exact one is kept in
 * metadata.hookq_status. */
static const char *claude_status(const char *s)
{
	if (strcmp(s, "running") == 0)
		return "in_progress";
	if (strcmp(s, "succeeded") == 0)
		return "completed";
	if (strcmp(s, "failed") == 0 || strcmp(s, "timed_out") == 0 ||
	    strcmp(s, "dead_letter") == 0)
		return "failed";
	if (strcmp(s, "cancelled") == 0)
		return "cancelled";
	/* queued, and any state added later: not finished, so not started
	 * is the least wrong thing to tell an agent. */
	return "pending";
}

/* A JSON string of s, with U+FFFD for invalid UTF-8 (json_string refuses
 * it); JSON null for NULL. NULL when out of memory. */
static json_t *text(const char *s)
{
	if (!s)
		return json_null();
	json_t *j = json_string(s);
	if (j)
		return j;
	size_t n;
	char *out = utf8_sanitize(s, strlen(s), &n);
	j = out ? json_stringn(out, n) : NULL;
	free(out);
	return j;
}

static json_t *task_name(int64_t id)
{
	char name[48];
	int n = snprintf(name, sizeof(name), "hookq-task-%" PRId64, id);
	return n > 0 && (size_t)n < sizeof(name) ? json_string(name) : NULL;
}

/* ms since the epoch as "2026-11-23T01:02:03.456Z". */
static json_t *timestamp(int64_t ms)
{
	int64_t sec = ms / 1000, frac = ms % 1000;
	if (frac < 0) {
		frac += 1000;
		sec--;
	}
	time_t tt = (time_t)sec;
	struct tm tm;
	char out[64];
	if (!gmtime_r(&tt, &tm))
		return NULL;
	int n = snprintf(out, sizeof(out), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, (int)frac);
	return n > 0 && (size_t)n < sizeof(out) ? json_string(out) : NULL;
}

/* Sets key on o; false when v is NULL (out of memory) or setting fails.
 * v is consumed either way. */
static bool put(json_t *o, const char *key, json_t *v)
{
	return v && json_object_set_new(o, key, v) == 0;
}

char *taskfiles_render(const struct store_task *t)
{
	json_t *doc = json_object(), *deps = NULL, *meta = NULL;
	if (!doc)
		return NULL;
	char id[24];
	int n = snprintf(id, sizeof(id), "%" PRId64, t->id);
	/* doc holds deps and meta as soon as they exist (in key order); they
	 * are filled through the borrowed pointers. */
	bool ok = n > 0 && (size_t)n < sizeof(id) && put(doc, "id", task_name(t->id)) &&
		  put(doc, "title", text(t->title)) &&
		  put(doc, "status", json_string(claude_status(t->status))) &&
		  put(doc, "dependencies", deps = json_array()) &&
		  put(doc, "metadata", meta = json_object());
	if (ok && t->parent_id > 0)
		ok = json_array_append_new(deps, task_name(t->parent_id)) == 0;
	ok = ok && put(meta, "orchestration_task_id", json_string(id)) &&
	     put(meta, "flow_id", text(t->flow_id)) &&
	     put(meta, "conversation_id", text(t->conversation_id)) &&
	     put(meta, "hookq_status", text(t->status)) && put(meta, "agent", text(t->agent)) &&
	     put(meta, "worker", text(t->worker)) &&
	     put(meta, "external_id", text(t->external_id)) &&
	     put(meta, "attempts", json_integer(t->attempts)) &&
	     put(meta, "exit_code", t->has_exit_code ? json_integer(t->exit_code) : json_null()) &&
	     put(meta, "updated_at", timestamp(t->updated_at_ms));
	char *s = ok ? json_dumps(doc, JSON_PRESERVE_ORDER | JSON_INDENT(2)) : NULL;
	json_decref(doc);
	if (!s)
		return NULL;
	size_t len = strlen(s);
	char *out = realloc(s, len + 2);
	if (!out) {
		free(s);
		return NULL;
	}
	out[len] = '\n';
	out[len + 1] = '\0';
	return out;
}

int taskfiles_new(const char *dir, struct taskfiles **ret, char *err, size_t err_size)
{
	if (!dir || !*dir) {
		hq_set_err(err, err_size, "the task directory is empty");
		return HQ_E_INVAL;
	}
	const char *home = "", *rest = dir;
	if (dir[0] == '~' && (dir[1] == '/' || dir[1] == '\0')) {
		home = getenv("HOME");
		if (!home || !*home) {
			hq_set_err(err, err_size,
				   "cannot expand task directory '%s': HOME is not set", dir);
			return HQ_E_INVAL;
		}
		rest = dir + 1;
	}
	size_t hl = strlen(home), rl = strlen(rest);
	if (hl + rl + TASKFILES_NAME_MAX >= PATH_MAX) {
		hq_set_err(err, err_size, "task directory '%s' is too long", dir);
		return HQ_E_TOOBIG;
	}
	struct taskfiles *t = calloc(1, sizeof(*t));
	char *path = malloc(hl + rl + 1);
	if (!t || !path) {
		free(t);
		free(path);
		hq_set_err(err, err_size, "cannot use task directory '%s': out of memory", dir);
		return HQ_E_NOMEM;
	}
	memcpy(path, home, hl);
	memcpy(path + hl, rest, rl + 1);
	/* "dir/" would name files "dir//hookq-task-1.json" in messages. */
	for (size_t len = hl + rl; len > 1 && path[len - 1] == '/'; len--)
		path[len - 1] = '\0';
	t->dir = path;
	if (file_mkdirs(path) < 0) {
		hq_set_err(err, err_size, "cannot create task directory '%s': %s", path,
			   strerror(errno));
		taskfiles_free(t);
		return HQ_E_IO;
	}
	*ret = t;
	return 0;
}

void taskfiles_free(struct taskfiles *t)
{
	if (!t)
		return;
	free(t->dir);
	free(t);
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Replaces task id's file with content. The temporary name starts with a
 * dot and does not end in .json, so readers of the directory skip it.
 * The directory is not fsynced after the rename: a crash can lose the
 * newest renames, and the restarted hookq rewrites every file anyway. */
static int write_file(const struct taskfiles *t, int64_t id, const char *content, char *err,
		      size_t err_size)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/hookq-task-%" PRId64 ".json", t->dir, id);
	int m = snprintf(tmp, sizeof(tmp), "%s/.hookq-task-%" PRId64 ".json.XXXXXX", t->dir, id);
	if (n < 0 || (size_t)n >= sizeof(path) || m < 0 || (size_t)m >= sizeof(tmp)) {
		hq_set_err(err, err_size, "task file name in '%s' is too long", t->dir);
		return HQ_E_TOOBIG;
	}
	int rc, saved;
	/* mkostemp creates the file with mode 0600. */
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		goto fail;
	rc = write_all(fd, content, strlen(content));
	if (rc == 0)
		rc = fsync(fd);
	saved = errno;
	if (close(fd) < 0 && rc == 0) {
		rc = -1;
		saved = errno;
	}
	if (rc == 0 && rename(tmp, path) < 0) {
		rc = -1;
		saved = errno;
	}
	if (rc < 0)
		goto unlink_tmp;
	return 0;
unlink_tmp:
	unlink(tmp);
	errno = saved;
fail:
	hq_set_err(err, err_size, "cannot write task file '%s': %s", path, strerror(errno));
	return HQ_E_IO;
}

int taskfiles_sync(struct taskfiles *t, struct store *s, size_t *written, char *err,
		   size_t err_size)
{
	size_t count = 0;
	for (;;) {
		struct store_task_list l;
		struct store_error serr;
		int r = store_tasks_changed(s, t->after_seq, TASKFILES_PAGE, &l, &serr);
		if (r < 0) {
			hq_set_err(err, err_size, "cannot read changed tasks: %s", serr.msg);
			return r;
		}
		for (size_t i = 0; i < l.n; i++) {
			const struct store_task *task = &l.rows[i];
			char *content = taskfiles_render(task);
			if (!content) {
				hq_set_err(err, err_size,
					   "cannot write task file '%s/hookq-task-%" PRId64
					   ".json': out of memory",
					   t->dir, task->id);
				r = HQ_E_NOMEM;
			} else {
				r = write_file(t, task->id, content, err, err_size);
				free(content);
			}
			if (r < 0) {
				store_task_list_release(&l);
				return r;
			}
			t->after_seq = task->change_seq;
			count++;
		}
		bool more = l.more;
		store_task_list_release(&l);
		if (!more)
			break;
	}
	*written = count;
	return 0;
}
