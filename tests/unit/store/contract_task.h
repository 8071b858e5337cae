/* contract_task: the task tests every store backend passes
 * (contract_task.c). A backend's test file implements the hooks below
 * and calls contract_task_run() from its main(). */
#ifndef HOOKQ_TESTS_STORE_CONTRACT_TASK_H
#define HOOKQ_TESTS_STORE_CONTRACT_TASK_H

#include <stddef.h>

#include "store/store.h"

/* cmocka setup and teardown: a fresh, migrated, empty store in *state. */
int contract_task_setup(void **state);
int contract_task_teardown(void **state);
/* The store of the fixture in *state. */
struct store *contract_task_store(void **state);
/* The first column of the one row sql reads, past the store, as text
 * ("" for NULL). sql is plain SQL both backends understand. */
void contract_task_query(void **state, const char *sql, char *out, size_t size);

/* Runs the contract's tests; the number that failed. */
int contract_task_run(void);

#endif
