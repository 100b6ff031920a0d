#ifndef BNI_BLOB_H
#define BNI_BLOB_H

/* Little-endian, bounds-checked serialization used by every state blob and
 * model file: a writer that never passes its capacity, a reader that never
 * reads past its end, and CRC-32 (IEEE 802.3) for integrity. */

#include <stddef.h>
#include <stdint.h>

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
void bni_get_bytes(bni_reader *r, void *out, size_t n);

#endif
