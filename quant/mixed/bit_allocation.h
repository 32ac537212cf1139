// HAWQ-V3 bit allocation (Yao et al. 2021, "HAWQ-V3: Dyadic Neural Network Quantization",
// arXiv 2011.10680): one bit choice per layer minimising the summed sensitivity Σ_i Ω_i(b_i)
// under any combination of model-size, BOPS and latency budgets, solved exactly as an integer
// program with binary x_{i,c} (layer i takes choice c), Σ_c x_{i,c} = 1, with GLPK as HAWQ did.
// Tied layers share one choice; pinned layers keep theirs. A budget is absolute, or HAWQ's
// ratio r: all-low + r × (all-high − all-low), all-low / all-high being every free layer at its
// lowest / highest choice and pinned layers at their pins. (For a cost that does not grow with
// the width, such as a measured latency where int4 runs on the int8 kernels, all-low / all-high
// are every free layer at its cheapest / dearest choice for that cost.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/core/status.h"

namespace qe {

// One entry per choice, choices in strictly ascending bits.
struct LayerOptionCosts {
  std::vector<int> bits;
  std::vector<double> sensitivity, size_bytes, bops, latency;
};

struct Budget {  // exactly one set
  std::optional<double> ratio;     // in [0, 1]
  std::optional<double> absolute;  // >= 0, in the budget's unit (bytes, BOPs, latency units)
};

struct AllocationProblem {
  std::vector<std::string> names;  // one per layer, for messages
  std::vector<LayerOptionCosts> layers;
  std::vector<std::vector<size_t>> ties;  // each group shares one choice; a layer in at most one group
  std::map<size_t, int> pinned_bits;      // layer → bits (pins a layer's whole tie group)
  std::optional<Budget> size, bops, latency;
};

struct BudgetLimits {  // resolved absolute limits
  std::optional<double> size, bops, latency;
};

struct Allocation {
  std::vector<int> bits;  // per layer
  double sensitivity = 0, size_bytes = 0, bops = 0, latency = 0;
  double solve_seconds = 0;
  BudgetLimits limits;  // the limits the allocation was made under (empty from evaluate_allocation)
};

// Ratios → absolute limits. Also validates the problem (sizes, finite costs, ascending bits,
// ties, pins), as every function below does first. Does not check feasibility.
Result<BudgetLimits> resolve_budgets(const AllocationProblem& p);

// The exact optimum. Every budget holds when the totals are summed in double in layer order
// (as evaluate_allocation does). Errors: an invalid problem; a budget below the smallest value
// it can take (the message states that value); budgets that cannot hold together.
Result<Allocation> solve_bit_allocation(const AllocationProblem& p);

// Totals of `bits` (one per layer, each one of the layer's choices: a precondition, asserted;
// in release builds a wrong count or a bit count that is no choice makes every total NaN, which breaks every
// budget). Sums run over layers in order; budgets are checked against these sums.
Allocation evaluate_allocation(const AllocationProblem& p, const std::vector<int>& bits);

// A random allocation under the same budgets, the baseline the ILP should beat: from all-low
// (each free tie group at the choice with the smallest sum of its costs relative to the limits,
// which is the lowest width when costs grow with the width), raise tie groups in random order
// to random higher choices while every budget still holds, sweeping until no group can be
// raised, so it uses about as much budget as the ILP. When neither start meets the budgets, the
// integer program with random costs gives one. Pins and ties are respected; the same seed gives
// the same allocation. Fails only when no allocation meets the budgets.
Result<Allocation> random_allocation(const AllocationProblem& p, uint64_t seed);

namespace bit_allocation_detail {

// The problem regrouped into units that each take one choice: a tie group or an untied layer.
struct Unit {
  std::vector<size_t> layers;
  int pinned_choice = -1;  // choice index when pinned
};
struct Units {
  std::vector<Unit> units;
  std::vector<size_t> unit_of_layer;
};

// Validates `p` and groups its layers into units.
Result<Units> make_units(const AllocationProblem& p);

// Bits per layer when every free unit takes choice `free_choice(unit)` and pinned units their pin.
template <typename FreeChoice>
std::vector<int> bits_for(const AllocationProblem& p, const Units& u, FreeChoice free_choice) {
  std::vector<int> bits(p.layers.size(), 0);
  for (size_t k = 0; k < u.units.size(); ++k) {
    const Unit& unit = u.units[k];
    const int c = unit.pinned_choice >= 0 ? unit.pinned_choice : free_choice(k);
    for (size_t i : unit.layers) bits[i] = p.layers[i].bits[static_cast<size_t>(c)];
  }
  return bits;
}

// Which budgets `a` breaks, as "size 123 > 100; ..." ("" when none).
std::string budget_violations(const Allocation& a, const BudgetLimits& limits);

}  // namespace bit_allocation_detail

}  // namespace qe
