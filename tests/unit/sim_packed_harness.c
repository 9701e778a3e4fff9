/*
 * tests/unit/sim_packed_harness.c - a simulated virtio device consuming one packed virtqueue,
 * for the packed ring's host tests (virtio 1.2 2.8: the device side of 2.8.1 - 2.8.22).
 *
 * Single-threaded, like sim_device_harness.c: the test decides when the device runs. Ring
 * memory is read and written with READ_ONCE/WRITE_ONCE, a used descriptor's flags last, and
 * each list is checked against the driver's requirements before any buffer is touched.
 */
#include <string.h>

#include "drivers/virtio/virtio_barrier.h"
#include "tests/unit/sim_packed_harness.h"

#define F_AVAIL VRING_PACKED_DESC_F_AVAIL
#define F_USED VRING_PACKED_DESC_F_USED

void psim_attach(struct psim_device *d, const struct virtqueue *vq)
{
	memset(d, 0, sizeof(*d));
	d->num = vq->num;
	d->event_idx = vq->event_idx;
	d->desc = phys_to_virt(vq->desc_phys);
	d->driver_event = phys_to_virt(vq->avail_phys);
	d->device_event = phys_to_virt(vq->used_phys);
	d->avail_wrap = d->used_wrap = true; /* 2.8.1: both start at 1 */
	d->notify_enabled = true;
}

/* 2.8.1: available when AVAIL matches the wrap counter and USED does not. */
static bool is_avail(u16 flags, bool wrap)
{
	return !!(flags & F_AVAIL) == wrap && !!(flags & F_USED) != wrap;
}

bool psim_avail_pending(const struct psim_device *d)
{
	return is_avail(READ_ONCE(d->desc[d->avail_slot].flags), d->avail_wrap);
}

/* 2.8.7 and 2.8.19: whole entries, WRITE the only flag inside, no nesting. */
static bool walk_table(struct sim_buf *b, const struct vring_packed_desc *top)
{
	const struct vring_packed_desc *t = phys_to_virt(top->addr);
	unsigned n = top->len / sizeof(*t);

	if (top->addr == 0 || top->len == 0 || top->len % sizeof(*t) || (top->flags & VRING_DESC_F_NEXT))
		return false;
	b->indirect = true;
	for (unsigned i = 0; i < n; i++) {
		if (t[i].flags & ~VRING_DESC_F_WRITE)
			return false;
		if (!sim_add_piece(b, t[i].addr, t[i].len, t[i].flags & VRING_DESC_F_WRITE))
			return false;
	}
	return true;
}

bool psim_pop(struct psim_device *d, struct psim_buf *pb)
{
	struct sim_buf *b = &pb->b;
	bool ok = true;

	memset(pb, 0, sizeof(*pb));
	if (!psim_avail_pending(d))
		return false;
	virtio_rmb(); /* the flags before the rest of the descriptor */
	for (;;) {
		struct vring_packed_desc desc = d->desc[d->avail_slot];

		/* every descriptor of a list is available with its own slot's wrap (2.8.6 note) */
		if (!is_avail(desc.flags, d->avail_wrap) || pb->ndescs == d->num)
			ok = false;
		pb->ndescs++;
		b->head = desc.id; /* the last one's counts */
		if (++d->avail_slot == d->num) {
			d->avail_slot = 0;
			d->avail_wrap = !d->avail_wrap;
		}
		if (!ok)
			break;
		if (desc.flags & VRING_DESC_F_INDIRECT) {
			/* 2.8.19: no INDIRECT inside a list linked by NEXT */
			ok = pb->ndescs == 1 && walk_table(b, &desc);
			break;
		}
		if (!sim_add_piece(b, desc.addr, desc.len, desc.flags & VRING_DESC_F_WRITE)) {
			ok = false;
			break;
		}
		if (!(desc.flags & VRING_DESC_F_NEXT))
			break;
	}
	if (!ok) {
		b->malformed = true;
		d->chain_errors++;
	}
	if (d->event_idx && d->notify_enabled)
		psim_enable_notify(d); /* keep the event at the next slot we will read */
	d->popped++;
	return true;
}

void psim_push(struct psim_device *d, u16 id, u32 len, u16 step)
{
	struct vring_packed_desc *p = &d->desc[d->used_slot];
	u16 flags = d->used_wrap ? (F_AVAIL | F_USED) : 0;

	WRITE_ONCE(p->id, id);
	WRITE_ONCE(p->len, len);
	virtio_wmb(); /* the driver may take the descriptor as soon as it sees the flags */
	WRITE_ONCE(p->flags, flags);
	for (u16 k = 0; k < step; k++) {
		if (++d->used_slot == d->num) {
			d->used_slot = 0;
			d->used_wrap = !d->used_wrap;
		}
	}
	d->used_written += step;
	d->pushed++;
}

/* 2.8.10: DISABLE never, ENABLE always; DESC when one of the slots the used descriptors
 * advanced over since the last decision is the event's slot in the event's lap. Walked slot by
 * slot from where the last decision stood, wrap counter and all. */
bool psim_flush(struct psim_device *d)
{
	u16 flags = READ_ONCE(d->driver_event->flags), off_wrap;
	u32 from = d->signalled, to = d->used_written;
	bool irq = false;

	if (from == to)
		return false;
	virtio_mb(); /* our used descriptors before the driver's suppression state */
	off_wrap = READ_ONCE(d->driver_event->off_wrap);
	d->signalled = to;
	if (flags == VRING_PACKED_EVENT_FLAG_ENABLE || (flags == VRING_PACKED_EVENT_FLAG_DESC && !d->event_idx)) {
		irq = true;
	} else if (flags == VRING_PACKED_EVENT_FLAG_DESC) {
		/* position pos is slot pos % num of lap pos / num, whose wrap counter is 1 on even
		 * laps (the counter starts at 1 and flips at the end of each lap) */
		for (u32 pos = from; pos != to && !irq; pos++) {
			u16 slot = (u16)(pos % d->num);
			bool wrap = (pos / d->num) % 2 == 0;

			irq = slot == (off_wrap & 0x7fffu) && wrap == !!(off_wrap >> 15);
		}
	}
	if (irq)
		d->interrupts++;
	else
		d->interrupts_suppressed++;
	return irq;
}

unsigned psim_complete(struct psim_device *d, unsigned max, u8 seed, bool *irq)
{
	struct psim_buf pb;
	unsigned n = 0;
	bool raised;

	while (n < max && psim_pop(d, &pb)) {
		psim_push(d, pb.b.head, sim_write(&pb.b, seed, pb.b.in_bytes), pb.ndescs);
		n++;
	}
	raised = psim_flush(d);
	if (irq)
		*irq = raised;
	return n;
}

void psim_enable_notify(struct psim_device *d)
{
	d->notify_enabled = true;
	if (d->event_idx) {
		WRITE_ONCE(d->device_event->off_wrap, (u16)(d->avail_slot | (d->avail_wrap ? 0x8000u : 0)));
		virtio_wmb();
		WRITE_ONCE(d->device_event->flags, VRING_PACKED_EVENT_FLAG_DESC);
	} else {
		WRITE_ONCE(d->device_event->flags, VRING_PACKED_EVENT_FLAG_ENABLE);
	}
	virtio_mb(); /* before the caller looks at the ring again */
}

void psim_disable_notify(struct psim_device *d)
{
	d->notify_enabled = false;
	WRITE_ONCE(d->device_event->flags, VRING_PACKED_EVENT_FLAG_DISABLE);
}
