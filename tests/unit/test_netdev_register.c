/*
 * tests/unit/test_netdev_register.c - net/netdev.c's contract with drivers (net/netdev.h):
 * register_netdev names, opens and announces a device, refuses one past NET_MAX_DEVICES and
 * one the buffer pool cannot serve (and then holds no slot for it); ndo_flush once per burst;
 * net_stall's pause ends when its time is up. And net/netbuf.c's buffer operations as
 * net/netbuf.h states them. Fake NICs; the pool is created here by the first register_netdev,
 * so the tests run in order on one pool. Written for the survivors of make mutate
 * (docs/testing.md).
 */
#include <string.h>

#include "tests/unit/kernel_harness.h"
#include "tests/unit/unit.h"
#include "kernel/errno.h"
#include "kernel/time.h"
#include "net/netdev.h"

struct fake_nic {
	struct net_device dev;
	unsigned opened, flushed, sent;
};

static enum netdev_tx fake_xmit(struct netbuf *nb, struct net_device *dev)
{
	struct fake_nic *n = dev->priv;

	n->sent++;
	netbuf_free(nb);
	return NETDEV_TX_OK;
}

static int fake_open(struct net_device *dev)
{
	((struct fake_nic *)dev->priv)->opened++;
	return 0;
}

static void fake_flush(struct net_device *dev) { ((struct fake_nic *)dev->priv)->flushed++; }

static const struct net_device_ops fake_ops = {
	.ndo_open = fake_open, .ndo_start_xmit = fake_xmit, .ndo_flush = fake_flush,
};

static struct fake_nic nics[NET_MAX_DEVICES + 1];

static void fake_init(struct fake_nic *n, const u8 *mac)
{
	memset(n, 0, sizeof(*n));
	n->dev.priv = n;
	n->dev.ops = &fake_ops;
	n->dev.driver_name = "fake";
	n->dev.mtu = 1500;
	n->dev.carrier = true;
	n->dev.rx_ring_size = n->dev.tx_ring_size = 16;
	n->dev.rx_buf_len = 1500 + ETH_HLEN;
	memcpy(n->dev.mac, mac, ETH_ALEN);
}

/* The pool cannot be made (buffers too large for it; no DMA memory): the device is refused
 * with the pool's error and holds no slot; the next one is eth0. */
static void test_register_refused_without_memory(void)
{
	static const u8 mac[ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0x01 };

	fake_init(&nics[0], mac);
	nics[0].dev.rx_buf_len = 300 * 1024; /* buffers larger than the pool can make */
	CHECK_EQ(register_netdev(&nics[0].dev), -EINVAL);
	CHECK_EQ(netdev_count(), 0);
	fake_init(&nics[0], mac);
	host_dma_fail_after = 0;
	CHECK_EQ(register_netdev(&nics[0].dev), -ENOMEM);
	host_dma_fail_after = -1;
	CHECK_EQ(netdev_count(), 0);
	CHECK(netdev_get(0) == NULL);
	CHECK_EQ(nics[0].opened, 0);
}

/* Registered: named ethN in order, opened once, up, and announced with its MAC (every byte in
 * its place), MTU and link; the fifth is refused (-ENOSPC) and not opened. */
static void test_register_names_opens_announces(void)
{
	static const u8 mac[ETH_ALEN] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };

	for (unsigned i = 0; i < NET_MAX_DEVICES; i++) {
		char want[128];
		u8 m[ETH_ALEN];

		memcpy(m, mac, ETH_ALEN);
		m[5] = (u8)(mac[5] + i);
		fake_init(&nics[i], m);
		nics[i].dev.carrier = i != 1;
		host_log_clear();
		CHECK_EQ(register_netdev(&nics[i].dev), 0);
		CHECK_EQ(nics[i].opened, 1);
		CHECK(nics[i].dev.up);
		CHECK(netdev_get((int)i) == &nics[i].dev);
		snprintf(want, sizeof(want), "eth%u: registered, driver fake, mac 52:54:00:ab:cd:%02x, mtu 1500, link %s\n",
			 i, m[5], i != 1 ? "up" : "down");
		CHECK_STR(host_log, want);
	}
	CHECK_EQ(netdev_count(), NET_MAX_DEVICES);
	fake_init(&nics[NET_MAX_DEVICES], mac);
	CHECK_EQ(register_netdev(&nics[NET_MAX_DEVICES].dev), -ENOSPC);
	CHECK_EQ(nics[NET_MAX_DEVICES].opened, 0);
	CHECK(netdev_get(NET_MAX_DEVICES) == NULL);
}

