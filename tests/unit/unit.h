/*
 * tests/unit/unit.h - a tiny unit-test harness for host-built tests.
 *
 * Each test binary's main() calls RUN(fn) for each test function and returns unit_summary().
 * Output is TAP-like, one line per test ("ok - name" / "not ok - name"), each failed check
 * printed with file:line, and a last line "<binary>: N passed, N failed" that
 * tools/runtests.py adds up. A test passes only if it ran at least one check.
 *
 * Names: tests/unit/test_<name>.c is a test binary (build/unit/<name>); every other .c here is
 * a harness, tests/unit/<what>_harness.c. What each test links follows from its name
 * (tests/unit/unit.mk); tests/unit/README says more.
 */
#ifndef TESTS_UNIT_UNIT_H
#define TESTS_UNIT_UNIT_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int unit_passed, unit_failed, unit_checks, unit_check_failures;
static const char *unit_current;

#define CHECK(cond)                                                                        \
	do {                                                                               \
		unit_checks++;                                                             \
		if (!(cond)) {                                                             \
			unit_check_failures++;                                             \
			printf("#   %s:%d: %s: CHECK(%s) failed\n", __FILE__, __LINE__,       \
			       unit_current, #cond);                                       \
		}                                                                          \
	} while (0)

#define CHECK_EQ(a, b)                                                                     \
	do {                                                                               \
		long long _a = (long long)(a), _b = (long long)(b);                        \
		unit_checks++;                                                             \
		if (_a != _b) {                                                            \
			unit_check_failures++;                                             \
			printf("#   %s:%d: %s: %s == %s failed: %lld != %lld\n", __FILE__,    \
			       __LINE__, unit_current, #a, #b, _a, _b);                    \
		}                                                                          \
	} while (0)

#define CHECK_STR(a, b)                                                                    \
	do {                                                                               \
		const char *_a = (a), *_b = (b);                                           \
		unit_checks++;                                                             \
		if (!_a || !_b || strcmp(_a, _b) != 0) {                                   \
			unit_check_failures++;                                             \
			printf("#   %s:%d: %s: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__, \
			       __LINE__, unit_current, #a, #b, _a ? _a : "(null)",         \
			       _b ? _b : "(null)");                                        \
		}                                                                          \
	} while (0)

#define CHECK_MEM(a, b, n) CHECK(memcmp((a), (b), (n)) == 0)

#define RUN(fn)                                                                            \
	do {                                                                               \
		int _before = unit_check_failures, _checks = unit_checks;                  \
		unit_current = #fn;                                                        \
		fn();                                                                      \
		if (unit_check_failures == _before && unit_checks > _checks) {             \
			unit_passed++;                                                     \
			printf("ok - %s\n", #fn);                                          \
		} else {                                                                   \
			unit_failed++;                                                     \
			printf("not ok - %s%s\n", #fn,                                     \
			       unit_checks == _checks ? " (no checks ran)" : "");          \
		}                                                                          \
	} while (0)

static inline int unit_summary(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, unit_passed, unit_failed);
	return unit_failed ? 1 : 0;
}

#endif
