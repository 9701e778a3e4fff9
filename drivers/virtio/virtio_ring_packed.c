/*
 * drivers/virtio/virtio_ring_packed.c - packed virtqueues, the driver side (virtio 1.2
 * section 2.8, VIRTIO_F_RING_PACKED). Reached only through the virtqueue_* entry points of
 * virtio_ring.c, which come here when vq->packed is set; docs/data-path.md draws the ring.
 *
 * One ring of 16-byte descriptors that both sides write, and two 4-byte event suppression
 * structures (2.8.10, 2.8.14): the driver's, which the device reads before interrupting us,
 * and the device's, which we read before kicking it. The driver posts a buffer by writing its
 * descriptors at the next free slots with VRING_PACKED_DESC_F_AVAIL equal to its wrap counter
 * and VRING_PACKED_DESC_F_USED the opposite (2.8.1); the device returns it by overwriting one
 * slot with a used descriptor: both bits equal to the device's wrap counter, the buffer id,
 * the bytes written. Both sides then skip the buffer's other descriptors (2.8.6).
 *
 * Driver state is the split ring's, reused (virtio_ring.h): avail_idx_shadow and
 * last_used_idx count descriptors, free running in 16 bits; with num a power of two the slot
 * is idx % num and the wrap counter is 1 while idx / num is even, so neither counter needs
 * storing. desc_state[] is indexed by buffer id (the free ids are chained through .next), and
 * holds each buffer's token, its device-writable bytes and the slots it covers.
 *
 * What the device writes -- flags, id and length of used descriptors, the device event
 * structure -- is checked before use and counted when wrong, as in the split ring:
 *   - an id out of range or not in flight: bad_used_id, the slot skipped (we cannot know how
 *     many slots the device meant; virtio_net_recovery.c resets the device on any such count);
 *   - a length beyond the buffer's writable bytes: bad_used_len, the buffer returned with 0;
 *   - a used descriptor where nothing is in flight, or a buffer whose slots would run past
 *     what we posted: bad_used_idx, and the queue is broken until a reset.
 */
#include "drivers/virtio/virtio_barrier.h"
#include "drivers/virtio/virtio_ring_packed.h"
#include "drivers/virtio/vring_trace.h"
#include "kernel/errno.h"
#include "kernel/irq.h"
#include "kernel/printk.h"
#include "kernel/string.h"

#define WRAP_BIT (1u << VRING_PACKED_EVENT_WRAP)

/* 2.8.10.1: descriptor ring 16-byte aligned, each event structure 4. */
size_t vring_packed_size(unsigned num)
{
	return sizeof(struct vring_packed_desc) * (size_t)num + 2 * sizeof(struct vring_packed_event);
}

void vring_packed_place(struct virtqueue *vq, void *mem, unsigned num)
{
	size_t ring_bytes = sizeof(struct vring_packed_desc) * (size_t)num;

	vq->ring_mem = mem;
	vq->ring_bytes = vring_packed_size(num);
	vq->pdesc = mem;
	vq->driver_event = (struct vring_packed_event *)((char *)mem + ring_bytes);
	vq->device_event = vq->driver_event + 1;
	vq->desc_phys = virt_to_phys(vq->pdesc);
	vq->avail_phys = virt_to_phys(vq->driver_event); /* the driver area (queue_driver) */
	vq->used_phys = virt_to_phys(vq->device_event);  /* the device area (queue_device) */
}

/* 2.8.13: the ring starts zeroed; 2.8.1: both wrap counters start at 1 (idx 0); every id free;
 * notifications enabled (flags 0 = RING_EVENT_FLAGS_ENABLE). */
void vring_packed_init_state(struct virtqueue *vq)
{
	memset(vq->ring_mem, 0, vq->ring_bytes);
	memset(vq->desc_state, 0, sizeof(*vq->desc_state) * vq->num);
	for (unsigned i = 0; i + 1 < vq->num; i++)
		vq->desc_state[i].next = (u16)(i + 1);
	vq->free_head = 0;
	vq->num_free = vq->num;
	vq->avail_idx_shadow = 0;
	vq->last_used_idx = 0;
	vq->avail_flags_shadow = VRING_PACKED_EVENT_FLAG_ENABLE;
	vq->added_since_kick = 0;
	vq->broken = false;
}

/* ---- positions: a free-running descriptor count -> slot and wrap counter ---- */

static inline u16 slot_of(const struct virtqueue *vq, u16 idx)
{
	return idx & (u16)(vq->num - 1);
}

static inline bool wrap_of(const struct virtqueue *vq, u16 idx)
{
	return !(idx & vq->num);
}

/* An event structure's off_wrap for position idx (2.8.14). */
static inline u16 off_wrap_of(const struct virtqueue *vq, u16 idx)
{
	return (u16)(slot_of(vq, idx) | (wrap_of(vq, idx) ? WRAP_BIT : 0));
}

/* LAB:SOLUTION stage8 packed_flag_bits */
/* 2.8.1: a descriptor is used when its AVAIL and USED bits are equal and equal to the wrap
 * counter the device had when it wrote the slot, which for the slot at idx is wrap_of(idx). */
static bool slot_used(const struct virtqueue *vq, u16 idx)
{
	u16 flags = READ_ONCE(vq->pdesc[slot_of(vq, idx)].flags);
	bool avail = flags & VRING_PACKED_DESC_F_AVAIL, used = flags & VRING_PACKED_DESC_F_USED;

	return avail == used && used == wrap_of(vq, idx);
}

/* The AVAIL/USED pair that makes the slot at idx available (2.8.1). */
static inline u16 avail_bits(const struct virtqueue *vq, u16 idx)
{
	return wrap_of(vq, idx) ? VRING_PACKED_DESC_F_AVAIL : VRING_PACKED_DESC_F_USED;
}
/* LAB:END */

/* This ring may be offered: virtio.c accepts VIRTIO_F_RING_PACKED only when it says so. */
bool vring_packed_ready(void)
{
	/* LAB:SOLUTION stage8 vring_packed_ready */
	return true;
	/* LAB:END */
}

/* ---- adding buffers (2.8.21.1) ---- */

/* LAB:SOLUTION stage8 packed_add_helpers */

/* 2.8.7: the table holds struct vring_packed_desc entries one after another; WRITE is the
 * only flag allowed in them (2.8.19), and their ids are reserved (left 0). */
static struct vring_packed_desc *packed_write_table(struct virtqueue *vq, u16 id,
						    const struct scatterlist *sgs,
						    unsigned out_sgs, unsigned total)
{
	struct vring_packed_desc *table =
		(struct vring_packed_desc *)vq->indir_pool + (size_t)id * VIRTQUEUE_MAX_INDIRECT;

	for (unsigned n = 0; n < total; n++) {
		table[n].addr = virt_to_phys(sgs[n].addr);
		table[n].len = sgs[n].len;
		table[n].id = 0;
		table[n].flags = n < out_sgs ? 0 : VRING_DESC_F_WRITE;
	}
	return table;
}
/* LAB:END */

/* The arguments and pieces are checked, and the slots counted, by vq_plan_add (virtio_ring.c)
 * before we are called: plan says how many slots the buffer takes and whether through a table. */
int vq_packed_add_sgs(struct virtqueue *vq, const struct scatterlist *sgs, unsigned out_sgs,
		      const struct vq_add_plan *plan, void *data)
{
	/* LAB:SOLUTION stage8 vq_packed_add_sgs */
	unsigned total = plan->total, needed = plan->needed;
	u16 id = vq->free_head; /* never runs out first: every buffer takes at least one slot */
	struct vring_desc_state *st = &vq->desc_state[id];
	u16 head = vq->avail_idx_shadow, head_flags = 0;
	struct vring_packed_desc *d = &vq->pdesc[slot_of(vq, head)];

	vq->free_head = st->next;
	if (plan->indirect) {
		struct vring_packed_desc *table = packed_write_table(vq, id, sgs, out_sgs, total);

		d->addr = virt_to_phys(table);
		d->len = (u32)(sizeof(*table) * total);
		d->id = id;
		/* 2.8.7: WRITE means nothing beside INDIRECT, and NEXT is not allowed with it */
		head_flags = VRING_DESC_F_INDIRECT;
		st->indir = table;
		vq->stats.indirect++;
	} else {
		/* The head's flags are stored last (2.8.21.1): until then the device sees none of
		 * the list. Each descriptor takes the wrap counter of its own slot, so a list that
		 * runs over the end of the ring flips the AVAIL/USED pair where it wraps. The id goes
		 * into every descriptor (2.8.6 needs it in the last). */
		for (unsigned n = 0; n < total; n++) {
			u16 idx = (u16)(head + n);
			struct vring_packed_desc *p = &vq->pdesc[slot_of(vq, idx)];
			u16 f = (n < out_sgs ? 0 : VRING_DESC_F_WRITE) |
				(n + 1 < total ? VRING_DESC_F_NEXT : 0);

			p->addr = virt_to_phys(sgs[n].addr);
			p->len = sgs[n].len;
			p->id = id;
			if (n == 0)
				head_flags = f;
			else
				WRITE_ONCE(p->flags, (u16)(f | avail_bits(vq, idx)));
		}
		st->indir = NULL;
	}
	st->ndescs = (u16)needed;
	st->in_len = plan->in_len;
	st->data = data;
	vq->num_free -= needed;
	vq->avail_idx_shadow = (u16)(head + needed);
	/* 2.8.21.1.1: the descriptors (and the table) before the flags that expose them */
	virtio_wmb();
	WRITE_ONCE(d->flags, (u16)(head_flags | avail_bits(vq, head)));
	/* counted in descriptors: the device's event offset is a slot (2.8.14); a lap or more
	 * unkicked makes the event arithmetic ambiguous, so kick_prepare then just kicks */
	vq->added_since_kick = (u16)MIN((unsigned)vq->added_since_kick + needed, vq->num);
	vq->stats.added++;
	VQ_TRACE(vq, "virtqueue_add_sgs/descs", id, needed);
	return 0;
	/* LAB:END */
}

