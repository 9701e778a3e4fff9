/*
 * drivers/virtio/virtio_pci_modern.c - the virtio 1.x PCI interface (virtio 1.x 4.1.4).
 *
 * The device describes its register blocks with vendor-specific PCI capabilities
 * (struct virtio_pci_cap, 4.1.4): common configuration, notifications, ISR status and
 * device-specific configuration, each a window into one of its memory BARs. Feature words
 * are 64 bits wide, read and written 32 bits at a time through a select register.
 */
#include "drivers/virtio/virtio_pci_common.h"
#include "kernel/errno.h"
#include "kernel/io.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "kernel/time.h"

/* virtio_pci_cap.cfg_type (4.1.4) */
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG 3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG 5

/* Offsets within struct virtio_pci_cap (4.1.4) */
#define CAP_LEN 2
#define CAP_CFG_TYPE 3
#define CAP_BAR 4
#define CAP_OFFSET 8
#define CAP_LENGTH 12
#define CAP_NOTIFY_MULTIPLIER 16 /* struct virtio_pci_notify_cap (4.1.4.4) */
#define CAP_SIZE 16              /* sizeof(struct virtio_pci_cap) */
#define CAP_NOTIFY_SIZE 20       /* sizeof(struct virtio_pci_notify_cap) */

/* struct virtio_pci_common_cfg (4.1.4.3) register offsets */
#define COMMON_DFSELECT 0x00
#define COMMON_DF 0x04
#define COMMON_GFSELECT 0x08
#define COMMON_GF 0x0c
#define COMMON_MSIX 0x10
#define COMMON_NUMQ 0x12
#define COMMON_STATUS 0x14
#define COMMON_CFGGENERATION 0x15
#define COMMON_Q_SELECT 0x16
#define COMMON_Q_SIZE 0x18
#define COMMON_Q_MSIX 0x1a
#define COMMON_Q_ENABLE 0x1c
#define COMMON_Q_NOFF 0x1e
#define COMMON_Q_DESC 0x20
#define COMMON_Q_AVAIL 0x28
#define COMMON_Q_USED 0x30
#define COMMON_CFG_LEN 0x38

struct vp_cap {
	u8 pos;     /* config-space offset of the capability, 0 = absent */
	u8 bar;
	u32 offset, length;
	u32 mult;   /* notify capability: notify_off_multiplier (4.1.4.4) */
};

static const char *const cap_names[] = {
	[VIRTIO_PCI_CAP_COMMON_CFG] = "common", [VIRTIO_PCI_CAP_NOTIFY_CFG] = "notify",
	[VIRTIO_PCI_CAP_ISR_CFG] = "ISR", [VIRTIO_PCI_CAP_DEVICE_CFG] = "device",
};
/* The smallest window each structure fits in: the common configuration (4.1.4.3), one
 * queue's notify address (4.1.4.4), the ISR byte (4.1.4.5), one byte of device configuration. */
static const u32 cap_min_length[] = {
	[VIRTIO_PCI_CAP_COMMON_CFG] = COMMON_CFG_LEN, [VIRTIO_PCI_CAP_NOTIFY_CFG] = 2,
	[VIRTIO_PCI_CAP_ISR_CFG] = 1, [VIRTIO_PCI_CAP_DEVICE_CFG] = 1,
};

static u8 cr8(struct virtio_pci_device *vp, unsigned off) { return mmio_read8(vp->common + off); }
static u16 cr16(struct virtio_pci_device *vp, unsigned off) { return mmio_read16(vp->common + off); }
static u32 cr32(struct virtio_pci_device *vp, unsigned off) { return mmio_read32(vp->common + off); }
static void cw8(struct virtio_pci_device *vp, unsigned off, u8 v) { mmio_write8(vp->common + off, v); }
static void cw16(struct virtio_pci_device *vp, unsigned off, u16 v) { mmio_write16(vp->common + off, v); }
static void cw32(struct virtio_pci_device *vp, unsigned off, u32 v) { mmio_write32(vp->common + off, v); }
static void cw64(struct virtio_pci_device *vp, unsigned off, u64 v) { mmio_write64_split(vp->common + off, v); }

