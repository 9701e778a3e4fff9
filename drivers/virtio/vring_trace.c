/*
 * drivers/virtio/vring_trace.c - the data-path trace (`trace on|off`, `trace=1`) and the
 * ring picture (`vq NAME`). See vring_trace.h for the trace points and docs/data-path.md
 * for reading the output next to QEMU's own virtio trace events.
 *
 * Records are taken wherever a trace point fires -- interrupt handlers included -- into a
 * fixed buffer (interrupts off for the few stores), and printed by a work item from the event
 * loop. When the console cannot keep up the oldest unprinted records are kept and newer ones
 * counted as lost, so a burst of traffic shows its beginning rather than a random middle.
 *
 * The ring picture reads the queue through the ring's read-only views (virtqueue_snapshot,
 * virtqueue_desc_owners in virtio_ring.h), never the rings themselves; used-ring ids are
 * device-written, so the ring range-checks each before it marks anything.
 */
#include "drivers/virtio/virtio.h"
#include "drivers/virtio/vring_trace.h"
#include "kernel/cmdline.h"
#include "kernel/errno.h"
#include "kernel/init.h"
#include "kernel/irq.h"
#include "kernel/loop.h"
#include "kernel/printk.h"
#include "kernel/shell.h"
#include "kernel/string.h"
#include "kernel/time.h"

#define TRACE_BUF 1024 /* records waiting for the console; a power of two */

struct trace_rec {
	u64 tsc;
	const char *step;
	const char *vq;
	u32 id, val;
	u16 avail_idx, used_idx, last_used;
	u16 num_free;
	u16 num;     /* packed rings: the size, for the slot and wrap columns; 0 for split */
};

bool vring_trace_on;
static struct trace_rec trace_buf[TRACE_BUF];
static unsigned trace_head, trace_tail; /* free running; shared with interrupt handlers */
static u64 trace_lost, trace_left;     /* trace_left: records still allowed, 0 = no limit */
static bool trace_limited;
static u64 trace_last_tsc;             /* the previous printed record, for the +ns column */
static struct work trace_work;

static void trace_print_work(struct work *w);

void trace_set(bool on, u64 max_events)
{
	unsigned long flags = local_irq_save();

	if (!trace_work.fn)
		work_init(&trace_work, trace_print_work);
	trace_left = max_events;
	trace_limited = on && max_events != 0;
	trace_lost = 0;
	WRITE_ONCE(vring_trace_on, on);
	local_irq_restore(flags);
}

/* Called with tracing on, from any context (vring_interrupt runs in interrupt context). */
void vring_trace_event(const struct virtqueue *vq, const char *step, u32 id, u32 val)
{
	unsigned long flags = local_irq_save();
	struct vring_snapshot snap;
	struct trace_rec *r;

	if (!vring_trace_on)
		goto out;
	if (trace_head - trace_tail >= TRACE_BUF) {
		trace_lost++;
		goto out;
	}
	r = &trace_buf[trace_head % TRACE_BUF];
	r->tsc = rdtsc();
	r->step = step;
	r->vq = vq->name;
	r->id = id;
	r->val = val;
	virtqueue_snapshot(vq, &snap);
	r->avail_idx = snap.avail_idx;
	r->used_idx = snap.used_idx;
	r->last_used = snap.last_used;
	r->num_free = (u16)snap.num_free;
	r->num = vq->packed ? (u16)vq->num : 0;
	trace_head++;
	if (trace_limited && --trace_left == 0)
		WRITE_ONCE(vring_trace_on, false);
	work_schedule(&trace_work);
out:
	local_irq_restore(flags);
}

/* "virtqueue_add_sgs/descs" -> name "virtqueue_add_sgs", label "descs" */
static void split_step(const char *step, char *name, size_t size, const char **label)
{
	const char *slash = strchr(step, '/');
	size_t n = slash ? (size_t)(slash - step) : strlen(step);

	if (n >= size)
		n = size - 1;
	memcpy(name, step, n);
	name[n] = '\0';
	*label = slash ? slash + 1 : NULL;
}

static void trace_print(const struct trace_rec *r)
{
	char name[32], id[12], val[24];
	const char *label;
	u64 delta = trace_last_tsc && r->tsc > trace_last_tsc ? tsc_to_ns(r->tsc - trace_last_tsc) : 0;

	split_step(r->step, name, sizeof(name), &label);
	/* A new frame starts: a blank line, so each frame's steps read as one block. */
	if (strcmp(name, "start_xmit") == 0 || strcmp(name, "vring_interrupt") == 0)
		printk("\n");
	if (r->id == VQ_NOID)
		snprintk(id, sizeof(id), "-");
	else
		snprintk(id, sizeof(id), "%u", r->id);
	if (label)
		snprintk(val, sizeof(val), "%s %u", label, r->val);
	else
		val[0] = '\0';
	printk("trace: tsc %llu +%6llu ns %-4s %-27s id %-4s %-12s avail.idx %5u used.idx %5u last_used %5u free %4u",
	       r->tsc, delta, r->vq, name, id, val, r->avail_idx,
	       r->used_idx, r->last_used, r->num_free);
	/* A packed ring's indices count descriptors; where they fall: slot and wrap counter */
	if (r->num)
		printk(" | slot/wrap avail %u/%u last_used %u/%u", r->avail_idx % r->num,
		       !(r->avail_idx & r->num), r->last_used % r->num, !(r->last_used & r->num));
	printk("\n");
	trace_last_tsc = r->tsc;
}

