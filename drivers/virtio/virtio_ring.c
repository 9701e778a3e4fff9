/*
 * drivers/virtio/virtio_ring.c - split virtqueues, the driver side (virtio 1.x section 2.7;
 * section numbers below follow the 1.2/1.3 text).
 *
 * One queue is two DMA allocations: the ring the device sees (descriptor table, available
 * ring, used ring in the legacy layout of 2.7.2) and a private block holding struct virtqueue,
 * the per-head state array and, with INDIRECT_DESC, one indirect table per head. There is no
 * heap, so the queue struct itself lives in that private block.
 *
 * The driver writes descriptors and the available ring; the device writes the used ring. We
 * never follow a value read from the used ring without checking it first: ids, lengths and the
 * used index are untrusted (docs/design.md, "Untrusted device values"), and a bad entry is
 * counted and skipped. Freeing a chain uses only driver-side state (desc_state[head].last/ndescs),
 * never a walk over device memory.
 *
 * Packed rings (section 2.8) live in virtio_ring_packed.c behind the same entry points: each
 * public function below that differs starts with "if (vq->packed)" and goes there.
 *
 * Left out compared with Linux: DMA mapping/IOMMU (identity map, see mem.h), per-buffer
 * contexts, and IN_ORDER; none is needed by virtio-net on QEMU.
 */
#include "drivers/virtio/virtio_ring.h"
#include "drivers/virtio/virtio_ring_packed.h"
#include "drivers/virtio/virtio_barrier.h"
#include "drivers/virtio/vring_trace.h"
#include "kernel/errno.h"
#include "kernel/irq.h"
#include "kernel/printk.h"
#include "kernel/string.h"

/* add_sgs keeps at most this count of unkicked buffers; reaching it forces the next kick,
 * since the event-index arithmetic only works over fewer than 2^16 steps. */
#define ADDED_SATURATED 0xffffu
#define MAX_CHAIN_BYTES 0xffffffffull /* 2.7.5.2: a chain holds less than 2^32 bytes */

/* ---- layout: the one place that knows where each part of the ring lives ---- */

struct vring_layout {
	size_t avail_off; /* after num descriptors (16-byte aligned, 2.7 table) */
	size_t used_off;  /* after the avail ring and used_event, rounded to VRING_LEGACY_ALIGN */
	size_t total;     /* end of the used ring's trailing avail_event */
};

static struct vring_layout vring_layout(unsigned num)
{
	struct vring_layout l;
	size_t avail_bytes = sizeof(le16) * (3 + (size_t)num); /* flags, idx, ring[], used_event */
	size_t used_bytes = sizeof(le16) * 3 + sizeof(struct vring_used_elem) * (size_t)num;

	l.avail_off = sizeof(struct vring_desc) * (size_t)num;
	l.used_off = ALIGN_UP(l.avail_off + avail_bytes, (size_t)VRING_LEGACY_ALIGN);
	l.total = l.used_off + used_bytes;
	return l;
}

size_t vring_size(unsigned num)
{
	return vring_layout(num).total;
}

/* The private block: struct virtqueue, desc_state[num], then the indirect tables. */
struct vq_meta_layout {
	size_t state_off;
	size_t indir_off;
	size_t total;
};

static struct vq_meta_layout vq_meta_layout(unsigned num, bool indirect)
{
	struct vq_meta_layout m;
	size_t indir_bytes = sizeof(struct vring_desc) * VIRTQUEUE_MAX_INDIRECT * (size_t)num;

	m.state_off = ALIGN_UP(sizeof(struct virtqueue), (size_t)16);
	m.indir_off = ALIGN_UP(m.state_off + sizeof(struct vring_desc_state) * num, (size_t)16);
	m.total = m.indir_off + (indirect ? indir_bytes : 0);
	return m;
}

/* 2.7.6: used_event trails the avail ring; 2.7.8: avail_event trails the used ring. */
/* LAB:SOLUTION stage2 vring_used_event */
static le16 *vring_used_event(const struct virtqueue *vq)
{
	return &vq->avail->ring[vq->num];
}
/* LAB:END */

