/*
 * tests/unit/test_net_eth.c - Ethernet receive filtering and demultiplexing (one test per
 * drop reason) and output (header, padding, headroom).
 */
#include "tests/unit/kernel_harness.h"
#include "tests/unit/net_harness.h"
#include "tests/unit/unit.h"

static const u8 other_mac[6] = { 0x02, 0, 0, 0, 0, 0x99 };
static const u8 mcast_mac[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 };

/* An ARP request for our address: accepted frames produce exactly one reply. */
static struct netbuf *arp_frame(const u8 *dst, const u8 *src)
{
	u8 a[28];

	h_arp(a, ARPOP_REQUEST, src, h_peer_ip, (const u8[6]){ 0 }, h_our_ip);
	return h_frame(dst, src, ETH_P_ARP, a, sizeof(a));
}

static void test_accepts_unicast_and_broadcast(void)
{
	h_setup(NULL, NULL);
	h_inject(arp_frame(h_our_mac, h_peer_mac));
	h_inject(arp_frame(eth_broadcast_addr, h_peer_mac));
	CHECK_EQ(eth_stats.rx_frames, 2);
	CHECK_EQ(eth_stats.rx_arp, 2);
	CHECK_EQ(h_ntx, 2);
	CHECK_EQ(h_leaked(), 0);
}

static void test_drop_reasons(void)
{
	struct netbuf *runt;

	h_setup(NULL, NULL);
	h_inject(arp_frame(other_mac, h_peer_mac));
	CHECK_EQ(eth_stats.rx_not_for_us, 1);
	h_inject(arp_frame(mcast_mac, h_peer_mac));
	CHECK_EQ(eth_stats.rx_multicast, 1);
	h_inject(arp_frame(h_our_mac, mcast_mac)); /* group address as source */
	h_inject(arp_frame(h_our_mac, h_our_mac)); /* our own frame looped back */
	CHECK_EQ(eth_stats.rx_bad_source, 2);
	h_inject(h_frame(h_our_mac, h_peer_mac, 0x05dc, "x", 1)); /* an 802.3 length */
	CHECK_EQ(eth_stats.rx_802_3, 1);
	h_inject(h_frame(h_our_mac, h_peer_mac, 0x86dd, "x", 1)); /* IPv6: not ours */
	h_inject(h_frame(h_our_mac, h_peer_mac, 0x88b5, "x", 1));
	CHECK_EQ(eth_stats.rx_unknown_ethertype, 2);
	runt = h_frame(h_our_mac, h_peer_mac, ETH_P_ARP, NULL, 0);
	netbuf_trim(runt, 13);
	h_inject(runt);
	CHECK_EQ(eth_stats.rx_runt, 1);
	/* the header alone (14 bytes) is a whole Ethernet frame: its empty IPv4 packet is too
	 * short for IPv4, and counted there, not here */
	u64 ip_runts = ipv4_stats.rx_runt;
	h_inject(h_frame(h_our_mac, h_peer_mac, ETH_P_IP, NULL, 0));
	CHECK_EQ(eth_stats.rx_runt, 1);
	CHECK_EQ(ipv4_stats.rx_runt, ip_runts + 1);
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(h_leaked(), 0);
}

static void test_other_device_dropped(void)
{
	struct net_device other = h_dev;

	h_setup(NULL, NULL);
	eth_input(&other, arp_frame(h_our_mac, h_peer_mac));
	CHECK_EQ(eth_stats.rx_other_device, 1);
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(h_leaked(), 0);
}

