#include "quant/layer_stats.h"

#include <algorithm>

#include <Eigen/Dense>

#include "engine/core/cpu_features.h"
#include "graph/schemas/conv_attrs.h"
#include "quant/layer_stats_products.h"

namespace qe {

namespace {

using ColumnMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;

// Columns per product: large enough for an efficient product, small enough for cache-sized
// scratch (k × 2048 floats) whatever the batch.
constexpr int64_t kChunkColumns = 2048;
// Columns summed in float before the partial sums are folded into double.
constexpr int64_t kFlushColumns = 16384;

bool have_avx2() { return cpu_features().level >= IsaLevel::kAvx2; }

// Baseline forms of layer_stats_detail's products (machines without AVX2).
void accumulate_gram_scalar(float* acc, const float* a, int64_t k, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    const float* col = a + j * k;
    for (int64_t c = 0; c < k; ++c) {
      const float v = col[c];
      float* out = acc + c * k;
      for (int64_t r = c; r < k; ++r) out[r] += col[r] * v;
    }
  }
}

void accumulate_cross_scalar(float* acc, const float* a, const float* b, int64_t k, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    const float* x = a + j * k;
    const float* y = b + j * k;
    for (int64_t c = 0; c < k; ++c) {
      const float v = y[c];
      float* out = acc + c * k;
      for (int64_t r = 0; r < k; ++r) out[r] += x[r] * v;
    }
  }
}

}  // namespace

Result<LayerGemmForm> layer_gemm_form(const Graph& g, NodeId node) {
  const Node& n = g.node(node);
  LayerGemmForm f;
  f.node = node;
  f.op = n.op;
  if (n.inputs.size() < 2 || !g.value(n.inputs[1]).is_constant()) return invalid_argument("the weight is not a constant");
  const Tensor& w = g.value(n.inputs[1]).constant;
  if (w.dtype() != DType::kF32) return invalid_argument("the weight is not float32");
  const Shape& ws = w.shape();
  if (n.op == OpKind::kConv) {
    if (ws.rank() != 4) return invalid_argument("only 2-D convolutions are handled");
    const Value& x = g.value(n.inputs[0]);
    if (!x.shape_known || x.shape.rank() != 4) return invalid_argument("the input shape is unknown");
    QE_ASSIGN_OR_RETURN(ConvGeometry geo, resolve_conv_geometry(n.attrs, x.shape, ws));
    for (int64_t p : geo.pads_begin) {
      if (p < 0) return invalid_argument("padding depends on an unknown input size");
    }
    f.groups = geo.group;
    f.rows = ws[0] / geo.group;
    f.k = ws[1] * ws[2] * ws[3];
    f.in_channels = ws[1] * geo.group;
    f.kernel = geo.kernel;
    f.strides = geo.strides;
    f.dilations = geo.dilations;
    f.pads_begin = geo.pads_begin;
    f.pads_end = geo.pads_end;
    f.weight_index.resize(static_cast<size_t>(ws.numel()));
    // [O, C/g, kh, kw] is already group-major, row-major per group.
    for (int64_t i = 0; i < ws.numel(); ++i) f.weight_index[static_cast<size_t>(i)] = i;
    return f;
  }
  bool transposed = false;  // weight stored [out, in]
  if (n.op == OpKind::kGemm) {
    QE_ASSIGN_OR_RETURN(int64_t trans_a, n.attrs.get_int("transA", 0));
    QE_ASSIGN_OR_RETURN(int64_t trans_b, n.attrs.get_int("transB", 0));
    if (trans_a != 0) return invalid_argument("Gemm with transA is not handled");
    transposed = trans_b != 0;
  } else if (n.op != OpKind::kMatMul) {
    return invalid_argument("not a Conv, Gemm or MatMul");
  }
  if (ws.rank() != 2) return invalid_argument("only 2-D weights are handled");
  const int64_t in = transposed ? ws[1] : ws[0], out = transposed ? ws[0] : ws[1];
  f.rows = out;
  f.k = in;
  f.weight_index.resize(static_cast<size_t>(ws.numel()));
  for (int64_t r = 0; r < out; ++r) {
    for (int64_t c = 0; c < in; ++c) {
      f.weight_index[static_cast<size_t>(r * in + c)] = transposed ? r * in + c : c * out + r;
    }
  }
  return f;
}

LayerInputStats::LayerInputStats(const LayerGemmForm& form, bool cross) : form_(form), cross_(cross) {
  const size_t kk = static_cast<size_t>(form.k * form.k);
  h_.assign(static_cast<size_t>(form.groups), std::vector<double>(kk, 0.0));
  if (cross) g_.assign(static_cast<size_t>(form.groups), std::vector<double>(kk, 0.0));
  partial_.resize(static_cast<size_t>(form.groups));
}