/* LAB:SOLUTION stage7 vring_avail_event */
static le16 *vring_avail_event(const struct virtqueue *vq)
{
	return (le16 *)(void *)&vq->used->ring[vq->num];
}
/* LAB:END */

static void vring_place(struct virtqueue *vq, void *mem, unsigned num)
{
	struct vring_layout l = vring_layout(num);

	vq->ring_mem = mem;
	vq->ring_bytes = l.total;
	vq->desc = mem;
	vq->avail = (struct vring_avail *)((char *)mem + l.avail_off);
	vq->used = (struct vring_used *)((char *)mem + l.used_off);
	vq->desc_phys = virt_to_phys(vq->desc);
	vq->avail_phys = virt_to_phys(vq->avail);
	vq->used_phys = virt_to_phys(vq->used);
}

/* The freshly-created state: zeroed rings (2.7.10.1: used->flags starts at 0), every
 * descriptor on the free list in table order, indices at 0, callbacks enabled. */
static void vring_init_state(struct virtqueue *vq)
{
	unsigned i;

	if (vq->packed) {
		vring_packed_init_state(vq);
		return;
	}
	memset(vq->ring_mem, 0, vq->ring_bytes);
	memset(vq->desc_state, 0, sizeof(*vq->desc_state) * vq->num);
	for (i = 0; i + 1 < vq->num; i++)
		vq->desc_state[i].next = (u16)(i + 1);
	vq->free_head = 0;
	vq->num_free = vq->num;
	vq->avail_idx_shadow = 0;
	vq->last_used_idx = 0;
	vq->avail_flags_shadow = 0;
	vq->added_since_kick = 0;
	vq->broken = false;
}

static struct virtqueue *vq_create(unsigned index, unsigned num, bool event_idx, bool indirect,
				   vq_notify_t notify, vq_callback_t callback, const char *name,
				   bool packed)
{
	struct vq_meta_layout m;
	struct virtqueue *vq;
	phys_addr_t meta_phys, ring_phys;
	void *ring;

	if (!IS_POWER_OF_2(num) || num > VIRTQUEUE_MAX_SIZE || !notify)
		return NULL;

	m = vq_meta_layout(num, indirect);
	vq = dma_alloc(m.total, 16, &meta_phys);
	if (!vq)
		goto err_meta;
	ring = dma_alloc(packed ? vring_packed_size(num) : vring_size(num), VRING_LEGACY_ALIGN,
			 &ring_phys);
	if (!ring)
		goto err_ring;

	vq->name = name ? name : "vq";
	vq->index = index;
	vq->num = num;
	vq->callback = callback;
	vq->notify = notify;
	vq->event_idx = event_idx;
	vq->indirect = indirect;
	vq->packed = packed;
	vq->meta_bytes = m.total;
	vq->desc_state = (struct vring_desc_state *)((char *)vq + m.state_off);
	if (indirect) {
		vq->indir_pool = (struct vring_desc *)((char *)vq + m.indir_off);
		vq->indir_pool_phys = virt_to_phys(vq->indir_pool);
	}
	if (packed)
		vring_packed_place(vq, ring, num);
	else
		vring_place(vq, ring, num);
	vring_init_state(vq);
	return vq;

err_ring:
	dma_free(vq, m.total);
err_meta:
	printk("virtio_ring: %s: no memory for a %u-entry queue\n", name ? name : "vq", num);
	return NULL;
}

struct virtqueue *vring_create_virtqueue(unsigned index, unsigned num, bool event_idx,
					 bool indirect, vq_notify_t notify, vq_callback_t callback,
					 const char *name)
{
	return vq_create(index, num, event_idx, indirect, notify, callback, name, false);
}

struct virtqueue *vring_create_virtqueue_packed(unsigned index, unsigned num, bool event_idx,
						bool indirect, vq_notify_t notify,
						vq_callback_t callback, const char *name)
{
	return vq_create(index, num, event_idx, indirect, notify, callback, name, true);
}

void vring_del_virtqueue(struct virtqueue *vq)
{
	size_t meta_bytes;

	if (!vq)
		return;
	meta_bytes = vq->meta_bytes; /* read before the block holding it goes away */
	dma_free(vq->ring_mem, vq->ring_bytes);
	dma_free(vq, meta_bytes);
}

