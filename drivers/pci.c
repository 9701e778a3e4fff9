/*
 * drivers/pci.c - PCI bus enumeration, configuration space, BARs, capabilities and MSI-X.
 *
 * Follows the PCI Local Bus Specification 3.0 (configuration mechanism #1 in 3.2.2.3.2, the
 * configuration header in 6.1-6.2, BARs in 6.2.5.1, capabilities in 6.7, MSI-X in 6.8.2) and
 * the PCI-to-PCI Bridge Architecture Specification 1.2 for the type 1 header's bus numbers.
 * Only the first 256 bytes of each function are reachable; PCI Express extended space is not
 * needed by anything here.
 *
 * The bus is scanned once at boot (INITCALL level 1): SeaBIOS has already assigned bus numbers,
 * BAR addresses and INTx lines, so we only read what it set up, except for BAR sizing, which
 * must write to the BARs briefly. Drivers register later and are probed at once.
 *
 * The shell commands that show all this (lspci, msix, pcimem) are in drivers/pci_cmds.c.
 */
#include "drivers/pci.h"
#include "kernel/errno.h"
#include "kernel/init.h"
#include "kernel/io.h"
#include "kernel/irq.h"
#include "kernel/platform.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "kernel/timeline.h"

/* CONFIG_ADDRESS layout (PCI 3.0, 3.2.2.3.2): enable bit, bus, device, function, dword. */
#define PCI_CONFIG_ENABLE (1u << 31)
#define PCI_CONFIG_SPACE_SIZE 256
#define PCI_MAX_BUSES 256

static struct pci_dev devices[PCI_MAX_DEVICES];
static int ndevices;
static int devices_dropped;                 /* found after the table filled up */
static u64 buses_seen[PCI_MAX_BUSES / 64];  /* buses already scanned: guards against loops */
static int nbuses;
static bool scanned;

/* ---- configuration space ---------------------------------------------------------------- */

static u32 config_address(u8 bus, u8 slot, u8 func, u16 off)
{
	return PCI_CONFIG_ENABLE | (u32)bus << 16 | (u32)(slot & 0x1f) << 11 |
	       (u32)(func & 0x7) << 8 | (off & 0xfc);
}

/*
 * Address and data are two separate port accesses, so an interrupt handler that touched
 * config space in between would redirect ours: keep interrupts off across the pair.
 */
static u32 config_read(u8 bus, u8 slot, u8 func, u16 off, int width)
{
	unsigned long flags = local_irq_save();
	u32 v;

	outl(PCI_CONFIG_ADDRESS, config_address(bus, slot, func, off));
	/* Sub-dword data sits in its own byte lanes of the data port (PCI 3.0, 3.2.2.3.2). */
	if (width == 1)
		v = inb(PCI_CONFIG_DATA + (off & 3));
	else if (width == 2)
		v = inw(PCI_CONFIG_DATA + (off & 2));
	else
		v = inl(PCI_CONFIG_DATA);
	local_irq_restore(flags);
	return v;
}

static void config_write(u8 bus, u8 slot, u8 func, u16 off, int width, u32 v)
{
	unsigned long flags = local_irq_save();

	outl(PCI_CONFIG_ADDRESS, config_address(bus, slot, func, off));
	if (width == 1)
		outb(PCI_CONFIG_DATA + (off & 3), (u8)v);
	else if (width == 2)
		outw(PCI_CONFIG_DATA + (off & 2), (u16)v);
	else
		outl(PCI_CONFIG_DATA, v);
	local_irq_restore(flags);
}

/* Mechanism #1 addresses 256 bytes; a misaligned access would straddle two dwords. */
static bool config_offset_ok(u16 off, int width)
{
	return off <= PCI_CONFIG_SPACE_SIZE - width && (off & (width - 1)) == 0;
}

u8 pci_read8(const struct pci_dev *d, u16 off)
{
	if (!config_offset_ok(off, 1))
		return 0xff;
	return (u8)config_read(d->bus, d->slot, d->func, off, 1);
}

