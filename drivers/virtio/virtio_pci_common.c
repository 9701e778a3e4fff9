/*
 * drivers/virtio/virtio_pci_common.c - what both virtio-pci transports share: the PCI
 * driver that picks a transport, queue creation (vp_find_vqs) and interrupts (vp_interrupt).
 *
 * Interrupts follow the course text's Linux design: first try MSI-X with one vector for
 * configuration changes and one per queue; if the device has too few vectors, one for
 * configuration and one shared by all queues; failing that, the legacy INTx line, whose
 * handler (vp_interrupt) reads the ISR register -- the read also acknowledges the interrupt
 * (virtio 1.x 4.1.4.5) -- and dispatches to the queues and the config handler.
 */
#include "drivers/virtio/virtio_pci_common.h"
#include "kernel/cmdline.h"
#include "kernel/errno.h"
#include "kernel/init.h"
#include "kernel/irq.h"
#include "kernel/printk.h"
#include "kernel/string.h"

#define MAX_VP_DEVICES 8

static struct virtio_pci_device vp_devices[MAX_VP_DEVICES];
static int nvp_devices;

bool vp_msix_enabled(const struct virtio_pci_device *vp)
{
	return vp->irq_mode == VP_IRQ_MSIX_SHARED || vp->irq_mode == VP_IRQ_MSIX_PER_VQ;
}

const char *vp_bus_name(struct virtio_device *vdev) { return to_vp_device(vdev)->bus_name; }

/* ---- interrupt handlers: all called in interrupt context ---- */

static void vp_vring_interrupt(struct virtio_pci_device *vp)
{
	for (unsigned i = 0; i < vp->nvqs; i++)
		if (vp->vqs[i].vq)
			vring_interrupt(vp->vqs[i].vq);
}

/* INTx: one line for everything; the ISR says why (and reading it lowers the line). */
static void vp_interrupt(int irq, void *data)
{
	struct virtio_pci_device *vp = data;
	/* LAB:SOLUTION stage4 vp_interrupt */
	u8 isr = vp->read_isr(vp);

	vp->isr_reads++;
	if (!isr) {
		vp->isr_spurious++;
		return;
	}
	if (isr & ~(VIRTIO_PCI_ISR_QUEUE | VIRTIO_PCI_ISR_CONFIG))
		vp->isr_unknown_bits++;
	if (isr & VIRTIO_PCI_ISR_CONFIG)
		virtio_config_changed(&vp->vdev);
	if (isr & VIRTIO_PCI_ISR_QUEUE)
		vp_vring_interrupt(vp);
	/* LAB:END */
}

static void vp_config_interrupt(int irq, void *data)
{
	struct virtio_pci_device *vp = data;

	virtio_config_changed(&vp->vdev);
}

static void vp_shared_vq_interrupt(int irq, void *data) { vp_vring_interrupt(data); }

static void vp_vq_interrupt(int irq, void *data)
{
	struct virtio_pci_vq_info *info = data;

	vring_interrupt(info->vq);
}

/* ---- queue and interrupt setup ---- */

/*
 * Interrupts are taken down in this order:
 *  1. every handler goes, so none can run on a queue about to be deleted (an interrupt from
 *     then on only counts in irq_dispatch);
 *  2. the device unmaps each event we gave a vector, by writing NO_VECTOR (4.1.5.1.2), the
 *     queues' and the configuration change's, while MSI-X is still enabled: the legacy vector
 *     registers exist only then (4.1.4.8; with MSI-X off the same offsets are the device's
 *     configuration). A device left holding vectors signals them as soon as someone (a
 *     re-probe, a fallback to another mode, the next kernel) enables MSI-X again;
 *  3. MSI-X off, every entry we used masked.
 * Releasing an MSI irq before step 3 is safe: nothing allocates one in between.
 */
