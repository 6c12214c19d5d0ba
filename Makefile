# Sonde: the two commands are `make demo` and `make test`; the rest are their steps.
SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO ?= cargo
WASM_TARGET := wasm32-unknown-unknown
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
WHEELS := target/wheels
WASM_BINDGEN := .tools/bin/wasm-bindgen
# The browser package is built on a pinned nightly that rebuilds std with panics as immediate
# aborts: no panic messages, locations or formatting machinery in the `.wasm` (11 KiB gzip).
# Its own target folder, since the flags differ from every other build.
NIGHTLY := nightly-2026-05-19
WASM_TARGET_DIR := target/wasm-std
WASM_BUILD := RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort" $(CARGO) +$(NIGHTLY) build \
	-Zbuild-std=std,panic_abort --target $(WASM_TARGET) --target-dir $(WASM_TARGET_DIR) -p sonde-wasm
WASM_TEST_RUNNER := $(abspath .tools/bin/wasm-bindgen-test-runner)
# Coverage-guided fuzzing (cargo fuzz): the pinned nightly, cargo-fuzz from crates.io.
CARGO_FUZZ := .tools/bin/cargo-fuzz
FUZZ_TARGETS := ingest properties tracking_plan stats_snapshot cursor
FUZZ_SECONDS ?= 600

.PHONY: nightly-toolchain fuzz-toolchain dashboard check-dashboard fuzz fuzz-smoke dist test-install help setup python-env python-wheel node-addon wasm wasm-vectors chromium test test-rust test-wasm test-python test-node collector test-system test-browser check-wasm lint lint-python demo demo-rust bench bench-python bench-node bench-browser clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup: ## Install the pinned Rust toolchain and the wasm32 target (idempotent)
	@command -v rustup >/dev/null || { echo "rustup is required: https://rustup.rs"; exit 1; }
	rustup toolchain install
	rustup target add $(WASM_TARGET)
	rustup component add clippy rustfmt

python-env: $(VENV)/.ready ## A virtualenv with the Python build, test and lint tools

$(VENV)/.ready: bindings-python/requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r bindings-python/requirements-dev.txt
	touch $@

python-wheel: setup python-env ## Build the `sonde` wheel (release) and install it into the virtualenv
	rm -f $(WHEELS)/sonde-*.whl
	cd bindings-python && ../$(VENV)/bin/maturin build --release --quiet -o ../$(WHEELS)
	$(PY) -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps $(WHEELS)/sonde-*.whl

node-addon: setup ## Build the Node addon (release) into bindings-node/sonde.node
	$(CARGO) build -p sonde-node --release
	cp target/release/libsonde_node.so bindings-node/sonde.node

bindings-node/node_modules/.ready: bindings-node/package.json bindings-node/package-lock.json
	cd bindings-node && npm ci --no-audit --no-fund --silent
	touch $@

$(WASM_BINDGEN): ## wasm-bindgen-cli, the exact version the crate pins (built once into .tools)
	$(CARGO) install wasm-bindgen-cli --version 0.2.130 --root .tools

dashboard/node_modules/.ready: dashboard/package.json dashboard/package-lock.json
	cd dashboard && npm ci --no-audit --no-fund --silent
	touch $@

dashboard: dashboard/node_modules/.ready ## Build the dashboard page (uPlot from npm, esbuild) into core/src/http/dashboard.html
	cd dashboard && node build.mjs

check-dashboard: dashboard/node_modules/.ready ## The committed dashboard page is what its sources build
	mkdir -p target
	cd dashboard && node build.mjs ../target/dashboard-check.html >/dev/null
	cmp target/dashboard-check.html core/src/http/dashboard.html || { echo "core/src/http/dashboard.html is stale: run make dashboard"; exit 1; }

bindings-wasm/node_modules/.ready: bindings-wasm/package.json bindings-wasm/package-lock.json
	cd bindings-wasm && npm ci --no-audit --no-fund --silent
	touch $@

nightly-toolchain:
	rustup toolchain install $(NIGHTLY) --profile minimal --component rust-src

wasm: setup nightly-toolchain $(WASM_BINDGEN) bindings-wasm/node_modules/.ready ## Build the browser package: size profile and std without panic machinery, wasm-bindgen, wasm-opt -Os --converge (npm binaryen)
	$(WASM_BUILD) --profile wasm-size
	$(WASM_BINDGEN) --target web --out-dir bindings-wasm/pkg $(WASM_TARGET_DIR)/$(WASM_TARGET)/wasm-size/sonde_wasm.wasm
	bindings-wasm/node_modules/.bin/wasm-opt -Os --converge --enable-bulk-memory --enable-nontrapping-float-to-int \
		--enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
		--strip-debug --strip-producers -o bindings-wasm/pkg/sonde_wasm_bg.wasm bindings-wasm/pkg/sonde_wasm_bg.wasm

