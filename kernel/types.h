/*
 * kernel/types.h - fixed-width types and the few compiler helpers every layer uses.
 *
 * Freestanding: <stdint.h>, <stddef.h>, <stdbool.h> and <stdarg.h> come from the compiler,
 * not from a C library, so this header is safe for both the kernel and host-built tests.
 */
#ifndef KERNEL_TYPES_H
#define KERNEL_TYPES_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef unsigned long long u64; /* not uint64_t (unsigned long): printk's %llu takes it as is */
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef long long s64;

/* Little-endian wire/device types (virtio 1.x is little-endian; so is x86). */
typedef uint16_t le16;
typedef uint32_t le32;
typedef unsigned long long le64;

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a) (((x) + ((a) - 1)) & ~((__typeof__(x))(a) - 1))
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a) - 1))
#define IS_POWER_OF_2(x) ((x) != 0 && (((x) & ((x) - 1)) == 0))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define BIT(n) (1u << (n))
#define BIT_ULL(n) (1ull << (n))

#define __packed __attribute__((packed))
#define __aligned(n) __attribute__((aligned(n)))
#define __unused __attribute__((unused))
#define __noreturn __attribute__((noreturn))
#define __printf(a, b) __attribute__((format(printf, a, b)))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* One access the compiler may neither split, merge nor cache (shared with IRQ handlers). */
#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))
/* A compiler-only barrier: orders nothing on the CPU, only the compiler's view of memory. */
#define barrier() __asm__ __volatile__("" ::: "memory")

#endif
