# hookgate — build, run and test with nothing but rustup's Rust toolchain installed.
#
#   make build   the proxy (release) and the example plugins into plugins/dist/
#   make run     the proxy on 127.0.0.1:4000 with examples/config.yaml (mock models, example plugins)
#   make demo    the example plugins through `hookgate plugin run`, without a server
#   make test    everything CI runs: installs the wasm target, the Python test client and
#                redis-server, builds the guests and the proxy, runs every test
#   make bench-hooks   criterion micro-benchmark of hook calls (writes nothing; see BENCHMARKS.md)

CARGO        ?= cargo
TARGET_DIR   := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
GUEST_TARGET := wasm32-wasip2
GUEST_OUT    := $(TARGET_DIR)/$(GUEST_TARGET)/guest
EXAMPLES     := banned-keywords header-injector rate-limiter failure-alerter
TEST_GUESTS  := $(notdir $(wildcard tests/plugins/*))
GUESTS       := $(EXAMPLES) $(TEST_GUESTS)

PYENV        := $(TARGET_DIR)/pyenv
PYTHON       ?= python3
# The master key `make run` serves with; the README's curl examples use it.
HOOKGATE_MASTER_KEY ?= sk-hookgate-local-dev

export HOOKGATE_GUEST_DIR := $(GUEST_OUT)
export HOOKGATE_PYTHON := $(PYENV)/bin/python
export HOOKGATE_MASTER_KEY

.PHONY: build run demo test guests toolchain pyenv redis dist bench-hooks clean

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

# The Python the tests drive the proxy with: a virtualenv with the official openai client.
pyenv: $(PYENV)/.installed
$(PYENV)/.installed: tests/python/requirements.txt
	$(PYTHON) -m venv $(PYENV)
	$(PYENV)/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
	@touch $@

# The kv tests run real Redis servers (shared state across two proxies, outages).
redis:
	@command -v redis-server >/dev/null || (apt-get update -q && apt-get install -y -q redis-server)

run: build
	$(TARGET_DIR)/release/hookgate serve --config examples/config.yaml

demo: build
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

test: dist pyenv redis
	@# The README's curl examples are run as written by the suite.
	@command -v curl >/dev/null || (apt-get update -q && apt-get install -y -q curl)
	$(CARGO) build -p hookgate
	$(CARGO) test

bench-hooks: guests
	$(CARGO) bench -p hookgate --bench hook_call

clean:
	$(CARGO) clean
	rm -rf plugins/dist