static void vp_release_irqs(struct virtio_pci_device *vp)
{
	bool msix = vp_msix_enabled(vp);

	if (vp->intx_irq >= 0) {
		free_irq(vp->intx_irq);
		vp->intx_irq = -1;
	}
	for (unsigned i = 0; i < vp->nvqs; i++) {
		if (vp->vqs[i].irq >= 0)
			irq_free_msi(vp->vqs[i].irq);
		vp->vqs[i].irq = -1;
	}
	if (vp->config_irq >= 0)
		irq_free_msi(vp->config_irq);
	if (vp->shared_irq >= 0)
		irq_free_msi(vp->shared_irq);
	vp->config_irq = vp->shared_irq = -1;
	for (unsigned i = 0; i < vp->nvqs; i++) {
		struct virtio_pci_vq_info *info = &vp->vqs[i];

		if (info->vq && info->msix_vector != VIRTIO_MSI_NO_VECTOR)
			vp->queue_vector(info, VIRTIO_MSI_NO_VECTOR);
		info->msix_vector = VIRTIO_MSI_NO_VECTOR;
	}
	if (msix) {
		vp->config_vector(vp, VIRTIO_MSI_NO_VECTOR);
		pci_msix_enable(vp->pci, false);
		for (u16 v = 0; v < vp->msix_used; v++)
			pci_msix_mask_entry(vp->pci, v, true);
	}
	vp->msix_used = 0;
	vp->irq_mode = VP_IRQ_NONE;
}

void vp_del_vqs(struct virtio_device *vdev)
{
	struct virtio_pci_device *vp = to_vp_device(vdev);

	/* Interrupts first: until its handler is gone, an interrupt can arrive at any moment and
	 * would find a queue deleted under it (vp_vq_interrupt does not look, and should not
	 * need to). */
	vp_release_irqs(vp);
	if (vdev->dead && vp->nvqs)
		printk("%s: keeping the rings of %u queues: the device never finished its reset and may still write them\n",
		       vdev->name, vp->nvqs);
	for (unsigned i = 0; i < vp->nvqs; i++) {
		vdev->vqs[i] = NULL;
		/* A device that did not reset may still be using the rings: they are never freed
		 * (the kernel's memory is safer lost than handed out again under its DMA). */
		if (vp->vqs[i].vq && !vdev->dead)
			vp->del_vq(&vp->vqs[i]);
	}
	vp->nvqs = 0;
	vdev->nvqs = 0;
}

/* Allocate an MSI irq, point MSI-X table entry 'entry' at it, and install the handler. */
static int vp_msix_vector(struct virtio_pci_device *vp, u16 entry, irq_handler_t fn, void *data,
			  const char *name)
{
	u32 addr, msg;
	int irq = irq_alloc_msi();

	if (irq < 0)
		return irq;
	irq_msi_message(irq, &addr, &msg);
	if (pci_msix_set_entry(vp->pci, entry, addr, msg) < 0 || request_irq(irq, fn, data, name) < 0) {
		irq_free_msi(irq);
		return -EIO;
	}
	pci_msix_mask_entry(vp->pci, entry, false);
	if (entry + 1 > vp->msix_used)
		vp->msix_used = entry + 1;
	return irq;
}

