/* emit_mlg.h — any graph printed back as mlg text (mlgc --emit=mlg), and the mapping of
 * foreign names (ONNX values, initializers) to mlg names.
 *
 * The text is one `model` block: the graph's dims as `dim` declarations, inputs (typed with
 * those dims), params without initializers (their values go to the weights file, see below),
 * small consts as literals, then one binding per named node, in graph order. An unnamed node
 * read once is written inside the expression that reads it; otherwise it gets a binding of its
 * own (`t<id>`). Attributes equal to what the op would infer anyway are left out. Compiling the
 * text with `--weights` (the file written beside it) gives a graph that computes the same
 * outputs: the same ops, shapes and weights. Shapes in the body are those of the dims' current
 * values (the graph holds concrete shapes), so the text is checked again for other -D values.
 * Thread safety: reentrant. */
#ifndef MLG_EMIT_MLG_H
#define MLG_EMIT_MLG_H

#include <stdio.h>

#include "diag.h"
#include "graph.h"

/* Writes a valid mlg name for `name` into out (size >= 8; longer names are cut at size - 1):
 * bytes other than letters, digits, '_', '.' and '/' become '_'; '/' separates segments like
 * '.'; empty segments are dropped; a name that is empty or starts with a digit gets a 'v' in
 * front; a keyword gets a '_' after it. A valid mlg name comes back unchanged. */
void mlg_name_sanitize(const char *name, char *out, size_t size);

/* Prints `graph` as mlg text to `out`. Params (and consts too large to read as literals) are
 * declared without values; when `weights_path` is not NULL their values are written there as
 * .safetensors, under the names the text declares (params without values of their own, e.g.
 * from a .mlg without --weights, take their initializers' values). `source_note` (may be NULL)
 * goes into the header comment. Returns 0, or -1 after reporting to diag. */
int mlg_emit_mlg(const mlg_graph *graph, const char *source_note, const char *weights_path,
                 mlg_diag *diag, FILE *out);

#endif
