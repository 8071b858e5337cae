/* The SQLite store's task operations: the contract's tests
 * (contract_task.c) on a database file in a temporary directory. Every
 * task test so far holds for both backends, so this file only provides
 * the hooks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "store/store.h"
#include "contract_task.h"

struct fixture {
	char dir[64];
	char path[128];
	struct store *store;
};

static const struct store_options opts = { STORE_SYNC_FULL, 5000 };

/* contract_task.h: a fresh database in a temporary directory. */
int contract_task_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/hookq-task-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
	struct store_error err;
	if (store_open(f->path, &opts, &f->store, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		rmdir(f->dir);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

int contract_task_teardown(void **state)
{
	struct fixture *f = *state;
	store_close(f->store);
	char p[160];
	snprintf(p, sizeof(p), "%s-wal", f->path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", f->path);
	unlink(p);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

struct store *contract_task_store(void **state)
{
	return ((struct fixture *)*state)->store;
}

/* Read with a connection of its own, as the store's readers do. */
void contract_task_query(void **state, const char *sql, char *out, size_t size)
{
	struct fixture *f = *state;
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	const unsigned char *v = sqlite3_column_text(st, 0);
	snprintf(out, size, "%s", v ? (const char *)v : "");
	sqlite3_finalize(st);
	sqlite3_close(db);
}

int main(void)
{
	return contract_task_run();
}