/* ---- notifying the device (2.8.21.2) ---- */

/* LAB:SOLUTION stage8 packed_kick_helpers */
/* The device event structure: flags, then off_wrap (the device writes them the other way
 * round, so a DESC seen here comes with its offset already in place). */
static u16 read_event(const struct vring_packed_event *ev, u16 *off_wrap)
{
	u16 flags = READ_ONCE(ev->flags);

	virtio_rmb();
	*off_wrap = READ_ONCE(ev->off_wrap);
	return flags;
}

/* An event position (off_wrap) as a free-running index near cur: in cur's lap when the
 * wrap counters agree, else in the lap before (2.8.14: the device names a slot and the lap
 * by its wrap counter). */
static u16 event_index(const struct virtqueue *vq, u16 off_wrap, u16 cur)
{
	u16 lap = (u16)(cur - slot_of(vq, cur));
	u16 ev = (u16)(lap + (off_wrap & (WRAP_BIT - 1)));

	if (!!(off_wrap & WRAP_BIT) != wrap_of(vq, cur))
		ev = (u16)(ev - vq->num);
	return ev;
}

/* 2.8.10: kick when the descriptor at the device's event was made available since the last
 * kick. Also when the event lies behind what the device has already returned to us: it named
 * a descriptor it has long passed and would wait for that slot's next lap. QEMU (7.2) leaves
 * such an event behind: it sets the offset only when it turns notifications back on
 * (virtio_queue_packed_set_notification), then its transmit path takes the descriptors after
 * it without moving it (the split ring's pop moves avail_event every time); seen on the
 * socket backend, where transmits complete asynchronously. An extra kick is always allowed. */
static bool packed_need_kick(const struct virtqueue *vq, u16 event, u16 new_idx, u16 old_idx)
{
	return vring_need_event(event, new_idx, old_idx) || (s16)(event - vq->last_used_idx) < 0;
}
/* LAB:END */

bool vq_packed_kick_prepare(struct virtqueue *vq)
{
	u16 added = vq->added_since_kick;
	bool needed;

	/* 2.8.21.2: the flags we stored must be visible before we read the device's structure */
	virtio_mb();
	vq->added_since_kick = 0;
	if (vq->broken || added == 0)
		return false;
	/* LAB:SOLUTION stage8 packed_kick_decision */
	u16 new_idx = vq->avail_idx_shadow, old_idx = (u16)(new_idx - added), off_wrap;
	u16 flags = read_event(vq->device_event, &off_wrap);

	if (added >= vq->num)
		needed = true;
	else if (flags == VRING_PACKED_EVENT_FLAG_DESC && vq->event_idx)
		needed = packed_need_kick(vq, event_index(vq, off_wrap, new_idx), new_idx, old_idx);
	else /* DESC without EVENT_IDX, or the reserved 3: not a "disable" we may trust */
		needed = flags != VRING_PACKED_EVENT_FLAG_DISABLE;
	/* LAB:END */
	if (!needed)
		vq->stats.kicks_suppressed++;
	VQ_TRACE(vq, "virtqueue_kick_prepare/kick", VQ_NOID, needed);
	return needed;
}

