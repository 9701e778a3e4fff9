/*
 * boot/multiboot.h - the Multiboot 0.6.96 (v1) structures the loader hands us.
 * Layouts from the Multiboot Specification, section 3.3 "Boot information format".
 */
#ifndef BOOT_MULTIBOOT_H
#define BOOT_MULTIBOOT_H

#define MULTIBOOT_HEADER_MAGIC 0x1badb002
#define MULTIBOOT_BOOTLOADER_MAGIC 0x2badb002
/* header flags (section 3.1.2), without C's 'u' suffix: boot/boot.S uses them, and clang's
 * integrated assembler (make CC=clang) rejects the suffix where GNU as tolerates it */
#define MULTIBOOT_PAGE_ALIGN (1 << 0)
#define MULTIBOOT_MEMORY_INFO (1 << 1)
#define MULTIBOOT_AOUT_KLUDGE (1 << 16) /* load addresses come from the header: lets QEMU load an ELF64 */

#ifndef __ASSEMBLER__
#include "kernel/types.h"

/* multiboot_info.flags bits */
#define MULTIBOOT_INFO_MEMORY (1u << 0)
#define MULTIBOOT_INFO_CMDLINE (1u << 2)
#define MULTIBOOT_INFO_MODS (1u << 3)
#define MULTIBOOT_INFO_MEM_MAP (1u << 6)
#define MULTIBOOT_INFO_BOOT_LOADER_NAME (1u << 9)

struct multiboot_info {
	u32 flags;
	u32 mem_lower; /* KiB below 1 MiB */
	u32 mem_upper; /* KiB above 1 MiB, up to the first hole */
	u32 boot_device;
	u32 cmdline;
	u32 mods_count;
	u32 mods_addr;
	u32 syms[4];
	u32 mmap_length;
	u32 mmap_addr;
	u32 drives_length;
	u32 drives_addr;
	u32 config_table;
	u32 boot_loader_name;
	u32 apm_table;
	u8 vbe[16];         /* unused: no graphics */
	u8 framebuffer[28]; /* unused */
} __packed;
_Static_assert(sizeof(struct multiboot_info) == 116, "multiboot_info layout (spec 3.3)");

#define MULTIBOOT_MEMORY_AVAILABLE 1

/* One memory map entry; 'size' does not count itself, entries may be longer than this. */
struct multiboot_mmap_entry {
	u32 size;
	u64 addr;
	u64 len;
	u32 type;
} __packed;
_Static_assert(sizeof(struct multiboot_mmap_entry) == 24, "multiboot mmap entry layout");

struct multiboot_mod {
	u32 mod_start;
	u32 mod_end;
	u32 string;
	u32 reserved;
} __packed;
#endif

#endif
