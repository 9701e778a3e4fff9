# tests/fuzz/fuzz.mk - the libFuzzer targets (need clang):
#   fuzz_net      frames into the stack's receive path (net/), on a fake device
#   fuzz_virtnet  a hostile virtio-net device feeding the real driver (receive_buf, merging,
#                 num_buffers, used lengths, made-up completions) and, through it, the stack
#   fuzz_dns      DNS responses from a hostile server into net/dns.c's parser and resolver
#   fuzz_vring_packed  a hostile device on a packed virtqueue: used descriptors with any id,
#                 length and step, scribbled flags, any event suppression structure
#
#   make fuzz              long run of each target (FUZZ_TIME seconds each, default 600)
#   make fuzz-short        bounded run (FUZZ_SHORT_TIME each, default 14 s) as in make test
#
# Runs work on copies of tests/fuzz/corpus (fuzz_net) and tests/fuzz/corpus_<name> in
# build/fuzz/, so the tree's seeds stay as committed; crashes land in build/fuzz/artifacts
# (tests/fuzz/README.md says how to replay one). Each target links the same sources as a unit
# test of its family, from tests/unit/unit.mk: NET_HARNESS_SRCS, VIRTNET_HARNESS_SRCS and
# RING_HARNESS_SRCS.
FUZZ_CC ?= clang
FUZZ_TIME ?= 600
FUZZ_SHORT_TIME ?= 14
FUZZ_CFLAGS := -std=gnu11 -g -O1 -I. -DHOST_TEST -fsanitize=fuzzer,address,undefined \
               -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_TARGETS := fuzz_net fuzz_virtnet fuzz_vring_packed fuzz_dns
fuzz_net_FUZZ_SRCS = tests/fuzz/fuzz_net.c $(NET_HARNESS_SRCS)
fuzz_virtnet_FUZZ_SRCS = tests/fuzz/fuzz_virtnet.c $(VIRTNET_HARNESS_SRCS)
fuzz_vring_packed_FUZZ_SRCS = tests/fuzz/fuzz_vring_packed.c $(RING_HARNESS_SRCS)
fuzz_dns_FUZZ_SRCS = tests/fuzz/fuzz_dns.c $(NET_HARNESS_SRCS)
FUZZ_BINS := $(addprefix $(BUILD)/fuzz/,$(FUZZ_TARGETS))

define fuzz_rule
$(BUILD)/fuzz/$(1): $$($(1)_FUZZ_SRCS) $$(UNIT_DEPS)
	$$(quiet) CLANG $$@
	@mkdir -p $$(dir $$@)
	$$(Q)$$(FUZZ_CC) $$(FUZZ_CFLAGS) -o $$@ $$($(1)_FUZZ_SRCS)
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call fuzz_rule,$(t))))

fuzz: $(FUZZ_BINS)
	$(Q)for t in $(FUZZ_TARGETS); do tests/fuzz/run.sh $(BUILD)/fuzz/$$t $(FUZZ_TIME) || exit 1; done

fuzz-short: $(FUZZ_BINS)
	$(Q)for t in $(FUZZ_TARGETS); do tests/fuzz/run.sh --short $(BUILD)/fuzz/$$t $(FUZZ_SHORT_TIME) || exit 1; done

.PHONY: fuzz fuzz-short