/* ---- taking used buffers (2.8.22) ---- */

static void *packed_detach(struct virtqueue *vq, u16 id)
{
	struct vring_desc_state *st = &vq->desc_state[id];
	void *data = st->data;

	vq->num_free += st->ndescs;
	memset(st, 0, sizeof(*st));
	st->next = vq->free_head;
	vq->free_head = id;
	return data;
}

static void packed_break(struct virtqueue *vq, const char *why)
{
	vq->stats.bad_used_idx++;
	vq->broken = true;
	printk("virtio_ring: %s: %s (slot %u, wrap %u), queue marked broken\n", vq->name, why,
	       slot_of(vq, vq->last_used_idx), wrap_of(vq, vq->last_used_idx));
}

/* Consume the used descriptor at last_used_idx, known to be used. NULL when it was bad. */
static void *packed_take_used(struct virtqueue *vq, unsigned *len)
{
	/* LAB:SOLUTION stage8 packed_take_used */
	const struct vring_packed_desc *d = &vq->pdesc[slot_of(vq, vq->last_used_idx)];
	u16 outstanding = (u16)(vq->avail_idx_shadow - vq->last_used_idx);
	u16 id;
	u32 written;

	if (outstanding == 0) {
		packed_break(vq, "used descriptor where nothing was posted");
		return NULL;
	}
	virtio_rmb(); /* 2.8.22: the flags (slot_used) before the id and length they cover */
	id = READ_ONCE(d->id);
	written = READ_ONCE(d->len);
	if (id >= vq->num || !vq->desc_state[id].data) {
		vq->stats.bad_used_id++;
		vq->last_used_idx++;
		return NULL;
	}
	if (vq->desc_state[id].ndescs > outstanding) {
		packed_break(vq, "used buffer runs past the posted descriptors");
		return NULL;
	}
	/* 2.8.4 makes the length count only with WRITE set in the used descriptor, but QEMU
	 * (hw/virtio/virtio.c, virtqueue_packed_fill_desc, 7.2 and later) never sets WRITE there,
	 * and Linux reads the length whatever the flag; so do we, bounded as in the split ring. */
	if (written > vq->desc_state[id].in_len) {
		vq->stats.bad_used_len++;
		written = 0;
	}
	vq->last_used_idx = (u16)(vq->last_used_idx + vq->desc_state[id].ndescs);
	if (len)
		*len = written;
	VQ_TRACE(vq, "virtqueue_get_buf/len", id, written);
	return packed_detach(vq, id);
	/* LAB:END */
}

void *vq_packed_get_buf(struct virtqueue *vq, unsigned *len)
{
	void *data = NULL;

	if (len)
		*len = 0;
	while (!data && !vq->broken && slot_used(vq, vq->last_used_idx))
		data = packed_take_used(vq, len);
	if (!data)
		return NULL;
	vq->stats.completed++;
	/* With EVENT_IDX and callbacks on, the next interrupt is due at the next used slot */
	if (vq->avail_flags_shadow == VRING_PACKED_EVENT_FLAG_DESC) {
		WRITE_ONCE(vq->driver_event->off_wrap, off_wrap_of(vq, vq->last_used_idx));
		virtio_mb(); /* before our next look at the ring, as in the split ring */
	}
	return data;
}

bool vq_packed_more_used(const struct virtqueue *vq)
{
	return !vq->broken && slot_used(vq, vq->last_used_idx);
}

/* ---- used buffer notification suppression (2.8.10) ---- */

void vq_packed_disable_cb(struct virtqueue *vq)
{
	if (vq->avail_flags_shadow == VRING_PACKED_EVENT_FLAG_DISABLE)
		return;
	vq->avail_flags_shadow = VRING_PACKED_EVENT_FLAG_DISABLE;
	WRITE_ONCE(vq->driver_event->flags, VRING_PACKED_EVENT_FLAG_DISABLE);
}

/* Interrupts on: with EVENT_IDX at the slot of position event (RING_EVENT_FLAGS_DESC), else
 * for every used buffer. The offset goes out before the flags that make it count. Interrupts
 * are off for the same reason as the split ring's vq_arm_cb: the handler's disable_cb must not
 * fall between our shadow and the device's copy. */
