/* migration: numbered schema changes embedded in the binary at build time
 * (tools/embed.c); the same numbers for every backend. */
#ifndef HOOKQ_STORE_MIGRATION_H
#define HOOKQ_STORE_MIGRATION_H

#include <stddef.h>

struct migration {
	int version;
	const char *name;
	const char *sql;
};

/* Terminated by an entry with version 0. */
extern const struct migration store_sqlite_migrations[];
extern const struct migration store_postgres_migrations[];

#endif
