# pinetboot: one binary plus test and fuzz binaries.
#   make                 release-style build, binary at build/pinetboot
#   make BUILD=asan      ASan+UBSan build in build/asan/
#   make BUILD=debug     unoptimised build in build/debug/
#   make BUILD=fuzz      libFuzzer targets (clang-14) in build/fuzz/
#   make check           unit tests, fuzz-corpus replay, end-to-end tests
#   make format / format-check / lint

BUILD ?= default
ifeq ($(BUILD),default)
OUT := build
else
OUT := build/$(BUILD)
endif

CC_GCC   ?= gcc
CC_CLANG ?= clang-14

WARN := -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wformat=2 \
	-Wstrict-prototypes -Wmissing-prototypes -Wvla
HARDEN := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
HARDEN_LD := -pie -Wl,-z,relro,-z,now
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all

ifeq ($(BUILD),asan)
CC := $(CC_GCC)
OPT := -O1 -g $(SAN)
LDOPT := $(SAN)
else ifeq ($(BUILD),debug)
CC := $(CC_GCC)
OPT := -O0 -g
LDOPT :=
else ifeq ($(BUILD),fuzz)
CC := $(CC_CLANG)
OPT := -O1 -g -fsanitize=fuzzer-no-link,address,undefined \
	-fno-omit-frame-pointer -DPNB_FUZZ
LDOPT := -fsanitize=fuzzer,address,undefined
else ifeq ($(filter $(BUILD),default release),$(BUILD))
CC := $(CC_GCC)
OPT := -O2 -g $(HARDEN)
LDOPT := $(HARDEN_LD)
else
$(error BUILD must be one of default, release, debug, asan, fuzz)
endif

PKGS := ext2fs com_err liblzma libzstd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS_ALL := $(WARN) $(OPT) -Isrc $(PKG_CFLAGS) -MMD -MP $(CFLAGS)
LDFLAGS_ALL := $(LDOPT) $(LDFLAGS)
LIBS := $(PKG_LIBS) -lpthread

VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

LIB_SRC := $(filter-out src/cli/main.c,$(shell find src -name '*.c' | sort))
LIB_OBJ := $(LIB_SRC:%.c=$(OUT)/obj/%.o)
MAIN_OBJ := $(OUT)/obj/src/cli/main.o

UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(OUT)/tests/%)
T_OBJ := $(OUT)/obj/tests/unit/t.o

FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_NAMES := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
ifeq ($(BUILD),fuzz)
FUZZ_BIN := $(FUZZ_NAMES:%=$(OUT)/fuzz/fuzz_%)
else
FUZZ_BIN := $(FUZZ_NAMES:%=$(OUT)/fuzz/replay_%)
endif

