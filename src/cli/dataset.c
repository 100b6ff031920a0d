/* Datasets in IDX files: DIR/PREFIX-images-idx3-ubyte(.gz) and
 * DIR/PREFIX-labels-idx1-ubyte(.gz), as Fashion-MNIST and MNIST ship them.
 * Pixels become floats in [0, 1]. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

const char *cli_default_data(void)
{
  const char *env = getenv("BN_DATA");
  return env && *env ? env : CLI_DEFAULT_DATA;
}

void dataset_free(dataset *d)
{
  if (d) {
    free(d->x);
    free(d->y);
    memset(d, 0, sizeof *d);
  }
}

float *pixels_to_floats(const unsigned char *data, size_t count)
{
  float *x = malloc((count ? count : 1) * sizeof *x);
  for (size_t i = 0; x && i < count; i++)
    x[i] = (float)data[i] * (1.0f / 255.0f);
  return x;
}

/* DIR/NAME.gz if it exists, else DIR/NAME; 0 if neither. */
static int find(const char *dir, const char *name, char *path, size_t cap)
{
  snprintf(path, cap, "%s/%s.gz", dir, name);
  if (access(path, F_OK) == 0)
    return 1;
  snprintf(path, cap, "%s/%s", dir, name);
  if (access(path, F_OK) == 0)
    return 1;
  snprintf(path, cap, "%s/%s.gz", dir, name);
  return 0;
}

int dataset_load(const char *dir, const char *prefix, size_t limit, dataset *out)
{
  memset(out, 0, sizeof *out);
  char images[4096], labels[4096], name[64], err[4608];
  snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
  int have_images = find(dir, name, images, sizeof images);
  snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
  int have_labels = find(dir, name, labels, sizeof labels);
  if (!have_images || !have_labels) {
    const char *missing = !have_images ? images : labels;
    if (strcmp(dir, cli_default_data()) == 0)
      return cli_error(CLI_FAIL,
                       "Fashion-MNIST is not installed here: %s is missing.\n"
                       "  Install the Debian package: apt-get install %s\n"
                       "  or point --data at a directory holding %s-images-idx3-ubyte.gz and "
                       "%s-labels-idx1-ubyte.gz (gzipped or not).",
                       missing, CLI_DATA_PACKAGE, prefix, prefix);
    return cli_error(CLI_FAIL, "%s is missing (--data %s should hold %s-images-idx3-ubyte[.gz] "
                               "and %s-labels-idx1-ubyte[.gz])",
                     missing, dir, prefix, prefix);
  }
  idx_file img, lab;
  if (idx_read(images, 2, 3, &img, err, sizeof err) != CLI_OK)
    return cli_error(CLI_FAIL, "%s", err);
  if (idx_read(labels, 1, 1, &lab, err, sizeof err) != CLI_OK) {
    idx_free(&img);
    return cli_error(CLI_FAIL, "%s", err);
  }
  int rc = CLI_OK;
  if (img.count != lab.count) {
    rc = cli_error(CLI_FAIL, "%s holds %zu images but %s holds %zu labels", images, img.count,
                   labels, lab.count);
    goto out;
  }
  size_t n = limit && limit < img.count ? limit : img.count;
  out->n = n;
  out->features = img.item;
  out->x = pixels_to_floats(img.data, n * img.item);
  out->y = malloc(n * sizeof *out->y);
  if (!out->x || !out->y) {
    rc = cli_error(CLI_FAIL, "out of memory for %zu samples", n);
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    out->y[i] = lab.data[i];
    if (out->y[i] > out->max_label)
      out->max_label = out->y[i];
  }
out:
  idx_free(&img);
  idx_free(&lab);
  if (rc != CLI_OK)
    dataset_free(out);
  return rc;
}
