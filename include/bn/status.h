#ifndef BN_STATUS_H
#define BN_STATUS_H

/** @file bn/status.h
 *  @brief Status codes returned by every fallible libbn function, and the
 *         library's runtime version.
 *
 *  A status value never changes meaning once released; new codes are only
 *  appended. Functions that fail leave their outputs unmodified unless their
 *  documentation says otherwise. The reason is also given in words: a call
 *  on a handle records it in the handle (the *_last_error() function of each
 *  handle type); a loader that has no handle yet fills the caller's message
 *  buffer; the stateless kernels report the status only (docs/errors.md). */

#include <bn/export.h>
#include <bn/version.h>

BN_EXTERN_C_BEGIN

/** Result of a libbn call. Zero is success; every other value is an error. */
typedef enum bn_status {
  BN_OK = 0,                      /**< Success. */
  BN_ERR_INVALID_ARGUMENT = 1,    /**< A NULL pointer, a zero size, ld < rows, an option out of range. */
  BN_ERR_SHAPE_MISMATCH = 2,      /**< Sizes that must agree do not (feature count, batch, buffer length). */
  BN_ERR_OUT_OF_MEMORY = 3,       /**< An allocation failed; the object is unchanged. */
  BN_ERR_SIZE_OVERFLOW = 4,       /**< A size computation (e.g. ld*batch) would overflow size_t. */
  BN_ERR_WRONG_STATE = 5,         /**< The call is not valid now (e.g. backward before forward). */
  BN_ERR_BATCH_TOO_SMALL = 6,     /**< Training statistics need at least two samples. */
  BN_ERR_NON_FINITE = 7,          /**< A NaN or infinity was found where a finite value is required. */
  BN_ERR_IO = 8,                  /**< Reading or writing a file failed (see the message for the cause). */
  BN_ERR_BAD_MAGIC = 9,           /**< A serialized blob or file does not start with the expected magic. */
  BN_ERR_VERSION_MISMATCH = 10,   /**< A serialized blob has a format version this library cannot read. */
  BN_ERR_BAD_SIZE = 11,           /**< A serialized blob is truncated or longer than its header says. */
  BN_ERR_CHECKSUM = 12,           /**< A serialized blob's checksum does not match its contents. */
  BN_ERR_BAD_FORMAT = 13,         /**< A serialized blob is well-formed but holds invalid values. */
  BN_ERR_UNSUPPORTED = 14         /**< The request is valid but not supported by this build. */
} bn_status;

/** @brief A short, static, human-readable name for a status code.
 *
 *  @param status any value, including ones this version does not know.
 *  @return a NUL-terminated string owned by the library; never NULL
 *          ("unknown status" for unknown values). Thread-safe. */
BN_API const char *bn_status_string(bn_status status);

/** @brief The library's version as "major.minor.patch".
 *
 *  May differ from BN_VERSION_STRING when the program was compiled against
 *  other headers than the library it runs with. Thread-safe.
 *  @return a static string, never NULL. */
BN_API const char *bn_version_string(void);

/** @brief The library's version as major*10000 + minor*100 + patch. Thread-safe.
 *  @return the version number. */
BN_API unsigned bn_version_number(void);

/** @brief The library's ABI major version (the number in its SONAME libbn.so.N).
 *
 *  A program or binding built for ABI N must refuse a library whose
 *  bn_abi_version() differs from N (compare with BN_ABI_VERSION). Thread-safe.
 *  @return the ABI major. */
BN_API unsigned bn_abi_version(void);

BN_EXTERN_C_END

#endif /* BN_STATUS_H */
