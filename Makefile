# vmaquery: see README.md. `make help` lists the targets.
#
# Everything is built under $(O) (default build/). The kernel trees live in
# build/kernel/BASE whatever O is, so every build shares them. KBASE picks
# the base a kernel target works on: 7.3 (mainline, the default) or 6.12
# (the LTS backport); each has its series in kernel/BASE/patches.

.DEFAULT_GOAL := all
SHELL := /bin/bash

O ?= build
ifeq ($(origin CC),default)
CC := gcc
endif
ifeq ($(origin CXX),default)
CXX := g++
endif
V ?= 0
Q := $(if $(filter 1,$(V)),,@)
msg = $(if $(filter 1,$(V)),,@printf '  %-8s %s\n' '$(1)' '$(2)';)

hdr_ver = $(shell sed -n 's/^\#define VMAQ_VERSION_$(1) //p' libvmaquery/vmaquery.h)
VERSION := $(call hdr_ver,MAJOR).$(call hdr_ver,MINOR).$(call hdr_ver,PATCH)
SOVERSION := $(call hdr_ver,MAJOR)
MAP_NODE := LIBVMAQUERY_$(call hdr_ver,MAJOR).$(call hdr_ver,MINOR)

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DESTDIR ?=

CFLAGS ?= -O2 -g
SAN ?=
WARNINGS := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith -Wformat=2 -Wundef -Wvla
BASE_CFLAGS := -std=gnu11 -D_GNU_SOURCE -Iuapi -Ilibvmaquery $(WARNINGS) \
	$(CFLAGS) $(SAN)
LDFLAGS ?=
LIBS :=

# Kernel trees (shared by every $(O)).
KBASE ?= 7.3
export KBASE
KBASES := 7.3 6.12
KDIR := build/kernel/$(KBASE)
KSRC := $(KDIR)/src
# Upstream's proc selftests always come from mainline's tree (the 6.12
# series is tested with them too), built against the patched 7.3 tree's
# installed headers. The project's own tests use the kselftest harness
# of the 6.12 tree: 7.x's runs each test in a process it tracks with a
# pidfd, which Debian 12's valgrind cannot follow.
UPDIR := build/kernel/7.3
UPSFT := $(UPDIR)/src/tools/testing/selftests
UPHDR := $(UPDIR)/headers
KSFT := build/kernel/6.12/src/tools/testing/selftests
VARIANT ?= patched
FLAVOUR ?= debug
KIMAGE = $(KDIR)/out/$(VARIANT)-$(FLAVOUR)/arch/x86/boot/bzImage
KHDR := $(KDIR)/headers

