/*
 * tests/unit/test_virtio_pci.c - the virtio-pci transports (drivers/virtio/virtio_pci_*.c)
 * and drivers/pci.c against a simulated function whose configuration space a test writes
 * (tests/unit/vp_common_harness.c), through the real virtio_pci_probe:
 *
 *   - virtio capabilities (virtio 1.x 4.1.4): one with a reserved BAR, one too short for its
 *     structure, one whose window does not fit its BAR is refused with a console line, and a
 *     later one of the same type is used (4.1.4.1); none usable: the probe fails; a queue whose
 *     notify address lies outside the notify window (4.1.4.4) is refused;
 *   - MSI and MSI-X found enabled (firmware, a previous kernel) are turned off at probe; the
 *     legacy interface's device configuration follows the real MSI-X state (4.1.4.8);
 *   - teardown unmaps every vector (NO_VECTOR, 4.1.5.1.2) before MSI-X goes off.
 *
 * The virtio core comes from tests/unit/virtnet_harness.c (included); no virtio driver is
 * registered, so a probed device only registers.
 */
/* Only the virtio core of virtnet_harness.c is used here, not its virtio-net device. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "tests/unit/virtnet_harness.c" /* #included, not linked: the virtio core's statics */
#pragma GCC diagnostic pop
#include "tests/unit/unit.h"
#include "tests/unit/vp_common_harness.h"

#define MODERN_NET (VIRTIO_PCI_DEVICE_MODERN_BASE + VIRTIO_ID_NET)
#define TRANSITIONAL_NET VIRTIO_PCI_DEVICE_TRANS_FIRST

static const u8 sim_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

static struct pci_dev pci;
static long dma_before;

static bool log_has(const char *s) { return strstr(host_log, s) != NULL; }

static void cb(struct virtqueue *vq) {}

/* A virtio-net function with two queues of 64, an MSI-X table of 3 entries (all mapped by the
 * device), an INTx line, and the given device id; the test adds capabilities. */
static void start(u16 device)
{
	vh_teardown(); /* no driver registered: the probe registers the device, nothing binds */
	host_log_clear();
	memset(&vp_sim, 0, sizeof(vp_sim));
	vp_sim.num_queues = 2;
	vp_sim.nvectors = 3;
	vp_sim.config_vector = VIRTIO_MSI_NO_VECTOR;
	for (unsigned i = 0; i < VP_SIM_QUEUES; i++) {
		vp_sim.q[i].size = 64;
		vp_sim.q[i].vector = VIRTIO_MSI_NO_VECTOR;
	}
	memcpy(vp_sim.devcfg, sim_mac, sizeof(sim_mac));
	vp_sim.msix = true;
	vp_sim.intx = true;
	memset(&pci, 0, sizeof(pci));
	pci.device = device;
	pci.subsys_id = VIRTIO_ID_NET;
	pci.irq_pin = 1;
	pci.irq_line = 11;
	pci.msix.table_size = 3;
	dma_before = host_dma_live;
}

static void add_cap(u8 type, u8 bar, u8 cap_len, u32 offset, u32 length, u32 mult)
{
	if (vp_sim.ncaps < VP_SIM_MAX_CAPS)
		vp_sim.caps[vp_sim.ncaps++] = (struct vp_sim_cap){ type, bar, cap_len, offset, length, mult };
}

static void add_common(void) { add_cap(VP_SIM_CAP_COMMON, VP_SIM_BAR, 0, VP_SIM_COMMON, VP_SIM_COMMON_LEN, 0); }
static void add_notify(void) { add_cap(VP_SIM_CAP_NOTIFY, VP_SIM_BAR, 0, VP_SIM_NOTIFY, 64, 2); }
static void add_isr(void) { add_cap(VP_SIM_CAP_ISR, VP_SIM_BAR, 0, VP_SIM_ISR, 4, 0); }

/* Probe the function, expecting success: the device, or NULL after a failed check. */
static struct virtio_pci_device *probe_ok(void)
{
	CHECK_EQ(vp_harness_probe(&pci), 0);
	CHECK(pci.driver_data != NULL);
	return pci.driver_data;
}

static int find_vqs(struct virtio_pci_device *vp)
{
	struct virtqueue *vqs[2];
	vq_callback_t cbs[2] = { cb, cb };
	const char *const names[2] = { "input", "output" };

	return vp->vdev.config->find_vqs(&vp->vdev, 2, vqs, cbs, names);
}

/* The device works through what was mapped: queues made, a kick of queue 1 lands in the
 * valid notify window (multiplier 2: at byte 2), the ISR is read from its window; then all
 * is given back. */
