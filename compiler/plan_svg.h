/* plan_svg.h — mlgc --emit=plan --svg FILE: the arena of a memory plan as an SVG picture.
 *
 * The x axis is the launch schedule (one column per kernel launch, named below it), the y axis
 * the byte offset in the arena. Each stored intermediate is a rectangle spanning the launches
 * from its first use to its last and the bytes it occupies, so bytes shared over time show as
 * rectangles stacked in one band; the lower bound (the most bytes live at once) is a dashed
 * line, the arena's size the top of the frame. Hovering a rectangle shows the tensor's id,
 * name, offset, size and live range. Stable text (no dates, no floating-point drift).
 * Thread safety: reentrant. */
#ifndef MLG_PLAN_SVG_H
#define MLG_PLAN_SVG_H

#include <stdio.h>

#include "graph.h"
#include "lower.h"
#include "plan.h"

void mlg_plan_svg(const mlg_plan *plan, const mlg_graph *graph, const mlg_lowered *lowered,
                  FILE *out);

#endif
