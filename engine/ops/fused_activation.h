// Reads the activation the fuse-activation pass folded into a node (`_act`, `_act_alpha`,
// `_act_beta`) into the kernel-side description, for any family with a fused epilogue.
#pragma once

#include "engine/core/status.h"
#include "graph/attributes.h"
#include "kernels/activation.h"

namespace qe {

// kNone when the node carries no `_act`; an error for an activation name kernels do not know.
Result<kernels::Activation> read_fused_activation(const Attributes& attrs);

}  // namespace qe
