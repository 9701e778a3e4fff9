#!/usr/bin/env bash
# tools/lint.sh - static analysis of the kernel sources with cppcheck (part of make test).
#
# Checks: cppcheck's warning and portability classes over boot/, kernel/, drivers/ and net/.
# Suppressed on purpose: comparePointers where the code walks a linker-made table between two
# linker symbols (__shell_cmds_start/_end, __kernel_start/_end): they bound one object that C
# cannot see. Prints "ok - ..." or "not ok - ..." and a summary line that tools/runtests.py reads.
set -uo pipefail
cd "$(dirname "$0")/.."
name=cppcheck
if ! command -v cppcheck >/dev/null; then
	echo "not ok - $name: cppcheck is not installed (tools/deps.sh test installs it)"
	echo "$name: 0 passed, 1 failed"
	exit 1
fi
out=$(cppcheck -q --std=c11 --enable=warning,portability --inline-suppr --error-exitcode=1 \
	-I. -D__KERNEL__ --suppress=missingIncludeSystem \
	--suppress=comparePointers:kernel/shell.c --suppress=comparePointers:kernel/mem.c \
	--template='{file}:{line}: {severity}: {id}: {message}' boot kernel drivers net 2>&1)
status=$?
if [ "$status" -eq 0 ]; then
	echo "ok - $name: no findings in boot/ kernel/ drivers/ net/"
	echo "$name: 1 passed, 0 failed"
else
	echo "$out" | grep -E '^[a-z].*: (error|warning|portability): ' | sed 's/^/#   /'
	echo "not ok - $name: findings above"
	echo "$name: 0 passed, 1 failed"
	exit 1
fi