static u8 vp_modern_get_status(struct virtio_device *vdev) { return cr8(to_vp_device(vdev), COMMON_STATUS); }

static void vp_modern_set_status(struct virtio_device *vdev, u8 status)
{
	cw8(to_vp_device(vdev), COMMON_STATUS, status);
}

/* 4.1.4.3.2: after writing 0, wait until the device reads back 0 (reset complete). */
static int vp_modern_reset(struct virtio_device *vdev)
{
	struct virtio_pci_device *vp = to_vp_device(vdev);
	u64 deadline = now_ns() + VP_RESET_TIMEOUT_MS * NSEC_PER_MSEC;

	cw8(vp, COMMON_STATUS, 0);
	while (cr8(vp, COMMON_STATUS) != 0) {
		if (now_ns() > deadline)
			return -ETIMEDOUT;
		cpu_relax();
	}
	return 0;
}

static u64 vp_modern_get_features(struct virtio_device *vdev)
{
	struct virtio_pci_device *vp = to_vp_device(vdev);
	u64 lo, hi;

	cw32(vp, COMMON_DFSELECT, 0);
	lo = cr32(vp, COMMON_DF);
	cw32(vp, COMMON_DFSELECT, 1);
	hi = cr32(vp, COMMON_DF);
	return hi << 32 | lo;
}

static void vp_modern_set_features(struct virtio_device *vdev, u64 features)
{
	struct virtio_pci_device *vp = to_vp_device(vdev);

	cw32(vp, COMMON_GFSELECT, 0);
	cw32(vp, COMMON_GF, (u32)features);
	cw32(vp, COMMON_GFSELECT, 1);
	cw32(vp, COMMON_GF, (u32)(features >> 32));
}

/* Read with the field's own width where it has one (4.1.3.1), bytes otherwise. */
static void read_device_cfg(struct virtio_device *vdev, unsigned off, void *buf, unsigned len)
{
	volatile u8 *p = to_vp_device(vdev)->device + off;

	switch (len) {
	case 1:
		*(u8 *)buf = mmio_read8(p);
		break;
	case 2: {
		u16 v = mmio_read16(p);
		memcpy(buf, &v, 2);
		break;
	}
	case 4: {
		u32 v = mmio_read32(p);
		memcpy(buf, &v, 4);
		break;
	}
	default:
		for (unsigned i = 0; i < len; i++)
			((u8 *)buf)[i] = mmio_read8(p + i);
	}
}

static u32 vp_modern_generation(struct virtio_device *vdev)
{
	return cr8(to_vp_device(vdev), COMMON_CFGGENERATION);
}

/* 4.1.4.3.1 / 2.5.1: a read spanning several fields is consistent only if config_generation
 * did not change across it; the core retries, but not forever (a device that never settles
 * is broken). */
static int vp_modern_get(struct virtio_device *vdev, unsigned off, void *buf, unsigned len)
{
	struct virtio_pci_device *vp = to_vp_device(vdev);

	if (!vp->device || off > vp->device_len || len > vp->device_len - off)
		return -EIO;
	return virtio_config_read_stable(vdev, vp_modern_generation, read_device_cfg, off, buf, len);
}

static void vp_modern_set(struct virtio_device *vdev, unsigned off, const void *buf, unsigned len)
{
	struct virtio_pci_device *vp = to_vp_device(vdev);

	if (!vp->device || off > vp->device_len || len > vp->device_len - off)
		return;
	for (unsigned i = 0; i < len; i++)
		mmio_write8(vp->device + off + i, ((const u8 *)buf)[i]);
}

static u8 vp_modern_read_isr(struct virtio_pci_device *vp) { return mmio_read8(vp->isr); }

static u16 vp_modern_config_vector(struct virtio_pci_device *vp, u16 vector)
{
	cw16(vp, COMMON_MSIX, vector);
	return cr16(vp, COMMON_MSIX); /* NO_VECTOR back means the device refused (4.1.4.3) */
}

