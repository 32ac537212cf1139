#include "kernels/data/axis_map.h"

#include <algorithm>
#include <cstring>

#include "engine/core/thread_pool.h"
#include "kernels/data/copy.h"

namespace qe::kernels {

namespace {

bool is_identity(const std::vector<int64_t>& map, int64_t in_dim) {
  if (static_cast<int64_t>(map.size()) != in_dim) return false;
  for (size_t i = 0; i < map.size(); ++i) {
    if (map[i] != static_cast<int64_t>(i)) return false;
  }
  return true;
}

// Runs shorter than this are gathered element by element rather than given their own segment.
constexpr int64_t kMinRun = 4;

void build_segments(const std::vector<int64_t>& map, AxisMapPlan& p) {
  const int64_t n = static_cast<int64_t>(map.size());
  p.row_len = n;
  int64_t i = 0;
  auto push_gather = [&](int64_t at) {
    if (!p.segments.empty() && p.segments.back().kind == AxisMapSegment::kGather &&
        p.segments.back().dst + p.segments.back().len == at) {
      ++p.segments.back().len;
    } else {
      p.segments.push_back({AxisMapSegment::kGather, at, 1, static_cast<int64_t>(p.gather_map.size())});
    }
    p.gather_map.push_back(map[static_cast<size_t>(at)]);
  };
  while (i < n) {
    int64_t v = map[static_cast<size_t>(i)];
    int64_t j = i + 1;
    if (v < 0) {
      while (j < n && map[static_cast<size_t>(j)] < 0) ++j;
      p.segments.push_back({AxisMapSegment::kFill, i, j - i, 0});
      i = j;
      continue;
    }
    while (j < n && map[static_cast<size_t>(j)] == v + (j - i)) ++j;
    if (j - i >= kMinRun || j - i == n) {
      p.segments.push_back({AxisMapSegment::kCopy, i, j - i, v});
      i = j;
      continue;
    }
    j = i + 1;
    while (j < n && map[static_cast<size_t>(j)] == v) ++j;
    if (j - i >= kMinRun) {
      p.segments.push_back({AxisMapSegment::kRepeat, i, j - i, v});
      i = j;
      continue;
    }
    push_gather(i);
    ++i;
  }
}

template <typename T>
void gather_row(const char* src_row, char* dst, const int64_t* idx, int64_t n) {
  const T* s = reinterpret_cast<const T*>(src_row);
  T* d = reinterpret_cast<T*>(dst);
  for (int64_t k = 0; k < n; ++k) std::memcpy(d + k, s + idx[k], sizeof(T));
}

void gather_elements(const char* src_row, char* dst, const int64_t* idx, int64_t n, size_t elem) {
  switch (elem) {
    case 1: gather_row<uint8_t>(src_row, dst, idx, n); return;
    case 2: gather_row<uint16_t>(src_row, dst, idx, n); return;
    case 4: gather_row<uint32_t>(src_row, dst, idx, n); return;
    case 8: gather_row<uint64_t>(src_row, dst, idx, n); return;
    default:
      for (int64_t k = 0; k < n; ++k) std::memcpy(dst + static_cast<size_t>(k) * elem, src_row + static_cast<size_t>(idx[k]) * elem, elem);
  }
}

}  // namespace

AxisMapPlan plan_axis_map(const std::vector<int64_t>& in_dims, const std::vector<std::vector<int64_t>>& maps,
                          size_t elem) {
  AxisMapPlan p;
  p.elem = elem;
  const size_t rank = in_dims.size();
  std::vector<int64_t> in_strides(rank, 1);
  for (size_t i = rank; i-- > 1;) in_strides[i - 1] = in_strides[i] * in_dims[i];
  p.out_numel = 1;
  for (const auto& m : maps) p.out_numel *= static_cast<int64_t>(m.size());
  // Simplified dims: (map, stride). Identity dims merge with an identity neighbour when the
  // pair is contiguous in the source.
  std::vector<std::vector<int64_t>> m;
  std::vector<int64_t> strides, sizes;
  for (size_t d = 0; d < rank; ++d) {
    const auto& map = maps[d];
    if (map.size() == 1) {
      if (map[0] < 0) p.all_fill = true;
      else p.base += map[0] * in_strides[d];
      continue;
    }
    if (map.empty()) {
      p.out_numel = 0;
      return p;
    }
    bool ident = is_identity(map, in_dims[d]);
    if (ident && !m.empty() && sizes.back() >= 0 && strides.back() == in_strides[d] * in_dims[d]) {
      // Merge into the previous identity dim: sizes.back() >= 0 marks "identity".
      int64_t merged = sizes.back() * in_dims[d];
      m.back().resize(static_cast<size_t>(merged));
      for (int64_t i = 0; i < merged; ++i) m.back()[static_cast<size_t>(i)] = i;
      sizes.back() = merged;
      strides.back() = in_strides[d];
      continue;
    }
    m.push_back(map);
    strides.push_back(in_strides[d]);
    sizes.push_back(ident ? in_dims[d] : -1);
  }
  if (m.empty()) {
    m.push_back({0});
    strides.push_back(1);
  }
  for (size_t d = 0; d + 1 < m.size(); ++d) {
    p.outer_dims.push_back(static_cast<int64_t>(m[d].size()));
    std::vector<int64_t> off(m[d].size());
    for (size_t i = 0; i < off.size(); ++i) off[i] = m[d][i] < 0 ? -1 : m[d][i] * strides[d];
    p.outer_offsets.push_back(std::move(off));
  }
  // Segments index the source in elements; with a non-unit stride no two neighbours are
  // contiguous, so that dim becomes repeats and gathers.
  std::vector<int64_t> inner = m.back();
  const int64_t s = strides.back();
  if (s != 1) {
    for (auto& v : inner) v = v < 0 ? -1 : v * s;
  }
  build_segments(inner, p);
  return p;
}

void axis_map_copy(ThreadPool* pool, const AxisMapPlan& p, const void* src, void* dst, const void* fill) {
  if (p.out_numel == 0) return;
  const size_t elem = p.elem;
  char* d = static_cast<char*>(dst);
  if (p.all_fill) {
    fill_elements(dst, fill, elem, p.out_numel);
    return;
  }
  const char* s = static_cast<const char*>(src) + static_cast<size_t>(p.base) * elem;
  const int64_t rows = p.out_numel / p.row_len;
  const size_t row_bytes = static_cast<size_t>(p.row_len) * elem;
  auto body = [&](int64_t b, int64_t e) {
    int64_t prev_off = -1;  // source offset of the previous row in this range (nearest upsampling repeats rows)
    for (int64_t r = b; r < e; ++r) {
      char* drow = d + static_cast<size_t>(r) * row_bytes;
      int64_t off = 0;
      bool fill_row = false;
      int64_t lin = r;
      for (size_t k = p.outer_dims.size(); k-- > 0;) {
        int64_t q = lin / p.outer_dims[k];
        int64_t o = p.outer_offsets[k][static_cast<size_t>(lin - q * p.outer_dims[k])];
        lin = q;
        if (o < 0) {
          fill_row = true;
          break;
        }
        off += o;
      }
      if (fill_row) {
        fill_elements(drow, fill, elem, p.row_len);
        prev_off = -1;
        continue;
      }
      if (off == prev_off) {
        std::memcpy(drow, drow - row_bytes, row_bytes);
        continue;
      }
      prev_off = off;
      const char* srow = s + static_cast<size_t>(off) * elem;
      for (const AxisMapSegment& seg : p.segments) {
        char* out = drow + static_cast<size_t>(seg.dst) * elem;
        switch (seg.kind) {
          case AxisMapSegment::kCopy:
            std::memcpy(out, srow + static_cast<size_t>(seg.src) * elem, static_cast<size_t>(seg.len) * elem);
            break;
          case AxisMapSegment::kFill: fill_elements(out, fill, elem, seg.len); break;
          case AxisMapSegment::kRepeat:
            fill_elements(out, srow + static_cast<size_t>(seg.src) * elem, elem, seg.len);
            break;
          case AxisMapSegment::kGather:
            gather_elements(srow, out, p.gather_map.data() + seg.src, seg.len, elem);
            break;
        }
      }
    }
  };
  if (pool && static_cast<size_t>(p.out_numel) * elem >= kParallelCopyBytes) {
    pool->parallel_for(rows, body, copy_grain(row_bytes));
  } else {
    body(0, rows);
  }
}

void axis_map_copy_ref(const std::vector<int64_t>& in_dims, const std::vector<std::vector<int64_t>>& maps, size_t elem,
                       const void* src, void* dst, const void* fill) {
  const size_t rank = in_dims.size();
  int64_t n = 1;
  for (const auto& m : maps) n *= static_cast<int64_t>(m.size());
  std::vector<int64_t> idx(rank, 0);
  for (int64_t o = 0; o < n; ++o) {
    int64_t off = 0;
    bool filled = false;
    for (size_t k = 0; k < rank; ++k) {
      int64_t v = maps[k][static_cast<size_t>(idx[k])];
      if (v < 0) filled = true;
      off = off * in_dims[k] + (v < 0 ? 0 : v);
    }
    const void* from = filled ? fill : static_cast<const char*>(src) + static_cast<size_t>(off) * elem;
    std::memcpy(static_cast<char*>(dst) + static_cast<size_t>(o) * elem, from, elem);
    for (size_t k = rank; k-- > 0;) {
      if (++idx[k] < static_cast<int64_t>(maps[k].size())) break;
      idx[k] = 0;
    }
  }
}

}  // namespace qe::kernels
