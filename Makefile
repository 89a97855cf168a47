# SPDX-License-Identifier: MIT
# Thin wrapper over scripts/bootstrap.sh and meson. Everything real is in meson.build.
BUILD ?= build
MESON_FLAGS ?=

.PHONY: all bootstrap build check demo demo-policies clean install models sanitize valgrind

all: build

bootstrap:
	@bash scripts/bootstrap.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_FLAGS)

build: bootstrap $(BUILD)/build.ninja
	ninja -C $(BUILD)

# SmolLM2-135M-Instruct into models/ (hash-checked; nothing when present).
models: bootstrap
	@bash scripts/fetch-model.sh

check: build models
	@bash scripts/run-tests.sh $(BUILD)

# The daemon and two engine processes serving SmolLM2 from one pool.
demo: build models
	@bash scripts/demo-engine.sh $(BUILD)

# The eviction policies compared on the Mooncake trace (no model).
demo-policies: build
	@bash scripts/demo.sh $(BUILD)

# ASan+UBSan build of the whole suite in its own folder.
sanitize: bootstrap
	[ -f build-asan/build.ninja ] || meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dcuda=disabled
	ninja -C build-asan
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 AC_SANITIZE=1 bash scripts/run-tests.sh build-asan

valgrind: build
	AC_VALGRIND=1 bash scripts/run-tests.sh $(BUILD)

install: build
	meson install -C $(BUILD)

clean:
	rm -rf $(BUILD) build-asan
