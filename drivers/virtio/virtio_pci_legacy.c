/*
 * drivers/virtio/virtio_pci_legacy.c - the legacy (virtio 0.9.5) PCI interface, as kept for
 * transitional devices in virtio 1.x section 4.1.4.8 "Legacy Interfaces: A Note on PCI Device
 * Layout".
 *
 * One I/O BAR (BAR 0) holds everything: 32-bit feature words, a queue's page frame number
 * (the ring must be laid out contiguously with the used ring on a 4096-byte boundary),
 * queue notify, status and ISR; with MSI-X enabled two vector registers appear and the
 * device-specific configuration moves from offset 20 to 24.
 */
#include "drivers/virtio/virtio_pci_common.h"
#include "kernel/errno.h"
#include "kernel/io.h"
#include "kernel/printk.h"
#include "kernel/time.h"

#define VIRTIO_PCI_HOST_FEATURES 0x00  /* 32, read-only */
#define VIRTIO_PCI_GUEST_FEATURES 0x04 /* 32 */
#define VIRTIO_PCI_QUEUE_PFN 0x08      /* 32: ring address >> 12 */
#define VIRTIO_PCI_QUEUE_NUM 0x0c      /* 16, read-only: the size is the device's choice */
#define VIRTIO_PCI_QUEUE_SEL 0x0e      /* 16 */
#define VIRTIO_PCI_QUEUE_NOTIFY 0x10   /* 16 */
#define VIRTIO_PCI_STATUS 0x12         /* 8 */
#define VIRTIO_PCI_ISR 0x13            /* 8, read clears */
#define VIRTIO_MSI_CONFIG_VECTOR 0x14  /* 16, only with MSI-X enabled */
#define VIRTIO_MSI_QUEUE_VECTOR 0x16   /* 16, only with MSI-X enabled */
#define VIRTIO_PCI_CONFIG_OFF(msix) ((msix) ? 24 : 20)
#define VIRTIO_PCI_QUEUE_ADDR_SHIFT 12
#define VIRTIO_PCI_LEGACY_IO_LEN 20

static u8 vp_legacy_get_status(struct virtio_device *vdev)
{
	return inb(to_vp_device(vdev)->ioaddr + VIRTIO_PCI_STATUS);
}

static void vp_legacy_set_status(struct virtio_device *vdev, u8 status)
{
	outb(to_vp_device(vdev)->ioaddr + VIRTIO_PCI_STATUS, status);
}

static int vp_legacy_reset(struct virtio_device *vdev)
{
	struct virtio_pci_device *vp = to_vp_device(vdev);
	u64 deadline = now_ns() + VP_RESET_TIMEOUT_MS * NSEC_PER_MSEC;

	outb(vp->ioaddr + VIRTIO_PCI_STATUS, 0);
	/* Legacy devices reset synchronously; reading back also flushes the write. */
	while (inb(vp->ioaddr + VIRTIO_PCI_STATUS) != 0) {
		if (now_ns() > deadline)
			return -ETIMEDOUT;
		cpu_relax();
	}
	return 0;
}

static u64 vp_legacy_get_features(struct virtio_device *vdev)
{
	return inl(to_vp_device(vdev)->ioaddr + VIRTIO_PCI_HOST_FEATURES);
}

static void vp_legacy_set_features(struct virtio_device *vdev, u64 features)
{
	outl(to_vp_device(vdev)->ioaddr + VIRTIO_PCI_GUEST_FEATURES, (u32)features);
}

/* Where the device-specific configuration starts: it follows the vector registers, which
 * exist while MSI-X is enabled (4.1.4.8). The device goes by the MSI-X Enable bit, whoever set
 * it, so the driver reads that bit, not its own idea of the interrupt mode. */
static unsigned config_base(struct virtio_pci_device *vp)
{
	return vp->ioaddr + VIRTIO_PCI_CONFIG_OFF(pci_msix_is_enabled(vp->pci));
}

/* Legacy configuration has no generation counter; byte reads, as the legacy drivers do. */
static int vp_legacy_get(struct virtio_device *vdev, unsigned off, void *buf, unsigned len)
{
	struct virtio_pci_device *vp = to_vp_device(vdev);
	u64 io_len = vp->pci->bar[0].size;
	unsigned base = config_base(vp);

	if (base - vp->ioaddr + off + len > io_len)
		return -EIO;
	for (unsigned i = 0; i < len; i++)
		((u8 *)buf)[i] = inb(base + off + i);
	return 0;
}

static void vp_legacy_set(struct virtio_device *vdev, unsigned off, const void *buf, unsigned len)
{
	struct virtio_pci_device *vp = to_vp_device(vdev);
	unsigned base = config_base(vp);

	if (base - vp->ioaddr + off + len > vp->pci->bar[0].size)
		return;
	for (unsigned i = 0; i < len; i++)
		outb(base + off + i, ((const u8 *)buf)[i]);
}

static u8 vp_legacy_read_isr(struct virtio_pci_device *vp) { return inb(vp->ioaddr + VIRTIO_PCI_ISR); }

/* The vector registers exist only while MSI-X is enabled (4.1.4.8): otherwise the same
 * offsets are the device-specific configuration, and a vector written there would change it
 * (a virtio-net MAC). Then nothing is written and no vector is mapped. */
static u16 vp_legacy_config_vector(struct virtio_pci_device *vp, u16 vector)
{
	if (!pci_msix_is_enabled(vp->pci))
		return VIRTIO_MSI_NO_VECTOR;
	outw(vp->ioaddr + VIRTIO_MSI_CONFIG_VECTOR, vector);
	return inw(vp->ioaddr + VIRTIO_MSI_CONFIG_VECTOR);
}

