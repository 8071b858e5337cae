/* contract: the event tests every store backend passes (contract.c). A
 * backend's test file implements the hooks below and calls
 * contract_run() from its main(). */
#ifndef HOOKQ_TESTS_STORE_CONTRACT_H
#define HOOKQ_TESTS_STORE_CONTRACT_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* cmocka setup and teardown: a fresh, migrated, empty store in *state. */
int contract_setup(void **state);
int contract_teardown(void **state);
/* The store of the fixture in *state. */
struct store *contract_store(void **state);
/* Closes the store and opens the same database again. */
void contract_reopen(void **state);
/* One column of event id read past the store, as text ("" for NULL). */
void contract_column(void **state, int64_t id, const char *column, char *out, size_t size);

/* The number of rows in table, read past the store. */
int64_t contract_count_rows(void **state, const char *table);
/* Fails the test unless contract_column() reads want. */
void contract_assert_column(void **state, int64_t id, const char *column, const char *want);

/* The webhook both test files start from. */
struct store_event_in contract_event(const char *delivery);

/* Stores contract_event(delivery) received at `at`; its id. */
int64_t contract_insert_at(void **state, const char *delivery, int64_t at, int max_attempts);

/* Runs the contract's tests; the number that failed. */
int contract_run(void);

#endif
