// The HAWQ-V3 integer program on GLPK. Every input is validated before GLPK sees it, because
// GLPK aborts the process on misuse rather than returning an error.
#include "quant/mixed/bit_allocation.h"

#include <glpk.h>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cmath>
#include <limits>
#include <iomanip>
#include <memory>
#include <sstream>

namespace qe {

namespace bit_allocation_detail {

namespace {

const char* const kBudgetNames[] = {"model size", "BOPS", "latency"};

// Ten significant digits: enough to show why a total just over a limit breaks it.
std::string number(double v) {
  std::ostringstream os;
  os << std::setprecision(10) << v;
  return os.str();
}

Status check_budget(const std::optional<Budget>& b, const char* what) {
  if (!b) return Status::ok();
  if (b->ratio.has_value() == b->absolute.has_value()) {
    return invalid_argument(what, " budget: set exactly one of a ratio and an absolute limit");
  }
  if (b->ratio && !(std::isfinite(*b->ratio) && *b->ratio >= 0 && *b->ratio <= 1)) {
    return invalid_argument(what, " budget: ratio ", *b->ratio, " is not in [0, 1]");
  }
  if (b->absolute && !(std::isfinite(*b->absolute) && *b->absolute >= 0)) {
    return invalid_argument(what, " budget: absolute limit ", *b->absolute, " is not a finite value >= 0");
  }
  return Status::ok();
}

Status check_layer(const std::string& name, const LayerOptionCosts& c) {
  const size_t n = c.bits.size();
  if (n == 0) return invalid_argument("layer '", name, "': no bit choices");
  if (c.sensitivity.size() != n || c.size_bytes.size() != n || c.bops.size() != n || c.latency.size() != n) {
    return invalid_argument("layer '", name, "': ", n, " bit choices but ", c.sensitivity.size(), " sensitivities, ",
                            c.size_bytes.size(), " sizes, ", c.bops.size(), " BOPS and ", c.latency.size(),
                            " latencies");
  }
  for (size_t k = 0; k < n; ++k) {
    if (c.bits[k] <= 0 || (k > 0 && c.bits[k] <= c.bits[k - 1])) {
      return invalid_argument("layer '", name, "': bit choices must be positive and strictly ascending");
    }
    if (!std::isfinite(c.sensitivity[k])) return invalid_argument("layer '", name, "': sensitivity is not finite");
    for (double v : {c.size_bytes[k], c.bops[k], c.latency[k]}) {
      if (!(std::isfinite(v) && v >= 0)) {
        return invalid_argument("layer '", name, "': size, BOPS and latency must be finite and >= 0 (got ", v, ")");
      }
    }
  }
  return Status::ok();
}

int choice_index(const LayerOptionCosts& c, int bits) {
  auto it = std::find(c.bits.begin(), c.bits.end(), bits);
  return it == c.bits.end() ? -1 : static_cast<int>(it - c.bits.begin());
}

}  // namespace

Result<Units> make_units(const AllocationProblem& p) {
  const size_t n = p.layers.size();
  if (p.names.size() != n) return invalid_argument("bit allocation: ", n, " layers but ", p.names.size(), " names");
  for (size_t i = 0; i < n; ++i) QE_RETURN_IF_ERROR(check_layer(p.names[i], p.layers[i]));
  QE_RETURN_IF_ERROR(check_budget(p.size, kBudgetNames[0]));
  QE_RETURN_IF_ERROR(check_budget(p.bops, kBudgetNames[1]));
  QE_RETURN_IF_ERROR(check_budget(p.latency, kBudgetNames[2]));

  Units u;
  constexpr size_t kNone = std::numeric_limits<size_t>::max();
  u.unit_of_layer.assign(n, kNone);
  for (const auto& group : p.ties) {
    if (group.empty()) return invalid_argument("bit allocation: empty tie group");
    Unit unit;
    for (size_t i : group) {
      if (i >= n) return invalid_argument("bit allocation: tie group names layer ", i, " of ", n);
      if (u.unit_of_layer[i] != kNone) return invalid_argument("layer '", p.names[i], "' is in two tie groups");
      if (p.layers[i].bits != p.layers[group[0]].bits) {
        return invalid_argument("tied layers '", p.names[group[0]], "' and '", p.names[i],
                                "' offer different bit choices");
      }
      u.unit_of_layer[i] = u.units.size();
      unit.layers.push_back(i);
    }
    u.units.push_back(std::move(unit));
  }
  for (size_t i = 0; i < n; ++i) {
    if (u.unit_of_layer[i] != kNone) continue;
    u.unit_of_layer[i] = u.units.size();
    u.units.push_back(Unit{{i}, -1});
  }
  for (const auto& [i, bits] : p.pinned_bits) {
    if (i >= n) return invalid_argument("bit allocation: pin on layer ", i, " of ", n);
    const int c = choice_index(p.layers[i], bits);
    if (c < 0) return invalid_argument("layer '", p.names[i], "' is pinned at ", bits, " bits, not one of its choices");
    Unit& unit = u.units[u.unit_of_layer[i]];
    if (unit.pinned_choice >= 0 && unit.pinned_choice != c) {
      return invalid_argument("tied layers are pinned at different bits (layer '", p.names[i], "' at ", bits, ")");
    }
    unit.pinned_choice = c;
  }
  return u;
}

std::string budget_violations(const Allocation& a, const BudgetLimits& limits) {
  std::string out;
  auto check = [&](const std::optional<double>& limit, double value, const char* what) {
    if (!limit || value <= *limit) return;
    out += str_cat(out.empty() ? "" : "; ", what, " ", number(value), " > ", number(*limit));
  };
  check(limits.size, a.size_bytes, kBudgetNames[0]);
  check(limits.bops, a.bops, kBudgetNames[1]);
  check(limits.latency, a.latency, kBudgetNames[2]);
  return out;
}

}  // namespace bit_allocation_detail

using namespace bit_allocation_detail;

namespace {

// The three budgets side by side, so the solver can loop over them.
struct BudgetRow {
  const char* name;
  std::optional<double> limit;
  double Allocation::*total;
  std::vector<double> LayerOptionCosts::*cost;
};

std::vector<BudgetRow> budget_rows(const BudgetLimits& l) {
  return {{"model size", l.size, &Allocation::size_bytes, &LayerOptionCosts::size_bytes},
          {"BOPS", l.bops, &Allocation::bops, &LayerOptionCosts::bops},
          {"latency", l.latency, &Allocation::latency, &LayerOptionCosts::latency}};
}

double resolve(const std::optional<Budget>& b, double all_low, double all_high) {
  if (b->absolute) return *b->absolute;
  const double r = *b->ratio;
  // Exact at both ends: r = 0 gives all-low and r = 1 all-high bit for bit.
  return (1 - r) * all_low + r * all_high;
}

// Cost of choice c of unit k under cost vector `cost` (summed over the tied layers).
double unit_cost(const AllocationProblem& p, const Unit& unit, std::vector<double> LayerOptionCosts::*cost, size_t c) {
  double s = 0;
  for (size_t i : unit.layers) s += (p.layers[i].*cost)[c];
  return s;
}

size_t num_choices(const AllocationProblem& p, const Unit& unit) { return p.layers[unit.layers[0]].bits.size(); }

// Bits with every free unit at its cheapest (or dearest) choice under one cost. For size and
// BOPS that is the lowest (highest) width; a measured latency need not fall with the width
// (int4 convolutions run on the int8 kernels), so the extremes are taken per unit.
std::vector<int> extreme_bits(const AllocationProblem& p, const Units& u, std::vector<double> LayerOptionCosts::*cost,
                              bool cheapest) {
  return bits_for(p, u, [&](size_t k) {
    const Unit& unit = u.units[k];
    size_t best = 0;
    for (size_t c = 1; c < num_choices(p, unit); ++c) {
      const double a = unit_cost(p, unit, cost, c), b = unit_cost(p, unit, cost, best);
      if (cheapest ? a < b : a > b) best = c;
    }
    return static_cast<int>(best);
  });
}

BudgetLimits resolve_with_units(const AllocationProblem& p, const Units& u) {
  auto limit = [&](const std::optional<Budget>& b, std::vector<double> LayerOptionCosts::*cost,
                   double Allocation::*total) -> std::optional<double> {
    if (!b) return std::nullopt;
    const double low = evaluate_allocation(p, extreme_bits(p, u, cost, true)).*total;
    const double high = evaluate_allocation(p, extreme_bits(p, u, cost, false)).*total;
    return resolve(b, low, high);
  };
  BudgetLimits l;
  l.size = limit(p.size, &LayerOptionCosts::size_bytes, &Allocation::size_bytes);
  l.bops = limit(p.bops, &LayerOptionCosts::bops, &Allocation::bops);
  l.latency = limit(p.latency, &LayerOptionCosts::latency, &Allocation::latency);
  return l;
}

// Each budget alone: its smallest reachable total, every free unit at its cheapest choice for
// that budget. Summed through evaluate_allocation so the comparison matches the final check.
Status check_each_budget_reachable(const AllocationProblem& p, const Units& u, const BudgetLimits& limits) {
  for (const BudgetRow& row : budget_rows(limits)) {
    if (!row.limit) continue;
    const std::vector<int> cheapest = extreme_bits(p, u, row.cost, true);
    const double smallest = evaluate_allocation(p, cheapest).*row.total;
    if (smallest > *row.limit) {
      return invalid_argument(row.name, " budget ", number(*row.limit), " cannot be met: the smallest achievable ",
                              row.name, " is ", number(smallest),
                              " (every free layer at its cheapest choice, pinned layers at their pins)");
    }
  }
  return Status::ok();
}

struct GlpkProblemDeleter {
  void operator()(glp_prob* lp) const { glp_delete_prob(lp); }
};

// GLPK prints to the terminal unless told not to; restore whatever the caller had.
class QuietGlpk {
 public:
  QuietGlpk() : previous_(glp_term_out(GLP_OFF)) {}
  ~QuietGlpk() { glp_term_out(previous_); }
  QuietGlpk(const QuietGlpk&) = delete;
  QuietGlpk& operator=(const QuietGlpk&) = delete;