u16 pci_read16(const struct pci_dev *d, u16 off)
{
	if (!config_offset_ok(off, 2))
		return 0xffff;
	return (u16)config_read(d->bus, d->slot, d->func, off, 2);
}

u32 pci_read32(const struct pci_dev *d, u16 off)
{
	if (!config_offset_ok(off, 4))
		return 0xffffffff;
	return config_read(d->bus, d->slot, d->func, off, 4);
}

void pci_write8(const struct pci_dev *d, u16 off, u8 v)
{
	if (config_offset_ok(off, 1))
		config_write(d->bus, d->slot, d->func, off, 1, v);
}

void pci_write16(const struct pci_dev *d, u16 off, u16 v)
{
	if (config_offset_ok(off, 2))
		config_write(d->bus, d->slot, d->func, off, 2, v);
}

void pci_write32(const struct pci_dev *d, u16 off, u32 v)
{
	if (config_offset_ok(off, 4))
		config_write(d->bus, d->slot, d->func, off, 4, v);
}

/* ---- capabilities (PCI 3.0, 6.7) --------------------------------------------------------- */

/*
 * A capability pointer must land in the device-specific area after the 64-byte header and
 * be dword aligned. The spec asks software to mask the two low bits; we are stricter and
 * treat a pointer with them set as a broken list, since no real device sets them.
 */
static u8 cap_check(u8 ptr)
{
	if (ptr < 0x40 || (ptr & 3))
		return 0;
	return ptr;
}

u8 pci_cap_first(const struct pci_dev *d)
{
	if (!(pci_read16(d, PCI_STATUS) & PCI_STATUS_CAP_LIST))
		return 0;
	/* 0x34 is the pointer in both type 0 and type 1 headers (not CardBus, which we skip). */
	if (d->header_type > PCI_HEADER_TYPE_BRIDGE)
		return 0;
	return cap_check(pci_read8(d, PCI_CAPABILITY_LIST));
}

u8 pci_cap_next(const struct pci_dev *d, u8 ptr)
{
	return cap_check(pci_read8(d, ptr + PCI_CAP_NEXT));
}

u8 pci_find_capability(const struct pci_dev *d, u8 cap_id, u8 from)
{
	u8 ptr;

	if (from && !cap_check(from))
		return 0;
	ptr = from ? pci_cap_next(d, from) : pci_cap_first(d);
	/* Each capability takes at least a dword, so more hops than fit in 192 bytes is a loop. */
	for (int hops = 0; ptr && hops < PCI_CAP_MAX_HOPS; hops++) {
		if (pci_read8(d, ptr) == cap_id)
			return ptr;
		ptr = pci_cap_next(d, ptr);
	}
	return 0;
}

/* ---- BARs (PCI 3.0, 6.2.5.1) -------------------------------------------------------------- */

/*
 * Sizing: write all ones, read back, restore. The device hardwires to zero the address bits
 * below its size, so the lowest writable bit of the read-back value is the size. Taking the
 * lowest set bit also copes with I/O BARs that decode only 16 bits (upper half reads 0).
 */
static u32 bar_probe32(struct pci_dev *d, u16 off, u32 *orig)
{
	u32 v;

	*orig = pci_read32(d, off);
	pci_write32(d, off, 0xffffffff);
	v = pci_read32(d, off);
	pci_write32(d, off, *orig);
	return v;
}

