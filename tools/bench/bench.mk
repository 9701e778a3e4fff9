# tools/bench/bench.mk - `make bench`: our guest against a Linux guest on the same QEMU.
# Included by the Makefile. See docs/benchmarks.md for the method and tools/bench/bench.py.
#
#   make bench                  both guests, 3 runs of everything, the ring x offload x back-end
#                               table included (about 17 minutes under TCG):
#                               writes docs/benchmarks.md and docs/bench-*.png
#   make bench BENCH_QUICK=1    our guest only, one short run of each (about a minute):
#                               writes build/bench/run/quick.md
#   BENCH_ARGS="--runs 5"       more options for tools/bench/bench.py (--help lists them)
#   BENCH_ACCEL=kvm             run under KVM (labelled as such; TCG is the reference)
#
# Needs no root: tools/privnet.sh gives it a user namespace where it may make network
# namespaces and TAP devices (root uses the real ones). The Linux guest is built from Debian's packages into
# build/bench/linux (downloaded once with apt-get download, then cached).

BENCH_DIR   := $(BUILD)/bench
BENCH_LINUX := $(BENCH_DIR)/linux
BENCH_QUICK ?=
BENCH_ACCEL ?= tcg
BENCH_ARGS  ?=
BENCH_PKGS  := gnuplot-nox iproute2 qemu-system-x86 libc6-dev

$(BENCH_DIR)/loadgen: tools/bench/loadgen.c
	$(quiet) HOSTCC $@
	@mkdir -p $(dir $@)
	$(Q)$(HOSTCC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -o $@ $<

# The Linux guest: kernel and modules from linux-image-amd64, busybox-static, udpsrv, init.
$(BENCH_LINUX)/initramfs.cpio: tools/bench/mklinux.py tools/bench/linux/init tools/bench/linux/udpsrv.c
	$(quiet) MKLINUX $(BENCH_LINUX)
	$(Q)$(PYTHON) tools/bench/mklinux.py $(BENCH_LINUX)

bench-deps:
	$(Q)tools/bench/deps.sh $(BENCH_PKGS)
	$(Q)$(if $(BENCH_QUICK),true,tools/deps.sh dpdk)

bench: bench-deps $(BUILD)/kernel.elf $(BENCH_DIR)/loadgen $(if $(BENCH_QUICK),,$(BENCH_LINUX)/initramfs.cpio)
	$(Q)$(PRIVNET) $(PYTHON) tools/bench/bench.py --kernel $(BUILD)/kernel.elf --loadgen $(BENCH_DIR)/loadgen \
		--linux-dir $(BENCH_LINUX) --workdir $(BENCH_DIR)/run --accel $(BENCH_ACCEL) \
		$(if $(BENCH_QUICK),--quick) $(BENCH_ARGS)

.PHONY: bench bench-deps
