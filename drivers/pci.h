/*
 * drivers/pci.h - PCI configuration space, BARs, capabilities, INTx and MSI-X.
 *
 * Knows the PCI Local Bus Specification 3.0 and the PCI Express base spec's MSI-X chapter,
 * and nothing of virtio. Configuration mechanism #1 (ports 0xcf8/0xcfc) is used, which QEMU
 * provides on both the pc (i440fx) and q35 machines for the first 256 bytes of each function.
 */
#ifndef DRIVERS_PCI_H
#define DRIVERS_PCI_H

#include "kernel/mem.h"
#include "kernel/types.h"

/* Configuration header offsets (PCI 3.0, section 6.1) */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_REVISION_ID 0x08
#define PCI_PROG_IF 0x09
#define PCI_SUBCLASS 0x0a
#define PCI_CLASS 0x0b
#define PCI_HEADER_TYPE 0x0e
#define PCI_BAR0 0x10
#define PCI_PRIMARY_BUS 0x18 /* type 1 header: PCI-to-PCI Bridge Architecture spec 1.2, ch. 3 */
#define PCI_SECONDARY_BUS 0x19
#define PCI_SUBORDINATE_BUS 0x1a
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID 0x2e
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN 0x3d

#define PCI_COMMAND_IO (1u << 0)
#define PCI_COMMAND_MEMORY (1u << 1)
#define PCI_COMMAND_MASTER (1u << 2)
#define PCI_COMMAND_INTX_DISABLE (1u << 10)
#define PCI_STATUS_CAP_LIST (1u << 4)

#define PCI_HEADER_TYPE_MASK 0x7f
#define PCI_HEADER_TYPE_MULTIFUNCTION 0x80
#define PCI_HEADER_TYPE_NORMAL 0
#define PCI_HEADER_TYPE_BRIDGE 1
#define PCI_CLASS_BRIDGE 0x06
#define PCI_SUBCLASS_BRIDGE_HOST 0x00
#define PCI_SUBCLASS_BRIDGE_PCI 0x04
#define PCI_SUBCLASS_BRIDGE_PCI_SEMI 0x09 /* semi-transparent PCI-to-PCI bridge */

/* Base address register low bits (PCI 3.0, 6.2.5.1) */
#define PCI_BAR_IO (1u << 0)
#define PCI_BAR_IO_MASK (~0x3u)
#define PCI_BAR_MEM_TYPE_MASK (3u << 1)
#define PCI_BAR_MEM_TYPE_32 (0u << 1)
#define PCI_BAR_MEM_TYPE_64 (2u << 1)
#define PCI_BAR_MEM_PREFETCH (1u << 3)
#define PCI_BAR_MEM_MASK (~0xfu)

#define PCI_CAP_ID_PM 0x01
#define PCI_CAP_ID_MSI 0x05
#define PCI_CAP_ID_VNDR 0x09
#define PCI_CAP_ID_EXP 0x10
#define PCI_CAP_ID_MSIX 0x11
#define PCI_CAP_NEXT 1      /* every capability: byte 0 id, byte 1 next pointer (PCI 3.0, 6.7) */
#define PCI_CAP_MAX_HOPS 48 /* (256 - 64) / 4: more hops than that means a loop */

/* MSI capability: message control, offset from the capability (PCI 3.0, 6.8.1.3) */
#define PCI_MSI_FLAGS 2
#define PCI_MSI_FLAGS_ENABLE (1u << 0)

/* MSI-X capability registers, offsets from the capability (PCI 3.0, 6.8.2) */
#define PCI_MSIX_FLAGS 2              /* message control, 16 bits */
#define PCI_MSIX_FLAGS_QSIZE 0x7ffu   /* table size - 1 */
#define PCI_MSIX_FLAGS_MASKALL (1u << 14)
#define PCI_MSIX_FLAGS_ENABLE (1u << 15)
#define PCI_MSIX_TABLE 4              /* table offset | BIR */
#define PCI_MSIX_PBA 8                /* PBA offset | BIR */
#define PCI_MSIX_BIR_MASK 0x7u
/* MSI-X table entry (PCI 3.0, 6.8.2.6-6.8.2.9): 16 bytes */
#define PCI_MSIX_ENTRY_SIZE 16
#define PCI_MSIX_ENTRY_ADDR_LO 0
#define PCI_MSIX_ENTRY_ADDR_HI 4
#define PCI_MSIX_ENTRY_DATA 8
#define PCI_MSIX_ENTRY_VECTOR_CTRL 12
#define PCI_MSIX_ENTRY_CTRL_MASKBIT (1u << 0)

#define PCI_NUM_BARS 6
#define PCI_MAX_DEVICES 64
#define PCI_MAX_SLOTS 32 /* device numbers on one bus */
#define PCI_MAX_FUNCS 8  /* functions of one device */

struct pci_bar {
	u64 addr;   /* bus address (memory) or port number (I/O); 0 when unimplemented */
	u64 size;
	bool is_io;
	bool is_64;
	bool prefetchable;
};

struct pci_msix {
	u8 cap;             /* config offset of the MSI-X capability; 0 when absent */
	u16 table_size;     /* number of entries */
	u8 table_bar;
	u32 table_offset;
	u8 pba_bar;
	u32 pba_offset;
	volatile u8 *table; /* mapped by pci_msix_map() */
	volatile u8 *pba;
	/* whether MSI-X is enabled is not kept here: pci_msix_is_enabled reads the function */
};

