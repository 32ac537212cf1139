#include "graph/schema.h"

namespace qe {

void register_pooling_schemas(SchemaTable& t) { (void)t; }

}  // namespace qe
