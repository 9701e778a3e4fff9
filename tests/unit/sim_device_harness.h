/*
 * tests/unit/sim_device_harness.h - the device side of one split virtqueue, for host tests of
 * drivers/virtio/virtio_ring.c (virtio 1.x section 2.7, device requirements).
 *
 * The simulated device knows only what a transport would tell it (queue size, EVENT_IDX,
 * the three physical addresses) and reads everything else from ring memory. It checks the
 * rules a driver must follow (chain shape, indirect tables, readable-before-writable),
 * writes bytes into device-writable buffers, fills the used ring, and decides interrupts the
 * way 2.7.7.2 says, recording what it did. Hostile tests write arbitrary used entries.
 */
#ifndef TESTS_UNIT_SIM_DEVICE_HARNESS_H
#define TESTS_UNIT_SIM_DEVICE_HARNESS_H

#include "drivers/virtio/virtio_ring.h"
#include "kernel/types.h"

#define SIM_MAX_SEGS 64

struct sim_seg {
	u8 *addr;
	u32 len;
	bool write;
};

/* One buffer taken from the available ring. */
struct sim_buf {
	u16 head;
	bool indirect;   /* reached through an indirect table */
	bool malformed;  /* broke a driver rule (also counted in sim_device_harness.chain_errors) */
	unsigned nsegs, nout, nin;
	u32 out_bytes, in_bytes;
	struct sim_seg seg[SIM_MAX_SEGS];
};

struct sim_device {
	/* what the transport told the device */
	unsigned num;
	bool event_idx;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;

	/* device-private state */
	u16 last_avail;     /* next available entry to take */
	u16 used_idx;       /* next used entry to write; published by sim_flush */
	u16 signalled_used; /* used->idx as of the last interrupt decision */
	bool notify_enabled; /* wants kicks: NO_NOTIFY clear / avail_event tracks last_avail */

	/* what happened */
	unsigned popped, pushed;
	unsigned interrupts, interrupts_suppressed;
	unsigned chain_errors;
};

/* Take the ring addresses and size from vq, as a transport's queue registers would. */
void sim_attach(struct sim_device *d, const struct virtqueue *vq);

/* Buffers the driver has made available and the device has not taken. */
u16 sim_avail_pending(const struct sim_device *d);

/* Take the next available buffer; false when there is none. */
bool sim_pop(struct sim_device *d, struct sim_buf *b);

/* Add one piece to b (both rings' devices use it): false when it breaks a driver rule (empty,
 * no address, readable after writable, too many pieces). */
bool sim_add_piece(struct sim_buf *b, u64 addr, u32 len, bool write);

/* Write up to max bytes of pattern(seed) into b's writable pieces, in order; returns the
 * count written. Copy up to max readable bytes into dst; returns the count copied. */
u32 sim_write(const struct sim_buf *b, u8 seed, u32 max);
u32 sim_read_out(const struct sim_buf *b, u8 *dst, u32 max);
static inline u8 sim_pattern(u8 seed, u32 off) { return (u8)(seed + off * 7u + 1u); }

/* Write a used entry (not visible until sim_flush). Any id/len: hostile tests use this. */
void sim_push(struct sim_device *d, u32 id, u32 len);
/* Publish used->idx; returns true when the device raised an interrupt (2.7.7.2). */
bool sim_flush(struct sim_device *d);
/* Overwrite used->idx directly (hostile tests), without an interrupt decision. */
void sim_set_used_idx(struct sim_device *d, u16 idx);

/* Pop up to max buffers, fill each writable part completely, push and flush. Returns the
 * count completed; *irq (optional) tells whether an interrupt was raised. */
unsigned sim_complete(struct sim_device *d, unsigned max, u8 seed, bool *irq);

/* Available buffer notification suppression, device side (2.7.10.2). */
void sim_enable_notify(struct sim_device *d);
void sim_disable_notify(struct sim_device *d);

/* Fields the driver writes that the device reads. */
u16 sim_used_event(const struct sim_device *d);
u16 sim_avail_flags(const struct sim_device *d);
u16 sim_avail_event(const struct sim_device *d);

#endif
