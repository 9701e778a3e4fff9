/*
 * tests/unit/test_netdev_pool.c - the packet-buffer pool's sizing policy (net/netdev.h):
 * register_netdev sizes the pool from what each device states (ring sizes, receive buffer
 * length), so a second NIC with large rings fills them, the stack keeps its allowance, a
 * re-probe counts nothing twice, and a later device wanting larger buffers gets a smaller MTU.
 *
 * The devices are fake NICs whose "rings" are arrays of buffers. The tests run in order on
 * one pool, which starts empty (this binary creates it only through register_netdev).
 */
#include <string.h>

#include "tests/unit/kernel_harness.h"
#include "tests/unit/unit.h"
#include "net/netdev.h"

#define FAKE_MAX_RING 1024

struct fake_nic {
	struct net_device dev;
	struct netbuf *rx[FAKE_MAX_RING];
	struct netbuf *tx[FAKE_MAX_RING];
	unsigned rx_posted, tx_inflight;
};

static enum netdev_tx fake_xmit(struct netbuf *nb, struct net_device *dev)
{
	struct fake_nic *n = dev->priv;

	if (n->tx_inflight == dev->tx_ring_size)
		return NETDEV_TX_BUSY;
	n->tx[n->tx_inflight++] = nb;
	return NETDEV_TX_OK;
}

static const struct net_device_ops fake_ops = { .ndo_start_xmit = fake_xmit };

static struct fake_nic nic_a, nic_b, nic_c;

static unsigned pool_total(void)
{
	struct netbuf_stats st;

	netbuf_get_stats(&st);
	return (unsigned)st.total;
}

static unsigned pool_free(void)
{
	struct netbuf_stats st;

	netbuf_get_stats(&st);
	return (unsigned)st.free;
}

static int fake_register(struct fake_nic *n, unsigned ring, unsigned mtu)
{
	memset(n, 0, sizeof(*n));
	n->dev.priv = n;
	n->dev.ops = &fake_ops;
	n->dev.driver_name = "fake";
	n->dev.mtu = mtu;
	n->dev.carrier = true;
	n->dev.rx_ring_size = n->dev.tx_ring_size = ring;
	n->dev.rx_buf_len = mtu + ETH_HLEN;
	return register_netdev(&n->dev);
}

/* Post receive buffers until the ring is full or the pool is empty; true when full. */
static bool fill_rx(struct fake_nic *n)
{
	struct netbuf *nb;

	while (n->rx_posted < n->dev.rx_ring_size && (nb = netbuf_alloc()))
		n->rx[n->rx_posted++] = nb;
	return n->rx_posted == n->dev.rx_ring_size;
}

/* Send minimum-size frames until the transmit ring and then the backlog are full (the device
 * completes nothing); true when both are. */
static bool fill_tx_and_backlog(struct fake_nic *n)
{
	struct netbuf *nb;

	while (n->dev.tx_backlog.len < TX_BACKLOG_LIMIT && (nb = netbuf_alloc())) {
		memset(netbuf_put(nb, 60), 0, 60);
		dev_queue_xmit(&n->dev, nb);
	}
	return n->tx_inflight == n->dev.tx_ring_size && n->dev.tx_backlog.len == TX_BACKLOG_LIMIT;
}

/* What a driver's remove does: every buffer back to the pool. */
static void fake_teardown(struct fake_nic *n)
{
	while (n->rx_posted)
		netbuf_free(n->rx[--n->rx_posted]);
	while (n->tx_inflight)
		netbuf_free(n->tx[--n->tx_inflight]);
	netbuf_queue_purge(&n->dev.tx_backlog);
}

/* The first device creates the pool: its rings, its backlog, the stack's allowance. */
static void test_first_device_sizes_pool(void)
{
	CHECK_EQ(pool_total(), 0);
	CHECK_EQ(fake_register(&nic_a, 256, ETH_DATA_LEN), 0);
	CHECK_EQ(netbuf_buf_size(), NETBUF_DEFAULT_SIZE);
	CHECK_EQ(pool_total(), 256 + 256 + TX_BACKLOG_LIMIT + NET_STACK_BUFS);
	CHECK(fill_rx(&nic_a));
	CHECK(fill_tx_and_backlog(&nic_a));
	CHECK_EQ(pool_free(), NET_STACK_BUFS);
}

/* A second NIC with 1024-entry rings: the pool grows for it, both NICs' rings and backlogs are
 * full at once, and the stack still has its allowance. */
static void test_second_device_large_rings(void)
{
	CHECK_EQ(fake_register(&nic_b, 1024, ETH_DATA_LEN), 0);
	CHECK_EQ(pool_total(), 256 + 256 + 1024 + 1024 + 2 * TX_BACKLOG_LIMIT + NET_STACK_BUFS);
	CHECK(fill_rx(&nic_b));
	CHECK(fill_tx_and_backlog(&nic_b));
	CHECK_EQ(nic_a.rx_posted, 256);
	CHECK_EQ(nic_b.rx_posted, 1024);
	CHECK_EQ(nic_b.tx_inflight, 1024);
	CHECK_EQ(pool_free(), NET_STACK_BUFS);
}

/* netreset: the device gives every buffer back and its driver restates the same needs; the
 * pool neither grows (counted twice) nor loses any (leaked), and the rings fill again. */
static void test_reprobe_counts_nothing_twice(void)
{
	unsigned total = pool_total();

	for (int round = 0; round < 3; round++) {
		fake_teardown(&nic_b);
		CHECK_EQ(pool_free(), NET_STACK_BUFS + 1024 + 1024 + TX_BACKLOG_LIMIT);
		CHECK_EQ(netdev_reserve_buffers(&nic_b.dev), 0);
		CHECK_EQ(pool_total(), total);
		CHECK(fill_rx(&nic_b));
		CHECK(fill_tx_and_backlog(&nic_b));
		CHECK_EQ(pool_free(), NET_STACK_BUFS);
	}
	/* probed again with smaller rings: the pool keeps its buffers (it never shrinks) */
	fake_teardown(&nic_b);
	nic_b.dev.rx_ring_size = nic_b.dev.tx_ring_size = 512;
	CHECK_EQ(netdev_reserve_buffers(&nic_b.dev), 0);
	CHECK_EQ(pool_total(), total);
	CHECK(fill_rx(&nic_b));
}

/* The buffers are posted already and cannot grow: a later device wanting larger ones gets the
 * MTU they hold, and says so. */
static void test_later_device_needing_larger_buffers(void)
{
	unsigned fit = NETBUF_DEFAULT_SIZE - NETBUF_HEADROOM - ETH_HLEN;

	host_log_clear();
	CHECK_EQ(fake_register(&nic_c, 64, 9000), 0);
	CHECK_EQ(nic_c.dev.mtu, fit);
	CHECK_EQ(nic_c.dev.rx_buf_len, fit + ETH_HLEN);
	CHECK(strstr(host_log, "eth2: packet buffers hold at most a 1906-byte MTU; using that") != NULL);
	CHECK_EQ(netbuf_buf_size(), NETBUF_DEFAULT_SIZE);
	CHECK(fill_rx(&nic_c));
	CHECK(fill_rx(&nic_a) && fill_rx(&nic_b));
}

int main(void)
{
	host_quiet = 1;
	RUN(test_first_device_sizes_pool);
	RUN(test_second_device_large_rings);
	RUN(test_reprobe_counts_nothing_twice);
	RUN(test_later_device_needing_larger_buffers);
	return unit_summary("netdev_pool");
}
