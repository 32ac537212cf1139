// Integer GEMM: uint8 activations (int8 ones are shifted by XOR 0x80 while packing, so their
// zero point moves up by 128) times int8 or 4-bit weights, exact int32 accumulation, then one
// of three outputs per channel: requantized 8-bit (kernels/int8/requantize.h), raw int32, or
// float (acc * dequant_scale [+ float bias]) for the exits of a quantized region.
//
//   acc[., c] = bias[c] + sum_k (a[., k] - a_zp) * w[c, k]
//             = bias[c] - a_zp * wsum[c] + sum_k a[., k] * w[c, k]
// wsum is computed when the weights are packed, so the zero point costs nothing per element.
//
// Two orientations ("forms"):
//  - kConv: C[channel m, pixel n] = W[M x K] x B[K x N]; weights are the broadcast operand
//    (8-row panels), activations the vector operand (panels of 16 pixels, packed per task from
//    a matrix or by im2col), so stores run along pixels as NCHW wants.
//  - kFc:   Y[m, channel n] = X[M x K] x W[K x N]; weights are the vector operand (panels of 16
//    channels, int4 stays packed and is unpacked in registers), activations the broadcast one.
//    M is the batch (often 1: the GEMV path is the same kernel with one row).
// Both operands are interleaved by groups of 4 along K ("quads", the vpdpbusd layout), K padded
// with zero weights. Every ISA path is bit-exact with qgemm_ref for any thread count.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "engine/core/cpu_features.h"
#include "kernels/int8/requantize.h"

namespace qe {
class ThreadPool;
}

namespace qe::kernels {

enum class QForm : uint8_t { kConv = 0, kFc = 1 };
enum class QWeightType : uint8_t { kInt8 = 0, kInt4 = 1, kUint4 = 2 };
enum class QOutKind : uint8_t { kRequant = 0, kInt32 = 1, kFloat = 2 };

const char* qweight_type_name(QWeightType t);
const char* qout_kind_name(QOutKind k);

// Weights as stored in a model: a [channels x K] matrix (k_major = false: conv W, ONNX Gemm
// with transB = 1) or a [K x channels] one (k_major = true: MatMul / Gemm B). Element (c, k)
// sits at index c * ld + k or k * ld + c; int4 elements e are nibbles of byte e / 2, low first.
struct QWeightsSrc {
  QWeightType type = QWeightType::kInt8;
  const void* data = nullptr;
  int64_t ld = 0;
  bool k_major = false;
  const uint8_t* zero_points = nullptr;  // kUint4: one per channel, in [0, 15]
  int64_t first_channel = 0;             // channel c reads stored channel first_channel + c
  // w - zero point
  int32_t at(int64_t c, int64_t k) const;
};

// What happens to the int32 sum of one channel.
struct QOutput {
  QOutKind kind = QOutKind::kRequant;
  RequantParams requant;                  // kRequant: stores the low byte (u8 or s8 by the range)
  const float* dequant_scale = nullptr;   // kFloat: one per channel
  const float* float_bias = nullptr;      // kFloat: optional, added after the scaling
};

// One GEMM. C is [M x N] with row stride ldc elements (uint8/int8, int32 or float per kind).
struct QGemmArgs {
  QForm form = QForm::kConv;
  int64_t M = 0, N = 0, K = 0;
  // kConv: B [K x N], element (k, n) at act[k * ld_act + n]; kFc: X [M x K] at act[m * ld_act + k].
  const void* act = nullptr;
  int64_t ld_act = 0;
  bool act_signed = false;
  int32_t act_zero_point = 0;  // in the stored type's range
  const int32_t* bias = nullptr;  // one per channel, optional
  QOutput out;
  void* c = nullptr;
  int64_t ldc = 0;
};

// Plain loops in K order and requantize_ref: the definition every fast path is tested against.
void qgemm_ref(const QGemmArgs& g, const QWeightsSrc& w);
// The final step of every path for one channel's sum (acc includes bias and the zero point term).
void qgemm_store_ref(const QOutput& out, int64_t channel, int32_t acc, void* c, int64_t index);

// ---------------------------------------------------------------------------------------------
// Packed fast path.

constexpr int kQPanelRows = 8;    // broadcast operand panel (rows of 4-byte quads)
constexpr int kQPanelLanes = 16;  // vector operand panel (64 bytes per quad)

// Weights packed once for one form. kConv: panels of 8 channels, [quad][8][4] int8 (int4:
// nibbles in the same order). kFc: panels of 16 channels, [quad][16][4] int8; int4 pairs two
// quads per 64 bytes, quad 2q in the low nibbles and 2q + 1 in the high ones.
struct PackedQWeights {
  QForm form = QForm::kConv;
  QWeightType type = QWeightType::kInt8;
  int64_t channels = 0, K = 0;
  int64_t quads = 0;          // K / 4 rounded up (to an even count for kFc int4)
  int64_t panel_bytes = 0;    // of one panel
  std::vector<uint8_t> zero_points;  // kUint4, per channel
  std::vector<uint8_t> data;
  std::vector<int32_t> wsum;  // sum_k (w - zero point) per channel
};
PackedQWeights pack_qweights(QForm form, int64_t channels, int64_t K, const QWeightsSrc& w);

// Produces activation panels for a task. kConv: pixels [n0, n0 + nc) of item `item` as
// ceil(nc / 16) panels of quads x 64 bytes (uint8 domain: int8 XOR 0x80; positions outside the
// image hold the zero point; K padding and lanes past nc may hold anything). kFc: rows
// [m0, m0 + mc) as ceil(mc / 8) panels of quads x 32 bytes.
class QActPacker {
 public:
  virtual ~QActPacker() = default;
  virtual void pack(int64_t item, int64_t r0, int64_t rc, int64_t quads, uint8_t* dst) const = 0;
};

// A plain matrix (the layout of QGemmArgs::act); item i at act + i * item_stride elements.
class QMatrixPacker final : public QActPacker {
 public:
  QMatrixPacker(QForm form, const void* act, int64_t ld, int64_t K, bool is_signed, int64_t item_stride = 0)
      : form_(form), act_(static_cast<const uint8_t*>(act)), ld_(ld), K_(K), flip_(is_signed ? 0x80 : 0),
        item_stride_(item_stride) {}
  void pack(int64_t item, int64_t r0, int64_t rc, int64_t quads, uint8_t* dst) const override;