static void check_works(struct virtio_pci_device *vp)
{
	CHECK_EQ(find_vqs(vp), 0);
	CHECK_EQ(vp->nvqs, 2);
	if (vp->nvqs == 2) {
		virtqueue_notify(vp->vqs[1].vq);
		CHECK_EQ(vp_sim.bar4[VP_SIM_NOTIFY + 2], 1);
	}
	vp_sim.bar4[VP_SIM_ISR] = VIRTIO_PCI_ISR_CONFIG;
	CHECK_EQ(vp->read_isr(vp), VIRTIO_PCI_ISR_CONFIG);
	CHECK_EQ(virtio_reset_device(&vp->vdev), 0);
	vp_del_vqs(&vp->vdev);
	CHECK_EQ(vp_sim.msi_freed, vp_sim.msi_allocated);
	CHECK_EQ(host_dma_live, dma_before);
}

static void check_mapped_defaults(struct virtio_pci_device *vp)
{
	CHECK(vp->common == vp_sim.bar4 + VP_SIM_COMMON);
	CHECK(vp->notify_base == vp_sim.bar4 + VP_SIM_NOTIFY);
	CHECK_EQ(vp->notify_off_multiplier, 2);
	CHECK(vp->isr == vp_sim.bar4 + VP_SIM_ISR);
}

/* ---- capabilities (4.1.4) ---- */

/* 4.1.4: BAR values 6 and 7 are reserved, and 4.1.4.1 has the driver ignore such a structure;
 * the device may offer several of a type, in its order of preference, and the driver uses
 * the first it can. */
static void test_cap_reserved_bar_skipped(void)
{
	struct virtio_pci_device *vp;

	start(MODERN_NET);
	add_cap(VP_SIM_CAP_COMMON, 6, 0, VP_SIM_COMMON, VP_SIM_COMMON_LEN, 0);
	add_common();
	add_cap(VP_SIM_CAP_NOTIFY, 7, 0, VP_SIM_NOTIFY, 64, 2);
	add_notify();
	add_cap(VP_SIM_CAP_ISR, 6, 0, VP_SIM_ISR, 4, 0);
	add_isr();
	vp = probe_ok();
	if (!vp)
		return;
	CHECK(vp->vdev.modern);
	check_mapped_defaults(vp);
	CHECK(log_has("virtio common capability at 0x40 refused: BAR 6 is reserved"));
	CHECK(log_has("virtio notify capability at 0x68 refused: BAR 7 is reserved"));
	CHECK(log_has("virtio ISR capability at 0x90 refused: BAR 6 is reserved"));
	check_works(vp);
}

/* cap_len shorter than struct virtio_pci_cap (16) or virtio_pci_notify_cap (20): the fields
 * past it are not the capability's; a window smaller than the structure it holds (the
 * common configuration is 0x38 bytes, the ISR one byte). Each is refused, the next used. */
static void test_cap_too_short_skipped(void)
{
	struct virtio_pci_device *vp;

	start(MODERN_NET);
	/* the bytes after cap_len describe another window: using them would be wrong */
	add_cap(VP_SIM_CAP_COMMON, VP_SIM_BAR, 12, 0x800, VP_SIM_COMMON_LEN, 0);
	add_cap(VP_SIM_CAP_COMMON, VP_SIM_BAR, 0, VP_SIM_COMMON, 0x20, 0);
	add_common();
	add_cap(VP_SIM_CAP_NOTIFY, VP_SIM_BAR, 16, 0x2400, 64, 4);
	add_notify();
	add_cap(VP_SIM_CAP_ISR, VP_SIM_BAR, 0, VP_SIM_ISR, 0, 0);
	add_isr();
	vp = probe_ok();
	if (!vp)
		return;
	check_mapped_defaults(vp);
	CHECK(log_has("virtio common capability at 0x40 refused: capability length 12 is below the 16 bytes of struct virtio_pci_cap"));
	CHECK(log_has("virtio common capability at 0x54 refused: its 32-byte window is smaller than the 56-byte structure it holds"));
	CHECK(log_has("virtio notify capability at 0x7c refused: capability length 16 is below the 20 bytes of struct virtio_pci_notify_cap"));
	CHECK(log_has("virtio ISR capability at 0xa4 refused: its 0-byte window is smaller than the 1-byte structure it holds"));
	check_works(vp);
}

/* A window must lie inside a memory BAR of the function (4.1.4: offset and length locate the
 * structure within the BAR): past the end of BAR 4, in the legacy I/O BAR of a transitional
 * device, at an offset where offset + length wraps. The device-specific configuration too (an
 * empty window would leave the driver nothing to read). */