/* Decode BAR i into d->bar[i]; returns how many BAR registers it used (2 for 64-bit). */
static int bar_decode(struct pci_dev *d, int i)
{
	struct pci_bar *b = &d->bar[i];
	u16 off = PCI_BAR0 + 4 * i;
	u32 orig, mask_lo;
	u64 addr, mask;

	memset(b, 0, sizeof(*b));
	mask_lo = bar_probe32(d, off, &orig);
	if (mask_lo == 0 || mask_lo == 0xffffffff) /* unimplemented, or a device that vanished */
		return 1;

	if (orig & PCI_BAR_IO) {
		mask = mask_lo & PCI_BAR_IO_MASK;
		addr = orig & PCI_BAR_IO_MASK;
		b->is_io = true;
	} else {
		u32 type = orig & PCI_BAR_MEM_TYPE_MASK;

		mask = mask_lo & PCI_BAR_MEM_MASK;
		addr = orig & PCI_BAR_MEM_MASK;
		b->prefetchable = orig & PCI_BAR_MEM_PREFETCH;
		if (type == PCI_BAR_MEM_TYPE_64) {
			u32 orig_hi, mask_hi;

			if (i == PCI_NUM_BARS - 1) {
				printk("pci: %02x:%02x.%x BAR%d claims 64 bits but is the last BAR; ignored\n",
				       d->bus, d->slot, d->func, i);
				return 1;
			}
			/* The upper half is a plain 32-bit address register, sized the same way. */
			mask_hi = bar_probe32(d, off + 4, &orig_hi);
			mask |= (u64)mask_hi << 32;
			addr |= (u64)orig_hi << 32;
			b->is_64 = true;
		} else if (type != PCI_BAR_MEM_TYPE_32) {
			/* Type 01b ("below 1 MiB") is reserved since PCI 3.0; decode it as 32-bit. */
			printk("pci: %02x:%02x.%x BAR%d has reserved memory type %u; treated as 32-bit\n",
			       d->bus, d->slot, d->func, i, type >> 1);
		}
	}
	if (mask == 0)
		return b->is_64 ? 2 : 1;
	b->size = mask & (~mask + 1); /* lowest set bit */
	if (addr + b->size < addr) { /* a range wrapping past 2^64 can only be garbage */
		b->size = 0;
		addr = 0;
	}
	b->addr = addr;
	return b->is_64 ? 2 : 1;
}

static void bars_decode(struct pci_dev *d)
{
	int nbars;
	u16 cmd;

	if (d->header_type == PCI_HEADER_TYPE_NORMAL)
		nbars = 6;
	else if (d->header_type == PCI_HEADER_TYPE_BRIDGE)
		nbars = 2; /* a bridge has BAR0/1 for its own registers; the rest are windows */
	else
		return;
	/*
	 * While a BAR holds all ones it claims an address range it does not own; turn decoding
	 * off so no CPU access can land there meanwhile, and put the command register back after.
	 */
	cmd = pci_read16(d, PCI_COMMAND);
	if (cmd & (PCI_COMMAND_IO | PCI_COMMAND_MEMORY))
		pci_write16(d, PCI_COMMAND, cmd & ~(PCI_COMMAND_IO | PCI_COMMAND_MEMORY));
	for (int i = 0; i < nbars;)
		i += bar_decode(d, i);
	if (cmd & (PCI_COMMAND_IO | PCI_COMMAND_MEMORY))
		pci_write16(d, PCI_COMMAND, cmd);
}

/* ---- command register -------------------------------------------------------------------- */

static void command_update(struct pci_dev *d, u16 set, u16 clear)
{
	u16 old = pci_read16(d, PCI_COMMAND);
	u16 cmd = (old & ~clear) | set;

	/* A 16-bit write leaves the status register (write-one-to-clear bits) alone. */
	if (cmd != old)
		pci_write16(d, PCI_COMMAND, cmd);
}

void pci_enable_device(struct pci_dev *d)
{
	u16 set = 0;

	for (int i = 0; i < PCI_NUM_BARS; i++) {
		if (!d->bar[i].size)
			continue;
		set |= d->bar[i].is_io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY;
	}
	command_update(d, set, 0);
}

void pci_set_master(struct pci_dev *d) { command_update(d, PCI_COMMAND_MASTER, 0); }

void pci_intx(struct pci_dev *d, bool enable)
{
	if (enable)
		command_update(d, 0, PCI_COMMAND_INTX_DISABLE);
	else
		command_update(d, PCI_COMMAND_INTX_DISABLE, 0);
}

