/*
 * kernel/io.h - the only place port I/O and MMIO are spelled out.
 *
 * Every device register access in the kernel goes through these accessors, so a reader can
 * find all hardware touches by grepping for them, and so the compiler can never merge,
 * reorder or elide one (each is a volatile access or an asm with a memory clobber).
 * x86 is little-endian, matching virtio 1.x and PCI, so no byte swapping happens here.
 */
#ifndef KERNEL_IO_H
#define KERNEL_IO_H

#include "kernel/types.h"

static inline void outb(u16 port, u8 v) { __asm__ __volatile__("outb %0, %1" ::"a"(v), "Nd"(port) : "memory"); }
static inline void outw(u16 port, u16 v) { __asm__ __volatile__("outw %0, %1" ::"a"(v), "Nd"(port) : "memory"); }
static inline void outl(u16 port, u32 v) { __asm__ __volatile__("outl %0, %1" ::"a"(v), "Nd"(port) : "memory"); }
static inline u8 inb(u16 port)
{
	u8 v;
	__asm__ __volatile__("inb %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}
static inline u16 inw(u16 port)
{
	u16 v;
	__asm__ __volatile__("inw %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}
static inline u32 inl(u16 port)
{
	u32 v;
	__asm__ __volatile__("inl %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}

/* MMIO: device memory is mapped uncached by the BIOS MTRRs, so a volatile access suffices. */
static inline u8 mmio_read8(const volatile void *a) { return *(const volatile u8 *)a; }
static inline u16 mmio_read16(const volatile void *a) { return *(const volatile u16 *)a; }
static inline u32 mmio_read32(const volatile void *a) { return *(const volatile u32 *)a; }
static inline void mmio_write8(volatile void *a, u8 v) { *(volatile u8 *)a = v; }
static inline void mmio_write16(volatile void *a, u16 v) { *(volatile u16 *)a = v; }
static inline void mmio_write32(volatile void *a, u32 v) { *(volatile u32 *)a = v; }
/* 64-bit registers as two 32-bit halves, low first: virtio 1.x section 4.1.3.1 allows it. */
static inline void mmio_write64_split(volatile void *a, u64 v)
{
	mmio_write32(a, (u32)v);
	mmio_write32((volatile u8 *)a + 4, (u32)(v >> 32));
}

static inline u64 rdmsr(u32 msr)
{
	u32 lo, hi;
	__asm__ __volatile__("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((u64)hi << 32) | lo;
}
static inline void wrmsr(u32 msr, u64 v)
{
	__asm__ __volatile__("wrmsr" ::"c"(msr), "a"((u32)v), "d"((u32)(v >> 32)) : "memory");
}

/* A short delay: a write to the unused POST port 0x80 takes about a microsecond on PC hardware. */
static inline void io_delay(void) { outb(0x80, 0); }

static inline void cpu_relax(void) { __asm__ __volatile__("pause" ::: "memory"); }

#endif