BENCH_SRC := $(sort $(wildcard bench/*.c))
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(OUT)/bench/%)

# Test peers written for this project (emulators, load generators used by
# e2e tests): one program per file.
TOOL_SRC := $(sort $(wildcard tests/tools/*.c))
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(OUT)/tools/%)
# pi_emu's Linux half (the kernel's DHCP and the NFS replay) lives in
# tests/tools/pi_emu/ and links into pi_emu alone.
PI_EMU_SRC := $(sort $(wildcard tests/tools/pi_emu/*.c))
PI_EMU_OBJ := $(PI_EMU_SRC:%.c=$(OUT)/obj/%.o)

ALL_OBJ := $(LIB_OBJ) $(MAIN_OBJ) $(T_OBJ) \
	$(UNIT_SRC:%.c=$(OUT)/obj/%.o) $(FUZZ_SRC:%.c=$(OUT)/obj/%.o) \
	$(OUT)/obj/tests/fuzz/replay.o $(BENCH_SRC:%.c=$(OUT)/obj/%.o) \
	$(TOOL_SRC:%.c=$(OUT)/obj/%.o) $(PI_EMU_OBJ)

# Objects are kept, not deleted as intermediates, so rebuilds stay quick.
.SECONDARY:

.PHONY: all tests tools fuzz bench check man format format-check lint clean install

ifeq ($(BUILD),fuzz)
all: fuzz
else
all: $(OUT)/pinetboot tests tools fuzz bench
endif

tests: $(UNIT_BIN)
tools: $(TOOL_BIN)
fuzz: $(FUZZ_BIN)
bench: $(BENCH_BIN)

$(OUT)/obj/src/cli/main.o: CFLAGS_ALL += -DPNB_VERSION='"$(VERSION)"'

$(OUT)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(OUT)/libpnb.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(OUT)/pinetboot: $(MAIN_OBJ) $(OUT)/libpnb.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(OUT)/tests/%: $(OUT)/obj/tests/unit/%.o $(T_OBJ) $(OUT)/libpnb.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(OUT)/fuzz/replay_%: $(OUT)/obj/tests/fuzz/fuzz_%.o \
    $(OUT)/obj/tests/fuzz/replay.o $(OUT)/libpnb.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(OUT)/fuzz/fuzz_%: $(OUT)/obj/tests/fuzz/fuzz_%.o $(OUT)/libpnb.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(OUT)/tools/%: $(OUT)/obj/tests/tools/%.o $(OUT)/libpnb.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(OUT)/tools/pi_emu: $(OUT)/obj/tests/tools/pi_emu.o $(PI_EMU_OBJ) \
    $(OUT)/libpnb.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS) -lnfs

$(OUT)/bench/%: $(OUT)/obj/bench/%.o $(OUT)/libpnb.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

# Unit tests, fuzz-corpus replay, then end-to-end tests; the last line is
# "N passed, N failed".
check: all
	tests/run $(OUT)

CLANG_FORMAT ?= clang-format
FORMAT_FILES = $(shell git ls-files --cached --others --exclude-standard \
	'*.c' '*.h' 2>/dev/null)

format:
	$(CLANG_FORMAT) -i $(FORMAT_FILES)

format-check:
	@out=$$($(CLANG_FORMAT) --dry-run $(FORMAT_FILES) 2>&1); \
	if [ -n "$$out" ]; then echo "$$out" | head -40; \
	echo "format-check: run 'make format'"; exit 1; fi

# Codecs stay I/O-free: src/proto and src/image/{disk,fat} may include only
# libc, their own headers and core/{cur,buf,err}.h.  The layer library
# depends on core alone, so servers and provisioning can both use it.
lint:
	@bad=$$(grep -nE '^#include "' $$(find src/proto src/image/disk \
	    src/image/fat -name '*.[ch]' 2>/dev/null) /dev/null | \
	    grep -vE '"core/(cur|buf|err)\.h"' | \
	    grep -vE ':#include "(proto|image/disk|image/fat)/' | \
	    grep -vE '"[a-z0-9_]+\.h"'); \
	if [ -n "$$bad" ]; then echo "$$bad"; \
	echo "lint: codecs may include only core/cur.h, core/buf.h, core/err.h"; \
	exit 1; fi
	@bad=$$(grep -nE '^#include "' $$(find src/layer -name '*.[ch]' \
	    2>/dev/null) /dev/null | grep -vE ':#include "(core|layer)/'); \
	if [ -n "$$bad" ]; then echo "$$bad"; \
	echo "lint: src/layer may include only core/ and layer/ headers"; \
	exit 1; fi

man: $(OUT)/pinetboot.8

$(OUT)/pinetboot.8: docs/pinetboot.8.md scripts/mkman VERSION
	@mkdir -p $(dir $@)
	scripts/mkman $< $@

# Installs the binary, the man page, the systemd unit and a commented
# example config (never over an existing /etc/pinetboot/pinetboot.conf).
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
UNITDIR ?= /lib/systemd/system
DESTDIR ?=
install: $(OUT)/pinetboot $(OUT)/pinetboot.8
	install -D -m 0755 $(OUT)/pinetboot $(DESTDIR)$(PREFIX)/bin/pinetboot
	install -D -m 0644 $(OUT)/pinetboot.8 \
	    $(DESTDIR)$(PREFIX)/share/man/man8/pinetboot.8
	sed 's|/usr/local/bin/|$(PREFIX)/bin/|' dist/pinetboot.service | \
	    install -D -m 0644 /dev/stdin $(DESTDIR)$(UNITDIR)/pinetboot.service
	install -D -m 0644 dist/pinetboot.conf.example \
	    $(DESTDIR)$(PREFIX)/share/doc/pinetboot/pinetboot.conf.example
	install -D -m 0755 scripts/demo.sh \
	    $(DESTDIR)$(PREFIX)/share/pinetboot/demo.sh
	install -D -m 0644 tests/lib/netns.sh \
	    $(DESTDIR)$(PREFIX)/share/pinetboot/lib/netns.sh
	install -D -m 0644 tests/lib/guest.sh \
	    $(DESTDIR)$(PREFIX)/share/pinetboot/lib/guest.sh
	test -e $(DESTDIR)$(SYSCONFDIR)/pinetboot/pinetboot.conf || \
	    install -D -m 0644 dist/pinetboot.conf.example \
	    $(DESTDIR)$(SYSCONFDIR)/pinetboot/pinetboot.conf

clean:
	rm -rf build

-include $(ALL_OBJ:.o=.d)

# Test and benchmark clients built on libnfs (libnfs-dev).
$(OUT)/tools/nfs_client: LIBS += -lnfs
$(OUT)/bench/nfs_bench: LIBS += -lnfs
