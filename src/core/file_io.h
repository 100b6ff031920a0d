#ifndef BNI_FILE_IO_H
#define BNI_FILE_IO_H

/* Whole files: written atomically, read into memory. Failures are recorded
 * in err (with the failing call, the path and errno's text). */

#include <stddef.h>
#include "error.h"

/* Write a file so that path holds either its old contents or all of the new
 * ones, whatever happens: a temporary file in the same directory, fsync,
 * rename over path, fsync of the directory. BN_ERR_IO or
 * BN_ERR_OUT_OF_MEMORY on failure (the temporary file is removed). */
bn_status bni_write_file_atomic(bni_error *err, const char *path, const void *data, size_t size);

/* Read a regular file into a new buffer (*data, caller frees; never NULL on
 * success, even for an empty file). A file that shrinks while being read
 * yields the bytes that were there. BN_ERR_IO (cannot open, stat or read;
 * not a regular file), BN_ERR_BAD_SIZE (larger than SIZE_MAX / 2),
 * BN_ERR_OUT_OF_MEMORY. */
bn_status bni_read_file(bni_error *err, const char *path, unsigned char **data, size_t *size);

#endif
