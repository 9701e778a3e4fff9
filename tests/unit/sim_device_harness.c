/*
 * tests/unit/sim_device_harness.c - a simulated virtio device consuming one split virtqueue, for the
 * ring's host tests (virtio 1.x 2.7: the device-side rules of 2.7.5 - 2.7.10).
 *
 * Single-threaded: the test decides when the "device" runs. Ring fields are read and written
 * with READ_ONCE/WRITE_ONCE as a real device on another CPU would see them, and every chain
 * is checked against the driver requirements before its buffers are touched, so a driver
 * mistake shows up as chain_errors (or as an ASan report for a bad address).
 */
#include <string.h>

#include "drivers/virtio/virtio_barrier.h"
#include "tests/unit/sim_device_harness.h"

/* Where the EVENT_IDX words sit, computed from the spec layout (not the driver's helpers). */
static le16 *sim_used_event_ptr(const struct sim_device *d)
{
	return (le16 *)((u8 *)d->avail + 4 + 2 * (size_t)d->num);
}

static le16 *sim_avail_event_ptr(const struct sim_device *d)
{
	return (le16 *)((u8 *)d->used + 4 + 8 * (size_t)d->num);
}

void sim_attach(struct sim_device *d, const struct virtqueue *vq)
{
	memset(d, 0, sizeof(*d));
	d->num = vq->num;
	d->event_idx = vq->event_idx;
	d->desc = phys_to_virt(vq->desc_phys);
	d->avail = phys_to_virt(vq->avail_phys);
	d->used = phys_to_virt(vq->used_phys);
	d->notify_enabled = true;
	/* A device starts at index 0 and takes over what the driver left in its own parts. */
	d->last_avail = 0;
	d->used_idx = READ_ONCE(d->used->idx);
	d->signalled_used = d->used_idx;
}

u16 sim_avail_pending(const struct sim_device *d)
{
	return (u16)(READ_ONCE(d->avail->idx) - d->last_avail);
}

u16 sim_used_event(const struct sim_device *d) { return READ_ONCE(*sim_used_event_ptr(d)); }
u16 sim_avail_flags(const struct sim_device *d) { return READ_ONCE(d->avail->flags); }
u16 sim_avail_event(const struct sim_device *d) { return READ_ONCE(*sim_avail_event_ptr(d)); }

bool sim_add_piece(struct sim_buf *b, u64 addr, u32 len, bool write)
{
	if (len == 0 || addr == 0 || b->nsegs == SIM_MAX_SEGS)
		return false;
	if (!write && b->nin)
		return false; /* 2.7.4.2 (packed: 2.8.17): readable pieces must all come first */
	b->seg[b->nsegs].addr = phys_to_virt(addr);
	b->seg[b->nsegs].len = len;
	b->seg[b->nsegs].write = write;
	b->nsegs++;
	if (write) {
		b->nin++;
		b->in_bytes += len;
	} else {
		b->nout++;
		b->out_bytes += len;
	}
	return true;
}

static bool sim_add_seg(struct sim_buf *b, const struct vring_desc *desc)
{
	return sim_add_piece(b, desc->addr, desc->len, desc->flags & VRING_DESC_F_WRITE);
}

/* Follow a chain from table[i] (size entries); top is false inside an indirect table. */
static bool sim_walk(struct sim_buf *b, const struct vring_desc *table, unsigned size, u16 i,
		     bool top)
{
	unsigned steps = 0;

	for (;;) {
		struct vring_desc desc;

		if (i >= size || ++steps > size)
			return false; /* out of the table, or a loop (2.7.5.2) */
		desc = table[i];
		if (desc.flags & VRING_DESC_F_INDIRECT) {
			/* 2.7.5.3.1: one level only, never together with NEXT, whole entries */
			if (!top || (desc.flags & VRING_DESC_F_NEXT) || desc.len == 0 ||
			    desc.len % sizeof(struct vring_desc) || desc.addr == 0)
				return false;
			b->indirect = true;
			return sim_walk(b, phys_to_virt(desc.addr),
					desc.len / sizeof(struct vring_desc), 0, false);
		}
		if (!sim_add_seg(b, &desc))
			return false;
		if (!(desc.flags & VRING_DESC_F_NEXT))
			return true;
		i = desc.next;
	}
}