# ---------------------------------------------------------------- library
LIB_SRCS := $(wildcard libvmaquery/*.c)
LIB_OBJS := $(patsubst %.c,$(O)/obj/%.o,$(LIB_SRCS))
LIB_SO := $(O)/lib/libvmaquery.so.$(VERSION)
LIB_A := $(O)/lib/libvmaquery.a
# Backends and the helpers they share: they include backend.h, never the core.
LIB_LEAVES := $(wildcard libvmaquery/backend_*.c) libvmaquery/record.c \
	libvmaquery/maps.c libvmaquery/parse.c libvmaquery/buildid.c
LIB_HDRS := libvmaquery/vmaquery.h libvmaquery/internal.h libvmaquery/backend.h \
	libvmaquery/table.h uapi/linux/vmaquery_uapi.h

$(O)/obj/libvmaquery/%.o: libvmaquery/%.c $(LIB_HDRS) | $(O)/.dirs
	$(call msg,CC,$@)
	$(Q)$(CC) $(BASE_CFLAGS) -fPIC -fvisibility=hidden -c -o $@ $<

$(LIB_SO): $(LIB_OBJS) libvmaquery/libvmaquery.map
	$(call msg,CCLD,$@)
	$(Q)grep -q '^$(MAP_NODE) {' libvmaquery/libvmaquery.map || \
	  { echo "libvmaquery.map: newest node must be $(MAP_NODE)"; exit 1; }
	$(Q)! grep -l '^#include "\(internal\|table\)\.h"' $(LIB_LEAVES) || \
	  { echo "backends and helpers must not reach into the core (backend.h only)"; exit 1; }
	$(Q)$(CC) $(SAN) -shared -Wl,-soname,libvmaquery.so.$(SOVERSION) \
	  -Wl,--version-script=libvmaquery/libvmaquery.map -Wl,-z,defs \
	  -o $@ $(LIB_OBJS) $(LDFLAGS) $(LIBS)
	$(Q)ln -sf libvmaquery.so.$(VERSION) $(O)/lib/libvmaquery.so.$(SOVERSION)
	$(Q)ln -sf libvmaquery.so.$(SOVERSION) $(O)/lib/libvmaquery.so

$(LIB_A): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

# The pkg-config file names install paths, so `make install` writes it.
# Libs.private: what a static link of the library needs besides it
# (threads, which glibc 2.34+ has in libc itself).
PC_SUBST := -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|' \
	-e 's|@LIBS_PRIVATE@|$(strip $(LIBS) -pthread)|' \
	-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|; s|@VERSION@|$(VERSION)|'

lib: $(LIB_SO) $(LIB_A)

# ---------------------------------------------------------------- CLI
CLI_SRCS := $(wildcard tools/vmaquery/*.c)
CLI_HDRS := $(wildcard tools/vmaquery/*.h)
CLI := $(O)/bin/vmaquery

# The tool finds the library of its own tree; a distribution's build (the
# Debian packages) sets CLI_RPATH empty and the system's loader finds it.
CLI_RPATH ?= -Wl,-rpath,'$$ORIGIN/../lib'
$(CLI): $(CLI_SRCS) $(CLI_HDRS) $(LIB_SO) | $(O)/.dirs
	$(call msg,CCLD,$@)
	$(Q)$(CC) $(BASE_CFLAGS) -DVMAQ_TOOL_VERSION='"$(VERSION)"' -o $@ \
	  $(CLI_SRCS) -L$(O)/lib -lvmaquery $(CLI_RPATH) $(LDFLAGS)

# ---------------------------------------------------------------- tests
# Host tests: every tests/lib/*.c and tests/kernel/*.c is one kselftest-
# harness program, linked with the static library (internals included, so
# the parser can be tested directly).
TEST_SRCS := $(wildcard tests/lib/*.c tests/kernel/*.c)
TEST_BINS := $(patsubst tests/%.c,$(O)/tests/%,$(TEST_SRCS))
TEST_HDRS := $(wildcard tests/*.h)
TEST_CFLAGS = $(BASE_CFLAGS) -Wno-missing-prototypes -Wno-unused-parameter \
	-Wno-sign-compare -isystem $(KSFT) -Itests \
	-DVMAQ_BUILD_DIR='"$(abspath $(O))"'

$(KSFT)/kselftest_harness.h:
	$(Q)KBASE=6.12 kernel/scripts/prepare

$(UPSFT)/kselftest_harness.h:
	$(Q)KBASE=7.3 kernel/scripts/prepare

$(O)/tests/%: tests/%.c $(TEST_HDRS) $(LIB_A) | $(KSFT)/kselftest_harness.h $(O)/.dirs
	$(call msg,CCLD,$@)
	$(Q)$(CC) $(TEST_CFLAGS) -o $@ $< $(LIB_A) $(LIBS) -lpthread

tests: $(TEST_BINS)

# The same programs, static, for the VM (its initramfs has no libc), plus
# upstream's own proc selftests (tests/vm/build-upstream).
VM_BINS := $(patsubst tests/%.c,$(O)/vm/%,$(filter-out tests/kernel/uapi_agree.c,$(TEST_SRCS)))
VM_UPSTREAM := $(O)/vm/upstream/.built
VM_BENCH_BINS := $(O)/vm/bench/contention $(O)/vm/bench/batchbench $(O)/vm/bench/libbench \
	$(O)/vm/bench/sysbench

# The VM's static library: the same objects, not position-independent.
VM_LIB_OBJS := $(patsubst %.c,$(O)/vm/obj/%.o,$(LIB_SRCS))
VM_LIB_A := $(O)/vm/libvmaquery.a

$(O)/vm/obj/libvmaquery/%.o: libvmaquery/%.c $(LIB_HDRS) | $(O)/.dirs
	$(call msg,CC,$@)
	$(Q)$(CC) $(BASE_CFLAGS) -c -o $@ $<

$(VM_LIB_A): $(VM_LIB_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^

$(O)/vm/%: tests/%.c $(TEST_HDRS) $(VM_LIB_A) | $(KSFT)/kselftest_harness.h $(O)/.dirs
	$(call msg,CCLD,$@ [static])
	$(Q)$(CC) $(TEST_CFLAGS) -static -o $@ $< $(VM_LIB_A) -lpthread

# The series of each base as applied to its tree: prepare re-applies
# kernel/BASE/patches when they change (and refuses to run over unexported
# work there). Then the tree's installed UAPI headers.
define kbase_rules
build/kernel/$(1)/src/.git/vmaquery-series: $$(wildcard kernel/$(1)/patches/*.patch)
	$$(Q)KBASE=$(1) kernel/scripts/prepare
	$$(Q)touch $$@

build/kernel/$(1)/headers/include/linux/fs.h: build/kernel/$(1)/src/.git/vmaquery-series
	$$(call msg,HDRINST,build/kernel/$(1)/headers)
	$$(Q)$$(MAKE) -s -C build/kernel/$(1)/src O=$$(abspath build/kernel/$(1))/out/headers \
	  INSTALL_HDR_PATH=$$(abspath build/kernel/$(1)/headers) headers_install
	$$(Q)touch $$@
endef
$(foreach b,$(KBASES),$(eval $(call kbase_rules,$(b))))
KSERIES := $(KSRC)/.git/vmaquery-series
KHDR := $(KDIR)/headers

# 32-bit (compat) tests: -m32, static, for the VM only.
VM_COMPAT_BINS := $(patsubst tests/compat/%.c,$(O)/vm/compat/%,$(wildcard tests/compat/*.c))

$(O)/vm/compat/%: tests/compat/%.c uapi/linux/vmaquery_uapi.h | $(KSFT)/kselftest_harness.h $(O)/.dirs
	$(call msg,CCLD,$@ [static, 32-bit])
	$(Q)$(CC) -m32 -std=gnu11 -D_GNU_SOURCE -Iuapi $(WARNINGS) -Wno-missing-prototypes \
	  -Wno-unused-parameter -Wno-sign-compare -isystem $(KSFT) -O2 -g -static -o $@ $<

# tests/kernel/uapi_agree: our uapi/ copy against the kernel's own headers
# (host only: it checks numbers, not a kernel).
UAPI_KOBJ := $(O)/tests/uapi/kernel_layout.o
$(UAPI_KOBJ): tests/uapi/kernel_layout.c tests/uapi_layout.h $(UPHDR)/include/linux/fs.h | $(O)/.dirs
	$(call msg,CC,$@)
	$(Q)$(CC) -std=gnu11 -Wall -Wextra -Werror -isystem $(UPHDR)/include -Itests \
	  $(CFLAGS) $(SAN) -c -o $@ $<

$(O)/tests/kernel/uapi_agree: tests/kernel/uapi_agree.c uapi/linux/vmaquery_uapi.h $(TEST_HDRS) $(UAPI_KOBJ) | $(KSFT)/kselftest_harness.h $(O)/.dirs
	$(call msg,CCLD,$@)
	$(Q)$(CC) $(TEST_CFLAGS) -o $@ $< $(UAPI_KOBJ)

$(VM_UPSTREAM): $(UPHDR)/include/linux/fs.h tests/vm/build-upstream | $(O)/.dirs
	$(call msg,CCLD,$(O)/vm/upstream [static, tools/testing/selftests/proc])
	$(Q)tests/vm/build-upstream $(UPSFT)/proc $(UPHDR)/include $(O)/vm/upstream
	$(Q)touch $@

$(O)/vm/base.cpio.gz: $(VM_BINS) $(VM_COMPAT_BINS) $(VM_UPSTREAM) $(VM_BENCH_BINS) \
		tests/vm/init tests/vm/mkinitramfs tests/vm/run-all tests/run-tap
	$(call msg,INITRD,$@)
	$(Q)tests/vm/mkinitramfs $@ $(VM_BINS) $(VM_COMPAT_BINS) --upstream $(O)/vm/upstream \
	  --bench $(VM_BENCH_BINS)

vm-initrd: $(O)/vm/base.cpio.gz

# Layered on the base archive in the patched kernel's vm-check: Python,
# pytest and the binding, so the binding's batch path runs where the batch
# ioctl exists.
$(O)/vm/python.cpio.gz: $(LIB_SO) $(CLI) tests/vm/mkpython tests/python/pytest-tap \
		$(wildcard bindings/python/vmaquery/*.py bindings/python/tests/*.py)
	$(call msg,INITRD,$@)
	$(Q)tests/vm/mkpython $@ . $(O)

# ---------------------------------------------------------------- benchmarks
# Host benchmarks; bench/contention.c runs only inside the VM (VM_BENCH_BINS
# is defined with the other VM programs, above: prerequisites expand at once).
VM_BENCH_SRCS := bench/contention.c bench/batchbench.c
BENCH_BINS := $(patsubst bench/%.c,$(O)/bench/%,$(filter-out $(VM_BENCH_SRCS),$(wildcard bench/*.c)))

$(O)/vm/bench/%: bench/%.c uapi/linux/vmaquery_uapi.h | $(O)/.dirs
	$(call msg,CCLD,$@ [static])
	$(Q)$(CC) $(BASE_CFLAGS) -Wno-missing-prototypes -static -o $@ $<

# The batch and library benchmarks measure the library: linked with it.
$(O)/vm/bench/batchbench $(O)/vm/bench/libbench $(O)/vm/bench/sysbench: $(O)/vm/bench/%: bench/%.c bench/rawmaps.h \
		uapi/linux/vmaquery_uapi.h libvmaquery/vmaquery.h $(VM_LIB_A) | $(O)/.dirs
	$(call msg,CCLD,$@ [static])
	$(Q)$(CC) $(BASE_CFLAGS) -Wno-missing-prototypes -static -o $@ $< $(VM_LIB_A)

$(O)/bench/%: bench/%.c bench/rawmaps.h libvmaquery/vmaquery.h $(LIB_A) | $(O)/.dirs
	$(call msg,CCLD,$@)
	$(Q)$(CC) $(BASE_CFLAGS) -Wno-missing-prototypes -o $@ $< $(LIB_A) $(LIBS)

bench-lib: $(O)/bench/libbench
	$(Q)$(O)/bench/libbench

# Every benchmark in one run, then bench/REPORT.md and its plots
# (QUICK=1: a few minutes).
bench: all $(O)/vm/base.cpio.gz
	$(Q)QUICK=$(QUICK) bench/run-all

# The contention benchmark: stock and patched perf kernels, one run.
bench-contention: $(O)/vm/base.cpio.gz
	$(Q)bench/run-contention

# perf from the 7.3 tree's tools/perf, static, for the busybox VM
# (build/perf/7.3-stock/perf): the profiler whose mapping synthesis a
# patched perf is to be measured against.
perf: deps
	$(Q)kernel/scripts/build-perf

# ---------------------------------------------------------------- fuzzing
# libFuzzer (clang + libclang-rt-14-dev) over the whole text backend. The
# seed corpus is kept in tests/fuzz/corpus; what a run finds grows a copy
# under $(O)/fuzz. FUZZ_TIME is in seconds.
FUZZ_TIME ?= 60
FUZZER := $(O)/fuzz/maps_fuzz

$(FUZZER): tests/fuzz/maps_fuzz.c $(LIB_SRCS) $(LIB_HDRS)
	$(call msg,FUZZ,$@)
	$(Q)mkdir -p $(O)/fuzz/corpus
	$(Q)clang -std=gnu11 -D_GNU_SOURCE -Iuapi -Ilibvmaquery \
	  -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	  -o $@ tests/fuzz/maps_fuzz.c $(LIB_SRCS)

fuzz: $(FUZZER)
	$(Q)cp -n tests/fuzz/corpus/* $(O)/fuzz/corpus/ 2>/dev/null || true
	$(Q)$(FUZZER) -max_total_time=$(FUZZ_TIME) -max_len=16384 -timeout=10 \
	  -print_final_stats=1 $(O)/fuzz/corpus

# ---------------------------------------------------------------- top
all: lib $(CLI) tests $(BENCH_BINS)

$(O)/.dirs: Makefile
	$(Q)mkdir -p $(O)/obj/libvmaquery $(O)/vm/obj/libvmaquery $(O)/bench $(O)/lib $(O)/bin $(O)/results \
	  $(O)/tests/lib $(O)/tests/kernel $(O)/tests/uapi $(O)/vm/lib $(O)/vm/kernel \
	  $(O)/vm/upstream $(O)/vm/bench $(O)/vm/compat
	$(Q)touch $@

deps:
	$(Q)scripts/install-deps

run: deps all
	$(Q)tools/run-demo $(CLI)

check: deps
	$(Q)tests/check

check-host: deps
	$(Q)tests/check --host

kernel: deps
	$(Q)kernel/scripts/build $(VARIANT) $(FLAVOUR)

kernel-export:
	$(Q)kernel/scripts/export

VM_TIMEOUT ?= 1800
# The command reaches the shell untouched: no make expansion of its $.
export VMAQ_VM_CMD := $(value CMD)
vm-run: $(O)/vm/base.cpio.gz
	$(Q)test -f $(KIMAGE) || kernel/scripts/build $(VARIANT) $(FLAVOUR)
	$(Q)tests/vm/run -k $(KIMAGE) -i $< -t $(VM_TIMEOUT) -- "$$VMAQ_VM_CMD"

vm-shell: $(O)/vm/base.cpio.gz
	$(Q)test -f $(KIMAGE) || kernel/scripts/build $(VARIANT) $(FLAVOUR)
	$(Q)tests/vm/run -s -k $(KIMAGE) -i $<

# make check's bounded run of the ioctl fuzzer in the VM, in seconds per
# ioctl: longest on the patched kernels, whose code it is there to break;
# less on stock, whose PROCMAP_QUERY is upstream's. make torture runs it
# for DURATION (600 s) per ioctl; make check keeps to its time budget
# (cold, under an hour on 2 cores).
VM_FUZZ_SECONDS_patched ?= 30
VM_FUZZ_SECONDS_stock ?= 15
VM_LAYERS_patched := $(O)/vm/python.cpio.gz
# the walks cut short by exit or exec (tests/lib/backends.c): pairs of
# VMAs in the target, fewer than on the host so that the debug kernels
# make them within the harness's timeout under TCG
VM_CUT_PAIRS ?= 3000
# what each kernel must offer: tests that find less fail, not skip
VM_BACKENDS_patched := batch,query,text
VM_BACKENDS_stock := query,text
# Upstream's proc selftests run on every kernel (proc-maps-race for
# UPSTREAM_DURATION seconds per test); VM_UPSTREAM_SKIP_<base>_<variant>
# names those a kernel is known not to pass yet, reported as skips.
UPSTREAM_DURATION ?= 20
# (The reasons reach the guest in single quotes: no apostrophes.)
VM_UPSTREAM_SKIP_6.12_patched := proc-maps-race proc-maps-batch proc-pidns
VM_UPSTREAM_WHY_6.12_patched := proc-maps-*: the 6.12 series is not yet rebuilt on the upstream design and the 7.3 ABI. proc-pidns: the pidns= mount option of procfs is newer than 6.12
VM_UPSTREAM_SKIP_6.12_stock := proc-maps-batch proc-pidns
VM_UPSTREAM_WHY_6.12_stock := proc-maps-batch: stock 6.12 has no PROCMAP_QUERY_BATCH. proc-pidns: the pidns= mount option of procfs is newer than 6.12
vm-check: $(O)/vm/base.cpio.gz $(VM_LAYERS_$(VARIANT))
	$(Q)kernel/scripts/build $(VARIANT) $(FLAVOUR)
	$(Q)tests/vm/run -k $(KIMAGE) $(addprefix -i ,$^) -t $(VM_TIMEOUT) \
	  -l $(O)/vm/log-$(KBASE)-$(VARIANT)-$(FLAVOUR) -- \
	  'export VMAQ_FUZZ_SECONDS=$(or $(VM_FUZZ_SECONDS_$(VARIANT)),15) \
	   VMAQ_EXPECT_BACKENDS=$(VM_BACKENDS_$(VARIANT)) VMAQ_UPSTREAM=1 \
	   VMAQ_CUT_PAIRS=$(VM_CUT_PAIRS) \
	   DURATION=$(UPSTREAM_DURATION) \
	   VMAQ_UPSTREAM_SKIP="$(VM_UPSTREAM_SKIP_$(KBASE)_$(VARIANT))" \
	   VMAQ_UPSTREAM_SKIP_WHY="$(VM_UPSTREAM_WHY_$(KBASE)_$(VARIANT))"; sh /run-all'

# Long runs: the race tests, the generation guarantee under a concurrent
# modifier, the ioctl fuzzer and the permission tests for
# DURATION seconds per race kind and for the fuzzer
# on the patched debug kernel (lockdep, KASAN, DEBUG_VM), then the
# text-parser fuzzer for DURATION seconds. Any splat fails the run.
DURATION ?= 600
torture: $(O)/vm/base.cpio.gz $(FUZZER)
	$(Q)kernel/scripts/build patched debug
	$(Q)tests/vm/run -k $(KDIR)/out/patched-debug/arch/x86/boot/bzImage -i $< \
	  -t $$(( $(DURATION) * 6 + 600 )) -l $(O)/vm/log-torture -- \
	  "export VMAQ_RACE_SECONDS=$(DURATION) VMAQ_FUZZ_SECONDS=$(DURATION); /tests/maps_race && /tests/batch -t generation_guarantee_holds_under_a_concurrent_modifier && /tests/ioctl_fuzz && /tests/permissions"
	$(Q)$(MAKE) -s fuzz FUZZ_TIME=$(DURATION)

# The 7.3 series on the flavours that make check has no time for:
# PREEMPT_RT (lockdep, DEBUG_ATOMIC_SLEEP: sleeping locks taken in atomic
# context) and KCSAN (data races, reported where one side is a function
# of the series). Each runs the kernel-interface tests, the race tests for
# RACE_SECONDS per kind, and upstream's proc-maps-race and proc-maps-batch;
# any splat or failure fails it. Logs in $(O)/vm/log-7.3-patched-FLAVOUR.
RACE_SECONDS ?= 10
# KCSAN names a race by the symbol its access is in: a function the
# compiler inlined has none (KCSAN's filter refuses it) and its caller,
# also listed, stands for it. procfs_procmap_ioctl holds the inlined
# do_procmap_generation() (and upstream's PROCMAP_QUERY).
KCSAN_FUNCS := procmap_batch_peek procmap_batch_run procmap_batch_next \
	procmap_batch_describe procmap_batch_store procmap_batch_range \
	procmap_batch_addrs do_procmap_batch do_procmap_generation \
	mm_read_generation mm_try_read_generation procmap_maybe_heap_or_stack \
	procmap_vma_anon_named procmap_batch_label procmap_batch_put_str \
	procmap_batch_pin procmap_batch_fill_file procmap_batch_store_hit \
	procmap_batch_gate procmap_batch_matches procfs_procmap_ioctl
FLAVOUR_TESTS := export VMAQ_RACE_SECONDS=$(RACE_SECONDS) DURATION=$(UPSTREAM_DURATION); \
	/tests/maps_race && /tests/batch && /tests/procmap_query && /tests/ioctl_fuzz && \
	/tests/batch32 && /upstream/tap/proc-maps-batch && /upstream/tap/proc-maps-race
check-flavours: $(O)/vm/base.cpio.gz
	$(Q)KBASE=7.3 kernel/scripts/build patched rt
	$(Q)tests/vm/run -k build/kernel/7.3/out/patched-rt/arch/x86/boot/bzImage -i $< \
	  -t $(VM_TIMEOUT) -l $(O)/vm/log-7.3-patched-rt -- '$(FLAVOUR_TESTS)'
	$(Q)KBASE=7.3 kernel/scripts/build patched kcsan
	$(Q)tests/vm/run -k build/kernel/7.3/out/patched-kcsan/arch/x86/boot/bzImage -i $< \
	  -t $(VM_TIMEOUT) -l $(O)/vm/log-7.3-patched-kcsan -- \
	  'mount -t debugfs none /sys/kernel/debug && echo whitelist > /sys/kernel/debug/kcsan && \
	   n=0; for f in $(KCSAN_FUNCS); do \
	     if echo "!$$f" > /sys/kernel/debug/kcsan 2> /dev/null; then n=$$((n + 1)); \
	     else echo "kcsan: $$f has no symbol here (inlined): its caller stands for it"; fi; \
	   done; [ $$n -gt 0 ] || exit 1; \
	   export VMAQ_FUZZ_SECONDS=30; $(FLAVOUR_TESTS)'

install: lib $(CLI)
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) \
	  $(DESTDIR)$(BINDIR) $(DESTDIR)$(PKGCONFIGDIR) \
	  $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man7
	install -m 0644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	install -m 0755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf libvmaquery.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libvmaquery.so.$(SOVERSION)
	ln -sf libvmaquery.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libvmaquery.so
	install -m 0644 libvmaquery/vmaquery.h $(DESTDIR)$(INCLUDEDIR)/
	sed $(PC_SUBST) libvmaquery/libvmaquery.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/libvmaquery.pc
	install -m 0755 $(CLI) $(DESTDIR)$(BINDIR)/
	for s in 1 3 7; do \
	  for f in docs/man/*.$$s; do [ -e "$$f" ] || continue; \
	    if [ -L "$$f" ]; then cp -P "$$f" $(DESTDIR)$(MANDIR)/man$$s/; \
	    else install -m 0644 "$$f" $(DESTDIR)$(MANDIR)/man$$s/; fi; done; done

clean:
	rm -rf $(O)/obj $(O)/lib $(O)/bin $(O)/tests $(O)/vm $(O)/results \
	  $(O)/.dirs build/asan build/clang

distclean:
	rm -rf build

help:
	@echo 'make              library, CLI and tests into $(O)/'
	@echo 'make run          build and run vmaquery on a live process'
	@echo 'make check        every test: host, sanitizers, clang, the 7.3 and 6.12 kernels in the VM'
	@echo 'make check-host   host tests only (no kernel)'
	@echo 'make kernel       build a kernel: KBASE=7.3|6.12 VARIANT=patched|stock FLAVOUR=debug|perf|rt|kcsan'
	@echo 'make kernel-export  write build/kernel/KBASE/src commits to kernel/KBASE/patches/'
	@echo 'make vm-check     run the VM tests on VARIANT/FLAVOUR'
	@echo "make vm-run CMD='...'  run a command in the VM"
	@echo 'make vm-shell     interactive shell in the VM'
	@echo 'make bench        every benchmark, then bench/REPORT.md (QUICK=1: short)'
	@echo 'make fuzz         libFuzzer on the text backend (FUZZ_TIME=seconds)'
	@echo 'make perf         perf from the 7.3 tree, static, into build/perf/7.3-stock/'
	@echo 'make torture      race, permission and fuzz runs of DURATION seconds each'
	@echo 'make check-flavours  the 7.3 series on PREEMPT_RT and KCSAN kernels (long)'
	@echo 'make install      PREFIX, LIBDIR, DESTDIR honoured'

.PHONY: check-flavours torture bench bench-lib bench-contention perf fuzz all lib tests vm-initrd deps run check check-host kernel \
	kernel-export vm-run vm-shell vm-check install clean distclean help
.SECONDARY:
