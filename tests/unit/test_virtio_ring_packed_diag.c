/*
 * tests/unit/test_virtio_ring_packed_diag.c - the packed ring's view for diagnostics
 * (virtqueue_desc_owners on a packed queue, drivers/virtio/virtio_ring_packed.c), which the
 * vring command prints: each slot free, posted to the device, or used by it and not yet taken
 * back, checked against a ring whose state the test built with the simulated packed device.
 * Written for the survivors of make mutate (docs/testing.md).
 */
#include <string.h>

#include "drivers/virtio/virtio_ring.h"
#include "tests/unit/kernel_harness.h"
#include "tests/unit/sim_packed_harness.h"
#include "tests/unit/unit.h"

static int tok[8];
static u8 bytes[8][64];

static bool t_notify(struct virtqueue *vq) { (void)vq; return true; }
static void t_callback(struct virtqueue *vq) { (void)vq; }

/* Three one-slot buffers posted in slots 0, 1, 2; the device uses the first two. */
static void test_packed_owners(void)
{
	struct virtqueue *vq = vring_create_virtqueue_packed(0, 8, false, false, t_notify, t_callback, "pdiag");
	struct psim_device d;
	struct psim_buf b;
	struct scatterlist sg;
	u8 owner[8];
	unsigned len;

	CHECK(vq != NULL);
	if (!vq)
		return;
	psim_attach(&d, vq);
	for (int i = 0; i < 3; i++) {
		sg.addr = bytes[i];
		sg.len = 60;
		CHECK_EQ(virtqueue_add_outbuf(vq, &sg, 1, &tok[i]), 0);
	}
	virtqueue_kick(vq);
	virtqueue_desc_owners(vq, 0, owner);
	for (int i = 0; i < 8; i++)
		CHECK_EQ(owner[i], i < 3 ? VRING_DESC_POSTED : VRING_DESC_FREE);
	for (int i = 0; i < 2; i++) {
		CHECK(psim_pop(&d, &b));
		psim_push(&d, (u16)b.b.head, 0, b.ndescs);
	}
	psim_flush(&d);
	virtqueue_desc_owners(vq, 2, owner);
	CHECK_EQ(owner[0], VRING_DESC_USED);
	CHECK_EQ(owner[1], VRING_DESC_USED);
	CHECK_EQ(owner[2], VRING_DESC_POSTED);
	for (int i = 3; i < 8; i++)
		CHECK_EQ(owner[i], VRING_DESC_FREE);
	/* one taken back: the next slot is the first one counted */
	CHECK(virtqueue_get_buf(vq, &len) == &tok[0]);
	virtqueue_desc_owners(vq, 1, owner);
	CHECK_EQ(owner[0], VRING_DESC_FREE);
	CHECK_EQ(owner[1], VRING_DESC_USED);
	CHECK_EQ(owner[2], VRING_DESC_POSTED);
	while (virtqueue_get_buf(vq, &len))
		;
	vring_del_virtqueue(vq);
	CHECK_EQ(host_dma_live, 0);
}

/* virtqueue_packed_view: the driver's wrap counters (virtio 1.2 2.8.1) start at 1 and flip
 * each time its position passes the end of the ring: after 8 one-slot buffers on a ring of 8,
 * the avail counter is 0, the used one still 1 until the device's 8 are taken back. */
static void test_packed_view_wrap(void)
{
	struct virtqueue *vq = vring_create_virtqueue_packed(0, 8, false, false, t_notify, t_callback, "pview");
	struct vring_packed_view v;
	struct psim_device d;
	struct scatterlist sg;
	unsigned len, n = 0;

	CHECK(vq != NULL);
	if (!vq)
		return;
	psim_attach(&d, vq);
	virtqueue_packed_view(vq, &v);
	CHECK(v.avail_wrap);
	CHECK(v.used_wrap);
	for (int i = 0; i < 8; i++) {
		sg.addr = bytes[i];
		sg.len = 60;
		CHECK_EQ(virtqueue_add_outbuf(vq, &sg, 1, &tok[i]), 0);
	}
	virtqueue_kick(vq);
	virtqueue_packed_view(vq, &v);
	CHECK(!v.avail_wrap);
	CHECK(v.used_wrap);
	CHECK_EQ(psim_complete(&d, 8, 0, NULL), 8);
	while (virtqueue_get_buf(vq, &len))
		n++;
	CHECK_EQ(n, 8);
	virtqueue_packed_view(vq, &v);
	CHECK(!v.used_wrap);
	vring_del_virtqueue(vq);
	CHECK_EQ(host_dma_live, 0);
}

int main(void)
{
	RUN(test_packed_owners);
	RUN(test_packed_view_wrap);
	return unit_summary("virtio_ring_packed_diag");
}
