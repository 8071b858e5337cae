/* file: whole-file reads with a size cap (configuration, secret files),
 * and private directories made like mkdir -p. */
#ifndef HOOKQ_UTIL_FILE_H
#define HOOKQ_UTIL_FILE_H

#include "util/buf.h"

/* Reads path into out (initialized by the caller with its maximum).
 * HQ_E_TOOBIG past the maximum, HQ_E_IO with errno set otherwise. */
int file_read(const char *path, struct buf *out);

/* mkdir -p: creates path and its missing parents with mode 0700 (those
 * that exist keep their mode). path is changed while it runs and restored.
 * -1 with errno set (ENOTDIR when path exists and is not a directory). */
int file_mkdirs(char *path);

#endif