static void test_cap_outside_bar_skipped(void)
{
	struct virtio_pci_device *vp;
	u8 mac[6];

	start(TRANSITIONAL_NET);
	vp_sim.legacy = true; /* BAR 0 is I/O */
	add_cap(VP_SIM_CAP_COMMON, VP_SIM_BAR, 0, VP_SIM_BAR_SIZE - 0x10, VP_SIM_COMMON_LEN, 0);
	add_cap(VP_SIM_CAP_COMMON, 0, 0, VP_SIM_COMMON, VP_SIM_COMMON_LEN, 0);
	add_common();
	add_notify();
	add_isr();
	add_cap(VP_SIM_CAP_DEVICE, VP_SIM_BAR, 0, VP_SIM_DEVICE, 0, 0);
	add_cap(VP_SIM_CAP_DEVICE, VP_SIM_BAR, 0, 0xfffffff0u, 0x20, 0);
	add_cap(VP_SIM_CAP_DEVICE, VP_SIM_BAR, 0, VP_SIM_DEVICE, VP_SIM_DEVCFG_LEN, 0);
	memcpy(vp_sim.bar4 + VP_SIM_DEVICE, sim_mac, sizeof(sim_mac));
	vp = probe_ok();
	if (!vp)
		return;
	CHECK(vp->vdev.modern);
	check_mapped_defaults(vp);
	CHECK(vp->device == vp_sim.bar4 + VP_SIM_DEVICE);
	CHECK_EQ(vp->device_len, VP_SIM_DEVCFG_LEN);
	CHECK(log_has("virtio common capability at 0x40 refused: its window (BAR 4 + 0x3ff0, 56 bytes) is not inside a memory BAR"));
	CHECK(log_has("virtio common capability at 0x54 refused: its window (BAR 0 + 0x0, 56 bytes) is not inside a memory BAR"));
	CHECK(log_has("virtio device capability at 0xa4 refused: its 0-byte window is smaller than the 1-byte structure it holds"));
	CHECK(log_has("virtio device capability at 0xb8 refused: its window (BAR 4 + 0xfffffff0, 32 bytes) is not inside a memory BAR"));
	CHECK_EQ(vp->vdev.config->get(&vp->vdev, 0, mac, sizeof(mac)), 0);
	CHECK_MEM(mac, sim_mac, sizeof(mac));
	check_works(vp);
}

/* Nothing usable: one line per capability refused, the probe fails and nothing is registered.
 * Without a usable common configuration there is no modern interface (a transitional device
 * would go on with its legacy one); without a notify or ISR one the modern interface is
 * broken. */
static void test_cap_none_usable(void)
{
	start(MODERN_NET);
	add_cap(VP_SIM_CAP_COMMON, 6, 0, VP_SIM_COMMON, VP_SIM_COMMON_LEN, 0);
	add_cap(VP_SIM_CAP_COMMON, VP_SIM_BAR, 0, VP_SIM_COMMON, 8, 0);
	add_notify();
	add_isr();
	CHECK_EQ(vp_harness_probe(&pci), -ENODEV);
	CHECK(pci.driver_data == NULL);
	CHECK_EQ(virtio_device_count(), 0);
	CHECK(log_has("virtio common capability at 0x40 refused: BAR 6 is reserved"));
	CHECK(log_has("virtio common capability at 0x54 refused: its 8-byte window is smaller than the 56-byte structure it holds"));
	CHECK(log_has("neither a modern nor a legacy interface found"));

	/* a usable common configuration, but every notify capability refused */
	start(MODERN_NET);
	add_common();
	add_cap(VP_SIM_CAP_NOTIFY, VP_SIM_BAR, 0, VP_SIM_NOTIFY, 1, 2);
	add_cap(VP_SIM_CAP_NOTIFY, 0, 0, VP_SIM_NOTIFY, 64, 2);
	add_isr();
	CHECK_EQ(vp_harness_probe(&pci), -EIO);
	CHECK(pci.driver_data == NULL);
	CHECK(log_has("virtio notify capability at 0x54 refused: its 1-byte window is smaller than the 2-byte structure it holds"));
	CHECK(log_has("virtio notify capability at 0x68 refused: its window (BAR 0 + 0x2000, 64 bytes) is not inside a memory BAR"));
	CHECK(log_has("no usable virtio notify capability"));
	CHECK_EQ(host_dma_live, dma_before);
}

/* 4.1.4.4: queue 1's notify address is queue_notify_off (1) x notify_off_multiplier from the
 * window's start, and its two bytes must lie inside the window. Here the window holds only
 * queue 0's: queue 1 is refused with a message, never written, and the queues already made
 * are given back. */
static void test_notify_window_too_small(void)
{
	static const u32 mults[] = { 4, 0x10000 };
	struct virtio_pci_device *vp;

	for (unsigned i = 0; i < ARRAY_SIZE(mults); i++) {
		start(MODERN_NET);
		add_common();
		add_cap(VP_SIM_CAP_NOTIFY, VP_SIM_BAR, 0, VP_SIM_NOTIFY, 4, mults[i]);
		add_isr();
		memset(vp_sim.bar4 + VP_SIM_NOTIFY, 0xee, 0x800);
		vp = probe_ok();
		if (!vp)
			return;
		CHECK(find_vqs(vp) < 0);
		CHECK(log_has("virtio0: queue 1 notify offset"));
		CHECK(log_has("lies outside the notify region (4 bytes)"));
		CHECK_EQ(vp->nvqs, 0);
		for (unsigned b = 0; b < 0x800; b++)
			if (vp_sim.bar4[VP_SIM_NOTIFY + b] != 0xee) {
				CHECK_EQ(b, -1); /* the first byte written */
				break;
			}
		CHECK_EQ(vp_sim.nenables, 0);
		CHECK_EQ(vp_sim.msi_freed, vp_sim.msi_allocated);
		CHECK_EQ(host_dma_live, dma_before);
	}
}

