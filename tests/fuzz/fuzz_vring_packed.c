/*
 * tests/fuzz/fuzz_vring_packed.c - libFuzzer target: a hostile device on a packed virtqueue
 * (drivers/virtio/virtio_ring_packed.c, through the virtqueue_* API drivers use).
 *
 * The device is the fuzzer: it writes used descriptors (honest completions of buffers in
 * flight with any length, or any id, length and step at all), scribbles flags anywhere in the
 * ring, and writes its event suppression structure with any flags and off_wrap. The driver side
 * posts buffers, kicks, takes used buffers, turns callbacks off and on, takes interrupts, and
 * resets. The device's position and wrap counter are kept by tests/unit/sim_packed_harness.c
 * (psim_push); nothing reads descriptor contents but the driver, so whatever the fuzzer writes
 * can only reach the code under test.
 *
 *   byte 0   queue: bits 0-2 size 1 << n (1..128), bit 3 EVENT_IDX, bit 4 INDIRECT_DESC
 *   records  one op byte, then its arguments:
 *     op % 16 = 0   post a buffer: a (1 byte): 1 + a % 16 pieces, the first (a / 16) % (pieces + 1)
 *                   readable; each piece 1 + b bytes (b: 1 byte)
 *     1   kick                                2   take used buffers (at most 1 byte of them)
 *     3   complete the k-th buffer in flight (k: 1 byte) with length (2 bytes), honest step
 *     4   a used descriptor: id (2 bytes), length (4 bytes), step (1 byte, 0..3)
 *     5   flags (2 bytes) into slot (1 byte)   6   device event: off_wrap (2), flags (1)
 *     7   disable_cb   8   enable_cb   9   enable_cb_delayed   10   vring_interrupt
 *     11  the device's interrupt decision (psim_flush)
 *     12  reset: every buffer detached, the ring as new, the device too
 *     13  snapshot and desc_owners (the `vq` and `trace` views)
 *     14  the device asks for kicks (psim_enable_notify)   15  or not (psim_disable_notify)
 *
 * Checked after every record: every token the driver hands back was in flight and comes back
 * once, with a length no larger than its writable bytes; buffer ids are each free or in flight
 * once; in-flight slots and free slots make the ring; the driver's next used slot never passes
 * its next available one; a broken queue refuses new buffers. At
 * the end every token comes back through detach and no DMA memory is left. Any breach aborts,
 * as do the sanitizers.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/virtio/virtio_ring.h"
#include "tests/unit/kernel_harness.h"
#include "tests/unit/sim_packed_harness.h"

#define MAX_TOKENS 128

static struct {
	bool inflight;
	u32 in_bytes;
} tokens[MAX_TOKENS];
static u8 arena[MAX_TOKENS][16][256];

static bool f_notify(struct virtqueue *vq)
{
	(void)vq;
	return true;
}

static void f_callback(struct virtqueue *vq)
{
	virtqueue_disable_cb(vq);
}

#define REQUIRE(c)                  \
	do {                        \
		if (!(c))           \
			abort();    \
	} while (0)

struct input {
	const uint8_t *p;
	size_t left;
};

static unsigned take(struct input *in, unsigned n) /* n bytes, big-endian; 0 when short */
{
	unsigned v = 0;

	for (unsigned i = 0; i < n; i++) {
		v <<= 8;
		if (in->left) {
			v |= *in->p++;
			in->left--;
		}
	}
	return v;
}

static void give_back(void *t, unsigned len, bool from_device)
{
	ptrdiff_t off = (const char *)t - (const char *)tokens;
	long k = (long)(off / (ptrdiff_t)sizeof(tokens[0]));

	REQUIRE(off >= 0 && off % (ptrdiff_t)sizeof(tokens[0]) == 0 && k < MAX_TOKENS);
	REQUIRE(tokens[k].inflight);
	if (from_device)
		REQUIRE(len <= tokens[k].in_bytes);
	tokens[k].inflight = false;
}

static void check_accounting(const struct virtqueue *vq)
{
	static u8 seen[128];
	unsigned inflight = 0, slots = 0, mine = 0;
	u16 id = vq->free_head;

	memset(seen, 0, sizeof(seen));
	for (unsigned i = 0; i < vq->num; i++)
		if (vq->desc_state[i].data) {
			seen[i] = 1;
			inflight++;
			slots += vq->desc_state[i].ndescs;
		}
	for (unsigned n = inflight; n < vq->num; n++) {
		REQUIRE(id < vq->num && !seen[id]);
		seen[id] = 1;
		id = vq->desc_state[id].next;
	}
	REQUIRE(slots + vq->num_free == vq->num);
	/* the next used slot never passes the next available one */
	REQUIRE((u16)(vq->avail_idx_shadow - vq->last_used_idx) <= vq->num);
	for (unsigned k = 0; k < MAX_TOKENS; k++)
		mine += tokens[k].inflight;
	REQUIRE(mine == inflight);
}

