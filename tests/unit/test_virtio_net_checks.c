/*
 * tests/unit/test_virtio_net_checks.c - the virtio-net driver's paths that the scenario tests
 * (test_virtio_net.c) went through without looking: the order of DRIVER_OK and the first
 * notification, the interrupt counter, a frame without headroom, the descriptor layout of
 * transmitted frames and posted receive buffers with and without ANY_LAYOUT, one kick per
 * burst, the transmit reclaim timer that runs while frames are in flight, a multicast device
 * MAC, the vnet_rxbuf bounds, and what remove gives back. Written for the survivors of make mutate (docs/testing.md).
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function" /* harness helpers these tests do not use */
#include "tests/unit/virtnet_harness.c" /* #included, not linked: the driver's statics */
#pragma GCC diagnostic pop
#include "tests/unit/unit.h"

static struct virtnet_info *vi(void) { return vh_vi(); }

static void finish(void) { CHECK(vh_teardown_clean()); }

static bool start_with(u64 drop, bool legacy)
{
	struct vh_config c;

	vh_default_config(&c);
	c.features &= ~drop;
	if (legacy) {
		c.legacy = true;
		c.features &= ~(BIT_ULL(VIRTIO_F_VERSION_1) | BIT_ULL(VIRTIO_NET_F_MRG_RXBUF) |
				BIT_ULL(VIRTIO_F_ANY_LAYOUT));
	}
	vh_start(&c);
	CHECK(vh_bound());
	return vh_bound();
}

static bool start(bool legacy) { return start_with(0, legacy); }

/* A 60-byte frame to the broadcast address with a pattern, headroom as the pool gives it. */
static struct netbuf *frame(u8 seed)
{
	struct netbuf *nb = netbuf_alloc();
	u8 *p;

	CHECK(nb != NULL);
	if (!nb)
		return NULL;
	p = netbuf_put(nb, 60);
	memset(p, 0xff, ETH_ALEN);
	memcpy(p + ETH_ALEN, vi()->dev.mac, ETH_ALEN);
	for (unsigned i = 12; i < 60; i++)
		p[i] = (u8)(seed + i);
	return nb;
}

static bool frame_is(unsigned i, u8 seed)
{
	unsigned len;
	const u8 *f = vh_tx(i, &len);

	if (len != 60)
		return false;
	for (unsigned k = 12; k < 60; k++)
		if (f[k] != (u8)(seed + k))
			return false;
	return true;
}

/* 3.1.1 step 8: DRIVER_OK before the device is used; the receive queue is filled and kicked
 * only after it (the core would set DRIVER_OK after probe anyway: too late for that kick). */
static void test_driver_ok_before_first_kick(void)
{
	if (!start(false))
		return;
	CHECK(vh.status & VIRTIO_CONFIG_S_DRIVER_OK);
	CHECK(vh.kicks[RX_VQ] >= 1);
	CHECK_EQ(vh.kicks_before_driver_ok, 0);
	finish();
}

/* Every interrupt the driver takes counts once in the device's irqs (netstat), receive
 * interrupts in rx_interrupts. */
static void test_interrupts_counted(void)
{
	static const u8 f[60] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x88, 0xb5 };
	u64 irqs, rx_irqs, tx_irqs;

	if (!start(false))
		return;
	irqs = vi()->dev.stats.irqs;
	rx_irqs = vi()->stats.rx_interrupts;
	tx_irqs = vi()->stats.tx_interrupts;
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(vh_rx_frame(f, sizeof(f)), 1);
		vh_poll();
	}
	CHECK(vi()->stats.rx_interrupts - rx_irqs >= 1);
	CHECK_EQ(vi()->dev.stats.irqs - irqs,
		 (vi()->stats.rx_interrupts - rx_irqs) + (vi()->stats.tx_interrupts - tx_irqs));
	finish();
}

