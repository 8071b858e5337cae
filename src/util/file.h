/* file: whole-file reads with a size cap (configuration, secret files). */
#ifndef HOOKQ_UTIL_FILE_H
#define HOOKQ_UTIL_FILE_H

#include "util/buf.h"

/* Reads path into out (initialized by the caller with its maximum).
 * HQ_E_TOOBIG past the maximum, HQ_E_IO with errno set otherwise. */
int file_read(const char *path, struct buf *out);

#endif