int64_t LayerInputStats::bytes() const {
  int64_t partial = 0;
  for (const auto& parts : partial_) {
    for (const Partial& p : parts) partial += static_cast<int64_t>((p.h.size() + p.g.size()) * sizeof(float));
  }
  return partial +
         static_cast<int64_t>((h_.size() + g_.size()) * static_cast<size_t>(form_.k * form_.k) * sizeof(double));
}

void LayerInputStats::accumulate(Partial& part, int64_t group, const float* a, const float* b, int64_t n) {
  const int64_t k = form_.k;
  if (part.h.empty()) {
    part.h.assign(static_cast<size_t>(k * k), 0.0f);
    if (cross_) part.g.assign(static_cast<size_t>(k * k), 0.0f);
  }
  if (have_avx2()) {
    layer_stats_detail::accumulate_gram_avx2(part.h.data(), a, k, n);
    if (b) layer_stats_detail::accumulate_cross_avx2(part.g.data(), a, b, k, n);
  } else {
    accumulate_gram_scalar(part.h.data(), a, k, n);
    if (b) accumulate_cross_scalar(part.g.data(), a, b, k, n);
  }
  part.pending += n;
  if (part.pending >= kFlushColumns) flush(part, group);
}

void LayerInputStats::flush(Partial& part, int64_t group) {
  if (part.pending == 0) return;
  const int64_t k = form_.k;
  std::lock_guard<std::mutex> lock(flush_mutex_);
  std::vector<double>& h = h_[static_cast<size_t>(group)];
  for (int64_t c = 0; c < k; ++c) {
    for (int64_t r = c; r < k; ++r) {
      const double v = part.h[static_cast<size_t>(c * k + r)];
      h[static_cast<size_t>(r * k + c)] += v;
      if (r != c) h[static_cast<size_t>(c * k + r)] += v;
    }
  }
  std::fill(part.h.begin(), part.h.end(), 0.0f);
  if (cross_) {
    std::vector<double>& g = g_[static_cast<size_t>(group)];
    for (int64_t c = 0; c < k; ++c) {
      for (int64_t r = 0; r < k; ++r) g[static_cast<size_t>(r * k + c)] += part.g[static_cast<size_t>(c * k + r)];
    }
    std::fill(part.g.begin(), part.g.end(), 0.0f);
  }
  part.pending = 0;
}

void LayerInputStats::flush_all() {
  for (size_t grp = 0; grp < partial_.size(); ++grp) {
    for (Partial& p : partial_[grp]) flush(p, static_cast<int64_t>(grp));
  }
}

std::vector<double>& LayerInputStats::h_ref(int64_t group) {
  flush_all();
  return h_[static_cast<size_t>(group)];
}

std::vector<double>& LayerInputStats::g_ref(int64_t group) {
  flush_all();
  return g_[static_cast<size_t>(group)];
}

const std::vector<double>& LayerInputStats::h(int64_t group) { return h_ref(group); }
const std::vector<double>& LayerInputStats::g(int64_t group) { return g_ref(group); }

Status LayerInputStats::add(const Tensor& quant_input, const Tensor* float_input, ThreadPool& pool) {
  if (quant_input.dtype() != DType::kF32) return internal_error("layer statistics: the input is not float32");
  if (cross_ && (float_input == nullptr || float_input->shape() != quant_input.shape())) {
    return internal_error("layer statistics: the float and quantized inputs differ in shape");
  }
  return form_.op == OpKind::kConv ? add_conv(quant_input, cross_ ? float_input : nullptr, pool)
                                   : add_rows(quant_input, cross_ ? float_input : nullptr, pool);
}

Status LayerInputStats::add_rows(const Tensor& xq, const Tensor* xf, ThreadPool& pool) {
  const Shape& s = xq.shape();
  if (s.rank() < 1 || s[s.rank() - 1] != form_.k) {
    return internal_error("layer statistics: input of shape ", s.to_string(), " for ", form_.k, " features");
  }
  const int64_t k = form_.k, count = s.numel() / k;
  const int parts = static_cast<int>(std::min<int64_t>(pool.num_threads(), std::max<int64_t>(1, count / 256)));
  auto& partials = partial_[0];
  if (static_cast<int>(partials.size()) < parts) partials.resize(static_cast<size_t>(parts));
  pool.parallel_for(parts, [&](int64_t begin, int64_t end) {
    for (int64_t part = begin; part < end; ++part) {
      const int64_t lo = count * part / parts, hi = count * (part + 1) / parts;
      for (int64_t c0 = lo; c0 < hi; c0 += kChunkColumns) {
        const int64_t n = std::min(kChunkColumns, hi - c0);
        // Input rows are already columns of features: k × n column-major.
        accumulate(partials[static_cast<size_t>(part)], 0, xq.data<float>() + c0 * k,
                   xf ? xf->data<float>() + c0 * k : nullptr, n);
      }
    }
  });
  samples_ += count;
  return Status::ok();
}