bool sim_pop(struct sim_device *d, struct sim_buf *b)
{
	u16 head;

	memset(b, 0, sizeof(*b)); /* an empty buffer even on failure: tests may go on using it */
	if (sim_avail_pending(d) == 0)
		return false;
	virtio_rmb(); /* the index before the entries it covers */
	head = READ_ONCE(d->avail->ring[d->last_avail & (d->num - 1)]);
	d->last_avail++;
	if (d->event_idx && d->notify_enabled)
		WRITE_ONCE(*sim_avail_event_ptr(d), d->last_avail);

	b->head = head;
	if (!sim_walk(b, d->desc, d->num, head, true)) {
		b->malformed = true;
		d->chain_errors++;
	}
	d->popped++;
	return true;
}

u32 sim_write(const struct sim_buf *b, u8 seed, u32 max)
{
	u32 done = 0;

	for (unsigned s = 0; s < b->nsegs && done < max; s++) {
		u32 n;

		if (!b->seg[s].write)
			continue;
		n = b->seg[s].len < max - done ? b->seg[s].len : max - done;
		for (u32 k = 0; k < n; k++)
			b->seg[s].addr[k] = sim_pattern(seed, done + k);
		done += n;
	}
	return done;
}

u32 sim_read_out(const struct sim_buf *b, u8 *dst, u32 max)
{
	u32 done = 0;

	for (unsigned s = 0; s < b->nsegs && done < max; s++) {
		u32 n;

		if (b->seg[s].write)
			continue;
		n = b->seg[s].len < max - done ? b->seg[s].len : max - done;
		memcpy(dst + done, b->seg[s].addr, n);
		done += n;
	}
	return done;
}

void sim_push(struct sim_device *d, u32 id, u32 len)
{
	struct vring_used_elem *e = &d->used->ring[d->used_idx & (d->num - 1)];

	WRITE_ONCE(e->id, id);
	WRITE_ONCE(e->len, len);
	d->used_idx++;
	d->pushed++;
}

/* 2.7.7.2: with EVENT_IDX, interrupt when one of the entries just written sits at index
 * used_event; without, unless the driver set NO_INTERRUPT. Written as "does used_event fall
 * in [old, new)" rather than with vring_need_event, so the two formulations check each
 * other. */
static bool sim_want_interrupt(const struct sim_device *d, u16 old_idx, u16 new_idx)
{
	if (d->event_idx)
		return (u16)(sim_used_event(d) - old_idx) < (u16)(new_idx - old_idx);
	return !(sim_avail_flags(d) & VRING_AVAIL_F_NO_INTERRUPT);
}

bool sim_flush(struct sim_device *d)
{
	u16 old_idx = d->signalled_used;
	bool irq;

	if (d->used_idx == old_idx)
		return false;
	virtio_wmb(); /* entries before the index (2.7.8.2) */
	WRITE_ONCE(d->used->idx, d->used_idx);
	virtio_mb(); /* index before reading the driver's suppression state */
	irq = sim_want_interrupt(d, old_idx, d->used_idx);
	d->signalled_used = d->used_idx;
	if (irq)
		d->interrupts++;
	else
		d->interrupts_suppressed++;
	return irq;
}

void sim_set_used_idx(struct sim_device *d, u16 idx)
{
	WRITE_ONCE(d->used->idx, idx);
	d->used_idx = idx;
	d->signalled_used = idx;
}

unsigned sim_complete(struct sim_device *d, unsigned max, u8 seed, bool *irq)
{
	struct sim_buf b;
	unsigned n = 0;
	bool raised;

	while (n < max && sim_pop(d, &b)) {
		sim_push(d, b.head, sim_write(&b, seed, b.in_bytes));
		n++;
	}
	raised = sim_flush(d);
	if (irq)
		*irq = raised;
	return n;
}

void sim_enable_notify(struct sim_device *d)
{
	d->notify_enabled = true;
	if (d->event_idx)
		WRITE_ONCE(*sim_avail_event_ptr(d), d->last_avail);
	else
		WRITE_ONCE(d->used->flags, 0);
	virtio_mb(); /* before the caller re-checks avail->idx */
}

void sim_disable_notify(struct sim_device *d)
{
	d->notify_enabled = false;
	if (!d->event_idx) /* with EVENT_IDX flags stays 0; avail_event just goes stale */
		WRITE_ONCE(d->used->flags, VRING_USED_F_NO_NOTIFY);
}
