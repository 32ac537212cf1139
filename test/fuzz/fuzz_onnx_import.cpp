// libFuzzer entry point: qe::fuzz::drive_onnx_import (test/support/fuzz_drivers.h) on each input.
#include <cstddef>
#include <cstdint>

#include "support/fuzz_drivers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)qe::fuzz::drive_onnx_import(data, size);  // errors are the expected outcome; crashes are not
  return 0;
}