/* A frame with less headroom than the header: dropped and counted, never half-queued. */
static void test_tx_without_headroom(void)
{
	struct netbuf *nb;
	struct netbuf_stats before, after;

	if (!start(false))
		return;
	nb = frame(1);
	if (!nb)
		return;
	netbuf_push(nb, netbuf_headroom(nb) - (vi()->hdr_len - 1)); /* hdr_len - 1 bytes left */
	netbuf_get_stats(&before);
	CHECK_EQ(vi()->dev.ops->ndo_start_xmit(nb, &vi()->dev), NETDEV_TX_OK);
	netbuf_get_stats(&after);
	CHECK_EQ(vi()->stats.tx_no_headroom, 1);
	CHECK_EQ(vi()->stats.tx_frames, 0);
	CHECK_EQ(vi()->tx_inflight, 0);
	CHECK_EQ(after.in_use, before.in_use - 1); /* freed by the driver */
	vi()->dev.ops->ndo_flush(&vi()->dev);
	CHECK_EQ(vh_tx_complete(64), 0);
	CHECK_EQ(vh_leaked(), 0);
	finish();
}

/* 5.1.6.6 / 2.7.4.1: with VERSION_1 (any layout, whether or not ANY_LAYOUT is offered too)
 * header and frame go in one descriptor; a legacy device without ANY_LAYOUT gets the header in
 * a descriptor of its own, on transmit and in each posted receive buffer. One burst, one kick
 * (the device asks for notifications); a flush with nothing new queued kicks nobody. */
static void check_layout(u64 drop, bool legacy, unsigned nsegs)
{
	unsigned kicks;
	u16 head;
	const struct vring_desc *d;

	if (!start_with(drop, legacy))
		return;
	head = vi()->rvq->avail->ring[0];
	d = &vi()->rvq->desc[head];
	CHECK_EQ((d->flags & VRING_DESC_F_INDIRECT) ? d->len / sizeof(*d) : (d->flags & VRING_DESC_F_NEXT) ? 2 : 1,
		 nsegs); /* a receive buffer: header and frame in one descriptor or two */
	kicks = vh.kicks[TX_VQ];
	for (u8 i = 0; i < 3; i++)
		CHECK_EQ(vi()->dev.ops->ndo_start_xmit(frame(i), &vi()->dev), NETDEV_TX_OK);
	vi()->dev.ops->ndo_flush(&vi()->dev);
	CHECK_EQ(vh.kicks[TX_VQ], kicks + 1);
	CHECK_EQ(vi()->stats.tx_kicks, 1);
	vi()->dev.ops->ndo_flush(&vi()->dev);
	CHECK_EQ(vh.kicks[TX_VQ], kicks + 1);
	CHECK_EQ(vh_tx_complete(64), 3);
	CHECK_EQ(vh.tx_hdr_bad, 0);
	for (u8 i = 0; i < 3; i++) {
		CHECK_EQ(vh.tx_nsegs[i], nsegs);
		CHECK(frame_is(i, i));
	}
	vh_poll();
	finish();
}

static void test_layout_version_1(void) { check_layout(0, false, 1); }
static void test_layout_version_1_without_any_layout(void)
{
	check_layout(BIT_ULL(VIRTIO_F_ANY_LAYOUT), false, 1);
}
static void test_layout_legacy(void) { check_layout(0, true, 2); }

/* A device MAC that is not unicast: said with its bytes in order, replaced by a random
 * locally administered unicast one. */
static void test_multicast_device_mac_replaced(void)
{
	struct vh_config c;
	static const u8 bad[ETH_ALEN] = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab };

	vh_default_config(&c);
	memcpy(c.mac, bad, ETH_ALEN);
	vh_start(&c);
	CHECK(vh_bound());
	if (!vh_bound())
		return;
	CHECK(strstr(host_log, "device MAC 01:23:45:67:89:ab is not a unicast address; using a random one"));
	CHECK_EQ(vi()->dev.mac[0] & 3, 2);
	CHECK(memcmp(vi()->dev.mac, bad, ETH_ALEN) != 0);
	finish();
}

/* vnet_rxbuf=N takes 64 up to one below the whole buffer, and says so when it ignores one. */
static void check_rxbuf(const char *n, unsigned want, bool ignored)
{
	h_set_cmdline("vnet_rxbuf", n);
	if (start(false)) {
		CHECK_EQ(vi()->rx_buf_len, want);
		CHECK_EQ(strstr(host_log, "ignored (64..") != NULL, ignored);
		finish();
	}
	h_set_cmdline("vnet_rxbuf", NULL);
}

static void test_rxbuf_bounds(void)
{
	unsigned whole = netbuf_buf_size() - NETBUF_HEADROOM;
	char s[16];

	check_rxbuf("64", 64, false);
	check_rxbuf("63", whole, true);
	snprintf(s, sizeof(s), "%u", whole - 1);
	check_rxbuf(s, whole - 1, false);
	snprintf(s, sizeof(s), "%u", whole);
	check_rxbuf(s, whole, true);
}