static u16 vp_legacy_queue_vector(struct virtio_pci_vq_info *info, u16 vector)
{
	struct virtio_pci_device *vp = info->vp;

	if (!pci_msix_is_enabled(vp->pci))
		return VIRTIO_MSI_NO_VECTOR;
	outw(vp->ioaddr + VIRTIO_PCI_QUEUE_SEL, (u16)info->vq->index);
	outw(vp->ioaddr + VIRTIO_MSI_QUEUE_VECTOR, vector);
	return inw(vp->ioaddr + VIRTIO_MSI_QUEUE_VECTOR);
}

static bool vp_legacy_notify(struct virtqueue *vq)
{
	struct virtio_pci_vq_info *info = vq->priv;

	outw(info->vp->ioaddr + VIRTIO_PCI_QUEUE_NOTIFY, (u16)vq->index);
	return true;
}

static int vp_legacy_setup_vq(struct virtio_pci_device *vp, struct virtio_pci_vq_info *info,
			      unsigned index, vq_callback_t callback, const char *name)
{
	struct virtio_device *vdev = &vp->vdev;
	struct virtqueue *vq;
	int num;

	outw(vp->ioaddr + VIRTIO_PCI_QUEUE_SEL, (u16)index);
	if (inl(vp->ioaddr + VIRTIO_PCI_QUEUE_PFN)) {
		printk("%s: queue %u is already in use\n", vdev->name, index);
		return -ENOENT;
	}
	/* The legacy driver cannot choose the size: refuse what we cannot hold. */
	num = virtio_check_queue_size(vdev, index, inw(vp->ioaddr + VIRTIO_PCI_QUEUE_NUM), false);
	if (num < 0)
		return num;
	vq = vring_create_virtqueue(index, (unsigned)num, virtio_has_feature(vdev, VIRTIO_RING_F_EVENT_IDX),
				    virtio_has_feature(vdev, VIRTIO_RING_F_INDIRECT_DESC), vp_legacy_notify,
				    callback, name);
	if (!vq)
		return -ENOMEM;
	if ((vq->desc_phys >> VIRTIO_PCI_QUEUE_ADDR_SHIFT) > 0xffffffffull) {
		printk("%s: ring at 0x%llx is beyond what the legacy PFN register can hold\n", vdev->name,
		       vq->desc_phys);
		vring_del_virtqueue(vq);
		return -ENOMEM;
	}
	vq->priv = info;
	vq->vdev = vdev;
	info->vq = vq;
	/* its vector from vp_setup_queues (queue_vector); activated by vp_legacy_enable_vq, once
	 * interrupts are set up */
	return 0;
}

/* Writing the ring's page frame number activates the queue (4.1.4.8). */
static void vp_legacy_enable_vq(struct virtio_pci_vq_info *info)
{
	struct virtio_pci_device *vp = info->vp;
	struct virtqueue *vq = info->vq;

	outw(vp->ioaddr + VIRTIO_PCI_QUEUE_SEL, (u16)vq->index);
	outl(vp->ioaddr + VIRTIO_PCI_QUEUE_PFN, (u32)(vq->desc_phys >> VIRTIO_PCI_QUEUE_ADDR_SHIFT));
}

static void vp_legacy_del_vq(struct virtio_pci_vq_info *info)
{
	struct virtio_pci_device *vp = info->vp;

	/* Its vector was unmapped with the interrupts, while MSI-X was still on (vp_release_irqs). */
	outw(vp->ioaddr + VIRTIO_PCI_QUEUE_SEL, (u16)info->vq->index);
	/* Deactivate the queue -- only one that is active: QEMU takes a 0 written here as a reset
	 * of the whole device, which would undo status and features in the middle of a probe that
	 * is only unwinding an interrupt mode (its queues were never activated). Teardown resets
	 * the device first, after which every PFN reads 0 and nothing is written. */
	if (inl(vp->ioaddr + VIRTIO_PCI_QUEUE_PFN))
		outl(vp->ioaddr + VIRTIO_PCI_QUEUE_PFN, 0);
	vring_del_virtqueue(info->vq);
	info->vq = NULL;
}

static const struct virtio_config_ops vp_legacy_config_ops = {
	.get = vp_legacy_get,
	.set = vp_legacy_set,
	.get_status = vp_legacy_get_status,
	.set_status = vp_legacy_set_status,
	.reset = vp_legacy_reset,
	.get_features = vp_legacy_get_features,
	.set_features = vp_legacy_set_features,
	.find_vqs = vp_find_vqs,
	.del_vqs = vp_del_vqs,
	.describe = vp_describe,
	.bus_name = vp_bus_name,
};

int virtio_pci_legacy_probe(struct virtio_pci_device *vp)
{
	struct pci_dev *pci = vp->pci;

	if (!pci->bar[0].is_io || pci->bar[0].size < VIRTIO_PCI_LEGACY_IO_LEN || pci->bar[0].addr > 0xffff)
		return -ENODEV; /* disable-legacy=on: BAR 0 is not the legacy I/O block */
	vp->ioaddr = (u16)pci->bar[0].addr;
	vp->vdev.modern = false;
	vp->vdev.id = pci->subsys_id; /* 4.1.2.1: the subsystem id names the type */
	vp->vdev.config = &vp_legacy_config_ops;
	vp->read_isr = vp_legacy_read_isr;
	vp->config_vector = vp_legacy_config_vector;
	vp->queue_vector = vp_legacy_queue_vector;
	vp->setup_vq = vp_legacy_setup_vq;
	vp->enable_vq = vp_legacy_enable_vq;
	vp->del_vq = vp_legacy_del_vq;
	return 0;
}