void vring_reset(struct virtqueue *vq)
{
	unsigned i, lost = 0;

	for (i = 0; i < vq->num; i++)
		if (vq->desc_state[i].data)
			lost++;
	if (lost)
		printk("virtio_ring: %s: reset drops %u buffers never detached\n", vq->name, lost);
	vring_init_state(vq);
}

/* ---- adding buffers (2.7.13) ---- */

/* What both rings check before an add touches them (the arguments, each piece, the length
 * bound), and what the add will take: a table of its own (2.7.5.3 / 2.8.7) when the queue has
 * them and the buffer has several pieces that fit one, else a descriptor per piece. Pieces
 * must be non-empty (QEMU treats a zero-sized descriptor as a fatal driver error), a buffer
 * holds less than 2^32 bytes (2.7.5.2; the used length is a le32 in both layouts), a plain
 * chain is no longer than the queue (2.7.5.3.1, 2.8.17: it could never fit). Counts a full
 * queue. Shared by virtqueue_add_sgs and vq_packed_add_sgs (virtio_ring_packed.h). */
int vq_plan_add(struct virtqueue *vq, const struct scatterlist *sgs, unsigned out_sgs,
		unsigned in_sgs, const void *data, struct vq_add_plan *plan)
{
	u64 all = 0, in = 0;
	unsigned total;

	if (!sgs || !data || out_sgs > VIRTQUEUE_MAX_SIZE || in_sgs > VIRTQUEUE_MAX_SIZE)
		return -EINVAL;
	if (vq->broken)
		return -EIO;
	total = out_sgs + in_sgs;
	if (total == 0)
		return -EINVAL;
	for (unsigned n = 0; n < total; n++) {
		if (!sgs[n].addr || !sgs[n].len)
			return -EINVAL;
		all += sgs[n].len;
		if (n >= out_sgs)
			in += sgs[n].len;
	}
	if (all > MAX_CHAIN_BYTES)
		return -EINVAL;
	plan->total = total;
	plan->in_len = (u32)in; /* the bound for the used length (stage 3's vq_used_len) */
	plan->indirect = vq->indirect && total > 1 && total <= VIRTQUEUE_MAX_INDIRECT;
	if (!plan->indirect && total > vq->num)
		return -EINVAL;
	plan->needed = plan->indirect ? 1 : total;
	if (vq->num_free < plan->needed) {
		vq->stats.full++;
		return -ENOSPC;
	}
	return 0;
}

/* LAB:SOLUTION stage2 add_sgs_helpers */
static void vq_fill_desc(struct vring_desc *d, const struct scatterlist *sg, u16 flags)
{
	d->addr = virt_to_phys(sg->addr);
	d->len = sg->len;
	d->flags = flags;
}

/* Piece n of a buffer whose first out_sgs pieces are device-readable (2.7.4.2: all readable
 * pieces come before all writable ones). */
static u16 vq_piece_flags(unsigned n, unsigned out_sgs, unsigned total)
{
	u16 flags = n < out_sgs ? 0 : VRING_DESC_F_WRITE;

	if (n + 1 < total)
		flags |= VRING_DESC_F_NEXT;
	return flags;
}

/* Lay the pieces over free descriptors starting at free_head. Free descriptors are already
 * linked (privately, desc_state[].next), so the chain's links are the free list's; each one is
 * copied into the device-visible next field as the chain is written (2.7.13.1). Returns the
 * chain's last descriptor. */
static u16 vq_write_chain(struct virtqueue *vq, const struct scatterlist *sgs, unsigned out_sgs,
			  unsigned total)
{
	u16 i = vq->free_head, last = i;
	unsigned n;

	for (n = 0; n < total; n++) {
		vq_fill_desc(&vq->desc[i], &sgs[n], vq_piece_flags(n, out_sgs, total));
		vq->desc[i].next = vq->desc_state[i].next;
		last = i;
		i = vq->desc_state[i].next;
	}
	vq->free_head = i;
	return last;
}

/* One main descriptor pointing at this head's own table (2.7.5.3). The main descriptor
 * carries INDIRECT only: 2.7.5.3.1 forbids NEXT with it, and WRITE there would be ignored. */