wasm-vectors: setup nightly-toolchain $(WASM_BINDGEN) bindings-wasm/node_modules/.ready ## The binding plus the vectors' entry points (ingest, ...), built and optimized as the package is
	$(WASM_BUILD) --profile wasm-vectors --features vectors
	$(WASM_BINDGEN) --target web --out-dir bindings-wasm/pkg-vectors $(WASM_TARGET_DIR)/$(WASM_TARGET)/wasm-vectors/sonde_wasm.wasm
	bindings-wasm/node_modules/.bin/wasm-opt -Os --converge --enable-bulk-memory --enable-nontrapping-float-to-int \
		--enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
		--strip-debug --strip-producers -o bindings-wasm/pkg-vectors/sonde_wasm_bg.wasm bindings-wasm/pkg-vectors/sonde_wasm_bg.wasm

chromium: ## Debian's chromium for the browser tests (never a downloaded browser)
	command -v chromium >/dev/null || apt-get -o DPkg::Lock::Timeout=600 install -y -q chromium

test: setup check-dashboard test-rust check-wasm test-wasm test-python test-node test-system test-browser test-install fuzz-smoke ## Install what the tests need, then run every suite

dist: node-addon wasm python-wheel ## Every artifact into dist/: the wheel and sdist, the npm packages (main + linux-x64-gnu addon), the browser package
	rm -rf dist && mkdir -p dist
	cp $(WHEELS)/sonde-*.whl dist/
	cd bindings-python && ../$(VENV)/bin/maturin sdist --out ../dist
	node scripts/pack.mjs target/release/libsonde_node.so

test-install: dist chromium bindings-node/node_modules/.ready bindings-wasm/node_modules/.ready ## The packed artifacts installed into empty projects (tests/install)
	node --test tests/install/

