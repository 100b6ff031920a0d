#ifndef BN_EXPORT_H
#define BN_EXPORT_H

/** @file bn/export.h
 *  @brief Symbol visibility of the public API.
 *
 *  libbn is compiled with -fvisibility=hidden; only declarations marked
 *  BN_API are exported from libbn.so, and every one of them is named bn_*. */

#if defined(__GNUC__) || defined(__clang__)
/** Marks a function as part of the exported ABI. */
#define BN_API __attribute__((visibility("default")))
#else
/** Marks a function as part of the exported ABI. */
#define BN_API
#endif

#ifdef __cplusplus
/** Opens a C linkage block for C++ users of the headers. */
#define BN_EXTERN_C_BEGIN extern "C" {
/** Closes the block opened by BN_EXTERN_C_BEGIN. */
#define BN_EXTERN_C_END }
#else
/** Opens a C linkage block for C++ users of the headers (empty in C). */
#define BN_EXTERN_C_BEGIN
/** Closes the block opened by BN_EXTERN_C_BEGIN (empty in C). */
#define BN_EXTERN_C_END
#endif

#endif /* BN_EXPORT_H */
