/* taskfiles: mirrors hookq's tasks into Claude Code's task directory, one
 * JSON file per task (hookq-task-<id>.json), so background agents can read
 * what the other tasks of their flow did. Files are replaced atomically
 * (temporary file in the same directory, fsync, rename). */
#ifndef HOOKQ_ENGINE_TASKFILES_H
#define HOOKQ_ENGINE_TASKFILES_H

#include <stddef.h>

#include "store/store.h"

/* Tasks are read from the store this many at a time. */
#define TASKFILES_PAGE 200

/* The sync state: the directory, and a cursor (the change_seq) of the
 * last change written. One thread at a time uses it. */
struct taskfiles;

/* Prepares a sync into dir: a "~" or "~/" prefix is expanded with $HOME;
 * the directory is created with mode 0700 when missing, parents
 * included. On failure err names the directory, e.g.
 * "cannot create task directory '/x/tasks': Permission denied"; the code is
 * HQ_E_INVAL (empty dir, or "~" without HOME), HQ_E_TOOBIG (path too
 * long), HQ_E_IO or HQ_E_NOMEM. */
int taskfiles_new(const char *dir, struct taskfiles **ret, char *err, size_t err_size);
void taskfiles_free(struct taskfiles *t);

/* Writes the file (mode 0600) of every task changed since the last call,
 * in change order, advancing the cursor past each file written; *written
 * says how many. A failure stops the sync with err naming the file (or
 * the store's message) and the cursor at the last file written: the next
 * call retries from there. The first call after taskfiles_new starts from
 * the beginning, so a restarted hookq rewrites every file once. */
int taskfiles_sync(struct taskfiles *t, struct store *s, size_t *written, char *err,
		   size_t err_size);

/* One task's file content: malloc'd, NUL-terminated JSON ending in a
 * newline; NULL when out of memory. Text that is not valid UTF-8 is
 * written with U+FFFD in place of each invalid sequence. */
char *taskfiles_render(const struct store_task *t);

#endif
