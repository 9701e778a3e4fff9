/*
 * tests/unit/vp_common_harness.c - drivers/virtio/virtio_pci_common.c and the modern transport
 * (drivers/virtio/virtio_pci_modern.c) on the host. Included, not linked, so tests can call the
 * static vp_interrupt (the INTx handler's ISR checks, virtio 1.x 4.1.4.5) and drive
 * vp_find_vqs through the real vp_modern_setup_vq against a simulated common configuration
 * structure (4.1.4.3).
 *
 * kernel/io.h is replaced here: an MMIO access inside the simulated device's common
 * configuration goes to vp_sim (which, like a device, refuses MSI-X vectors it cannot map by
 * reading back NO_VECTOR, 4.1.5.1.2, and records every queue_enable write with the vectors in
 * force at that moment); any other address is plain memory (the notify and ISR regions). PCI
 * and IRQ services are stubs: MSI-X exists only when vp_sim.msix says so; INTx lines are refused
 * unless vp_sim.intx says so. The handlers request_irq installs are remembered, so that
 * vp_sim.irq_storm can run them in the middle of a teardown, and vp_sim.stuck_reset makes a
 * device whose reset never completes (on the simulated clock).
 */
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
static void cpu_relax(void) {}

#include "drivers/virtio/virtio_pci_common.c" /* #included, not linked: vp_interrupt is static */
#include "drivers/virtio/virtio_pci_modern.c" /* #included, not linked: its setup_vq is static */
#include "tests/unit/kernel_harness.h"
#include "tests/unit/vp_common_harness.h"

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

/* ---- the simulated common configuration (4.1.4.3) ---- */

static bool in_common(const volatile void *a)
{
	const volatile u8 *p = a;

	return p >= vp_sim.common && p < vp_sim.common + sizeof(vp_sim.common);
}

static unsigned common_off(const volatile void *a) { return (unsigned)((const volatile u8 *)a - vp_sim.common); }

static struct vp_sim_queue *selected(void)
{
	return vp_sim.queue_select < VP_SIM_QUEUES ? &vp_sim.q[vp_sim.queue_select] : NULL;
}

/* The device maps a vector only if it has one: below nvectors, or NO_VECTOR. */
static u16 sim_map_vector(u16 v)
{
	return v == VIRTIO_MSI_NO_VECTOR || v < vp_sim.nvectors ? v : VIRTIO_MSI_NO_VECTOR;
}

static u32 common_read(unsigned off)
{
	struct vp_sim_queue *q = selected();

	switch (off) {
	case COMMON_MSIX:
		return vp_sim.config_vector;
	case COMMON_NUMQ:
		return vp_sim.num_queues;
	case COMMON_STATUS:
		if (vp_sim.stuck_reset)
			host_now_ns += NSEC_PER_MSEC; /* the driver's wait goes on in simulated time */
		return vp_sim.status;
	case COMMON_Q_SELECT:
		return vp_sim.queue_select;
	case COMMON_Q_SIZE:
		return q ? q->size : 0;
	case COMMON_Q_MSIX:
		return q ? q->vector : VIRTIO_MSI_NO_VECTOR;
	case COMMON_Q_ENABLE:
		return q ? q->enabled : 0;
	case COMMON_Q_NOFF:
		return q ? vp_sim.queue_select : 0;
	default:
		return 0;
	}
}

static void common_write(unsigned off, u32 v)
{
	struct vp_sim_queue *q = selected();

	switch (off) {
	case COMMON_MSIX:
		vp_sim.config_vector = sim_map_vector((u16)v);
		break;
	case COMMON_STATUS:
		if (!v && vp_sim.stuck_reset)
			break;
		vp_sim.status = (u8)v;
		if (!v) /* reset: every queue disabled, every vector unmapped (4.1.4.3.1) */
			for (unsigned i = 0; i < VP_SIM_QUEUES; i++) {
				vp_sim.q[i].enabled = 0;
				vp_sim.q[i].vector = VIRTIO_MSI_NO_VECTOR;
			}
		break;
	case COMMON_Q_SELECT:
		vp_sim.queue_select = (u16)v;
		if (vp_sim.irq_storm)
			sim_irq_storm();
		break;
	case COMMON_Q_SIZE:
		if (q)
			q->size = (u16)v;
		break;
	case COMMON_Q_MSIX:
		if (q)
			q->vector = sim_map_vector((u16)v);
		break;
	case COMMON_Q_ENABLE:
		if (!q)
			break;
		if (vp_sim.nenables < VP_SIM_MAX_ENABLES) {
			struct vp_sim_enable *e = &vp_sim.enables[vp_sim.nenables];

			e->queue = vp_sim.queue_select;
			e->value = (u16)v;
			e->queue_vector = q->vector;
			e->config_vector = vp_sim.config_vector;
			e->msix_enabled = vp_sim.msix_enabled;
		}
		vp_sim.nenables++;
		if (v)
			q->enabled = 1;
		break;
	default: /* features, queue addresses: accepted and forgotten */
		break;
	}
}

