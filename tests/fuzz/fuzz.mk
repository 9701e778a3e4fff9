# tests/fuzz/fuzz.mk - the libFuzzer target for the network stack (needs clang).
#
#   make fuzz              long run (FUZZ_TIME seconds, default 600) from the seed corpus
#   make fuzz-short        bounded run (FUZZ_SHORT_TIME, default 20 s) for make test
#
# Runs work on a copy of tests/fuzz/corpus in build/fuzz/corpus, so the tree's seeds stay as
# committed; crashes land in build/fuzz/ (tests/fuzz/README.md says how to replay one).
# Uses NET_HOST_SRCS from tests/unit/net.mk.
FUZZ_CC ?= clang
FUZZ_TIME ?= 600
FUZZ_SHORT_TIME ?= 20
FUZZ_CFLAGS := -std=gnu11 -g -O1 -I. -DHOST_TEST -fsanitize=fuzzer,address,undefined \
               -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_SRCS := tests/fuzz/fuzz_net.c $(NET_HOST_SRCS)

$(BUILD)/fuzz/fuzz_net: $(FUZZ_SRCS) $(wildcard net/*.h tests/unit/*.h kernel/*.h)
	$(quiet) CLANG $@
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(FUZZ_SRCS)

fuzz: $(BUILD)/fuzz/fuzz_net
	$(Q)tests/fuzz/run.sh $(BUILD)/fuzz/fuzz_net $(FUZZ_TIME)

fuzz-short: $(BUILD)/fuzz/fuzz_net
	$(Q)tests/fuzz/run.sh $(BUILD)/fuzz/fuzz_net $(FUZZ_SHORT_TIME)

.PHONY: fuzz fuzz-short