static void drain(struct virtqueue *vq, unsigned max)
{
	unsigned len;
	void *t;

	for (unsigned n = 0; n < max && (t = virtqueue_get_buf(vq, &len)); n++)
		give_back(t, len, true);
}

static void detach_all(struct virtqueue *vq)
{
	void *t;

	while ((t = virtqueue_detach_unused_buf(vq)))
		give_back(t, 0, false);
}

static void post(struct virtqueue *vq, struct input *in)
{
	unsigned a = take(in, 1), pieces = 1 + a % 16, nout = (a / 16) % (pieces + 1), k;
	struct scatterlist sg[16];
	u32 in_bytes = 0;
	int err;

	for (k = 0; k < MAX_TOKENS && tokens[k].inflight; k++)
		;
	if (k == MAX_TOKENS)
		return;
	for (unsigned i = 0; i < pieces; i++) {
		sg[i].addr = arena[k][i];
		sg[i].len = 1 + take(in, 1);
		if (i >= nout)
			in_bytes += sg[i].len;
	}
	err = virtqueue_add_sgs(vq, sg, nout, pieces - nout, &tokens[k]);
	if (virtqueue_is_broken(vq))
		REQUIRE(err == -EIO);
	if (err == 0) {
		tokens[k].inflight = true;
		tokens[k].in_bytes = in_bytes;
	}
}

/* An honest completion of the k-th buffer in flight: its id, its step, any length. */
static void complete(struct virtqueue *vq, struct psim_device *d, unsigned k, u32 len)
{
	for (unsigned id = 0; id < vq->num; id++)
		if (vq->desc_state[id].data && k-- == 0) {
			psim_push(d, (u16)id, len, vq->desc_state[id].ndescs);
			return;
		}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	unsigned mode = take(&in, 1);
	struct virtqueue *vq;
	struct psim_device d;
	struct vring_snapshot snap;
	static u8 owner[128];

	host_quiet = 1;
	memset(tokens, 0, sizeof(tokens));
	vq = vring_create_virtqueue_packed(0, 1u << (mode & 7), mode & 8, mode & 16, f_notify, f_callback, "fz");
	REQUIRE(vq);
	psim_attach(&d, vq);
	while (in.left) {
		unsigned op = take(&in, 1) % 16, a, b;

		switch (op) {
		case 0:
			post(vq, &in);
			break;
		case 1:
			virtqueue_kick(vq);
			break;
		case 2:
			drain(vq, take(&in, 1));
			break;
		case 3:
			a = take(&in, 1);
			complete(vq, &d, a, take(&in, 2));
			break;
		case 4:
			a = take(&in, 2);
			b = take(&in, 4);
			psim_push(&d, (u16)a, b, (u16)(take(&in, 1) % 4));
			break;
		case 5:
			a = take(&in, 2);
			vq->pdesc[take(&in, 1) % vq->num].flags = (u16)a;
			break;
		case 6:
			d.device_event->off_wrap = (u16)take(&in, 2);
			d.device_event->flags = (u16)take(&in, 1);
			break;
		case 7:
			virtqueue_disable_cb(vq);
			break;
		case 8:
			virtqueue_enable_cb(vq);
			break;
		case 9:
			virtqueue_enable_cb_delayed(vq);
			break;
		case 10:
			vring_interrupt(vq);
			break;
		case 11:
			psim_flush(&d);
			break;
		case 12:
			detach_all(vq);
			vring_reset(vq);
			psim_attach(&d, vq);
			break;
		case 13:
			virtqueue_snapshot(vq, &snap);
			REQUIRE(snap.num_free == vq->num_free);
			REQUIRE((u16)(snap.used_idx - snap.last_used) <= (u16)(snap.avail_idx - snap.last_used));
			virtqueue_desc_owners(vq, (u16)(snap.used_idx - snap.last_used), owner);
			break;
		case 14:
			psim_enable_notify(&d);
			break;
		default:
			psim_disable_notify(&d);
		}
		check_accounting(vq);
	}
	drain(vq, vq->num);
	detach_all(vq);
	for (unsigned k = 0; k < MAX_TOKENS; k++)
		REQUIRE(!tokens[k].inflight);
	REQUIRE(vq->num_free == vq->num);
	vring_del_virtqueue(vq);
	REQUIRE(host_dma_live == 0);
	return 0;
}
