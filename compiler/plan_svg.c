/* plan_svg.c — the arena of a memory plan as SVG (plan_svg.h). */
#include "plan_svg.h"

#include <string.h>

#include "../runtime/bundle.h"

#define LEFT 96          /* room for the byte labels */
#define TOP 48           /* room for the title */
#define BOTTOM 150       /* room for the kernel names */
#define RIGHT 150        /* room for the lower-bound label */
#define HEIGHT 360       /* the plot */
#define MIN_WIDTH 480

/* Light fills that stay readable under black text, cycled in the order tensors are drawn. */
static const char *const FILLS[] = {"#a6cee3", "#b2df8a", "#fb9a99", "#fdbf6f",
                                    "#cab2d6", "#ffff99", "#8dd3c7", "#fccde5"};

/* Text for SVG character data and attribute values. */
static void escaped(FILE *out, const char *s) {
  for (; *s; s++) {
    switch (*s) {
      case '<': fputs("&lt;", out); break;
      case '>': fputs("&gt;", out); break;
      case '&': fputs("&amp;", out); break;
      case '"': fputs("&quot;", out); break;
      default: fputc(*s, out);
    }
  }
}

/* 65536 → "64.0 KiB", 1500 → "1.5 KiB", 100 → "100 B". */
static void bytes_label(char *buf, size_t size, int64_t b) {
  if (b >= (int64_t)1 << 20) snprintf(buf, size, "%.2f MiB", (double)b / (1 << 20));
  else if (b >= 1 << 10) snprintf(buf, size, "%.1f KiB", (double)b / (1 << 10));
  else snprintf(buf, size, "%lld B", (long long)b);
}

static int shown(const mlg_plan *plan, const mlg_lowered *lw, int t) {
  const mlg_placement *p = &plan->tensors[t];
  return p->region == MLGB_REGION_ARENA && p->first_use >= 0 && lw->alias_of[t] < 0;
}

