# Makefile - builds build/kernel.elf (and build/kernel.iso), runs it, tests it.
#
#   make            build the kernel            make run     boot it in QEMU (serial on this terminal)
#   make iso        GRUB rescue ISO             make test    unit + QEMU tests, one summary line
#   make gdb        QEMU halted + gdb attached  make clean   remove build/
#   make unit       host unit tests only        make fuzz    long libFuzzer runs (clang)
#   make test-full  make test + the whole QEMU configuration matrix + DPDK (installed on demand)
#                   + a mutation sample (make mutate: the campaign, docs/testing.md)
#   make lint       cppcheck over the kernel sources (also part of make test)
#
# make test passes PYTEST_ARGS to pytest (e.g. PYTEST_ARGS="-k net -x").
# Quiet kbuild-style output; V=1 shows full commands. CROSS_COMPILE=x86_64-linux-gnu- is honoured.

CROSS_COMPILE ?=
CC      := $(CROSS_COMPILE)gcc
LD      := $(CROSS_COMPILE)ld
OBJCOPY := $(CROSS_COMPILE)objcopy
HOSTCC  ?= gcc
PYTHON  ?= /usr/bin/python3
BUILD   := build
# What makes network namespaces and TAPs (tests, grade, bench, run NET=tap) goes through
# tools/privnet.sh: as root it changes nothing; otherwise it enters a user namespace of its own
# where they may be made, or, where that is impossible, says why and leaves a unix-socket wire.
PRIVNET := tools/privnet.sh

ifeq ($(V),1)
Q :=
quiet = @true
else
Q := @
quiet = @printf '  %-7s %s\n'
endif

