/*
 * drivers/virtio/virtio_ring.h - virtqueues: split (virtio 1.x, section 2.7 "Split
 * Virtqueues"; the legacy layout of section 2.7.2's "Legacy Interfaces" note) and packed
 * (section 2.8 "Packed Virtqueues", VIRTIO_F_RING_PACKED; drivers/virtio/virtio_ring_packed.c).
 * One struct virtqueue and one virtqueue_* API for both: each entry point that differs looks
 * at vq->packed once and goes to the packed code; the split path pays one predictable branch.
 *
 * The ring is the only code that touches descriptors, the available ring and the used ring.
 * It knows no transport: a transport supplies notify() (how to kick the device) and takes
 * the ring's addresses from the struct. It knows no device type: buffers are scatterlists
 * plus an opaque token the caller gets back from virtqueue_get_buf().
 *
 * Everything the device writes (used-ring ids, lengths, indices, flags, event indices) is
 * untrusted: it is checked before use, and a bad value is counted and dropped, never followed.
 *
 * Also builds on the host (tests/unit/test_virtio_ring.c runs it against a simulated device).
 */
#ifndef DRIVERS_VIRTIO_VIRTIO_RING_H
#define DRIVERS_VIRTIO_VIRTIO_RING_H

#include "kernel/mem.h"
#include "kernel/types.h"

/* ---- wire layout: virtio 1.x section 2.7.5 - 2.7.8 ---- */
#define VRING_DESC_F_NEXT 1     /* the buffer continues in desc.next */
#define VRING_DESC_F_WRITE 2    /* device-writable (otherwise device-readable) */
#define VRING_DESC_F_INDIRECT 4 /* the buffer is a table of descriptors (2.7.5.3) */
#define VRING_AVAIL_F_NO_INTERRUPT 1 /* driver -> device: don't interrupt (no EVENT_IDX) */
#define VRING_USED_F_NO_NOTIFY 1     /* device -> driver: don't kick (no EVENT_IDX) */

/* Feature bits the ring itself implements (virtio 1.x section 6) */
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX 29

struct vring_desc {
	le64 addr;
	le32 len;
	le16 flags;
	le16 next;
};
_Static_assert(sizeof(struct vring_desc) == 16, "virtio 1.x 2.7.5");

struct vring_avail {
	le16 flags;
	le16 idx;
	le16 ring[]; /* num entries, then le16 used_event (EVENT_IDX) */
};

struct vring_used_elem {
	le32 id;  /* head of the completed descriptor chain */
	le32 len; /* bytes the device wrote into the buffer */
};
_Static_assert(sizeof(struct vring_used_elem) == 8, "virtio 1.x 2.7.8");

struct vring_used {
	le16 flags;
	le16 idx;
	struct vring_used_elem ring[]; /* num entries, then le16 avail_event (EVENT_IDX) */
};

/* ---- wire layout of a packed ring: virtio 1.2 section 2.8.13 - 2.8.14 ----
 * One descriptor ring the driver and the device both write, plus two 4-byte event suppression
 * structures. Descriptor flags NEXT/WRITE/INDIRECT are the split ring's values. */
#define VRING_PACKED_DESC_F_AVAIL 0x0080u /* bit 7: equals the driver's wrap counter when posted */
#define VRING_PACKED_DESC_F_USED 0x8000u  /* bit 15: equals the device's wrap counter when used */
#define VRING_PACKED_EVENT_FLAG_ENABLE 0x0 /* 2.8.14: notifications on */
#define VRING_PACKED_EVENT_FLAG_DISABLE 0x1 /* notifications off */
#define VRING_PACKED_EVENT_FLAG_DESC 0x2  /* only at the descriptor off_wrap names (EVENT_IDX) */
#define VRING_PACKED_EVENT_WRAP 15        /* off_wrap: bits 0-14 ring offset, bit 15 wrap counter */

struct vring_packed_desc {
	le64 addr;
	le32 len;
	le16 id;    /* buffer id: the driver's, echoed back by the device in the used descriptor */
	le16 flags;
};
_Static_assert(sizeof(struct vring_packed_desc) == 16, "virtio 1.2 2.8.13");

struct vring_packed_event {
	le16 off_wrap;
	le16 flags;
};
_Static_assert(sizeof(struct vring_packed_event) == 4, "virtio 1.2 2.8.14");

/* The legacy interface requires the used ring to start on a 4096-byte boundary after the
 * descriptor table and avail ring (virtio 1.x 2.7.2, legacy note); we use that layout for
 * both transports, which also satisfies the modern alignment rules (16/2/4 bytes). */
#define VRING_LEGACY_ALIGN 4096
size_t vring_size(unsigned num); /* bytes of the whole contiguous ring for num entries */
/* A packed ring: num descriptors, then the driver's and the device's event structures. */
size_t vring_packed_size(unsigned num);

#define VIRTQUEUE_MAX_SIZE 4096 /* the largest queue we allocate; the spec allows 32768 */
#define VIRTQUEUE_MAX_INDIRECT 16 /* descriptors per indirect table */