static struct vring_desc *vq_write_indirect(struct virtqueue *vq, const struct scatterlist *sgs,
					    unsigned out_sgs, unsigned total)
{
	u16 head = vq->free_head;
	struct vring_desc *table = vq->indir_pool + (size_t)head * VIRTQUEUE_MAX_INDIRECT;
	struct vring_desc *d = &vq->desc[head];
	unsigned n;

	for (n = 0; n < total; n++) {
		vq_fill_desc(&table[n], &sgs[n], vq_piece_flags(n, out_sgs, total));
		table[n].next = n + 1 < total ? (u16)(n + 1) : 0;
	}
	d->addr = virt_to_phys(table);
	d->len = (u32)(sizeof(*table) * total);
	d->flags = VRING_DESC_F_INDIRECT;
	vq->free_head = vq->desc_state[head].next;
	return table;
}

/* Make one chain visible to the device (2.7.13.2, 2.7.13.3). */
static void vq_publish(struct virtqueue *vq, u16 head)
{
	WRITE_ONCE(vq->avail->ring[vq->avail_idx_shadow & (vq->num - 1)], head);
	/* 2.7.13.3.1: the device may read the descriptors and this ring entry as soon as it sees
	 * the new idx, so every store above must be visible before the idx store below. */
	virtio_wmb();
	vq->avail_idx_shadow++;
	WRITE_ONCE(vq->avail->idx, vq->avail_idx_shadow);
	if (vq->added_since_kick != ADDED_SATURATED)
		vq->added_since_kick++;
}
/* LAB:END */

int virtqueue_add_sgs(struct virtqueue *vq, struct scatterlist *sgs, unsigned out_sgs,
		      unsigned in_sgs, void *data)
{
	struct vq_add_plan plan;
	int err = vq_plan_add(vq, sgs, out_sgs, in_sgs, data, &plan);

	if (err)
		return err;
	if (vq->packed)
		return vq_packed_add_sgs(vq, sgs, out_sgs, &plan, data);
	/* LAB:SOLUTION stage2 virtqueue_add_sgs */
	struct vring_desc_state *st = &vq->desc_state[vq->free_head];
	u16 head = vq->free_head;

	if (plan.indirect) {
		st->indir = vq_write_indirect(vq, sgs, out_sgs, plan.total);
		st->last = head;
		vq->stats.indirect++;
	} else {
		st->indir = NULL;
		st->last = vq_write_chain(vq, sgs, out_sgs, plan.total);
	}
	st->ndescs = (u16)plan.needed;
	st->in_len = plan.in_len;
	st->data = data;
	vq->num_free -= plan.needed;
	vq_publish(vq, head);
	vq->stats.added++;
	VQ_TRACE(vq, "virtqueue_add_sgs/descs", head, plan.needed);
	return 0;
	/* LAB:END */
}

int virtqueue_add_outbuf(struct virtqueue *vq, struct scatterlist *sg, unsigned num, void *data)
{
	return virtqueue_add_sgs(vq, sg, num, 0, data);
}

int virtqueue_add_inbuf(struct virtqueue *vq, struct scatterlist *sg, unsigned num, void *data)
{
	return virtqueue_add_sgs(vq, sg, 0, num, data);
}

/* ---- notifying the device (2.7.10, 2.7.13.4) ---- */

bool virtqueue_kick_prepare(struct virtqueue *vq)
{
	u16 added, new_idx, old_idx;
	bool needed;

	if (vq->packed)
		return vq_packed_kick_prepare(vq);
	added = vq->added_since_kick;
	new_idx = vq->avail_idx_shadow;
	old_idx = (u16)(new_idx - added);

	/* 2.7.13.4.1: our avail->idx store must be visible before we load the device's
	 * suppression state; otherwise we could read a stale "don't notify" while the device,
	 * having just re-enabled notifications, reads our stale idx, and both go to sleep. */
	virtio_mb();
	vq->added_since_kick = 0;
	if (vq->broken || added == 0)
		return false;
	/* LAB:SOLUTION stage7 virtqueue_kick_prepare */
	if (added == ADDED_SATURATED)
		needed = true; /* too many steps for the event arithmetic: just kick */
	else if (vq->event_idx)
		needed = vring_need_event(READ_ONCE(*vring_avail_event(vq)), new_idx, old_idx);
	else
		needed = !(READ_ONCE(vq->used->flags) & VRING_USED_F_NO_NOTIFY);
	/* LAB:END */
	if (!needed)
		vq->stats.kicks_suppressed++;
	VQ_TRACE(vq, "virtqueue_kick_prepare/kick", VQ_NOID, needed);
	return needed;
}