static int vp_setup_queues(struct virtio_pci_device *vp, unsigned nvqs, struct virtqueue *vqs[],
			   vq_callback_t callbacks[], const char *const names[], bool per_vq)
{
	u16 next_vector = 1; /* 0 is the config vector */

	for (unsigned i = 0; i < nvqs; i++) {
		struct virtio_pci_vq_info *info = &vp->vqs[i];
		u16 vector = VIRTIO_MSI_NO_VECTOR;
		int err;

		info->vp = vp;
		info->irq = -1;
		info->msix_vector = VIRTIO_MSI_NO_VECTOR;
		info->vq = NULL;
		vp->nvqs = vp->vdev.nvqs = i + 1;
		vqs[i] = vp->vdev.vqs[i] = NULL;
		if (!names[i]) /* a queue the driver does not use: left unset (Linux does the same) */
			continue;
		if (callbacks[i] && vp->irq_mode == VP_IRQ_MSIX_SHARED)
			vector = 1;
		else if (callbacks[i] && per_vq)
			vector = next_vector++;
		err = vp->setup_vq(vp, info, i, callbacks[i], names[i]);
		if (err)
			return err;
		vp->nvqs = i + 1;
		vqs[i] = info->vq;
		vp->vdev.vqs[i] = info->vq;
		vp->vdev.nvqs = i + 1;
		if (vector == VIRTIO_MSI_NO_VECTOR)
			continue;
		/* A device that cannot map the vector reads back NO_VECTOR (4.1.5.1.2). */
		if (vp->queue_vector(info, vector) != vector) {
			printk("%s: device refused MSI-X vector %u for queue %u\n", vp->vdev.name, vector, i);
			return -EBUSY;
		}
		info->msix_vector = vector;
		if (per_vq) {
			int irq = vp_msix_vector(vp, vector, vp_vq_interrupt, info, names[i]);

			if (irq < 0)
				return irq;
			info->irq = irq;
		}
	}
	return 0;
}

static int vp_find_vqs_msix(struct virtio_pci_device *vp, unsigned nvqs, struct virtqueue *vqs[],
			    vq_callback_t callbacks[], const char *const names[], bool per_vq)
{
	unsigned want = 1 + (per_vq ? 0 : 1);
	int err;

	if (per_vq)
		for (unsigned i = 0; i < nvqs; i++)
			want += names[i] && callbacks[i];
	err = pci_msix_map(vp->pci);
	if (err)
		return err;
	if (vp->pci->msix.table_size < want)
		return -ENOSPC;

	vp->irq_mode = per_vq ? VP_IRQ_MSIX_PER_VQ : VP_IRQ_MSIX_SHARED;
	/* Vector 0: configuration changes. */
	vp->config_irq = vp_msix_vector(vp, 0, vp_config_interrupt, vp, "virtio-config");
	if (vp->config_irq < 0) {
		err = vp->config_irq;
		goto err_unwind;
	}
	if (!per_vq) {
		vp->shared_irq = vp_msix_vector(vp, 1, vp_shared_vq_interrupt, vp, "virtio-queues");
		if (vp->shared_irq < 0) {
			err = vp->shared_irq;
			goto err_unwind;
		}
	}
	/* Enable before telling the device its vectors: the legacy register block moves
	 * (4.1.4.8) and the device checks vectors against an enabled table. */
	pci_msix_enable(vp->pci, true);
	if (vp->config_vector(vp, 0) != 0) {
		printk("%s: device refused MSI-X config vector 0\n", vp->vdev.name);
		err = -EIO;
		goto err_unwind;
	}
	err = vp_setup_queues(vp, nvqs, vqs, callbacks, names, per_vq);
	if (err)
		goto err_unwind;
	return 0;

err_unwind:
	vp_del_vqs(&vp->vdev);
	return err;
}

static int vp_find_vqs_intx(struct virtio_pci_device *vp, unsigned nvqs, struct virtqueue *vqs[],
			    vq_callback_t callbacks[], const char *const names[])
{
	int err;

	if (!vp->pci->irq_pin || vp->pci->irq_line >= 16) {
		printk("%s: no usable INTx line (pin %u, line %u)\n", vp->vdev.name, vp->pci->irq_pin,
		       vp->pci->irq_line);
		return -ENODEV;
	}
	err = request_irq(vp->pci->irq_line, vp_interrupt, vp, vp->vdev.name);
	if (err)
		return err;
	vp->intx_irq = vp->pci->irq_line;
	vp->irq_mode = VP_IRQ_INTX;
	pci_intx(vp->pci, true);
	err = vp_setup_queues(vp, nvqs, vqs, callbacks, names, false);
	if (err)
		vp_del_vqs(&vp->vdev);
	return err;
}

