/*
 * drivers/virtio/virtio_ring_packed.h - the packed ring's side of the virtqueue_* entry points
 * (virtio 1.2 section 2.8), and what the two rings share. Private to drivers/virtio/
 * virtio_ring*.c: everything else uses the virtqueue_* API of virtio_ring.h, which calls these
 * when vq->packed is set.
 */
#ifndef DRIVERS_VIRTIO_VIRTIO_RING_PACKED_H
#define DRIVERS_VIRTIO_VIRTIO_RING_PACKED_H

#include "drivers/virtio/virtio_ring.h"

/* One add, planned before either ring is touched (virtio_ring.c, vq_plan_add). */
struct vq_add_plan {
	unsigned total;  /* pieces */
	unsigned needed; /* descriptors (split) or slots (packed) it takes: 1 with a table */
	bool indirect;   /* through an indirect table of its own */
	u32 in_len;      /* device-writable bytes: no used length may exceed them */
};

int vq_plan_add(struct virtqueue *vq, const struct scatterlist *sgs, unsigned out_sgs,
		unsigned in_sgs, const void *data, struct vq_add_plan *plan);

void vring_packed_place(struct virtqueue *vq, void *mem, unsigned num);
void vring_packed_init_state(struct virtqueue *vq);
int vq_packed_add_sgs(struct virtqueue *vq, const struct scatterlist *sgs, unsigned out_sgs,
		      const struct vq_add_plan *plan, void *data);
bool vq_packed_kick_prepare(struct virtqueue *vq);
void *vq_packed_get_buf(struct virtqueue *vq, unsigned *len);
bool vq_packed_more_used(const struct virtqueue *vq);
void vq_packed_disable_cb(struct virtqueue *vq);
bool vq_packed_enable_cb(struct virtqueue *vq);
bool vq_packed_enable_cb_delayed(struct virtqueue *vq);
void *vq_packed_detach_unused_buf(struct virtqueue *vq);
void vq_packed_snapshot(const struct virtqueue *vq, struct vring_snapshot *s);
void vq_packed_desc_owners(const struct virtqueue *vq, unsigned n_used, u8 *owner);

#endif
