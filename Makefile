# hearth: the two commands a new user needs are `make demo` and `make test`.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan
DEMO_MODEL ?= tests/data/devB
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
SOAK_SECONDS ?= 120

APT_PACKAGES := build-essential cmake ninja-build pkg-config git \
  nlohmann-json3-dev libcli11-dev libpcre2-dev libcpp-httplib-dev \
  libgtest-dev libgmock-dev libbenchmark-dev clang-format \
  libopenmpi-dev openmpi-bin clang libclang-rt-14-dev

.PHONY: setup build build-asan test test-fast demo format clean fuzz soak

# Idempotent: installs only what is missing, so a second run costs a dpkg query.
setup:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if ! command -v npm >/dev/null 2>&1; then missing="$$missing nodejs npm"; fi; \
	if [ -n "$$missing" ]; then \
	  echo "setup: installing $$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	else echo "setup: all packages present"; fi
	@if [ -f tests/integration/package.json ]; then \
	  (cd tests/integration && npm ci --no-audit --no-fund --loglevel=error); fi

build:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j $(JOBS)

build-asan:
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHEARTH_SANITIZE=ON -DHEARTH_BUILD_BENCH=OFF
	cmake --build $(ASAN_BUILD) -j $(JOBS)

# Release suites first, then every one of the same suites under ASan+UBSan (the integration suite
# included: it drives the sanitized server).
test: setup build build-asan
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS)

test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

demo: setup build
	@echo "== hearth info $(DEMO_MODEL)"
	$(BUILD)/hearth info $(DEMO_MODEL)
	@echo "== hearth run (random weights: the text is gibberish by design)"
	$(BUILD)/hearth run $(DEMO_MODEL) --chat --prompt "Name three llamas." -n 24 --temp 0

# libFuzzer (clang, ASan+UBSan) on every parser for FUZZ_SECONDS each: executions, coverage,
# findings per target. The corpora are replayed by `make test` without clang.
fuzz: setup
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DHEARTH_FUZZ=ON -DHEARTH_BUILD_TESTS=OFF -DHEARTH_BUILD_BENCH=OFF -DHEARTH_CUDA=OFF
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_all
	FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run.sh $(FUZZ_BUILD)

# The server soak on loopback: 64 streams for SOAK_SECONDS with faults and hostile requests.
soak: setup build
	node tests/soak/soak.mjs --hearth $(BUILD)/hearth --model tests/data/devB --duration $(SOAK_SECONDS) --streams 64

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h' '*.cu' '*.cuh')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
