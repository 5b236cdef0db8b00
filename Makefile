# redis-faster build.  `make help` lists the targets.
#
#   make                 build the engine library, its tests and benchmark
#   make test            install missing packages, build, run every test suite
#   make run             install missing packages, build, run (see README)
#   make SANITIZE=address|undefined|thread test   the same under a sanitizer
#   make MALLOC=libc     build without jemalloc
#
# Outputs go to build/ (build/san-<name>/ for sanitizer builds).

CC ?= cc
SANITIZE ?=
MALLOC ?= jemalloc

ifeq ($(SANITIZE),)
BUILD := build
OPT := -O2
else
BUILD := build/san-$(SANITIZE)
OPT := -O1 -fno-omit-frame-pointer -fsanitize=$(SANITIZE)
MALLOC := libc
endif

CFLAGS := -std=c11 -D_GNU_SOURCE -g $(OPT) -Wall -Wextra -Werror -Wshadow \
	-Wstrict-prototypes -Wmissing-prototypes -MMD -MP -pthread
LDFLAGS := -pthread $(if $(SANITIZE),-fsanitize=$(SANITIZE))
LIBS := -luring
ifeq ($(MALLOC),jemalloc)
LIBS += -ljemalloc
endif

ENGINE_SRCS := $(wildcard src/engine/*.c)
ENGINE_OBJS := $(ENGINE_SRCS:%.c=$(BUILD)/obj/%.o)
RESP_SRCS := $(wildcard src/resp/*.c)
SERVER_SRCS := $(wildcard src/*.c src/commands/*.c)
SERVER_OBJS := $(SERVER_SRCS:%.c=$(BUILD)/obj/%.o)
# The server's objects but main.o, for the unit tests (libserver.a).
LIBSERVER_OBJS := $(filter-out $(BUILD)/obj/src/main.o,$(SERVER_OBJS))
NET_SRCS := $(wildcard src/net/*.c)
NET_OBJS := $(NET_SRCS:%.c=$(BUILD)/obj/%.o)
DEVICE_SRCS := $(wildcard src/device/*.c)
DEVICE_OBJS := $(DEVICE_SRCS:%.c=$(BUILD)/obj/%.o)
RESP_OBJS := $(RESP_SRCS:%.c=$(BUILD)/obj/%.o)
TEST_SRCS := $(wildcard tests/*.c)
TEST_OBJS := $(TEST_SRCS:%.c=$(BUILD)/obj/%.o)
BENCH_OBJS := $(BUILD)/obj/bench/engine_bench.o

LIBFASTER := $(BUILD)/libfaster.a
LIBRESP := $(BUILD)/libresp.a
LIBNET := $(BUILD)/libnet.a
LIBSERVER := $(BUILD)/libserver.a
LIBDEVICE := $(BUILD)/libdevice.a
UNIT_TESTS := $(BUILD)/unit-tests
ENGINE_BENCH := $(BUILD)/engine-bench
SERVER := $(BUILD)/redis-faster
HIREDIS_TEST := $(BUILD)/hiredis-test
HIREDIS_TEST_OBJS := $(BUILD)/obj/redis-tests/hiredis-c/hiredis_test.o
NODE_TESTS := redis-tests/node

.PHONY: all deps test unit-test integration-test format format-check run bench clean help

all: $(SERVER) $(LIBFASTER) $(LIBRESP) $(LIBNET) $(UNIT_TESTS) \
	$(ENGINE_BENCH)

# Installs missing Debian packages (needs root or sudo the first time).
# SKIP_DEPS=1 skips the check.
deps:
ifneq ($(SKIP_DEPS),1)
	@scripts/install-deps.sh
endif

# Criterion's runner cannot start under ThreadSanitizer, so the TSan build
# compiles the same tests against tests/tsan/ (see its criterion.h).
ifeq ($(SANITIZE),thread)
TEST_INC := -Itests/tsan
TEST_OBJS += $(BUILD)/obj/tests/tsan/runner.o
TEST_LIB :=
else
TEST_INC :=
TEST_LIB := -lcriterion
endif

$(BUILD)/obj/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(TEST_INC) -Isrc -Isrc/engine -Isrc/resp -Isrc/net \
		-Isrc/commands -Isrc/device -c $< -o $@

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc -Isrc/engine -Isrc/resp -Isrc/net -Isrc/commands \
		-Isrc/device -c $< -o $@

$(LIBFASTER): $(ENGINE_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(LIBRESP): $(RESP_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(LIBNET): $(NET_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(LIBDEVICE): $(DEVICE_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(LIBSERVER): $(LIBSERVER_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

# libserver and libnet need each other: link them as a group.
$(UNIT_TESTS): $(TEST_OBJS) $(LIBSERVER) $(LIBFASTER) $(LIBRESP) $(LIBNET) \
	$(LIBDEVICE)
	$(CC) $(LDFLAGS) -o $@ $(TEST_OBJS) -Wl,--start-group $(LIBSERVER) \
		$(LIBNET) -Wl,--end-group $(LIBFASTER) $(LIBRESP) $(LIBDEVICE) \
		$(TEST_LIB) \
		$(LIBS) -lm

$(SERVER): $(SERVER_OBJS) $(LIBNET) $(LIBRESP) $(LIBFASTER) $(LIBDEVICE)
	$(CC) $(LDFLAGS) -o $@ $(SERVER_OBJS) $(LIBNET) $(LIBRESP) $(LIBFASTER) \
		$(LIBDEVICE) $(LIBS) -lm

$(ENGINE_BENCH): $(BENCH_OBJS) $(LIBFASTER) $(LIBDEVICE)
	$(CC) $(LDFLAGS) -o $@ $(BENCH_OBJS) $(LIBFASTER) $(LIBDEVICE) $(LIBS) -lm

# A client-side test program on Debian's libhiredis (not part of `all`).
$(HIREDIS_TEST): $(HIREDIS_TEST_OBJS)
	$(CC) $(LDFLAGS) -o $@ $(HIREDIS_TEST_OBJS) -lhiredis

# The node client tests' packages (node-redis, ioredis), pinned by the
# lock file; installed when missing or when the lock file changes.
$(NODE_TESTS)/node_modules: $(NODE_TESTS)/package.json $(NODE_TESTS)/package-lock.json
	cd $(NODE_TESTS) && npm ci --no-audit --no-fund
	touch $@

# The unit tests run their cases in parallel, one process each.
# A sanitizer report fails the test that caused it.  Under ASan they run
# one at a time: with two jobs, Criterion 2.4's own runner leaves a
# 48-byte allocation of criterion_run_all_tests behind with this set of
# suites, which LeakSanitizer reports at exit (our tests pass either way).
UNIT_JOBS := $(if $(filter address,$(SANITIZE)),1,2)
unit-test: $(UNIT_TESTS)
	TSAN_OPTIONS=halt_on_error=1 ASAN_OPTIONS=abort_on_error=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		$(UNIT_TESTS) --jobs $(UNIT_JOBS)

# The integration tests drive the real binary with real clients; Debian's
# python3 (with python3-redis and python3-pytest) runs them.  The node
# packages are installed only where npm is (test_clients.py skips without
# node).
PYTHON := /usr/bin/python3
integration-test: $(SERVER) $(HIREDIS_TEST) \
	$(if $(shell command -v npm),$(NODE_TESTS)/node_modules)
	RF_BINARY=$(abspath $(SERVER)) RF_HIREDIS_TEST=$(abspath $(HIREDIS_TEST)) \
		RF_SANITIZE=$(SANITIZE) \
		$(PYTHON) -m pytest -q -p no:cacheprovider redis-tests

test: deps
	$(MAKE) all
	$(MAKE) format-check
	$(MAKE) unit-test
	$(MAKE) integration-test

FORMAT_FILES = $(wildcard src/*.[ch] src/*/*.[ch] tests/*.[ch] tests/tsan/*.[ch] tests/tsan/*/*.h bench/*.[ch])

format:
	clang-format -i $(FORMAT_FILES)

format-check:
	clang-format --dry-run -Werror $(FORMAT_FILES)

# Starts the server in the foreground on 127.0.0.1:6379 with
# redis-faster.conf (data directory ./data).
run: deps
	$(MAKE) $(SERVER)
	$(SERVER) redis-faster.conf

bench: all
	bench/engine-bench.sh

clean:
	rm -rf build

help:
	@sed -n '1,12p' Makefile

-include $(SERVER_OBJS:.o=.d) $(ENGINE_OBJS:.o=.d) $(RESP_OBJS:.o=.d) $(NET_OBJS:.o=.d) \
	$(DEVICE_OBJS:.o=.d) \
	$(TEST_OBJS:.o=.d) \
	$(BENCH_OBJS:.o=.d) $(HIREDIS_TEST_OBJS:.o=.d)

# The larger-than-memory benchmark's load generator on Debian's libhiredis
# (bench/larger-than-memory.sh; not part of `all`).
LTM_CLIENT := $(BUILD)/ltm-client
LTM_CLIENT_OBJS := $(BUILD)/obj/bench/ltm_client.o

.PHONY: ltm-client
ltm-client: $(LTM_CLIENT)

$(LTM_CLIENT): $(LTM_CLIENT_OBJS)
	$(CC) $(LDFLAGS) -o $@ $(LTM_CLIENT_OBJS) -lhiredis -lm

-include $(LTM_CLIENT_OBJS:.o=.d)
