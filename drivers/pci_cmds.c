/*
 * drivers/pci_cmds.c - the PCI shell commands: lspci (devices, BARs, capabilities), msix (a
 * device's MSI-X table, and a self-test of the MSI-X API) and pcimem (dwords of a memory BAR).
 *
 * Only reads what drivers/pci.c found and offers through drivers/pci.h; the one command that
 * writes (msix ... selftest) goes through the same MSI-X calls a driver uses.
 */
#include "drivers/pci.h"
#include "kernel/errno.h"
#include "kernel/io.h"
#include "kernel/platform.h"
#include "kernel/printk.h"
#include "kernel/shell.h"
#include "kernel/string.h"

/* ---- lspci --------------------------------------------------------------------------------- */

/* A size as the largest whole binary unit, e.g. 4K, 16K, 8M; odd sizes in bytes. */
static void format_size(char *buf, size_t len, u64 size)
{
	static const char units[] = "KMGT";
	int u = -1;

	while (u < 3 && size >= 1024 && (size & 1023) == 0) {
		size >>= 10;
		u++;
	}
	if (u < 0)
		snprintk(buf, len, "%llu", size);
	else
		snprintk(buf, len, "%llu%c", size, units[u]);
}

static void print_bars(const struct pci_dev *d)
{
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		const struct pci_bar *b = &d->bar[i];
		char size[24];

		if (!b->size)
			continue;
		format_size(size, sizeof(size), b->size);
		if (b->is_io)
			printk("\tBAR%d: I/O ports at 0x%llx, size %s\n", i, b->addr, size);
		else
			printk("\tBAR%d: memory at 0x%llx, size %s, %s, %s\n", i, b->addr, size,
			       b->is_64 ? "64-bit" : "32-bit",
			       b->prefetchable ? "prefetchable" : "non-prefetchable");
	}
}

static const char *cap_name(u8 id)
{
	static const char *const names[] = {
		[0x01] = "power management", [0x02] = "AGP",
		[0x03] = "VPD",              [0x04] = "slot ID",
		[0x05] = "MSI",              [0x06] = "CompactPCI hot swap",
		[0x07] = "PCI-X",            [0x08] = "HyperTransport",
		[0x09] = "vendor specific",  [0x0a] = "debug port",
		[0x0b] = "CompactPCI CRC",   [0x0c] = "PCI hot-plug",
		[0x0d] = "bridge subsystem ID", [0x0e] = "AGP 8x",
		[0x0f] = "secure device",    [0x10] = "PCI Express",
		[0x11] = "MSI-X",            [0x12] = "SATA config",
		[0x13] = "advanced features",
	};

	if (id < ARRAY_SIZE(names) && names[id])
		return names[id];
	return "unknown";
}

static void print_capabilities(const struct pci_dev *d)
{
	const struct pci_msix *m = &d->msix;
	int hops = 0;
	u8 ptr;

	for (ptr = pci_cap_first(d); ptr && hops < PCI_CAP_MAX_HOPS; ptr = pci_cap_next(d, ptr), hops++) {
		u8 id = pci_read8(d, ptr);

		printk("\tcapability [%02x] %s (0x%02x)", ptr, cap_name(id), id);
		if (id == PCI_CAP_ID_VNDR) /* byte 2 of a vendor capability is its length */
			printk(", length %u", pci_read8(d, ptr + 2));
		printk("\n");
	}
	if (ptr)
		printk("\tcapability list longer than %d entries: looping, not shown further\n",
		       PCI_CAP_MAX_HOPS);
	if (m->cap) {
		u16 ctrl = pci_read16(d, m->cap + PCI_MSIX_FLAGS);

		printk("\tMSI-X: table size %u, table BAR%u+0x%x, PBA BAR%u+0x%x, %s%s\n",
		       m->table_size, m->table_bar, m->table_offset, m->pba_bar, m->pba_offset,
		       (ctrl & PCI_MSIX_FLAGS_ENABLE) ? "enabled" : "disabled",
		       (ctrl & PCI_MSIX_FLAGS_MASKALL) ? ", function masked" : "");
	}
}