static u16 vp_modern_queue_vector(struct virtio_pci_vq_info *info, u16 vector)
{
	struct virtio_pci_device *vp = info->vp;

	cw16(vp, COMMON_Q_SELECT, (u16)info->vq->index);
	cw16(vp, COMMON_Q_MSIX, vector);
	return cr16(vp, COMMON_Q_MSIX);
}

static bool vp_modern_notify(struct virtqueue *vq)
{
	struct virtio_pci_vq_info *info = vq->priv;

	mmio_write16(info->notify, (u16)vq->index); /* 4.1.4.4: the queue index, 16 bits */
	return true;
}

static int vp_modern_setup_vq(struct virtio_pci_device *vp, struct virtio_pci_vq_info *info,
			      unsigned index, vq_callback_t callback, const char *name)
{
	struct virtio_device *vdev = &vp->vdev;
	struct virtqueue *vq;
	u16 size, noff;
	u64 notify_at;
	int checked;

	if (index >= cr16(vp, COMMON_NUMQ))
		return -ENOENT;
	cw16(vp, COMMON_Q_SELECT, (u16)index);
	if (cr16(vp, COMMON_Q_ENABLE)) {
		printk("%s: queue %u is already enabled\n", vdev->name, index);
		return -ENOENT;
	}
	checked = virtio_check_queue_size(vdev, index, cr16(vp, COMMON_Q_SIZE), true);
	if (checked < 0)
		return checked;
	size = (u16)checked;

	/* 4.1.4.4: the queue's notify address is queue_notify_off x notify_off_multiplier into the
	 * notify window, and the 16-bit write there must fit in the window (4.1.4.4.1 has the
	 * device make cap.length cover it); one that does not is refused, never written. */
	noff = cr16(vp, COMMON_Q_NOFF);
	notify_at = (u64)noff * vp->notify_off_multiplier;
	if (notify_at + 2 > vp->notify_len) {
		printk("%s: queue %u notify offset %llu (%u x %u) lies outside the notify region (%u bytes); queue refused\n",
		       vdev->name, index, notify_at, noff, vp->notify_off_multiplier, vp->notify_len);
		return -EIO;
	}

	/* RING_PACKED negotiated: every queue of the device is packed (virtio 1.2 2.8); the same
	 * three registers then take the descriptor ring and the driver's and device's event
	 * structures (4.1.4.3: queue_desc, queue_driver, queue_device). */
	vq = (virtio_has_feature(vdev, VIRTIO_F_RING_PACKED) ? vring_create_virtqueue_packed : vring_create_virtqueue)(
		index, size, virtio_has_feature(vdev, VIRTIO_RING_F_EVENT_IDX),
		virtio_has_feature(vdev, VIRTIO_RING_F_INDIRECT_DESC), vp_modern_notify, callback, name);
	if (!vq)
		return -ENOMEM;
	vq->priv = info;
	vq->vdev = vdev;
	info->vq = vq;
	info->notify = (volatile u16 *)(vp->notify_base + notify_at);

	cw16(vp, COMMON_Q_SIZE, size);
	cw64(vp, COMMON_Q_DESC, vq->desc_phys);
	cw64(vp, COMMON_Q_AVAIL, vq->avail_phys);
	cw64(vp, COMMON_Q_USED, vq->used_phys);
	/* Its MSI-X vector comes next, from vp_setup_queues (queue_vector). Not enabled yet:
	 * vp_find_vqs enables every queue (vp_modern_enable_vq) once all of them, and their
	 * interrupts, are set up, because an enabled queue can only be taken back by a reset and
	 * a retry in another interrupt mode must find it free. */
	return 0;
}

/* 4.1.5.1.3: writing 1 to queue_enable is the last step of a queue's configuration; the
 * driver never writes 0 (4.1.4.3.2). */
static void vp_modern_enable_vq(struct virtio_pci_vq_info *info)
{
	struct virtio_pci_device *vp = info->vp;

	cw16(vp, COMMON_Q_SELECT, (u16)info->vq->index);
	cw16(vp, COMMON_Q_ENABLE, 1);
}