/* ---- MSI and MSI-X left enabled; vectors at teardown ---- */

/* Firmware or a previous kernel left MSI and MSI-X on (PCI 3.0 6.8.1.3, 6.8.2.3): the probe turns
 * both off, each with a line, before an interrupt mode is chosen. */
static void test_msi_msix_left_enabled_modern(void)
{
	struct virtio_pci_device *vp;

	start(MODERN_NET);
	vp_sim.msix_on_entry = true;
	vp_sim.msi = true;
	vp_sim.msi_on_entry = true;
	vp = probe_ok();
	if (!vp)
		return;
	CHECK(!vp_sim_msix_enabled());
	CHECK(!vp_sim_msi_enabled());
	CHECK(log_has("pci: 00:00.0 MSI-X was left enabled (by firmware or an earlier kernel); disabled"));
	CHECK(log_has("pci: 00:00.0 MSI was left enabled (by firmware or an earlier kernel); disabled"));
	CHECK_EQ(vp_sim.msix_disables, 1);
	/* per-queue MSI-X from a known state */
	CHECK_EQ(find_vqs(vp), 0);
	CHECK_EQ(vp->irq_mode, VP_IRQ_MSIX_PER_VQ);
	CHECK_EQ(vp_sim.nenables, 2);
	CHECK(vp_sim.enables[0].msix_enabled && vp_sim.enables[1].msix_enabled);
	CHECK_EQ(virtio_reset_device(&vp->vdev), 0);
	vp_del_vqs(&vp->vdev);
	CHECK(!vp_sim_msix_enabled());
	CHECK_EQ(host_dma_live, dma_before);

	/* nothing left on: nothing said */
	start(MODERN_NET);
	vp_sim.msi = true;
	CHECK_EQ(vp_harness_probe(&pci), 0);
	CHECK(!log_has("was left enabled"));
	CHECK_EQ(vp_sim.msix_disables, 0);
}

/* 4.1.5.1.2: the driver unmaps an event by writing NO_VECTOR. Teardown does so for every queue
 * vector and the configuration vector while MSI-X is still on, then turns MSI-X off: the
 * device is left with no vector, whoever enables MSI-X next. Also when vp_find_vqs gives up
 * MSI-X for INTx. Modern transport; no reset first (the probe's own unwinding). */
/* A modern device with its queues found, a vector each: the device, or NULL after a failed check. */
static struct virtio_pci_device *modern_per_vq(void)
{
	struct virtio_pci_device *vp;

	start(MODERN_NET);
	vp = probe_ok();
	if (!vp)
		return NULL;
	CHECK_EQ(find_vqs(vp), 0);
	CHECK_EQ(vp->irq_mode, VP_IRQ_MSIX_PER_VQ);
	return vp;
}

static void test_teardown_unmaps_vectors_modern(void)
{
	struct virtio_pci_device *vp = modern_per_vq();

	if (!vp)
		return;
	CHECK_EQ(vp_sim.config_vector, 0);
	CHECK_EQ(vp_sim.q[0].vector, 1);
	CHECK_EQ(vp_sim.q[1].vector, 2);
	vp_del_vqs(&vp->vdev);
	CHECK_EQ(vp_sim.msix_disables, 1);
	CHECK_EQ(vp_sim.at_msix_disable.config, VIRTIO_MSI_NO_VECTOR);
	CHECK_EQ(vp_sim.at_msix_disable.queue[0], VIRTIO_MSI_NO_VECTOR);
	CHECK_EQ(vp_sim.at_msix_disable.queue[1], VIRTIO_MSI_NO_VECTOR);
	CHECK(!vp_sim_msix_enabled());
	CHECK_EQ(vp_sim.msi_freed, vp_sim.msi_allocated);
	CHECK_EQ(host_dma_live, dma_before);

	/* the device maps only vector 0: both MSI-X attempts fail, INTx is used, and the
	 * configuration vector the first attempt set is unmapped again */
	start(MODERN_NET);
	vp_sim.nvectors = 1;
	vp = probe_ok();
	if (!vp)
		return;
	CHECK_EQ(find_vqs(vp), 0);
	CHECK_EQ(vp->irq_mode, VP_IRQ_INTX);
	CHECK_EQ(vp_sim.msix_disables, 2);
	CHECK_EQ(vp_sim.at_msix_disable.config, VIRTIO_MSI_NO_VECTOR);
	CHECK_EQ(vp_sim.config_vector, VIRTIO_MSI_NO_VECTOR);
	CHECK_EQ(vp_sim.nenables, 2);
	CHECK_EQ(vp_sim.enables[0].config_vector, VIRTIO_MSI_NO_VECTOR);
	CHECK(!vp_sim.enables[0].msix_enabled);
	CHECK_EQ(virtio_reset_device(&vp->vdev), 0);
	vp_del_vqs(&vp->vdev);
	CHECK_EQ(host_dma_live, dma_before);
}