/* ---- MMIO mapping ------------------------------------------------------------------------ */

bool pci_bar_window_ok(const struct pci_dev *d, int bar, u64 off, u64 len)
{
	const struct pci_bar *b;

	if (bar < 0 || bar >= PCI_NUM_BARS)
		return false;
	b = &d->bar[bar];
	/* An address of 0 means firmware left the BAR unassigned: nothing is there to map. */
	if (b->is_io || !b->size || !b->addr)
		return false;
	return len != 0 && off <= b->size && len <= b->size - off;
}

volatile void *pci_iomap(struct pci_dev *d, int bar, u64 off, u64 len)
{
	phys_addr_t pa;

	if (!pci_bar_window_ok(d, bar, off, len))
		return NULL;
	pa = d->bar[bar].addr + off;
	if (pa + len > IDENTITY_MAP_END)
		return ioremap(pa, len);
	return phys_to_virt(pa);
}

/* ---- MSI-X (PCI 3.0, 6.8.2) -------------------------------------------------------------- */

static void msix_read_info(struct pci_dev *d)
{
	struct pci_msix *m = &d->msix;
	u32 table, pba;
	u16 ctrl;

	m->cap = pci_find_capability(d, PCI_CAP_ID_MSIX, 0);
	if (!m->cap)
		return;
	ctrl = pci_read16(d, m->cap + PCI_MSIX_FLAGS);
	table = pci_read32(d, m->cap + PCI_MSIX_TABLE);
	pba = pci_read32(d, m->cap + PCI_MSIX_PBA);
	/* 6.8.2.3: the table size field is N - 1; 6.8.2.4/6.8.2.5: BIR in bits 2:0, the rest is
	 * a QWORD-aligned offset into that BAR. */
	m->table_size = (ctrl & PCI_MSIX_FLAGS_QSIZE) + 1;
	m->table_bar = table & PCI_MSIX_BIR_MASK;
	m->table_offset = table & ~PCI_MSIX_BIR_MASK;
	m->pba_bar = pba & PCI_MSIX_BIR_MASK;
	m->pba_offset = pba & ~PCI_MSIX_BIR_MASK;
}

/* One pending bit per entry, packed into QWORDs (6.8.2.10). */
static u64 msix_pba_bytes(u16 table_size) { return ALIGN_UP((u64)table_size, 64) / 8; }

int pci_msix_map(struct pci_dev *d)
{
	struct pci_msix *m = &d->msix;
	volatile void *table, *pba;

	if (m->table && m->pba)
		return 0;
	msix_read_info(d);
	if (!m->cap)
		return -ENODEV;
	/* BIR values 6 and 7 are reserved; pci_iomap rejects them, I/O BARs, and any table or
	 * PBA that would reach past the end of its BAR. */
	table = pci_iomap(d, m->table_bar, m->table_offset, (u64)m->table_size * PCI_MSIX_ENTRY_SIZE);
	pba = pci_iomap(d, m->pba_bar, m->pba_offset, msix_pba_bytes(m->table_size));
	if (!table || !pba) {
		printk("pci: %02x:%02x.%x MSI-X %s (BAR%u+0x%x) does not fit its BAR\n", d->bus,
		       d->slot, d->func, !table ? "table" : "PBA", !table ? m->table_bar : m->pba_bar,
		       !table ? m->table_offset : m->pba_offset);
		return -EIO;
	}
	m->table = table;
	m->pba = pba;
	return 0;
}

volatile u8 *pci_msix_entry(struct pci_dev *d, u16 entry)
{
	if (!d->msix.table || entry >= d->msix.table_size)
		return NULL;
	return d->msix.table + (u32)entry * PCI_MSIX_ENTRY_SIZE;
}

