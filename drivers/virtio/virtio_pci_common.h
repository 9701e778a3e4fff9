/*
 * drivers/virtio/virtio_pci_common.h - state shared by the two virtio-over-PCI transports
 * (virtio 1.x section 4.1): the modern interface (virtio_pci_modern.c, 4.1.4) and the legacy
 * one (virtio_pci_legacy.c, 4.1.4.8). The common part (virtio_pci_common.c) owns the PCI
 * driver, the choice of transport, interrupts (MSI-X or INTx) and queue bookkeeping.
 */
#ifndef DRIVERS_VIRTIO_VIRTIO_PCI_COMMON_H
#define DRIVERS_VIRTIO_VIRTIO_PCI_COMMON_H

#include "drivers/pci.h"
#include "drivers/virtio/virtio.h"

#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_TRANS_FIRST 0x1000 /* transitional: type in the subsystem id */
#define VIRTIO_PCI_DEVICE_TRANS_LAST 0x103f
#define VIRTIO_PCI_DEVICE_MODERN_BASE 0x1040 /* modern: 0x1040 + device type */
#define VIRTIO_PCI_DEVICE_LAST 0x107f

#define VIRTIO_MSI_NO_VECTOR 0xffff

/* ISR status bits (4.1.4.5) */
#define VIRTIO_PCI_ISR_QUEUE 0x1
#define VIRTIO_PCI_ISR_CONFIG 0x2

enum vp_irq_mode { VP_IRQ_NONE, VP_IRQ_INTX, VP_IRQ_MSIX_SHARED, VP_IRQ_MSIX_PER_VQ };

struct virtio_pci_device;

struct virtio_pci_vq_info {
	struct virtqueue *vq;
	struct virtio_pci_device *vp;
	u16 msix_vector;          /* VIRTIO_MSI_NO_VECTOR when none */
	int irq;                  /* this queue's own MSI-X irq, or -1 */
	volatile u16 *notify;     /* modern: where to write the queue index */
};

struct virtio_pci_device {
	struct virtio_device vdev;
	struct pci_dev *pci;
	char bus_name[16];        /* "pci 00:03.0" */

	/* modern interface: mapped capability regions (4.1.4) */
	volatile u8 *common;
	volatile u8 *isr;
	volatile u8 *device;
	u32 device_len;
	volatile u8 *notify_base;
	u32 notify_len;
	u32 notify_off_multiplier;
	/* legacy interface: the I/O BAR (4.1.4.8) */
	u16 ioaddr;

	/* transport hooks used by the common code */
	u8 (*read_isr)(struct virtio_pci_device *vp);
	/* map the configuration-change event, or a queue's, to an MSI-X vector (NO_VECTOR:
	 * unmap) and return what the device reads back (4.1.5.1.2); where the registers exist
	 * only while MSI-X is enabled (legacy), nothing is written otherwise and NO_VECTOR read */
	u16 (*config_vector)(struct virtio_pci_device *vp, u16 vector);
	u16 (*queue_vector)(struct virtio_pci_vq_info *info, u16 vector);
	/* program a queue (size, ring addresses) without enabling it */
	int (*setup_vq)(struct virtio_pci_device *vp, struct virtio_pci_vq_info *info, unsigned index,
			vq_callback_t callback, const char *name);
	/* let the device use a queue setup_vq programmed: done last, once interrupts work */
	void (*enable_vq)(struct virtio_pci_vq_info *info);
	void (*del_vq)(struct virtio_pci_vq_info *info);

	/* interrupts */
	enum vp_irq_mode irq_mode;
	int intx_irq;
	int config_irq;           /* MSI-X: the config vector's irq */
	int shared_irq;           /* MSI-X shared mode: the one irq all queues use */
	u16 msix_used;            /* MSI-X table entries in use */
	struct virtio_pci_vq_info vqs[VIRTIO_MAX_VQS];
	unsigned nvqs;
	u64 isr_reads;
	u64 isr_spurious;         /* INTx with an ISR of 0: the line belonged to someone else */
	u64 isr_unknown_bits;     /* ISR bits the spec does not define: ignored */
};

static inline struct virtio_pci_device *to_vp_device(struct virtio_device *vdev)
{
	return container_of(vdev, struct virtio_pci_device, vdev);
}

/* Transport probes: fill in vp (registers, ops) or return -ENODEV when the device lacks that
 * interface; -EIO when it has one that is broken. */
int virtio_pci_modern_probe(struct virtio_pci_device *vp);
int virtio_pci_legacy_probe(struct virtio_pci_device *vp);

/* Common parts of virtio_config_ops, used by both transports. */
int vp_find_vqs(struct virtio_device *vdev, unsigned nvqs, struct virtqueue *vqs[],
		vq_callback_t callbacks[], const char *const names[]);
void vp_del_vqs(struct virtio_device *vdev);
void vp_describe(struct virtio_device *vdev);
const char *vp_bus_name(struct virtio_device *vdev);
bool vp_msix_enabled(const struct virtio_pci_device *vp);

/* Bound on polling a register (reset completion): virtio 1.x 4.1.4.3.2 lets the device
 * take its time, but a device that never finishes must not hang the kernel. */
#define VP_RESET_TIMEOUT_MS 1000

#endif
