# lab.mk - the course lab (LAB.md). Included by the Makefile.
#
#   make grade              run each stage's checks, print the score table (non-zero exit
#                           unless full marks); GRADE_ARGS="--stage 3 -v" for one stage.
#                           Needs what make test needs (tools/deps.sh test: QEMU, pytest,
#                           scapy, tshark, ping, ...), never root: tools/privnet.sh gives the
#                           tests a user namespace to make TAPs in, or a unix-socket wire
#                           where that is impossible (checks needing a TAP are then skipped)
#   make lab DEST=dir       the student tree: this tree with every solution region replaced
#                           by a compiling stub and a TODO (LAB_ARGS="--solved 2" keeps
#                           stages 1-2 solved); docs/lab-teachers.md explains the markers

GRADE_ARGS ?=
LAB_ARGS ?=

grade:
	$(Q)tools/deps.sh test
	$(Q)$(PRIVNET) $(PYTHON) tools/lab/grade.py $(GRADE_ARGS)

lab:
	@test -n "$(DEST)" || { echo "usage: make lab DEST=dir [LAB_ARGS=--solved K]" >&2; exit 2; }
	@test -f tools/lab/mklab.py || { echo "make lab: this is already a student tree (no tools/lab/mklab.py)" >&2; exit 2; }
	$(Q)$(PYTHON) tools/lab/mklab.py $(DEST) $(LAB_ARGS)

.PHONY: grade lab
