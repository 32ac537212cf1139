#include "kernels/quant/quant_layout.h"

#include <algorithm>
#include <string>
#include <utility>

#include "kernels/elementwise/parallel.h"

namespace qe::kernels {

namespace {

std::string dims_string(std::span<const int64_t> d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(d[i]);
  }
  s += ']';
  return s;
}

}  // namespace

int64_t QuantLayout::num_blocks() const {
  int64_t n = 1;
  for (int64_t d : lead_dims) n *= d;
  return n;
}

int64_t QuantLayout::param_offset(int64_t block) const {
  int64_t off = 0;
  for (size_t k = lead_dims.size(); k-- > 0;) {
    const int64_t idx = block % lead_dims[k];
    block /= lead_dims[k];
    off += (idx / lead_divs[k]) * lead_strides[k];
  }
  return off;
}

Result<QuantLayout> broadcast_layout(std::span<const int64_t> x, std::span<const int64_t> param) {
  const size_t r = x.size();
  // Leading parameter dims beyond x's rank may only be 1 (a [1,1,1,1] per-tensor scale on a
  // rank-2 tensor is common in exported models and harmless).
  const size_t extra = param.size() > r ? param.size() - r : 0;
  for (size_t k = 0; k < extra; ++k) {
    if (param[k] != 1) {
      return invalid_argument("parameter shape ", dims_string(param), " has more dimensions than the input shape ",
                              dims_string(x));
    }
  }
  std::vector<int64_t> p(r, 1);
  for (size_t k = extra; k < param.size(); ++k) p[r - (param.size() - k)] = param[k];
  for (size_t k = 0; k < r; ++k) {
    if (p[k] != 1 && p[k] != x[k]) {
      return invalid_argument("parameter shape ", dims_string(param), " does not broadcast against the input shape ",
                              dims_string(x), " (dim ", k, " is ", p[k], ", expected 1 or ", x[k], ")");
    }
  }
  QuantLayout l;
  for (int64_t d : x) {
    if (d == 0) {
      l.outer = 0;
      return l;
    }
  }
  // Merge adjacent dims of the same kind (parameter varies along it, or is broadcast); dims of
  // size 1 belong to neither.
  std::vector<std::pair<int64_t, bool>> m;
  for (size_t k = 0; k < r; ++k) {
    if (x[k] == 1) continue;
    const bool varies = p[k] == x[k];
    if (!m.empty() && m.back().second == varies) {
      m.back().first *= x[k];
    } else {
      m.emplace_back(x[k], varies);
    }
  }
  int n_vary = 0;
  int last_vary = -1;
  for (size_t j = 0; j < m.size(); ++j) {
    if (m[j].second) {
      ++n_vary;
      last_vary = static_cast<int>(j);
    }
  }
  if (n_vary == 0) {
    for (const auto& [n, v] : m) l.inner *= n;
    return l;
  }
  const size_t j = static_cast<size_t>(last_vary);
  l.channels = m[j].first;
  if (j + 1 < m.size()) l.inner = m[j + 1].first;
  size_t lead_end = j;
  if (j > 0 && !m[j - 1].second) {
    l.outer = m[j - 1].first;
    lead_end = j - 1;
  }
  if (n_vary == 1) return l;  // everything before is broadcast: already folded into outer
  for (size_t k = 0; k < lead_end; ++k) {
    int64_t stride = 0;
    if (m[k].second) {
      stride = 1;
      for (size_t t = k + 1; t < m.size(); ++t) {
        if (m[t].second) stride *= m[t].first;
      }
    }
    l.lead_dims.push_back(m[k].first);
    l.lead_strides.push_back(stride);
    l.lead_divs.push_back(1);
  }
  return l;
}

Result<QuantLayout> blocked_layout(std::span<const int64_t> x, int64_t axis, int64_t block_size) {
  const int64_t r = static_cast<int64_t>(x.size());
  if (axis < 0 || axis >= r) return invalid_argument("axis ", axis, " is out of range for rank ", r);
  if (block_size <= 0) return invalid_argument("block_size ", block_size, " must be positive");
  const int64_t d = x[static_cast<size_t>(axis)];
  const int64_t blocks = (d + block_size - 1) / block_size;
  std::vector<int64_t> xs, ps;
  if (d % block_size == 0) {
    // Whole blocks: the axis splits into [blocks, block_size] and the parameters broadcast
    // over the second half, an ordinary broadcast.
    for (int64_t k = 0; k < r; ++k) {
      if (k == axis) {
        xs.insert(xs.end(), {blocks, block_size});
        ps.insert(ps.end(), {blocks, 1});
      } else {
        xs.push_back(x[static_cast<size_t>(k)]);
        ps.push_back(x[static_cast<size_t>(k)]);
      }
    }
    return broadcast_layout(xs, ps);
  }
  // A partial last block: walk the leading dims and the axis one position at a time.
  QuantLayout l;
  int64_t post = 1;
  for (int64_t k = axis + 1; k < r; ++k) post *= x[static_cast<size_t>(k)];
  l.channels = post;
  int64_t stride = post * blocks;
  l.lead_dims.assign(static_cast<size_t>(axis + 1), 0);
  l.lead_strides.assign(static_cast<size_t>(axis + 1), 0);
  l.lead_divs.assign(static_cast<size_t>(axis + 1), 1);
  l.lead_dims[static_cast<size_t>(axis)] = d;
  l.lead_strides[static_cast<size_t>(axis)] = post;
  l.lead_divs[static_cast<size_t>(axis)] = block_size;
  for (int64_t k = axis - 1; k >= 0; --k) {
    l.lead_dims[static_cast<size_t>(k)] = x[static_cast<size_t>(k)];
    l.lead_strides[static_cast<size_t>(k)] = stride;
    stride *= x[static_cast<size_t>(k)];
  }
  return l;
}

void for_each_piece(const QuantLayout& l, int64_t begin, int64_t end, FnRef<void(const QuantPiece&)> fn) {
  const int64_t bn = l.block_numel();
  if (bn <= 0) return;
  const int64_t row = l.channels * l.inner;  // one outer slice
  int64_t pos = begin;
  while (pos < end) {
    const int64_t block = pos / bn;
    const int64_t base = block * bn;
    const int64_t poff = l.param_offset(block);
    const int64_t stop = std::min(end - base, bn);
    int64_t local = pos - base;
    while (local < stop) {
      const int64_t left = stop - local;
      const int64_t r = local % row;
      QuantPiece p;
      p.x_offset = base + local;
      if (r == 0 && left >= row) {  // whole outer slices
        p.param_offset = poff;
        p.outer = left / row;
        p.channels = l.channels;
        p.inner = l.inner;
      } else {
        const int64_t c = r / l.inner;
        const int64_t i = r % l.inner;
        p.param_offset = poff + c;
        if (i == 0 && left >= l.inner) {  // whole channel rows
          p.channels = std::min(left / l.inner, l.channels - c);
          p.inner = l.inner;
        } else {  // part of one channel row
          p.inner = std::min(l.inner - i, left);
        }
      }
      fn(p);
      local += p.numel();
    }
    pos = base + stop;
  }
}

void parallel_pieces(ThreadPool* pool, const QuantLayout& l, int64_t grain, FnRef<void(const QuantPiece&)> fn) {
  parallel_ranges(pool, l.numel(), grain, [&](int64_t b, int64_t e) { for_each_piece(l, b, e, fn); });
}

}  // namespace qe::kernels