bool virtqueue_notify(struct virtqueue *vq)
{
	VQ_TRACE(vq, "virtqueue_notify", VQ_NOID, 0);
	if (vq->broken)
		return false;
	if (!vq->notify(vq)) {
		vq->broken = true;
		printk("virtio_ring: %s: notify failed, queue marked broken\n", vq->name);
		return false;
	}
	vq->stats.kicks++;
	return true;
}

bool virtqueue_kick(struct virtqueue *vq)
{
	if (virtqueue_kick_prepare(vq))
		return virtqueue_notify(vq);
	return !vq->broken;
}

/* ---- taking used buffers (2.7.8, 2.7.14) ---- */

/* Put a chain back on the free list: one splice of the chain's own links, using only what we
 * recorded when adding it. Returns the caller's token. */
static void *vq_detach(struct virtqueue *vq, u16 head)
{
	struct vring_desc_state *st = &vq->desc_state[head];
	void *data = st->data;
	u16 last = st->last, ndescs = st->ndescs, next = st->next;

	memset(st, 0, sizeof(*st));
	st->next = next; /* the head's link to the rest of its chain stays */
	vq->desc_state[last].next = vq->free_head;
	vq->free_head = head;
	vq->num_free += ndescs;
	return data;
}

/* LAB:SOLUTION stage3 used_checks */
/* Nothing the device writes in the used ring is trusted (2.7.8: it returns heads it was given,
 * and no more bytes than the chain holds; a driver must survive one that does not). */

/* An entry's id must name a chain in flight: out of range, not a head, or already completed
 * (a double completion) is counted and skipped. */
static inline bool vq_used_id_ok(struct virtqueue *vq, u32 id)
{
	if (id >= vq->num || !vq->desc_state[id].data) {
		vq->stats.bad_used_id++;
		return false;
	}
	return true;
}

/* More than the device could write: the buffer still comes back (so it is not leaked) with
 * length 0, which every caller treats as "drop" rather than trusting bytes never written. */
static inline u32 vq_used_len(struct virtqueue *vq, u32 id, u32 written)
{
	if (written > vq->desc_state[id].in_len) {
		vq->stats.bad_used_len++;
		return 0;
	}
	return written;
}

/* At most num entries can be outstanding; an index further ahead (or behind) means the device
 * lost track of the ring. Nothing in it can be trusted, so the queue is not used again until
 * a reset; detach_unused_buf then returns every buffer. */
static inline bool vq_used_idx_ok(struct virtqueue *vq, u16 used_idx)
{
	if ((u16)(used_idx - vq->last_used_idx) > vq->num) {
		vq->stats.bad_used_idx++;
		vq->broken = true;
		printk("virtio_ring: %s: used idx %u vs %u, queue marked broken\n", vq->name,
		       used_idx, vq->last_used_idx);
		return false;
	}
	return true;
}
/* LAB:END */

/* LAB:SOLUTION stage2 get_buf_helpers */
/* Consume the used entry at last_used_idx. NULL when the entry was bad (counted). */
static void *vq_take_used(struct virtqueue *vq, unsigned *len)
{
	const struct vring_used_elem *e = &vq->used->ring[vq->last_used_idx & (vq->num - 1)];
	u32 id = READ_ONCE(e->id);
	u32 written = READ_ONCE(e->len);

	vq->last_used_idx++;
	if (!vq_used_id_ok(vq, id))
		return NULL;
	written = vq_used_len(vq, id, written);
	if (len)
		*len = written;
	VQ_TRACE(vq, "virtqueue_get_buf/len", id, written);
	return vq_detach(vq, (u16)id);
}