int pci_msix_set_entry(struct pci_dev *d, u16 entry, u32 addr, u32 data)
{
	volatile u8 *e;
	u32 ctrl;

	if (!d->msix.table)
		return -ENODEV;
	e = pci_msix_entry(d, entry);
	if (!e)
		return -EINVAL;
	/*
	 * Changing address or data of an unmasked entry is undefined (6.8.3.5), so mask it for
	 * the update and then put the mask bit back as the caller had it.
	 */
	ctrl = mmio_read32(e + PCI_MSIX_ENTRY_VECTOR_CTRL);
	if (!(ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT))
		mmio_write32(e + PCI_MSIX_ENTRY_VECTOR_CTRL, ctrl | PCI_MSIX_ENTRY_CTRL_MASKBIT);
	mmio_write32(e + PCI_MSIX_ENTRY_ADDR_LO, addr);
	mmio_write32(e + PCI_MSIX_ENTRY_ADDR_HI, 0); /* the LAPIC window is below 4 GiB */
	mmio_write32(e + PCI_MSIX_ENTRY_DATA, data);
	if (!(ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT))
		mmio_write32(e + PCI_MSIX_ENTRY_VECTOR_CTRL, ctrl);
	return 0;
}

void pci_msix_mask_entry(struct pci_dev *d, u16 entry, bool masked)
{
	volatile u8 *e = pci_msix_entry(d, entry);
	u32 ctrl;

	if (!e)
		return;
	/* Bits 31:1 of vector control are reserved: read-modify-write keeps them (6.8.2.9). */
	ctrl = mmio_read32(e + PCI_MSIX_ENTRY_VECTOR_CTRL);
	if (masked)
		ctrl |= PCI_MSIX_ENTRY_CTRL_MASKBIT;
	else
		ctrl &= ~PCI_MSIX_ENTRY_CTRL_MASKBIT;
	mmio_write32(e + PCI_MSIX_ENTRY_VECTOR_CTRL, ctrl);
}

