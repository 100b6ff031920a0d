#include "blob.h"

#include <string.h>

uint32_t bni_crc32(uint32_t crc, const void *data, size_t size)
{
  /* Reflected polynomial 0xEDB88320, four bits at a time: a 16-entry table
   * is small enough to be a constant and fast enough for model files. */
  static const uint32_t nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
    0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};
  const unsigned char *p = data;
  crc = ~crc;
  for (size_t i = 0; i < size; i++) {
    crc ^= p[i];
    crc = (crc >> 4) ^ nibble[crc & 15u];
    crc = (crc >> 4) ^ nibble[crc & 15u];
  }
  return ~crc;
}

static unsigned char *reserve(bni_writer *w, size_t n)
{
  if (w->overflow || w->capacity - w->pos < n) {
    w->overflow = 1;
    return NULL;
  }
  unsigned char *p = w->data + w->pos;
  w->pos += n;
  return p;
}

void bni_put_u32(bni_writer *w, uint32_t v)
{
  unsigned char *p = reserve(w, 4);
  if (p)
    for (int i = 0; i < 4; i++)
      p[i] = (unsigned char)(v >> (8 * i));
}

void bni_put_u64(bni_writer *w, uint64_t v)
{
  unsigned char *p = reserve(w, 8);
  if (p)
    for (int i = 0; i < 8; i++)
      p[i] = (unsigned char)(v >> (8 * i));
}

void bni_put_f32(bni_writer *w, float v)
{
  uint32_t bits;
  memcpy(&bits, &v, sizeof bits);
  bni_put_u32(w, bits);
}

void bni_put_f32s(bni_writer *w, const float *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    bni_put_f32(w, v[i]);
}

void bni_put_f64(bni_writer *w, double v)
{
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  bni_put_u64(w, bits);
}

void bni_put_bytes(bni_writer *w, const void *v, size_t n)
{
  unsigned char *p = reserve(w, n);
  if (p && n)
    memcpy(p, v, n);
}

static const unsigned char *take(bni_reader *r, size_t n)
{
  if (r->overrun || r->size - r->pos < n) {
    r->overrun = 1;
    return NULL;
  }
  const unsigned char *p = r->data + r->pos;
  r->pos += n;
  return p;
}

uint32_t bni_get_u32(bni_reader *r)
{
  const unsigned char *p = take(r, 4);
  uint32_t v = 0;
  if (p)
    for (int i = 0; i < 4; i++)
      v |= (uint32_t)p[i] << (8 * i);
  return v;
}

uint64_t bni_get_u64(bni_reader *r)
{
  const unsigned char *p = take(r, 8);
  uint64_t v = 0;
  if (p)
    for (int i = 0; i < 8; i++)
      v |= (uint64_t)p[i] << (8 * i);
  return v;
}

float bni_get_f32(bni_reader *r)
{
  uint32_t bits = bni_get_u32(r);
  float v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

void bni_get_f32s(bni_reader *r, float *out, size_t n)
{
  for (size_t i = 0; i < n; i++)
    out[i] = bni_get_f32(r);
}

double bni_get_f64(bni_reader *r)
{
  uint64_t bits = bni_get_u64(r);
  double v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

void bni_get_bytes(bni_reader *r, void *out, size_t n)
{
  const unsigned char *p = take(r, n);
  if (p && n)
    memcpy(out, p, n);
}

bn_status bni_blob_open(bni_reader *r, const void *buffer, size_t size, size_t header_bytes,
                        const char magic[4], uint32_t version, const char *what, bni_error *err)
{
  return bni_blob_open_magic(r, buffer, size, header_bytes, magic, 4, version, what, err);
}

bn_status bni_blob_open_magic(bni_reader *r, const void *buffer, size_t size, size_t header_bytes,
                              const void *magic, size_t magic_bytes, uint32_t version,
                              const char *what, bni_error *err)
{
  if (size < header_bytes || size - header_bytes < 4)
    return bni_fail(err, BN_ERR_BAD_SIZE, "%s of %zu bytes is shorter than its header", what,
                    size);
  r->data = buffer;
  r->size = size;
  r->overrun = 0;
  r->pos = magic_bytes;
  if (memcmp(r->data, magic, magic_bytes) != 0)
    return bni_fail(err, BN_ERR_BAD_MAGIC, "not a %s (bad magic)", what);
  uint32_t found_version = bni_get_u32(r);
  if (found_version != version)
    return bni_fail(err, BN_ERR_VERSION_MISMATCH, "%s format version %u, this library reads %u",
                    what, (unsigned)found_version, (unsigned)version);
  return BN_OK;
}

bn_status bni_blob_verify(const void *buffer, size_t size, int size_matches_header,
                          const char *what, bni_error *err)
{
  if (!size_matches_header)
    return bni_fail(err, BN_ERR_BAD_SIZE, "%s of %zu bytes does not match its header", what,
                    size);
  bni_reader trailer = {buffer, size, size - 4, 0};
  if (bni_crc32(0, buffer, size - 4) != bni_get_u32(&trailer))
    return bni_fail(err, BN_ERR_CHECKSUM, "%s checksum mismatch", what);
  return BN_OK;
}

void bni_blob_seal(bni_writer *w)
{
  bni_put_u32(w, bni_crc32(0, w->data, w->pos));
}
