# SPDX-License-Identifier: MIT OR Apache-2.0
#
# rsm: build and install the C library, headers and binaries.
#
#   make                              cargo build --release (librsm, rsmd, rsmctl)
#   make install PREFIX=/usr/local    installs:
#       $(PREFIX)/lib/librsm.so.2 (+ librsm.so -> librsm.so.2), $(PREFIX)/lib/librsm.a
#       $(PREFIX)/include/rsmapi.h, $(PREFIX)/include/sys/rsm/{rsm_common,rsmapi_common}.h
#       $(PREFIX)/lib/pkgconfig/rsm.pc
#       $(PREFIX)/bin/rsmd, $(PREFIX)/bin/rsmctl
#   make c-tests                      the C ABI tests (sanitizers, valgrind, two processes,
#                                     two nodes, the examples), driven by cargo test
#   make uninstall PREFIX=...
#
# DESTDIR is honoured (staged installs).  PROFILE=dev builds and installs the debug build.

CARGO ?= cargo
PREFIX ?= /usr/local
DESTDIR ?=
PROFILE ?= release
BINDIR = $(DESTDIR)$(PREFIX)/bin
LIBDIR = $(DESTDIR)$(PREFIX)/lib
INCDIR = $(DESTDIR)$(PREFIX)/include
PCDIR = $(LIBDIR)/pkgconfig

# Where cargo puts the build (CARGO_TARGET_DIR is honoured).
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)
ifeq ($(PROFILE),dev)
OUT = $(TARGET_DIR)/debug
else
OUT = $(TARGET_DIR)/$(PROFILE)
endif

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
HEADERS = crates/rsm-ffi/include
SONAME = librsm.so.2
# What a static link against librsm.a needs besides it (rustc --print native-static-libs).
STATIC_LIBS = -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc

all: build

build:
	$(CARGO) build --profile $(PROFILE) -p rsm-ffi -p rsmd -p rsm-cli

install: build
	install -d $(BINDIR) $(LIBDIR) $(PCDIR) $(INCDIR)/sys/rsm
	install -m 755 $(OUT)/librsm.so $(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(LIBDIR)/librsm.so
	install -m 644 $(OUT)/librsm.a $(LIBDIR)/librsm.a
	install -m 644 $(HEADERS)/rsmapi.h $(INCDIR)/rsmapi.h
	install -m 644 $(HEADERS)/sys/rsm/rsm_common.h $(HEADERS)/sys/rsm/rsmapi_common.h $(INCDIR)/sys/rsm/
	install -m 755 $(OUT)/rsmd $(BINDIR)/rsmd
	@if [ -x $(OUT)/rsmctl ]; then install -m 755 $(OUT)/rsmctl $(BINDIR)/rsmctl; \
		else echo "note: rsmctl was not built; not installed"; fi
	printf '%s\n' \
		'prefix=$(PREFIX)' \
		'exec_prefix=$${prefix}' \
		'libdir=$${exec_prefix}/lib' \
		'includedir=$${prefix}/include' \
		'' \
		'Name: rsm' \
		'Description: Remote Shared Memory API (the Solaris RSMAPI, librsm) for Linux' \
		'Version: $(VERSION)' \
		'URL: https://example.invalid/rsm' \
		'Libs: -L$${libdir} -lrsm' \
		'Libs.private: $(STATIC_LIBS)' \
		'Cflags: -I$${includedir}' > $(PCDIR)/rsm.pc
	@echo "installed rsm $(VERSION) in $(DESTDIR)$(PREFIX)"

uninstall:
	rm -f $(LIBDIR)/$(SONAME) $(LIBDIR)/librsm.so $(LIBDIR)/librsm.a $(PCDIR)/rsm.pc
	rm -f $(INCDIR)/rsmapi.h $(INCDIR)/sys/rsm/rsm_common.h $(INCDIR)/sys/rsm/rsmapi_common.h
	-rmdir $(INCDIR)/sys/rsm $(INCDIR)/sys 2>/dev/null
	rm -f $(BINDIR)/rsmd $(BINDIR)/rsmctl

c-tests:
	$(CARGO) test -p rsm-testkit --test c_abi -- --nocapture

.PHONY: all build install uninstall c-tests
