# stepfs: plain GNU make, pkg-config, objects in build/<flavour>/
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= /sbin
UNITDIR    ?= $(PREFIX)/lib/systemd/system
PKG_CONFIG ?= pkg-config
# SAN=address,undefined or SAN=thread: sanitizer build in its own directory
SAN        ?=
comma      := ,
O          := build/$(if $(SAN),$(subst $(comma),-,$(SAN)),default)
PKGS       := fuse3 libcurl jansson openssl sqlite3 libxml-2.0 libpcre2-8
# libinotifytools ships no .pc file (upstream or Debian), so fall back to -l
INOTIFY    := $(shell $(PKG_CONFIG) --libs libinotifytools 2>/dev/null || echo -linotifytools)
CFLAGS     ?= -O2 -g
WARN       := -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes \
              -Wmissing-prototypes -Wwrite-strings -Wvla -Wno-unused-parameter
CPPFLAGS   += -I. -D_GNU_SOURCE -DFUSE_USE_VERSION=312 $(shell $(PKG_CONFIG) --cflags $(PKGS))
LDLIBS     += $(shell $(PKG_CONFIG) --libs $(PKGS)) $(INOTIFY) -pthread -lm
ifneq ($(SAN),)
CFLAGS     += -O1 -fno-omit-frame-pointer -fsanitize=$(SAN) -fno-sanitize-recover=all
LDFLAGS    += -fsanitize=$(SAN)
endif
LIB_SRC    := $(wildcard engine/*.c) $(filter-out fs/main.c,$(wildcard fs/*.c))
LIB_OBJ    := $(LIB_SRC:%.c=$(O)/%.o)
TESTS      := $(patsubst tests/%.c,$(O)/tests/%,$(wildcard tests/test_*.c))
HELPERS    := $(patsubst tests/%.c,$(O)/tests/%,$(wildcard tests/helper_*.c))

all: $(O)/stepfs

$(O)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -MMD -MP -c -o $@ $<

$(O)/libstepfs.a: $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(O)/stepfs: $(O)/fs/main.o $(O)/libstepfs.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# unit tests see the UNITTEST-marked statics of the module under test
$(O)/tests/%.o: tests/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -DUNITTESTS $(CFLAGS) $(WARN) -MMD -MP -c -o $@ $<

$(O)/tests/%: $(O)/tests/%.o $(O)/libstepfs.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# make check: unit tests, conformance and integration scripts, one summary line
check: $(O)/stepfs $(TESTS) $(HELPERS)
	@O=$(O) tests/run.sh $(TESTS)

unit-bins: $(TESTS) $(HELPERS)

# make unit: just the C unit-test binaries (quick)
unit: $(TESTS) $(HELPERS)
	@O=$(O) STEPFS_ONLY_UNIT=1 tests/run.sh $(TESTS)

asan:
	$(MAKE) SAN=address,undefined unit
tsan:
	$(MAKE) SAN=thread unit

# make bench: the engine benchmark, side by side with aws-local-stepfunctions (not in check)
bench: $(O)/tests/bench/bench_engine
	@O=$(O) tests/bench/engine.sh

# make fuzz: each tests/fuzz/*.c is a libFuzzer target, built with clang and ASan+UBSan
# against the library sources in build/fuzz/, then run FUZZ_SECONDS each (tests/fuzz/run.sh)
FUZZ_SECONDS ?= 300
FUZZ_CC    ?= clang
FUZZ_O     := build/fuzz
FUZZ_CFLAGS := -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZERS    := $(patsubst tests/fuzz/%.c,$(FUZZ_O)/%,$(wildcard tests/fuzz/*.c))

$(FUZZ_O)/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

$(FUZZ_O)/libstepfs.a: $(LIB_SRC:%.c=$(FUZZ_O)/%.o)
	@rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_O)/fuzz_%: $(FUZZ_O)/tests/fuzz/fuzz_%.o $(FUZZ_O)/libstepfs.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

fuzz-bins: $(FUZZERS)

fuzz: $(FUZZERS)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh $(FUZZERS)

install: $(O)/stepfs
	install -D -m 0755 $(O)/stepfs $(DESTDIR)$(BINDIR)/stepfs
	install -d $(DESTDIR)$(SBINDIR)
	ln -sf $(BINDIR)/stepfs $(DESTDIR)$(SBINDIR)/mount.stepfs
	ln -sf $(BINDIR)/stepfs $(DESTDIR)$(SBINDIR)/mount.fuse.stepfs
	for u in systemd/*.service.in; do \
		install -d $(DESTDIR)$(UNITDIR); \
		sed 's|@BINDIR@|$(BINDIR)|g' "$$u" > $(DESTDIR)$(UNITDIR)/$$(basename $$u .in); \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$(basename $$u .in); \
	done
	install -d $(DESTDIR)$(PREFIX)/share/doc/stepfs/examples
	install -m 0644 systemd/*.example README.md $(DESTDIR)$(PREFIX)/share/doc/stepfs/examples/

# the README's first command: mount a local bucket with an example workflow
demo:
	workflows/demo.sh

clean:
	rm -rf build

.PHONY: all check unit unit-bins demo asan tsan install clean bench fuzz fuzz-bins
.SECONDARY:
-include $(shell find build -name '*.d' 2>/dev/null)
