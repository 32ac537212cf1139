// Factories for the graph passes, one pass per file in this folder.
#pragma once

#include <memory>

#include "graph/pass.h"

namespace qe {

std::unique_ptr<Pass> make_remove_identity_pass();
std::unique_ptr<Pass> make_shape_folding_pass();
std::unique_ptr<Pass> make_constant_folding_pass();
std::unique_ptr<Pass> make_dead_code_elimination_pass();
std::unique_ptr<Pass> make_fold_batch_norm_pass();
std::unique_ptr<Pass> make_fuse_activation_pass();
std::unique_ptr<Pass> make_fuse_hardswish_pass();

}  // namespace qe