void mlg_plan_svg(const mlg_plan *plan, const mlg_graph *g, const mlg_lowered *lw, FILE *out) {
  int n_launches = lw->n_launches > 0 ? lw->n_launches : 1;
  int col = 720 / n_launches;
  col = col < 16 ? 16 : col > 96 ? 96 : col;
  int plot_w = col * n_launches < MIN_WIDTH ? MIN_WIDTH : col * n_launches;
  col = plot_w / n_launches;
  plot_w = col * n_launches;
  int width = LEFT + plot_w + RIGHT, height = TOP + HEIGHT + BOTTOM;
  int64_t arena = plan->region_size[MLGB_REGION_ARENA];
  int64_t top = arena > plan->lower_bound ? arena : plan->lower_bound;
  double scale = top > 0 ? (double)HEIGHT / (double)top : 0;
  const char *model = g->model_name ? g->model_name : "model";
  char a[32], lb[32], nv[32];

  fprintf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"11\">\n",
          width, height, width, height);
  fputs("<title>memory plan of ", out);
  escaped(out, model);
  fputs("</title>\n", out);
  fprintf(out, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"white\"/>\n", width, height);
  bytes_label(a, sizeof a, arena);
  bytes_label(lb, sizeof lb, plan->lower_bound);
  bytes_label(nv, sizeof nv, plan->naive_bytes);
  fprintf(out, "<text x=\"%d\" y=\"20\" font-size=\"14\" font-weight=\"bold\">memory plan of ", LEFT);
  escaped(out, model);
  fprintf(out, ": the arena over %d launches</text>\n", lw->n_launches);
  fprintf(out, "<text x=\"%d\" y=\"36\">arena %s (%lld bytes), lower bound %s, without sharing %s</text>\n",
          LEFT, a, (long long)arena, lb, nv);

  /* Frame, byte axis and its ticks. */
  fprintf(out, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#fafafa\" stroke=\"#444\"/>\n",
          LEFT, TOP, plot_w, HEIGHT);
  for (int q = 0; q <= 4; q++) {
    int64_t b = top / 4 * q;
    if (q == 4) b = top;
    double y = TOP + HEIGHT - (double)b * scale;
    char label[32];
    bytes_label(label, sizeof label, b);
    fprintf(out, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#444\"/>\n", LEFT - 4, y, LEFT, y);
    fprintf(out, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", LEFT - 6, y + 4, label);
  }
  fprintf(out, "<text x=\"16\" y=\"%d\" transform=\"rotate(-90 16 %d)\" text-anchor=\"middle\">"
               "offset in the arena</text>\n",
          TOP + HEIGHT / 2, TOP + HEIGHT / 2);

  /* The launch axis: index and kernel name under each column. */
  for (int l = 0; l < lw->n_launches; l++) {
    int x = LEFT + l * col + col / 2;
    fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%d</text>\n", x, TOP + HEIGHT + 14, l);
    fprintf(out, "<text x=\"%d\" y=\"%d\" transform=\"rotate(-50 %d %d)\" text-anchor=\"end\">", x,
            TOP + HEIGHT + 26, x, TOP + HEIGHT + 26);
    escaped(out, lw->launches[l].kernel->name);
    fputs("</text>\n", out);
  }

  /* The tensors. */
  int drawn = 0;
  for (int t = 0; t < plan->n_tensors; t++) {
    if (!shown(plan, lw, t)) continue;
    const mlg_placement *p = &plan->tensors[t];
    double x = LEFT + p->first_use * col, w = (p->last_use - p->first_use + 1) * col;
    double y = TOP + HEIGHT - (double)(p->offset + p->size) * scale, h = (double)p->size * scale;
    if (h < 1) h = 1;
    const char *name = t < g->n_nodes && g->nodes[t].name ? g->nodes[t].name : "";
    char size[32];
    bytes_label(size, sizeof size, p->size);
    fprintf(out, "<g class=\"tensor\"><title>%%%d ", t);
    escaped(out, name);
    fprintf(out, ": offset %lld, %lld bytes, launches %d to %d", (long long)p->offset,
            (long long)p->size, p->first_use, p->last_use);
    if (p->shares_with >= 0) fprintf(out, ", in place of %%%d", p->shares_with);
    fprintf(out, "</title><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" "
                 "stroke=\"#333\" stroke-width=\"0.8\"/>",
            x + 1, y, w - 2, h, FILLS[drawn++ % (int)(sizeof FILLS / sizeof FILLS[0])]);
    char label[200];
    snprintf(label, sizeof label, "%%%d %s", t, name);
    if (h >= 26 && (double)strlen(label) * 6.2 < w - 6) {
      fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", x + w / 2, y + h / 2 - 2);
      escaped(out, label);
      fprintf(out, "</text><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"9\">%s</text>",
              x + w / 2, y + h / 2 + 10, size);
    } else if (h >= 12 && (double)strlen(label) * 6.2 < w - 6) {
      fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", x + w / 2, y + h / 2 + 4);
      escaped(out, label);
      fputs("</text>", out);
    }
    fputs("</g>\n", out);
  }

  /* The lower bound: no plan fits in fewer bytes. */
  double ylb = TOP + HEIGHT - (double)plan->lower_bound * scale;
  fprintf(out, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#c00\" stroke-width=\"1.5\" "
               "stroke-dasharray=\"6 4\"/>\n",
          LEFT, ylb, LEFT + plot_w + 8, ylb);
  fprintf(out, "<text x=\"%d\" y=\"%.1f\" fill=\"#c00\">lower bound %s</text>\n", LEFT + plot_w + 12, ylb + 4, lb);
  if (arena > plan->lower_bound)
    fprintf(out, "<text x=\"%d\" y=\"%d\">arena %s</text>\n", LEFT + plot_w + 12, TOP + 4, a);
  fputs("</svg>\n", out);
}
