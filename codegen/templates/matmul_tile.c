/* matmul_tile.c — staging an operand tile of the tiled GEMM in local memory, in a fetch phase
 * (global → registers) and a stash phase (registers → local). */
#include "matmul_tile.h"

#include <stdio.h>
#include <stdlib.h>

#include "kt_util.h"
#include "reduce.h"

/* How a tile is read from global memory. */
enum {
  LOAD_VEC_MN, /* mn contiguous: one vector load of `vec` elements per (k, mn group) */
  LOAD_VEC_K,  /* k contiguous: per (4 k, mn group), a 4-wide load along k of each of its vec
                  rows, transposed into 4 local vectors at the stash */
  LOAD_SCALAR, /* any layout: vec scalar loads per (k, mn group) */
  LOAD_GATHER  /* B as the im2col matrix of x: vec gathered scalars per (k, mn group) */
};

static int64_t abs64(int64_t v) { return v < 0 ? -v : v; }

static int pick_mode(const kt_tile *t) {
  if (t->gather) return LOAD_GATHER;
  if (t->vec > 1 && t->s_mn == 1 && t->mn_lim % t->vec == 0 && !t->norm) return LOAD_VEC_MN;
  if (t->s_k == 1 && t->k_lim % 4 == 0 && t->tk % 4 == 0) return LOAD_VEC_K;
  return LOAD_SCALAR;
}

static kir_type value_type(const kt_tile *t) {
  return t->mode == LOAD_VEC_MN ? kir_tv(KIR_F32, t->vec) : t->mode == LOAD_VEC_K ? kir_tv(KIR_F32, 4) : kir_t(KIR_F32);
}

static int values_per_step(const kt_tile *t) { return t->mode == LOAD_VEC_MN ? 1 : t->vec; }

/* Index of the unit's p-th row along mn within the tile. */
static kir_expr *unit_mn(kir_builder *b, const kt_tile *t, int s, int p) {
  return kir_add(b, kir_mul(b, kir_var(b, t->g[s]), kir_i32(b, t->vec)), kir_i32(b, p));
}

/* Declares the I32 variable TAG_WHATSUFFIX = e. */
static int gather_var(kir_builder *b, const char *tag, const char *what, const char *suffix, kir_expr *e) {
  char nm[32];
  snprintf(nm, sizeof nm, "%s_%s%s", tag, what, suffix);
  int v = kir_var_new(b, nm, kir_t(KIR_I32));
  kir_decl(b, v, e);
  return v;
}

kt_gather_col kt_gather_column(kir_builder *b, const kt_matmul_im2col *g, kir_expr *j, const char *tag,
                               const char *suffix) {
  const int64_t HW = g->h_out * g->w_out;
  kt_gather_col c;
  c.j = gather_var(b, tag, "j", suffix, j);
  c.img = gather_var(b, tag, "img", suffix,
                     kir_mul(b, kir_div(b, kir_var(b, c.j), kir_i32(b, HW)), kir_i32(b, g->c_in * g->h * g->w)));
  kir_expr *q = kir_mod(b, kir_var(b, c.j), kir_i32(b, HW));
  c.ih = gather_var(b, tag, "ih", suffix,
                    kir_add(b, kir_mul(b, kir_div(b, q, kir_i32(b, g->w_out)), kir_i32(b, g->stride_h)),
                            kir_i32(b, -g->pad_top)));
  c.iw = gather_var(b, tag, "iw", suffix,
                    kir_add(b, kir_mul(b, kir_mod(b, q, kir_i32(b, g->w_out)), kir_i32(b, g->stride_w)),
                            kir_i32(b, -g->pad_left)));
  c.at = gather_var(b, tag, "at", suffix,
                    kir_add(b, kir_var(b, c.img),
                            kir_add(b, kir_mul(b, kir_var(b, c.ih), kir_i32(b, g->w)), kir_var(b, c.iw))));
  return c;
}

kt_gather_row kt_gather_row_of(kir_builder *b, const kt_matmul_im2col *g, kir_expr *k, const char *tag) {
  const int64_t KHW = g->kh * g->kw;
  int kk = gather_var(b, tag, "k", "",
                      g->k_per_batch ? kir_add(b, k, kir_mul(b, kir_group_id(b, 2), kir_i32(b, g->k_per_batch))) : k);
  kt_gather_row row = {kk, -1, NULL, NULL};
  if (KHW > 1) {
    row.ci = gather_var(b, tag, "ci", "", kir_div(b, kir_var(b, kk), kir_i32(b, KHW)));
    int r = gather_var(b, tag, "r", "", kir_div(b, kir_mod(b, kir_var(b, kk), kir_i32(b, KHW)), kir_i32(b, g->kw)));
    int sc = gather_var(b, tag, "s", "", kir_mod(b, kir_var(b, kk), kir_i32(b, g->kw)));
    row.dr = kt_scaled(b, kir_var(b, r), g->dil_h);
    row.ds = kt_scaled(b, kir_var(b, sc), g->dil_w);
  }
  return row;
}

void kt_gather_row_offset(kir_builder *b, const kt_matmul_im2col *g, int base, kt_gather_row *row, const char *tag) {
  kir_expr *off = kir_mul(b, kir_var(b, row->ci), kir_i32(b, g->h * g->w));
  if (row->dr) off = kir_add(b, off, kir_add(b, kir_mul(b, row->dr, kir_i32(b, g->w)), row->ds));
  row->off = gather_var(b, tag, "off", "", kir_add(b, kir_var(b, base), off));
}

/* 0 <= v < n for an I32 v: as (uint)v < n when `as_unsigned`. */
static kir_expr *in_range(kir_builder *b, kir_expr *v, int64_t n, int as_unsigned) {
  if (as_unsigned) {
    kir_type u = kir_t(KIR_U32);
    return kir_bin(b, KIR_LT, kir_cast(b, u, v), kir_cast(b, u, kir_i32(b, n)));
  }
  return kir_bin(b, KIR_AND, kir_bin(b, KIR_GE, v, kir_i32(b, 0)), kt_lt(b, v, n));
}

kir_expr *kt_gather_inside(kir_builder *b, const kt_matmul_im2col *g, kir_expr *ih, kir_expr *iw, int as_unsigned) {
  if (!kt_im2col_pads(g)) return NULL;
  return kir_bin(b, KIR_AND, in_range(b, ih, g->h, as_unsigned), in_range(b, iw, g->w, as_unsigned));
}

kir_expr *kt_gather_guard(kir_builder *b, const kt_matmul_im2col *g, const kt_gather_row *row,
                          const kt_gather_col *col, kir_expr *guard, int as_unsigned) {
  kir_expr *ih = row->dr ? kir_add(b, kir_var(b, col->ih), row->dr) : kir_var(b, col->ih);
  kir_expr *iw = row->ds ? kir_add(b, kir_var(b, col->iw), row->ds) : kir_var(b, col->iw);
  return kt_and_opt(b, guard, kt_gather_inside(b, g, ih, iw, as_unsigned));
}

kir_expr *kt_gather_index(kir_builder *b, const kt_gather_row *row, const kt_gather_col *col) {
  return kir_add(b, kir_var(b, row->off), kir_var(b, col->at));
}

/* Column j = mn0 + the p-th row of step s's unit. */
static kt_gather_col gather_col(kir_builder *b, const kt_tile *t, int s, int p, const char *tag, const char *suffix) {
  return kt_gather_column(b, t->gather, kir_add(b, t->mn0, unit_mn(b, t, s, p)), tag, suffix);
}

/* When every step of a work-item reads the same columns (n_items a multiple of the groups, or
 * one step), their divisions are done once here, before the K loop, instead of for every
 * element of every tile. */
static void declare_gather_columns(kir_builder *b, kt_tile *t) {
  for (int p = 0; p < 4; p++) t->col[p] = (kt_gather_col){-1, -1, -1, -1, -1};
  if (t->mode != LOAD_GATHER || (t->steps > 1 && t->n_items % t->groups != 0)) return;
  for (int p = 0; p < t->vec; p++) {
    char suffix[16];
    snprintf(suffix, sizeof suffix, "%d", p);
    t->col[p] = gather_col(b, t, 0, p, t->tag, suffix);
  }
}

int kt_tile_declare(kir_builder *b, kt_tile *t) {
  t->mode = pick_mode(t);
  t->groups = t->extent / t->vec;
  t->kdiv = t->mode == LOAD_VEC_K ? 4 : 1;
  t->units = t->tk / t->kdiv * t->groups;
  t->steps = (int)kt_ceil_div(t->units, t->n_items);
  t->g = calloc((size_t)t->steps, sizeof *t->g);
  t->kl = calloc((size_t)t->steps, sizeof *t->kl);
  t->val = calloc((size_t)t->steps * 4, sizeof *t->val);
  if (!t->g || !t->kl || !t->val) return -1;
  /* Neighbouring work-items take neighbouring units along the contiguous axis (coalesced). */
  const int mn_fast = t->mode == LOAD_VEC_MN || t->mode == LOAD_GATHER ||
                      (t->mode == LOAD_SCALAR && abs64(t->s_mn) <= abs64(t->s_k));
  const int fast = mn_fast ? t->groups : t->tk / t->kdiv;
  for (int s = 0; s < t->steps; s++) {
    char nm[32];
    kir_expr *idx = kir_add(b, kir_var(b, t->lid), kir_i32(b, (int64_t)s * t->n_items));
    snprintf(nm, sizeof nm, "%s_g%d", t->tag, s);
    t->g[s] = kir_var_new(b, nm, kir_t(KIR_I32));
    snprintf(nm, sizeof nm, "%s_k%d", t->tag, s);
    t->kl[s] = kir_var_new(b, nm, kir_t(KIR_I32));
    kir_expr *q = fast == 1 ? kir_i32(b, 0) : kir_mod(b, idx, kir_i32(b, fast));
    kir_expr *r = fast == 1 ? idx : kir_div(b, idx, kir_i32(b, fast));
    kir_decl(b, t->g[s], mn_fast ? q : r);
    kir_decl(b, t->kl[s], kir_mul(b, mn_fast ? r : q, kir_i32(b, t->kdiv)));
    for (int p = 0; p < values_per_step(t); p++) {
      snprintf(nm, sizeof nm, "%s_v%d_%d", t->tag, s, p);
      int v = kir_var_new(b, nm, value_type(t));
      t->val[s * 4 + p] = v;
      kir_decl(b, v, kir_cast(b, value_type(t), kir_f32(b, 0.0)));
    }
  }
  declare_gather_columns(b, t);
  return kir_builder_failed(b) ? -1 : 0;
}

void kt_tile_free(kt_tile *t) {
  free(t->g);
  free(t->kl);
  free(t->val);
  t->g = t->kl = t->val = NULL;
}

/* var = guard ? value : 0, loading only when the guard holds. */
static void assign_guarded(kir_builder *b, int var, kir_expr *guard, kir_expr *value) {
  if (!guard || !value) { /* a NULL value (allocation failure) poisons the builder */
    kir_assign(b, var, value);
    return;
  }
  kir_if(b, guard);
  kir_assign(b, var, value);
  kir_else(b);
  kir_assign(b, var, kir_cast(b, value->type, kir_f32(b, 0.0)));
  kir_end(b);
}

kir_expr *kt_norm_apply(kir_builder *b, const kt_norm_state *ns, kir_expr *v, kir_expr *ml, kir_expr *gk) {
  v = kir_bin(b, KIR_MUL, kir_bin(b, KIR_SUB, v, kir_local_load(b, ns->mean, ml)), kir_local_load(b, ns->rstd, ml));
  if (ns->weight >= 0) v = kir_bin(b, KIR_MUL, v, kir_load(b, ns->weight, gk));
  if (ns->bias >= 0) v = kir_bin(b, KIR_ADD, v, kir_load(b, ns->bias, gk));
  return v;
}

static kir_expr *addr_of(kir_builder *b, const kt_tile *t, kir_expr *gmn, kir_expr *gk) {
  return kir_add(b, kir_var(b, t->base), kir_add(b, kt_scaled(b, gmn, t->s_mn), kt_scaled(b, gk, t->s_k)));
}

int kt_im2col_pads(const kt_matmul_im2col *g) {
  return g->pad_top || g->pad_left ||
         (g->h_out - 1) * g->stride_h - g->pad_top + (g->kh - 1) * g->dil_h >= g->h ||
         (g->w_out - 1) * g->stride_w - g->pad_left + (g->kw - 1) * g->dil_w >= g->w;
}

/* The gathered im2col elements (k = gk, the columns of step s) of x, 0 outside x: the row's
 * offset once, then per column (hoisted, else declared here) the bounds guard of its window's
 * row and column and one addition. */