Status LayerInputStats::add_conv(const Tensor& xq, const Tensor* xf, ThreadPool& pool) {
  const Shape& s = xq.shape();
  if (s.rank() != 4 || s[1] != form_.in_channels) {
    return internal_error("layer statistics: conv input of shape ", s.to_string(), " for ", form_.in_channels,
                          " channels");
  }
  const int64_t batch = s[0], height = s[2], width = s[3];
  const int64_t kh = form_.kernel[0], kw = form_.kernel[1];
  const int64_t sy = form_.strides[0], sx = form_.strides[1], dy = form_.dilations[0], dx = form_.dilations[1];
  const int64_t py = form_.pads_begin[0], px = form_.pads_begin[1];
  const int64_t out_h = (height + py + form_.pads_end[0] - ((kh - 1) * dy + 1)) / sy + 1;
  const int64_t out_w = (width + px + form_.pads_end[1] - ((kw - 1) * dx + 1)) / sx + 1;
  if (out_h <= 0 || out_w <= 0) return internal_error("layer statistics: empty convolution output");
  const int64_t positions = batch * out_h * out_w, k = form_.k, cg = form_.k / (kh * kw);
  const int64_t groups = form_.groups;

  // im2col of positions [p0, p0 + n) of group `grp` into a k × n column-major matrix.
  auto gather = [&](const float* x, int64_t grp, int64_t p0, int64_t n, ColumnMatrix& out) {
    out.resize(k, n);
    for (int64_t j = 0; j < n; ++j) {
      const int64_t p = p0 + j;
      const int64_t b = p / (out_h * out_w), oy = (p / out_w) % out_h, ox = p % out_w;
      float* col = out.data() + j * k;
      for (int64_t c = 0; c < cg; ++c) {
        const float* plane = x + ((b * form_.in_channels) + grp * cg + c) * height * width;
        for (int64_t ky = 0; ky < kh; ++ky) {
          const int64_t iy = oy * sy - py + ky * dy;
          for (int64_t kx = 0; kx < kw; ++kx) {
            const int64_t ix = ox * sx - px + kx * dx;
            const bool inside = iy >= 0 && iy < height && ix >= 0 && ix < width;
            col[(c * kh + ky) * kw + kx] = inside ? plane[iy * width + ix] : 0.0f;
          }
        }
      }
    }
  };

  if (groups > 1) {
    // Depthwise and grouped: every group has its own sums, so groups run side by side.
    pool.parallel_for(groups, [&](int64_t begin, int64_t end) {
      ColumnMatrix a, b;
      for (int64_t grp = begin; grp < end; ++grp) {
        auto& partials = partial_[static_cast<size_t>(grp)];
        if (partials.empty()) partials.resize(1);
        for (int64_t p0 = 0; p0 < positions; p0 += kChunkColumns) {
          const int64_t n = std::min(kChunkColumns, positions - p0);
          gather(xq.data<float>(), grp, p0, n, a);
          if (xf) gather(xf->data<float>(), grp, p0, n, b);
          accumulate(partials[0], grp, a.data(), xf ? b.data() : nullptr, n);
        }
      }
    });
  } else {
    const int parts = static_cast<int>(std::min<int64_t>(pool.num_threads(), std::max<int64_t>(1, positions / 256)));
    auto& partials = partial_[0];
    if (static_cast<int>(partials.size()) < parts) partials.resize(static_cast<size_t>(parts));
    pool.parallel_for(parts, [&](int64_t begin, int64_t end) {
      ColumnMatrix a, b;
      for (int64_t part = begin; part < end; ++part) {
        const int64_t lo = positions * part / parts, hi = positions * (part + 1) / parts;
        for (int64_t p0 = lo; p0 < hi; p0 += kChunkColumns) {
          const int64_t n = std::min(kChunkColumns, hi - p0);
          gather(xq.data<float>(), 0, p0, n, a);
          if (xf) gather(xf->data<float>(), 0, p0, n, b);
          accumulate(partials[static_cast<size_t>(part)], 0, a.data(), xf ? b.data() : nullptr, n);
        }
      }
    });
  }
  samples_ += positions;
  return Status::ok();
}

}  // namespace qe
