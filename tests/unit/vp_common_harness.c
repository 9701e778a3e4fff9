/*
 * tests/unit/vp_common_harness.c - drivers/virtio/virtio_pci_common.c, both virtio-pci
 * transports (virtio_pci_modern.c, virtio_pci_legacy.c) and drivers/pci.c on the host, against
 * one simulated virtio-pci function. Included, not linked, so tests can call the static
 * vp_interrupt (the INTx handler's ISR checks, virtio 1.x 4.1.4.5) and virtio_pci_probe, and
 * drive vp_find_vqs through the real transports.
 *
 * kernel/io.h is replaced here. Port I/O reaches the function's PCI configuration space
 * through configuration mechanism #1 (PCI 3.0, 3.2.2.3.2), so the real drivers/pci.c walks its
 * capability list and programs its MSI and MSI-X message control words; the space is built
 * from vp_sim when a test starts the device (vendor capabilities as the test lists them, 4.1.4;
 * MSI-X with its table in BAR 4; MSI), and only the command register and the enable bits of
 * MSI and MSI-X can be written. Port I/O in BAR 0 reaches the legacy registers (4.1.4.8), whose
 * vector registers exist, and device-specific configuration moves from 20 to 24, only while
 * the MSI-X enable bit is set, as on a real device. MMIO inside BAR 4's common configuration
 * window goes to vp_sim's common configuration (4.1.4.3); any other address is plain memory
 * (ISR, notify, device configuration, the MSI-X table). Features offered and written (both
 * halves on the modern transport, 32 bits on the legacy one) and the queue addresses are kept
 * for the tests to compare. Like a device, vp_sim refuses MSI-X
 * vectors it cannot map by reading back NO_VECTOR (4.1.5.1.2), records every queue enable with
 * the vectors in force at that moment, and notes the vectors it holds when MSI-X is turned off.
 *
 * IRQ services are stubs: MSI irqs exist only when vp_sim.msix says so; INTx lines are refused
 * unless vp_sim.intx says so. The handlers request_irq installs are remembered, so that
 * vp_sim.irq_storm can run them in the middle of a teardown, and vp_sim.stuck_reset makes a
 * device whose reset never completes (on the simulated clock).
 */
#include <string.h> /* strerror, which drivers/pci.c names errors with */

#include "kernel/types.h"

/* The simulated registers stand in for kernel/io.h (defined below). */
#define KERNEL_IO_H
static u8 mmio_read8(const volatile void *a);
static u16 mmio_read16(const volatile void *a);
static u32 mmio_read32(const volatile void *a);
static void mmio_write8(volatile void *a, u8 v);
static void mmio_write16(volatile void *a, u16 v);
static void mmio_write32(volatile void *a, u32 v);
static void mmio_write64_split(volatile void *a, u64 v)
{
	mmio_write32(a, (u32)v);
	mmio_write32((volatile u8 *)a + 4, (u32)(v >> 32));
}
static u32 port_read(u16 port, int width);
static void port_write(u16 port, int width, u32 v);
static u8 inb(u16 port) { return (u8)port_read(port, 1); }
static u16 inw(u16 port) { return (u16)port_read(port, 2); }
static u32 inl(u16 port) { return port_read(port, 4); }
static void outb(u16 port, u8 v) { port_write(port, 1, v); }
static void outw(u16 port, u16 v) { port_write(port, 2, v); }
static void outl(u16 port, u32 v) { port_write(port, 4, v); }
static void cpu_relax(void) {}

#include "drivers/pci.c"                      /* #included, not linked: msix_read_info is static */
#include "drivers/virtio/virtio_pci_common.c" /* #included, not linked: vp_interrupt is static */
#include "drivers/virtio/virtio_pci_modern.c" /* #included, not linked: its setup_vq is static */
#include "drivers/virtio/virtio_pci_legacy.c" /* #included, not linked: its registers are static */
#include "kernel/platform.h"
#include "tests/unit/kernel_harness.h"
#include "tests/unit/vp_common_harness.h"

/* The register maps the simulated device answers on, written here from the spec and not taken
 * from the transports' own #defines (which a typo would then move for both sides at once):
 * struct virtio_pci_common_cfg (virtio 1.x 4.1.4.3) and the legacy I/O block (4.1.4.8). */