static void lspci_one(const struct pci_dev *d)
{
	static const char pins[] = "ABCD";

	printk("%02x:%02x.%x %04x:%04x class %02x/%02x %s (prog-if %02x, rev %02x)\n", d->bus,
	       d->slot, d->func, d->vendor, d->device, d->class_code, d->subclass,
	       pci_class_name(d->class_code, d->subclass), d->prog_if, d->revision);
	if (d->header_type == PCI_HEADER_TYPE_NORMAL)
		printk("\tsubsystem %04x:%04x\n", d->subsys_vendor, d->subsys_id);
	else if (d->header_type == PCI_HEADER_TYPE_BRIDGE)
		printk("\tbridge: secondary bus %02x, subordinate bus %02x\n", d->secondary_bus,
		       d->subordinate_bus);
	printk("\tcommand 0x%04x, status 0x%04x\n", pci_read16(d, PCI_COMMAND), pci_read16(d, PCI_STATUS));
	if (d->irq_pin)
		printk("\tIRQ: line %u, pin INT%c\n", d->irq_line, pins[d->irq_pin - 1]);
	else
		printk("\tIRQ: none\n");
	print_bars(d);
	print_capabilities(d);
	printk("\tdriver: %s\n", d->driver ? d->driver->name : "none");
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parse "bb:ss.f" (hex, as printed) into its parts. */
static int parse_bdf(const char *s, u8 *bus, u8 *slot, u8 *func)
{
	int b0, b1, s0, s1, f;

	if (strlen(s) != 7 || s[2] != ':' || s[5] != '.')
		return -EINVAL;
	b0 = hex_digit(s[0]);
	b1 = hex_digit(s[1]);
	s0 = hex_digit(s[3]);
	s1 = hex_digit(s[4]);
	f = hex_digit(s[6]);
	if (b0 < 0 || b1 < 0 || s0 < 0 || s1 < 0 || f < 0 || f > 7 || s0 * 16 + s1 >= PCI_MAX_SLOTS)
		return -EINVAL;
	*bus = (u8)(b0 * 16 + b1);
	*slot = (u8)(s0 * 16 + s1);
	*func = (u8)f;
	return 0;
}

/* The device named by a "bb:ss.f" argument: NULL with *err set when malformed or absent. */
static struct pci_dev *arg_device(const char *cmd, const char *arg, int *err)
{
	u8 bus, slot, func;
	struct pci_dev *d;

	*err = parse_bdf(arg, &bus, &slot, &func);
	if (*err < 0)
		return NULL;
	d = pci_get_device(bus, slot, func);
	if (!d) {
		printk("%s: no device at %s\n", cmd, arg);
		*err = -ENODEV;
	}
	return d;
}

static int cmd_lspci(int argc, char **argv)
{
	struct pci_dev *d;
	int err;

	if (argc > 2)
		return -EINVAL;
	if (argc == 2) {
		d = arg_device(argv[0], argv[1], &err);
		if (!d)
			return err;
		lspci_one(d);
		return 0;
	}
	for (int i = 0; i < pci_device_count(); i++)
		lspci_one(pci_device(i));
	printk("%d devices on %d buses%s\n", pci_device_count(), pci_bus_count(),
	       pci_devices_dropped() ? " (table full: some not recorded)" : "");
	return 0;
}
SHELL_COMMAND(lspci, cmd_lspci, "lspci [bb:ss.f]", "PCI devices: ids, class, BARs, IRQ, capabilities, driver");

/* ---- debugging aids: MSI-X table dump and self-test, BAR peek ------------------------------- */

static void msix_dump(struct pci_dev *d)
{
	const struct pci_msix *m = &d->msix;

	printk("%02x:%02x.%x MSI-X: %u entries, table at %p, PBA at %p, %s\n", d->bus, d->slot,
	       d->func, m->table_size, (void *)m->table, (void *)m->pba,
	       pci_msix_is_enabled(d) ? "enabled" : "disabled");
	for (u16 i = 0; i < m->table_size; i++) {
		volatile u8 *e = pci_msix_entry(d, i);
		u32 ctrl = mmio_read32(e + PCI_MSIX_ENTRY_VECTOR_CTRL);

		printk("\tentry %u: addr 0x%08x%08x data 0x%08x %s%s\n", i,
		       mmio_read32(e + PCI_MSIX_ENTRY_ADDR_HI), mmio_read32(e + PCI_MSIX_ENTRY_ADDR_LO),
		       mmio_read32(e + PCI_MSIX_ENTRY_DATA),
		       (ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT) ? "masked" : "unmasked",
		       pci_msix_pending(d, i) ? ", pending" : "");
	}
}

struct msix_saved_entry {
	u32 addr_lo, addr_hi, data, ctrl;
};

static int selftest_failures;

static void selftest_check(bool ok, const char *what)
{
	if (!ok) {
		selftest_failures++;
		printk("msix: selftest: FAILED: %s\n", what);
	}
}

/*
 * Exercise the MSI-X API on the last table entry of a device no driver holds, with every
 * entry kept masked so nothing is ever delivered, then put everything back as it was.
 */
static int msix_selftest(struct pci_dev *d)
{
	struct pci_msix *m = &d->msix;
	u16 last = m->table_size - 1;
	volatile u8 *e = pci_msix_entry(d, last);
	struct msix_saved_entry saved;
	u16 cmd, ctrl;

	if (d->driver || pci_msix_is_enabled(d)) {
		printk("msix: selftest needs a device without a driver and with MSI-X off\n");
		return -EBUSY;
	}
	selftest_failures = 0;
	cmd = pci_read16(d, PCI_COMMAND);
	saved.addr_lo = mmio_read32(e + PCI_MSIX_ENTRY_ADDR_LO);
	saved.addr_hi = mmio_read32(e + PCI_MSIX_ENTRY_ADDR_HI);
	saved.data = mmio_read32(e + PCI_MSIX_ENTRY_DATA);
	saved.ctrl = mmio_read32(e + PCI_MSIX_ENTRY_VECTOR_CTRL);

	pci_msix_mask_entry(d, last, true);
	selftest_check(mmio_read32(e + PCI_MSIX_ENTRY_VECTOR_CTRL) & PCI_MSIX_ENTRY_CTRL_MASKBIT,
		       "mask_entry sets the mask bit");
	selftest_check(pci_msix_set_entry(d, last, MSI_ADDRESS_BASE, 0x4242) == 0, "set_entry returns 0");
	selftest_check(mmio_read32(e + PCI_MSIX_ENTRY_ADDR_LO) == MSI_ADDRESS_BASE, "address low written");
	selftest_check(mmio_read32(e + PCI_MSIX_ENTRY_ADDR_HI) == 0, "address high is zero");
	selftest_check(mmio_read32(e + PCI_MSIX_ENTRY_DATA) == 0x4242, "data written");
	selftest_check(mmio_read32(e + PCI_MSIX_ENTRY_VECTOR_CTRL) & PCI_MSIX_ENTRY_CTRL_MASKBIT,
		       "set_entry keeps a masked entry masked");
	selftest_check(pci_msix_set_entry(d, m->table_size, MSI_ADDRESS_BASE, 0) == -EINVAL,
		       "set_entry past the table is -EINVAL");

	/* MSI-X is still off, so an unmasked entry cannot fire yet. */
	pci_msix_mask_entry(d, last, false);
	selftest_check(!(mmio_read32(e + PCI_MSIX_ENTRY_VECTOR_CTRL) & PCI_MSIX_ENTRY_CTRL_MASKBIT),
		       "mask_entry(false) clears the mask bit");
	pci_msix_set_entry(d, last, MSI_ADDRESS_BASE, 0x4343);
	selftest_check(mmio_read32(e + PCI_MSIX_ENTRY_DATA) == 0x4343, "data rewritten");
	selftest_check(!(mmio_read32(e + PCI_MSIX_ENTRY_VECTOR_CTRL) & PCI_MSIX_ENTRY_CTRL_MASKBIT),
		       "set_entry leaves an unmasked entry unmasked");
	pci_msix_mask_entry(d, last, true);

	/* Enabling with all entries masked (as firmware leaves them) delivers nothing. */
	for (u16 i = 0; i < m->table_size; i++)
		selftest_check(mmio_read32(pci_msix_entry(d, i) + PCI_MSIX_ENTRY_VECTOR_CTRL) &
				       PCI_MSIX_ENTRY_CTRL_MASKBIT,
			       "every entry masked before enabling");
	pci_msix_enable(d, true);
	ctrl = pci_read16(d, m->cap + PCI_MSIX_FLAGS);
	selftest_check(ctrl & PCI_MSIX_FLAGS_ENABLE, "enable sets message control bit 15");
	selftest_check(!(ctrl & PCI_MSIX_FLAGS_MASKALL), "enable leaves the function unmasked");
	selftest_check(pci_read16(d, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE, "enable disables INTx");
	selftest_check(pci_msix_is_enabled(d), "pci_msix_is_enabled reads the enable bit");
	(void)pci_msix_pending(d, last);
	selftest_check(!pci_msix_pending(d, m->table_size), "pending past the table is false");
	pci_msix_enable(d, false);
	ctrl = pci_read16(d, m->cap + PCI_MSIX_FLAGS);
	selftest_check(!(ctrl & (PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL)),
		       "disable clears message control bits 15 and 14");
	selftest_check(!(pci_read16(d, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE), "disable re-enables INTx");

	mmio_write32(e + PCI_MSIX_ENTRY_ADDR_LO, saved.addr_lo);
	mmio_write32(e + PCI_MSIX_ENTRY_ADDR_HI, saved.addr_hi);
	mmio_write32(e + PCI_MSIX_ENTRY_DATA, saved.data);
	mmio_write32(e + PCI_MSIX_ENTRY_VECTOR_CTRL, saved.ctrl);
	pci_intx(d, !(cmd & PCI_COMMAND_INTX_DISABLE));
	if (selftest_failures)
		return -EIO;
	printk("msix: selftest passed on %02x:%02x.%x entry %u\n", d->bus, d->slot, d->func, last);
	return 0;
}

static int cmd_msix(int argc, char **argv)
{
	struct pci_dev *d;
	int err;

	if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "selftest") != 0))
		return -EINVAL;
	d = arg_device(argv[0], argv[1], &err);
	if (!d)
		return err;
	err = pci_msix_map(d);
	if (err < 0)
		return err;
	if (argc == 3)
		return msix_selftest(d);
	msix_dump(d);
	return 0;
}
SHELL_COMMAND(msix, cmd_msix, "msix bb:ss.f [selftest]", "MSI-X table and pending bits; selftest programs an unbound device");

