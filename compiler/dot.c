/* dot.c — the fused graph as Graphviz (dot.h). */
#include "dot.h"

#include <stdlib.h>
#include <string.h>

#include "op.h"

/* A double-quoted Graphviz string: quotes and backslashes escaped, a newline as \n. */
static void quoted(FILE *out, const char *s) {
  fputc('"', out);
  for (; *s; s++) {
    if (*s == '\n') {
      fputs("\\n", out);
      continue;
    }
    if (*s == '"' || *s == '\\') fputc('\\', out);
    fputc(*s, out);
  }
  fputc('"', out);
}

static int is_stored(const mlg_fusion *fu, int i) {
  mlg_fuse_role r = fu->role[i];
  return r == MLG_ROLE_LEAF || r == MLG_ROLE_ROOT || r == MLG_ROLE_ALIAS;
}

/* One node; `in_cluster` indents it inside its subgraph. */
static void print_node(const mlg_graph *g, const mlg_fusion *fu, int i, int bold, int in_cluster,
                       FILE *out) {
  const mlg_node *n = &g->nodes[i];
  char label[512];
  if (n->kind == MLG_NODE_OP)
    snprintf(label, sizeof label, "%s%s%s\n%%%d", n->op ? n->op->name : "?", n->name ? " " : "",
             n->name ? n->name : "", i);
  else
    snprintf(label, sizeof label, "%s %s",
             n->kind == MLG_NODE_INPUT ? "input" : n->kind == MLG_NODE_PARAM ? "param" : "const",
             n->name ? n->name : "");
  fprintf(out, "%sn%d [label=", in_cluster ? "    " : "  ", i);
  quoted(out, label);
  if (n->kind == MLG_NODE_INPUT) fputs(", shape=invhouse, style=filled, fillcolor=\"#fff2cc\"", out);
  else if (n->kind != MLG_NODE_OP) fputs(", shape=note, style=filled, fillcolor=\"#eeeeee\"", out);
  else if (fu->role[i] == MLG_ROLE_INDEX || fu->role[i] == MLG_ROLE_ALIAS) fputs(", style=dashed", out);
  else if (bold) fputs(", penwidth=2", out);
  fputs("];\n", out);
}

/* Whether a leaf has a reader (DCE leaves none unread, but a param can outlive its ops). */
static int has_reader(const mlg_graph *g, int leaf) {
  for (int i = leaf + 1; i < g->n_nodes; i++)
    for (int k = 0; k < g->nodes[i].n_inputs; k++)
      if (g->nodes[i].inputs[k] == leaf) return 1;
  for (int o = 0; o < g->n_outputs; o++)
    if (g->outputs[o].node == leaf) return 1;
  return 0;
}

static void print_edge(const mlg_graph *g, const mlg_fusion *fu, int from, const char *to, FILE *out) {
  char ty[160];
  fprintf(out, "  n%d -> %s [label=", from, to);
  quoted(out, mlg_type_format(&g->nodes[from].type, ty, sizeof ty));
  fputs(is_stored(fu, from) ? "];\n" : ", style=dashed];\n", out);
}