#define SIM_COMMON_DFSELECT 0x00 /* le32 device_feature_select */
#define SIM_COMMON_DF 0x04       /* le32 device_feature */
#define SIM_COMMON_GFSELECT 0x08 /* le32 driver_feature_select */
#define SIM_COMMON_GF 0x0c       /* le32 driver_feature */
#define SIM_COMMON_MSIX 0x10     /* le16 config_msix_vector */
#define SIM_COMMON_NUMQ 0x12     /* le16 num_queues */
#define SIM_COMMON_STATUS 0x14   /* u8 device_status (0x15: config_generation) */
#define SIM_COMMON_Q_SELECT 0x16 /* le16 queue_select */
#define SIM_COMMON_Q_SIZE 0x18   /* le16 queue_size */
#define SIM_COMMON_Q_MSIX 0x1a   /* le16 queue_msix_vector */
#define SIM_COMMON_Q_ENABLE 0x1c /* le16 queue_enable */
#define SIM_COMMON_Q_NOFF 0x1e   /* le16 queue_notify_off */
#define SIM_COMMON_Q_DESC 0x20   /* le64 queue_desc */
#define SIM_COMMON_Q_AVAIL 0x28  /* le64 queue_driver */
#define SIM_COMMON_Q_USED 0x30   /* le64 queue_device */
#define SIM_COMMON_CFG_LEN 0x38
#define SIM_LEG_HOST_FEATURES 0x00  /* 32, device features */
#define SIM_LEG_GUEST_FEATURES 0x04 /* 32, driver features */
#define SIM_LEG_QUEUE_PFN 0x08      /* 32, queue address >> 12 */
#define SIM_LEG_QUEUE_NUM 0x0c      /* 16, queue size */
#define SIM_LEG_QUEUE_SEL 0x0e      /* 16, queue select */
#define SIM_LEG_QUEUE_NOTIFY 0x10   /* 16, queue notify */
#define SIM_LEG_STATUS 0x12         /* 8, device status */
#define SIM_LEG_ISR 0x13            /* 8, ISR status */
#define SIM_LEG_CONFIG_VECTOR 0x14  /* 16, with MSI-X enabled */
#define SIM_LEG_QUEUE_VECTOR 0x16   /* 16, with MSI-X enabled */

struct vp_sim vp_sim;

/* The handler installed on each irq (INTx lines below 16, MSI irqs from 32). */
static struct {
	irq_handler_t fn;
	void *data;
} sim_irq[64];

static void sim_irq_storm(void)
{
	for (int irq = 0; irq < (int)ARRAY_SIZE(sim_irq); irq++)
		if (sim_irq[irq].fn) {
			vp_sim.storm_irqs++;
			sim_irq[irq].fn(irq, sim_irq[irq].data);
		}
}

/* ---- the PCI configuration space (PCI 3.0, 6.1, 6.7, 6.8) ---- */

static u8 sim_cfg[256];
static u8 sim_wmask[256]; /* the bits a configuration write may change */
static u32 sim_cfg_address; /* CONFIG_ADDRESS as last written */
static u8 sim_msix_cap, sim_msi_cap;

static void cfg_put(unsigned off, u32 v, int width)
{
	for (int k = 0; k < width; k++)
		sim_cfg[off + k] = (u8)(v >> (8 * k));
}

static u16 cfg_get16(unsigned off) { return (u16)(sim_cfg[off] | sim_cfg[off + 1] << 8); }

bool vp_sim_msix_enabled(void)
{
	return sim_msix_cap && (cfg_get16(sim_msix_cap + PCI_MSIX_FLAGS) & PCI_MSIX_FLAGS_ENABLE);
}

bool vp_sim_msi_enabled(void) { return sim_msi_cap && (sim_cfg[sim_msi_cap + 2] & 1); }

