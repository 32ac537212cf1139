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
  std::vector<int> choice(u.units.size(), 0);
  auto allocation = [&] { return evaluate_allocation(p, bits_for(p, u, [&](size_t k) { return choice[k]; })); };
  const std::string broken = budget_violations(allocation(), limits);
  if (!broken.empty()) {
    return invalid_argument("random allocation: every free layer at its lowest choice breaks ", broken);
  }

  std::vector<size_t> free_units;
  for (size_t k = 0; k < u.units.size(); ++k) {
    if (u.units[k].pinned_choice < 0) free_units.push_back(k);
  }
  // Each sweep visits the free units in a fresh random order and raises each to a random higher
  // choice among those that keep every budget; it stops after a sweep that raised nothing.
  std::mt19937_64 rng(seed);
  for (bool raised = true; raised;) {
    raised = false;
    std::shuffle(free_units.begin(), free_units.end(), rng);
    for (size_t k : free_units) {
      const int current = choice[k];
      const int n = static_cast<int>(p.layers[u.units[k].layers[0]].bits.size());
      std::vector<int> fitting;
      for (int c = current + 1; c < n; ++c) {
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