/* With EVENT_IDX and callbacks on, ask for an interrupt at the next used entry (2.7.7.1). */
static void vq_update_used_event(struct virtqueue *vq)
{
	if (!vq->event_idx || (vq->avail_flags_shadow & VRING_AVAIL_F_NO_INTERRUPT))
		return;
	WRITE_ONCE(*vring_used_event(vq), vq->last_used_idx);
	/* Store used_event before the next load of used->idx: a completion the device finished
	 * before seeing the new event value is then found by our next look at the index. */
	virtio_mb();
}
/* LAB:END */

void *virtqueue_get_buf(struct virtqueue *vq, unsigned *len)
{
	if (vq->packed)
		return vq_packed_get_buf(vq, len);
	/* LAB:SOLUTION stage2 virtqueue_get_buf */
	void *data = NULL;
	u16 used_idx;

	if (len)
		*len = 0;
	if (vq->broken)
		return NULL;
	used_idx = READ_ONCE(vq->used->idx);
	if (used_idx == vq->last_used_idx)
		return NULL;
	if (!vq_used_idx_ok(vq, used_idx))
		return NULL;
	/* 2.7.8.2: the device writes entries before the index; load in the same order. */
	virtio_rmb();
	while (!data && vq->last_used_idx != used_idx)
		data = vq_take_used(vq, len);
	vq_update_used_event(vq);
	if (data)
		vq->stats.completed++;
	return data;
	/* LAB:END */
}

bool virtqueue_more_used(const struct virtqueue *vq)
{
	if (vq->packed)
		return vq_packed_more_used(vq);
	return !vq->broken && READ_ONCE(vq->used->idx) != vq->last_used_idx;
}

/* ---- used buffer notification (interrupt) suppression (2.7.7) ---- */

void virtqueue_disable_cb(struct virtqueue *vq)
{
	VQ_TRACE(vq, "virtqueue_disable_cb", VQ_NOID, 0);
	if (vq->packed) {
		vq_packed_disable_cb(vq);
		return;
	}
	/* LAB:SOLUTION stage4 virtqueue_disable_cb */
	if (vq->avail_flags_shadow & VRING_AVAIL_F_NO_INTERRUPT)
		return;
	vq->avail_flags_shadow |= VRING_AVAIL_F_NO_INTERRUPT;
	if (vq->event_idx) {
		/* 2.7.7.1: flags must stay 0. Park used_event just behind what we consumed: the
		 * device reaches it again only after 2^16 - 1 more entries (one harmless stray
		 * interrupt if callbacks stay off that long). */
		WRITE_ONCE(*vring_used_event(vq), (u16)(vq->last_used_idx - 1));
	} else {
		WRITE_ONCE(vq->avail->flags, vq->avail_flags_shadow);
	}
	/* LAB:END */
}

/* LAB:SOLUTION stage4 vq_arm_cb */
/* Turn interrupts back on, due when the entry at index event is written. Called from the
 * loop, while the queue's interrupt handler may run virtqueue_disable_cb at any instruction:
 * with interrupts off here, the shadow and what the device reads change together (otherwise
 * the handler's NO_INTERRUPT could land between our read and write of the shadow, leaving the
 * shadow "on" and avail->flags "off": no interrupt ever again without EVENT_IDX). */
static void vq_arm_cb(struct virtqueue *vq, u16 event)
{
	unsigned long flags = local_irq_save();

	if (vq->avail_flags_shadow & VRING_AVAIL_F_NO_INTERRUPT) {
		vq->avail_flags_shadow &= (u16)~VRING_AVAIL_F_NO_INTERRUPT;
		if (!vq->event_idx)
			WRITE_ONCE(vq->avail->flags, vq->avail_flags_shadow);
	}
	if (vq->event_idx)
		WRITE_ONCE(*vring_used_event(vq), event);
	local_irq_restore(flags);
}
/* LAB:END */

bool virtqueue_enable_cb(struct virtqueue *vq)
{
	VQ_TRACE(vq, "virtqueue_enable_cb", VQ_NOID, 0);
	if (vq->packed)
		return vq_packed_enable_cb(vq);
	/* LAB:SOLUTION stage4 virtqueue_enable_cb */
	vq_arm_cb(vq, vq->last_used_idx);
	/* 2.7.14 note: publish the re-enabled flag/event before re-reading used->idx. An entry
	 * the device added in between is either seen below or raises an interrupt. */
	virtio_mb();
	return !virtqueue_more_used(vq);
	/* LAB:END */
}