/* The default device: common configuration, notify (multiplier 2) and ISR, all in BAR 4 */
static const struct vp_sim_cap sim_default_caps[] = {
	{ VP_SIM_CAP_COMMON, VP_SIM_BAR, 0, VP_SIM_COMMON, VP_SIM_COMMON_LEN, 0 },
	{ VP_SIM_CAP_NOTIFY, VP_SIM_BAR, 0, VP_SIM_NOTIFY, 64, 2 },
	{ VP_SIM_CAP_ISR, VP_SIM_BAR, 0, VP_SIM_ISR, 4, 0 },
};

/* Append a capability of id at *pos (each takes a 20-byte slot), linked from *link. */
static u8 cfg_add_cap(u8 id, u8 *pos, u8 **link)
{
	u8 at = *pos;

	**link = at;
	sim_cfg[at] = id;
	*link = &sim_cfg[at + PCI_CAP_NEXT];
	*pos += 20;
	return at;
}

static void sim_build_config(const struct pci_dev *pci)
{
	const struct vp_sim_cap *caps = vp_sim.ncaps ? vp_sim.caps : sim_default_caps;
	unsigned ncaps = vp_sim.ncaps ? vp_sim.ncaps : ARRAY_SIZE(sim_default_caps);
	u8 pos = 0x40, *link = &sim_cfg[PCI_CAPABILITY_LIST];

	memset(sim_cfg, 0, sizeof(sim_cfg));
	memset(sim_wmask, 0, sizeof(sim_wmask));
	sim_msix_cap = sim_msi_cap = 0;
	cfg_put(PCI_VENDOR_ID, VIRTIO_PCI_VENDOR, 2);
	cfg_put(PCI_DEVICE_ID, pci->device, 2);
	cfg_put(PCI_STATUS, PCI_STATUS_CAP_LIST, 2);
	cfg_put(PCI_SUBSYSTEM_ID, pci->subsys_id, 2);
	cfg_put(PCI_INTERRUPT_LINE, pci->irq_line, 1);
	cfg_put(PCI_INTERRUPT_PIN, pci->irq_pin, 1);
	sim_wmask[PCI_COMMAND] = 0xff;
	sim_wmask[PCI_COMMAND + 1] = 0x07;
	for (unsigned i = 0; i < ncaps && !vp_sim.no_modern; i++) {
		const struct vp_sim_cap *c = &caps[i];
		u8 at = cfg_add_cap(PCI_CAP_ID_VNDR, &pos, &link);

		sim_cfg[at + 2] = c->cap_len ? c->cap_len : c->type == VP_SIM_CAP_NOTIFY ? 20 : 16;
		sim_cfg[at + CAP_CFG_TYPE] = c->type;
		sim_cfg[at + CAP_BAR] = c->bar;
		cfg_put(at + CAP_OFFSET, c->offset, 4);
		cfg_put(at + CAP_LENGTH, c->length, 4);
		if (c->type == VP_SIM_CAP_NOTIFY)
			cfg_put(at + CAP_NOTIFY_MULTIPLIER, c->mult, 4);
	}
	if (vp_sim.msix) {
		u16 n = pci->msix.table_size ? pci->msix.table_size : 1;

		sim_msix_cap = cfg_add_cap(PCI_CAP_ID_MSIX, &pos, &link);
		cfg_put(sim_msix_cap + PCI_MSIX_FLAGS,
			(n - 1u) | (vp_sim.msix_on_entry ? PCI_MSIX_FLAGS_ENABLE : 0), 2);
		cfg_put(sim_msix_cap + PCI_MSIX_TABLE, VP_SIM_MSIX_TABLE | VP_SIM_BAR, 4);
		cfg_put(sim_msix_cap + PCI_MSIX_PBA, VP_SIM_MSIX_PBA | VP_SIM_BAR, 4);
		sim_wmask[sim_msix_cap + PCI_MSIX_FLAGS + 1] = 0xc0; /* enable, function mask */
	}
	if (vp_sim.msi) { /* 32-bit MSI: control bit 0 enables (6.8.1.3) */
		sim_msi_cap = cfg_add_cap(PCI_CAP_ID_MSI, &pos, &link);
		sim_cfg[sim_msi_cap + 2] = vp_sim.msi_on_entry ? 1 : 0;
		sim_wmask[sim_msi_cap + 2] = 0x01;
	}
}

static struct vp_sim_vectors sim_vectors(void)
{
	struct vp_sim_vectors v = { .config = vp_sim.config_vector };

