# tests/unit/cmdline.mk - the boot command-line parser (kernel/cmdline.c, host part only).
UNIT_TESTS += cmdline
cmdline_SRCS := tests/unit/test_cmdline.c kernel/cmdline.c
