#pragma once

#include "graph/graph.h"

namespace qe {

// Structural checks: ids in range, producers and uses consistent, no cycle, every consumed
// value produced, an input or a constant, graph outputs defined, arity within the schema.
Status verify_graph(const Graph& g);

}  // namespace qe
