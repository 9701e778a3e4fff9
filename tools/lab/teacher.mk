# tools/lab/teacher.mk - the lab's teacher-only targets (docs/lab-teachers.md). lab.mk includes
# it; tools/lab/mklab.py leaves it out of the student tree, like the generator and the grader
# of other trees it runs.
#
#   make lab DEST=dir       the student tree: this tree with every solution region replaced
#                           by a compiling stub and a TODO (LAB_ARGS="--solved 2" keeps
#                           stages 1-2 solved); docs/lab-teachers.md explains the markers
#   make grade SUBMISSION=dir [GRADE_JSON=file]
#                           grade a student's tree with this tree's checks: only the student's
#                           sources (the files with solution regions) are taken from dir, into
#                           a scratch copy of this tree
#   make grade-class SUBMISSIONS=dir OUT=dir [JOBS=n] [GRADE_BUDGET=s] [GRADE_ONLY="a b"]
#                           every subdirectory of SUBMISSIONS, JOBS at a time (default: the
#                           CPU count), each within GRADE_BUDGET seconds: OUT/grades.csv and
#                           OUT/NAME.json, OUT/NAME.log

GRADE_BUDGET ?=
GRADE_ONLY ?=
LAB_ARGS ?=
JOBS ?=

GRADE_CLASS = $(PYTHON) tools/lab/grade_class.py $(if $(GRADE_JSON),--json $(GRADE_JSON)) \
              $(if $(GRADE_BUDGET),--budget $(GRADE_BUDGET)) $(if $(JOBS),--jobs $(JOBS)) \
              $(if $(GRADE_ARGS),--grade-args "$(GRADE_ARGS)")

ifneq ($(SUBMISSION),)
grade:
	$(Q)tools/deps.sh test
	$(Q)$(PRIVNET) $(GRADE_CLASS) --submission $(SUBMISSION)
endif

grade-class:
	@test -n "$(SUBMISSIONS)" -a -n "$(OUT)" || { echo "usage: make grade-class SUBMISSIONS=dir OUT=dir [JOBS=n] [GRADE_BUDGET=s]" >&2; exit 2; }
	$(Q)tools/deps.sh test
	$(Q)$(PRIVNET) $(GRADE_CLASS) --out $(OUT) $(foreach s,$(GRADE_ONLY),--only $(s)) $(SUBMISSIONS)

lab:
	@test -n "$(DEST)" || { echo "usage: make lab DEST=dir [LAB_ARGS=--solved K]" >&2; exit 2; }
	$(Q)$(PYTHON) tools/lab/mklab.py $(DEST) $(LAB_ARGS)
