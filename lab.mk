# lab.mk - the course lab (LAB.md). Included by the Makefile.
#
#   make grade              run each stage's checks, print the score table (non-zero exit
#                           unless full marks); GRADE_ARGS="--stage 3 -v" for one stage, with
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
#   make lab DEST=dir       the student tree: this tree with every solution region replaced
#                           by a compiling stub and a TODO (LAB_ARGS="--solved 2" keeps
#                           stages 1-2 solved); docs/lab-teachers.md explains the markers
# Teacher's tree only (tools/lab/grade_class.py; docs/lab-teachers.md):
#   make grade SUBMISSION=dir [GRADE_JSON=file]
#                           grade a student's tree with this tree's checks: only the student's
#                           sources (the files with solution regions) are taken from dir, into
#                           a scratch copy of this tree
#   make grade-class SUBMISSIONS=dir OUT=dir [JOBS=n] [GRADE_BUDGET=s] [GRADE_ONLY="a b"]
#                           every subdirectory of SUBMISSIONS, JOBS at a time (default: the
#                           CPU count), each within GRADE_BUDGET seconds: OUT/grades.csv and
#                           OUT/NAME.json, OUT/NAME.log

GRADE_ARGS ?=
GRADE_JSON ?=
GRADE_BUDGET ?=
GRADE_ONLY ?=
LAB_ARGS ?=
JOBS ?=

GRADE_CLASS = $(PYTHON) tools/lab/grade_class.py $(if $(GRADE_JSON),--json $(GRADE_JSON)) \
              $(if $(GRADE_BUDGET),--budget $(GRADE_BUDGET)) $(if $(JOBS),--jobs $(JOBS)) \
              $(if $(GRADE_ARGS),--grade-args "$(GRADE_ARGS)")
teacher_only = @test -f tools/lab/grade_class.py || { echo "make $@: $(1) is for the teacher's tree (this is a student tree)" >&2; exit 2; }

grade:
	$(Q)tools/deps.sh test
ifeq ($(SUBMISSION),)
	$(Q)$(PRIVNET) $(PYTHON) tools/lab/grade.py $(if $(GRADE_JSON),--json $(GRADE_JSON)) $(GRADE_ARGS)
else
	$(call teacher_only,SUBMISSION=)
	$(Q)$(PRIVNET) $(GRADE_CLASS) --submission $(SUBMISSION)
endif

grade-class:
	@test -n "$(SUBMISSIONS)" -a -n "$(OUT)" || { echo "usage: make grade-class SUBMISSIONS=dir OUT=dir [JOBS=n] [GRADE_BUDGET=s]" >&2; exit 2; }
	$(call teacher_only,grade-class)
	$(Q)tools/deps.sh test
	$(Q)$(PRIVNET) $(GRADE_CLASS) --out $(OUT) $(foreach s,$(GRADE_ONLY),--only $(s)) $(SUBMISSIONS)

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

lab:
	@test -n "$(DEST)" || { echo "usage: make lab DEST=dir [LAB_ARGS=--solved K]" >&2; exit 2; }
	@test -f tools/lab/mklab.py || { echo "make lab: this is already a student tree (no tools/lab/mklab.py)" >&2; exit 2; }
	$(Q)$(PYTHON) tools/lab/mklab.py $(DEST) $(LAB_ARGS)

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
