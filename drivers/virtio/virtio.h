/*
 * drivers/virtio/virtio.h - the transport-independent virtio core: devices, drivers,
 * feature negotiation, the device status sequence (virtio 1.x section 3.1.1), and typed
 * device-configuration reads.
 *
 * A transport (drivers/virtio/virtio_pci_common.c) discovers a device, fills in a
 * struct virtio_device with its virtio_config_ops and calls register_virtio_device(); the core
 * runs the initialisation sequence and hands the device to the driver whose device_id
 * matches. Nothing here knows PCI or networking.
 */
#ifndef DRIVERS_VIRTIO_VIRTIO_H
#define DRIVERS_VIRTIO_VIRTIO_H

#include "drivers/virtio/virtio_ring.h"
#include "kernel/types.h"

/* Device status bits (virtio 1.x 2.1) */
#define VIRTIO_CONFIG_S_ACKNOWLEDGE 1
#define VIRTIO_CONFIG_S_DRIVER 2
#define VIRTIO_CONFIG_S_DRIVER_OK 4
#define VIRTIO_CONFIG_S_FEATURES_OK 8
#define VIRTIO_CONFIG_S_NEEDS_RESET 0x40
#define VIRTIO_CONFIG_S_FAILED 0x80

/* Transport/ring feature bits (virtio 1.x section 6); device bits are in the drivers. */
#define VIRTIO_F_NOTIFY_ON_EMPTY 24 /* legacy */
#define VIRTIO_F_ANY_LAYOUT 27      /* legacy */
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_ACCESS_PLATFORM 33
#define VIRTIO_F_RING_PACKED 34
#define VIRTIO_F_IN_ORDER 35
#define VIRTIO_F_ORDER_PLATFORM 36
#define VIRTIO_F_SR_IOV 37
#define VIRTIO_F_NOTIFICATION_DATA 38

/* Device types (virtio 1.x section 5) */
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4

/* Queue indexes a device may use here. virtio-net puts its control queue after every queue pair
 * (index 2N with MQ, 5.1.2), so this bounds the pairs a driver can accept MQ with: 16. */
#define VIRTIO_MAX_VQS 33

struct virtio_device;

struct virtio_config_ops {
	/* device-specific configuration space; get() runs the generation retry loop itself and
	 * returns 0 or -EIO (the generation never settled / offset out of range) */
	int (*get)(struct virtio_device *vdev, unsigned offset, void *buf, unsigned len);
	void (*set)(struct virtio_device *vdev, unsigned offset, const void *buf, unsigned len);
	u8 (*get_status)(struct virtio_device *vdev);
	void (*set_status)(struct virtio_device *vdev, u8 status);
	int (*reset)(struct virtio_device *vdev); /* status 0, and wait until the device agrees */
	u64 (*get_features)(struct virtio_device *vdev);
	void (*set_features)(struct virtio_device *vdev, u64 features);
	/* create queues 0..nvqs-1 (callbacks[i] may be NULL for a queue that never interrupts;
	 * names[i] NULL: no queue at index i, vqs[i] NULL, e.g. the queue pairs virtio-net does
	 * not use in front of its control queue) and wire their interrupts; 0 or a negative errno
	 * with nothing left half set up */
	int (*find_vqs)(struct virtio_device *vdev, unsigned nvqs, struct virtqueue *vqs[],
			vq_callback_t callbacks[], const char *const names[]);
	void (*del_vqs)(struct virtio_device *vdev);
	void (*describe)(struct virtio_device *vdev); /* shell: transport, interrupts, queues */
	const char *(*bus_name)(struct virtio_device *vdev);
};

struct virtio_device_stats {
	u64 config_changes;
	u64 needs_reset;
	u64 config_generation_retries;
	u64 config_read_failures; /* reads given up: the generation never settled */
	u64 rule_violations; /* spec rules the self-check caught */
};

struct virtio_device {
	int index;                        /* virtio0, virtio1, ... */
	char name[12];
	u32 id;                           /* device type, VIRTIO_ID_* */
	bool modern;                      /* virtio 1.x interface (else legacy 0.9.5) */
	u64 offered;                      /* device features */
	u64 features;                     /* negotiated: what both sides use */
	const struct virtio_config_ops *config;
	const struct virtio_driver *driver;
	void *priv;                       /* the driver's state */
	void *transport;                  /* the transport's state */
	struct virtqueue *vqs[VIRTIO_MAX_VQS];
	unsigned nvqs;
	u8 status;                        /* what we last wrote, for the self-check */
	bool ready;                       /* DRIVER_OK set */
	bool dead;                        /* a reset never completed: the device may still use
					   * its rings and buffers, so they are never freed, and
					   * it is never probed again (virtio_reset_device) */
	struct virtio_device_stats stats;
};

