// The plane loop shared by qdepthwise_avx2.cpp and qdepthwise_avx512.cpp (internal; include only
// from those files). Choosing the vector or the scalar path, the padded scratch plane, the weight
// pairs and the 3x3 / 5x5 specialisations do not depend on the ISA; only filling the plane,
// broadcasting one channel's output parameters and the inner loops do, and they come from `Isa`.
// The template holds no intrinsics itself, so each ISA file compiles its own copy with its flags
// (the traits live in each file's anonymous namespace, which keeps the instantiations apart).
#pragma once

#include <cstdint>

#include "kernels/int8/qdepthwise.h"

namespace qe::kernels {

// One plane as the inner loops see it: the padded int16 copy and one channel's weight pairs.
struct QDwPlane {
  const int16_t* buf;
  int64_t row_len, oH, oW, sh, dh;
  int kh, np;
  const int32_t* wp;
  int32_t bias;
};

// Isa provides:
//   static void fill(const QDepthwiseParams&, const QDwLayout&, const void* x_plane, int16_t* dst);
//   using OutCtx = ...;  // fields type, rq (a RequantVec), dq (broadcast dequant), y (plane base), oW
//   static <float vector> broadcast_ps(float);
//   template <int KH, int NP, int SW> static void plane(const QDwPlane&, const OutCtx&);
//     KH, NP: kernel rows and tap pairs per row (0: read from the QDwPlane); SW: stride along W, 1 or 2.
template <class Isa>
void qdw_vector_planes(const QDepthwiseParams& p, const void* x, const int8_t* w, const int32_t* bias,
                       const QDepthwiseOutput& o, void* y, int64_t plane_begin, int64_t plane_end, void* scratch) {
  const QDwLayout l = qdw_layout(p);
  int16_t* buf = static_cast<int16_t*>(scratch);
  const int64_t kh = p.kernel[0], kw = p.kernel[1], np = (kw + 1) / 2;
  if (p.stride[1] > 2 || p.dilation[1] != 1 || kh * np > kQdwMaxPairs) {
    qdw_generic_planes(p, l, x, w, bias, o, y, plane_begin, plane_end, buf);
    return;
  }
  qdw_clear(l, buf);
  alignas(64) int32_t wp[kQdwMaxPairs];
  QDwPlane pl{buf, l.row_len, p.out[0], p.out[1], p.stride[0], p.dilation[0], static_cast<int>(kh),
              static_cast<int>(np), wp, 0};
  const int64_t osize = o.type == QOutType::kF32 ? static_cast<int64_t>(sizeof(float)) : 1;
  const bool s2 = p.stride[1] == 2;
  typename Isa::OutCtx oc{};
  oc.type = o.type;
  oc.oW = p.out[1];
  for (int64_t pi = plane_begin; pi < plane_end; ++pi) {
    const int64_t c = pi % p.channels;
    Isa::fill(p, l, static_cast<const uint8_t*>(x) + pi * p.in_size(), buf);  // u8 and s8: one byte
    qdw_weight_pairs(w + c * kh * kw, kh, kw, wp);
    pl.bias = bias ? bias[c] : 0;
    if (o.type == QOutType::kF32) {
      oc.dq = Isa::broadcast_ps(o.dequant[c]);
    } else {
      oc.rq = decltype(oc.rq)::broadcast(o.requant.mode, o.requant.channel(c), o.requant.out);
    }
    oc.y = static_cast<char*>(y) + pi * p.out_size() * osize;
    // The two common kernels keep their weight pairs in registers.
    if (kh == 3 && kw == 3) {
      s2 ? Isa::template plane<3, 2, 2>(pl, oc) : Isa::template plane<3, 2, 1>(pl, oc);
    } else if (kh == 5 && kw == 5) {
      s2 ? Isa::template plane<5, 3, 2>(pl, oc) : Isa::template plane<5, 3, 1>(pl, oc);
    } else {
      s2 ? Isa::template plane<0, 0, 2>(pl, oc) : Isa::template plane<0, 0, 1>(pl, oc);
    }
  }
}

}  // namespace qe::kernels