 private:
  QForm form_;
  const uint8_t* act_;
  int64_t ld_, K_;
  uint8_t flip_;
  int64_t item_stride_;
};

// 4 rows of 16 bytes (each may be null: zero) interleaved into 16 lanes x 4 bytes, XOR `flip`.
void qinterleave4x16(const uint8_t* r0, const uint8_t* r1, const uint8_t* r2, const uint8_t* r3, uint8_t flip,
                     uint8_t* dst);

// One microkernel call: up to 8 broadcast rows x up to 64 vector lanes, all of K, then the output.
struct QEpilogue {
  const QOutput* out;
  const int32_t* bias;  // per channel or null
  const int32_t* wsum;
  int32_t a_zp;         // in the uint8 domain
};
struct QTileArgs {
  QForm form;
  QWeightType wtype;     // of the operand it belongs to (kConv: broadcast rows are already int8)
  int64_t quads;
  const void* a;         // broadcast rows, prepared (see QGemmIsa::bcast_elem), row 0 of the tile
  int64_t a_stride;      // elements between quads (8 rows x 4)
  const uint8_t* b;      // first vector panel
  int64_t b_panel;       // bytes between panels
  const uint8_t* b_zp;   // kFc kUint4: zero points of the tile's first channel
  int mr, nr;
  int64_t ch0;           // first channel (row for kConv, column for kFc)
  QEpilogue ep;
  void* c;               // first output element
  int64_t ldc;           // elements
};

// A per-ISA family. bcast_elem: bytes per broadcast element after preparation (1: int8 for
// weights / uint8 for activations; 2: int16 for the AVX2 vpmaddwd path). max_nr(form, mr):
// widest tile in lanes for that many rows.
struct QGemmIsa {
  const char* name;
  int bcast_elem;
  void (*tile)(const QTileArgs& t);
  int (*max_nr)(QForm form, int mr);
};
extern const QGemmIsa qgemm_isa_scalar;
extern const QGemmIsa qgemm_isa_avx2;
extern const QGemmIsa qgemm_isa_avx512vnni;
const QGemmIsa* qgemm_isa(IsaLevel level);
inline const QGemmIsa* qgemm_isa() { return qgemm_isa(cpu_features().level); }

// Tasks: `batch` GEMMs x tiles_m x tiles_n; each task packs its activations into its slot.
struct QGemmPlan {
  const QGemmIsa* isa = nullptr;
  QForm form = QForm::kConv;
  int64_t M = 0, N = 0, K = 0, quads = 0, batch = 1;
  int64_t mc = 0, nc = 0, tiles_m = 0, tiles_n = 0;
  int slots = 1;
  int64_t slot_bytes = 0;
  int64_t tasks() const { return batch * tiles_m * tiles_n; }
  int64_t scratch_bytes() const { return slot_bytes * slots; }
};
QGemmPlan plan_qgemm(const QGemmIsa& isa, QForm form, int64_t M, int64_t N, int64_t K, int64_t batch,
                     int num_threads, QWeightType wtype = QWeightType::kInt8);

// One GEMM of a batch: the activations come from `packer` (item `item`), C at c with ldc.
struct QGemmItem {
  int64_t item = 0;
  void* c = nullptr;
  int64_t ldc = 0;
  const PackedQWeights* w = nullptr;  // overrides QGemmRun::w (a conv group's weights)
  int64_t ch_offset = 0;              // channel c of this GEMM reads bias / output params at c + ch_offset
};
struct QGemmRun {
  const PackedQWeights* w = nullptr;
  const QActPacker* packer = nullptr;
  int32_t act_zero_point = 0;  // uint8 domain (int8 zero point + 128)
  const int32_t* bias = nullptr;
  const QOutput* out = nullptr;
  std::function<void(int64_t, QGemmItem&)> item;  // GEMM i of the batch
};

// Task `task` of the plan in `slot` (plan.slot_bytes bytes, 64-byte aligned).
void qgemm_task(const QGemmPlan& plan, const QGemmRun& run, int64_t task, uint8_t* slot);
// Every task over the pool; `scratch` holds plan.scratch_bytes() bytes, 64-byte aligned.
void qgemm_run(ThreadPool& pool, const QGemmPlan& plan, const QGemmRun& run, uint8_t* scratch);

// Convenience for one plain GEMM (tests, benchmarks, Gemm/MatMul bindings): activations read
// from g.act, weights prepacked for g.form. g.out, g.bias, g.c as in QGemmArgs.
void qgemm_packed(ThreadPool& pool, const QGemmPlan& plan, const PackedQWeights& w, const QGemmArgs& g,
                  uint8_t* scratch);

}  // namespace qe::kernels