int vp_find_vqs(struct virtio_device *vdev, unsigned nvqs, struct virtqueue *vqs[],
		vq_callback_t callbacks[], const char *const names[])
{
	struct virtio_pci_device *vp = to_vp_device(vdev);
	const char *mode = cmdline_get("virtio_irq"); /* msix | shared | intx: for tests and labs */
	int err = -ENODEV;
	unsigned made = 0;

	if (nvqs > VIRTIO_MAX_VQS)
		return -EINVAL;
	if (!mode || strcmp(mode, "msix") == 0)
		err = vp_find_vqs_msix(vp, nvqs, vqs, callbacks, names, true);
	/* Fall back to another interrupt mode when this one was the problem (too few vectors, a
	 * vector the device refused, no irq). Out of memory, another mode would not help: the probe
	 * fails (and the core marks the device FAILED). No attempt enables a queue (see below). */
	if (err && err != -ENOMEM && (!mode || strcmp(mode, "msix") == 0 || strcmp(mode, "shared") == 0))
		err = vp_find_vqs_msix(vp, nvqs, vqs, callbacks, names, false);
	if (err && err != -ENOMEM)
		err = vp_find_vqs_intx(vp, nvqs, vqs, callbacks, names);
	if (err)
		return err;
	/* Last, as Linux does: every queue and vector is accepted and every handler installed.
	 * Until now nothing was enabled, so a failed attempt above left the device's queues free
	 * for the next one (an enabled queue only a reset takes back, 4.1.4.3.2). */
	for (unsigned i = 0; i < nvqs; i++)
		if (vp->vqs[i].vq) {
			vp->enable_vq(&vp->vqs[i]);
			made++;
		}
	printk("%s: %u queues, interrupts by %s\n", vdev->name, made,
	       vp->irq_mode == VP_IRQ_MSIX_PER_VQ   ? "MSI-X, one vector per queue"
	       : vp->irq_mode == VP_IRQ_MSIX_SHARED ? "MSI-X, queues share one vector"
						    : "INTx (vp_interrupt reads the ISR)");
	return 0;
}

void vp_describe(struct virtio_device *vdev)
{
	struct virtio_pci_device *vp = to_vp_device(vdev);

	switch (vp->irq_mode) {
	case VP_IRQ_INTX:
		printk("  interrupts: INTx irq %d; ISR reads %llu, spurious %llu, unknown bits %llu\n",
		       vp->intx_irq, vp->isr_reads, vp->isr_spurious,
		       vp->isr_unknown_bits);
		break;
	case VP_IRQ_MSIX_PER_VQ:
	case VP_IRQ_MSIX_SHARED:
		printk("  interrupts: MSI-X %s, config vector 0 -> irq %d (%llu)", 
		       vp->irq_mode == VP_IRQ_MSIX_PER_VQ ? "per-queue" : "shared", vp->config_irq,
		       irq_count(vp->config_irq));
		if (vp->shared_irq >= 0)
			printk(", queues vector 1 -> irq %d (%llu)", vp->shared_irq,
			       irq_count(vp->shared_irq));
		printk("\n");
		break;
	default:
		printk("  interrupts: none set up\n");
	}
	for (unsigned i = 0; i < vp->nvqs; i++) {
		struct virtio_pci_vq_info *info = &vp->vqs[i];
		struct virtqueue *vq = info->vq;
		struct vring_snapshot snap;

		if (!vq)
			continue;
		virtqueue_snapshot(vq, &snap);
		printk("  queue %u %-4s size %4u free %4u avail.idx %5u used.idx %5u last_used %5u %s ring%s\n", i,
		       vq->name, vq->num, snap.num_free, snap.avail_idx, snap.used_idx, snap.last_used,
		       vq->packed ? "packed" : "split", vq->broken ? " BROKEN" : "");
		printk("         vector %u%s irq %d: added %llu completed %llu kicks %llu (suppressed %llu) interrupts %llu (spurious %llu)\n",
		       info->msix_vector, info->msix_vector == VIRTIO_MSI_NO_VECTOR ? "(none)" : "", info->irq,
		       vq->stats.added, vq->stats.completed,
		       vq->stats.kicks, vq->stats.kicks_suppressed,
		       vq->stats.interrupts, vq->stats.spurious);
		printk("         full %llu indirect %llu bad entries: id %llu len %llu idx %llu\n",
		       vq->stats.full, vq->stats.indirect,
		       vq->stats.bad_used_id, vq->stats.bad_used_len,
		       vq->stats.bad_used_idx);
	}
}

