# tests/unit/frames.mk - the page-frame allocator (kernel/frames.c) over fake memory maps.
UNIT_TESTS += frames
frames_SRCS := tests/unit/test_frames.c kernel/frames.c
