// AdaRound (Nagel et al. 2020, "Up or Down? Adaptive Rounding for Post-Training Quantization",
// arXiv 2004.10568) for one layer's rounding problem (quant/layer_problem.h): every weight is
// rounded either down or up, and the choice is learned by minimising the layer's output error
//   ‖W̃ X̃ − W X‖² = Σ_rows w̃ᵀ h w̃ − 2 w̃ᵀ g w + const       (g = h when p.g is empty)
// over a continuous relaxation
//   W̃ = s · (clip(floor(W/s) + z + h(V), min_int, max_int) − z),
//   h(V) = clip(σ(V)·(ζ − γ) + γ, 0, 1), ζ = 1.1, γ = −0.1,
// plus λ · Σ (1 − |2h(V) − 1|^β), a regulariser that drives every h(V) to 0 or 1 while β is
// annealed. The optimisation is full-batch (the loss and its gradient are exact from h and g),
// so it needs far fewer steps than the paper's 10k minibatch iterations.
//
// Loss scale: as in the reference implementations (AIMET, PyTorch's experimental AdaRound),
// the reconstruction is a mean over output elements, ‖W̃X̃ − WX‖² / (samples · rows), next to
// λ · Σ_elements (1 − |2h − 1|^β), so the paper's λ = 0.01 keeps its meaning. (Internally the
// whole loss is multiplied by samples · rows / mean(s² h_jj) so that Adam's ε stays negligible
// whatever the layer's scale; Adam is otherwise invariant to that factor.)
#pragma once

#include <cstdint>
#include <vector>

#include "engine/core/status.h"
#include "quant/layer_problem.h"

namespace qe {

struct AdaRoundOptions {
  int iterations = 1000;  // Adam steps over the full (exact) loss
  double reg_weight = 0.01;  // λ of the rounding regulariser (the paper's default)
  double beta_start = 20, beta_end = 2;  // cosine annealing of β after the warm-up (as AIMET)
  double warmup = 0.2;                   // fraction of iterations without the regulariser
  double learning_rate = 3e-2;           // Adam on V (tuned for 1000 full-batch steps)
  // Each step costs rows·k² multiply-adds (one product with h). When > 0, a layer whose
  // `iterations` steps would cost more gets fewer, never below min_iterations (wide layers such
  // as ResNet's 512×4608 stay within seconds). 0: always `iterations`.
  double max_multiply_adds = 0;
  int min_iterations = 100;
};

struct AdaRoundStats {
  // Reconstruction error in excess of keeping the float weights:
  //   ‖W̃X̃ − WX‖² − ‖WX̃ − WX‖² = layer_output_error(p, w̃) − layer_output_error(p, w)
  // (with g = h when p.g is empty: ‖(W̃ − W) X̃‖²), in the problem's own (unnormalised) units.
  double loss_rtn = 0;    // of the quantizer's round-to-nearest (round_to_grid)
  double loss_final = 0;  // of the returned weights
  int64_t flipped = 0;    // elements whose integer differs from round-to-nearest's
  int64_t undecided = 0;  // optimised elements with h(V) strictly inside (0, 1) before hard rounding
  int64_t optimised = 0;  // elements whose floor and ceil are both on the grid (the rest are clipped)
  double seconds = 0;
};

// The chosen weights (rows × k, row-major), every one on its grid: grid_integer(p, i, w̃[i])
// reproduces it and it is floor(w/s) + z or that + 1 (clipped to [min_int, max_int]).
// iterations = 0 returns the initialisation rounded: floor(w/s) + z + (frac(w/s) ≥ 0.5), i.e.
// round-half-up of the float32 quotient (the quantizer's own rounding differs only at ties).
Result<std::vector<float>> adaround_solve(const LayerProblem& p, const AdaRoundOptions& opts = {},
                                          AdaRoundStats* stats = nullptr);

}  // namespace qe
