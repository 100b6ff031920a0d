/* Training progress. On a terminal (stderr is a tty) one line on stderr,
 * redrawn at most ten times a second, that always fits the terminal's width:
 * fields are dropped, least useful first, until it does, because a line
 * wider than the terminal wraps and every redraw then scrolls. While the
 * held-out set is evaluated after an epoch the line says so. When stderr is
 * not a terminal nothing is drawn (the per-epoch lines on stdout carry the
 * numbers). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"

double cli_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int progress_columns(int fd)
{
  struct winsize ws;
  if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
    return ws.ws_col;
  const char *env = getenv("COLUMNS");
  char *end;
  long columns = env && *env ? strtol(env, &end, 10) : 0;
  if (columns > 0 && columns < 10000 && !*end)
    return (int)columns;
  return 80;
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

enum { BAR_MIN = 6, BAR_MAX = 30, FIELD_CAP = 64, FIELD_COUNT = 8 };

/* The line is "epoch E/N [bar] P%  field  field ...". Each optional field has a
 * rank: when the line is too wide the field of the highest rank goes first. */
size_t progress_format(const progress_view *v, int columns, char *out, size_t cap)
{
  if (!cap)
    return 0;
  /* One column is kept free: writing into the last one makes some terminals
   * wrap at once. */
  size_t width = columns > 1 ? (size_t)columns - 1 : 1;
  double fraction = v->fraction < 0 ? 0 : v->fraction > 1 ? 1 : v->fraction;
  char eta[32];
  clock_text(v->eta_seconds, eta, sizeof eta);

  char fields[FIELD_COUNT][FIELD_CAP];
  int rank[FIELD_COUNT];
  int n = 0;
  snprintf(fields[n], FIELD_CAP, "%d%%", (int)(100.0 * fraction));
  rank[n++] = 1;
  if (v->phase) { /* what is under way stays as long as the percentage */
    snprintf(fields[n], FIELD_CAP, "%s", v->phase);
    rank[n++] = 1;
    if (v->detail) {
      snprintf(fields[n], FIELD_CAP, "%s", v->detail);
      rank[n++] = 3;
    }
  } else {
    snprintf(fields[n], FIELD_CAP, "loss %.4f", (double)v->loss);
    rank[n++] = 2;
    snprintf(fields[n], FIELD_CAP, "acc %.4f", (double)v->accuracy);
    rank[n++] = 4;
  }
  snprintf(fields[n], FIELD_CAP, "%.0f samples/s", v->rate);
  rank[n++] = 5;
  snprintf(fields[n], FIELD_CAP, "ETA %s", eta);
  rank[n++] = 3;

  char head[FIELD_CAP];
  snprintf(head, sizeof head, "epoch %zu/%zu", v->epoch, v->epochs);
  /* Widths: the head, then per kept field two spaces (one before the
   * percentage, which follows the bar), the bar with its brackets. */
  int keep[FIELD_COUNT];
  for (int i = 0; i < n; i++)
    keep[i] = 1;
  size_t bar = BAR_MIN;
  for (;;) {
    size_t used = strlen(head);
    for (int i = 0; i < n; i++)
      if (keep[i])
        used += (i == 0 ? 1 : 2) + strlen(fields[i]);
    if (used + 3 + BAR_MIN <= width) { /* " [" + bar + "]" */
      size_t spare = width - used - 3;
      bar = spare < BAR_MAX ? spare : BAR_MAX;
      break;
    }
    int drop = -1;
    for (int i = 0; i < n; i++)
      if (keep[i] && rank[i] > 1 && (drop < 0 || rank[i] > rank[drop]))
        drop = i;
    if (drop < 0) { /* only "epoch E/N [bar] P%" is left: drop the bar too */
      bar = 0;
      break;
    }
    keep[drop] = 0;
  }

  size_t len = 0;
  len += (size_t)snprintf(out + len, cap - len, "%s", head);
  if (bar && len < cap) {
    size_t filled = (size_t)((double)bar * fraction);
    len += (size_t)snprintf(out + len, cap - len, " [");
    for (size_t i = 0; i < bar && len + 1 < cap; i++)
      out[len++] = i < filled ? '#' : '.';
    out[len < cap ? len : cap - 1] = '\0';
    if (len < cap)
      len += (size_t)snprintf(out + len, cap - len, "]");
  }
  for (int i = 0; i < n && len < cap; i++)
    if (keep[i])
      len += (size_t)snprintf(out + len, cap - len, "%s%s", i == 0 ? " " : "  ", fields[i]);
  if (len >= cap)
    len = cap - 1;
  if (len > width) { /* narrower than "epoch E/N P%": cut */
    len = width;
    out[len] = '\0';
  }
  return len;
}

static void draw(progress *p, size_t epoch, double fraction, float loss, float accuracy,
                 const char *phase, const char *detail)
{
  double now = cli_now();
  p->last = now;
  double elapsed = now - p->start;
  double samples = ((double)(epoch - 1) + fraction) * (double)p->per_epoch;
  double total = (double)p->epochs * (double)p->per_epoch;
  double rate = elapsed > 0 ? samples / elapsed : 0;
  progress_view v = {epoch, p->epochs, fraction, loss, accuracy, rate,
                     rate > 0 ? (total - samples) / rate : 0, phase, detail};
  char line[512];
  progress_format(&v, progress_columns(STDERR_FILENO), line, sizeof line);
  fprintf(stderr, "\r\033[K%s", line);
  fflush(stderr);
}

void progress_update(progress *p, size_t epoch, size_t done, float loss, float accuracy)
{
  if (!p->tty)
    return;
  if (cli_now() - p->last < 0.1 && done < p->per_epoch)
    return;
  draw(p, epoch, p->per_epoch ? (double)done / (double)p->per_epoch : 1.0, loss, accuracy,
       NULL, NULL);
}

void progress_phase(progress *p, size_t epoch, const char *what, const char *detail)
{
  if (p->tty)
    draw(p, epoch, 1.0, 0.0f, 0.0f, what, detail);
}

void progress_clear(progress *p)
{
  if (p->tty) {
    fputs("\r\033[K", stderr);
    fflush(stderr);
  }
}
