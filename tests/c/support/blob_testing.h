#ifndef BN_BLOB_TESTING_H
#define BN_BLOB_TESTING_H

/* Byte-level helpers for the state-blob tests: the test's own little-endian
 * accessors and CRC-32, independent of the library's, to read a blob by its
 * documented layout and to forge well-formed blobs with invalid content.
 * Header-only: every function is static inline. */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* CRC-32 (IEEE 802.3, reflected 0xEDB88320), bit by bit. */
static inline uint32_t blob_crc32(const unsigned char *p, size_t n)
{
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    crc ^= p[i];
    for (int k = 0; k < 8; k++)
      crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

static inline uint32_t blob_get_u32(const unsigned char *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t blob_get_u64(const unsigned char *p)
{
  return (uint64_t)blob_get_u32(p) | (uint64_t)blob_get_u32(p + 4) << 32;
}

static inline float blob_get_f32(const unsigned char *p)
{
  uint32_t bits = blob_get_u32(p);
  float v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

static inline double blob_get_f64(const unsigned char *p)
{
  uint64_t bits = blob_get_u64(p);
  double v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

static inline void blob_put_u32(unsigned char *p, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static inline void blob_put_u64(unsigned char *p, uint64_t v)
{
  blob_put_u32(p, (uint32_t)v);
  blob_put_u32(p + 4, (uint32_t)(v >> 32));
}

static inline void blob_put_f32(unsigned char *p, float v)
{
  uint32_t bits;
  memcpy(&bits, &v, sizeof bits);
  blob_put_u32(p, bits);
}

static inline void blob_put_f64(unsigned char *p, double v)
{
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  blob_put_u64(p, bits);
}

/* Defines `static unsigned char *NAME(const TYPE *handle, size_t *size)`:
 * the handle's whole serialized state in a new buffer (the caller frees it),
 * through SIZE_FN(handle, &size) and SERIALIZE_FN(handle, buffer, capacity,
 * &written); a test compares two such snapshots to show "unchanged". Expands
 * to cmocka assertions: include cmocka before using it. */
#define BLOB_SNAPSHOT_FN(name, type, size_fn, serialize_fn)                                 \
  static unsigned char *name(const type *handle, size_t *size)                             \
  {                                                                                        \
    assert_int_equal(size_fn(handle, size), BN_OK);                                        \
    unsigned char *bytes = malloc(*size);                                                  \
    assert_non_null(bytes);                                                                \
    size_t written = 0;                                                                    \
    assert_int_equal(serialize_fn(handle, bytes, *size, &written), BN_OK);                 \
    assert_int_equal(written, *size);                                                      \
    return bytes;                                                                          \
  }

/* Rewrite the trailing CRC after editing a blob, so only its content is wrong. */
static inline void blob_reseal(unsigned char *blob, size_t size)
{
  blob_put_u32(blob + size - 4, blob_crc32(blob, size - 4));
}

#endif