struct virtio_driver {
	const char *name;
	u32 device_id;
	const unsigned *feature_table; /* feature bits the driver can use */
	unsigned feature_table_size;
	const char *(*feature_name)(unsigned bit); /* device-specific bits, for messages */
	/* Optional, before FEATURES_OK (Linux's validate): vdev->features holds what would be
	 * accepted; clear (virtio_clear_feature) what the device's configuration makes unusable.
	 * The configuration may be read, not written, at this step (3.1.1 step 4). 0, or a
	 * negative errno that refuses the device. */
	int (*validate)(struct virtio_device *vdev);
	int (*probe)(struct virtio_device *vdev);
	void (*remove)(struct virtio_device *vdev);
	void (*config_changed)(struct virtio_device *vdev); /* called from the event loop */
};

static inline bool virtio_has_feature(const struct virtio_device *vdev, unsigned bit)
{
	return bit < 64 && (vdev->features & BIT_ULL(bit));
}

/* From a driver's validate only: do not accept this feature after all. */
static inline void virtio_clear_feature(struct virtio_device *vdev, unsigned bit)
{
	if (bit < 64)
		vdev->features &= ~BIT_ULL(bit);
}

int register_virtio_driver(const struct virtio_driver *drv);
/* Transport side: run the status sequence and probe a driver. Returns 0 or -errno (the
 * device is then left with FAILED set). */
int register_virtio_device(struct virtio_device *vdev);
/* Reset the device (status 0, every queue disabled; 2.1.2, 4.1.4.3.2) and forget the status
 * the self-check remembers. Drivers reset only through this (remove, probe error paths).
 * 0 or the transport's error (a reset that never completed). */
int virtio_reset_device(struct virtio_device *vdev);
/* The driver's last probe step: DRIVER_OK (3.1.1 step 8). */
void virtio_device_ready(struct virtio_device *vdev);
/* Reset the device and renegotiate from scratch, calling the driver's remove then probe:
 * every buffer comes back through the driver's remove. A device whose last probe failed (no
 * driver bound) is probed again by the driver for its type. */
int virtio_reprobe(struct virtio_device *vdev);
/* Unbind the driver: its remove resets the device and takes every buffer back. The device
 * stays known; virtio_reprobe (`netreset`) probes it again. */
void virtio_release_driver(struct virtio_device *vdev);
/* Transport side, in interrupt context: a configuration-change interrupt arrived. */
void virtio_config_changed(struct virtio_device *vdev);

/* Typed device-configuration reads (the access width follows the field size, 4.1.3.1). */
int virtio_cread_bytes(struct virtio_device *vdev, unsigned off, void *buf, unsigned len);
u8 virtio_cread8(struct virtio_device *vdev, unsigned off);
u16 virtio_cread16(struct virtio_device *vdev, unsigned off);
u32 virtio_cread32(struct virtio_device *vdev, unsigned off);

/* Transport side: check a queue size the device reports (virtio 1.x 2.7: a power of two;
 * we hold at most VIRTQUEUE_MAX_SIZE). can_shrink: the driver may choose a smaller size
 * (modern, 4.1.4.3.2); a legacy driver must use the device's. Returns the size to use, or
 * -ENOENT (size 0: no such queue) or -EIO (unusable), with a message. */
int virtio_check_queue_size(struct virtio_device *vdev, unsigned index, unsigned size, bool can_shrink);

/* Transport side: read device configuration consistently (2.5.1, 4.1.4.3.1): read while the
 * configuration generation stays the same, retrying at most VIRTIO_CONFIG_GENERATION_TRIES
 * times. 0, or -EIO (buf zeroed, counted, reported) for a generation that never settles. */
#define VIRTIO_CONFIG_GENERATION_TRIES 100
int virtio_config_read_stable(struct virtio_device *vdev, u32 (*generation)(struct virtio_device *vdev),
			      void (*read)(struct virtio_device *vdev, unsigned off, void *buf, unsigned len),
			      unsigned off, void *buf, unsigned len);

/* Status self-check: log each step with a timestamp and check the 3.1.1 rules. */
void virtio_add_status(struct virtio_device *vdev, u8 bit);
const char *virtio_status_name(u8 bit); /* one VIRTIO_CONFIG_S_* bit: "DRIVER_OK", ... */
const char *virtio_feature_name(const struct virtio_device *vdev, unsigned bit);
void virtio_print_features(const struct virtio_device *vdev, u64 features);

int virtio_device_count(void);
struct virtio_device *virtio_device_get(int i);

#endif