static void packed_arm_cb(struct virtqueue *vq, u16 event)
{
	unsigned long irqf = local_irq_save();
	u16 want = vq->event_idx ? VRING_PACKED_EVENT_FLAG_DESC : VRING_PACKED_EVENT_FLAG_ENABLE;

	if (vq->event_idx) {
		WRITE_ONCE(vq->driver_event->off_wrap, off_wrap_of(vq, event));
		virtio_wmb();
	}
	if (vq->avail_flags_shadow != want) {
		vq->avail_flags_shadow = want;
		WRITE_ONCE(vq->driver_event->flags, want);
	}
	local_irq_restore(irqf);
}

bool vq_packed_enable_cb(struct virtqueue *vq)
{
	packed_arm_cb(vq, vq->last_used_idx);
	virtio_mb(); /* publish the flags before looking at the ring again */
	return !vq_packed_more_used(vq);
}

bool vq_packed_enable_cb_delayed(struct virtqueue *vq)
{
	u16 outstanding, delay;

	if (!vq->event_idx)
		return vq_packed_enable_cb(vq);
	if (vq->broken)
		return true;
	outstanding = (u16)(vq->avail_idx_shadow - vq->last_used_idx);
	if (outstanding > vq->num)
		outstanding = (u16)vq->num;
	delay = (u16)(outstanding * 3u / 4u);
	packed_arm_cb(vq, (u16)(vq->last_used_idx + delay));
	virtio_mb();
	/* The device already wrote the event slot used: that interrupt has gone by, poll. */
	return !vq_packed_more_used(vq) || !slot_used(vq, (u16)(vq->last_used_idx + delay));
}

/* ---- teardown and views ---- */

void *vq_packed_detach_unused_buf(struct virtqueue *vq)
{
	for (unsigned i = 0; i < vq->num; i++)
		if (vq->desc_state[i].data)
			return packed_detach(vq, (u16)i);
	return NULL;
}

/* How many slots from last_used the device has returned: the run of used descriptors there,
 * each skipping its buffer's slots (1 for an id we cannot match). Read-only, for views. */
static u16 packed_used_run(const struct virtqueue *vq)
{
	u16 pos = vq->last_used_idx, outstanding = (u16)(vq->avail_idx_shadow - pos), run = 0;

	if (vq->broken)
		return 0;
	while (run < outstanding && slot_used(vq, (u16)(pos + run))) {
		u16 id = READ_ONCE(vq->pdesc[slot_of(vq, (u16)(pos + run))].id);
		u16 step = id < vq->num && vq->desc_state[id].data ? vq->desc_state[id].ndescs : 1;

		run = (u16)MIN((unsigned)run + step, (unsigned)outstanding);
	}
	return run;
}

void vq_packed_snapshot(const struct virtqueue *vq, struct vring_snapshot *s)
{
	s->avail_idx = vq->avail_idx_shadow;
	s->used_idx = (u16)(vq->last_used_idx + packed_used_run(vq));
	s->last_used = vq->last_used_idx;
	s->num_free = vq->num_free;
	s->callbacks = vq->avail_flags_shadow != VRING_PACKED_EVENT_FLAG_DISABLE;
}

/* By slot: the n_used slots from last_used are USED, the rest up to what we posted POSTED. */
void vq_packed_desc_owners(const struct virtqueue *vq, unsigned n_used, u8 *owner)
{
	unsigned posted = (u16)(vq->avail_idx_shadow - vq->last_used_idx);

	memset(owner, VRING_DESC_FREE, vq->num);
	if (posted > vq->num)
		posted = vq->num;
	for (unsigned k = 0; k < posted; k++)
		owner[slot_of(vq, (u16)(vq->last_used_idx + k))] =
			k < n_used ? VRING_DESC_USED : VRING_DESC_POSTED;
}

void virtqueue_packed_view(const struct virtqueue *vq, struct vring_packed_view *v)
{
	memset(v, 0, sizeof(*v));
	if (!vq->packed)
		return;
	v->avail_wrap = wrap_of(vq, vq->avail_idx_shadow);
	v->used_wrap = wrap_of(vq, vq->last_used_idx);
	v->driver_flags = READ_ONCE(vq->driver_event->flags);
	v->driver_off_wrap = READ_ONCE(vq->driver_event->off_wrap);
	v->device_flags = READ_ONCE(vq->device_event->flags);
	v->device_off_wrap = READ_ONCE(vq->device_event->off_wrap);
}