KSRC := $(wildcard boot/*.S kernel/*.S kernel/*.c drivers/*.c drivers/virtio/*.c drivers/net/*.c net/*.c)
KOBJ := $(patsubst %,$(BUILD)/%.o,$(basename $(KSRC)))

WARN   := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CFLAGS := -std=gnu11 -O2 -g $(WARN) -ffreestanding -nostdlib -fno-builtin -fno-pic -fno-pie \
          -mno-red-zone -mgeneral-regs-only -mcmodel=small -fno-asynchronous-unwind-tables \
          -fno-omit-frame-pointer -fstack-protector-strong -mstack-protector-guard=global \
          -fno-strict-aliasing -I. -D__KERNEL__ -MMD -MP
ASFLAGS := -I. -D__ASSEMBLER__ -MMD -MP -g
LDFLAGS := -nostdlib -static -z max-page-size=0x1000 -T linker.ld --no-warn-rwx-segments
LIBGCC  := $(shell $(CC) -print-libgcc-file-name)

all: $(BUILD)/kernel.elf $(BUILD)/compile_commands.json

$(BUILD)/kernel.elf: $(KOBJ) linker.ld
	$(quiet) LD $@
	$(Q)$(LD) $(LDFLAGS) -o $@ $(KOBJ) $(LIBGCC)

$(BUILD)/%.o: %.c
	$(quiet) CC $<
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/%.o: %.S
	$(quiet) AS $<
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ASFLAGS) -c $< -o $@

# ---- compile_commands.json for clangd and other editors -------------------------------------
# The compile commands of the rules above, one entry per kernel source, and the host-test
# flags for tests/unit/*.c. Rewritten only when a command changes (sources, flags, CC=clang).
# clangd finds it in build/ by itself.
comma := ,
define newline


endef
ccj_entry = {"directory": "$(CURDIR)", "file": "$(1)", "command": "$(2)"}
ccj_kernel = $(call ccj_entry,$(1),$(CC) $(if $(filter %.S,$(1)),$(ASFLAGS),$(CFLAGS)) -c $(1) -o $(BUILD)/$(basename $(1)).o)
ccj_unit = $(call ccj_entry,$(1),$(HOSTCC) $(UNIT_CFLAGS) -c $(1))
CCJ = [$(newline)$(subst } {,}$(comma)$(newline){,$(foreach f,$(KSRC),$(call ccj_kernel,$(f))) \
      $(foreach f,$(wildcard tests/unit/*.c),$(call ccj_unit,$(f))))$(newline)]

$(BUILD)/compile_commands.json: FORCE
	@mkdir -p $(dir $@)
	$(file >$@.new,$(CCJ))
	$(Q)if cmp -s $@.new $@; then rm -f $@.new; else mv -f $@.new $@; $(if $(Q),printf '  %-7s %s\n' GEN $@,true); fi
FORCE:

# ---- GRUB ISO -------------------------------------------------------------------------------
$(BUILD)/kernel.iso: $(BUILD)/kernel.elf boot/grub.cfg
	$(quiet) ISO $@
	@rm -rf $(BUILD)/isodir && mkdir -p $(BUILD)/isodir/boot/grub
	$(Q)cp $(BUILD)/kernel.elf $(BUILD)/isodir/boot/kernel.elf
	$(Q)cp boot/grub.cfg $(BUILD)/isodir/boot/grub/grub.cfg
	$(Q)grub-mkrescue -o $@ $(BUILD)/isodir >$(BUILD)/grub-mkrescue.log 2>&1 || \
		{ cat $(BUILD)/grub-mkrescue.log; exit 1; }

iso: deps-iso $(BUILD)/kernel.iso

# ---- host unit tests ------------------------------------------------------------------------
# tests/unit/unit.mk finds the tests (tests/unit/test_<name>.c -> build/unit/<name>) and says what
# each links (name_SRCS) from source groups defined once there; tests/fuzz/fuzz.mk uses the same.
UNIT_TESTS :=
include tests/unit/unit.mk
include tests/fuzz/fuzz.mk
include lab.mk
include tools/bench/bench.mk
include tools/mutate/mutate.mk
UNIT_CFLAGS := -std=gnu11 -O1 -g -Wall -Wextra -Werror -Wno-unused-parameter -I. -DHOST_TEST \
               -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
UNIT_BINS := $(addprefix $(BUILD)/unit/,$(UNIT_TESTS))

define unit_rule
$(BUILD)/unit/$(1): $$($(1)_SRCS) $$(UNIT_DEPS)
	$$(quiet) HOSTCC $$@
	@mkdir -p $$(dir $$@)
	$$(Q)$$(HOSTCC) $$(UNIT_CFLAGS) $$($(1)_CFLAGS) -o $$@ $$($(1)_SRCS)
endef
$(foreach t,$(UNIT_TESTS),$(eval $(call unit_rule,$(t))))

unit: $(UNIT_BINS)
	$(Q)$(PYTHON) tools/runtests.py --unit-only $(UNIT_BINS)

# ---- running --------------------------------------------------------------------------------
ACCEL ?= tcg
export ACCEL CMDLINE MEM MACHINE
run: deps-run $(BUILD)/kernel.elf
	$(Q)tools/run.sh

gdb: deps-gdb $(BUILD)/kernel.elf
	$(Q)GDB=1 tools/run.sh

# Packages first (a fresh machine may lack grub-mkrescue or clang), then everything is built
# one job per CPU (TEST_JOBS), then the tests run (tools/runtests.py: unit binaries, fuzz and
# lint side by side, then the QEMU tests). The build and the run are separate makes so that the
# tests, some of which run make themselves, do not inherit -j.
TEST_JOBS ?= $(shell nproc 2>/dev/null || echo 1)
test:
	$(Q)tools/deps.sh test
	$(Q)$(MAKE) --no-print-directory -j$(TEST_JOBS) test-build
	$(Q)$(MAKE) --no-print-directory test-run

# test-full also installs DPDK's testpmd (tools/deps.sh dpdk), so tests/qemu/test_dpdk.py runs
# rather than skips; plain make test leaves DPDK out.
# It ends with a small mutation sample (docs/testing.md): 3 mutants per file, 15 min at most,
# its score printed; the whole campaign is make mutate.
test-full:
	$(Q)tools/deps.sh dpdk
	$(Q)FULL=1 $(MAKE) --no-print-directory test
	$(Q)$(MAKE) --no-print-directory mutate MUTATE_SAMPLE=3 MUTATE_BUDGET=900

# The bounded fuzz run is always in the summary: run when clang can build the target, reported
# as skipped with the reason when it cannot (tests/fuzz/run.sh).
HAVE_FUZZ := $(shell command -v $(FUZZ_CC) >/dev/null 2>&1 && echo yes)
FUZZ_SUITE := $(foreach t,$(FUZZ_TARGETS),--extra "fuzz/$(t): FUZZ_CC=$(FUZZ_CC) tests/fuzz/run.sh --short $(BUILD)/fuzz/$(t) $(FUZZ_SHORT_TIME)")

test-build: $(BUILD)/kernel.elf $(BUILD)/kernel.iso $(UNIT_BINS) $(if $(HAVE_FUZZ),$(FUZZ_BINS))

test-run: test-build
	$(Q)$(PRIVNET) $(PYTHON) tools/runtests.py --extra "lint/cppcheck: tools/lint.sh" $(FUZZ_SUITE) $(UNIT_BINS)

lint:
	$(Q)tools/lint.sh

deps-run:
	$(Q)tools/deps.sh run
deps-gdb:
	$(Q)tools/deps.sh gdb
deps-iso:
	$(Q)tools/deps.sh iso

# ---- pictures in docs/ (Graphviz sources; the rendered PNGs are committed) ----------------
DOC_PICS := $(patsubst %.dot,%.png,$(wildcard docs/backends/*.dot docs/design/*.dot))
docs: $(DOC_PICS)
docs/%.png: docs/%.dot
	$(quiet) DOT $@
	$(Q)command -v dot >/dev/null || { echo "make docs: needs Graphviz's dot (apt-get install graphviz)" >&2; exit 1; }
	$(Q)dot -Tpng -Gdpi=96 -o $@ $<

run2: deps-run $(BUILD)/kernel.elf
	$(Q)GUESTS=2 tools/run.sh

clean:
	$(quiet) CLEAN $(BUILD)
	$(Q)rm -rf $(BUILD)

.PHONY: all FORCE iso unit lint run run2 gdb docs test test-full test-build test-run clean deps-run deps-gdb deps-iso
.DELETE_ON_ERROR:

-include $(KOBJ:.o=.d)