static void fetch_gather(kir_builder *b, const kt_tile *t, int s, kir_expr *gk, kir_expr *k_guard) {
  kt_gather_row row = kt_gather_row_of(b, t->gather, gk, "g");
  kt_gather_row_offset(b, t->gather, t->base, &row, "g");
  for (int p = 0; p < t->vec; p++) {
    const kt_gather_col c = t->col[0].at >= 0 ? t->col[p] : gather_col(b, t, s, p, "g", "");
    kir_expr *guard = kt_and_opt(b, k_guard, t->mn_exact ? NULL : kt_lt(b, kir_var(b, c.j), t->mn_lim));
    guard = kt_gather_guard(b, t->gather, &row, &c, guard, t->unsigned_bounds);
    assign_guarded(b, t->val[s * 4 + p], guard, kir_load(b, t->buf, kt_gather_index(b, &row, &c)));
  }
}

void kt_tile_fetch(kir_builder *b, const kt_tile *t, kir_expr *k0) {
  for (int s = 0; s < t->steps; s++) {
    int partial = (int64_t)(s + 1) * t->n_items > t->units;
    if (partial)
      kir_if(b, kt_lt(b, kir_add(b, kir_var(b, t->lid), kir_i32(b, (int64_t)s * t->n_items)), t->units));
    kir_expr *gk = kir_add(b, k0, kir_var(b, t->kl[s]));
    kir_expr *k_guard = t->k_exact ? NULL : kt_lt(b, gk, t->k_lim);
    if (t->mode == LOAD_GATHER) {
      fetch_gather(b, t, s, gk, k_guard);
    } else if (t->mode == LOAD_VEC_MN) {
      kir_expr *gmn = kir_add(b, t->mn0, kir_mul(b, kir_var(b, t->g[s]), kir_i32(b, t->vec)));
      kir_expr *guard = kt_and_opt(b, t->mn_exact ? NULL : kt_lt(b, gmn, t->mn_lim), k_guard);
      assign_guarded(b, t->val[s * 4], guard, kir_load_vec(b, t->buf, addr_of(b, t, gmn, gk), t->vec));
    } else {
      for (int p = 0; p < t->vec; p++) {
        kir_expr *ml = unit_mn(b, t, s, p);
        kir_expr *gmn = kir_add(b, t->mn0, ml);
        kir_expr *guard = kt_and_opt(b, t->mn_exact ? NULL : kt_lt(b, gmn, t->mn_lim), k_guard);
        const int var = t->val[s * 4 + p];
        if (t->mode == LOAD_VEC_K) {
          assign_guarded(b, var, guard, kir_load_vec(b, t->buf, addr_of(b, t, gmn, gk), 4));
          if (t->norm) { /* normalize the loaded row in place; rows outside A stay 0 */
            kir_expr *c[4];
            if (guard) kir_if(b, guard);
            for (int i = 0; i < 4; i++)
              c[i] = kt_norm_apply(b, t->norm, kir_component(b, kir_var(b, var), i), ml, kir_add(b, gk, kir_i32(b, i)));
            kir_assign(b, var, kir_vector(b, 4, c));
            if (guard) kir_end(b);
          }
        } else {
          kir_expr *v = kir_load(b, t->buf, addr_of(b, t, gmn, gk));
          assign_guarded(b, var, guard, t->norm ? kt_norm_apply(b, t->norm, v, ml, gk) : v);
        }
      }
    }
    if (partial) kir_end(b);
  }
}

void kt_tile_stash(kir_builder *b, const kt_tile *t, kir_expr *at) {
  for (int s = 0; s < t->steps; s++) {
    int partial = (int64_t)(s + 1) * t->n_items > t->units;
    if (partial)
      kir_if(b, kt_lt(b, kir_add(b, kir_var(b, t->lid), kir_i32(b, (int64_t)s * t->n_items)), t->units));
    kir_expr *parts[4];
    for (int c = 0; c < t->kdiv; c++) {
      for (int p = 0; p < values_per_step(t); p++) {
        kir_expr *v = kir_var(b, t->val[s * 4 + p]);
        parts[p] = t->mode == LOAD_VEC_K ? kir_component(b, v, c) : v;
      }
      kir_expr *value = t->mode == LOAD_VEC_MN ? parts[0] : kir_vector(b, t->vec, parts);
      kir_expr *index = kir_add(b, kir_mul(b, kir_add(b, kir_var(b, t->kl[s]), kir_i32(b, c)), kir_i32(b, t->groups)),
                                kir_var(b, t->g[s]));
      kir_local_store(b, t->local, at ? kir_add(b, at, index) : index, value);
    }
    if (partial) kir_end(b);
  }
}
