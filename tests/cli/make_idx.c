/* Writes a small, learnable IDX dataset for the `bn` program's tests:
 *
 *   make_idx DIR N_TRAIN N_TEST [plain]
 *
 * DIR/{train,t10k}-images-idx3-ubyte.gz (N x 8 x 8 bytes) and
 * DIR/{train,t10k}-labels-idx1-ubyte.gz (4 classes), uncompressed without
 * .gz when "plain" is given, and DIR/t10k.csv with the test images scaled to
 * [0, 1] (one row per sample, after a header row). Class c is bright in
 * quadrant c of the image, over noise. Deterministic. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define SIDE 8
#define CLASSES 4

static uint64_t state = 12345;

static uint64_t next(void)
{
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static int write_file(const char *path, const unsigned char *data, size_t size, int plain)
{
  if (plain) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
      return 0;
    return 1;
  }
  gzFile g = gzopen(path, "wb");
  if (!g || gzwrite(g, data, (unsigned)size) != (int)size)
    return 0;
  return gzclose(g) == Z_OK;
}

static void be32(unsigned char *p, uint32_t v)
{
  p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

static int make(const char *dir, const char *prefix, size_t n, int plain, FILE *csv)
{
  size_t isize = 16 + n * SIDE * SIDE, lsize = 8 + n;
  unsigned char *img = malloc(isize), *lab = malloc(lsize);
  if (!img || !lab)
    return 0;
  memcpy(img, "\0\0\x08\x03", 4);
  be32(img + 4, (uint32_t)n);
  be32(img + 8, SIDE);
  be32(img + 12, SIDE);
  memcpy(lab, "\0\0\x08\x01", 4);
  be32(lab + 4, (uint32_t)n);
  for (size_t s = 0; s < n; s++) {
    int c = (int)(next() % CLASSES);
    lab[8 + s] = (unsigned char)c;
    for (int r = 0; r < SIDE; r++)
      for (int k = 0; k < SIDE; k++) {
        int quadrant = (r >= SIDE / 2) * 2 + (k >= SIDE / 2);
        int v = (quadrant == c ? 170 : 40) + (int)(next() % 81) - 40;
        img[16 + s * SIDE * SIDE + (size_t)(r * SIDE + k)] = (unsigned char)v;
      }
    if (csv) {
      for (int p = 0; p < SIDE * SIDE; p++)
        fprintf(csv, "%s%.9g", p ? "," : "", img[16 + s * SIDE * SIDE + (size_t)p] / 255.0);
      fputc('\n', csv);
    }
  }
  char path[4096];
  int ok = 1;
  snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte%s", dir, prefix, plain ? "" : ".gz");
  ok &= write_file(path, img, isize, plain);
  snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte%s", dir, prefix, plain ? "" : ".gz");
  ok &= write_file(path, lab, lsize, plain);
  free(img);
  free(lab);
  return ok;
}

int main(int argc, char **argv)
{
  if (argc < 4) {
    fprintf(stderr, "usage: make_idx DIR N_TRAIN N_TEST [plain]\n");
    return 2;
  }
  int plain = argc > 4 && strcmp(argv[4], "plain") == 0;
  char path[4096];
  snprintf(path, sizeof path, "%s/t10k.csv", argv[1]);
  FILE *csv = fopen(path, "w");
  if (!csv)
    return 1;
  fprintf(csv, "header");
  for (int p = 1; p < SIDE * SIDE; p++)
    fprintf(csv, ",p%d", p);
  fputc('\n', csv);
  int ok = make(argv[1], "train", (size_t)atol(argv[2]), plain, NULL) &&
           make(argv[1], "t10k", (size_t)atol(argv[3]), plain, csv);
  ok &= fclose(csv) == 0;
  return ok ? 0 : 1;
}
