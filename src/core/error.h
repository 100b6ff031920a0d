#ifndef BNI_ERROR_H
#define BNI_ERROR_H

/* A handle's last-error message. Internal: every handle embeds one, so
 * messages never touch global state. */

#include <bn/status.h>

#define BNI_ERROR_CAPACITY 256

typedef struct bni_error {
  char text[BNI_ERROR_CAPACITY];
} bni_error;

/* Record why a call failed and return its status, so a check reads
 * `return bni_fail(err, BN_ERR_..., "what", ...);`. err may be NULL (the
 * stateless kernels have no handle to write into). */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 3, 4)))
#endif
bn_status bni_fail(bni_error *err, bn_status status, const char *format, ...);

#endif