bool virtqueue_enable_cb_delayed(struct virtqueue *vq)
{
	u16 outstanding, delay;

	VQ_TRACE(vq, "virtqueue_enable_cb_delayed", VQ_NOID, 0);
	if (vq->packed)
		return vq_packed_enable_cb_delayed(vq);
	/* LAB:SOLUTION stage7 virtqueue_enable_cb_delayed */
	if (!vq->event_idx)
		return virtqueue_enable_cb(vq);
	if (vq->broken)
		return true;
	/* Bogus used entries can push last_used past avail; never wait beyond a full ring. */
	outstanding = (u16)(vq->avail_idx_shadow - vq->last_used_idx);
	if (outstanding > vq->num)
		outstanding = (u16)vq->num;
	delay = (u16)(outstanding * 3u / 4u);
	vq_arm_cb(vq, (u16)(vq->last_used_idx + delay));
	virtio_mb(); /* as in enable_cb: event store before the used->idx load */
	/* Already past the event: no interrupt will come for it, so the caller must poll. */
	return (u16)(READ_ONCE(vq->used->idx) - vq->last_used_idx) <= delay;
	/* LAB:END */
}

/* ---- teardown and interrupts ---- */

void *virtqueue_detach_unused_buf(struct virtqueue *vq)
{
	unsigned i;

	if (vq->packed)
		return vq_packed_detach_unused_buf(vq);
	/* No avail->idx rollback: 2.7.6.1 forbids decrementing it; vring_reset zeroes it after
	 * the device reset instead. */
	for (i = 0; i < vq->num; i++)
		if (vq->desc_state[i].data)
			return vq_detach(vq, (u16)i);
	return NULL;
}

/* Called in interrupt context: only looks at the used index and runs the callback. */
bool vring_interrupt(struct virtqueue *vq)
{
	vq->stats.interrupts++;
	VQ_TRACE(vq, "vring_interrupt", VQ_NOID, 0);
	/* LAB:SOLUTION stage4 vring_interrupt */
	if (vq->broken)
		return false;
	if (!virtqueue_more_used(vq)) {
		vq->stats.spurious++;
		return false;
	}
	if (vq->callback)
		vq->callback(vq);
	return true;
	/* LAB:END */
}

/* ---- read-only views for diagnostics ---- */

void virtqueue_snapshot(const struct virtqueue *vq, struct vring_snapshot *s)
{
	if (vq->packed) {
		vq_packed_snapshot(vq, s);
		return;
	}
	s->avail_idx = vq->avail_idx_shadow;
	s->used_idx = READ_ONCE(vq->used->idx);
	s->last_used = vq->last_used_idx;
	s->num_free = vq->num_free;
	s->callbacks = !(vq->avail_flags_shadow & VRING_AVAIL_F_NO_INTERRUPT);
}

/* Follows the chain through our private links (desc_state[].next), never the device's table. */
static void mark_chain(const struct virtqueue *vq, unsigned head, u8 *owner, u8 who)
{
	unsigned i = head;

	for (unsigned n = 0; n < vq->desc_state[head].ndescs && i < vq->num; n++) {
		owner[i] = who;
		i = vq->desc_state[i].next;
	}
}

void virtqueue_desc_owners(const struct virtqueue *vq, unsigned n_used, u8 *owner)
{
	if (vq->packed) {
		vq_packed_desc_owners(vq, n_used, owner);
		return;
	}
	memset(owner, VRING_DESC_FREE, vq->num);
	for (unsigned i = 0; i < vq->num; i++)
		if (vq->desc_state[i].data)
			mark_chain(vq, i, owner, VRING_DESC_POSTED);
	for (unsigned k = 0; k < n_used; k++) {
		u32 id = READ_ONCE(vq->used->ring[(u16)(vq->last_used_idx + k) & (vq->num - 1)].id);

		if (id < vq->num && vq->desc_state[id].data)
			mark_chain(vq, id, owner, VRING_DESC_USED);
	}
}
