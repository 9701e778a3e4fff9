/*
 * tests/unit/sim_packed_harness.h - the device side of one packed virtqueue, for host tests of
 * drivers/virtio/virtio_ring_packed.c (virtio 1.2 section 2.8, device requirements).
 *
 * Like sim_device_harness.h for the split ring: the device knows what a transport would tell
 * it (size, EVENT_IDX, the three addresses) and reads everything else from ring memory. It
 * keeps its own wrap counters as the spec describes them (a slot and a bit each, 2.8.1), not
 * the driver's free-running counts, so the two formulations check each other. It checks the
 * driver's rules (AVAIL/USED pairs, lists, indirect tables, readable before writable), writes
 * bytes into writable buffers, writes used descriptors, and decides interrupts by 2.8.10.
 * Hostile tests write used descriptors with any id, length and step.
 */
#ifndef TESTS_UNIT_SIM_PACKED_HARNESS_H
#define TESTS_UNIT_SIM_PACKED_HARNESS_H

#include "drivers/virtio/virtio_ring.h"
#include "tests/unit/sim_device_harness.h" /* struct sim_seg, sim_pattern, SIM_MAX_SEGS */

/* One buffer taken from the ring: b as the split device fills it (b.head holds the buffer id
 * from the list's last descriptor, 2.8.6), and the ring slots it took. */
struct psim_buf {
	struct sim_buf b;
	u16 ndescs;
};

struct psim_device {
	unsigned num;
	bool event_idx;
	struct vring_packed_desc *desc;
	struct vring_packed_event *driver_event; /* read by the device */
	struct vring_packed_event *device_event; /* written by the device */

	/* device-private: the next slot to read / write and the wrap counter of each (2.8.1) */
	u16 avail_slot, used_slot;
	bool avail_wrap, used_wrap;
	u32 used_written;      /* slots advanced by used descriptors, free running */
	u32 signalled;         /* used_written at the last interrupt decision */
	bool notify_enabled;

	unsigned popped, pushed, interrupts, interrupts_suppressed, chain_errors;
};

void psim_attach(struct psim_device *d, const struct virtqueue *vq);
/* Is the descriptor at the device's next slot available? */
bool psim_avail_pending(const struct psim_device *d);
/* Take the next available buffer; false when there is none. */
bool psim_pop(struct psim_device *d, struct psim_buf *b);
/* Write a used descriptor (id, len) at the next used slot, flags last, and skip step slots.
 * Any values: hostile tests use this. */
void psim_push(struct psim_device *d, u16 id, u32 len, u16 step);
/* The interrupt decision for the used descriptors written since the last one (2.8.10). */
bool psim_flush(struct psim_device *d);
/* Pop up to max, fill each writable part, push in order, flush. Returns the count. */
unsigned psim_complete(struct psim_device *d, unsigned max, u8 seed, bool *irq);
/* Available buffer notifications (the device event structure, 2.8.10). */
void psim_enable_notify(struct psim_device *d);
void psim_disable_notify(struct psim_device *d);

#endif
