/*
 * tests/unit/test_format.c - kernel/format.c's vsnprintk on the host.
 *
 * Every conversion, flag, width, length modifier and precision that kernel/printk.h promises,
 * the extremes of each integer type, truncation with the C99 return value, and the rule that an
 * unknown conversion is printed as written without consuming an argument.
 *
 * The formats go through fmt(), a wrapper without the printf attribute, so that deliberately
 * unusual formats ("%q") compile under -Werror; the arguments still match their conversions.
 */
#include <limits.h>
#include <stdint.h>

#include "kernel/printk.h"
#include "tests/unit/unit.h"

static char out[256];

/* Format into out (always sized generously); return vsnprintk's result. */
static int fmt(const char *f, ...)
{
	va_list ap;
	int n;

	memset(out, 'Z', sizeof(out));
	va_start(ap, f);
	n = vsnprintk(out, sizeof(out), f, ap);
	va_end(ap);
	return n;
}

/* Format into a buffer of exactly size bytes placed inside a guarded area. */
static char guarded[64];
static int fmt_n(size_t size, const char *f, ...)
{
	va_list ap;
	int n;

	memset(guarded, 'Z', sizeof(guarded));
	va_start(ap, f);
	n = vsnprintk(guarded + 8, size, f, ap);
	va_end(ap);
	return n;
}

/* The result must be the string, and the return value its length. */
#define EXPECT(want, ...)                                                   \
	do {                                                                \
		int _n = fmt(__VA_ARGS__);                                  \
		CHECK_STR(out, want);                                       \
		CHECK_EQ(_n, (long long)strlen(want));                      \
	} while (0)

static void test_plain_text(void)
{
	EXPECT("", "");
	EXPECT("hello, world", "hello, world");
	EXPECT("100%", "100%%");
	EXPECT("%%", "%%%%");
}

static void test_signed_decimal(void)
{
	EXPECT("0", "%d", 0);
	EXPECT("42", "%d", 42);
	EXPECT("-42", "%i", -42);
	EXPECT("2147483647", "%d", INT_MAX);
	EXPECT("-2147483648", "%d", INT_MIN);
	EXPECT("-9223372036854775808", "%ld", LONG_MIN);
	EXPECT("9223372036854775807", "%lld", LLONG_MAX);
	EXPECT("-9223372036854775808", "%lld", LLONG_MIN);
	EXPECT("-1 0 1", "%d %d %d", -1, 0, 1);
}

static void test_unsigned_and_hex(void)
{
	EXPECT("4294967295", "%u", UINT_MAX);
	EXPECT("18446744073709551615", "%llu", ULLONG_MAX);
	EXPECT("18446744073709551615", "%lu", ULONG_MAX);
	EXPECT("deadbeef", "%x", 0xdeadbeefu);
	EXPECT("DEADBEEF", "%X", 0xdeadbeefu);
	EXPECT("0", "%x", 0u);
	EXPECT("ffffffffffffffff", "%llx", ULLONG_MAX);
	EXPECT("FFFFFFFFFFFFFFFF", "%lX", ULONG_MAX);
	EXPECT("ffffffff", "%x", -1); /* an int's bits, as unsigned int */
}

static void test_length_modifiers(void)
{
	EXPECT("-56", "%hhd", 200);        /* (signed char)200 */
	EXPECT("44", "%hhu", 300);         /* (unsigned char)300 */
	EXPECT("ff", "%hhx", -1);
	EXPECT("-25536", "%hd", 40000);    /* (short)40000 */
	EXPECT("65535", "%hu", -1);
	EXPECT("2345", "%hx", 0x12345);
	EXPECT("-32768", "%hd", SHRT_MIN);
	EXPECT("-128", "%hhd", SCHAR_MIN);
	EXPECT("18446744073709551615", "%zu", SIZE_MAX);
	EXPECT("-5", "%zd", (long)-5);
	EXPECT("123456789012", "%ld", 123456789012L);
	EXPECT("1 2 3", "%hhd %hd %lld", 1, 2, 3LL); /* later arguments stay in step */
}

static void test_width_and_flags(void)
{
	EXPECT("   42", "%5d", 42);
	EXPECT("42   |", "%-5d|", 42);
	EXPECT("00042", "%05d", 42);
	EXPECT("-0042", "%05d", -42);
	EXPECT("  -42", "%5d", -42);
	EXPECT("-42  |", "%-5d|", -42);
	EXPECT("42   |", "%-05d|", 42); /* '-' wins over '0' */
	EXPECT("00ff", "%04x", 255u);
	EXPECT("12345", "%3d", 12345);  /* a width never truncates */
	EXPECT("    7", "%*d", 5, 7);
	EXPECT("7    |", "%*d|", -5, 7);  /* negative '*' width: left-justify */
	EXPECT("000000000000002a", "%016llx", 42ULL);
	EXPECT("    a|b    ", "%5c|%-5c", 'a', 'b');
}