static void trace_print_work(struct work *w)
{
	for (;;) {
		unsigned long flags = local_irq_save();
		struct trace_rec r;
		u64 lost = 0;
		bool have = trace_tail != trace_head;

		if (have)
			r = trace_buf[trace_tail++ % TRACE_BUF];
		else {
			lost = trace_lost;
			trace_lost = 0;
		}
		local_irq_restore(flags);
		if (!have) {
			if (lost)
				printk("trace: %llu records lost (the console is slower than the traffic)\n",
				       lost);
			return;
		}
		trace_print(&r);
	}
}

static int cmd_trace(int argc, char **argv)
{
	u64 max = 0;

	if (argc == 1) {
		printk("trace: %s\n", vring_trace_on ? "on" : "off");
		return 0;
	}
	if (argc > 3 || (strcmp(argv[1], "on") != 0 && strcmp(argv[1], "off") != 0))
		return -EINVAL;
	if (argc == 3 && (strcmp(argv[1], "on") != 0 || parse_u64(argv[2], &max) < 0 || max == 0))
		return -EINVAL;
	trace_set(strcmp(argv[1], "on") == 0, max);
	trace_last_tsc = 0;
	if (max)
		printk("trace: on for %llu records\n", max);
	else
		printk("trace: %s\n", argv[1]);
	return 0;
}
SHELL_COMMAND(trace, cmd_trace, "trace [on [N]|off]",
	      "print each data-path step: TSC, queue, function, descriptor, ring indices (N: stop after N)");

/* ---- vq NAME: the ring as a picture ---- */

#define PICTURE_COLS 64
#define MAP_COLS 256 /* the descriptor map shows at most this many columns' worth */

static char desc_map[VIRTQUEUE_MAX_SIZE];

/* '.' free, 'A' posted (the device owns it), 'U' used by the device, not yet taken back. */
static void build_desc_map(const struct virtqueue *vq, unsigned n_used)
{
	static const char owner_char[] = {
		[VRING_DESC_FREE] = '.', [VRING_DESC_POSTED] = 'A', [VRING_DESC_USED] = 'U',
	};
	static u8 owner[VIRTQUEUE_MAX_SIZE];

	virtqueue_desc_owners(vq, n_used, owner);
	for (unsigned i = 0; i < vq->num; i++)
		desc_map[i] = owner_char[owner[i]];
}

/* One character per `per` entries; the strongest state in a group wins (U over A over .). */
static char group_char(const char *states, unsigned from, unsigned per)
{
	char c = '.';

	for (unsigned i = from; i < from + per; i++) {
		if (states[i] == 'U')
			return 'U';
		if (states[i] == 'A')
			c = 'A';
	}
	return c;
}

static void draw_ring_bar(const struct virtqueue *vq, unsigned n_used, unsigned n_posted)
{
	static char slots[VIRTQUEUE_MAX_SIZE];
	unsigned cols = MIN(vq->num, (unsigned)PICTURE_COLS), per = vq->num / cols;
	char bar[PICTURE_COLS + 1];

	for (unsigned k = 0; k < vq->num; k++)
		slots[k] = k < n_used ? 'U' : k < n_used + n_posted ? 'A' : '.';
	for (unsigned c = 0; c < cols; c++)
		bar[c] = group_char(slots, c * per, per);
	bar[cols] = '\0';
	printk("  %s in index order from last_used (%u slot%s per character):\n",
	       vq->packed ? "descriptor ring" : "avail ring", per, per == 1 ? "" : "s");
	printk("    last_used -> [%s] <- last_used + %u\n", bar, vq->num);
}

static void draw_desc_table(const struct virtqueue *vq)
{
	unsigned per = vq->num > MAP_COLS ? vq->num / MAP_COLS : 1;
	unsigned chars = vq->num / per;
	char line[PICTURE_COLS + 1];

	printk("  descriptor %s (%u descriptor%s per character):\n", vq->packed ? "ring by slot" : "table", per,
	       per == 1 ? "" : "s");
	for (unsigned start = 0; start < chars; start += PICTURE_COLS) {
		unsigned n = MIN((unsigned)PICTURE_COLS, chars - start);

		for (unsigned c = 0; c < n; c++)
			line[c] = group_char(desc_map, (start + c) * per, per);
		line[n] = '\0';
		printk("    %5u %s\n", start * per, line);
	}
}

