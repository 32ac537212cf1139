// Partial values of integer shape tensors (see data_attrs.h): constants exactly, and torch's
// shape sub-graphs traced back to Shape(x) with symbols for the dims that are not known yet.
#include <algorithm>
#include <limits>

#include "graph/schemas/data_attrs.h"

namespace qe {

namespace {

constexpr int kMaxTraceDepth = 32;
// Partial values longer than this are not traced (shape tensors are short).
constexpr int64_t kMaxTracedLength = 64;

bool is_int_dtype(DType t) {
  switch (t) {
    case DType::kI64: case DType::kI32: case DType::kI16: case DType::kI8:
    case DType::kU64: case DType::kU32: case DType::kU16: case DType::kU8: case DType::kBool: return true;
    default: return false;
  }
}

using Partial = std::optional<std::vector<int64_t>>;

Partial trace(const Graph& g, ValueId v, int depth);

// The producer's input `i` traced, or nullopt.
Partial trace_input(const Graph& g, const Node& n, size_t i, int depth) {
  if (i >= n.inputs.size() || n.inputs[i] == kNoValue) return std::nullopt;
  return trace(g, n.inputs[i], depth + 1);
}

// Only fully known values are useful as parameters (axes, indices, steps).
bool fully_known(const std::vector<int64_t>& v) {
  return std::none_of(v.begin(), v.end(), [](int64_t x) { return is_unknown_value(x); });
}

int64_t get_int_or(const Attributes& a, const char* name, int64_t def) {
  auto v = a.get_int(name, def);
  return v.is_ok() ? *v : def;
}

// Elementwise op of partial values with numpy broadcasting of rank <= 1 operands.
Partial elementwise(OpKind op, const std::vector<const std::vector<int64_t>*>& in) {
  size_t n = 1;
  for (const auto* v : in) {
    if (v->size() != 1 && n != 1 && v->size() != n) return std::nullopt;
    if (v->size() != 1) n = v->size();
  }
  std::vector<int64_t> out(n);
  auto at = [&](size_t k, size_t i) { return in[k]->size() == 1 ? (*in[k])[0] : (*in[k])[i]; };
  for (size_t i = 0; i < n; ++i) {
    if (op == OpKind::kWhere) {
      int64_t c = at(0, i), x = at(1, i), y = at(2, i);
      out[i] = is_unknown_value(c) ? (x == y ? x : kUnknownValue) : (c != 0 ? x : y);
      continue;
    }
    int64_t a = at(0, i), b = at(1, i);
    bool ua = is_unknown_value(a), ub = is_unknown_value(b);
    if (op == OpKind::kEqual) {
      // Symbols are dims, never negative: torch's Where(Equal(shape, -1), 1, shape) resolves.
      if (!ua && !ub) out[i] = a == b;
      else if (ua && ub) out[i] = (a == b && a != kUnknownValue) ? 1 : kUnknownValue;
      else out[i] = ((ua ? b : a) < 0 && (ua ? a : b) != kUnknownValue) ? 0 : kUnknownValue;
      continue;
    }
    if (ua || ub) {
      // x * 1, x + 0, x - 0 and x / 1 keep a symbol.
      bool keep = (op == OpKind::kMul && ((ua && b == 1) || (ub && a == 1))) ||
                  (op == OpKind::kAdd && ((ua && b == 0) || (ub && a == 0))) ||
                  ((op == OpKind::kSub || op == OpKind::kDiv) && ua && b == (op == OpKind::kDiv ? 1 : 0));
      out[i] = keep ? (ua ? a : b) : kUnknownValue;
      continue;
    }
    switch (op) {
      case OpKind::kAdd: out[i] = a + b; break;
      case OpKind::kSub: out[i] = a - b; break;
      case OpKind::kMul: out[i] = a * b; break;
      case OpKind::kDiv: out[i] = b == 0 ? kUnknownValue : a / b; break;
      default: return std::nullopt;
    }
  }
  return out;
}

Partial trace(const Graph& g, ValueId id, int depth) {
  if (id == kNoValue || depth > kMaxTraceDepth) return std::nullopt;
  const Value& v = g.value(id);
  if (v.is_constant()) {
    if (!is_int_dtype(v.constant.dtype()) || v.constant.shape().rank() > 1) return std::nullopt;
    if (v.constant.numel() > kMaxTracedLength) return std::nullopt;
    std::vector<int64_t> out = v.constant.to_int64_vector();
    for (auto& x : out) {
      if (is_unknown_value(x)) x = std::numeric_limits<int64_t>::min();
    }
    return out;
  }
  auto unknown_of_known_length = [&]() -> Partial {
    if (v.shape_known && v.shape.rank() <= 1 && v.shape.is_known() && v.shape.numel() <= kMaxTracedLength) {
      return std::vector<int64_t>(static_cast<size_t>(v.shape.numel()), kUnknownValue);
    }
    return std::nullopt;
  };
  if (v.producer == kNoNode) return unknown_of_known_length();
  const Node& n = g.node(v.producer);
  if (!n.alive) return std::nullopt;
  Partial result;
  switch (n.op) {
    case OpKind::kShape: {
      const Value& x = g.value(n.inputs[0]);
      if (!x.shape_known) break;
      int64_t rank = static_cast<int64_t>(x.shape.rank());
      auto [b, e] = shape_op_range(get_int_or(n.attrs, "start", 0), get_int_or(n.attrs, "end", rank), rank);
      std::vector<int64_t> out;
      for (int64_t i = b; i < e; ++i) {
        int64_t d = x.shape[static_cast<size_t>(i)];
        out.push_back(d >= 0 ? d : dim_symbol(n.inputs[0], static_cast<size_t>(i)));
      }
      result = out;
      break;
    }
    case OpKind::kIdentity:
    case OpKind::kCast:
    case OpKind::kSqueeze:
    case OpKind::kUnsqueeze:
    case OpKind::kReshape:
    case OpKind::kFlatten:
      // Rank <= 1 in and out: these keep the elements in order.
      if (n.op == OpKind::kCast && !is_int_dtype(v.dtype)) break;
      if (v.shape_known && v.shape.rank() > 1) break;
      result = trace_input(g, n, 0, depth);
      break;
    case OpKind::kConcat: {
      std::vector<int64_t> out;
      bool ok = true;
      for (size_t i = 0; ok && i < n.inputs.size(); ++i) {
        auto part = trace_input(g, n, i, depth);
        if (!part) ok = false;
        else out.insert(out.end(), part->begin(), part->end());
      }
      if (ok) result = out;
      break;
    }
    case OpKind::kGather: {
      auto data = trace_input(g, n, 0, depth);
      auto idx = trace_input(g, n, 1, depth);
      if (!data || !idx || !fully_known(*idx)) break;
      const Value& iv = g.value(n.inputs[1]);
      if (!iv.shape_known || iv.shape.rank() > 1) break;
      int64_t len = static_cast<int64_t>(data->size());
      std::vector<int64_t> out;
      bool ok = true;
      for (int64_t i : *idx) {
        if (i < 0) i += len;
        if (i < 0 || i >= len) { ok = false; break; }
        out.push_back((*data)[static_cast<size_t>(i)]);
      }
      if (ok) result = out;
      break;
    }
    case OpKind::kSlice: {
      auto data = trace_input(g, n, 0, depth);
      auto starts = trace_input(g, n, 1, depth);
      auto ends = trace_input(g, n, 2, depth);
      if (!data || !starts || !ends || !fully_known(*starts) || !fully_known(*ends)) break;
      Partial axes, steps;
      if (n.inputs.size() > 3 && n.inputs[3] != kNoValue) {
        axes = trace_input(g, n, 3, depth);
        if (!axes || !fully_known(*axes)) break;
      }
      if (n.inputs.size() > 4 && n.inputs[4] != kNoValue) {
        steps = trace_input(g, n, 4, depth);
        if (!steps || !fully_known(*steps)) break;
      }
      auto p = resolve_slice(Shape{static_cast<int64_t>(data->size())}, *starts, *ends, axes ? &*axes : nullptr,
                             steps ? &*steps : nullptr);
      if (!p.is_ok()) break;
      std::vector<int64_t> out;
      for (int64_t k = 0; k < p->length[0]; ++k) out.push_back((*data)[static_cast<size_t>(p->start[0] + k * p->step[0])]);
      result = out;
      break;
    }
    case OpKind::kEqual:
    case OpKind::kWhere:
    case OpKind::kAdd:
    case OpKind::kSub:
    case OpKind::kMul:
    case OpKind::kDiv: {
      std::vector<std::vector<int64_t>> parts;
      bool ok = true;
      for (size_t i = 0; ok && i < n.inputs.size(); ++i) {
        auto part = trace_input(g, n, i, depth);
        if (!part) ok = false;
        else parts.push_back(std::move(*part));
      }
      if (!ok || parts.size() != (n.op == OpKind::kWhere ? 3u : 2u)) break;
      std::vector<const std::vector<int64_t>*> ptrs;
      for (const auto& p : parts) ptrs.push_back(&p);
      result = elementwise(n.op, ptrs);
      break;
    }
    case OpKind::kConstantOfShape: {
      auto shape = trace_input(g, n, 0, depth);
      if (!shape || shape->size() != 1 || is_unknown_value((*shape)[0]) || (*shape)[0] > kMaxTracedLength) break;
      int64_t fill = 0;
      if (n.attrs.has("value")) {
        auto t = n.attrs.get_tensor("value");
        if (!t.is_ok() || !is_int_dtype(t->dtype()) || t->numel() != 1) break;
        fill = t->to_int64_vector()[0];
      } else {
        break;  // the default fill is float 0
      }
      result = std::vector<int64_t>(static_cast<size_t>((*shape)[0]), fill);
      break;
    }
    default: break;
  }
  // Any other producer, or one that could not be traced: the length alone, when known.
  return result ? result : unknown_of_known_length();
}

}  // namespace

std::optional<std::vector<int64_t>> partial_int_value(const Graph& g, ValueId v) { return trace(g, v, 0); }

}  // namespace qe
