/* Learning curves as a PNG, drawn with cairo: loss (left) and accuracy
 * (right) per epoch, training and held-out (validation or test) curves,
 * with axes, grid, ticks and a legend. Without cairo at build time the
 * program still builds and says so when asked to plot. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "cli.h"

#ifdef BN_HAVE_CAIRO
#include <cairo.h>

const int plot_available = 1;

typedef struct rgb {
  double r, g, b;
} rgb;

static const rgb TRAIN_COLOR = {0.12, 0.47, 0.71}, HELD_COLOR = {0.85, 0.37, 0.01},
                 INK = {0.15, 0.15, 0.15}, GRID = {0.88, 0.88, 0.88};

typedef struct panel {
  double x, y, w, h;      /* plotting area in pixels */
  double x0, x1, y0, y1;  /* data range */
} panel;

static double px(const panel *p, double v)
{
  return p->x + (v - p->x0) / (p->x1 - p->x0) * p->w;
}

static double py(const panel *p, double v)
{
  return p->y + p->h - (v - p->y0) / (p->y1 - p->y0) * p->h;
}

/* A round step (1, 2 or 5 times a power of ten) giving about `ticks` ticks. */
static double nice_step(double range, int ticks)
{
  double raw = range / ticks, mag = pow(10.0, floor(log10(raw))), f = raw / mag;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

static void color(cairo_t *cr, rgb c)
{
  cairo_set_source_rgb(cr, c.r, c.g, c.b);
}

/* Text placed by its advance width and the font's ascent and descent (not
 * the ink of these letters), so labels with and without descenders share a
 * baseline. */
static void text_at(cairo_t *cr, const char *s, double x, double y, double align_x,
                    double align_y)
{
  cairo_text_extents_t e;
  cairo_font_extents_t f;
  cairo_text_extents(cr, s, &e);
  cairo_font_extents(cr, &f);
  cairo_move_to(cr, x - align_x * e.x_advance, y + f.ascent - align_y * (f.ascent + f.descent));
  cairo_show_text(cr, s);
}

static double value(const run_history_row *r, int accuracy, int held)
{
  return accuracy ? (held ? r->held_accuracy : r->train_accuracy)
                  : (held ? r->held_loss : r->train_loss);
}

static void draw_panel(cairo_t *cr, const run_history *h, int accuracy, double x, double y, double w,
                       double ht, double font)
{
  /* Data range, padded by 5%, the accuracy kept within [0, 1]. */
  double lo = INFINITY, hi = -INFINITY;
  for (size_t i = 0; i < h->n; i++)
    for (int held = 0; held < 2; held++) {
      double v = value(&h->rows[i], accuracy, held);
      if (isnan(v))
        continue;
      lo = v < lo ? v : lo;
      hi = v > hi ? v : hi;
    }
  double pad = hi > lo ? 0.05 * (hi - lo) : 0.05 * (fabs(hi) > 0 ? fabs(hi) : 1);
  lo -= pad;
  hi += pad;
  if (accuracy) {
    lo = lo < 0 ? 0 : lo;
    hi = hi > 1 ? 1 : hi;
  } else if (lo < 0) {
    lo = 0;
  }
  double first = (double)h->rows[0].epoch, last = (double)h->rows[h->n - 1].epoch;
  panel p = {x + 4.2 * font, y + 2.2 * font, w - 5.2 * font, ht - 5.2 * font,
             first, last > first ? last : first + 1, lo, hi};

  cairo_set_font_size(cr, font);
  cairo_set_line_width(cr, 1.0);
  /* Grid and tick labels. */
  double ystep = nice_step(p.y1 - p.y0, 5);
  int decimals = ystep < 1 ? (int)ceil(-log10(ystep) - 1e-9) : 0; /* all labels alike */
  char label[32];
  for (double v = ceil(p.y0 / ystep) * ystep; v <= p.y1 + 1e-9 * ystep; v += ystep) {
    color(cr, GRID);
    cairo_move_to(cr, p.x, floor(py(&p, v)) + 0.5);
    cairo_line_to(cr, p.x + p.w, floor(py(&p, v)) + 0.5);
    cairo_stroke(cr);
    snprintf(label, sizeof label, "%.*f", decimals, fabs(v) < 1e-12 ? 0.0 : v);
    color(cr, INK);
    text_at(cr, label, p.x - 0.4 * font, py(&p, v), 1.0, 0.5);
  }
  double xstep = nice_step(p.x1 - p.x0, 8);
  xstep = xstep < 1 ? 1 : xstep;
  for (double v = ceil(p.x0 / xstep) * xstep; v <= p.x1 + 1e-9; v += xstep) {
    color(cr, GRID);
    cairo_move_to(cr, floor(px(&p, v)) + 0.5, p.y);
    cairo_line_to(cr, floor(px(&p, v)) + 0.5, p.y + p.h);
    cairo_stroke(cr);
    snprintf(label, sizeof label, "%g", v);
    color(cr, INK);
    text_at(cr, label, px(&p, v), p.y + p.h + 0.4 * font, 0.5, 0.0);
  }
  color(cr, INK);
  cairo_rectangle(cr, floor(p.x) + 0.5, floor(p.y) + 0.5, floor(p.w), floor(p.h));
  cairo_stroke(cr);
  text_at(cr, "epoch", p.x + p.w / 2, p.y + p.h + 1.8 * font, 0.5, 0.0);
  cairo_set_font_size(cr, 1.2 * font);
  text_at(cr, accuracy ? "accuracy" : "loss", p.x + p.w / 2, y + 0.4 * font, 0.5, 0.0);

  /* The curves, held-out over training, each point marked. */
  for (int held = 0; held < 2; held++) {
    if (held && isnan(value(&h->rows[0], accuracy, held))) /* no held-out set */
      continue;
    color(cr, held ? HELD_COLOR : TRAIN_COLOR);
    cairo_set_line_width(cr, 2.0);
    for (size_t i = 0; i < h->n; i++) {
      double cx = px(&p, (double)h->rows[i].epoch), cy = py(&p, value(&h->rows[i], accuracy, held));
      if (i == 0)
        cairo_move_to(cr, cx, cy);
      else
        cairo_line_to(cr, cx, cy);
    }
    cairo_stroke(cr);
    for (size_t i = 0; i < h->n; i++) {
      cairo_arc(cr, px(&p, (double)h->rows[i].epoch),
                py(&p, value(&h->rows[i], accuracy, held)), 3.0, 0, 6.283185307179586);
      cairo_fill(cr);
    }
  }

  /* Legend in the corner the curves leave free: top right for the loss,
   * bottom right for the accuracy. */
  cairo_set_font_size(cr, font);
  const char *names[2] = {"training", strcmp(h->held_out, "val") == 0 ? "validation" : "test"};
  double lx = p.x + p.w - 8.5 * font,
         ly = accuracy ? p.y + p.h - 3.0 * font : p.y + 0.8 * font;
  const int curves = isnan(value(&h->rows[0], accuracy, 1)) ? 1 : 2;
  for (int held = 0; held < curves; held++) {
    double rowy = ly + held * 1.4 * font;
    color(cr, held ? HELD_COLOR : TRAIN_COLOR);
    cairo_set_line_width(cr, 2.0);
    cairo_move_to(cr, lx, rowy + 0.5 * font);
    cairo_line_to(cr, lx + 1.8 * font, rowy + 0.5 * font);
    cairo_stroke(cr);
    color(cr, INK);
    text_at(cr, names[held], lx + 2.3 * font, rowy + 0.5 * font, 0.0, 0.5);
  }
}

int plot_history(const run_history *h, const char *path, int width, int height)
{
  if (!h->n)
    return cli_error(CLI_FAIL, "no epochs to plot");
  cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
  cairo_t *cr = cairo_create(surface);
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  double font = height / 32.0 < 10 ? 10 : height / 32.0;
  draw_panel(cr, h, 0, 0, 0, width / 2.0, height, font);
  draw_panel(cr, h, 1, width / 2.0, 0, width / 2.0, height, font);
  cairo_status_t st = cairo_status(cr);
  if (st == CAIRO_STATUS_SUCCESS)
    st = cairo_surface_write_to_png(surface, path);
  cairo_destroy(cr);
  cairo_surface_destroy(surface);
  /* One plot per process: give cairo's font caches back, so leak checkers
   * see only real leaks. */
  cairo_debug_reset_static_data();
  if (st != CAIRO_STATUS_SUCCESS)
    return cli_error(CLI_FAIL, "cannot write the plot %s: %s", path, cairo_status_to_string(st));
  return CLI_OK;
}

#else

const int plot_available = 0;

int plot_history(const run_history *h, const char *path, int width, int height)
{
  (void)h;
  (void)width;
  (void)height;
  return cli_error(CLI_FAIL,
                   "cannot draw %s: this bn was built without cairo, so it cannot plot "
                   "(install libcairo2-dev and rebuild)",
                   path);
}

#endif
