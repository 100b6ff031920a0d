#ifndef BNI_FILE_IO_H
#define BNI_FILE_IO_H

/* Whole files: written atomically, read into memory. Failures are recorded
 * in err (with the failing call, the path and errno's text). */

#include <stddef.h>
#include "error.h"

/* Write a file so that path holds either its old contents or all of the new
 * ones, whatever happens: a temporary file in the same directory, fsync,
 * rename over path, fsync of the directory. A symbolic link is followed to
 * the file it names (which need not exist), so the link stays a link; a
 * replaced file keeps its permission bits, a new one gets 0666 minus the
 * umask. No global state is touched (neither the umask nor signals: a
 * process that may pass RLIMIT_FSIZE should ignore SIGXFSZ to get an error
 * instead of being killed). BN_ERR_IO (also when path exists and is not a
 * regular file, or when the links loop) or BN_ERR_OUT_OF_MEMORY on failure;
 * the temporary file is removed. */
bn_status bni_write_file_atomic(bni_error *err, const char *path, const void *data, size_t size);

/* Read a regular file into a new buffer (*data, caller frees; never NULL on
 * success, even for an empty file). A file that shrinks while being read
 * yields the bytes that were there. BN_ERR_IO (cannot open, stat or read;
 * not a regular file), BN_ERR_BAD_SIZE (larger than SIZE_MAX / 2),
 * BN_ERR_OUT_OF_MEMORY. */
bn_status bni_read_file(bni_error *err, const char *path, unsigned char **data, size_t *size);

#endif