/* Read-only: a few dwords of a memory BAR, through the same mapping drivers get. */
static int cmd_pcimem(int argc, char **argv)
{
	u64 bar, off, count = 1;
	volatile u8 *p;
	struct pci_dev *d;
	int err;

	if (argc < 4 || argc > 5 || parse_u64(argv[2], &bar) < 0 || parse_u64(argv[3], &off) < 0 ||
	    (argc == 5 && parse_u64(argv[4], &count) < 0) || bar >= PCI_NUM_BARS || count == 0 ||
	    count > 64 || (off & 3))
		return -EINVAL;
	d = arg_device(argv[0], argv[1], &err);
	if (!d)
		return err;
	p = pci_iomap(d, (int)bar, off, count * 4);
	if (!p) {
		printk("pcimem: BAR%llu+0x%llx (%llu bytes) is not inside a mapped memory BAR\n",
		       bar, off, count * 4);
		return -EFAULT;
	}
	for (u64 i = 0; i < count; i++)
		printk("BAR%llu+0x%llx (phys 0x%llx): 0x%08x\n", bar, off + i * 4,
		       d->bar[bar].addr + off + i * 4, mmio_read32(p + i * 4));
	return 0;
}
SHELL_COMMAND(pcimem, cmd_pcimem, "pcimem bb:ss.f bar off [dwords]", "read dwords of a memory BAR via pci_iomap");
