// What each fuzz target (test/fuzz) does with one input, shared with test_fuzz_regressions so
// that every saved crash input keeps going through exactly the code that crashed. A driver
// returns the first error of its pipeline (with the stage as context) or ok; a crash, a
// sanitizer report or a hang is the only failure. Inputs that would only cost time (an image of
// 16384x16384 pixels, a model too large to run in a few milliseconds) stop at the last cheap
// stage with an ok status: they are valid, and the limits that refuse them are tested elsewhere.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/core/status.h"

namespace qe::fuzz {

// ONNX bytes → import → verify → shape inference and load-time passes (Session::create) → one
// run on zero inputs when the model is small.
Status drive_onnx_import(const uint8_t* data, size_t size);

// QONNX / QCDQ bytes → import (Q/DQ chains fused) → float session and integer lowering, each
// prepared and run once when small → QONNX export and re-import; QCDQ files also imported with
// fusion off and prepared.
Status drive_qonnx_import(const uint8_t* data, size_t size);

// Rule-file JSON → parse_rules → resolve_rules against a small fixed CNN → make_quant_plan →
// explain_config.
Status drive_rule_file(const uint8_t* data, size_t size);

// Image bytes → header → decode → three preprocessing pipelines; the same bytes as a file
// through the dataset loader (BatchLoader, size taken from the header).
Status drive_image_decode(const uint8_t* data, size_t size);

using FuzzDriver = Status (*)(const uint8_t* data, size_t size);

struct FuzzTarget {
  const char* name;  // the fuzz_<name> executable and test/data/fuzz_regressions/<name>
  FuzzDriver drive;
};

const std::vector<FuzzTarget>& fuzz_targets();

}  // namespace qe::fuzz