	for (unsigned i = 0; i < VP_SIM_QUEUES; i++)
		v.queue[i] = vp_sim.q[i].vector;
	return v;
}

static u32 cfg_read(unsigned off, int width)
{
	u32 v = 0;

	for (int k = 0; k < width; k++)
		v |= (u32)sim_cfg[off + k] << (8 * k);
	return v;
}

static void cfg_write(unsigned off, int width, u32 v)
{
	bool msix_was_on = vp_sim_msix_enabled();

	for (int k = 0; k < width; k++) {
		u8 m = sim_wmask[off + k];

		sim_cfg[off + k] = (u8)((sim_cfg[off + k] & ~m) | ((v >> (8 * k)) & m));
	}
	if (msix_was_on && !vp_sim_msix_enabled()) {
		vp_sim.msix_disables++;
		vp_sim.at_msix_disable = sim_vectors();
	}
}

/* ---- what the common configuration and the legacy registers share ---- */

static struct vp_sim_queue *selected(void)
{
	return vp_sim.queue_select < VP_SIM_QUEUES ? &vp_sim.q[vp_sim.queue_select] : NULL;
}

/* The device maps a vector only if it has one: below nvectors, or NO_VECTOR. */
static u16 sim_map_vector(u16 v)
{
	return v == VIRTIO_MSI_NO_VECTOR || v < vp_sim.nvectors ? v : VIRTIO_MSI_NO_VECTOR;
}

static u8 sim_status_read(void)
{
	if (vp_sim.stuck_reset)
		host_now_ns += NSEC_PER_MSEC; /* the driver's wait goes on in simulated time */
	return vp_sim.status;
}

static void sim_status_write(u8 v)
{
	if (!v && vp_sim.stuck_reset)
		return;
	vp_sim.status = v;
	if (v)
		return;
	/* reset: every queue disabled, every event unmapped (4.1.4.3.1, 4.1.5.1.2) */
	vp_sim.config_vector = VIRTIO_MSI_NO_VECTOR;
	for (unsigned i = 0; i < VP_SIM_QUEUES; i++) {
		vp_sim.q[i].enabled = 0;
		vp_sim.q[i].pfn = 0;
		vp_sim.q[i].vector = VIRTIO_MSI_NO_VECTOR;
	}
}

static void sim_select(u16 v)
{
	vp_sim.queue_select = v;
	if (vp_sim.irq_storm)
		sim_irq_storm();
}

static void sim_enable(struct vp_sim_queue *q, u16 value)
{
	if (vp_sim.nenables < VP_SIM_MAX_ENABLES) {
		struct vp_sim_enable *e = &vp_sim.enables[vp_sim.nenables];

		e->queue = vp_sim.queue_select;
		e->value = value;
		e->queue_vector = q->vector;
		e->config_vector = vp_sim.config_vector;
		e->msix_enabled = vp_sim_msix_enabled();
	}
	vp_sim.nenables++;
	if (value)
		q->enabled = 1;
}

/* ---- the simulated common configuration (4.1.4.3) ---- */

static bool in_common(const volatile void *a)
{
	const volatile u8 *p = a;

	return p >= vp_sim.bar4 + VP_SIM_COMMON && p < vp_sim.bar4 + VP_SIM_COMMON + SIM_COMMON_CFG_LEN;
}

static unsigned common_off(const volatile void *a)
{
	return (unsigned)((const volatile u8 *)a - (vp_sim.bar4 + VP_SIM_COMMON));
}