/* remove hands every posted and in-flight buffer back and says so in its counts. */
static void test_remove_accounts_for_buffers(void)
{
	struct netbuf_stats ns;

	if (!start(false))
		return;
	CHECK_EQ(vi()->dev.rx_ring_size, vi()->rvq->num);
	CHECK_EQ(vi()->dev.tx_ring_size, vi()->svq->num);
	CHECK_EQ(vi()->dev.ops->ndo_start_xmit(frame(9), &vi()->dev), NETDEV_TX_OK);
	vi()->dev.ops->ndo_flush(&vi()->dev);
	CHECK(vi()->rx_posted > 0);
	CHECK_EQ(vi()->tx_inflight, 1);
	vh.vdev.driver->remove(&vh.vdev);
	vh.vdev.driver = NULL;
	CHECK_EQ(vi()->rx_posted, 0);
	CHECK_EQ(vi()->tx_inflight, 0);
	netbuf_get_stats(&ns);
	CHECK_EQ(ns.in_use, 0);
	finish();
}

/* The reclaim timer armed at the end of a burst looks again every TX_RECLAIM_NS while frames
 * are in flight, so frames the device completes late (no interrupt: transmit callbacks are
 * off) are still taken back; with nothing in flight it stops. */
static void test_tx_reclaim_rearms_while_in_flight(void)
{
	if (!start(false))
		return;
	for (u8 i = 0; i < 2; i++)
		CHECK_EQ(vi()->dev.ops->ndo_start_xmit(frame(i), &vi()->dev), NETDEV_TX_OK);
	vi()->dev.ops->ndo_flush(&vi()->dev);
	CHECK_EQ(vi()->tx_inflight, 2);
	CHECK(vi()->tx_reclaim.pending);
	h_advance_ns(TX_RECLAIM_NS); /* nothing completed yet */
	CHECK_EQ(vi()->tx_inflight, 2);
	CHECK(vi()->tx_reclaim.pending);
	CHECK_EQ(vh_tx_complete(64), 2);
	CHECK_EQ(vi()->tx_inflight, 2); /* no interrupt: only the timer takes them back */
	h_advance_ns(TX_RECLAIM_NS);
	CHECK_EQ(vi()->tx_inflight, 0);
	CHECK_EQ(vi()->stats.tx_completed, 2);
	CHECK(!vi()->tx_reclaim.pending);
	finish();
}

/* A steady trickle of bursts (one every half TX_RECLAIM_NS) does not postpone the reclaim:
 * frames the device completed are taken back TX_RECLAIM_NS after the burst that armed the
 * timer, not only once the sender pauses. */
static void test_tx_reclaim_not_postponed_by_later_bursts(void)
{
	if (!start(false))
		return;
	CHECK_EQ(vi()->dev.ops->ndo_start_xmit(frame(1), &vi()->dev), NETDEV_TX_OK);
	vi()->dev.ops->ndo_flush(&vi()->dev);
	CHECK_EQ(vh_tx_complete(64), 1);
	h_advance_ns(TX_RECLAIM_NS / 2);
	CHECK_EQ(vi()->dev.ops->ndo_start_xmit(frame(2), &vi()->dev), NETDEV_TX_OK);
	vi()->dev.ops->ndo_flush(&vi()->dev);
	CHECK_EQ(vh_tx_complete(64), 1); /* only the timer takes this one back */
	h_advance_ns(TX_RECLAIM_NS / 2);
	CHECK_EQ(vi()->stats.tx_completed, 2);
	CHECK_EQ(vi()->tx_inflight, 0);
	finish();
}

int main(void)
{
	RUN(test_driver_ok_before_first_kick);
	RUN(test_interrupts_counted);
	RUN(test_tx_without_headroom);
	RUN(test_layout_version_1);
	RUN(test_layout_version_1_without_any_layout);
	RUN(test_layout_legacy);
	RUN(test_multicast_device_mac_replaced);
	RUN(test_rxbuf_bounds);
	RUN(test_remove_accounts_for_buffers);
	RUN(test_tx_reclaim_rearms_while_in_flight);
	RUN(test_tx_reclaim_not_postponed_by_later_bursts);
	vh_teardown();
	return unit_summary("virtio_net_checks");
}
