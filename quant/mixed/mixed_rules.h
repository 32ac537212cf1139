// A mixed-precision bit configuration written as an ordinary rule file (docs/config.md), so that
// `qengine calibrate --config` reproduces what `qengine mixed` chose: the base rule file's JSON
// (or an empty object) with one rule appended per layer, selecting the node by its exact name
// and setting its weight and input bits.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/core/status.h"

namespace qe {

struct LayerBits {
  std::string node;
  int bits = 8;
};

// `name` as a glob that matches exactly `name` (*, ? and [ become one-character classes).
std::string escape_glob(std::string_view name);

// `base_json`: the text of the base rule file ("" for none; comments allowed). Without a base
// file, weights default to per-channel scales (HAWQ-V3's integer-only setting). `description`
// goes to the file's "description".
Result<std::string> mixed_rule_file_text(const std::string& base_json, const std::vector<LayerBits>& layers,
                                         const std::string& description);

}  // namespace qe