static u32 common_read(unsigned off)
{
	struct vp_sim_queue *q = selected();

	switch (off) {
	case SIM_COMMON_MSIX:
		return vp_sim.config_vector;
	case SIM_COMMON_NUMQ:
		return vp_sim.num_queues;
	case SIM_COMMON_STATUS:
		return sim_status_read();
	case SIM_COMMON_Q_SELECT:
		return vp_sim.queue_select;
	case SIM_COMMON_Q_SIZE:
		return q ? q->size : 0;
	case SIM_COMMON_Q_MSIX:
		return q ? q->vector : VIRTIO_MSI_NO_VECTOR;
	case SIM_COMMON_Q_ENABLE:
		return q ? q->enabled : 0;
	case SIM_COMMON_Q_NOFF:
		return q ? vp_sim.queue_select : 0;
	case SIM_COMMON_DFSELECT:
		return vp_sim.dfselect;
	case SIM_COMMON_DF: /* 4.1.4.3: 32 bits of the offered features, as device_feature_select says */
		return vp_sim.dfselect < 2 ? (u32)(vp_sim.features >> (32 * vp_sim.dfselect)) : 0;
	case SIM_COMMON_GFSELECT:
		return vp_sim.gfselect;
	case SIM_COMMON_GF:
		return vp_sim.gfselect < 2 ? (u32)(vp_sim.driver_features >> (32 * vp_sim.gfselect)) : 0;
	case SIM_COMMON_Q_DESC:
	case SIM_COMMON_Q_DESC + 4:
		return q ? (u32)(q->desc >> (off - SIM_COMMON_Q_DESC) * 8) : 0;
	case SIM_COMMON_Q_AVAIL:
	case SIM_COMMON_Q_AVAIL + 4:
		return q ? (u32)(q->avail >> (off - SIM_COMMON_Q_AVAIL) * 8) : 0;
	case SIM_COMMON_Q_USED:
	case SIM_COMMON_Q_USED + 4:
		return q ? (u32)(q->used >> (off - SIM_COMMON_Q_USED) * 8) : 0;
	default:
		return 0;
	}
}

/* One 32-bit half (at byte 0 or 4) of a 64-bit register. */
static void set_half(u64 *reg, unsigned half_off, u32 v)
{
	unsigned shift = half_off * 8;

	*reg = (*reg & ~(0xffffffffull << shift)) | (u64)v << shift;
}

static void common_write(unsigned off, u32 v)
{
	struct vp_sim_queue *q = selected();

	switch (off) {
	case SIM_COMMON_MSIX:
		vp_sim.config_vector = sim_map_vector((u16)v);
		break;
	case SIM_COMMON_STATUS:
		sim_status_write((u8)v);
		break;
	case SIM_COMMON_Q_SELECT:
		sim_select((u16)v);
		break;
	case SIM_COMMON_Q_SIZE:
		if (q)
			q->size = (u16)v;
		break;
	case SIM_COMMON_Q_MSIX:
		if (q)
			q->vector = sim_map_vector((u16)v);
		break;
	case SIM_COMMON_Q_ENABLE:
		if (q)
			sim_enable(q, (u16)v);
		break;
	case SIM_COMMON_DFSELECT:
		vp_sim.dfselect = v;
		break;
	case SIM_COMMON_GFSELECT:
		vp_sim.gfselect = v;
		break;
	case SIM_COMMON_GF:
		if (vp_sim.gfselect < 2)
			set_half(&vp_sim.driver_features, 4 * vp_sim.gfselect, v);
		break;
	case SIM_COMMON_Q_DESC:
	case SIM_COMMON_Q_DESC + 4:
		if (q)
			set_half(&q->desc, off - SIM_COMMON_Q_DESC, v);
		break;
	case SIM_COMMON_Q_AVAIL:
	case SIM_COMMON_Q_AVAIL + 4:
		if (q)
			set_half(&q->avail, off - SIM_COMMON_Q_AVAIL, v);
		break;
	case SIM_COMMON_Q_USED:
	case SIM_COMMON_Q_USED + 4:
		if (q)
			set_half(&q->used, off - SIM_COMMON_Q_USED, v);
		break;
	default: /* the rest is read-only */
		break;
	}
}

/* A read in the device-specific configuration window is counted by its width. */
static const volatile void *devcfg_read(const volatile void *a, unsigned width)
{
	const volatile u8 *p = a;

	if (p >= vp_sim.bar4 + VP_SIM_DEVICE && p < vp_sim.bar4 + VP_SIM_MSIX_TABLE)
		vp_sim.devcfg_reads[width]++;
	return a;
}

