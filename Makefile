# hookgate — build, run and test with nothing but rustup's Rust toolchain installed.
#
#   make build   the proxy (release) and the example plugins into plugins/dist/
#   make run     the proxy on 127.0.0.1:4000 with examples/config.yaml (mock models, example plugins)
#   make demo    the example plugins through `hookgate plugin run`, without a server
#   make test    everything CI runs: installs the wasm target, a virtualenv (the Python test
#                client, componentize-py), the JS SDK's npm packages, redis-server, an OCI
#                registry (docker-registry), headless Chromium with chromedriver and the
#                bench's pinned LiteLLM (the LiteLLM callbacks run side by side with it),
#                builds the guests (Rust, Python, JS, LiteLLM handlers) and the proxy, runs
#                every test
#   make bench   hookgate (its plugins in Rust, Python and JavaScript, the last built with
#                componentize-js) vs hookgate without plugins vs nginx as a plain reverse proxy
#                vs LiteLLM (and LiteLLM's own callbacks file built into hookgate plugins), side
#                by side against one mock upstream (installs LiteLLM into a virtualenv and
#                nginx with apt-get; ~16 min); writes BENCHMARKS.md
#   make bench-hooks   criterion micro-benchmark of hook calls (writes nothing; see BENCHMARKS.md)
#   make soak    20,000 mixed requests (normal, streamed, banned, PII, padded, faulting, slow readers,
#                bad input) at concurrency 16; checks the guardrails held for every one and writes
#                RELIABILITY.md (make test runs an 8,000-request variant)

