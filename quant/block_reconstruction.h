// Block-wise AdaRound (BRECQ: Li et al. 2021, "BRECQ: Pushing the Limit of Post-Training
// Quantization by Block Reconstruction", arXiv 2102.05426). Layer-wise AdaRound (adaround.h)
// makes each layer reproduce its own float output; an error the next layers amplify (a 4-bit
// pointwise conv feeding a depthwise one) is invisible to it. Here the rounding of every layer
// of a block is learned jointly, to reproduce the float block's output:
//   min_V  scale · ‖f(X̃; W̃(V)) − f_float(X)‖²  +  λ Σ_layers Σ (1 − |2h(V) − 1|^β)
// with W̃ = s · (floor(W/s) + z + h(V) − z), h the rectified sigmoid of AdaRound, X̃ the block's
// input in the quantized graph as it stands (the blocks before it already rounded) and
// f_float(X) the float graph's block output on the same images. As in BRECQ's reference
// implementation, activations inside the block stay float while the weights are learned, the
// reconstruction term sums over channels and averages over samples and positions
// (scale = channels / elements), and Adam updates V from minibatches of cached inputs. The
// gradient through the block comes from the differentiable executor (quant/mixed/backprop.h).
//
// Blocks: the graph is cut at every value that all later computation depends on alone (the
// output of a residual Add, a plain conv's output); consecutive pieces are merged while the
// block holds at most `max_layers` weight layers, so a MobileNetV2 inverted residual or a
// ResNet basic block (with its downsample) becomes one block, as in BRECQ.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "quant/layer_sequential.h"
#include "quant/quant_plan.h"

namespace qe {

struct BlockReconstructionOptions {
  int iterations = 1000;     // Adam steps per block
  int batch_size = 32;       // images per step
  double reg_weight = 0.01;  // λ (BRECQ's default)
  double beta_start = 20, beta_end = 2;  // linear decay of β after the warm-up (as BRECQ)
  double warmup = 0.2;                   // fraction of steps without the regulariser
  double learning_rate = 3e-2;           // Adam on V
  int max_layers = 3;
  int num_threads = 0;
  uint64_t seed = 1;
  std::function<void(int, int)> progress;  // (blocks done, blocks in total)
};

// One block: the float graph's values it starts and ends at, and its weight layers.
struct BlockSpan {
  std::string input, output;
  std::vector<NodeId> layers;
};

// Cuts `g` into blocks over `layers` (weight layers, any order). Layers before the first
// single-value cut (several graph inputs still live) belong to no block and are returned in
// `outside`.
Result<std::vector<BlockSpan>> partition_blocks(const Graph& g, const std::vector<NodeId>& layers, int max_layers,
                                                std::vector<NodeId>* outside = nullptr);

// Refines the rounding of every layer find_rounding_targets() accepts, block by block, and writes
// it under the quantizers in `quant_graph`. Each block starts from the weights `quant_graph`
// already holds (layer-wise AdaRound's in `calibrate`, round-to-nearest otherwise): h(V) starts
// at 0.35 or 0.65 on the side of that choice, close enough to 0.5 for a few dozen Adam steps to
// flip it (from 0.1 / 0.9 at this learning rate, 300 steps flipped nothing). (Started from the float weights, as in BRECQ, the relaxation of MobileNetV1's 4-bit
// depthwise convs reached a loss of 0.09 that no rounding of it came near: 64 once rounded,
// against 63 for round-to-nearest.) One LayerRoundingRecord per block: `node` names its layers,
// error_nearest / error_solved are its reconstruction loss (the objective above without the
// regulariser, on up to 256 of the cached images) with the starting weights and with the
// learned ones. Where the learned rounding reconstructs worse, the block keeps its starting
// weights (error_solved then equals error_nearest), so no block gets worse on these images.
Result<LayerSequentialReport> reconstruct_blocks(const Graph& float_graph, Graph& quant_graph, const QuantPlan& plan,
                                                 const BatchSourceFactory& batches,
                                                 const BlockReconstructionOptions& options = {});

}  // namespace qe