struct pci_dev {
	u8 bus, slot, func;
	u16 vendor, device;
	u16 subsys_vendor, subsys_id;
	u8 class_code, subclass, prog_if, revision;
	u8 header_type;     /* without the multifunction bit */
	u8 irq_line;        /* INTx routed by the BIOS: an ISA IRQ for the PIC; 0xff = none */
	u8 irq_pin;         /* 1 = INTA# ... 4 = INTD#; 0 = no INTx */
	u8 secondary_bus;   /* header type 1 only: the bus behind this bridge */
	u8 subordinate_bus; /* header type 1 only: the highest bus number behind it */
	struct pci_bar bar[PCI_NUM_BARS];
	struct pci_msix msix;
	const struct pci_driver *driver;
	void *driver_data;
};

/* Configuration space access: off must be naturally aligned and below 256 (mechanism #1
 * reaches no further); other offsets read as all ones and are ignored on write. */
u8 pci_read8(const struct pci_dev *d, u16 off);
u16 pci_read16(const struct pci_dev *d, u16 off);
u32 pci_read32(const struct pci_dev *d, u16 off);
void pci_write8(const struct pci_dev *d, u16 off, u8 v);
void pci_write16(const struct pci_dev *d, u16 off, u16 v);
void pci_write32(const struct pci_dev *d, u16 off, u32 v);

/* Capability list walk (PCI 3.0, 6.7): config offset of the first capability with this id
 * after 'from' (0 = from the start), or 0. Loops and out-of-range pointers end the walk. */
u8 pci_find_capability(const struct pci_dev *d, u8 cap_id, u8 from);
/* The whole list, whatever the ids (lspci): pci_cap_first, then pci_cap_next until 0. A
 * broken list ends early; a looping one does not, so stop after PCI_CAP_MAX_HOPS. */
u8 pci_cap_first(const struct pci_dev *d);
u8 pci_cap_next(const struct pci_dev *d, u8 ptr);

void pci_enable_device(struct pci_dev *d); /* decode I/O and memory BARs */
void pci_set_master(struct pci_dev *d);    /* allow the device to DMA (and send MSI-X) */
void pci_intx(struct pci_dev *d, bool enable);

/* Whether [off, off + len) lies inside memory BAR 'bar', which firmware assigned: what
 * pci_iomap can map (len 0 never does). */
bool pci_bar_window_ok(const struct pci_dev *d, int bar, u64 off, u64 len);
/* A pointer to [bar.addr + off, + len) of a memory BAR (mapped if above 4 GiB), or NULL when
 * the BAR is I/O, absent, or too small. */
volatile void *pci_iomap(struct pci_dev *d, int bar, u64 off, u64 len);

/* MSI-X (PCI 3.0, 6.8.2): locate and map table and PBA; then program entries, then enable.
 * pci_msix_map returns 0, -ENODEV (no capability) or -EIO (table outside its BAR). */
int pci_msix_map(struct pci_dev *d);
int pci_msix_set_entry(struct pci_dev *d, u16 entry, u32 addr, u32 data); /* -EINVAL if out of range, -ENODEV if not mapped */
void pci_msix_mask_entry(struct pci_dev *d, u16 entry, bool masked);
void pci_msix_enable(struct pci_dev *d, bool enable); /* also sets INTx disable accordingly */
/* The MSI-X Enable bit as the function holds it now (message control, 6.8.2.3). */
bool pci_msix_is_enabled(const struct pci_dev *d);
/* Turn MSI and MSI-X off in their message control words, whoever left them on (firmware, an
 * earlier kernel), with a console line for each that was on; INTx is left as it was. */
void pci_disable_msi_msix(struct pci_dev *d);
bool pci_msix_pending(struct pci_dev *d, u16 entry);
/* Entry's 16 bytes in the mapped table, or NULL (not mapped, or past the table). */
volatile u8 *pci_msix_entry(struct pci_dev *d, u16 entry);

/* Drivers: probe is called for each device whose vendor and device ids match an entry of
 * ids (terminated by vendor 0); device 0xffff matches any device of that vendor. */
struct pci_device_id {
	u16 vendor, device;
};
struct pci_driver {
	const char *name;
	const struct pci_device_id *ids;
	int (*probe)(struct pci_dev *d);
};
/* Registers and probes now against every device found by the scan that no driver holds yet.
 * Returns how many devices the driver bound (0 or more), or -EINVAL for a malformed driver.
 * A probe that fails leaves the device unbound; its error is printed, not returned. */
int pci_register_driver(const struct pci_driver *drv);

/* Iterate the devices found at boot: pci_device(i) for i < pci_device_count(). */
int pci_device_count(void);
struct pci_dev *pci_device(int i);
int pci_bus_count(void);       /* buses the scan walked */
int pci_devices_dropped(void); /* functions found after the table was full */
/* The device at bus:slot.func found by the scan, or NULL. */
struct pci_dev *pci_get_device(u8 bus, u8 slot, u8 func);

const char *pci_class_name(u8 class_code, u8 subclass);

#endif
