# tests/unit/unit.mk - every host unit test, and the source groups the fuzzers share
# (tests/fuzz/fuzz.mk). Included by the Makefile, whose unit_rule builds build/unit/<name>.
#
# Nothing here lists a test or a kernel file one by one:
#   - a test is a file tests/unit/test_<name>.c and builds to build/unit/<name>;
#   - what it links besides that file follows from its name (the families below);
#   - the kernel sources come by layer, by wildcard, so a file added or moved inside a layer
#     needs no edit here. Only KERNEL_HOST_SRCS is a list: the few kernel/ files that run on
#     the host unchanged (the rest of kernel/ is tests/unit/kernel_harness.c).
#   - harness files are tests/unit/<what>_harness.c (tests/unit/README).
# A test_<name>.c that fits no family stops the build with a message saying so.

# ---- source groups, each defined once ----------------------------------------------------------
# kernel/ services that run on the host as they are: the formatter behind printk, CRC-32, the
# timer list (driven by the harness's clock).
KERNEL_HOST_SRCS := kernel/format.c kernel/crc32.c kernel/timer.c
# Every host stand-in for the rest of kernel/ (printk, panic, dma_alloc, now_ns, the command
# line, timeline marks), in one file.
KERNEL_HARNESS   := tests/unit/kernel_harness.c
# The stack: all of net/ but the shell commands (net/*_cmds.c need the shell).
NET_SRCS         := $(filter-out %_cmds.c,$(wildcard net/*.c))
# The virtqueues, split and packed (the only virtio files linked as they are; see
# VIRTNET_HARNESS_SRCS).
VIRTIO_RING_SRCS := $(wildcard drivers/virtio/virtio_ring*.c)

# What each family links besides its tests/unit/test_<name>.c:
# the stack on a fake eth0 and a simulated clock (net_harness.c)
NET_HARNESS_SRCS     := $(NET_SRCS) $(KERNEL_HOST_SRCS) $(KERNEL_HARNESS) tests/unit/net_harness.c
# the ring against a simulated device (split and packed)
RING_HARNESS_SRCS    := $(VIRTIO_RING_SRCS) tests/unit/sim_device_harness.c tests/unit/sim_packed_harness.c \
                        tests/unit/ring_test_harness.c \
                        kernel/format.c $(KERNEL_HARNESS)
# the virtio-net driver and virtio core (#included by tests/unit/virtnet_harness.c, which the
# test itself #includes; the driver's diagnostics linked as they are), the INTx handler
# (vp_common_harness.c) and the whole stack, with net/netdev.c #included by netdev_harness.c
# instead of linked
VIRTNET_HARNESS_SRCS := $(filter-out net/netdev.c,$(NET_HARNESS_SRCS)) $(VIRTIO_RING_SRCS) \
                        drivers/net/virtio_net_diag.c drivers/net/virtio_net_recovery.c drivers/net/virtio_net_ctrl.c \
                        tests/unit/sim_device_harness.c tests/unit/sim_packed_harness.c tests/unit/netdev_harness.c \
                        tests/unit/vp_common_harness.c

# Kernel sources a test or harness #includes to reach static functions and state, found by
# looking (so they are rebuilt on when those change), not listed.
UNIT_INCLUDED_SRCS := $(sort $(shell sed -n 's/^\#include "\(.*\.c\)".*/\1/p' tests/unit/*.c tests/fuzz/*.c))
# What any host test build may depend on beyond its sources: every header, every harness, the
# included sources.
UNIT_DEPS = $(wildcard tests/unit/*.h tests/unit/*_harness.c kernel/*.h net/*.h drivers/*.h \
                       drivers/virtio/*.h drivers/net/*.h) $(UNIT_INCLUDED_SRCS)

# ---- the tests, by family ------------------------------------------------------------------
unit_names = $(patsubst tests/unit/test_%.c,%,$(wildcard $(patsubst %,tests/unit/test_%.c,$(1))))
UNIT_NET_TESTS    := $(call unit_names,net_* netdev_*)
UNIT_RING_TESTS   := $(call unit_names,virtio_ring virtio_ring_*)
# the virtio-net harness set also serves the PCI transports' tests (vp_common_harness.c in it)
UNIT_VIRTNET_TESTS := $(call unit_names,virtio_net virtio_net_* virtio_pci virtio_pci_*)
# test_<x>.c for a kernel/<x>.c: that file alone (cmdline, format, frames)
UNIT_KERNEL_TESTS := $(filter $(patsubst kernel/%.c,%,$(wildcard kernel/*.c)),$(call unit_names,*))

$(foreach t,$(UNIT_NET_TESTS),$(eval $(t)_SRCS = tests/unit/test_$(t).c $$(NET_HARNESS_SRCS)))
$(foreach t,$(UNIT_RING_TESTS),$(eval $(t)_SRCS = tests/unit/test_$(t).c $$(RING_HARNESS_SRCS)))
$(foreach t,$(UNIT_VIRTNET_TESTS),$(eval $(t)_SRCS = tests/unit/test_$(t).c $$(VIRTNET_HARNESS_SRCS)))
$(foreach t,$(UNIT_KERNEL_TESTS),$(eval $(t)_SRCS = tests/unit/test_$(t).c kernel/$(t).c))
# test_netdev_idle runs the event loop itself (kernel/loop.c) over the poll list it idles on
netdev_idle_SRCS += kernel/loop.c

UNIT_TESTS += $(UNIT_NET_TESTS) $(UNIT_RING_TESTS) $(UNIT_VIRTNET_TESTS) $(UNIT_KERNEL_TESTS)
UNIT_UNPLACED := $(filter-out $(UNIT_TESTS),$(call unit_names,*))
ifneq ($(UNIT_UNPLACED),)
$(error tests/unit/unit.mk: no family for tests/unit/test_$(firstword $(UNIT_UNPLACED)).c: name it test_net_*, test_netdev_*, test_<kernel/ file>, or add a family)
endif