/* A buffer piece. addr is a kernel virtual address; the ring converts it with virt_to_phys. */
struct scatterlist {
	void *addr;
	u32 len;
};

struct virtqueue_stats {
	u64 added;            /* buffers added */
	u64 completed;        /* buffers returned by virtqueue_get_buf */
	u64 kicks;            /* notifications sent to the device */
	u64 kicks_suppressed; /* kick_prepare said no (NO_NOTIFY / event index) */
	u64 interrupts;       /* vring_interrupt calls */
	u64 spurious;         /* ... that found no new used entries */
	u64 full;             /* add refused: not enough free descriptors */
	u64 indirect;         /* buffers added through an indirect table */
	u64 bad_used_id;      /* used.id out of range or not the head of a chain in flight */
	u64 bad_used_len;     /* used.len larger than the device-writable part of the buffer */
	u64 bad_used_idx;     /* used.idx moved more than num ahead of us (packed: a used
			       * descriptor where nothing was in flight, or a chain running past
			       * what we posted) */
};

struct virtqueue;
typedef bool (*vq_notify_t)(struct virtqueue *vq); /* false: the device is broken */
typedef void (*vq_callback_t)(struct virtqueue *vq);

struct vring_desc_state {
	void *data;       /* the caller's token; NULL = this head is not in flight */
	u32 in_len;       /* device-writable bytes in the chain: the bound for used.len */
	u16 ndescs;       /* descriptors the chain occupies in the main table (1 if indirect) */
	u16 last;         /* index of the chain's last descriptor, to splice it onto the free list */
	void *indir;      /* this head's indirect table, when used (struct vring_desc, or
			   * struct vring_packed_desc in a packed ring) */
	u16 next;         /* private copy of desc[i].next for EVERY descriptor i: the free list
			   * and chains are followed through it, never through the table the
			   * device can see (and, if it misbehaves, scribble on).
			   * Packed ring: indexed by buffer id, next links the free ids. */
};

struct virtqueue {
	/* set at creation */
	const char *name;
	unsigned index;     /* queue number within the device */
	unsigned num;       /* ring size, a power of two */
	vq_callback_t callback;
	vq_notify_t notify;
	void *priv;         /* the transport's per-queue data (e.g. its notify address) */
	void *vdev;         /* the owning device (struct virtio_device *), opaque here */
	bool event_idx;     /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect;      /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	bool broken;        /* a notify failed or the device misbehaved fatally: refuse work */
	bool packed;        /* the layout of section 2.8 (VIRTIO_F_RING_PACKED), not 2.7 */

	/* the ring, in DMA memory */
	void *ring_mem;
	size_t ring_bytes;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	phys_addr_t desc_phys, avail_phys, used_phys;
	/* packed ring (split fields above NULL): the descriptor ring and the two event
	 * structures; desc_phys, avail_phys and used_phys then hold their addresses, the three a
	 * modern transport programs (queue_desc, queue_driver, queue_device; 4.1.4.3) */
	struct vring_packed_desc *pdesc;
	struct vring_packed_event *driver_event; /* ours: used buffer notifications */
	struct vring_packed_event *device_event; /* the device's: available buffer notifications */

	/* driver-side state (never read from device memory) */
	unsigned num_free;
	u16 free_head;         /* first free descriptor; chained through desc[i].next
				* (packed: the first free buffer id) */
	u16 avail_idx_shadow;  /* our copy of avail->idx (free running); packed: descriptors
				* posted, free running, so the slot is idx % num and the driver's
				* wrap counter is 1 while idx / num is even (num is a power of two) */
	u16 last_used_idx;     /* next used entry to consume (free running); packed: in
				* descriptors, slot and device wrap counter as above */
	u16 avail_flags_shadow; /* packed: the flags we last wrote in driver_event */
	u16 added_since_kick;  /* buffers made available since the last kick_prepare
				* (packed: descriptors) */
	struct vring_desc_state *desc_state; /* num entries, indexed by descriptor */
	struct vring_desc *indir_pool;       /* num * VIRTQUEUE_MAX_INDIRECT descriptors */
	phys_addr_t indir_pool_phys;
	size_t meta_bytes;
	struct virtqueue_stats stats;
};

/* Allocate and initialise a queue of num entries (power of two, 1..VIRTQUEUE_MAX_SIZE).
 * Returns NULL on bad arguments or when memory is short. */
struct virtqueue *vring_create_virtqueue(unsigned index, unsigned num, bool event_idx,
					 bool indirect, vq_notify_t notify, vq_callback_t callback,
					 const char *name);
/* The same, laid out as a packed ring (section 2.8). */
struct virtqueue *vring_create_virtqueue_packed(unsigned index, unsigned num, bool event_idx,
						bool indirect, vq_notify_t notify,
						vq_callback_t callback, const char *name);
/* Whether this build's packed ring may be offered to a device: virtio.c accepts
 * VIRTIO_F_RING_PACKED only then. Always true here; false in a lab tree (LAB.md) whose
 * optional packed-ring stage is still a stub, so that such a tree runs every device split. */