static void check_mac(struct virtio_pci_device *vp)
{
	u8 mac[6] = { 0 };

	CHECK_EQ(vp->vdev.config->get(&vp->vdev, 0, mac, sizeof(mac)), 0);
	CHECK_MEM(mac, sim_mac, sizeof(mac));
}

static void set_msix_enable(bool on)
{
	u16 ctrl = pci_read16(&pci, pci.msix.cap + PCI_MSIX_FLAGS);

	pci_write16(&pci, pci.msix.cap + PCI_MSIX_FLAGS,
		    on ? ctrl | PCI_MSIX_FLAGS_ENABLE : ctrl & ~PCI_MSIX_FLAGS_ENABLE);
}

/* The legacy interface (4.1.4.8): the two vector registers exist, and the device-specific
 * configuration starts at 24 instead of 20, exactly while MSI-X is enabled in the function.
 * MSI-X left on: turned off at probe, and the MAC read at 20. Whatever turns it on or off
 * later, the driver reads where the device puts the configuration. Teardown unmaps the
 * vectors while the registers exist and never writes into the configuration. */
static void test_legacy_follows_msix_state(void)
{
	struct virtio_pci_device *vp;

	start(TRANSITIONAL_NET);
	vp_sim.legacy = true;
	vp_sim.no_modern = true;
	vp_sim.msix_on_entry = true;
	host_dma_low32 = 1; /* the queue PFN register holds 32 bits */
	vp = probe_ok();
	if (!vp)
		goto out;
	CHECK(!vp->vdev.modern);
	CHECK(!vp_sim_msix_enabled());
	CHECK(log_has("MSI-X was left enabled"));
	check_mac(vp);
	set_msix_enable(true); /* behind the transport's back */
	check_mac(vp);
	set_msix_enable(false);
	check_mac(vp);

	CHECK_EQ(find_vqs(vp), 0);
	CHECK_EQ(vp->irq_mode, VP_IRQ_MSIX_PER_VQ);
	CHECK(vp_sim_msix_enabled());
	CHECK_EQ(vp_sim.nenables, 2);
	CHECK_EQ(vp_sim.enables[1].queue_vector, 2);
	CHECK_EQ(vp_sim.enables[1].config_vector, 0);
	check_mac(vp);
	vp_sim.msix_disables = 0;
	vp_del_vqs(&vp->vdev);
	CHECK_EQ(vp_sim.msix_disables, 1);
	CHECK_EQ(vp_sim.at_msix_disable.config, VIRTIO_MSI_NO_VECTOR);
	CHECK_EQ(vp_sim.at_msix_disable.queue[0], VIRTIO_MSI_NO_VECTOR);
	CHECK_EQ(vp_sim.at_msix_disable.queue[1], VIRTIO_MSI_NO_VECTOR);
	CHECK_EQ(vp_sim.devcfg_writes, 0);
	CHECK_MEM(vp_sim.devcfg, sim_mac, sizeof(sim_mac));
	check_mac(vp);
	CHECK_EQ(vp_sim.msi_freed, vp_sim.msi_allocated);
	CHECK_EQ(host_dma_live, dma_before);

	/* INTx only: no vector register is ever written (at 20 and 22 is the configuration) */
	CHECK_EQ(virtio_reset_device(&vp->vdev), 0);
	h_set_cmdline("virtio_irq", "intx");
	CHECK_EQ(find_vqs(vp), 0);
	CHECK_EQ(vp->irq_mode, VP_IRQ_INTX);
	vp_del_vqs(&vp->vdev);
	h_set_cmdline("virtio_irq", NULL);
	CHECK_EQ(vp_sim.devcfg_writes, 0);
	check_mac(vp);
	CHECK_EQ(host_dma_live, dma_before);
out:
	host_dma_low32 = 0;
}

/* ---- what the transports write into the device (4.1.4.3, 4.1.4.8) ---- */

/* Modern: all 64 feature bits read through device_feature_select 0 and 1, the accepted ones
 * written through driver_feature_select 0 and 1 and read back; each queue's size, the three
 * ring addresses (queue_desc, queue_driver, queue_device) and queue_enable as the ring has
 * them; a kick of queue i lands at notify base + queue_notify_off * multiplier. */
