// The random baseline of a mixed-precision comparison: a feasible allocation that spends the
// budget about as fully as the ILP, so the comparison isolates the choice of layers.
#include <algorithm>
#include <chrono>
#include <random>

#include "quant/mixed/bit_allocation.h"

namespace qe {

using namespace bit_allocation_detail;

Result<Allocation> random_allocation(const AllocationProblem& p, uint64_t seed) {
  const auto start = std::chrono::steady_clock::now();
  QE_ASSIGN_OR_RETURN(const Units u, make_units(p));
  QE_ASSIGN_OR_RETURN(const BudgetLimits limits, resolve_budgets(p));
  // The start: all-low; when that breaks a budget (a cost that does not grow with the width),
  // per free unit the choice that costs least relative to the limits.
  std::vector<int> choice(u.units.size(), 0);
  auto allocation = [&] { return evaluate_allocation(p, bits_for(p, u, [&](size_t k) { return choice[k]; })); };
  if (!budget_violations(allocation(), limits).empty()) {
    for (size_t k = 0; k < u.units.size(); ++k) {
      const Unit& unit = u.units[k];
      const size_t n = p.layers[unit.layers[0]].bits.size();
      double best = 0;
      for (size_t c = 0; c < n; ++c) {
        double relative = 0;
        for (size_t i : unit.layers) {
          const LayerOptionCosts& l = p.layers[i];
          if (limits.size) relative += l.size_bytes[c] / std::max(*limits.size, 1e-300);
          if (limits.bops) relative += l.bops[c] / std::max(*limits.bops, 1e-300);
          if (limits.latency) relative += l.latency[c] / std::max(*limits.latency, 1e-300);
        }
        if (c == 0 || relative < best) {
          best = relative;
          choice[k] = static_cast<int>(c);
        }
      }
    }
  }
  std::mt19937_64 rng(seed);
  if (!budget_violations(allocation(), limits).empty()) {
    // Budgets that pull different ways (a latency that falls with the width next to a size
    // budget): a feasible start from the integer program with random costs.
    AllocationProblem shuffled = p;
    std::uniform_real_distribution<double> cost(0.0, 1.0);
    for (LayerOptionCosts& l : shuffled.layers) {
      for (double& s : l.sensitivity) s = cost(rng);
    }
    QE_ASSIGN_OR_RETURN(const Allocation start, solve_bit_allocation(shuffled));
    for (size_t k = 0; k < u.units.size(); ++k) {
      const size_t i = u.units[k].layers[0];
      const std::vector<int>& bits = p.layers[i].bits;
      choice[k] = static_cast<int>(std::find(bits.begin(), bits.end(), start.bits[i]) - bits.begin());
    }
  }

  std::vector<size_t> free_units;
  for (size_t k = 0; k < u.units.size(); ++k) {
    if (u.units[k].pinned_choice < 0) free_units.push_back(k);
  }
  // Each sweep visits the free units in a fresh random order and raises each to a random higher
  // choice among those that keep every budget; it stops after a sweep that raised nothing.
  for (bool raised = true; raised;) {
    raised = false;
    std::shuffle(free_units.begin(), free_units.end(), rng);
    for (size_t k : free_units) {
      const int current = choice[k];
      const int n = static_cast<int>(p.layers[u.units[k].layers[0]].bits.size());
      std::vector<int> fitting;
      for (int c = current + 1; c < n; ++c) {  // higher widths only: the sweep ends
        choice[k] = c;
        if (budget_violations(allocation(), limits).empty()) fitting.push_back(c);
      }
      choice[k] = current;
      if (fitting.empty()) continue;
      choice[k] = fitting[std::uniform_int_distribution<size_t>(0, fitting.size() - 1)(rng)];
      raised = true;
    }
  }
  Allocation a = allocation();
  a.limits = limits;
  a.solve_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return a;
}

}  // namespace qe