static void test_strings(void)
{
	EXPECT("abc", "%s", "abc");
	EXPECT("", "%s", "");
	EXPECT("  abc", "%5s", "abc");
	EXPECT("abc  |", "%-5s|", "abc");
	EXPECT("ab", "%.2s", "abc");
	EXPECT("abc", "%.10s", "abc");
	EXPECT("", "%.0s", "abc");
	EXPECT("   ab", "%5.2s", "abc");
	EXPECT("ab   |", "%-5.2s|", "abc");
	EXPECT("abc", "%.*s", 3, "abcdef");
	EXPECT("abcdef", "%.*s", -1, "abcdef"); /* negative precision: none */
	{
		/* precision bounds the read: an unterminated array is fine (ASan checks) */
		static const char unterminated[3] = { 'x', 'y', 'z' };
		EXPECT("xyz", "%.3s", unterminated);
	}
	EXPECT("(null)", "%s", (char *)NULL);
	EXPECT("  (null)", "%8s", (char *)NULL);
}

static void test_chars_and_percent(void)
{
	EXPECT("A", "%c", 'A');
	EXPECT("[A]", "[%c]", 65);
	EXPECT("a%b", "a%%b");
	EXPECT("x%", "x%%");
}

static void test_pointers(void)
{
	EXPECT("0xbadc0ffee0", "%p", (void *)0xbadc0ffee0ull);
	EXPECT("0x0", "%p", (void *)0);
	EXPECT("0xffffffffffffffff", "%p", (void *)UINTPTR_MAX);
	EXPECT("  0x1000", "%8p", (void *)0x1000);
	EXPECT("0x00001000", "%010p", (void *)0x1000); /* zeros go after the prefix */
	EXPECT("0x1000  |", "%-8p|", (void *)0x1000);
}

static void test_unknown_conversions_are_literal(void)
{
	/* printed as written; the next argument goes to the next real conversion */
	EXPECT("%q 7", "%q %d", 7);
	EXPECT("%5q|7", "%5q|%d", 7);
	EXPECT("%lq", "%lq");
	EXPECT("%-08y", "%-08y");
	EXPECT("abc%", "abc%");   /* a lone '%' at the end */
	EXPECT("%-", "%-");       /* flags and then the end */
	EXPECT("%5", "%5");
	EXPECT("%l", "%l");
	EXPECT("%hh", "%hh");
	EXPECT("%f%e", "%f%e");   /* no floating point in the kernel */
}

static void test_truncation(void)
{
	int n;

	n = fmt_n(5, "hello world");
	CHECK_EQ(n, 11);                     /* the length it would have had */
	CHECK_STR(guarded + 8, "hell");      /* size - 1 characters and the NUL */
	CHECK(guarded[7] == 'Z' && guarded[8 + 5] == 'Z'); /* nothing outside the buffer */

	n = fmt_n(1, "abc");
	CHECK_EQ(n, 3);
	CHECK_EQ(guarded[8], '\0');
	CHECK_EQ(guarded[9], 'Z');

	n = fmt_n(0, "abc");                 /* size 0: nothing written at all */
	CHECK_EQ(n, 3);
	CHECK_EQ(guarded[8], 'Z');

	n = fmt_n(6, "%d", -123456);
	CHECK_EQ(n, 7);
	CHECK_STR(guarded + 8, "-1234");

	n = fmt_n(4, "%5s", "ab");
	CHECK_EQ(n, 5);
	CHECK_STR(guarded + 8, "   ");

	n = fmt_n(3, "%s", "ab");            /* exactly fits */
	CHECK_EQ(n, 2);
	CHECK_STR(guarded + 8, "ab");
	CHECK_EQ(guarded[8 + 3], 'Z');

	CHECK_EQ(snprintk(NULL, 0, "%s-%d", "abc", 12345), 9); /* measuring only */
}

int main(void)
{
	RUN(test_plain_text);
	RUN(test_signed_decimal);
	RUN(test_unsigned_and_hex);
	RUN(test_length_modifiers);
	RUN(test_width_and_flags);
	RUN(test_strings);
	RUN(test_chars_and_percent);
	RUN(test_pointers);
	RUN(test_unknown_conversions_are_literal);
	RUN(test_truncation);
	return unit_summary("test_format");
}