/* ---- the PCI driver ---- */

static bool device_is_transitional(const struct pci_dev *pci)
{
	return pci->device >= VIRTIO_PCI_DEVICE_TRANS_FIRST && pci->device <= VIRTIO_PCI_DEVICE_TRANS_LAST;
}

/* Modern whenever offered, legacy otherwise; virtio=legacy|modern forces one (4.1.2). */
static int vp_choose_transport(struct virtio_pci_device *vp)
{
	const char *force = cmdline_get("virtio");
	int err;

	if (force && *force && strcmp(force, "legacy") != 0 && strcmp(force, "modern") != 0) {
		printk("virtio-pci: virtio=%s not understood (use virtio=legacy or virtio=modern); using the default\n",
		       force);
		force = NULL;
	}
	if (!force || strcmp(force, "modern") == 0) {
		err = virtio_pci_modern_probe(vp);
		if (err != -ENODEV || force)
			goto done;
	}
	if (!device_is_transitional(vp->pci)) {
		err = -ENODEV;
		goto done;
	}
	err = virtio_pci_legacy_probe(vp);
done:
	if (err == -ENODEV && force)
		printk("virtio-pci: %s: cannot use the %s interface as virtio=%s asks: the device does not offer it "
		       "(QEMU: %s); leaving the device alone\n",
		       vp->bus_name, force, force,
		       strcmp(force, "legacy") == 0 ? "disable-legacy=on, or a modern-only device id"
						    : "disable-modern=on");
	else if (err == -ENODEV)
		printk("virtio-pci: %s: neither a modern nor a legacy interface found; ignoring\n", vp->bus_name);
	return err;
}

static int virtio_pci_probe(struct pci_dev *pci)
{
	struct virtio_pci_device *vp;
	int err;

	if (pci->device > VIRTIO_PCI_DEVICE_LAST)
		return -ENODEV;
	if (nvp_devices == MAX_VP_DEVICES) {
		printk("virtio-pci: too many devices; ignoring %02x:%02x.%u\n", pci->bus, pci->slot, pci->func);
		return -ENOSPC;
	}
	vp = &vp_devices[nvp_devices];
	memset(vp, 0, sizeof(*vp));
	vp->pci = pci;
	vp->intx_irq = vp->config_irq = vp->shared_irq = -1;
	vp->vdev.transport = vp;
	snprintk(vp->bus_name, sizeof(vp->bus_name), "pci %02x:%02x.%u", pci->bus, pci->slot, pci->func);

	/* Whatever state MSI and MSI-X were left in (firmware, an earlier kernel): off, before the
	 * function may master the bus, so the interrupt mode is chosen from a known state
	 * (vp_find_vqs) and the legacy registers are where we expect them (4.1.4.8). */
	pci_disable_msi_msix(pci);
	pci_enable_device(pci);
	pci_set_master(pci);
	pci_intx(pci, false); /* until an interrupt mode is chosen */
	err = vp_choose_transport(vp);
	if (err)
		return err;
	nvp_devices++;
	pci->driver_data = vp;
	return register_virtio_device(&vp->vdev);
}

static const struct pci_device_id virtio_pci_ids[] = {
	{ VIRTIO_PCI_VENDOR, 0xffff },
	{ 0, 0 },
};

static const struct pci_driver virtio_pci_driver = {
	.name = "virtio-pci",
	.ids = virtio_pci_ids,
	.probe = virtio_pci_probe,
};

static void virtio_pci_init(void) { pci_register_driver(&virtio_pci_driver); }
INITCALL(2, virtio_pci_init);