static void vp_modern_del_vq(struct virtio_pci_vq_info *info)
{
	/* Its vector was unmapped with the interrupts (vp_release_irqs). queue_enable cannot be
	 * cleared by the driver (4.1.4.3.2): a queue that was enabled has already been disabled by
	 * the device reset that precedes this (the driver's remove or probe error path); a queue
	 * from a failed vp_find_vqs attempt was never enabled. */
	vring_del_virtqueue(info->vq);
	info->vq = NULL;
}

static const struct virtio_config_ops vp_modern_config_ops = {
	.get = vp_modern_get,
	.set = vp_modern_set,
	.get_status = vp_modern_get_status,
	.set_status = vp_modern_set_status,
	.reset = vp_modern_reset,
	.get_features = vp_modern_get_features,
	.set_features = vp_modern_set_features,
	.find_vqs = vp_find_vqs,
	.del_vqs = vp_del_vqs,
	.describe = vp_describe,
	.bus_name = vp_bus_name,
};

/* One console line: which capability is not used, and why. */
static void __printf(4, 5) cap_refused(struct virtio_pci_device *vp, const struct vp_cap *cap, u8 type,
					const char *why, ...)
{
	char buf[96];
	va_list ap;

	va_start(ap, why);
	vsnprintk(buf, sizeof(buf), why, ap);
	va_end(ap);
	printk("%s: virtio %s capability at 0x%02x refused: %s\n", vp->bus_name, cap_names[type], cap->pos, buf);
}

/*
 * Whether the window a capability describes can be used; if not, a line saying why. 4.1.4.1
 * has the driver ignore a capability with a reserved BAR value (6 and 7, 4.1.4) and allows it
 * to check that the window is large enough for its structure; the window, offset and length,
 * must also lie inside a memory BAR the function has, or we would map what is not the device's.
 */
static bool vp_cap_usable(struct virtio_pci_device *vp, const struct vp_cap *cap, u8 type)
{
	if (cap->bar >= PCI_NUM_BARS)
		cap_refused(vp, cap, type, "BAR %u is reserved", cap->bar);
	else if (cap->length < cap_min_length[type])
		cap_refused(vp, cap, type, "its %u-byte window is smaller than the %u-byte structure it holds",
			    cap->length, cap_min_length[type]);
	else if (!pci_bar_window_ok(vp->pci, cap->bar, cap->offset, cap->length))
		cap_refused(vp, cap, type, "its window (BAR %u + 0x%x, %u bytes) is not inside a memory BAR", cap->bar,
			    cap->offset, cap->length);
	else
		return true;
	return false;
}

/*
 * The first usable capability of each type: the device may offer several, in its order of
 * preference, and the driver uses the first it can (4.1.4.1). Besides its window (above), a
 * capability must hold every field read from it: cap_len covers the whole struct
 * virtio_pci_cap, or virtio_pci_notify_cap with the multiplier (4.1.4, 4.1.4.4; longer is
 * allowed, 4.1.4.1); the bytes past a shorter one belong to whatever follows it.
 */
static void find_caps(struct virtio_pci_device *vp, struct vp_cap caps[VIRTIO_PCI_CAP_DEVICE_CFG + 1])
{
	/* LAB:SOLUTION stage1 find_caps */
	for (u8 pos = pci_find_capability(vp->pci, PCI_CAP_ID_VNDR, 0); pos;
	     pos = pci_find_capability(vp->pci, PCI_CAP_ID_VNDR, pos)) {
		u8 type = pci_read8(vp->pci, pos + CAP_CFG_TYPE);
		struct vp_cap cap = { .pos = pos };
		bool notify = type == VIRTIO_PCI_CAP_NOTIFY_CFG;
		u8 cap_len = pci_read8(vp->pci, pos + CAP_LEN), size = notify ? CAP_NOTIFY_SIZE : CAP_SIZE;

		if (type < VIRTIO_PCI_CAP_COMMON_CFG || type > VIRTIO_PCI_CAP_DEVICE_CFG || caps[type].pos)
			continue;
		cap.bar = pci_read8(vp->pci, pos + CAP_BAR);
		cap.offset = pci_read32(vp->pci, pos + CAP_OFFSET);
		cap.length = pci_read32(vp->pci, pos + CAP_LENGTH);
		if (notify)
			cap.mult = pci_read32(vp->pci, pos + CAP_NOTIFY_MULTIPLIER);
		if (cap_len < size)
			cap_refused(vp, &cap, type, "capability length %u is below the %u bytes of struct %s", cap_len,
				    size, notify ? "virtio_pci_notify_cap" : "virtio_pci_cap");
		else if (vp_cap_usable(vp, &cap, type))
			caps[type] = cap;
	}
	/* LAB:END */
}

