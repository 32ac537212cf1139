# The README's two commands: `make demo` and `make test`. Both install dependencies first.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
QENGINE_SHARED ?= $(abspath ../shared)
export QENGINE_SHARED

.PHONY: deps configure build test demo bench clean test-asan

deps:
	bash scripts/setup-deps.sh

configure: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

demo: build
	bash scripts/demo.sh $(BUILD_DIR)

bench: build
	bash scripts/bench-models.sh $(BUILD_DIR)

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer (any report fails the test).
ASAN_BUILD_DIR ?= build-asan
test-asan: deps
	bash scripts/test-asan.sh $(ASAN_BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR) $(ASAN_BUILD_DIR)
