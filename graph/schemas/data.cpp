#include "graph/schema.h"

namespace qe {

void register_data_schemas(SchemaTable& t) { (void)t; }

}  // namespace qe