static void test_modern_features_and_queue_registers(void)
{
	struct virtio_pci_device *vp;
	u64 offered = BIT_ULL(VIRTIO_F_VERSION_1) | BIT_ULL(VIRTIO_F_ACCESS_PLATFORM) |
		      BIT_ULL(5) | BIT_ULL(16) | BIT_ULL(31) | BIT_ULL(62);

	start(MODERN_NET);
	vp_sim.features = offered;
	vp = probe_ok();
	if (!vp)
		return;
	CHECK_EQ(vp->vdev.config->get_features(&vp->vdev), offered);
	vp->vdev.config->set_features(&vp->vdev, BIT_ULL(VIRTIO_F_VERSION_1) | BIT_ULL(31) | BIT_ULL(5));
	CHECK_EQ(vp_sim.driver_features, BIT_ULL(VIRTIO_F_VERSION_1) | BIT_ULL(31) | BIT_ULL(5));
	CHECK_EQ(find_vqs(vp), 0);
	CHECK_EQ(vp->nvqs, 2);
	for (unsigned i = 0; i < 2 && i < vp->nvqs; i++) {
		const struct virtqueue *vq = vp->vqs[i].vq;

		CHECK_EQ(vp_sim.q[i].size, vq->num);
		CHECK_EQ(vp_sim.q[i].desc, vq->desc_phys);
		CHECK_EQ(vp_sim.q[i].avail, vq->avail_phys);
		CHECK_EQ(vp_sim.q[i].used, vq->used_phys);
		CHECK_EQ(vp_sim.q[i].enabled, 1);
		virtqueue_notify(vp->vqs[i].vq);
		CHECK_EQ(vp_sim.bar4[VP_SIM_NOTIFY + 2 * i], i);
	}
	CHECK_EQ(virtio_reset_device(&vp->vdev), 0);
	CHECK_EQ(vp_sim.status, 0);
	vp_del_vqs(&vp->vdev);
	CHECK_EQ(host_dma_live, dma_before);
}

/* Legacy: 32 feature bits (a bit above them is never seen), guest features written; each
 * queue's page frame number is its ring's address >> 12, and 0 again after teardown; status
 * bits written are read back. */