static u8 mmio_read8(const volatile void *a) { return in_common(a) ? (u8)common_read(common_off(a)) : *(const volatile u8 *)a; }
static u16 mmio_read16(const volatile void *a) { return in_common(a) ? (u16)common_read(common_off(a)) : *(const volatile u16 *)a; }
static u32 mmio_read32(const volatile void *a) { return in_common(a) ? common_read(common_off(a)) : *(const volatile u32 *)a; }
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

/* ---- PCI and IRQ stubs ---- */

int pci_msix_map(struct pci_dev *d) { return vp_sim.msix ? 0 : -ENODEV; }
int pci_msix_set_entry(struct pci_dev *d, u16 entry, u32 addr, u32 data)
{
	return vp_sim.msix && entry < d->msix.table_size ? 0 : -ENODEV;
}
void pci_msix_mask_entry(struct pci_dev *d, u16 entry, bool masked) {}
void pci_msix_enable(struct pci_dev *d, bool enable) { vp_sim.msix_enabled = enable; }
void pci_intx(struct pci_dev *d, bool enable) {}
void pci_enable_device(struct pci_dev *d) {}
void pci_set_master(struct pci_dev *d) {}
int pci_register_driver(const struct pci_driver *drv) { return 0; }

/* Three vendor capabilities (4.1.4): common configuration, notify, ISR, all in BAR 4, which
 * pci_iomap maps onto vp_sim's regions. */
static const struct { u8 pos, type; u32 offset, length; } sim_caps[] = {
	{ 0x40, VIRTIO_PCI_CAP_COMMON_CFG, 0x0000, sizeof(vp_sim.common) },
	{ 0x54, VIRTIO_PCI_CAP_NOTIFY_CFG, 0x2000, sizeof(vp_sim.notify) },
	{ 0x68, VIRTIO_PCI_CAP_ISR_CFG, 0x1000, sizeof(vp_sim.isr) },
};

static int sim_cap(u16 off)
{
	for (unsigned i = 0; i < ARRAY_SIZE(sim_caps); i++)
		if (off >= sim_caps[i].pos && off < sim_caps[i].pos + 20)
			return (int)i;
	return -1;
}

u8 pci_find_capability(const struct pci_dev *d, u8 cap_id, u8 from)
{
	for (unsigned i = 0; i < ARRAY_SIZE(sim_caps); i++)
		if (cap_id == PCI_CAP_ID_VNDR && sim_caps[i].pos > from)
			return sim_caps[i].pos;
	return 0;
}

u8 pci_read8(const struct pci_dev *d, u16 off)
{
	int c = sim_cap(off);

	if (c < 0)
		return 0xff;
	return off - sim_caps[c].pos == CAP_CFG_TYPE ? sim_caps[c].type : 4; /* CAP_BAR */
}

u32 pci_read32(const struct pci_dev *d, u16 off)
{
	int c = sim_cap(off);

	if (c < 0)
		return 0xffffffffu;
	switch (off - sim_caps[c].pos) {
	case CAP_OFFSET:
		return sim_caps[c].offset;
	case CAP_LENGTH:
		return sim_caps[c].length;
	default:
		return 2; /* CAP_NOTIFY_MULTIPLIER */
	}
}

volatile void *pci_iomap(struct pci_dev *d, int bar, u64 off, u64 len)
{
	switch (off) {
	case 0x0000:
		return vp_sim.common;
	case 0x1000:
		return vp_sim.isr;
	case 0x2000:
		return vp_sim.notify;
	default:
		return NULL;
	}
}

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
int virtio_pci_legacy_probe(struct virtio_pci_device *vp) { return -ENODEV; }

void vp_harness_intx(struct virtio_pci_device *vp) { vp_interrupt(0, vp); }

int vp_harness_modern(struct virtio_pci_device *vp, struct pci_dev *pci)
{
	memset(sim_irq, 0, sizeof(sim_irq)); /* a new device: nothing installed */
	vp->pci = pci;
	vp->intx_irq = vp->config_irq = vp->shared_irq = -1;
	return virtio_pci_modern_probe(vp);
}
