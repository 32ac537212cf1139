// Quantization as plain IR data. A FakeQuant node is the one quantizer kind: its parameters map
// one to one onto QONNX Quant / BipolarQuant / FloatQuant and onto QCDQ
// (QuantizeLinear → Clip → DequantizeLinear). A Trunc node is QONNX Trunc (v2 semantics; v1
// files keep their semantics through the `version` attribute).
//
// FakeQuant node layout:
//   inputs  : X (float), scale (float constant), zero_point (float constant holding integers)
//             scale / zero_point are scalars or broadcastable against X (per-channel conv weight:
//             shape (C,1,1,1); per-group: expanded so each group's value repeats along the axis)
//   outputs : Y (float)
//   attrs   : kind "int" | "bipolar" | "float"
//             bits (int), signed (0/1), narrow (0/1), rounding_mode (QONNX spelling),
//             axis (per-channel axis or -1), group_size (0 = not per-group),
//             po2 (0/1: scales are powers of two; informative, scales already hold 2^k),
//             minifloat: exponent_bits, mantissa_bits, exponent_bias (float), max_val (float),
//             has_inf, has_nan, has_subnormal, saturation (0/1)
// Trunc node layout (QONNX Trunc v2 inputs):
//   inputs  : X, scale, zero_point, in_bitwidth, out_scale, out_bitwidth (constants after X)
//   attrs   : rounding_mode (default FLOOR), signed (1), narrow (0), version (1 or 2)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "engine/core/status.h"
#include "engine/core/tensor.h"
#include "graph/graph.h"

namespace qe {

enum class QuantKind { kInt, kBipolar, kFloat };

// QONNX rounding modes. "ROUND" is half to even (numpy's round), as in ONNX QuantizeLinear.
enum class RoundingMode { kHalfEven, kHalfUp, kHalfDown, kUp, kDown, kCeil, kFloor };

std::string_view rounding_mode_name(RoundingMode m);  // QONNX spelling: "ROUND", "HALF_UP", ...
// Accepts every QONNX spelling ("ROUND" and "HALF_EVEN" both mean half to even), any case.
Result<RoundingMode> parse_rounding_mode(std::string_view s);
std::string_view quant_kind_name(QuantKind k);  // "int", "bipolar", "float"
Result<QuantKind> parse_quant_kind(std::string_view s);

struct MinifloatFormat {
  int exponent_bits = 4;
  int mantissa_bits = 3;
  float exponent_bias = 7.0f;
  float max_val = 448.0f;  // e4m3fn
  bool has_inf = false;
  bool has_nan = true;
  bool has_subnormal = true;
  bool saturation = true;

  static MinifloatFormat e4m3();  // OCP FP8 E4M3FN: bias 7, max 448
  static MinifloatFormat e5m2();  // OCP FP8 E5M2: bias 15, max 57344
};

struct QuantParams {
  QuantKind kind = QuantKind::kInt;
  int bits = 8;  // integer: 1..32 (activations/weights 1..8, bias 16 or 32); minifloat: 1+e+m
  bool is_signed = true;
  bool narrow = false;
  RoundingMode rounding = RoundingMode::kHalfEven;
  int axis = -1;       // per-channel / per-group axis of X; -1 = per tensor
  int group_size = 0;  // > 0: per-group along `axis`
  bool po2 = false;    // scales are powers of two
  Tensor scale;        // float32; scalar or broadcastable against X
  Tensor zero_point;   // float32 holding integers; same shape as scale
  MinifloatFormat minifloat;

  // Integer grid bounds (QONNX Quant): signed [-2^(b-1) (+1 if narrow), 2^(b-1)-1],
  // unsigned [0, 2^b - 1 (-1 if narrow)].
  int64_t min_int() const;
  int64_t max_int() const;
  bool per_tensor() const { return scale.numel() == 1; }
};

// A scalar float32 tensor (shape []).
Tensor scalar_tensor(float v);

// Reads a FakeQuant node back into QuantParams (scale / zero point copied from its constant
// inputs). Errors name the node.
Result<QuantParams> read_quant_params(const Graph& g, NodeId fake_quant);

// Inserts FakeQuant(x) → new value and returns the new value's id. The caller rewires uses.
// `name` names the node; the output value is named `name` + "_out" (made unique).
Result<ValueId> add_fake_quant(Graph& g, ValueId x, const QuantParams& p, const std::string& name);

// Overwrites the attributes and scale / zero-point inputs of an existing FakeQuant node.
Status set_quant_params(Graph& g, NodeId fake_quant, const QuantParams& p);

// Attributes for `p` as stored on a FakeQuant node (used by the two functions above and by
// importers that build the node themselves).
Attributes fake_quant_attributes(const QuantParams& p);

}  // namespace qe