static u8 mmio_read8(const volatile void *a) { return in_common(a) ? (u8)common_read(common_off(a)) : *(const volatile u8 *)devcfg_read(a, 1); }
static u16 mmio_read16(const volatile void *a) { return in_common(a) ? (u16)common_read(common_off(a)) : *(const volatile u16 *)devcfg_read(a, 2); }
static u32 mmio_read32(const volatile void *a) { return in_common(a) ? common_read(common_off(a)) : *(const volatile u32 *)devcfg_read(a, 4); }
static void mmio_write8(volatile void *a, u8 v)
{
	if (in_common(a))
		common_write(common_off(a), v);
	else
		*(volatile u8 *)a = v;
}
static void mmio_write16(volatile void *a, u16 v)
{
	if (in_common(a))
		common_write(common_off(a), v);
	else
		*(volatile u16 *)a = v;
}
static void mmio_write32(volatile void *a, u32 v)
{
	if (in_common(a))
		common_write(common_off(a), v);
	else
		*(volatile u32 *)a = v;
}

/* ---- the legacy registers (4.1.4.8) ---- */

/* The device-specific configuration follows the two vector registers while MSI-X is enabled. */
static unsigned legacy_devcfg_at(void) { return vp_sim_msix_enabled() ? 24 : 20; }

static u32 legacy_read(unsigned off, int width)
{
	struct vp_sim_queue *q = selected();
	unsigned cfg = legacy_devcfg_at();
	u32 v = 0;

	if (off >= cfg) {
		for (int k = 0; k < width; k++) {
			unsigned i = off - cfg + k;

			v |= (u32)(i < VP_SIM_DEVCFG_LEN ? vp_sim.devcfg[i] : 0xff) << (8 * k);
		}
		return v;
	}
	switch (off) {
	case SIM_LEG_QUEUE_PFN:
		return q ? q->pfn : 0;
	case SIM_LEG_QUEUE_NUM:
		return q ? q->size : 0;
	case SIM_LEG_QUEUE_SEL:
		return vp_sim.queue_select;
	case SIM_LEG_STATUS:
		return sim_status_read();
	case SIM_LEG_ISR: /* reading clears it */
		v = vp_sim.bar4[VP_SIM_ISR];
		vp_sim.bar4[VP_SIM_ISR] = 0;
		return v;
	case SIM_LEG_CONFIG_VECTOR:
		return vp_sim.config_vector;
	case SIM_LEG_QUEUE_VECTOR:
		return q ? q->vector : VIRTIO_MSI_NO_VECTOR;
	case SIM_LEG_HOST_FEATURES: /* a legacy device has 32 feature bits */
		return (u32)vp_sim.features;
	case SIM_LEG_GUEST_FEATURES:
		return (u32)vp_sim.driver_features;
	default:
		return 0;
	}
}

static void legacy_write(unsigned off, int width, u32 v)
{
	struct vp_sim_queue *q = selected();
	unsigned cfg = legacy_devcfg_at();

	if (off >= cfg) {
		for (int k = 0; k < width; k++)
			if (off - cfg + k < VP_SIM_DEVCFG_LEN)
				vp_sim.devcfg[off - cfg + k] = (u8)(v >> (8 * k));
		vp_sim.devcfg_writes += (unsigned)width;
		return;
	}
	switch (off) {
	case SIM_LEG_GUEST_FEATURES:
		vp_sim.driver_features = v;
		break;
	case SIM_LEG_QUEUE_PFN:
		if (!q)
			break;
		if (v)
			sim_enable(q, 1);
		q->pfn = v;
		q->enabled = v != 0;
		break;
	case SIM_LEG_QUEUE_SEL:
		sim_select((u16)v);
		break;
	case SIM_LEG_STATUS:
		sim_status_write((u8)v);
		break;
	case SIM_LEG_CONFIG_VECTOR:
		vp_sim.config_vector = sim_map_vector((u16)v);
		break;
	case SIM_LEG_QUEUE_VECTOR:
		if (q)
			q->vector = sim_map_vector((u16)v);
		break;
	default: /* notify: accepted and forgotten */
		break;
	}
}

/* ---- port I/O: configuration mechanism #1 and the legacy BAR ---- */