test-browser: wasm wasm-vectors python-wheel node-addon collector chromium ## The browser package and the shared vectors in headless Chromium; tsc --strict over the .d.ts
	cd bindings-wasm && ../scripts/with-postgres.sh node --test test/*.test.js
	cd bindings-wasm && npx tsc --noEmit --strict -p test/tsconfig.json

test-wasm: setup $(WASM_BINDGEN) ## wasm-bindgen tests of the browser binding's API, as wasm under Node
	CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=$(WASM_TEST_RUNNER) $(CARGO) test -p sonde-wasm --target $(WASM_TARGET)


test-node: node-addon bindings-node/node_modules/.ready ## node --test against the built addon, and tsc --strict over the .d.ts
	cd bindings-node && ../scripts/with-postgres.sh node --test test/
	cd bindings-node && npx tsc --noEmit --strict -p test/tsconfig.json


test-python: python-wheel ## pytest against the installed wheel, and the native stubs checked by stubtest
	scripts/with-postgres.sh $(PY) -m pytest bindings-python/tests -q
	$(PY) -m mypy.stubtest sonde._native

collector: setup ## Build the standalone collector service (target/release/sonde-collector)
	$(CARGO) build --release -p sonde-collector

test-system: python-wheel node-addon collector bindings-node/node_modules/.ready ## Real processes on 127.0.0.1: services in each runtime sending to the example collectors
	scripts/with-postgres.sh $(PY) -m pytest tests/system -q

$(CARGO_FUZZ):
	$(CARGO) install cargo-fuzz --locked --version 0.13.2 --root .tools

fuzz-toolchain: $(CARGO_FUZZ) nightly-toolchain

fuzz-smoke: fuzz-toolchain ## Every fuzz target for 10 s from the committed corpus (fuzz/corpus), no sanitizer
	for t in $(FUZZ_TARGETS); do \
	  mkdir -p target/fuzz-corpus/$$t && \
	  (cd fuzz && PATH="$(abspath .tools/bin):$$PATH" cargo +$(NIGHTLY) fuzz run -O -s none --target-dir ../target/fuzz $$t \
	    ../target/fuzz-corpus/$$t corpus/$$t -- -max_total_time=10 -rss_limit_mb=2048) || exit 1; \
	done

fuzz: fuzz-toolchain ## Long fuzzing runs with AddressSanitizer: FUZZ_SECONDS (600) per target; record them in RELIABILITY.md
	for t in $(FUZZ_TARGETS); do \
	  mkdir -p target/fuzz-corpus/$$t && \
	  (cd fuzz && PATH="$(abspath .tools/bin):$$PATH" cargo +$(NIGHTLY) fuzz run -O --target-dir ../target/fuzz $$t \
	    ../target/fuzz-corpus/$$t corpus/$$t -- -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048) || exit 1; \
	done

test-rust: ## Rust unit, property, vector and doc tests for the whole workspace (store tests on SQLite and a throwaway PostgreSQL)
	scripts/with-postgres.sh $(CARGO) test --workspace --all-features

check-wasm: ## The core (and the browser binding) must keep building for wasm32, warning-free
	$(CARGO) clippy -p sonde-core --target $(WASM_TARGET) --no-default-features -- -D warnings
	$(CARGO) clippy -p sonde-core -p sonde-wasm --target $(WASM_TARGET) -- -D warnings
	$(CARGO) clippy -p sonde-wasm --target $(WASM_TARGET) --all-targets --features vectors -- -D warnings
	$(CARGO) clippy -p sonde-core --target $(WASM_TARGET) --features host-metrics -- -D warnings

lint: lint-python ## rustfmt, clippy, rustdoc and ruff with warnings as errors
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc -p sonde-core --no-deps --all-features

lint-python: python-env ## ruff lint and format check of the Python package and tests
	$(VENV)/bin/ruff check bindings-python examples tests/system
	$(VENV)/bin/ruff format --check bindings-python examples tests/system

demo: python-wheel wasm ## Build the Python and browser packages and serve the example FastAPI app on 127.0.0.1:8000
	@echo ""
	@echo "  Sonde example shop on http://127.0.0.1:8000  (events stored in examples/fastapi_app/sonde.db)"
	@echo "    curl http://127.0.0.1:8000/items/1                     a tracked request"
	@echo "    curl http://127.0.0.1:8000/slow                        a slow one, with a timed operation"
	@echo "    curl http://127.0.0.1:8000/fail                        a 500 and an \$$error event"
	@echo "    curl -H 'X-API-Key: dev-key' 'http://127.0.0.1:8000/analytics/events?limit=5'"
	@echo "    curl -H 'X-API-Key: dev-key' http://127.0.0.1:8000/analytics/performance   latency per route"
	@echo "    http://127.0.0.1:8000/analytics/dashboard              the dashboard (key: dev-key)"
	@echo "    curl -H 'X-API-Key: dev-key' http://127.0.0.1:8000/analytics/metrics       for Prometheus"
	@echo "    http://127.0.0.1:8000/docs                             every endpoint (OpenAPI)"
	@echo "    http://127.0.0.1:8000/demo/                            the browser package (WebAssembly) in a page"
	@echo ""
	cd examples/fastapi_app && ../../$(VENV)/bin/uvicorn app:app --host 127.0.0.1 --port 8000

demo-rust: setup ## The Rust example end to end (tracks, flushes to JSON lines, prints stats)
	$(CARGO) run -p sonde-example -- target/sonde-example/events.jsonl

bench: setup ## Criterion benchmarks and the buffered-memory measurement (see BENCHMARKS.md)
	$(CARGO) bench -p sonde-core --features host-metrics --bench pipeline --bench stats --bench host
	$(CARGO) run --release -p sonde-core --example buffer_memory --features test-utils
	$(CARGO) run --release -p sonde-core --example host_sample_cost --features host-metrics
	scripts/with-postgres.sh $(CARGO) run --release -p sonde-core --example store_bench --features sqlite,postgres

bench-python: python-wheel ## Python benchmarks: track() vs competitors, collector, middleware (BENCHMARKS.md)
	$(PY) -m pip install --quiet --disable-pip-version-check -r bindings-python/requirements-bench.txt
	command -v wrk >/dev/null || apt-get -o DPkg::Lock::Timeout=600 install -y -q wrk
	cd bindings-python/bench && ../../$(PY) bench_track.py && ../../$(PY) bench_collector.py && ../../$(PY) bench_middleware.py && ../../$(PY) bench_middleware_inprocess.py && ../../$(PY) bench_delivery.py

bench-node: node-addon bindings-node/node_modules/.ready ## Node benchmarks: track() against @segment/analytics-node and posthog-node, middleware overhead (BENCHMARKS.md)
	command -v wrk >/dev/null || apt-get -o DPkg::Lock::Timeout=600 install -y -q wrk
	cd bindings-node/bench && npm ci --no-audit --no-fund --silent && node track.js && node track_loop.js && node middleware.js && node middleware-inprocess.js

bench-browser: wasm chromium ## Browser package size and track() cost in Chromium against posthog-js and @segment/analytics-next from npm (BENCHMARKS.md)
	cd bindings-wasm/bench && npm ci --no-audit --no-fund --silent && node size.mjs && node track.mjs

clean: ## Remove build output
	$(CARGO) clean