void pci_msix_enable(struct pci_dev *d, bool enable)
{
	struct pci_msix *m = &d->msix;
	u16 ctrl;

	if (!m->cap)
		return;
	ctrl = pci_read16(d, m->cap + PCI_MSIX_FLAGS);
	if (enable) {
		/* A function with MSI-X enabled may not use its INTx pin (6.8.2.3); say so in the
		 * command register too, so nothing depends on the device honouring that. */
		pci_intx(d, false);
		/*
		 * Switch to MSI-X with the function mask set, so no vector can fire half-way
		 * through, then drop the function mask: from then on the per-entry mask bits,
		 * which the caller has programmed, decide (6.8.2.3).
		 */
		ctrl |= PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL;
		pci_write16(d, m->cap + PCI_MSIX_FLAGS, ctrl);
		ctrl &= ~PCI_MSIX_FLAGS_MASKALL;
		pci_write16(d, m->cap + PCI_MSIX_FLAGS, ctrl);
	} else {
		ctrl &= ~(PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
		pci_write16(d, m->cap + PCI_MSIX_FLAGS, ctrl);
		pci_intx(d, true);
	}
}

bool pci_msix_is_enabled(const struct pci_dev *d)
{
	return d->msix.cap && (pci_read16(d, d->msix.cap + PCI_MSIX_FLAGS) & PCI_MSIX_FLAGS_ENABLE);
}

/* Clear 'bits' in the message control word of capability 'id' if 'enable' is among them. */
static void msi_control_off(struct pci_dev *d, u8 id, u16 enable, u16 bits, const char *what)
{
	u8 cap = pci_find_capability(d, id, 0);
	u16 ctrl;

	if (!cap)
		return;
	ctrl = pci_read16(d, cap + PCI_MSI_FLAGS); /* at offset 2 in both capabilities */
	if (!(ctrl & enable))
		return;
	pci_write16(d, cap + PCI_MSI_FLAGS, ctrl & ~bits);
	printk("pci: %02x:%02x.%x %s was left enabled (by firmware or an earlier kernel); disabled\n", d->bus,
	       d->slot, d->func, what);
}

/*
 * A network boot ROM, or a kernel that handed the machine over without resetting the device,
 * may leave MSI or MSI-X on, with messages aimed at handlers that are not ours. With either on
 * the function may not use INTx (6.8.1.3, 6.8.2.3), and a driver that believed it off would
 * pick its interrupt mode, and read registers whose layout depends on it, on a wrong premise:
 * so both go off before a driver chooses. Message control: MSI Enable is bit 0 (6.8.1.3);
 * MSI-X Enable bit 15, Function Mask bit 14 (6.8.2.3).
 */
void pci_disable_msi_msix(struct pci_dev *d)
{
	msi_control_off(d, PCI_CAP_ID_MSI, PCI_MSI_FLAGS_ENABLE, PCI_MSI_FLAGS_ENABLE, "MSI");
	msi_control_off(d, PCI_CAP_ID_MSIX, PCI_MSIX_FLAGS_ENABLE, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL,
			"MSI-X");
}

bool pci_msix_pending(struct pci_dev *d, u16 entry)
{
	const struct pci_msix *m = &d->msix;
	u32 word;

	if (!m->pba || entry >= m->table_size)
		return false;
	/* Aligned DWORD reads of the PBA are allowed (6.8.2); bit n lives in dword n / 32. */
	word = mmio_read32(m->pba + (u32)(entry / 32) * 4);
	return word & (1u << (entry % 32));
}

/* ---- names -------------------------------------------------------------------------------- */

struct class_name {
	u8 class_code, subclass; /* subclass 0xff: any */
	const char *name;
};

/* Specific subclasses first; the class-wide fallback follows them. Network devices keep
 * the class-wide name on purpose: every network controller reads the same at boot. */
static const struct class_name class_names[] = {
	{ 0x00, 0xff, "unclassified device" },
	{ 0x01, 0x00, "SCSI controller" },
	{ 0x01, 0x01, "IDE controller" },
	{ 0x01, 0x06, "SATA controller" },
	{ 0x01, 0x08, "NVM controller" },
	{ 0x01, 0xff, "mass storage controller" },
	{ 0x02, 0xff, "network controller" },
	{ 0x03, 0x00, "VGA controller" },
	{ 0x03, 0xff, "display controller" },
	{ 0x04, 0x03, "audio device" },
	{ 0x04, 0xff, "multimedia controller" },
	{ 0x05, 0xff, "memory controller" },
	{ 0x06, 0x00, "host bridge" },
	{ 0x06, 0x01, "ISA bridge" },
	{ 0x06, 0x04, "PCI bridge" },
	{ 0x06, 0x09, "PCI bridge (semi-transparent)" },
	{ 0x06, 0xff, "bridge" },
	{ 0x07, 0x00, "serial controller" },
	{ 0x07, 0xff, "communication controller" },
	{ 0x08, 0xff, "system peripheral" },
	{ 0x09, 0xff, "input device controller" },
	{ 0x0c, 0x03, "USB controller" },
	{ 0x0c, 0x05, "SMBus controller" },
	{ 0x0c, 0xff, "serial bus controller" },
	{ 0x0d, 0xff, "wireless controller" },
	{ 0x10, 0xff, "encryption controller" },
	{ 0x11, 0xff, "signal processing controller" },
	{ 0x12, 0xff, "processing accelerator" },
	{ 0xff, 0xff, "unassigned class" },
};

const char *pci_class_name(u8 class_code, u8 subclass)
{
	for (size_t i = 0; i < ARRAY_SIZE(class_names); i++) {
		const struct class_name *c = &class_names[i];

		if (c->class_code == class_code && (c->subclass == subclass || c->subclass == 0xff))
			return c->name;
	}
	return "unknown class";
}

/* ---- enumeration -------------------------------------------------------------------------- */

static bool bus_seen(u8 bus) { return buses_seen[bus / 64] & BIT_ULL(bus % 64); }

static u16 vendor_at(u8 bus, u8 slot, u8 func)
{
	return (u16)config_read(bus, slot, func, PCI_VENDOR_ID, 2);
}

static bool vendor_valid(u16 vendor) { return vendor != 0xffff && vendor != 0; }

static void scan_bus(u8 bus);

static bool is_pci_bridge(const struct pci_dev *d)
{
	return d->header_type == PCI_HEADER_TYPE_BRIDGE && d->class_code == PCI_CLASS_BRIDGE &&
	       (d->subclass == PCI_SUBCLASS_BRIDGE_PCI || d->subclass == PCI_SUBCLASS_BRIDGE_PCI_SEMI);
}

static void print_device(const struct pci_dev *d)
{
	printk("pci: %02x:%02x.%x %04x:%04x class %02x/%02x %s", d->bus, d->slot, d->func, d->vendor,
	       d->device, d->class_code, d->subclass, pci_class_name(d->class_code, d->subclass));
	if (is_pci_bridge(d))
		printk(" [bus %02x-%02x]", d->secondary_bus, d->subordinate_bus);
	printk("\n");
}

/* Read the identity and resources of one present function into the next table slot. */
static struct pci_dev *add_function(u8 bus, u8 slot, u8 func)
{
	struct pci_dev *d;

	if (ndevices == PCI_MAX_DEVICES) {
		devices_dropped++;
		return NULL;
	}
	d = &devices[ndevices++];
	memset(d, 0, sizeof(*d));
	d->bus = bus;
	d->slot = slot;
	d->func = func;
	d->vendor = pci_read16(d, PCI_VENDOR_ID);
	d->device = pci_read16(d, PCI_DEVICE_ID);
	d->revision = pci_read8(d, PCI_REVISION_ID);
	d->prog_if = pci_read8(d, PCI_PROG_IF);
	d->subclass = pci_read8(d, PCI_SUBCLASS);
	d->class_code = pci_read8(d, PCI_CLASS);
	d->header_type = pci_read8(d, PCI_HEADER_TYPE) & PCI_HEADER_TYPE_MASK;
	d->irq_line = pci_read8(d, PCI_INTERRUPT_LINE);
	d->irq_pin = pci_read8(d, PCI_INTERRUPT_PIN);
	if (d->irq_pin > 4) /* only INTA#..INTD# exist (6.2.4) */
		d->irq_pin = 0;
	if (!d->irq_pin)
		d->irq_line = 0xff;
	if (d->header_type == PCI_HEADER_TYPE_NORMAL) {
		d->subsys_vendor = pci_read16(d, PCI_SUBSYSTEM_VENDOR_ID);
		d->subsys_id = pci_read16(d, PCI_SUBSYSTEM_ID);
	} else if (d->header_type == PCI_HEADER_TYPE_BRIDGE) {
		d->secondary_bus = pci_read8(d, PCI_SECONDARY_BUS);
		d->subordinate_bus = pci_read8(d, PCI_SUBORDINATE_BUS);
	}
	bars_decode(d);
	msix_read_info(d);
	print_device(d);
	return d;
}

/*
 * Firmware numbered the buses depth-first, so a bridge's secondary bus is above the bus it
 * sits on. Anything else (0, or a bus already scanned) is unconfigured or a loop; we do not
 * renumber buses ourselves, so such a bridge is reported and left alone.
 */
static void scan_bridge(const struct pci_dev *d)
{
	u8 sec = d->secondary_bus;

	if (sec <= d->bus || bus_seen(sec)) {
		printk("pci: %02x:%02x.%x bridge has unusable secondary bus %02x; not scanned\n",
		       d->bus, d->slot, d->func, sec);
		return;
	}
	scan_bus(sec);
}

static void scan_function(u8 bus, u8 slot, u8 func)
{
	struct pci_dev *d = add_function(bus, slot, func);

	if (d && is_pci_bridge(d))
		scan_bridge(d);
}

static void scan_slot(u8 bus, u8 slot)
{
	u8 htype;

	if (!vendor_valid(vendor_at(bus, slot, 0)))
		return;
	scan_function(bus, slot, 0);
	/*
	 * Functions 1-7 exist only on a multifunction device (header type bit 7, 6.2.1);
	 * single-function devices may answer on every function number with function 0's
	 * registers, so they must not be probed there.
	 */
	htype = (u8)config_read(bus, slot, 0, PCI_HEADER_TYPE, 1);
	if (!(htype & PCI_HEADER_TYPE_MULTIFUNCTION))
		return;
	for (u8 func = 1; func < PCI_MAX_FUNCS; func++)
		if (vendor_valid(vendor_at(bus, slot, func)))
			scan_function(bus, slot, func);
}

static void scan_bus(u8 bus)
{
	if (bus_seen(bus))
		return;
	buses_seen[bus / 64] |= BIT_ULL(bus % 64);
	nbuses++;
	for (u8 slot = 0; slot < PCI_MAX_SLOTS; slot++)
		scan_slot(bus, slot);
}

/*
 * Bus 0 is always there. A multifunction host bridge at 00:00 means several host bridges,
 * and function N then owns bus N, which bus 0's bridges need not lead to. Both QEMU machines
 * have one single-function host bridge, so this is bus 0 and what hangs below it.
 */
static void pci_scan(void)
{
	u8 htype = (u8)config_read(0, 0, 0, PCI_HEADER_TYPE, 1);

	scan_bus(0);
	if (!vendor_valid(vendor_at(0, 0, 0)) || !(htype & PCI_HEADER_TYPE_MULTIFUNCTION))
		return;
	for (u8 func = 1; func < PCI_MAX_FUNCS; func++)
		if (vendor_valid(vendor_at(0, 0, func)))
			scan_bus(func);
}

static void pci_init(void)
{
	if (scanned)
		return;
	scanned = true;
	pci_scan();
	if (devices_dropped)
		printk("pci: table full: %d more functions not recorded (PCI_MAX_DEVICES %d)\n",
		       devices_dropped, PCI_MAX_DEVICES);
	printk("pci: %d devices on %d buses\n", ndevices, nbuses);
	timeline_mark("pci scan done");
}
INITCALL(1, pci_init);

int pci_device_count(void) { return ndevices; }
int pci_bus_count(void) { return nbuses; }
int pci_devices_dropped(void) { return devices_dropped; }

struct pci_dev *pci_device(int i)
{
	if (i < 0 || i >= ndevices)
		return NULL;
	return &devices[i];
}

struct pci_dev *pci_get_device(u8 bus, u8 slot, u8 func)
{
	for (int i = 0; i < ndevices; i++) {
		struct pci_dev *d = &devices[i];

		if (d->bus == bus && d->slot == slot && d->func == func)
			return d;
	}
	return NULL;
}

/* ---- drivers ------------------------------------------------------------------------------ */

static bool driver_matches(const struct pci_driver *drv, const struct pci_dev *d)
{
	for (const struct pci_device_id *id = drv->ids; id->vendor; id++)
		if (id->vendor == d->vendor && (id->device == 0xffff || id->device == d->device))
			return true;
	return false;
}

/* Devices are only found at boot (no hot-plug), so probing at registration is complete. */
int pci_register_driver(const struct pci_driver *drv)
{
	int bound = 0;

	if (!drv || !drv->name || !drv->ids || !drv->probe)
		return -EINVAL;
	pci_init(); /* a driver registering before level 1 still sees the devices */
	for (int i = 0; i < ndevices; i++) {
		struct pci_dev *d = &devices[i];
		int err;

		if (d->driver || !driver_matches(drv, d))
			continue;
		err = drv->probe(d);
		if (err < 0) {
			printk("pci: %02x:%02x.%x %s probe failed: %s\n", d->bus, d->slot, d->func,
			       drv->name, strerror(err));
			continue;
		}
		d->driver = drv;
		bound++;
		printk("pci: %02x:%02x.%x bound to %s\n", d->bus, d->slot, d->func, drv->name);
	}
	return bound;
}
