// Float GEMM: C[M,N] = epilogue(alpha * op(A)[M,K] * op(B)[K,N]).
//
// Fast path layout (BLIS style): A is cut into panels of MR rows, B into panels of NR columns,
// both blocked along K by kc. Within K block [k0, k0+kc) a panel is kc rows of width floats
// (MR for A, NR for B). A whole packed operand is its K blocks one after the other, so a
// constant operand (weights) is packed once and sliced at run time, while a dynamic one is
// packed block by block into scratch by a PanelPacker (plain matrix, im2col, ...).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

#include "engine/core/cpu_features.h"
#include "kernels/activation.h"

namespace qe {
class ThreadPool;
}

namespace qe::kernels {

// Applied once per output element, after the full K sum:
//   C = act(alpha * sum + (accumulate ? C_before : 0) + row_bias[m] + col_bias[n])
struct GemmEpilogue {
  const float* row_bias = nullptr;  // M values (Conv bias: rows are output channels)
  const float* col_bias = nullptr;  // N values (fully connected bias)
  bool accumulate = false;          // C holds beta*C of ONNX Gemm, written by the caller
  Activation act;
};

struct GemmF32Args {
  int64_t M = 0, N = 0, K = 0;
  const float* A = nullptr;
  int64_t lda = 0;
  bool trans_a = false;  // A stored as [K, M]
  const float* B = nullptr;
  int64_t ldb = 0;
  bool trans_b = false;  // B stored as [N, K]
  float* C = nullptr;
  int64_t ldc = 0;
  float alpha = 1.f;
  GemmEpilogue ep;
};

// Plain triple loop, accumulation in K order; the definition the fast paths are tested against.
void gemm_f32_ref(const GemmF32Args& g);

// ---------------------------------------------------------------------------------------------
// Packed fast path.

inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Computes one tile of at most MR x NR over one K block: a = kc rows of MR floats (row k at
// a + k * a_stride), b = kc rows of NR floats (row k at b + k * b_stride: NR when packed, the
// matrix's row stride when read in place). C is read (load_c) and written with ldc.
struct GemmTileArgs {
  int64_t kc;
  const float* a;
  int64_t a_stride;
  const float* b;
  int64_t b_stride;
  float* c;
  int64_t ldc;
  int mr;                 // valid rows <= MR
  int nr;                 // valid columns <= NR
  bool load_c;            // add C's current content
  bool last;              // apply bias + activation
  const float* row_bias;  // at the tile's first row, or null
  const float* col_bias;  // at the tile's first column, or null
  const Activation* act;  // kinds without a vector form are applied by the caller
};
struct GemmF32Ukernel {
  void (*tile)(const GemmTileArgs& args);
  bool (*vector_act)(ActKind kind);  // whether the microkernel applies this activation itself
};
// Per-ISA microkernel families (tests call them directly).
extern const GemmF32Ukernel gemm_f32_8x48_avx512;
extern const GemmF32Ukernel gemm_f32_4x16_avx2;

struct GemmF32Config {
  const char* name = nullptr;  // gemm_f32_8x48_avx512
  int mr = 0;
  int nr = 0;
  int lanes = 0;  // floats per vector: NR is a multiple, tails cost whole vectors
  const GemmF32Ukernel* ukernel = nullptr;
};
// Best microkernel family for `level` (nullptr for scalar: the reference is the scalar path).
const GemmF32Config* gemm_f32_config(IsaLevel level);
inline const GemmF32Config* gemm_f32_config() { return gemm_f32_config(cpu_features().level); }

// How a batch of same-shaped GEMMs is cut: K blocks of kc, tiles of mc x nc (multiples of MR,
// NR), each tile one task. Depends only on the shape and thread count.
struct GemmTiling {
  int64_t kc = 0;
  int64_t mc = 0, nc = 0;
  int64_t tiles_m = 0, tiles_n = 0;
  int64_t tasks() const { return tiles_m * tiles_n; }
};
// Which dimension to cut first when the threads need more tiles: cutting N makes every tile
// pack its own copy of A's rows, cutting M of B's columns, so cut the one whose runtime packing
// is not repeated (kPreferN when B is packed per tile), or by size when both are prepacked.
enum class GemmSplit { kPreferN, kPreferM, kBySize };
GemmTiling plan_gemm_tiling(const GemmF32Config& cfg, int64_t M, int64_t N, int64_t K, int64_t batch,
                            int num_threads, GemmSplit split = GemmSplit::kPreferN);

// Floats of a packed operand with `rows` rows (M for A, N for B) and panel width `width`.
inline int64_t packed_size(int64_t rows, int64_t K, int width) { return round_up(rows, width) * K; }
// Start of panel `p` of K block [k0, k0 + kc) inside a packed operand.
inline int64_t packed_offset(int64_t rows, int width, int64_t k0, int64_t kc, int64_t p) {
  return k0 * round_up(rows, width) + p * kc * width;
}

// Element (r, k) of a matrix stored either row-major by r (x[r * ldx + k], e.g. A, or B^T) or
// by k (x[k * ldx + r], e.g. B, or A^T). Packs rows [r0, r0 + rc) x K block [k0, k0 + kc) into
// panels of `width` (zero past rc), times `scale`.
void pack_panels(const float* x, int64_t ldx, bool k_major, int64_t r0, int64_t rc, int64_t k0, int64_t kc,
                 int width, float scale, float* dst);
// The whole operand (rows x K) for tiling `t`; width = MR for A, NR for B.
void pack_operand(const float* x, int64_t ldx, bool k_major, int64_t rows, int64_t K, int width, int64_t kc,
                  float scale, float* dst);

class PanelPacker;
struct TaskPhase;
// Packing the whole operand (rows x K) of items [0, items) from `packer` as a phase of tasks;
// item i goes to dst + i * packed_size(rows, K, width). The arguments must outlive the phase.
TaskPhase pack_operand_phase(const PanelPacker& packer, int64_t items, int64_t rows, int64_t K, int width,
                             int64_t kc, float* dst);

// Produces panels at run time: rows [r0, r0 + rc) (r0 a multiple of width) of K block
// [k0, k0 + kc), ceil(rc / width) panels of kc x width floats, zero past the last row. `item`
// selects the matrix of a batched GEMM (image and group of a conv, batch index of a MatMul).
class PanelPacker {
 public:
  virtual ~PanelPacker() = default;
  virtual void pack(int64_t item, int64_t k0, int64_t kc, int64_t r0, int64_t rc, int width, float* dst) const = 0;
};

// Plain matrices (layout as in pack_panels), item i at x + i * item_stride.
class MatrixPacker final : public PanelPacker {
 public:
  MatrixPacker(const float* x, int64_t ldx, bool k_major, int64_t item_stride = 0, float scale = 1.f)
      : x_(x), ldx_(ldx), k_major_(k_major), item_stride_(item_stride), scale_(scale) {}
  void pack(int64_t item, int64_t k0, int64_t kc, int64_t r0, int64_t rc, int width, float* dst) const override {
    pack_panels(x_ + item * item_stride_, ldx_, k_major_, r0, rc, k0, kc, width, scale_, dst);
  }

 private:
  const float* x_;
  int64_t ldx_;
  bool k_major_;
  int64_t item_stride_;
  float scale_;
};

// One GEMM of the fast path. Each operand is prepacked (for the same tiling) or produced by a
// packer. alpha must already be folded into an operand (pack with scale = alpha).
struct PackedGemm {
  const GemmF32Config* cfg = nullptr;
  int64_t M = 0, N = 0, K = 0;
  const float* a_packed = nullptr;
  const PanelPacker* a_packer = nullptr;  // when a_packed is null
  int64_t a_item = 0;
  const float* b_packed = nullptr;
  // B read in place (k-major, row k at b_direct + k * ldb): full panels need no packing, only
  // the last partial one is packed. Takes precedence over b_packer.
  const float* b_direct = nullptr;
  int64_t ldb = 0;
  const PanelPacker* b_packer = nullptr;  // when b_packed and b_direct are null
  int64_t b_item = 0;
  float* c = nullptr;
  int64_t ldc = 0;
  GemmEpilogue ep;
};

// Scratch floats one worker needs for a tile (runtime-packed A and B blocks).
int64_t gemm_tile_scratch_floats(const GemmTiling& t, bool pack_a, bool pack_b);

// Computes tile `tile` (index in [0, t.tasks())) of `g` using `scratch`.
void gemm_f32_tile(const PackedGemm& g, const GemmTiling& t, int64_t tile, float* scratch);

// Runs `batch` GEMMs sharing one tiling (get(i, g) fills the i-th) over the pool. Tiles are
// handed out dynamically, but a tile's arithmetic does not depend on who computes it, so
// results are identical for any thread count. At most `num_slots` workers run; `scratch`
// holds num_slots slots of `scratch_stride` floats.
struct TaskPhase;
// The tiles of `batch` GEMMs as one phase of tasks (for run_task_phases); `t` and `get` must
// outlive the phase.
TaskPhase gemm_f32_phase(const GemmTiling& t, int64_t batch, const std::function<void(int64_t, PackedGemm&)>& get);
void gemm_f32_batched(ThreadPool& pool, const GemmTiling& t, int64_t batch,
                      const std::function<void(int64_t, PackedGemm&)>& get, float* scratch, int64_t scratch_stride,
                      int num_slots);
void gemm_f32_run(ThreadPool& pool, const PackedGemm& g, const GemmTiling& t, float* scratch, int64_t scratch_stride,
                  int num_slots);

}  // namespace qe::kernels