 private:
  int previous_;
};

constexpr int kTimeLimitMs = 60 * 1000;  // a safety net: ResNet-sized problems take milliseconds
constexpr int kMaxRoundingCuts = 64;

// x_{k,c} for the free units; columns numbered from 1 as GLPK wants.
struct Columns {
  std::vector<size_t> free_units;
  std::vector<int> first_column;  // per free unit
  int count = 0;
};

// Builds the integer program. Rows and objective are shifted by each unit's cheapest choice and
// scaled to O(1), so GLPK's absolute tolerances act on the part of a budget the choices move.
std::unique_ptr<glp_prob, GlpkProblemDeleter> build_program(const AllocationProblem& p, const Units& u,
                                                            const BudgetLimits& limits, Columns& cols) {
  std::unique_ptr<glp_prob, GlpkProblemDeleter> lp(glp_create_prob());
  glp_set_obj_dir(lp.get(), GLP_MIN);
  for (size_t k = 0; k < u.units.size(); ++k) {
    if (u.units[k].pinned_choice >= 0) continue;
    cols.free_units.push_back(k);
    cols.first_column.push_back(cols.count + 1);
    cols.count += static_cast<int>(num_choices(p, u.units[k]));
  }
  glp_add_cols(lp.get(), cols.count);
  for (int j = 1; j <= cols.count; ++j) glp_set_col_kind(lp.get(), j, GLP_BV);

  std::vector<int> ia{0}, ja{0};
  std::vector<double> ar{0};
  // Objective: Σ sensitivity, shifted per unit (a constant) and scaled by the largest spread.
  double spread = 0;
  for (size_t f = 0; f < cols.free_units.size(); ++f) {
    const Unit& unit = u.units[cols.free_units[f]];
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (size_t c = 0; c < num_choices(p, unit); ++c) {
      lo = std::min(lo, unit_cost(p, unit, &LayerOptionCosts::sensitivity, c));
      hi = std::max(hi, unit_cost(p, unit, &LayerOptionCosts::sensitivity, c));
    }
    spread = std::max(spread, hi - lo);
  }
  const double obj_scale = spread > 0 ? 1 / spread : 1;
  for (size_t f = 0; f < cols.free_units.size(); ++f) {
    const Unit& unit = u.units[cols.free_units[f]];
    double lo = std::numeric_limits<double>::infinity();
    for (size_t c = 0; c < num_choices(p, unit); ++c) {
      lo = std::min(lo, unit_cost(p, unit, &LayerOptionCosts::sensitivity, c));
    }
    for (size_t c = 0; c < num_choices(p, unit); ++c) {
      const double s = unit_cost(p, unit, &LayerOptionCosts::sensitivity, c);
      glp_set_obj_coef(lp.get(), cols.first_column[f] + static_cast<int>(c), (s - lo) * obj_scale);
    }
    // One choice per unit.
    const int row = glp_add_rows(lp.get(), 1);
    glp_set_row_bnds(lp.get(), row, GLP_FX, 1, 1);
    for (size_t c = 0; c < num_choices(p, unit); ++c) {
      ia.push_back(row);
      ja.push_back(cols.first_column[f] + static_cast<int>(c));
      ar.push_back(1);
    }
  }
  for (const BudgetRow& budget : budget_rows(limits)) {
    if (!budget.limit) continue;
    double slack = *budget.limit, row_spread = 0;
    std::vector<std::vector<double>> shifted(cols.free_units.size());
    for (size_t k = 0; k < u.units.size(); ++k) {
      const Unit& unit = u.units[k];
      if (unit.pinned_choice >= 0) slack -= unit_cost(p, unit, budget.cost, static_cast<size_t>(unit.pinned_choice));
    }
    for (size_t f = 0; f < cols.free_units.size(); ++f) {
      const Unit& unit = u.units[cols.free_units[f]];
      double lo = std::numeric_limits<double>::infinity();
      for (size_t c = 0; c < num_choices(p, unit); ++c) lo = std::min(lo, unit_cost(p, unit, budget.cost, c));
      slack -= lo;
      for (size_t c = 0; c < num_choices(p, unit); ++c) {
        shifted[f].push_back(unit_cost(p, unit, budget.cost, c) - lo);
        row_spread = std::max(row_spread, shifted[f].back());
      }
    }
    const double scale = std::max(row_spread, std::abs(slack)) > 0 ? 1 / std::max(row_spread, std::abs(slack)) : 1;
    const int row = glp_add_rows(lp.get(), 1);
    glp_set_row_bnds(lp.get(), row, GLP_UP, 0, slack * scale);
    for (size_t f = 0; f < cols.free_units.size(); ++f) {
      for (size_t c = 0; c < shifted[f].size(); ++c) {
        if (shifted[f][c] == 0) continue;
        ia.push_back(row);
        ja.push_back(cols.first_column[f] + static_cast<int>(c));
        ar.push_back(shifted[f][c] * scale);
      }
    }
  }
  glp_load_matrix(lp.get(), static_cast<int>(ia.size()) - 1, ia.data(), ja.data(), ar.data());
  return lp;
}

std::string describe_limits(const BudgetLimits& limits) {
  std::string s;
  for (const BudgetRow& row : budget_rows(limits)) {
    if (row.limit) s += str_cat(s.empty() ? "" : ", ", row.name, " <= ", number(*row.limit));
  }
  return s;
}

// Runs GLPK's branch and bound; the chosen choice index per free unit.
Result<std::vector<int>> run_intopt(glp_prob* lp, const Columns& cols, const AllocationProblem& p, const Units& u,
                                    const BudgetLimits& limits, int time_limit_ms) {
  glp_iocp parm;
  glp_init_iocp(&parm);
  parm.msg_lev = GLP_MSG_OFF;
  parm.presolve = GLP_ON;
  parm.tm_lim = std::max(time_limit_ms, 1);
  parm.tol_obj = 1e-10;  // prune only nodes that are really no better (default 1e-7 relative)
  parm.mip_gap = 0;
  const int ret = glp_intopt(lp, &parm);
  if (ret == GLP_ETMLIM) {
    return out_of_range("bit allocation: GLPK found no proven optimum within ", kTimeLimitMs / 1000, " s");
  }
  const int status = ret == 0 ? glp_mip_status(lp) : GLP_UNDEF;
  if (ret == GLP_ENOPFS || status == GLP_NOFEAS) {
    return invalid_argument("the budgets cannot all be met together (", describe_limits(limits),
                            "), though each alone can");
  }
  if (ret != 0 || status != GLP_OPT) {
    return internal_error("bit allocation: GLPK failed (glp_intopt returned ", ret, ", MIP status ", status, ")");
  }
  std::vector<int> choice(cols.free_units.size(), -1);
  for (size_t f = 0; f < cols.free_units.size(); ++f) {
    const size_t n = num_choices(p, u.units[cols.free_units[f]]);
    for (size_t c = 0; c < n; ++c) {
      if (glp_mip_col_val(lp, cols.first_column[f] + static_cast<int>(c)) > 0.5) choice[f] = static_cast<int>(c);
    }
    if (choice[f] < 0) return internal_error("bit allocation: GLPK's solution gives a layer no choice");
  }
  return choice;
}

}  // namespace

Result<BudgetLimits> resolve_budgets(const AllocationProblem& p) {
  QE_ASSIGN_OR_RETURN(const Units u, make_units(p));
  return resolve_with_units(p, u);
}

Allocation evaluate_allocation(const AllocationProblem& p, const std::vector<int>& bits) {
  assert(bits.size() == p.layers.size());
  Allocation a;
  a.bits = bits;
  auto poisoned = [&] {  // rather than read past the costs
    a.sensitivity = a.size_bytes = a.bops = a.latency = std::numeric_limits<double>::quiet_NaN();
    return a;
  };
  if (bits.size() != p.layers.size()) return poisoned();
  for (size_t i = 0; i < p.layers.size(); ++i) {
    const LayerOptionCosts& c = p.layers[i];
    const auto it = std::find(c.bits.begin(), c.bits.end(), bits[i]);
    assert(it != c.bits.end() && "evaluate_allocation: bits not among the layer's choices");
    if (it == c.bits.end()) return poisoned();
    const size_t k = static_cast<size_t>(it - c.bits.begin());
    a.sensitivity += c.sensitivity[k];
    a.size_bytes += c.size_bytes[k];
    a.bops += c.bops[k];
    a.latency += c.latency[k];
  }
  return a;
}

Result<Allocation> solve_bit_allocation(const AllocationProblem& p) {
  const auto start = std::chrono::steady_clock::now();
  QE_ASSIGN_OR_RETURN(const Units u, make_units(p));
  const BudgetLimits limits = resolve_with_units(p, u);
  QE_RETURN_IF_ERROR(check_each_budget_reachable(p, u, limits));

  QuietGlpk quiet;
  Columns cols;
  std::unique_ptr<glp_prob, GlpkProblemDeleter> lp;
  // GLPK aborts on a program without columns: with every unit pinned there is nothing to solve.
  const bool any_free =
      std::any_of(u.units.begin(), u.units.end(), [](const Unit& unit) { return unit.pinned_choice < 0; });
  if (any_free) lp = build_program(p, u, limits, cols);
  std::vector<int> unit_choice(u.units.size(), 0);
  for (int attempt = 0;; ++attempt) {
    if (cols.count > 0) {
      const auto elapsed_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
      QE_ASSIGN_OR_RETURN(const std::vector<int> choice,
                          run_intopt(lp.get(), cols, p, u, limits, kTimeLimitMs - static_cast<int>(elapsed_ms)));
      for (size_t f = 0; f < cols.free_units.size(); ++f) unit_choice[cols.free_units[f]] = choice[f];
    }
    Allocation a = evaluate_allocation(p, bits_for(p, u, [&](size_t k) { return unit_choice[k]; }));
    const std::string broken = budget_violations(a, limits);
    if (broken.empty()) {
      a.limits = limits;
      a.solve_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      return a;
    }
    if (cols.count == 0) return invalid_argument("the pinned layers alone break the budgets: ", broken);
    if (attempt == kMaxRoundingCuts) {
      return internal_error("bit allocation: GLPK's solutions keep breaking budgets by rounding: ", broken);
    }
    // GLPK accepted a solution within its feasibility tolerance that breaks a budget when summed
    // exactly in double. Cut off exactly that assignment (Σ of its chosen x ≤ units − 1) and
    // solve again; nothing that truly fits is lost.
    const int row = glp_add_rows(lp.get(), 1);
    glp_set_row_bnds(lp.get(), row, GLP_UP, 0, static_cast<double>(cols.free_units.size()) - 1);
    std::vector<int> ind{0};
    std::vector<double> val{0};
    for (size_t f = 0; f < cols.free_units.size(); ++f) {
      ind.push_back(cols.first_column[f] + unit_choice[cols.free_units[f]]);
      val.push_back(1);
    }
    glp_set_mat_row(lp.get(), row, static_cast<int>(ind.size()) - 1, ind.data(), val.data());
  }
}

}  // namespace qe