static void test_multicast_when_asked(void)
{
	h_setup(NULL, NULL);
	CHECK_EQ(eth_add_multicast(mcast_mac), 0);
	CHECK_EQ(eth_add_multicast(mcast_mac), 0); /* twice is once */
	h_inject(arp_frame(mcast_mac, h_peer_mac));
	CHECK_EQ(eth_stats.rx_multicast, 0);
	CHECK_EQ(eth_stats.rx_arp, 1);
	for (u8 i = 2; i <= ETH_MCAST_MAX; i++)
		CHECK_EQ(eth_add_multicast((const u8[6]){ 0x01, 0, 0x5e, 0, 0, i }), 0);
	CHECK_EQ(eth_add_multicast((const u8[6]){ 0x01, 0, 0x5e, 0, 0, 0x77 }), -ENOSPC);
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

static struct {
	unsigned calls;
	bool nb_flag, meta_flag;
} seen;

static void note_link_multicast(void *ctx, struct netbuf *nb, const struct udp_meta *m)
{
	seen.calls++;
	seen.nb_flag = nb->link_multicast;
	seen.meta_flag = m->link_multicast;
	netbuf_free(nb);
}

/* eth_input says on the buffer whether the frame went to a group MAC (broadcast or a
 * multicast group we asked for), and UDP hands it on in udp_meta. */
static void test_link_multicast_flag(void)
{
	const u8 *const dests[] = { h_our_mac, eth_broadcast_addr, mcast_mac, h_our_mac };
	static u8 seg[64], pkt[128];
	struct netbuf *nb;
	unsigned n;

	h_setup(NULL, NULL);
	CHECK_EQ(eth_add_multicast(mcast_mac), 0);
	CHECK_EQ(udp_bind(5000, note_link_multicast, NULL), 5000);
	n = h_udp(seg, h_peer_ip, h_our_ip, 1234, 5000, "x", 1, true);
	n = h_ipv4(pkt, h_peer_ip, h_our_ip, IPPROTO_UDP, seg, n);
	for (unsigned i = 0; i < ARRAY_SIZE(dests); i++) {
		memset(&seen, 0, sizeof(seen));
		nb = h_frame(dests[i], h_peer_mac, ETH_P_IP, pkt, n);
		nb->link_multicast = !eth_is_multicast(dests[i]); /* whatever was there is overwritten */
		h_inject(nb);
		CHECK_EQ(seen.calls, 1);
		CHECK_EQ(seen.nb_flag, eth_is_multicast(dests[i]));
		CHECK_EQ(seen.meta_flag, eth_is_multicast(dests[i]));
	}
	/* a buffer from the pool starts without it */
	nb = netbuf_alloc();
	nb->link_multicast = true;
	netbuf_free(nb);
	nb = netbuf_alloc();
	CHECK(!nb->link_multicast);
	netbuf_free(nb);
	CHECK_EQ(h_leaked(), 0);
}

static void test_output_header_and_padding(void)
{
	struct netbuf *nb;
	const u8 *p;

	h_setup(NULL, NULL);
	nb = netbuf_alloc();
	memcpy(netbuf_put(nb, 3), "abc", 3);
	CHECK_EQ(eth_output(&h_dev, nb, h_peer_mac, 0x1234), 0);
	CHECK_EQ(h_ntx, 1);
	CHECK_EQ(h_len(0), ETH_ZLEN);
	p = h_tx[0]->data;
	CHECK_MEM(p, h_peer_mac, 6);
	CHECK_MEM(p + 6, h_our_mac, 6);
	CHECK(p[12] == 0x12 && p[13] == 0x34);
	CHECK_MEM(p + 14, "abc", 3);
	for (unsigned i = 17; i < ETH_ZLEN; i++)
		CHECK_EQ(p[i], 0);
	/* a long frame is not padded */
	nb = netbuf_alloc();
	netbuf_put(nb, 100);
	eth_output(&h_dev, nb, h_peer_mac, 0x1234);
	CHECK_EQ(h_len(1), 114);
	CHECK_EQ(eth_stats.tx_frames, 2);
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

static void test_output_without_headroom(void)
{
	struct netbuf *nb;

	h_setup(NULL, NULL);
	nb = netbuf_alloc();
	netbuf_reset(nb, 10);
	netbuf_put(nb, 20);
	CHECK_EQ(eth_output(&h_dev, nb, h_peer_mac, ETH_P_IP), -ENOBUFS);
	CHECK_EQ(eth_stats.tx_no_headroom, 1);
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(h_leaked(), 0);
}

static void test_output_link_down(void)
{
	struct netbuf *nb;

	h_setup(NULL, NULL);
	h_dev.carrier = false;
	nb = netbuf_alloc();
	netbuf_put(nb, 50);
	CHECK(eth_output(&h_dev, nb, h_peer_mac, ETH_P_IP) < 0);
	CHECK_EQ(eth_stats.tx_dropped, 1);
	h_dev.carrier = true;
	CHECK_EQ(h_leaked(), 0);
}

static enum netdev_tx busy_xmit(struct netbuf *nb, struct net_device *dev) { return NETDEV_TX_BUSY; }

/* n frames sent through a device whose ring is full: each waits in the backlog. */
static void fill_backlog(unsigned n)
{
	static const struct net_device_ops busy_ops = { .ndo_start_xmit = busy_xmit };
	const struct net_device_ops *ops = h_dev.ops;

	h_dev.ops = &busy_ops;
	for (unsigned i = 0; i < n; i++) {
		struct netbuf *nb = netbuf_alloc();

		netbuf_put(nb, 50);
		CHECK_EQ(eth_output(&h_dev, nb, h_peer_mac, ETH_P_IP), 0);
	}
	h_dev.ops = ops;
	CHECK_EQ(h_dev.tx_backlog.len, n);
}

/* Frames the Ethernet layer counted as sent and that then die in the backlog are counted
 * there: the link going down (tx_carrier_drop), a retry finding the link down or the device
 * detached (tx_carrier_drop, tx_detached_drop), the device detached (tx_detached_drop). */
static void test_backlog_drops_counted(void)
{
	struct netdev_stats before;

	h_setup(NULL, NULL);
	before = h_dev.stats;
	fill_backlog(3);
	CHECK_EQ(eth_stats.tx_frames, 3);
	netif_carrier_off(&h_dev);
	CHECK_EQ(h_dev.tx_backlog.len, 0);
	CHECK_EQ(h_dev.stats.tx_carrier_drop - before.tx_carrier_drop, 3);
	netif_carrier_on(&h_dev);
	h_clear_tx(); /* the gratuitous ARP of the link coming up */

	fill_backlog(2);
	h_dev.carrier = false; /* as seen by a retry before the link handler ran */
	netif_wake_queue(&h_dev);
	h_dev.carrier = true;
	CHECK_EQ(h_dev.tx_backlog.len, 0);
	CHECK_EQ(h_dev.stats.tx_carrier_drop - before.tx_carrier_drop, 5);

	fill_backlog(4);
	h_dev.detached = true;
	netif_wake_queue(&h_dev);
	h_dev.detached = false;
	CHECK_EQ(h_dev.tx_backlog.len, 0);
	CHECK_EQ(h_dev.stats.tx_detached_drop - before.tx_detached_drop, 4);

	fill_backlog(1);
	netif_device_detach(&h_dev);
	netif_device_attach(&h_dev);
	CHECK_EQ(h_dev.stats.tx_detached_drop - before.tx_detached_drop, 5);
	CHECK_EQ(h_dev.stats.tx_carrier_drop - before.tx_carrier_drop, 5);
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(h_leaked(), 0);
}

int main(void)
{
	RUN(test_accepts_unicast_and_broadcast);
	RUN(test_drop_reasons);
	RUN(test_other_device_dropped);
	RUN(test_multicast_when_asked);
	RUN(test_link_multicast_flag);
	RUN(test_output_header_and_padding);
	RUN(test_output_without_headroom);
	RUN(test_output_link_down);
	RUN(test_backlog_drops_counted);
	return unit_summary("net_eth");
}