void mlg_dot_print(const mlg_graph *g, const mlg_fusion *fu, const mlg_lowered *lw, FILE *out) {
  int n = g->n_nodes;
  /* Per node: the launch that copies it into an output (a graph output that is an input,
   * param or const), or -1. */
  int *copy_of = malloc(sizeof(int) * (size_t)(n ? n : 1));
  if (!copy_of) return;
  for (int i = 0; i < n; i++) copy_of[i] = -1;

  fputs("digraph ", out);
  quoted(out, g->model_name ? g->model_name : "model");
  char title[256];
  snprintf(title, sizeof title, "%s: %d ops in %d kernels", g->model_name ? g->model_name : "model",
           mlg_graph_op_count(g), lw->n_launches);
  fputs(" {\n  graph [fontname=\"Helvetica\", fontsize=12, labelloc=t, label=", out);
  quoted(out, title);
  fputs("];\n  node [fontname=\"Helvetica\", fontsize=10, shape=box, style=rounded];\n"
        "  edge [fontname=\"Helvetica\", fontsize=8];\n",
        out);

  for (int i = 0; i < n; i++)
    if (g->nodes[i].kind != MLG_NODE_OP && has_reader(g, i)) print_node(g, fu, i, 0, 0, out);

  /* One cluster per group that launches kernels, named after them. */
  for (int gi = 0; gi < fu->n_groups; gi++) {
    const mlg_fusion_group *gr = &fu->groups[gi];
    char names[512] = "";
    size_t used = 0;
    for (int l = 0; l < lw->n_launches; l++) {
      if (!lw->launch_node || lw->launch_node[l] != gr->root) continue;
      int w = snprintf(names + used, sizeof names - used, "%s%s", used ? ", " : "",
                       lw->launches[l].kernel->name);
      if (w > 0 && (size_t)w < sizeof names - used) used += (size_t)w;
    }
    if (!used) {
      for (int k = 0; k < gr->n_nodes; k++) print_node(g, fu, gr->nodes[k], 0, 0, out);
      continue;
    }
    fprintf(out, "  subgraph cluster_%d {\n    label=", gi);
    quoted(out, names);
    fputs(";\n    style=\"rounded,filled\"; fillcolor=\"#e8f0fe\"; color=\"#4a6fa5\";\n", out);
    for (int k = 0; k < gr->n_nodes; k++)
      print_node(g, fu, gr->nodes[k], gr->nodes[k] == gr->anchor, 1, out);
    fputs("  }\n", out);
  }
  /* Index ops and views: no kernel of their own. */
  for (int i = 0; i < n; i++)
    if (g->nodes[i].kind == MLG_NODE_OP && fu->group_of[i] < 0) print_node(g, fu, i, 0, 0, out);

  /* Kernels that copy a leaf into an output. */
  for (int l = 0; l < lw->n_launches; l++) {
    int root = lw->launch_node ? lw->launch_node[l] : -1;
    if (root < 0 || root >= n) continue;
    int gi = fu->group_of[root];
    if (gi >= 0 && fu->groups[gi].root == root) continue;
    copy_of[root] = l;
    fprintf(out, "  subgraph cluster_copy%d {\n    label=", l);
    quoted(out, lw->launches[l].kernel->name);
    fprintf(out, ";\n    style=\"rounded,filled\"; fillcolor=\"#e8f0fe\"; color=\"#4a6fa5\";\n"
                 "    copy%d [label=\"copy\"];\n  }\n", l);
    char to[32];
    snprintf(to, sizeof to, "copy%d", l);
    print_edge(g, fu, root, to, out);
  }

  for (int i = 0; i < n; i++) {
    const mlg_node *nd = &g->nodes[i];
    char to[32];
    snprintf(to, sizeof to, "n%d", i);
    for (int k = 0; k < nd->n_inputs; k++) print_edge(g, fu, nd->inputs[k], to, out);
  }
  for (int o = 0; o < g->n_outputs; o++) {
    int from = g->outputs[o].node;
    fprintf(out, "  out%d [label=", o);
    char label[300];
    snprintf(label, sizeof label, "output %s", g->outputs[o].name ? g->outputs[o].name : "");
    quoted(out, label);
    fputs(", shape=house, style=filled, fillcolor=\"#d9ead3\"];\n", out);
    char to[32], ty[160];
    snprintf(to, sizeof to, "out%d", o);
    if (copy_of[from] >= 0) {
      fprintf(out, "  copy%d -> %s [label=", copy_of[from], to);
      quoted(out, mlg_type_format(&g->nodes[from].type, ty, sizeof ty));
      fputs("];\n", out);
    } else {
      print_edge(g, fu, from, to, out);
    }
  }
  fputs("}\n", out);
  free(copy_of);
}
