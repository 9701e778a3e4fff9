# tools/mutate/mutate.mk - make mutate: a mutation campaign over drivers/virtio, drivers/net and
# net/ against the host unit suite (tools/mutate/mutate.py; docs/testing.md says what it proves).
#
#   make mutate                               every mutant of every file under unit test
#   make mutate MUTATE_FILES="net/arp.c"      only these files (globs allowed)
#   make mutate MUTATE_SAMPLE=40              at most 40 mutants per file, chosen by MUTATE_SEED
#   make mutate MUTATE_JOBS=2 MUTATE_BUDGET=1800 MUTATE_DOCS=1
#   make mutate MUTATE_RERUN=saved/results.json   that campaign again: its survivors and the mutants
#                                             a budget left not run; the report names the first command
# The campaign runs under nice -n 19. Results: build/mutate/report.md and results.json;
# MUTATE_DOCS=1 also rewrites the generated section of docs/testing.md.

MUTATE_FILES  ?=
MUTATE_SAMPLE ?=
MUTATE_SEED   ?= 19
MUTATE_JOBS   ?=
MUTATE_BUDGET ?=
MUTATE_DOCS   ?=
MUTATE_MATCH  ?=
MUTATE_RERUN  ?=

# What the script needs from this Makefile: the host compiler, the unit flags and what each
# unit test links (unit.mk's name_SRCS), one line each.
mutate-info:
	@echo 'CC $(HOSTCC)'
	@echo 'CFLAGS $(UNIT_CFLAGS)'
	@$(foreach t,$(UNIT_TESTS),echo 'TEST $(t) | $($(t)_CFLAGS) | $($(t)_SRCS)';)

mutate:
	$(Q)MUTATE_FILES="$(MUTATE_FILES)" MUTATE_SAMPLE="$(MUTATE_SAMPLE)" MUTATE_SEED="$(MUTATE_SEED)" \
	    MUTATE_JOBS="$(MUTATE_JOBS)" MUTATE_BUDGET="$(MUTATE_BUDGET)" MUTATE_MATCH="$(MUTATE_MATCH)" \
	    MUTATE_RERUN="$(MUTATE_RERUN)" \
	    nice -n 19 $(PYTHON) tools/mutate/mutate.py $(if $(MUTATE_DOCS),--docs docs/testing.md)

.PHONY: mutate mutate-info
