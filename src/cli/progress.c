/* Training progress: on a terminal a bar on stderr, redrawn at most ten
 * times a second, with the running loss and accuracy, samples/s and the
 * time left; nothing when stderr is not a terminal (the per-epoch lines
 * carry the numbers). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"

double cli_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void progress_init(progress *p, size_t epochs, size_t per_epoch)
{
  p->tty = isatty(STDERR_FILENO);
  p->start = cli_now();
  p->last = 0.0;
  p->epochs = epochs;
  p->per_epoch = per_epoch;
}

static void clock_text(double seconds, char *out, size_t cap)
{
  unsigned long s = seconds > 0 ? (unsigned long)(seconds + 0.5) : 0;
  if (s >= 3600)
    snprintf(out, cap, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
  else
    snprintf(out, cap, "%lu:%02lu", s / 60, s % 60);
}

void progress_update(progress *p, size_t epoch, size_t done, float loss, float accuracy)
{
  if (!p->tty)
    return;
  double now = cli_now();
  if (now - p->last < 0.1 && done < p->per_epoch)
    return;
  p->last = now;
  double elapsed = now - p->start;
  double samples = (double)(epoch - 1) * (double)p->per_epoch + (double)done;
  double total = (double)p->epochs * (double)p->per_epoch;
  double rate = elapsed > 0 ? samples / elapsed : 0;
  char eta[32];
  clock_text(rate > 0 ? (total - samples) / rate : 0, eta, sizeof eta);
  const int width = 24;
  int filled = p->per_epoch ? (int)((double)width * (double)done / (double)p->per_epoch) : 0;
  char bar[32];
  for (int i = 0; i < width; i++)
    bar[i] = i < filled ? '#' : '.';
  bar[width] = '\0';
  fprintf(stderr, "\r\033[Kepoch %zu/%zu [%s] %3d%%  loss %.4f  acc %.4f  %.0f samples/s  ETA %s",
          epoch, p->epochs, bar, (int)(100.0 * (double)done / (double)p->per_epoch),
          (double)loss, (double)accuracy, rate, eta);
  fflush(stderr);
}

void progress_clear(progress *p)
{
  if (p->tty) {
    fputs("\r\033[K", stderr);
    fflush(stderr);
  }
}
