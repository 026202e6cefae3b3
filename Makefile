# hookgate — build, run and test with nothing but rustup's Rust toolchain installed.
#
#   make build   the proxy (release) and the example plugins into plugins/dist/
#   make run     what runs today: the example plugins through `hookgate plugin run`
#   make test    everything CI runs: installs the wasm target, builds the guests, tests
#   make bench-hooks   criterion micro-benchmark of hook calls (writes nothing; see BENCHMARKS.md)

CARGO        ?= cargo
TARGET_DIR   := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
GUEST_TARGET := wasm32-wasip2
GUEST_OUT    := $(TARGET_DIR)/$(GUEST_TARGET)/guest
EXAMPLES     := banned-keywords header-injector
TEST_GUESTS  := $(notdir $(wildcard tests/plugins/*))
GUESTS       := $(EXAMPLES) $(TEST_GUESTS)

export HOOKGATE_GUEST_DIR := $(GUEST_OUT)

.PHONY: build run test guests toolchain dist bench-hooks clean

toolchain:
	@rustup target list --installed | grep -qx $(GUEST_TARGET) || rustup target add $(GUEST_TARGET)

guests: toolchain
	$(CARGO) build --profile guest --target $(GUEST_TARGET) $(addprefix -p ,$(GUESTS))

dist: guests
	@mkdir -p plugins/dist
	@for p in $(EXAMPLES); do cp $(GUEST_OUT)/$$(echo $$p | tr - _).wasm plugins/dist/$$p.wasm; done
	@ls -l plugins/dist

build: dist
	$(CARGO) build --release -p hookgate

run: build
	@echo "== hookgate plugin check plugins/dist/banned-keywords.wasm"
	$(TARGET_DIR)/release/hookgate plugin check plugins/dist/banned-keywords.wasm --config examples/banned-keywords.json
	@echo "== a request with a banned keyword is rejected"
	$(TARGET_DIR)/release/hookgate plugin run plugins/dist/banned-keywords.wasm --hook pre-call \
		--request examples/request-banned.json --config examples/banned-keywords.json
	@echo "== a clean request proceeds"
	$(TARGET_DIR)/release/hookgate plugin run plugins/dist/banned-keywords.wasm --hook pre-call \
		--request examples/request.json --config examples/banned-keywords.json
	@echo "== header-injector adds its headers to a response"
	$(TARGET_DIR)/release/hookgate plugin run plugins/dist/header-injector.wasm --hook post-call-success \
		--request examples/request.json --response examples/response.json --config examples/header-injector.json

test: guests
	$(CARGO) build -p hookgate
	$(CARGO) test

bench-hooks: guests
	$(CARGO) bench -p hookgate --bench hook_call

clean:
	$(CARGO) clean
	rm -rf plugins/dist