static u32 port_read(u16 port, int width)
{
	if (port >= PCI_CONFIG_DATA && port < PCI_CONFIG_DATA + 4)
		return (sim_cfg_address & PCI_CONFIG_ENABLE) ? cfg_read((sim_cfg_address & 0xfc) + (port & 3), width)
							     : 0xffffffffu;
	if (vp_sim.legacy && port >= VP_SIM_LEGACY_PORT && port < VP_SIM_LEGACY_PORT + VP_SIM_LEGACY_SIZE)
		return legacy_read(port - VP_SIM_LEGACY_PORT, width);
	return 0xffffffffu;
}

static void port_write(u16 port, int width, u32 v)
{
	if (port == PCI_CONFIG_ADDRESS && width == 4)
		sim_cfg_address = v;
	else if (port >= PCI_CONFIG_DATA && port < PCI_CONFIG_DATA + 4 && (sim_cfg_address & PCI_CONFIG_ENABLE))
		cfg_write((sim_cfg_address & 0xfc) + (port & 3), width, v);
	else if (vp_sim.legacy && port >= VP_SIM_LEGACY_PORT && port < VP_SIM_LEGACY_PORT + VP_SIM_LEGACY_SIZE)
		legacy_write(port - VP_SIM_LEGACY_PORT, width, v);
}

/* ---- IRQ stubs ---- */

int request_irq(int irq, irq_handler_t handler, void *data, const char *name)
{
	if (irq < 0 || irq >= (int)ARRAY_SIZE(sim_irq) || (irq < 32 && !vp_sim.intx))
		return -EBUSY; /* MSI irqs (32 and up) always; INTx on request */
	sim_irq[irq].fn = handler;
	sim_irq[irq].data = data;
	return 0;
}
void free_irq(int irq)
{
	if (irq >= 0 && irq < (int)ARRAY_SIZE(sim_irq))
		sim_irq[irq].fn = NULL;
}
int irq_alloc_msi(void) { return vp_sim.msix ? 32 + (int)(vp_sim.msi_allocated++ % 32) : -ENOSPC; }
void irq_free_msi(int irq)
{
	free_irq(irq);
	vp_sim.msi_freed++;
}
void irq_msi_message(int irq, u32 *addr, u32 *data) { *addr = 0xfee00000u; *data = (u32)irq; }
u64 irq_count(int irq) { return 0; }

void vp_harness_intx(struct virtio_pci_device *vp) { vp_interrupt(0, vp); }

/* A new device on pci: its BARs, its configuration space, nothing installed. pci->msix is read
 * from the configuration space as the bus scan reads it. */
static void sim_new_device(struct pci_dev *pci)
{
	memset(sim_irq, 0, sizeof(sim_irq));
	memset(pci->bar, 0, sizeof(pci->bar));
	pci->bar[VP_SIM_BAR].addr = virt_to_phys(vp_sim.bar4);
	pci->bar[VP_SIM_BAR].size = VP_SIM_BAR_SIZE;
	pci->bar[VP_SIM_BAR].is_64 = true;
	if (vp_sim.legacy) {
		pci->bar[0].addr = VP_SIM_LEGACY_PORT;
		pci->bar[0].size = VP_SIM_LEGACY_SIZE;
		pci->bar[0].is_io = true;
	}
	/* every MSI-X entry masked, as after a reset (PCI 3.0 6.8.2.9: Mask Bit, vector control
	 * bit 0, resets to 1): an entry the driver uses must be unmasked by it */
	for (unsigned e = 0; e < (VP_SIM_MSIX_PBA - VP_SIM_MSIX_TABLE) / 16; e++)
		vp_sim.bar4[VP_SIM_MSIX_TABLE + 16 * e + 12] = 1;
	sim_build_config(pci);
	pci->msix.table = pci->msix.pba = NULL;
	msix_read_info(pci);
}

int vp_harness_modern(struct virtio_pci_device *vp, struct pci_dev *pci)
{
	sim_new_device(pci);
	vp->pci = pci;
	vp->intx_irq = vp->config_irq = vp->shared_irq = -1;
	return virtio_pci_modern_probe(vp);
}

int vp_harness_probe(struct pci_dev *pci)
{
	sim_new_device(pci);
	nvp_devices = 0; /* each test's device is the first */
	return virtio_pci_probe(pci);
}