CARGO        ?= cargo
TARGET_DIR   := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
GUEST_TARGET := wasm32-wasip2
GUEST_OUT    := $(TARGET_DIR)/$(GUEST_TARGET)/guest
EXAMPLES     := banned-keywords header-injector rate-limiter failure-alerter pagerduty-alerter
TEST_GUESTS  := $(notdir $(wildcard tests/plugins/*))
GUESTS       := $(EXAMPLES) $(TEST_GUESTS)
# Guests in Python (componentize-py) and JavaScript (componentize-js): a folder each,
# holding app.py or plugin.js.
PY_GUEST_DIRS := plugins/pii-redactor plugins/remote-moderation $(wildcard tests/plugins-py/*)
JS_GUEST_DIRS := plugins/cost-logger plugins/blocked-users $(wildcard tests/plugins-js/*)
PY_EXAMPLES   := pii-redactor remote-moderation
JS_EXAMPLES   := cost-logger blocked-users
wasm_of        = $(GUEST_OUT)/$(subst -,_,$(notdir $(1))).wasm
POLYGLOT_GUESTS := $(foreach dir,$(PY_GUEST_DIRS) $(JS_GUEST_DIRS),$(call wasm_of,$(dir)))
JS_SDK_ENV    := guest-sdk/js/node_modules/.installed
# What a JavaScript component is built from besides its own sources: the SDK and its build.
JS_SDK_BUILD  := $(wildcard guest-sdk/js/src/*.js) guest-sdk/js/build.mjs guest-sdk/js/export-glue.mjs guest-sdk/js/warm-snapshot.mjs
# LiteLLM callback files built unchanged, one component per handler instance, named
# `<module>.<handler>.wasm` as LiteLLM's `callbacks: <module>.<handler>` names them: the
# examples from LiteLLM's docs and the bench's callbacks (tests/suite/litellm_compat.rs).
LITELLM_OUT      := $(GUEST_OUT)/litellm
LITELLM_FIXTURES := guest-sdk/python/tests/plugins-litellm
LITELLM_HANDLERS := \
	$(LITELLM_FIXTURES)/call_hooks_quickstart.py:proxy_handler_instance \
	$(LITELLM_FIXTURES)/reject_with_message.py:proxy_handler_instance \
	$(LITELLM_FIXTURES)/reject_http_exception.py:proxy_handler_instance \
	$(LITELLM_FIXTURES)/moderation.py:proxy_handler_instance \
	$(LITELLM_FIXTURES)/custom_callback_class.py:customHandler \
	$(LITELLM_FIXTURES)/side_by_side.py:moderation \
	$(LITELLM_FIXTURES)/side_by_side.py:answering \
	$(LITELLM_FIXTURES)/side_by_side.py:tagger \
	$(LITELLM_FIXTURES)/handlers.py:key_quota \
	$(LITELLM_FIXTURES)/handlers.py:guard \
	bench/litellm/custom_callbacks.py:banned_keywords \
	bench/litellm/custom_callbacks.py:pii_redactor \
	bench/litellm/custom_callbacks.py:header_injector \
	bench/litellm/custom_callbacks.py:cost_logger
# `make bench` also runs the bench's five callbacks as hookgate plugins (scenarios h, i).
BENCH_LITELLM_HANDLERS := bench/litellm/custom_callbacks.py:rate_limiter
litellm_wasm      = $(LITELLM_OUT)/$(basename $(notdir $(word 1,$(subst :, ,$(1))))).$(word 2,$(subst :, ,$(1))).wasm
LITELLM_GUESTS   := $(foreach handler,$(LITELLM_HANDLERS),$(call litellm_wasm,$(handler)))
# The bench's five callbacks as one component (`build.py --bundle`), the plugin
# `bench-callbacks`: scenario r, and the suite's side-by-side test of a bundle.
LITELLM_BUNDLE   := $(LITELLM_OUT)/bench-callbacks.wasm
BENCH_CALLBACKS  := rate_limiter pii_redactor banned_keywords header_injector cost_logger
PY_SDK_SOURCES   := $(wildcard guest-sdk/python/hookgate_sdk/*.py)
LITELLM_COMPAT   := $(shell find guest-sdk/python/compat -name '*.py')

# `make bench` only: the Rust ports of the Python redactor and the JS cost-logger, the
# Python ports of the Rust examples, the JavaScript ports of the Rust examples and the
# Python redactor, and LiteLLM.
BENCH_RS_GUESTS := $(notdir $(wildcard bench/plugins/*))
BENCH_PY_DIRS   := $(wildcard bench/plugins-py/*)
BENCH_PY_GUESTS := $(foreach dir,$(BENCH_PY_DIRS),$(call wasm_of,$(dir)))
# (p): the same five Python plugins in one component (hookgate_sdk.Bundle), its folder
# assembled under target/ from the bundle's module and each member's own source.
BENCH_PY_BUNDLE := $(GUEST_OUT)/five_py.wasm
PY_BUNDLE_MEMBERS := rate_limiter:bench/plugins-py/rate-limiter-py pii_redactor:plugins/pii-redactor \
	banned_keywords:bench/plugins-py/banned-keywords-py header_injector:bench/plugins-py/header-injector-py \
	cost_logger:bench/plugins-py/cost-logger-py
BENCH_JS_DIRS   := $(wildcard bench/plugins-js/*)
# (q): the five JavaScript plugins in one component, assembled the same way.
BENCH_JS_BUNDLE := $(GUEST_OUT)/five_js.wasm
JS_BUNDLE_MEMBERS := rate-limiter:bench/plugins-js/rate-limiter-js pii-redactor:bench/plugins-js/pii-redactor-js \
	banned-keywords:bench/plugins-js/banned-keywords-js header-injector:bench/plugins-js/header-injector-js \
	cost-logger:plugins/cost-logger
BENCH_JS_GUESTS := $(foreach dir,$(BENCH_JS_DIRS),$(call wasm_of,$(dir)))
LITELLM_VENV    := $(TARGET_DIR)/litellm-venv

PYENV        := $(TARGET_DIR)/pyenv
PYTHON       ?= python3
# The master key `make run` serves with; the README's curl examples use it.
HOOKGATE_MASTER_KEY ?= sk-hookgate-local-dev

export HOOKGATE_GUEST_DIR := $(GUEST_OUT)
# The proxy binary the end-to-end suite runs: the one `make test` has just built.
export HOOKGATE_BIN := $(TARGET_DIR)/debug/hookgate
export HOOKGATE_PYTHON := $(PYENV)/bin/python
# The LiteLLM the side-by-side tests (tests/suite/litellm_compat.rs) run.
export HOOKGATE_LITELLM_VENV := $(LITELLM_VENV)
export HOOKGATE_MASTER_KEY

.PHONY: soak build run demo test sdk-test guests toolchain pyenv jsenv redis registry browser dist bench bench-guests litellm nginx bench-hooks clean

toolchain:
	@rustup target list --installed | grep -qx $(GUEST_TARGET) || rustup target add $(GUEST_TARGET)

guests: toolchain $(POLYGLOT_GUESTS) $(LITELLM_GUESTS) $(LITELLM_BUNDLE)
	$(CARGO) build --profile guest --target $(GUEST_TARGET) $(addprefix -p ,$(GUESTS))

# One rule per Python or JS guest: rebuilt when its source, its SDK or the WIT changes.
define python_guest
$(call wasm_of,$(1)): $(wildcard $(1)/*.py) $(wildcard guest-sdk/python/hookgate_sdk/*.py) guest-sdk/python/build.py wit/plugin.wit $(PYENV)/.installed
	$(PYENV)/bin/python guest-sdk/python/build.py $(1)/app.py -o $$@
endef
define js_guest
$(call wasm_of,$(1)): $(wildcard $(1)/*.js) $(JS_SDK_BUILD) wit/plugin.wit $(JS_SDK_ENV)
	node guest-sdk/js/build.mjs $(1)/plugin.js -o $$@
endef
define litellm_guest
$(call litellm_wasm,$(1)): $(word 1,$(subst :, ,$(1))) $(PY_SDK_SOURCES) $(LITELLM_COMPAT) guest-sdk/python/build.py wit/plugin.wit $(PYENV)/.installed
	$(PYENV)/bin/python guest-sdk/python/build.py $(word 1,$(subst :, ,$(1))) --handler $(word 2,$(subst :, ,$(1))) -o $$@
endef
$(foreach dir,$(PY_GUEST_DIRS) $(BENCH_PY_DIRS),$(eval $(call python_guest,$(dir))))
$(foreach handler,$(LITELLM_HANDLERS) $(BENCH_LITELLM_HANDLERS),$(eval $(call litellm_guest,$(handler))))
$(LITELLM_BUNDLE): bench/litellm/custom_callbacks.py $(PY_SDK_SOURCES) $(LITELLM_COMPAT) guest-sdk/python/build.py wit/plugin.wit $(PYENV)/.installed
	$(PYENV)/bin/python guest-sdk/python/build.py $< $(foreach handler,$(BENCH_CALLBACKS),--handler $(handler)) --bundle bench-callbacks -o $@
$(foreach dir,$(JS_GUEST_DIRS) $(BENCH_JS_DIRS),$(eval $(call js_guest,$(dir))))

# The JS SDK's toolchain (componentize-js, esbuild), exactly as locked.
jsenv: $(JS_SDK_ENV)
$(JS_SDK_ENV): guest-sdk/js/package-lock.json
	@command -v npm >/dev/null || (apt-get update -q && apt-get install -y -q nodejs npm)
	cd guest-sdk/js && npm ci --no-audit --no-fund
	@touch $@

dist: guests
	@mkdir -p plugins/dist
	@for p in $(EXAMPLES) $(PY_EXAMPLES) $(JS_EXAMPLES); do cp $(GUEST_OUT)/$$(echo $$p | tr - _).wasm plugins/dist/$$p.wasm; done
	@ls -l plugins/dist

build: dist
	$(CARGO) build --release -p hookgate

# One virtualenv for Python: the official openai client the tests drive the proxy with,
# and componentize-py, which builds the Python guests.
pyenv: $(PYENV)/.installed
$(PYENV)/.installed: tests/python/requirements.txt guest-sdk/python/requirements.txt
	$(PYTHON) -m venv $(PYENV)
	$(PYENV)/bin/pip install --quiet --disable-pip-version-check \
		-r tests/python/requirements.txt -r guest-sdk/python/requirements.txt
	@touch $@

# The kv tests run real Redis servers (shared state across two proxies, outages).
redis:
	@command -v redis-server >/dev/null || (apt-get update -q && apt-get install -y -q redis-server)

# The fleet tests push plugins to a real OCI registry (Distribution 2.8, Debian's package);
# each test starts its own on a free loopback port with its own config and storage.
registry:
	@command -v docker-registry >/dev/null || (apt-get update -q && apt-get install -y -q docker-registry)

# The console test drives a real headless Chromium through chromedriver.
browser:
	@command -v chromedriver >/dev/null || (apt-get update -q && apt-get install -y -q chromium chromium-driver)

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

# The three guest SDKs' own unit tests, each in its language, without building a component
# (seconds): every one also checks its text helpers against guest-sdk/conformance/text.json.
sdk-test:
	$(CARGO) test -p hookgate-sdk
	$(PYTHON) -m unittest discover -s guest-sdk/python/tests
	@command -v node >/dev/null || (apt-get update -q && apt-get install -y -q nodejs npm)
	node --test guest-sdk/js/tests/sdk.test.mjs guest-sdk/js/tests/bundle.test.mjs

test: dist pyenv redis registry browser litellm sdk-test
	@# The README's curl examples are run as written by the suite.
	@command -v curl >/dev/null || (apt-get update -q && apt-get install -y -q curl)
	@# Every command here selects the same packages (the workspace's default members) and
	@# the dev-dependencies with them (`--tests`), so cargo resolves one feature set and
	@# builds wasmtime, the proxy and the suite once: a `-p` on one of them, or a build
	@# without the tests, would unify features differently and build them all again.
	@# `--benches` keeps the criterion benches compiling (seconds, in this profile).
	$(CARGO) build --bins --tests --benches
	$(CARGO) test -- --skip soak:: --skip bench::
	@# The soak reads the proxy's memory, which other tests' load distorts (pool slots
	@# touched under contention stay resident): it runs next, alone on the machine.
	$(CARGO) test --test suite -- soak::
	@# A short `make bench` run loads both cores: alone too, so no other test's timing
	@# pays for it.
	$(CARGO) test --test suite -- bench::
	@# The example plugins and the bench's Rust plugin ports carry their own unit tests
	@# (they run natively).
	$(CARGO) test $(addprefix -p ,$(EXAMPLES) $(BENCH_RS_GUESTS))

# The soak run in full (see tests/src/soak.rs); the short variant is part of `make test`.
soak: dist pyenv
	$(CARGO) build --bins --tests
	HOOKGATE_SOAK_REQUESTS=20000 HOOKGATE_SOAK_REPORT=RELIABILITY.md \
		$(CARGO) test --test suite -- soak --nocapture

# A bundle's members (`module:folder` pairs, $(1)) as their sources: each folder's $(2).
bundle_sources = $(foreach member,$(1),$(word 2,$(subst :, ,$(member)))/$(2))
# Assembles bundle folder $(1): the bundle's module $(2), and each member of $(3) copied
# in from its folder's $(4) as the module the bundle imports (`<module>` plus $(4)'s suffix).
assemble_bundle = rm -rf $(1) && mkdir -p $(1) && cp $(2) $(1)/ && \
	$(foreach member,$(3),cp $(word 2,$(subst :, ,$(member)))/$(4) $(1)/$(word 1,$(subst :, ,$(member)))$(suffix $(4)) &&) true

$(BENCH_PY_BUNDLE): bench/plugins-py-bundle/app.py $(call bundle_sources,$(PY_BUNDLE_MEMBERS),app.py) \
		$(wildcard guest-sdk/python/hookgate_sdk/*.py) guest-sdk/python/build.py wit/plugin.wit $(PYENV)/.installed
	$(call assemble_bundle,$(TARGET_DIR)/five-py,bench/plugins-py-bundle/app.py,$(PY_BUNDLE_MEMBERS),app.py)
	$(PYENV)/bin/python guest-sdk/python/build.py $(TARGET_DIR)/five-py/app.py -o $@

$(BENCH_JS_BUNDLE): bench/plugins-js-bundle/plugin.js $(call bundle_sources,$(JS_BUNDLE_MEMBERS),plugin.js) \
		$(JS_SDK_BUILD) wit/plugin.wit $(JS_SDK_ENV)
	$(call assemble_bundle,$(TARGET_DIR)/five-js,bench/plugins-js-bundle/plugin.js,$(JS_BUNDLE_MEMBERS),plugin.js)
	node guest-sdk/js/build.mjs $(TARGET_DIR)/five-js/plugin.js -o $@

bench-guests: guests $(BENCH_PY_GUESTS) $(BENCH_PY_BUNDLE) $(BENCH_JS_GUESTS) $(BENCH_JS_BUNDLE) $(foreach handler,$(BENCH_LITELLM_HANDLERS),$(call litellm_wasm,$(handler)))
	$(CARGO) build --profile guest --target $(GUEST_TARGET) $(addprefix -p ,$(BENCH_RS_GUESTS))

# LiteLLM and its proxy extras, pinned, in their own virtualenv (scenario e).
litellm: $(LITELLM_VENV)/.installed
$(LITELLM_VENV)/.installed: bench/litellm/requirements.txt bench/litellm/setup.sh
	sh bench/litellm/setup.sh $(LITELLM_VENV)

# nginx as a plain reverse proxy (scenario n): Debian's package, installed unless there.
# The bench starts it itself, with its own config.
nginx:
	@sh bench/nginx/setup.sh

# Every scenario against one mock upstream, in one run; see BENCHMARKS.md for the method.
bench: bench-guests pyenv litellm nginx
	$(CARGO) build --release -p hookgate -p hookgate-bench
	ulimit -n $$(ulimit -Hn) 2>/dev/null; $(TARGET_DIR)/release/hookgate-bench run --out BENCHMARKS.md

bench-hooks: guests
	$(CARGO) bench -p hookgate --bench hook_call

clean:
	$(CARGO) clean
	rm -rf plugins/dist
