#ifndef BNI_BLOB_H
#define BNI_BLOB_H

/* Little-endian, bounds-checked serialization used by every state blob and
 * model file: a writer that never passes its capacity, a reader that never
 * reads past its end, and CRC-32 (IEEE 802.3) for integrity. */

#include <stddef.h>
#include <stdint.h>
#include "error.h"

uint32_t bni_crc32(uint32_t crc, const void *data, size_t size);

typedef struct bni_writer {
  unsigned char *data;
  size_t capacity, pos;
  int overflow; /* set once a put did not fit; later puts are dropped */
} bni_writer;

void bni_put_u32(bni_writer *w, uint32_t v);
void bni_put_u64(bni_writer *w, uint64_t v);
void bni_put_f32(bni_writer *w, float v);
void bni_put_f32s(bni_writer *w, const float *v, size_t n);
/* A double as its IEEE bits, so a round trip is exact. */
void bni_put_f64(bni_writer *w, double v);
void bni_put_bytes(bni_writer *w, const void *v, size_t n);

typedef struct bni_reader {
  const unsigned char *data;
  size_t size, pos;
  int overrun; /* set once a get asked for bytes that are not there */
} bni_reader;

uint32_t bni_get_u32(bni_reader *r);
uint64_t bni_get_u64(bni_reader *r);
float bni_get_f32(bni_reader *r);
void bni_get_f32s(bni_reader *r, float *out, size_t n);
double bni_get_f64(bni_reader *r);
void bni_get_bytes(bni_reader *r, void *out, size_t n);

/* Every blob is: 4-byte magic, u32 format version, a header of its own,
 * payload, and a CRC-32 of all preceding bytes. Loaders check, in this
 * order, so each kind of damage has its own status:
 *   bni_blob_open:   size >= header + CRC (BN_ERR_BAD_SIZE), magic
 *                    (BN_ERR_BAD_MAGIC), version (BN_ERR_VERSION_MISMATCH);
 *                    the reader then stands after the version;
 *   bni_blob_verify: the size the header implies (BN_ERR_BAD_SIZE), then
 *                    the checksum (BN_ERR_CHECKSUM).
 * `what` names the blob in messages ("BatchNorm state"). */
bn_status bni_blob_open(bni_reader *r, const void *buffer, size_t size, size_t header_bytes,
                        const char magic[4], uint32_t version, const char *what, bni_error *err);
/* The same with a magic of magic_bytes bytes (model files have 8). */
bn_status bni_blob_open_magic(bni_reader *r, const void *buffer, size_t size, size_t header_bytes,
                              const void *magic, size_t magic_bytes, uint32_t version,
                              const char *what, bni_error *err);
bn_status bni_blob_verify(const void *buffer, size_t size, int size_matches_header,
                          const char *what, bni_error *err);

/* Append the CRC-32 of everything written so far. */
void bni_blob_seal(bni_writer *w);

#endif