/* Map a capability find_caps chose (its window checked again: whatever fills caps[] must not
 * make us map what is not the device's). */
static volatile u8 *map_cap(struct virtio_pci_device *vp, const struct vp_cap *cap, u8 type)
{
	volatile u8 *p;

	if (!vp_cap_usable(vp, cap, type))
		return NULL;
	p = pci_iomap(vp->pci, cap->bar, cap->offset, cap->length);
	if (!p)
		printk("%s: virtio %s region (BAR %u + 0x%x, %u bytes) could not be mapped\n", vp->bus_name,
		       cap_names[type], cap->bar, cap->offset, cap->length);
	return p;
}

int virtio_pci_modern_probe(struct virtio_pci_device *vp)
{
	struct pci_dev *pci = vp->pci;
	struct vp_cap caps[VIRTIO_PCI_CAP_DEVICE_CFG + 1] = { 0 };
	static const u8 needed[] = { VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_CAP_ISR_CFG };

	find_caps(vp, caps);
	/* No usable common configuration: no modern interface (a transitional device may still
	 * be driven through its legacy one). */
	if (!caps[VIRTIO_PCI_CAP_COMMON_CFG].pos)
		return -ENODEV;
	for (unsigned i = 0; i < ARRAY_SIZE(needed); i++)
		if (!caps[needed[i]].pos) {
			printk("%s: no usable virtio %s capability\n", vp->bus_name, cap_names[needed[i]]);
			return -EIO;
		}
	vp->common = map_cap(vp, &caps[VIRTIO_PCI_CAP_COMMON_CFG], VIRTIO_PCI_CAP_COMMON_CFG);
	vp->isr = map_cap(vp, &caps[VIRTIO_PCI_CAP_ISR_CFG], VIRTIO_PCI_CAP_ISR_CFG);
	vp->notify_base = map_cap(vp, &caps[VIRTIO_PCI_CAP_NOTIFY_CFG], VIRTIO_PCI_CAP_NOTIFY_CFG);
	if (!vp->common || !vp->isr || !vp->notify_base)
		return -EIO;
	vp->notify_len = caps[VIRTIO_PCI_CAP_NOTIFY_CFG].length;
	vp->notify_off_multiplier = caps[VIRTIO_PCI_CAP_NOTIFY_CFG].mult;
	if (caps[VIRTIO_PCI_CAP_DEVICE_CFG].pos) { /* optional: some devices have no config */
		vp->device = map_cap(vp, &caps[VIRTIO_PCI_CAP_DEVICE_CFG], VIRTIO_PCI_CAP_DEVICE_CFG);
		vp->device_len = vp->device ? caps[VIRTIO_PCI_CAP_DEVICE_CFG].length : 0;
	}

	vp->vdev.modern = true;
	vp->vdev.id = pci->device >= VIRTIO_PCI_DEVICE_MODERN_BASE ? pci->device - VIRTIO_PCI_DEVICE_MODERN_BASE
								     : pci->subsys_id;
	vp->vdev.config = &vp_modern_config_ops;
	vp->read_isr = vp_modern_read_isr;
	vp->config_vector = vp_modern_config_vector;
	vp->queue_vector = vp_modern_queue_vector;
	vp->setup_vq = vp_modern_setup_vq;
	vp->enable_vq = vp_modern_enable_vq;
	vp->del_vq = vp_modern_del_vq;
	return 0;
}
