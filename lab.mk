# lab.mk - the course lab (LAB.md). Included by the Makefile.
#
#   make grade              run each stage's checks, print the score table (non-zero exit
#                           unless full marks on stages 1-7; the optional stage 8 has a line
#                           of its own); GRADE_ARGS="--stage 3 -v" for one stage, with
#                           the reason of each failed check; GRADE_JSON=file writes every
#                           check's status, reason and time as JSON.
#                           Needs what make test needs (tools/deps.sh test: QEMU, pytest,
#                           scapy, tshark, ping, ...), never root: tools/privnet.sh gives the
#                           tests a user namespace to make TAPs in, or a unix-socket wire
#                           where that is impossible (checks needing a TAP are then skipped)
#   make lab-hostside       the host half watched (LAB.md, "The host half"): QEMU under strace on
#                           a TAP, its monitor and trace events, our ring trace, all kept in
#                           build/hostside/ (timeline.txt puts the host's side on one clock)
#   make lab-answers ANSWERS=file
#                           the same experiment, and the answers in file that it can check
# The teacher's tree adds its own targets (making the student tree, grading others' trees) from
# a file of its own under tools/lab/, which the student tree does not have.

GRADE_ARGS ?=
GRADE_JSON ?=
TEACHER_MK := $(wildcard tools/lab/*.mk)

ifeq ($(SUBMISSION),)
grade:
	$(Q)tools/deps.sh test
	$(Q)$(PRIVNET) $(PYTHON) tools/lab/grade.py $(if $(GRADE_JSON),--json $(GRADE_JSON)) $(GRADE_ARGS)
endif

ifeq ($(TEACHER_MK),)
ifneq ($(SUBMISSION),)
grade: teacher-only
endif
grade-class lab: teacher-only
teacher-only:
	@echo "make $(MAKECMDGOALS): for the teacher's tree (this is a student tree)" >&2; exit 2
.PHONY: teacher-only
endif

HOSTSIDE_TEST = LAB_HOSTSIDE_OUT=$(abspath $(BUILD))/hostside $(PRIVNET) $(PYTHON) -m pytest -q -rs \
                -p no:cacheprovider tests/qemu/test_lab_hostside.py

lab-hostside: $(BUILD)/kernel.elf
	$(Q)tools/deps.sh hostside
	$(Q)rm -rf $(BUILD)/hostside
	$(Q)$(HOSTSIDE_TEST)
	@echo "lab-hostside: strace.log, timeline.txt, monitor.txt, ring-trace.txt, qemu-trace.log in $(BUILD)/hostside/"

lab-answers: $(BUILD)/kernel.elf
	@test -n "$(ANSWERS)" -a -f "$(ANSWERS)" || { echo "usage: make lab-answers ANSWERS=file (Q1: ... lines; LAB.md, The host half)" >&2; exit 2; }
	$(Q)tools/deps.sh hostside
	$(Q)rm -rf $(BUILD)/hostside
	$(Q)LAB_ANSWERS=$(abspath $(ANSWERS)) $(HOSTSIDE_TEST)

# make grade runs each unit check as a process of its own: build/grade/unit/NAME is
# tests/unit/test_NAME.c with a main that runs the one test named on its command line
# (build/grade/unit/NAME.c, written by tools/lab/grade.py), linked like build/unit/NAME.
define grade_unit_rule
$(BUILD)/grade/unit/$(1): $(BUILD)/grade/unit/$(1).c $$($(1)_SRCS) $$(UNIT_DEPS)
	$$(quiet) HOSTCC $$@
	$$(Q)$$(HOSTCC) $$(UNIT_CFLAGS) $$($(1)_CFLAGS) -o $$@ $$< $$(filter-out tests/unit/test_$(1).c,$$($(1)_SRCS))
endef
$(foreach t,$(UNIT_TESTS),$(eval $(call grade_unit_rule,$(t))))

.PHONY: grade grade-class lab lab-hostside lab-answers

include $(TEACHER_MK)
