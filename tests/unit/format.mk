# tests/unit/format.mk - vsnprintk (kernel/format.c), the formatter behind printk.
UNIT_TESTS += format
format_SRCS := tests/unit/test_format.c kernel/format.c