static void test_legacy_features_and_queue_registers(void)
{
	struct virtio_pci_device *vp;

	start(TRANSITIONAL_NET);
	vp_sim.legacy = true;
	vp_sim.no_modern = true;
	vp_sim.features = BIT_ULL(5) | BIT_ULL(16) | BIT_ULL(31) | BIT_ULL(VIRTIO_F_VERSION_1);
	host_dma_low32 = 1; /* the queue PFN register holds 32 bits */
	vp = probe_ok();
	if (!vp)
		goto out;
	CHECK_EQ(vp->vdev.config->get_features(&vp->vdev), BIT_ULL(5) | BIT_ULL(16) | BIT_ULL(31));
	vp->vdev.config->set_features(&vp->vdev, BIT_ULL(5) | BIT_ULL(31));
	CHECK_EQ(vp_sim.driver_features, BIT_ULL(5) | BIT_ULL(31));
	vp->vdev.config->set_status(&vp->vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	CHECK_EQ(vp->vdev.config->get_status(&vp->vdev), VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	CHECK_EQ(find_vqs(vp), 0);
	CHECK_EQ(vp->nvqs, 2);
	for (unsigned i = 0; i < 2 && i < vp->nvqs; i++) {
		const struct virtqueue *vq = vp->vqs[i].vq;

		CHECK_EQ(vq->num, vp_sim.q[i].size);
		CHECK_EQ((u64)vp_sim.q[i].pfn << 12, vq->desc_phys);
		CHECK_EQ(vq->desc_phys & 0xfff, 0);
	}
	CHECK_EQ(virtio_reset_device(&vp->vdev), 0);
	CHECK_EQ(vp_sim.status, 0);
	vp_del_vqs(&vp->vdev);
	CHECK_EQ(vp_sim.q[0].pfn, 0); /* 4.1.5.4 (legacy): writing 0 releases the queue */
	CHECK_EQ(host_dma_live, dma_before);
out:
	host_dma_low32 = 0;
}

/* The legacy interface is BAR 0, an I/O block at least as long as its registers (20 bytes
 * without MSI-X, virtio 1.x 4.1.4.8) at a port number x86 can reach: anything else (a memory
 * BAR 0, as with disable-legacy=on; too short; past 0xffff) is not a legacy interface. */
static void test_legacy_bar0_checked(void)
{
	static const struct { bool io; u64 size, addr; int want; } cases[] = {
		{ true, 20, 0xc000, 0 },    { true, 0x20, 0xffe0, 0 },     { false, 0x40, 0xc000, -ENODEV },
		{ true, 19, 0xc000, -ENODEV }, { true, 0x40, 0x10000, -ENODEV }, { true, 0x40, 0x1c000, -ENODEV },
	};

	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		struct virtio_pci_device vp;
		struct pci_dev dev;
		int err;

		memset(&vp, 0, sizeof(vp));
		memset(&dev, 0, sizeof(dev));
		dev.bar[0].is_io = cases[i].io;
		dev.bar[0].size = cases[i].size;
		dev.bar[0].addr = cases[i].addr;
		dev.subsys_id = VIRTIO_ID_NET;
		vp.pci = &dev;
		vp.vdev.modern = true;
		err = virtio_pci_legacy_probe(&vp);
		CHECK_EQ(err, cases[i].want);
		if (err != cases[i].want)
			printf("#   BAR 0 %s, %llu bytes at 0x%llx\n", cases[i].io ? "I/O" : "memory",
			       (unsigned long long)cases[i].size, (unsigned long long)cases[i].addr);
		if (err == 0) {
			CHECK_EQ(vp.ioaddr, cases[i].addr);
			CHECK(!vp.vdev.modern);
			CHECK_EQ(vp.vdev.id, VIRTIO_ID_NET);
		}
	}
}

static u32 msix_word(unsigned entry, unsigned off)
{
	u32 v;

	memcpy(&v, vp_sim.bar4 + VP_SIM_MSIX_TABLE + 16 * entry + off, 4);
	return v;
}

/* An MSI-X entry the driver uses holds its irq's message (address, data: irq_msi_message) and
 * is unmasked (PCI 3.0 6.8.2.9: masked after reset, and a masked entry delivers nothing); one
 * it does not use stays masked. Per queue: entries 0 (config), 1, 2; shared (the device maps
 * only two vectors): entries 0 and 1, both queues on vector 1. The core's list of queues
 * (vdev.nvqs, vdev.vqs, which the ring trace walks) holds both. */
static void test_msix_entries_programmed_and_unmasked(void)
{
	struct virtio_pci_device *vp = modern_per_vq();

	if (!vp)
		return;
	CHECK_EQ(vp->vdev.nvqs, 2);
	CHECK(vp->vdev.vqs[0] == vp->vqs[0].vq && vp->vdev.vqs[1] == vp->vqs[1].vq);
	CHECK_EQ(msix_word(0, 0), 0xfee00000u);
	CHECK_EQ(msix_word(0, 8), (u32)vp->config_irq);
	CHECK_EQ(msix_word(1, 8), (u32)vp->vqs[0].irq);
	CHECK_EQ(msix_word(2, 8), (u32)vp->vqs[1].irq);
	for (unsigned e = 0; e < 3; e++)
		CHECK_EQ(msix_word(e, 12) & 1, 0);
	CHECK_EQ(msix_word(3, 12) & 1, 1);
	CHECK_EQ(virtio_reset_device(&vp->vdev), 0);
	vp_del_vqs(&vp->vdev);
	for (unsigned e = 0; e < 3; e++)
		CHECK_EQ(msix_word(e, 12) & 1, 1); /* masked again at teardown */

	start(MODERN_NET);
	vp_sim.nvectors = 2;
	vp = probe_ok();
	if (!vp)
		return;
	CHECK_EQ(find_vqs(vp), 0);
	CHECK_EQ(vp->irq_mode, VP_IRQ_MSIX_SHARED);
	CHECK_EQ(vp_sim.q[0].vector, 1);
	CHECK_EQ(vp_sim.q[1].vector, 1);
	CHECK_EQ(msix_word(0, 8), (u32)vp->config_irq);
	CHECK_EQ(msix_word(1, 8), (u32)vp->shared_irq);
	CHECK(vp->shared_irq >= 32);
	CHECK_EQ(msix_word(0, 12) & 1, 0);
	CHECK_EQ(msix_word(1, 12) & 1, 0);
	CHECK_EQ(msix_word(2, 12) & 1, 1);
	CHECK_EQ(virtio_reset_device(&vp->vdev), 0);
	vp_del_vqs(&vp->vdev);
	CHECK_EQ(host_dma_live, dma_before);
}

/* A queue that cannot be made fails find_vqs, with INTx (no MSI-X) too, and everything is
 * given back; so does a queue past the device's num_queues (4.1.4.3). */
static void test_find_vqs_queue_failures(void)
{
	struct virtio_pci_device *vp;
	struct virtqueue *vqs[3];
	vq_callback_t cbs[3] = { cb, cb, cb };
	const char *const names[3] = { "input", "output", "third" };

	start(MODERN_NET);
	vp_sim.msix = false;
	vp_sim.q[1].size = 0; /* 4.1.4.3: queue_size 0, the queue is unavailable */
	vp = probe_ok();
	if (!vp)
		return;
	CHECK(find_vqs(vp) < 0);
	CHECK_EQ(vp->intx_irq, -1); /* the INTx line given back */
	CHECK_EQ(vp->irq_mode, VP_IRQ_NONE);
	CHECK_EQ(host_dma_live, dma_before);

	start(MODERN_NET);
	vp = probe_ok();
	if (!vp)
		return;
	CHECK(vp->vdev.config->find_vqs(&vp->vdev, 3, vqs, cbs, names) < 0);
	CHECK_EQ(vp_sim.msi_freed, vp_sim.msi_allocated);
	CHECK_EQ(host_dma_live, dma_before);

	/* a queue the device says is enabled already, before any was set up: refused, not used */
	start(MODERN_NET);
	vp = probe_ok();
	if (!vp)
		return;
	vp_sim.q[0].enabled = 1;
	host_log_clear();
	CHECK(find_vqs(vp) < 0);
	CHECK(log_has("queue 0 is already enabled"));
	CHECK_EQ(host_dma_live, dma_before);

	/* no MSI-X and the INTx line cannot be had: no queues without an interrupt */
	start(MODERN_NET);
	vp_sim.msix = false;
	vp_sim.intx = false;
	vp = probe_ok();
	if (!vp)
		return;
	CHECK(find_vqs(vp) < 0);
	CHECK_EQ(vp->nvqs, 0);
	CHECK_EQ(host_dma_live, dma_before);
}

/* 4.1.3.1: each field of the device-specific configuration is read with its own width (a
 * 16-bit field with one 16-bit read, a 32-bit one with one 32-bit read); an array of bytes
 * byte by byte. Writes put every byte where it belongs. */
static void test_device_cfg_access(void)
{
	struct virtio_pci_device *vp;
	static const u8 mac2[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
	u8 mac[6];
	u16 status;
	u32 word;

	start(MODERN_NET);
	add_common();
	add_notify();
	add_isr();
	add_cap(VP_SIM_CAP_DEVICE, VP_SIM_BAR, 0, VP_SIM_DEVICE, VP_SIM_DEVCFG_LEN, 0);
	vp = probe_ok();
	if (!vp)
		return;
	memcpy(vp_sim.bar4 + VP_SIM_DEVICE, sim_mac, 6);
	vp_sim.bar4[VP_SIM_DEVICE + 6] = 0x01; /* status: LINK_UP (5.1.4) */
	vp_sim.bar4[VP_SIM_DEVICE + 7] = 0x00;
	memset(vp_sim.devcfg_reads, 0, sizeof(vp_sim.devcfg_reads));
	CHECK_EQ(vp->vdev.config->get(&vp->vdev, 6, &status, 2), 0);
	CHECK_EQ(status, 1);
	CHECK_EQ(vp_sim.devcfg_reads[2], 1);
	CHECK_EQ(vp_sim.devcfg_reads[1], 0);
	CHECK_EQ(vp->vdev.config->get(&vp->vdev, 8, &word, 4), 0);
	CHECK_EQ(vp_sim.devcfg_reads[4], 1);
	CHECK_EQ(vp_sim.devcfg_reads[1], 0);
	CHECK_EQ(vp->vdev.config->get(&vp->vdev, 0, mac, 6), 0);
	CHECK_MEM(mac, sim_mac, 6);
	CHECK_EQ(vp_sim.devcfg_reads[1], 6);
	vp->vdev.config->set(&vp->vdev, 0, mac2, 6);
	CHECK_MEM(vp_sim.bar4 + VP_SIM_DEVICE, mac2, 6);
}

/* Device ids 0x1000..0x107f are virtio's (4.1.2): the last one is probed, the next is not. */
static void test_device_id_range(void)
{
	start(VIRTIO_PCI_DEVICE_LAST);
	pci.subsys_id = 0;
	CHECK_EQ(vp_harness_probe(&pci), 0);
	start(VIRTIO_PCI_DEVICE_LAST + 1);
	CHECK_EQ(vp_harness_probe(&pci), -ENODEV);
}

int main(void)
{
	host_quiet = 1;
	host_now_ns = NSEC_PER_SEC;
	RUN(test_cap_reserved_bar_skipped);
	RUN(test_cap_too_short_skipped);
	RUN(test_cap_outside_bar_skipped);
	RUN(test_cap_none_usable);
	RUN(test_notify_window_too_small);
	RUN(test_msi_msix_left_enabled_modern);
	RUN(test_teardown_unmaps_vectors_modern);
	RUN(test_legacy_follows_msix_state);
	RUN(test_modern_features_and_queue_registers);
	RUN(test_legacy_features_and_queue_registers);
	RUN(test_legacy_bar0_checked);
	RUN(test_msix_entries_programmed_and_unmasked);
	RUN(test_find_vqs_queue_failures);
	RUN(test_device_cfg_access);
	RUN(test_device_id_range);
	vh_teardown();
	return unit_summary("virtio_pci");
}
