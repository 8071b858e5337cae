/* contract_outbox: the outbox tests every store backend passes
 * (contract_outbox.c). A backend's test file implements the hooks below
 * and calls contract_outbox_run() from its main(). */
#ifndef HOOKQ_TESTS_STORE_CONTRACT_OUTBOX_H
#define HOOKQ_TESTS_STORE_CONTRACT_OUTBOX_H

#include <stdint.h>

#include "store/store.h"

/* cmocka setup and teardown: a fresh, migrated store with an empty outbox
 * (and no tasks: the first task made is task 1) in *state. */
int contract_outbox_setup(void **state);
int contract_outbox_teardown(void **state);
/* The store of the fixture in *state. */
struct store *contract_outbox_store(void **state);
/* Makes task `origin` with `reply` written in the same transaction, as
 * store_create_tasks does (the reply's origin is "<origin>:<name>"); its
 * id. */
int64_t contract_outbox_task(void **state, const char *origin,
			     const struct store_outbox_in *reply, int64_t now_ms);

/* The reply both test files start from: a reaction of three attempts. */
extern const struct store_outbox_in contract_outbox_eyes;

/* Runs the contract's tests; the number that failed. */
int contract_outbox_run(void);

#endif