static void send_one(struct fake_nic *n)
{
	struct netbuf *nb = netbuf_alloc();

	CHECK(nb != NULL);
	if (!nb)
		return;
	memset(netbuf_put(nb, 60), 0, 60);
	CHECK_EQ(dev_queue_xmit(&n->dev, nb), 0);
}

/* A driver without ndo_set_mac_address cannot change its address: -EOPNOTSUPP, the MAC as it
 * was. */
static void test_set_mac_unsupported(void)
{
	static const u8 mac[ETH_ALEN] = { 0x02, 0x99, 0x88, 0x77, 0x66, 0x55 };
	u8 before[ETH_ALEN];

	memcpy(before, nics[0].dev.mac, ETH_ALEN);
	CHECK_EQ(dev_set_mac_address(&nics[0].dev, mac), -EOPNOTSUPP);
	CHECK_MEM(nics[0].dev.mac, before, ETH_ALEN);
}

/* ndo_flush: once after a burst of frames, not again on the next polls with nothing sent. */
static void test_flush_once_per_burst(void)
{
	struct fake_nic *n = &nics[0];

	send_one(n);
	send_one(n);
	CHECK_EQ(n->sent, 2);
	net_poll();
	CHECK_EQ(n->flushed, 1);
	net_poll();
	net_poll();
	CHECK_EQ(n->flushed, 1);
	send_one(n);
	net_poll();
	CHECK_EQ(n->flushed, 2);
}

/* net_stall(ms): no polling until ms have passed, polling again the moment they have. */
static void test_stall_ends_on_time(void)
{
	struct fake_nic *n = &nics[0];

	host_now_ns = 1000 * NSEC_PER_MSEC;
	net_stall(20);
	send_one(n);
	host_now_ns += 20 * NSEC_PER_MSEC - 1;
	host_log_clear();
	net_poll();
	CHECK_EQ(n->flushed, 2); /* still stalled */
	host_now_ns += 1;
	net_poll();
	CHECK_EQ(n->flushed, 3);
	CHECK(strstr(host_log, "net: stall over, polling again\n") != NULL);
}

/* netbuf_pull returns where the data starts now (NULL when there is less than asked); a buffer
 * from netbuf_alloc carries no checksum request of an earlier user (netbuf.h: the stack reads
 * csum_start only with PARTIAL; a reused buffer starts clean all the same). */
static void test_netbuf_pull_and_reset(void)
{
	struct netbuf *nb = netbuf_alloc();
	u8 *start;

	CHECK(nb != NULL);
	if (!nb)
		return;
	start = netbuf_put(nb, netbuf_tailroom(nb)); /* all the room there is */
	CHECK(start != NULL);
	CHECK_EQ(netbuf_tailroom(nb), 0);
	CHECK(netbuf_put(nb, 1) == NULL);
	netbuf_reset(nb, NETBUF_HEADROOM);
	start = netbuf_put(nb, 40);
	CHECK(netbuf_pull(nb, 14) == start + 14);
	CHECK(nb->data == start + 14);
	CHECK(netbuf_pull(nb, 27) == NULL);
	CHECK(netbuf_pull(nb, 26) == start + 40);
	nb->ip_summed = NETBUF_CSUM_PARTIAL;
	nb->csum_start = 150;
	nb->csum_offset = 6;
	nb->network_off = 142;
	nb->transport_off = 162;
	netbuf_reset(nb, NETBUF_HEADROOM);
	CHECK_EQ(nb->network_off, 0);
	CHECK_EQ(nb->transport_off, 0);
	CHECK_EQ(nb->ip_summed, NETBUF_CSUM_NONE);
	CHECK_EQ(nb->csum_start, 0);
	CHECK_EQ(nb->csum_offset, 0);
	CHECK(nb->data == nb->head + NETBUF_HEADROOM);
	netbuf_free(nb);
}

int main(void)
{
	host_quiet = 1;
	RUN(test_register_refused_without_memory);
	RUN(test_register_names_opens_announces);
	RUN(test_set_mac_unsupported);
	RUN(test_flush_once_per_burst);
	RUN(test_stall_ends_on_time);
	RUN(test_netbuf_pull_and_reset);
	return unit_summary("netdev_register");
}