bool vring_packed_ready(void);
void vring_del_virtqueue(struct virtqueue *vq);
/* Back to the freshly-created state (after a device reset has returned every buffer with
 * virtqueue_detach_unused_buf): indices to 0, all descriptors free, stats kept. */
void vring_reset(struct virtqueue *vq);

/* Expose a buffer made of out_sgs device-readable pieces followed by in_sgs device-writable
 * ones. data (non-NULL) is returned by virtqueue_get_buf when the device is done.
 * Returns 0, -ENOSPC when the ring is full, -EINVAL for bad arguments, -EIO when broken. */
int virtqueue_add_sgs(struct virtqueue *vq, struct scatterlist *sgs, unsigned out_sgs,
		      unsigned in_sgs, void *data);
int virtqueue_add_outbuf(struct virtqueue *vq, struct scatterlist *sg, unsigned num, void *data);
int virtqueue_add_inbuf(struct virtqueue *vq, struct scatterlist *sg, unsigned num, void *data);

/* Publish added buffers; true when the device must be notified (2.7.10 / 2.7.13.4). */
bool virtqueue_kick_prepare(struct virtqueue *vq);
bool virtqueue_notify(struct virtqueue *vq); /* calls vq->notify; false: broken */
bool virtqueue_kick(struct virtqueue *vq);   /* kick_prepare + notify */

/* Take the next completed buffer: its token, and in *len the bytes the device wrote.
 * NULL when none is ready. Bad used entries are counted and skipped. */
void *virtqueue_get_buf(struct virtqueue *vq, unsigned *len);

/* Interrupt suppression (2.7.7, 2.7.10). enable_cb returns false when buffers arrived
 * while callbacks were off, so the caller must poll again (Linux's race check). */
void virtqueue_disable_cb(struct virtqueue *vq);
bool virtqueue_enable_cb(struct virtqueue *vq);
/* Like enable_cb, but ask for the interrupt only after about 3/4 of the outstanding buffers
 * have completed (EVENT_IDX only; otherwise the same as enable_cb). For TX reclaim. */
bool virtqueue_enable_cb_delayed(struct virtqueue *vq);
bool virtqueue_more_used(const struct virtqueue *vq);
/* The device did something impossible with this queue (or a notify failed): it refuses work
 * until the device is reset and the queue made again. */
static inline bool virtqueue_is_broken(const struct virtqueue *vq) { return vq->broken; }

/* After a reset: hand back one buffer the device never completed (NULL when none left). */
void *virtqueue_detach_unused_buf(struct virtqueue *vq);

/* Called by the transport's interrupt handler, in interrupt context: true when the queue
 * had new used entries (then vq->callback ran). */
bool vring_interrupt(struct virtqueue *vq);

/* ---- read-only views for diagnostics (`vq`, `trace`, the transports' describe) ----
 * Only this ring code touches descriptors and rings; whatever shows them reads through these. */
struct vring_snapshot {
	u16 avail_idx;     /* what we have published in avail->idx (packed: descriptors posted) */
	u16 used_idx;      /* used->idx as read now: device-written, not checked (packed: where
			    * the run of used descriptors from last_used ends, read now) */
	u16 last_used;     /* the next used entry we will take */
	unsigned num_free; /* free descriptors */
	bool callbacks;    /* used-buffer interrupts wanted (VRING_AVAIL_F_NO_INTERRUPT clear) */
};
void virtqueue_snapshot(const struct virtqueue *vq, struct vring_snapshot *s);

/* A packed ring's wrap counters and event structures, as read now (for `vq`). */
struct vring_packed_view {
	u8 avail_wrap, used_wrap;                /* the driver's two wrap counters (2.8.1) */
	u16 driver_flags, driver_off_wrap;        /* what we ask of the device */
	u16 device_flags, device_off_wrap;        /* what the device asks of us: unchecked */
};
void virtqueue_packed_view(const struct virtqueue *vq, struct vring_packed_view *v);

/* Who holds each descriptor, for the `vq` picture (packed: each slot of the ring). */
enum vring_desc_owner {
	VRING_DESC_FREE,   /* on the free list */
	VRING_DESC_POSTED, /* in a chain made available: the device owns it */
	VRING_DESC_USED,   /* in a chain the device has returned that we have not taken back */
};
/* Fill owner[0..num): chains in flight are POSTED, and those named by the n_used used entries
 * from last_used on are USED (ids out of range or not in flight are passed over). */
void virtqueue_desc_owners(const struct virtqueue *vq, unsigned n_used, u8 *owner);

static inline unsigned virtqueue_get_vring_size(const struct virtqueue *vq) { return vq->num; }
static inline unsigned virtqueue_num_free(const struct virtqueue *vq) { return vq->num_free; }

/* The event-index rule of virtio 1.x 2.7.10: has new_idx passed event_idx since old? */
static inline bool vring_need_event(u16 event_idx, u16 new_idx, u16 old)
{
	return (u16)(new_idx - event_idx - 1) < (u16)(new_idx - old);
}

#endif