static const char *event_flags_name(u16 flags)
{
	static const char *const names[] = { "ENABLE", "DISABLE", "DESC", "reserved(3)" };

	return flags < ARRAY_SIZE(names) ? names[flags] : "reserved";
}

/* virtio 1.2 2.8.1 and 2.8.14: the wrap counters and both event structures of a packed ring. */
static void draw_packed_state(const struct virtqueue *vq, u16 avail, u16 last)
{
	struct vring_packed_view v;
	unsigned mask = vq->num - 1;

	virtqueue_packed_view(vq, &v);
	printk("  packed ring: next avail slot %u wrap %u (ours)   next used slot %u wrap %u (ours)\n",
	       avail & mask, v.avail_wrap, last & mask, v.used_wrap);
	printk("  driver event (ours, used-buffer interrupts):   flags %s off %u wrap %u\n",
	       event_flags_name(v.driver_flags), v.driver_off_wrap & 0x7fffu, v.driver_off_wrap >> 15);
	printk("  device event (the device's, our kicks):        flags %s off %u wrap %u\n",
	       event_flags_name(v.device_flags), v.device_off_wrap & 0x7fffu, v.device_off_wrap >> 15);
}

static void draw_vq(const struct virtio_device *vdev, const struct virtqueue *vq)
{
	struct vring_snapshot snap;
	u16 avail, used, last;
	unsigned n_used, n_posted, mask = vq->num - 1;

	virtqueue_snapshot(vq, &snap);
	avail = snap.avail_idx;
	used = snap.used_idx;
	last = snap.last_used;
	n_used = (u16)(used - last);
	n_posted = (u16)(avail - used);

	printk("vq %s: %s queue %u, %u entries, %u descriptors free, %s ring, event_idx %s, indirect %s, callbacks %s%s\n",
	       vq->name, vdev->name, vq->index, vq->num, snap.num_free, vq->packed ? "packed" : "split",
	       vq->event_idx ? "on" : "off", vq->indirect ? "on" : "off", snap.callbacks ? "on" : "off",
	       vq->broken ? ", BROKEN" : "");
	if (vq->packed) /* indices count descriptors; "used" is where the device's run ends */
		printk("  avail.idx %u (slot %u, ours)   used.idx %u (slot %u, the end of the used run)   last_used %u (slot %u, ours)\n",
		       avail, avail & mask, used, used & mask, last, last & mask);
	else
		printk("  avail.idx %u (slot %u, ours)   used.idx %u (slot %u, the device's)   last_used %u (slot %u, ours)\n",
		       avail, avail & mask, used, used & mask, last, last & mask);
	if (vq->packed)
		draw_packed_state(vq, avail, last);
	if (n_used > vq->num || n_posted > vq->num) {
		/* The device's index is outside what can be outstanding: draw nothing from it. */
		printk("  used.idx is %u entries from last_used: not a state a working device can be in\n", n_used);
		n_used = 0;
		n_posted = (u16)(avail - last) <= vq->num ? (u16)(avail - last) : 0;
	}
	printk("  U used by the device, not yet taken back: %u   A posted, the device owns it: %u   . free: %u\n",
	       n_used, n_posted, vq->num - n_used - n_posted);
	draw_ring_bar(vq, n_used, n_posted);
	build_desc_map(vq, n_used);
	draw_desc_table(vq);
}

static int cmd_vq(int argc, char **argv)
{
	int shown = 0;

	if (argc > 2)
		return -EINVAL;
	for (int d = 0; d < virtio_device_count(); d++) {
		struct virtio_device *vdev = virtio_device_get(d);

		for (unsigned q = 0; q < vdev->nvqs; q++) {
			const struct virtqueue *vq = vdev->vqs[q];

			if (!vq)
				continue;
			if (argc == 1) {
				printk("%s queue %u: %s, %u entries, %u free\n", vdev->name, q, vq->name, vq->num,
				       virtqueue_num_free(vq));
				shown++;
			} else if (strcmp(argv[1], vq->name) == 0) {
				draw_vq(vdev, vq);
				return 0;
			}
		}
	}
	if (argc == 2) {
		printk("vq: no queue named '%s' (try 'vq' for the list)\n", argv[1]);
		return -ENOENT;
	}
	if (!shown)
		printk("vq: no virtqueues\n");
	return 0;
}
SHELL_COMMAND(vq, cmd_vq, "vq [NAME]", "draw a virtqueue: free, posted and used entries (no NAME: list queues)");

/* Early, so `trace=1` also shows the receive queue being filled at probe time. */
static void vring_trace_init(void)
{
	const char *arg = cmdline_get("trace");

	if (arg && (strcmp(arg, "1") == 0 || strcmp(arg, "on") == 0)) {
		trace_set(true, 0);
		printk("trace: on (trace=%s on the command line)\n", arg);
	}
}
INITCALL(1, vring_trace_init);
