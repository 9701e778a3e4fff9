/*
 * tests/unit/test_virtio_net.c - the virtio-net driver and the virtio core against a hostile
 * device (virtio 1.x 2.7, 4.1.4, 5.1): every value a device supplies -- queue sizes, the
 * configuration space (MAC, MTU, link status) and its generation, feature acceptance, reset,
 * the ISR, used lengths and num_buffers -- made wrong one at a time. Each must either fail the
 * probe cleanly (a message, the device marked FAILED, nothing allocated left behind) or be
 * counted and dropped with the driver still receiving and sending afterwards. Also the
 * transmit watchdog, `stall`, link changes and reset with buffers outstanding.
 *
 * The driver runs unmodified on the fake transport and simulated device of
 * tests/unit/virtnet_harness.c (included here so the tests can read the driver's counters).
 * Every test ends with no packet buffer and no DMA allocation unaccounted for.
 */
#include "tests/unit/virtnet_harness.c" /* #included, not linked: the driver's statics */
#include "tests/unit/unit.h"
#include "tests/unit/vp_common_harness.h"

#define OUR_IP "10.0.2.15/24"
#define PEER_IP "10.0.2.2"

static bool log_has(const char *s) { return strstr(host_log, s) != NULL; }

static struct virtnet_stats *st(void) { return &vh_vi()->stats; }

/* Tear everything down and check that nothing was left behind. */
static bool mirror_on; /* mirror_up() took the received frames from the stack */

static void finish(void)
{
	struct netbuf_stats ns;

	CHECK(vh_teardown_clean());
	if (mirror_on) { /* the stack's handler again, as net/config.c set it */
		netdev_set_rx_handler(eth_input);
		mirror_on = false;
	}
	netbuf_get_stats(&ns);
	CHECK_EQ(ns.bad_frees, 0);
}

/* The probe failed the way it should: message, FAILED, no queues, no device registered. */
static void check_probe_failed(const char *why)
{
	CHECK(!vh_bound());
	CHECK(vh.status & VIRTIO_CONFIG_S_FAILED);
	CHECK(!(vh.status & VIRTIO_CONFIG_S_DRIVER_OK));
	CHECK(log_has("initialisation failed"));
	if (why && !log_has(why)) {
		CHECK(log_has(why));
		printf("# log was:\n%s\n", host_log);
	}
	CHECK_EQ(vh.nvqs, 0);
	CHECK_EQ(netdev_count(), 0);
}

static void start_default(void)
{
	struct vh_config c;

	vh_default_config(&c);
	vh_start(&c);
}

static unsigned rx_ring(void) { return vh_vi()->rvq->num; }

/* Driver idle: every receive buffer posted again, nothing lost. */
static void check_rx_refilled(void)
{
	CHECK_EQ(vh_vi()->rx_posted, rx_ring());
	CHECK_EQ(vh_leaked(), 0);
}

/* ---- frames a peer sends ---- */

static unsigned build_eth(u8 *out, const u8 *dst, u16 type, const void *payload, unsigned len)
{
	memcpy(out, dst, ETH_ALEN);
	memcpy(out + 6, h_peer_mac, ETH_ALEN);
	put_be16(out + 12, type);
	memcpy(out + ETH_HLEN, payload, len);
	return ETH_HLEN + len;
}

static unsigned build_arp_request(u8 *out)
{
	u8 a[28];

	h_arp(a, ARPOP_REQUEST, h_peer_mac, IPV4(10, 0, 2, 2), (const u8[6]){ 0 }, IPV4(10, 0, 2, 15));
	return build_eth(out, eth_broadcast_addr, ETH_P_ARP, a, sizeof(a));
}

static unsigned build_ping(u8 *out, unsigned payload_len, u16 seq)
{
	static u8 icmp[9000], ip[9100];
	u8 payload[9000];
	unsigned n;

	for (unsigned i = 0; i < payload_len; i++)
		payload[i] = (u8)(i * 13 + seq);
	n = h_icmp_echo(icmp, ICMP_ECHO, 0x4242, seq, payload, payload_len);
	n = h_ipv4(ip, IPV4(10, 0, 2, 2), IPV4(10, 0, 2, 15), IPPROTO_ICMP, icmp, n);
	return build_eth(out, vh_vi()->dev.mac, ETH_P_IP, ip, n);
}

/* Answers to the peer: the i-th frame the device sent, checked as an echo reply of seq. */
static bool is_echo_reply(unsigned i, unsigned payload_len, u16 seq)
{
	unsigned len;
	const u8 *f = vh_tx(i, &len);
	const struct iphdr *ip = (const void *)(f + ETH_HLEN);
	const struct icmphdr *ic = (const void *)(f + ETH_HLEN + IPV4_HLEN);

	if (len < ETH_HLEN + IPV4_HLEN + ICMP_HLEN + payload_len || get_be16(f + 12) != ETH_P_IP)
		return false;
	if (ip->protocol != IPPROTO_ICMP || ic->type != ICMP_ECHOREPLY || ntohs(ic->sequence) != seq)
		return false;
	for (unsigned k = 0; k < payload_len; k++)
		if (((const u8 *)(ic + 1))[k] != (u8)(k * 13 + seq))
			return false;
	return inet_csum(ic, ICMP_HLEN + payload_len) == 0;
}

/* The stack up, the peer resolved (its ARP request answered), transmit queue drained, the
 * driver's counters zeroed. */
static void stack_up(void)
{
	u8 f[64];
	unsigned len, n;

	vh_attach_stack(OUR_IP, PEER_IP);
	vh_poll();
	vh_tx_complete(64); /* the gratuitous ARP */
	n = vh.tx_seen;
	vh_rx_frame(f, build_arp_request(f));
	vh_poll();
	CHECK_EQ(vh_tx_complete(64), 1);
	vh_poll();
	CHECK_EQ(vh.tx_seen, n + 1);
	vh_tx(n, &len);
	CHECK(len >= ETH_HLEN + 28);
	CHECK_EQ(get_be16(vh_tx(n, &len) + ETH_HLEN + 6), ARPOP_REPLY);
	virtnet_zero_stats(&vh_vi()->dev); /* tests count from here */
}

/* One ping in, one echo reply out, exact. */
static void check_ping(unsigned payload_len, u16 seq)
{
	static u8 f[10000];
	unsigned n = vh.tx_seen;

	vh_rx_frame(f, build_ping(f, payload_len, seq));
	vh_poll();
	CHECK_EQ(vh_tx_complete(64), 1);
	vh_poll();
	CHECK_EQ(vh.tx_seen, n + 1);
	CHECK(is_echo_reply(n, payload_len, seq));
	check_rx_refilled();
}

/* ---- frames mirrored by the test itself: the driver alone, without the stack ---- */

#define MIRROR_TYPE 0x88b5 /* IEEE 802 local experimental: the only frames mirrored */
static unsigned mirror_ignored;

/* The receive handler of the mirror tests: a frame of MIRROR_TYPE goes straight back out,
 * its addresses swapped in place; anything else is counted and freed. */
static void mirror_rx(struct net_device *dev, struct netbuf *nb)
{
	u8 *p = nb->data, mac[ETH_ALEN];

	if (netbuf_len(nb) < ETH_HLEN || get_be16(p + 12) != MIRROR_TYPE) {
		mirror_ignored++;
		netbuf_free(nb);
		return;
	}
	memcpy(mac, p, ETH_ALEN);
	memcpy(p, p + 6, ETH_ALEN);
	memcpy(p + 6, mac, ETH_ALEN);
	dev_queue_xmit(dev, nb);
}

/* Received frames go to the mirror instead of the stack (until finish()). */
static void mirror_up(void)
{
	netdev_set_rx_handler(mirror_rx);
	mirror_on = true;
	mirror_ignored = 0;
	virtnet_zero_stats(&vh_vi()->dev); /* tests count from here */
}

/* A frame of len bytes in, the same bytes out (addresses swapped), exact: the receive path
 * (header, num_buffers, refill) and the transmit path work, whatever came before. */
static void check_mirror(unsigned len, u8 seq)
{
	static u8 f[ETH_HLEN + ETH_DATA_LEN], payload[ETH_DATA_LEN];
	const u8 *out;
	unsigned n = vh.tx_seen, olen;

	for (unsigned k = 0; k < len - ETH_HLEN; k++)
		payload[k] = (u8)(k * 7 + seq);
	build_eth(f, vh_vi()->dev.mac, MIRROR_TYPE, payload, len - ETH_HLEN);
	vh_rx_frame(f, len);
	vh_poll();
	CHECK_EQ(vh_tx_complete(64), 1);
	vh_poll();
	CHECK_EQ(vh.tx_seen, n + 1);
	out = vh_tx(n, &olen);
	CHECK_EQ(olen, len);
	CHECK(out && !memcmp(out, h_peer_mac, ETH_ALEN) && !memcmp(out + 6, vh_vi()->dev.mac, ETH_ALEN));
	CHECK(out && !memcmp(out + 12, f + 12, len - 12));
	check_rx_refilled();
}

/* ---- probe: a well-behaved device ---- */

static void test_probe_well_behaved(void)
{
	struct virtnet_info *vi;

	start_default();
	CHECK(vh_bound());
	if (!vh_bound())
		return;
	vi = vh_vi();
	CHECK(vh.status & VIRTIO_CONFIG_S_DRIVER_OK);
	CHECK(!(vh.status & VIRTIO_CONFIG_S_FAILED));
	CHECK_MEM(vi->dev.mac, vh.cfg.mac, ETH_ALEN);
	CHECK_EQ(vi->dev.mtu, 1500);
	CHECK_EQ(vi->hdr_len, 12);
	CHECK(vi->mergeable_rx_bufs);
	CHECK(vi->dev.carrier);
	CHECK_EQ(vi->rx_posted, 64);
	CHECK(vh.kicks[RX_VQ] >= 1);
	CHECK(log_has("eth0: virtio0 ready: header 12 bytes, rx ring 64, tx ring 64"));
	stack_up();
	check_ping(56, 1);
	check_ping(0, 2);
	check_ping(1472, 3);
	finish();
}

/* The legacy layout: a 10-byte header without MRG_RXBUF, the header in its own descriptor. */
static void test_probe_legacy_small_header(void)
{
	struct vh_config c;

	vh_default_config(&c);
	c.legacy = true;
	c.features &= ~(BIT_ULL(VIRTIO_F_VERSION_1) | BIT_ULL(VIRTIO_NET_F_MRG_RXBUF));
	vh_start(&c);
	CHECK(vh_bound());
	if (!vh_bound())
		return;
	CHECK_EQ(vh_vi()->hdr_len, 10);
	CHECK(!vh_vi()->any_layout);
	stack_up();
	check_ping(1472, 7);
	finish();
}

/* QEMU's iommu_platform=on: the device offers ACCESS_PLATFORM (virtio 1.x 6) and clears
 * FEATURES_OK for a driver that does not accept it. Without an IOMMU the driver accepts it
 * and hands the device physical addresses as before. */
static void test_probe_access_platform(void)
{
	struct vh_config c;

	vh_default_config(&c);
	c.features |= BIT_ULL(VIRTIO_F_ACCESS_PLATFORM);
	c.must_accept = BIT_ULL(VIRTIO_F_ACCESS_PLATFORM);
	vh_start(&c);
	CHECK(vh_bound());
	if (!vh_bound()) {
		printf("# log was:\n%s\n", host_log);
		finish();
		return;
	}
	CHECK(vh.accepted & BIT_ULL(VIRTIO_F_ACCESS_PLATFORM));
	CHECK(vh.status & VIRTIO_CONFIG_S_FEATURES_OK);
	CHECK(vh.status & VIRTIO_CONFIG_S_DRIVER_OK);
	stack_up();
	check_ping(56, 1);
	finish();
}

/* ---- queue sizes ---- */

static void test_queue_size_check(void)
{
	struct virtio_device *v = &vh.vdev;

	snprintk(v->name, sizeof(v->name), "qtest");
	host_log_clear();
	CHECK_EQ(virtio_check_queue_size(v, 0, 0, true), -ENOENT);
	CHECK(log_has("queue 0 does not exist (size 0)"));
	CHECK_EQ(virtio_check_queue_size(v, 1, 3, true), -EIO);
	CHECK_EQ(virtio_check_queue_size(v, 1, 100, false), -EIO);
	CHECK_EQ(virtio_check_queue_size(v, 1, 65535, true), -EIO);
	CHECK(log_has("queue 1 size 100 is not a power of two"));
	CHECK_EQ(virtio_check_queue_size(v, 0, 1, false), 1);
	CHECK_EQ(virtio_check_queue_size(v, 0, 256, false), 256);
	CHECK_EQ(virtio_check_queue_size(v, 0, VIRTQUEUE_MAX_SIZE, false), VIRTQUEUE_MAX_SIZE);
	/* larger than we hold: a modern driver picks a smaller size, a legacy one cannot */
	CHECK_EQ(virtio_check_queue_size(v, 0, 8192, true), VIRTQUEUE_MAX_SIZE);
	CHECK_EQ(virtio_check_queue_size(v, 0, 32768, true), VIRTQUEUE_MAX_SIZE);
	CHECK_EQ(virtio_check_queue_size(v, 0, 8192, false), -EIO);
	CHECK(log_has("queue 0 size 8192 is larger than we support (4096) and cannot be changed"));
}

static void probe_with_qsizes(u16 rx, u16 tx, bool legacy)
{
	struct vh_config c;

	vh_default_config(&c);
	c.qsize[0] = rx;
	c.qsize[1] = tx;
	if (legacy) {
		c.legacy = true;
		c.features &= ~BIT_ULL(VIRTIO_F_VERSION_1);
	}
	vh_start(&c);
}

static void test_probe_queue_size_zero(void)
{
	probe_with_qsizes(0, 64, false);
	check_probe_failed("queue 0 does not exist (size 0)");
	finish();
	probe_with_qsizes(64, 0, false); /* the second queue fails: the first is undone */
	check_probe_failed("queue 1 does not exist (size 0)");
	finish();
}

static void test_probe_queue_size_not_power_of_two(void)
{
	probe_with_qsizes(100, 64, false);
	check_probe_failed("queue 0 size 100 is not a power of two");
	finish();
	probe_with_qsizes(64, 3, true);
	check_probe_failed("queue 1 size 3 is not a power of two");
	finish();
}

static void test_probe_queue_too_large(void)
{
	probe_with_qsizes(8192, 64, true);
	check_probe_failed("queue 0 size 8192 is larger than we support");
	finish();
	/* modern: the driver shrinks the queue and goes on; the pool, not the ring, then bounds
	 * what is posted, and running dry is counted */
	probe_with_qsizes(32768, 64, false);
	CHECK(vh_bound());
	if (vh_bound()) {
		CHECK_EQ(vh_vi()->rvq->num, VIRTQUEUE_MAX_SIZE);
		CHECK(vh_vi()->rx_posted <= VH_POOL_BUFS);
		CHECK(st()->rx_refill_nomem >= 1);
	}
	finish();
}

/* ---- configuration space ---- */

static void probe_with_mtu(u16 mtu, bool feature)
{
	struct vh_config c;

	vh_default_config(&c);
	c.mtu = mtu;
	if (!feature)
		c.features &= ~BIT_ULL(VIRTIO_NET_F_MTU);
	vh_start(&c);
}

static void test_mtu_out_of_range(void)
{
	static const struct {
		u16 mtu;
		unsigned want;
		const char *msg;
	} cases[] = {
		{ 0, 1500, "device MTU 0 is below the minimum 68; not accepting VIRTIO_NET_F_MTU, using 1500" },
		{ 67, 1500, "device MTU 67 is below the minimum 68; not accepting VIRTIO_NET_F_MTU" },
		{ 68, 68, NULL },
		{ 1280, 1280, NULL },
		{ 1500, 1500, NULL },
		/* the harness's 2048-byte buffers hold at most 2048 - 128 - 14: a larger mtu is not
		 * accepted (5.1.4.2 would oblige us to receive it), and the device runs at 1500 */
		{ 1906, 1906, NULL },
		{ 1907, 1500, "device MTU 1907 is above the 1906 our receive buffers hold; not accepting "
			      "VIRTIO_NET_F_MTU, using 1500" },
		{ 9000, 1500, "device MTU 9000 is above the 1906 our receive buffers hold" },
		{ 65535, 1500, "device MTU 65535 is above the 1906 our receive buffers hold" },
	};

	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		probe_with_mtu(cases[i].mtu, true);
		CHECK(vh_bound());
		if (!vh_bound())
			continue;
		CHECK_EQ(vh_vi()->dev.mtu, cases[i].want);
		CHECK_EQ(vh_vi()->max_frame, cases[i].want + ETH_HLEN);
		/* negotiated only when valid (5.1.4.1: 68..65535) and one we can receive */
		CHECK_EQ(!!(vh.accepted & BIT_ULL(VIRTIO_NET_F_MTU)), cases[i].mtu >= ETH_MIN_MTU && cases[i].mtu <= 1906);
		CHECK(!log_has("packet buffers hold at most")); /* never negotiated, then lowered */
		/* a receive buffer holds a whole frame of the MTU in use (5.1.4.2, 5.1.6.3.1) */
		CHECK(vh_vi()->rx_buf_len >= vh_vi()->max_frame);
		if (cases[i].msg)
			CHECK(log_has(cases[i].msg));
		finish();
	}
	probe_with_mtu(10, false); /* without VIRTIO_NET_F_MTU the field is not read */
	CHECK_EQ(vh_vi()->dev.mtu, 1500);
	CHECK(!log_has("MTU"));
	finish();
}

/* With MTU 68, a longer frame is dropped and counted, a frame of exactly 82 bytes is not. */
static void test_small_mtu_enforced(void)
{
	u8 f[200];

	probe_with_mtu(68, true);
	vh_attach_stack(OUR_IP, PEER_IP);
	vh_poll();
	memset(f, 0, sizeof(f));
	build_eth(f, vh_vi()->dev.mac, 0x88b5, f + 100, 68);
	vh_rx_frame(f, 83);
	vh_poll();
	CHECK_EQ(st()->rx_too_long, 1);
	vh_rx_frame(f, 82);
	vh_poll();
	CHECK_EQ(st()->rx_too_long, 1);
	CHECK_EQ(st()->rx_frames, 1);
	CHECK_EQ(eth_stats.rx_unknown_ethertype, 1);
	check_rx_refilled();
	finish();
}

/* VIRTIO_NET_F_MTU (virtio 1.x 5.1.4): an MTU below 68 is one the device must not offer
 * (5.1.4.1), so the feature is not accepted at all (virtnet_validate, before FEATURES_OK) and
 * the device is driven as one without an MTU; 68 is accepted. A device whose MTU falls below
 * 68 after the feature was negotiated is refused. Whatever the MTU, nothing longer than it is
 * handed to the device (5.1.4.2), counted in tx_too_long. */
static void test_mtu_feature_validated(void)
{
	static u8 f[200];
	struct vh_config c;
	struct netbuf *nb;
	unsigned n, len;

	probe_with_mtu(67, true);
	CHECK(vh_bound());
	CHECK(vh.status & VIRTIO_CONFIG_S_FEATURES_OK);
	CHECK(!(vh.accepted & BIT_ULL(VIRTIO_NET_F_MTU)));
	CHECK(!virtio_has_feature(&vh.vdev, VIRTIO_NET_F_MTU));
	CHECK(vh.vdev.offered & BIT_ULL(VIRTIO_NET_F_MTU));
	CHECK(log_has("device MTU 67 is below the minimum 68; not accepting VIRTIO_NET_F_MTU"));
	if (vh_bound())
		CHECK_EQ(vh_vi()->dev.mtu, 1500);
	finish();

	probe_with_mtu(68, true);
	CHECK(vh_bound());
	CHECK(vh.accepted & BIT_ULL(VIRTIO_NET_F_MTU));
	CHECK(!log_has("below the minimum"));
	if (!vh_bound()) {
		finish();
		return;
	}
	CHECK_EQ(vh_vi()->dev.mtu, 68);
	vh_attach_stack(OUR_IP, PEER_IP);
	vh_poll();
	vh_tx_complete(64);
	n = vh.tx_seen;
	memset(f, 0x11, sizeof(f));
	for (unsigned size = 83; size >= 82; size--) { /* one over MTU + Ethernet header, then exact */
		nb = netbuf_alloc();
		memcpy(netbuf_put(nb, size), f, size);
		dev_queue_xmit(&vh_vi()->dev, nb);
	}
	vh_poll();
	vh_tx_complete(64);
	CHECK_EQ(vh_vi()->dev.stats.tx_too_long, 1);
	CHECK_EQ(vh.tx_seen, n + 1);
	vh_tx(n, &len);
	CHECK_EQ(len, 82);
	CHECK_EQ(vh_leaked(), 0);
	finish();

	/* valid when the features were negotiated, 60 once FEATURES_OK is set */
	vh_default_config(&c);
	c.mtu_late = 60;
	vh_start(&c);
	check_probe_failed("device MTU 60 is outside 68..1906 although it was inside when the features were negotiated");
	finish();

	/* and the same for one that grows past our buffers */
	vh_default_config(&c);
	c.mtu_late = 1907;
	vh_start(&c);
	check_probe_failed("device MTU 1907 is outside 68..1906 although it was inside");
	finish();
}

static void probe_with_mac(const u8 *mac, bool feature)
{
	struct vh_config c;

	vh_default_config(&c);
	memcpy(c.mac, mac, ETH_ALEN);
	if (!feature)
		c.features &= ~BIT_ULL(VIRTIO_NET_F_MAC);
	vh_start(&c);
}

static void test_mac_out_of_range(void)
{
	static const u8 bad[][ETH_ALEN] = {
		{ 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 }, /* multicast */
		{ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, /* broadcast */
		{ 0, 0, 0, 0, 0, 0 },                   /* zero */
	};

	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		const u8 *m;

		probe_with_mac(bad[i], true);
		CHECK(vh_bound());
		if (!vh_bound())
			continue;
		m = vh_vi()->dev.mac;
		CHECK(log_has("is not a unicast address; using a random one"));
		CHECK((m[0] & 1) == 0);  /* unicast */
		CHECK((m[0] & 2) == 2);  /* locally administered */
		CHECK(!eth_is_zero(m));
		finish();
	}
	probe_with_mac(bad[0], false); /* no MAC feature: a random one, no complaint */
	CHECK(vh_bound());
	CHECK((vh_vi()->dev.mac[0] & 3) == 2);
	CHECK(!log_has("not a unicast address"));
	finish();
}

static void test_config_generation_never_settles(void)
{
	struct vh_config c;

	vh_default_config(&c);
	c.unstable_reads = -1;
	c.features &= ~BIT_ULL(VIRTIO_NET_F_MTU); /* with it, the MTU is read first (below) */
	vh_start(&c);
	check_probe_failed("device configuration never settled");
	CHECK(log_has("cannot read the device MAC; refusing the device"));
	CHECK_EQ(vh.vdev.stats.config_generation_retries, VIRTIO_CONFIG_GENERATION_TRIES);
	CHECK_EQ(vh.vdev.stats.config_read_failures, 1);
	finish();

	/* the MTU is the first field read when the device offers one: before FEATURES_OK, to
	 * decide whether to accept VIRTIO_NET_F_MTU (virtnet_validate) */
	vh_default_config(&c);
	c.unstable_reads = -1;
	vh_start(&c);
	CHECK(!(vh.status & VIRTIO_CONFIG_S_FEATURES_OK));
	check_probe_failed("cannot read the device MTU; refusing the device");
	finish();

	/* a generation that changes a few times, then settles: retried, counted, fine */
	vh_default_config(&c);
	c.unstable_reads = 5;
	vh_start(&c);
	CHECK(vh_bound());
	CHECK(vh.vdev.stats.config_generation_retries >= 1);
	CHECK(vh.vdev.stats.config_generation_retries < VIRTIO_CONFIG_GENERATION_TRIES);
	CHECK_EQ(vh.vdev.stats.config_read_failures, 0);
	CHECK_MEM(vh_vi()->dev.mac, c.mac, ETH_ALEN);
	finish();
}

/* A torn read is never handed out: the buffer is zeroed when the read is given up. */
static void test_config_read_zeroes_on_failure(void)
{
	struct vh_config c;
	u8 mac[ETH_ALEN];

	start_default();
	vh.unstable_left = -1;
	memset(mac, 0xaa, sizeof(mac));
	CHECK_EQ(virtio_cread_bytes(&vh.vdev, VIRTIO_NET_CFG_MAC, mac, ETH_ALEN), -EIO);
	CHECK(eth_is_zero(mac));
	CHECK_EQ(virtio_cread16(&vh.vdev, VIRTIO_NET_CFG_MTU), 0xffff);
	/* out of the config space altogether */
	vh.unstable_left = 0;
	CHECK_EQ(virtio_cread_bytes(&vh.vdev, 10, mac, 4), -EIO);
	(void)c;
	finish();
}

/* The link status field: a failed read keeps the link as it was; changes are followed. */
static void test_link_status_changes(void)
{
	unsigned n;

	start_default();
	vh_attach_stack(OUR_IP, PEER_IP);
	vh_poll();
	vh_tx_complete(64);
	CHECK(vh_vi()->dev.carrier);
	vh_set_link(false);
	CHECK(!vh_vi()->dev.carrier);
	n = arp_stats.tx_announces;
	vh_set_link(true);
	CHECK(vh_vi()->dev.carrier);
	CHECK_EQ(arp_stats.tx_announces, n + 1);
	vh.unstable_left = -1; /* a config interrupt whose status cannot be read */
	virtio_config_changed(&vh.vdev);
	vh_run_work();
	CHECK(vh_vi()->dev.carrier);
	CHECK(log_has("cannot read the link status; keeping the link as it was"));
	vh.unstable_left = 0;
	vh_poll();
	vh_tx_complete(64);
	vh_poll();
	finish();
}

static void test_features_ok_refused_and_stuck_reset(void)
{
	struct vh_config c;

	vh_default_config(&c);
	c.refuse_features = true;
	vh_start(&c);
	check_probe_failed("refused our feature subset");
	/* the device clearing FEATURES_OK is its answer, not a status bit we lost */
	CHECK(!log_has("SPEC RULE BROKEN"));
	CHECK_EQ(vh.vdev.stats.rule_violations, 0);
	finish();

	vh_default_config(&c);
	c.stuck_reset = true;
	CHECK_EQ(vh_start(&c), -ETIMEDOUT);
	CHECK(!vh_bound());
	CHECK(log_has("did not reset"));
	finish();

	/* a modern device that does not offer VERSION_1 */
	vh_default_config(&c);
	c.features &= ~BIT_ULL(VIRTIO_F_VERSION_1);
	vh_start(&c);
	check_probe_failed("requires VERSION_1");
	finish();
}

/* ---- received buffers: lengths ---- */

static void rx_raw(const u8 *bytes, u32 len, unsigned nbufs, u32 lie)
{
	vh_rx_raw(bytes, len, nbufs, lie);
	vh_rx_flush();
	vh_poll();
}

static void test_rx_used_len_short(void)
{
	static u8 buf[2048];

	start_default();
	mirror_up();
	memset(buf, 0, sizeof(buf));
	buf[10] = 1; /* num_buffers 1 */
	rx_raw(buf, 0, 1, 0);  /* used length 0 */
	rx_raw(buf, 11, 1, 0); /* shorter than the 12-byte header */
	CHECK_EQ(st()->rx_too_short, 2);
	rx_raw(buf, 12, 1, 0);      /* a header and no frame */
	rx_raw(buf, 12 + 13, 1, 0); /* less than an Ethernet header */
	CHECK_EQ(st()->rx_runt, 2);
	CHECK_EQ(st()->rx_frames, 0);
	check_rx_refilled();
	check_mirror(98, 9); /* and it still works */
	finish();
}

static void test_rx_too_long_and_used_len_lie(void)
{
	static u8 buf[2048];

	start_default();
	mirror_up();
	memset(buf, 0, sizeof(buf));
	buf[10] = 1;
	memcpy(buf + 12, vh_vi()->dev.mac, ETH_ALEN);
	rx_raw(buf, 12 + 1515, 1, 0); /* one byte over MTU + Ethernet header */
	CHECK_EQ(st()->rx_too_long, 1);
	rx_raw(buf, 12 + 1514, 1, 0); /* the largest frame: delivered (and ignored: type 0) */
	CHECK_EQ(st()->rx_frames, 1);
	CHECK_EQ(mirror_ignored, 1);
	CHECK_EQ(st()->rx_too_long, 1);
	/* the device claims more than the buffer holds: the ring counts it, the driver sees 0 */
	rx_raw(buf, 100, 1, 1u << 20);
	CHECK_EQ(vh_vi()->rvq->stats.bad_used_len, 1);
	CHECK_EQ(st()->rx_too_short, 1);
	rx_raw(buf, 100, 1, 0xffffffffu - 100);
	CHECK_EQ(vh_vi()->rvq->stats.bad_used_len, 2);
	check_rx_refilled();
	check_mirror(98, 10);
	finish();
}

/* Used ids the device made up: skipped and counted by the ring; the buffers the device really
 * used are lost to both sides, so the driver resets the device (self-healing, below), which
 * hands every buffer back. */
static void test_rx_bad_used_id(void)
{
	struct sim_device *d;

	start_default();
	mirror_up();
	d = &vh.sim[RX_VQ];
	sim_push(d, 9999, 100);   /* out of range */
	sim_push(d, 64 + 5, 100); /* likewise */
	vh_rx_flush();
	vh_poll();
	CHECK_EQ(vh_vi()->rvq->stats.bad_used_id, 2);
	CHECK_EQ(st()->rx_frames, 0);
	CHECK(log_has("eth0: rx queue: used id not in flight; resetting the device in 10 ms"));
	CHECK(!netif_device_present(&vh_vi()->dev));
	h_advance_ns(10 * NSEC_PER_MSEC);
	CHECK_EQ(vh_vi()->recovery.recoveries, 1);
	CHECK(netif_device_present(&vh_vi()->dev));
	CHECK_EQ(vh_vi()->rvq->stats.bad_used_id, 0); /* new rings */
	CHECK_EQ(vh_leaked(), 0);
	mirror_up();
	check_mirror(98, 13);
	/* With the ring full every id in range is a posted buffer, so a completion of one the
	 * device never took (or a repeated one) cannot be told from a real one: its stale bytes
	 * go up as a frame, and the layers above judge them. Nothing may leak either way. */
	sim_push(d, vh_first_buf.head, 100);
	vh_rx_flush();
	vh_poll();
	CHECK_EQ(vh_vi()->rvq->stats.bad_used_id, 0);
	CHECK(netif_device_present(&vh_vi()->dev)); /* nothing to reset for */
	CHECK_EQ(vh_leaked(), 0);
	check_mirror(98, 14);
	finish();
}

/* ---- packed rings (VIRTIO_F_RING_PACKED, virtio 1.2 2.8) ---- */

static void start_packed(void)
{
	struct vh_config c;

	vh_default_config(&c);
	c.features |= BIT_ULL(VIRTIO_F_RING_PACKED);
	vh_start(&c);
}

/* Offered: negotiated, every queue packed, frames both ways through the same driver code;
 * virtio_ring=split on the command line: split rings although offered. */
static void test_packed_negotiated_and_working(void)
{
	start_packed();
	CHECK(vh_bound());
	CHECK(vh.accepted & BIT_ULL(VIRTIO_F_RING_PACKED));
	CHECK(vh_vi()->rvq->packed && vh_vi()->svq->packed);
	stack_up();
	for (u16 seq = 1; seq <= 3 * 64; seq++) /* the rings wrap three times over */
		check_ping(seq % 2 ? 56 : 1400, seq);
	CHECK_EQ(vh_vi()->rvq->stats.bad_used_id + vh_vi()->rvq->stats.bad_used_len +
		 vh_vi()->svq->stats.bad_used_id + vh_vi()->svq->stats.bad_used_idx, 0);
	finish();

	h_set_cmdline("virtio_ring", "split");
	start_packed();
	h_set_cmdline("virtio_ring", NULL);
	CHECK(!(vh.accepted & BIT_ULL(VIRTIO_F_RING_PACKED)));
	CHECK(!vh_vi()->rvq->packed && !vh_vi()->svq->packed);
	stack_up();
	check_ping(56, 1);
	finish();

	h_set_cmdline("virtio_ring", "packed");
	start_default(); /* not offered */
	h_set_cmdline("virtio_ring", NULL);
	CHECK(log_has("virtio0: virtio_ring=packed, but the device does not offer RING_PACKED(34)"));
	CHECK(!vh_vi()->rvq->packed);
	finish();
}

/* The recovery path works the same on a packed ring: ids the device made up start it, as
 * does a used descriptor where nothing was posted (the ring broken); each time the device
 * comes back with packed rings and nothing leaked. */
static void test_packed_hostile_recovers(void)
{
	start_packed();
	stack_up();
	vh_push(&vh, RX_VQ, 9999, 100);  /* out of range */
	vh_push(&vh, RX_VQ, 64 + 5, 100); /* likewise */
	vh_rx_flush();
	vh_poll();
	CHECK_EQ(vh_vi()->rvq->stats.bad_used_id, 2);
	CHECK_EQ(st()->rx_frames, 0);
	CHECK(log_has("eth0: rx queue: used id not in flight; resetting the device in 10 ms"));
	h_advance_ns(10 * NSEC_PER_MSEC);
	CHECK_EQ(vh_vi()->recovery.recoveries, 1);
	CHECK(vh_vi()->rvq->packed);
	CHECK_EQ(vh_leaked(), 0);
	stack_up();
	check_ping(56, 2);

	/* every transmit reclaimed, then a used descriptor the driver never posted */
	h_advance_ns(TX_RECLAIM_NS);
	vh_poll();
	CHECK_EQ(vh_vi()->svq->num_free, vh_vi()->svq->num);
	psim_push(&vh.psim[TX_VQ], 0, 0, 1);
	udp_sendto(IPV4(10, 0, 2, 255), 1000, 1000, "x", 1);
	vh_poll();
	CHECK(vh_vi()->svq->broken);
	CHECK_EQ(vh_vi()->svq->stats.bad_used_idx, 1);
	CHECK(log_has("virtio_ring: tx0: used descriptor where nothing was posted"));
	CHECK(log_has("eth0: tx queue broken; resetting the device in"));
	h_advance_ns(10 * NSEC_PER_MSEC);
	h_advance_ns(20 * NSEC_PER_MSEC);
	CHECK_EQ(vh_vi()->recovery.recoveries, 2);
	CHECK(vh_vi()->svq->packed && !vh_vi()->svq->broken);
	CHECK_EQ(vh_leaked(), 0);
	stack_up();
	check_ping(56, 3);
	finish();
}

/* ---- num_buffers ---- */

static void set_num_buffers(u8 *hdr, u16 n) { memcpy(hdr + 10, &n, 2); }

static void test_num_buffers_zero(void)
{
	static u8 buf[200];

	start_default();
	mirror_up();
	memset(buf, 0, sizeof(buf));
	set_num_buffers(buf, 0);
	rx_raw(buf, sizeof(buf), 1, 0);
	CHECK_EQ(st()->rx_bad_num_buffers, 1);
	CHECK_EQ(st()->rx_frames, 0);
	check_rx_refilled();
	check_mirror(98, 11);
	finish();
}

static void test_num_buffers_more_than_completed(void)
{
	static u8 buf[200];
	u64 buffers;

	start_default();
	mirror_up();
	memset(buf, 0, sizeof(buf));
	set_num_buffers(buf, 5);
	buffers = st()->rx_buffers;
	rx_raw(buf, sizeof(buf), 1, 0); /* says 5, completed 1 */
	CHECK_EQ(st()->rx_bad_num_buffers, 1);
	CHECK_EQ(st()->rx_buffers, buffers + 1);
	set_num_buffers(buf, 65535);
	rx_raw(buf, sizeof(buf), 1, 0);
	CHECK_EQ(st()->rx_bad_num_buffers, 2);
	CHECK_EQ(st()->rx_frames, 0);
	check_rx_refilled();
	check_mirror(98, 12);
	finish();
}

/* Small receive buffers (vnet_rxbuf=256): frames span several, exactly reassembled; a frame
 * claiming more buffers than a whole frame can take is dropped with all of them. */
static void test_num_buffers_merge(void)
{
	static u8 buf[256 * 24];
	u64 buffers;

	h_set_cmdline("vnet_rxbuf", "256");
	start_default();
	h_set_cmdline("vnet_rxbuf", NULL);
	CHECK_EQ(vh_vi()->rx_buf_len, 256);
	mirror_up();
	check_mirror(1514, 20); /* 12 + 1514 bytes: 6 buffers */
	CHECK(st()->rx_buffers > st()->rx_frames);

	memset(buf, 0x5a, sizeof(buf));
	set_num_buffers(buf, 20);
	buffers = st()->rx_buffers;
	rx_raw(buf, 20 * (256 + 12), 20, 0); /* 20 full buffers: more than any frame */
	CHECK_EQ(st()->rx_merge_overflow, 1);
	CHECK_EQ(st()->rx_buffers, buffers + 20);
	CHECK_EQ(vh_leaked(), 0);

	/* fewer than the frame used: the rest look like new frames to us, and are judged so */
	set_num_buffers(buf, 1);
	rx_raw(buf, 3 * (256 + 12), 3, 0);
	CHECK_EQ(vh_leaked(), 0);
	check_rx_refilled();
	check_mirror(1042, 21);
	finish();
}

/* ---- INTx: the ISR register (4.1.4.5) ---- */

static u8 isr_value;
static unsigned isr_callbacks;

static u8 fake_read_isr(struct virtio_pci_device *vp) { return isr_value; }
static bool isr_notify(struct virtqueue *vq) { return true; }
static void isr_callback(struct virtqueue *vq) { isr_callbacks++; }

static void test_isr_unknown_bits(void)
{
	static struct virtio_pci_device vp;
	struct virtqueue *vq;
	static int token;
	struct scatterlist sg = { &token, sizeof(token) };
	struct sim_device d;

	vh_teardown();
	memset(&vp, 0, sizeof(vp));
	snprintk(vp.vdev.name, sizeof(vp.vdev.name), "isr0");
	vp.read_isr = fake_read_isr;
	vq = vring_create_virtqueue(0, 8, false, false, isr_notify, isr_callback, "q");
	CHECK(vq != NULL);
	if (!vq)
		return;
	vq->vdev = &vp.vdev;
	vp.vqs[0].vq = vq;
	vp.nvqs = 1;
	isr_callbacks = 0;

	isr_value = 0; /* someone else's interrupt on a shared line */
	vp_harness_intx(&vp);
	CHECK_EQ(vp.isr_spurious, 1);
	isr_value = 0x80; /* only bits the spec does not define: counted, nothing else */
	vp_harness_intx(&vp);
	CHECK_EQ(vp.isr_unknown_bits, 1);
	CHECK_EQ(vp.vdev.stats.config_changes, 0);
	CHECK_EQ(vq->stats.interrupts, 0);
	isr_value = 0xfc;
	vp_harness_intx(&vp);
	CHECK_EQ(vp.isr_unknown_bits, 2);
	CHECK_EQ(vq->stats.interrupts, 0);
	isr_value = VIRTIO_PCI_ISR_QUEUE | 0x40; /* a queue interrupt with noise */
	vp_harness_intx(&vp);
	CHECK_EQ(vp.isr_unknown_bits, 3);
	CHECK_EQ(vq->stats.interrupts, 1);
	CHECK_EQ(vq->stats.spurious, 1); /* nothing was used */
	CHECK_EQ(isr_callbacks, 0);
	virtqueue_add_inbuf(vq, &sg, 1, &token);
	sim_attach(&d, vq);
	sim_complete(&d, 1, 0, NULL);
	isr_value = 0xff; /* every bit: config change and queue, the rest ignored */
	vp_harness_intx(&vp);
	CHECK_EQ(vp.isr_unknown_bits, 4);
	CHECK_EQ(vp.vdev.stats.config_changes, 1);
	CHECK_EQ(isr_callbacks, 1);
	CHECK_EQ(vp.isr_reads, 5);
	CHECK(virtqueue_get_buf(vq, NULL) == &token);
	vring_del_virtqueue(vq);
	vh_work = NULL;
	CHECK_EQ(host_dma_live, vh_dma_baseline);
}

/* ---- interrupt setup: vp_find_vqs's fallbacks on the modern transport ---- */

/* A modern device (vp_common_harness.c's simulated common configuration) with two queues and
 * an MSI-X table of table_size entries that maps only nvectors of them. */
static void vp_modern_start(struct virtio_pci_device *vp, struct pci_dev *pci, u16 table_size, u16 nvectors)
{
	vh_teardown();
	host_log_clear();
	memset(&vp_sim, 0, sizeof(vp_sim));
	vp_sim.num_queues = 2;
	vp_sim.nvectors = nvectors;
	vp_sim.config_vector = VIRTIO_MSI_NO_VECTOR;
	for (unsigned i = 0; i < VP_SIM_QUEUES; i++) {
		vp_sim.q[i].size = 64;
		vp_sim.q[i].vector = VIRTIO_MSI_NO_VECTOR;
	}
	vp_sim.msix = true;
	vp_sim.intx = true;
	memset(pci, 0, sizeof(*pci));
	pci->msix.table_size = table_size;
	pci->irq_pin = 1;
	pci->irq_line = 11;
	pci->device = VIRTIO_PCI_DEVICE_MODERN_BASE + VIRTIO_ID_NET;
	memset(vp, 0, sizeof(*vp));
	CHECK_EQ(vp_harness_modern(vp, pci), 0);
	CHECK_EQ(vp->vdev.id, VIRTIO_ID_NET);
	snprintk(vp->vdev.name, sizeof(vp->vdev.name), "vp0");
	vp->vdev.features = BIT_ULL(VIRTIO_F_VERSION_1);
}

static int vp_modern_find(struct virtio_pci_device *vp)
{
	struct virtqueue *vqs[2];
	vq_callback_t cbs[2] = { isr_callback, isr_callback };
	const char *const names[2] = { "input", "output" };

	return vp_find_vqs(&vp->vdev, 2, vqs, cbs, names);
}

/* Each queue enabled exactly once, in order, after its vector and the config vector were
 * accepted (queue_vector as expected, MSI-X on or off as expected). */
static void check_enabled_once(u16 queue_vector, bool msix)
{
	CHECK_EQ(vp_sim.nenables, 2);
	for (unsigned i = 0; i < 2 && i < vp_sim.nenables; i++) {
		CHECK_EQ(vp_sim.enables[i].queue, i);
		CHECK_EQ(vp_sim.enables[i].value, 1);
		CHECK_EQ(vp_sim.enables[i].queue_vector, queue_vector);
		CHECK_EQ(vp_sim.enables[i].msix_enabled, msix);
		if (msix)
			CHECK_EQ(vp_sim.enables[i].config_vector, 0);
		CHECK_EQ(vp_sim.q[i].enabled, 1);
	}
}

static void vp_modern_finish(struct virtio_pci_device *vp)
{
	vp_del_vqs(&vp->vdev);
	CHECK_EQ(vp_sim.msi_freed, vp_sim.msi_allocated);
	CHECK_EQ(host_dma_live, vh_dma_baseline);
}

/* Queues are enabled last (4.1.5.1.3: queue_enable after the queue's vector; once enabled
 * only a reset takes a queue back): a device refusing a vector (reading back NO_VECTOR,
 * 4.1.5.1.2) in the per-queue MSI-X attempt must leave nothing enabled, so the shared-vector
 * retry, and failing that the INTx one, succeeds on the same queues. */
static void test_msix_fallback_enables_queues_last(void)
{
	static struct virtio_pci_device vp;
	static struct pci_dev pci;

	/* 3 table entries, but the device maps only vectors 0 and 1: queue 1's vector 2 is
	 * refused, then config 0 + shared 1 works */
	vp_modern_start(&vp, &pci, 3, 2);
	CHECK_EQ(vp_modern_find(&vp), 0);
	CHECK(log_has("device refused MSI-X vector 2 for queue 1"));
	CHECK(!log_has("already enabled"));
	CHECK_EQ(vp.irq_mode, VP_IRQ_MSIX_SHARED);
	check_enabled_once(1, true);
	vp_modern_finish(&vp);

	/* only the config vector maps: both MSI-X attempts fail on queue 0, INTx works */
	vp_modern_start(&vp, &pci, 3, 1);
	CHECK_EQ(vp_modern_find(&vp), 0);
	CHECK(log_has("device refused MSI-X vector 1 for queue 0"));
	CHECK(!log_has("already enabled"));
	CHECK_EQ(vp.irq_mode, VP_IRQ_INTX);
	check_enabled_once(VIRTIO_MSI_NO_VECTOR, false);
	vp_modern_finish(&vp);

	/* every vector maps: per-queue MSI-X at the first try, each queue on its own vector */
	vp_modern_start(&vp, &pci, 3, 3);
	CHECK_EQ(vp_modern_find(&vp), 0);
	CHECK_EQ(vp.irq_mode, VP_IRQ_MSIX_PER_VQ);
	CHECK_EQ(vp_sim.nenables, 2);
	CHECK_EQ(vp_sim.enables[0].queue_vector, 1);
	CHECK_EQ(vp_sim.enables[1].queue_vector, 2);
	CHECK_EQ(vp_sim.q[0].enabled + vp_sim.q[1].enabled, 2);
	vp_modern_finish(&vp);
}

/* Teardown (vp_del_vqs) with interrupts arriving all along: every handler is released before
 * the first queue is deleted, so none can meet a deleted queue (a per-queue vector's handler
 * would call vring_interrupt on it). */
static void test_teardown_releases_irqs_first(void)
{
	static struct virtio_pci_device vp;
	static struct pci_dev pci;

	vp_modern_start(&vp, &pci, 3, 3);
	vp_sim.irq_storm = true; /* from here on, interrupts at every queue_select write */
	CHECK_EQ(vp_modern_find(&vp), 0);
	CHECK_EQ(vp.irq_mode, VP_IRQ_MSIX_PER_VQ);
	CHECK(vp_sim.storm_irqs > 0); /* the handlers of queues already set up did run */
	vp_sim.storm_irqs = 0;
	CHECK_EQ(virtio_reset_device(&vp.vdev), 0);
	vp_del_vqs(&vp.vdev);
	CHECK_EQ(vp_sim.storm_irqs, 0);
	CHECK(!vp.vqs[0].vq && !vp.vqs[1].vq);
	vp_modern_finish(&vp);
	vh_work = NULL; /* the config handler's work item */
}

/* ---- interrupts and polls ---- */

static unsigned disable_cb_calls[VIRTNET_NVQS];

static void count_disable_cb(const struct virtqueue *vq, const char *step, u32 id, u32 val)
{
	(void)id, (void)val;
	if (!strcmp(step, "virtqueue_disable_cb"))
		disable_cb_calls[vq == vh.vqs[RX_VQ] ? RX_VQ : TX_VQ]++;
}

/* A queue's interrupt silences the queue only when it claims the poll (Linux's
 * napi_schedule_prep pattern). More interrupts while the poll is pending -- a shared INTx
 * line runs every queue's handler -- leave the ring alone: the pending poll decides the
 * callback's state when it ends, and leaves it on with nothing pending. */
static void test_interrupt_claims_poll_first(void)
{
	static u8 f[1000];
	struct vring_snapshot snap;

	start_default();
	stack_up();
	memset(disable_cb_calls, 0, sizeof(disable_cb_calls));
	host_vq_trace = count_disable_cb;
	vh_rx_frame(f, build_ping(f, 56, 60)); /* the device's interrupt: the poll is claimed */
	CHECK_EQ(disable_cb_calls[RX_VQ], 1);
	CHECK(vh_vi()->napi.scheduled);
	vh_interrupt(RX_VQ);
	vh_interrupt(RX_VQ);
	CHECK_EQ(st()->rx_interrupts, 3);
	CHECK_EQ(disable_cb_calls[RX_VQ], 1);
	vh_poll();
	host_vq_trace = NULL;
	CHECK(!vh_vi()->napi.scheduled);
	virtqueue_snapshot(vh_vi()->rvq, &snap);
	CHECK(snap.callbacks);
	CHECK_EQ(st()->rx_frames, 1);
	CHECK_EQ(vh_tx_complete(64), 1); /* the echo reply */
	check_rx_refilled();
	finish();
}

/* ---- a device that stops answering ---- */

static void test_tx_watchdog(void)
{
	int i;

	start_default();
	vh_attach_stack(OUR_IP, PEER_IP);
	vh_poll(); /* the gratuitous ARP is now with the device, which never completes it */
	for (i = 0; i < 5; i++)
		udp_sendto(IPV4(10, 0, 2, 255), 1000, 1000, "x", 1);
	vh_poll();
	CHECK(vh_vi()->tx_inflight >= 6);
	/* meanwhile the transmit path stays usable: full ring -> backlog -> counted drops */
	for (i = 0; i < 400; i++)
		udp_sendto(IPV4(10, 0, 2, 255), 1000, 1000, "x", 1);
	vh_poll();
	CHECK(vh_vi()->dev.stats.tx_backlog_drop > 0);
	h_advance_ns(4 * NSEC_PER_SEC + NSEC_PER_SEC / 2);
	CHECK_EQ(st()->tx_timeouts, 0);
	CHECK(netif_device_present(&vh_vi()->dev));
	h_advance_ns(NSEC_PER_SEC);
	CHECK_EQ(st()->tx_timeouts, 1);
	CHECK(log_has("eth0: transmit timeout: the device has completed none of"));
	CHECK(log_has("eth0: transmit timeout; resetting the device in 10 ms"));
	/* the reset took every frame back, and the new rings work */
	h_advance_ns(10 * NSEC_PER_MSEC);
	CHECK_EQ(vh_vi()->recovery.recoveries, 1);
	CHECK_EQ(vh_vi()->tx_inflight, 1); /* only the gratuitous ARP of the link coming back */
	CHECK_EQ(vh_vi()->dev.tx_backlog.len, 0);
	CHECK_EQ(vh_leaked(), 0);
	stack_up();
	check_ping(56, 15);
	h_advance_ns(20 * NSEC_PER_SEC); /* a device that completes: no more timeouts */
	CHECK_EQ(st()->tx_timeouts, 0);
	CHECK_EQ(vh_vi()->recovery.recoveries, 1);
	finish();
}

/* The device breaks its transmit ring (used idx far ahead) while frames wait in the backlog:
 * the driver detaches, which drops the backlog (counted), and the backlog must not follow a
 * dropped frame's link into the free list (a use after free fuzz_virtnet found when the
 * driver dropped each frame as it was handed one). Then the device is reset and works. */
static void test_tx_ring_broken_with_backlog(void)
{
	struct netbuf *all[VH_POOL_BUFS];
	unsigned n = 0, backlog;
	u64 completed;

	start_default();
	stack_up();
	for (int i = 0; i < 100; i++)
		udp_sendto(IPV4(10, 0, 2, 255), 1000, 1000, "x", 1);
	vh_poll();
	backlog = vh_vi()->dev.tx_backlog.len;
	CHECK(backlog > 0);
	completed = vh_vi()->svq->stats.completed;
	sim_set_used_idx(&vh.sim[TX_VQ], (u16)(vh.sim[TX_VQ].used_idx + 1000));
	h_advance_ns(TX_RECLAIM_NS); /* the reclaim timer looks, finds the ring broken */
	vh_poll();
	CHECK(vh_vi()->svq->broken);
	CHECK_EQ(vh_vi()->svq->stats.completed, completed);
	CHECK_EQ(vh_vi()->dev.tx_backlog.len, 0);
	CHECK_EQ(vh_vi()->dev.stats.tx_detached_drop, backlog);
	CHECK(log_has("eth0: tx queue broken; resetting the device in 10 ms"));
	/* the free list is intact: every free buffer can be had, each a real one */
	while (n < VH_POOL_BUFS && (all[n] = netbuf_alloc()))
		CHECK(all[n++]->data != NULL);
	while (n)
		netbuf_free(all[--n]);
	h_advance_ns(10 * NSEC_PER_MSEC); /* the reset takes back what the broken ring held */
	CHECK_EQ(vh_vi()->recovery.recoveries, 1);
	CHECK_EQ(vh_leaked(), 0);
	stack_up();
	check_ping(56, 16);
	finish();
}

/* `stall MS`: no polling, the device runs out of buffers and drops; then all is refilled. */
static void test_stall_then_refill(void)
{
	static u8 f[128];
	unsigned posted, taken = 0;

	start_default();
	stack_up();
	posted = vh_vi()->rx_posted;
	memset(f, 0, sizeof(f));
	build_eth(f, vh_vi()->dev.mac, 0x88b5, f + 64, 50);
	net_stall(500);
	for (int i = 0; i < 200; i++) {
		taken += vh_rx_frame(f, 64);
		vh_poll();
	}
	CHECK_EQ(taken, posted);
	CHECK_EQ(vh.rx_no_buffer, 200 - posted);
	CHECK_EQ(st()->rx_frames, 0);
	h_advance_ns(600 * NSEC_PER_MSEC);
	vh_poll();
	CHECK(log_has("net: stall over, polling again"));
	CHECK_EQ(st()->rx_frames, posted);
	check_rx_refilled();
	check_ping(56, 30);
	finish();
}

/* Frames kept by whoever received them (a protocol queueing them), so the pool runs dry. */
static struct netbuf *kept[NETBUF_MAX];
static unsigned nkept;
static void keep_frame(struct net_device *dev, struct netbuf *nb) { kept[nkept++] = nb; }

static void release_kept(void)
{
	while (nkept)
		netbuf_free(kept[--nkept]);
}

/* The pool runs dry while the device completes every posted receive buffer: the queue ends up
 * empty, so the device can never interrupt again. The refill timer must fill it once buffers
 * come back -- without it, receiving would stop for good. */
static void test_refill_after_pool_ran_dry(void)
{
	static u8 f[128];
	unsigned posted, taken = 0;
	struct netbuf *nb;

	start_default();
	netdev_set_rx_handler(keep_frame);
	posted = vh_vi()->rx_posted;
	while ((nb = netbuf_alloc())) /* hold every free buffer */
		kept[nkept++] = nb;
	build_eth(f, vh_vi()->dev.mac, 0x88b5, f + 64, 50);
	for (unsigned i = 0; i < posted; i++)
		taken += vh_rx_frame(f, 64);
	vh_poll();
	CHECK_EQ(taken, posted);
	CHECK_EQ(st()->rx_frames, posted);
	CHECK_EQ(vh_vi()->rx_posted, 0);
	CHECK(st()->rx_refill_nomem > 0);
	release_kept();
	h_advance_ns(REFILL_RETRY_NS);
	vh_poll();
	check_rx_refilled();
	netdev_set_rx_handler(NULL);
	finish();
}

/* The probe's error path resets the device after DRIVER_OK (no receive buffer could be
 * posted: the pool is empty). The core then marks the device FAILED, and its self-check must
 * compare against the status after the reset (0), not the one before it: no false "SPEC RULE
 * BROKEN". Remove resets too and leaves no stale status behind. */
static void test_reset_clears_cached_status(void)
{
	struct netbuf *nb;

	vh_teardown();
	while ((nb = netbuf_alloc())) /* hold every free buffer */
		kept[nkept++] = nb;
	start_default();
	CHECK(log_has("could not post a single receive buffer"));
	CHECK(!vh_bound());
	CHECK(vh.status & VIRTIO_CONFIG_S_FAILED);
	CHECK_EQ(vh.vdev.status, VIRTIO_CONFIG_S_FAILED);
	CHECK(!vh.vdev.ready);
	if (log_has("SPEC RULE BROKEN"))
		printf("# log was:\n%s\n", host_log);
	CHECK(!log_has("SPEC RULE BROKEN"));
	CHECK_EQ(vh.vdev.stats.rule_violations, 0);
	release_kept();
	finish();

	start_default();
	CHECK(vh_bound());
	vh.vdev.driver->remove(&vh.vdev);
	vh.vdev.driver = NULL;
	CHECK_EQ(vh.vdev.status, 0);
	CHECK(!vh.vdev.ready);
	finish();
}

/* ---- a device that goes away: netif_device_detach ---- */

static u64 detached_drops(void) { return vh_vi()->dev.stats.tx_detached_drop; }

/* netreset, as the shell command does it: the driver's ndo_reset (virtio_reprobe). */
static int netreset(void) { return vh_vi()->dev.ops->ndo_reset(&vh_vi()->dev); }

/* A probe that fails after register_netdev (here: not a single receive buffer can be posted)
 * leaves eth0 registered with no queues, and a re-probe that fails (here: the device now
 * reports a receive queue of size 0) leaves it so after remove tore the old ones down. Either
 * way eth0 is detached: every frame the stack sends (a UDP send, an ARP retry, the watchdog's
 * and the reclaim timer's rounds) is dropped and counted before it reaches the driver, and a
 * netreset that succeeds brings traffic back. */
static void test_failed_probe_detaches(void)
{
	struct netbuf *nb;

	vh_teardown();
	while ((nb = netbuf_alloc())) /* the first probe: hold every free buffer */
		kept[nkept++] = nb;
	start_default();
	release_kept();
	CHECK(log_has("could not post a single receive buffer"));
	CHECK(!vh_bound());
	CHECK_EQ(netdev_count(), 1);
	CHECK(!netif_device_present(&vh_vi()->dev));
	vh_attach_stack(OUR_IP, PEER_IP);
	for (int i = 0; i < 3; i++)
		udp_sendto(IPV4(10, 0, 2, 255), 1000, 1000, "x", 1);
	h_advance_ns(2 * NSEC_PER_SEC);
	vh_poll();
	CHECK_EQ(detached_drops(), 3);
	CHECK_EQ(vh_leaked(), 0);
	CHECK_EQ(netreset(), 0); /* the pool has buffers again */
	CHECK(vh_bound());
	CHECK(netif_device_present(&vh_vi()->dev));
	stack_up();
	check_ping(56, 40);
	finish();

	start_default();
	stack_up();
	vh.cfg.qsize[RX_VQ] = 0;
	CHECK(netreset() < 0);
	CHECK(log_has("queue 0 does not exist (size 0)"));
	CHECK(!vh_bound());
	CHECK(!netif_device_present(&vh_vi()->dev));
	CHECK(vh_vi()->dev.carrier); /* the link did not go down: only the detached state stops it */
	for (int i = 0; i < 3; i++)
		udp_sendto(IPV4(10, 0, 2, 255), 1000, 1000, "x", 1);
	udp_sendto(IPV4(10, 0, 2, 2), 1000, 1000, "y", 1); /* resolved: straight to the device */
	h_advance_ns(3 * NSEC_PER_SEC);
	vh_poll();
	CHECK_EQ(detached_drops(), 4);
	CHECK_EQ(vh_leaked(), 0);
	vh.cfg.qsize[RX_VQ] = 64;
	CHECK_EQ(netreset(), 0);
	CHECK(vh_bound());
	CHECK(netif_device_present(&vh_vi()->dev));
	check_ping(56, 41);
	finish();
}

/* What a reboot does for a dead device's rings, which the driver keeps (the device may still
 * write them): the test plays it, to end with every buffer and allocation back. */
static void reboot_dead_device(void)
{
	for (unsigned i = 0; i < 2; i++) {
		struct netbuf *nb;

		while ((nb = virtqueue_detach_unused_buf(vh.vqs[i])))
			netbuf_free(nb);
		vring_del_virtqueue(vh.vqs[i]);
		vh.vqs[i] = NULL;
	}
}

/* A reset that never completes (4.1.4.3.2: the driver waits for status 0; we give up after
 * VP_RESET_TIMEOUT_MS): the device may still be writing its rings and the buffers posted
 * to them. Its interrupts are released, but nothing it can write is freed: the rings stay
 * (vp_del_vqs) and so do the buffers (virtnet_remove); the device is marked dead and never
 * probed again. */
static void test_reset_timeout_keeps_rings(void)
{
	static struct virtio_pci_device vp;
	static struct pci_dev pci;
	struct netbuf_stats ns;
	long dma;
	u64 in_use;

	vp_modern_start(&vp, &pci, 3, 3);
	CHECK_EQ(vp_modern_find(&vp), 0);
	vp_sim.status = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK |
			VIRTIO_CONFIG_S_DRIVER_OK;
	vp_sim.stuck_reset = true;
	dma = host_dma_live;
	CHECK_EQ(virtio_reset_device(&vp.vdev), -ETIMEDOUT);
	CHECK(vp.vdev.dead);
	CHECK(log_has("vp0: the device did not finish its reset"));
	vp_del_vqs(&vp.vdev);
	CHECK_EQ(vp_sim.msi_freed, vp_sim.msi_allocated); /* no handler left to run */
	CHECK_EQ(host_dma_live, dma);                       /* the rings are still there */
	CHECK(vp.vqs[0].vq && vp.vqs[1].vq);
	CHECK_EQ(vp.nvqs, 0);
	CHECK_EQ(vp.vdev.nvqs, 0);
	for (unsigned i = 0; i < 2; i++) { /* the test plays the reboot that frees them */
		vring_del_virtqueue(vp.vqs[i].vq);
		vp.vqs[i].vq = NULL;
	}
	vp_modern_finish(&vp);

	/* the driver: netreset on a device whose reset times out */
	start_default();
	stack_up();
	for (int i = 0; i < 10; i++)
		udp_sendto(IPV4(10, 0, 2, 255), 1000, 1000, "x", 1);
	vh_poll();
	CHECK(vh_vi()->tx_inflight > 0);
	netbuf_get_stats(&ns);
	in_use = ns.in_use;
	dma = host_dma_live;
	vh.cfg.stuck_reset = true;
	CHECK(netreset() < 0);
	CHECK(vh.vdev.dead);
	CHECK(!vh_bound());
	CHECK(!netif_device_present(&vh_vi()->dev));
	CHECK_EQ(host_dma_live, dma); /* rings kept */
	netbuf_get_stats(&ns);
	CHECK_EQ(ns.in_use, in_use);  /* and every buffer the device holds */
	udp_sendto(IPV4(10, 0, 2, 255), 1000, 1000, "x", 1);
	h_advance_ns(3 * NSEC_PER_SEC);
	vh_poll();
	CHECK_EQ(vh_vi()->dev.stats.tx_detached_drop, 1);
	host_log_clear();
	CHECK_EQ(netreset(), -EIO); /* dead: not probed again */
	CHECK(log_has("is dead"));
	CHECK(vh.vqs[RX_VQ] && vh.vqs[TX_VQ]);
	reboot_dead_device();
	finish();
}

/* ---- self-healing (drivers/net/virtio_net_recovery.c) ---- */

static struct virtnet_recovery *rec(void) { return &vh_vi()->recovery; }

/* Break the receive ring as a confused device does: a used index far past what was posted,
 * then the interrupt; the poll finds it. */
static void break_rx_ring(void)
{
	sim_set_used_idx(&vh.sim[RX_VQ], (u16)(vh.sim[RX_VQ].used_idx + 1000));
	vh_interrupt(RX_VQ);
	vh_poll();
}

/* Let the clock run in 1 ms steps until the driver's next recovery attempt: the ms it took,
 * or 0 if none came within limit_ms. */
static unsigned ms_until_attempt(unsigned limit_ms)
{
	u64 before = rec()->attempts;

	for (unsigned ms = 1; ms <= limit_ms; ms++) {
		h_advance_ns(NSEC_PER_MSEC);
		if (rec()->attempts != before)
			return ms;
	}
	return 0;
}

/* Back after a recovery: nothing lost, rings full, the link's announcement sent and
 * completed (so the transmit watchdog has nothing to wait for). */
static void check_back(u64 recoveries)
{
	CHECK_EQ(rec()->state, VIRTNET_OK);
	CHECK_EQ(rec()->recoveries, recoveries);
	CHECK(netif_device_present(&vh_vi()->dev));
	CHECK(vh_vi()->dev.carrier);
	CHECK_EQ(vh_vi()->rx_posted, rx_ring());
	vh_poll(); /* the announcement's kick */
	CHECK_EQ(vh_tx_complete(64), 1);
	arp_announce_stop(); /* not its second, 2 s later (RFC 5227 2.3): never completed here */
	h_advance_ns(TX_RECLAIM_NS);
	CHECK_EQ(vh_vi()->tx_inflight, 0);
	CHECK_EQ(vh_leaked(), 0);
}

/* A device that breaks its ring again after every reset: the wait before each reset doubles
 * from 10 ms (while it keeps breaking within a minute of coming back); the ninth breakage
 * within the minute finds RECOVERY_MAX_PER_MIN attempts made and the device ends FAILED at
 * once, let go of (reset, every buffer back), with one message; timers, the stack and the
 * shell go on, and netreset brings it back (an outage ended: counted as a recovery). */
static void test_recovery_backoff_then_failed(void)
{
	static const unsigned wait_ms[RECOVERY_MAX_PER_MIN] = { 10, 20, 40, 80, 160, 320, 640, 1280 };
	unsigned waited = 0;

	start_default();
	stack_up();
	CHECK_EQ(rec()->state, VIRTNET_OK);
	CHECK(!strcmp(rec()->reason, "none"));
	for (unsigned i = 0; i < RECOVERY_MAX_PER_MIN; i++) {
		host_log_clear();
		break_rx_ring();
		CHECK_EQ(rec()->state, VIRTNET_RECOVERING);
		CHECK(!netif_device_present(&vh_vi()->dev));
		CHECK(!vh_vi()->dev.carrier);
		CHECK(log_has("eth0: rx queue broken; resetting the device in"));
		CHECK_EQ(ms_until_attempt(5000), wait_ms[i]);
		waited += wait_ms[i];
		CHECK(log_has("eth0: device back after"));
		check_back(i + 1);
	}
	CHECK(virtnet_down_ms(vh_vi()) >= waited);
	host_log_clear();
	break_rx_ring(); /* no reset promised that would not happen: FAILED at once (from the timer) */
	CHECK(!log_has("resetting the device in"));
	h_advance_ns(0);
	CHECK_EQ(rec()->state, VIRTNET_FAILED);
	CHECK_EQ(rec()->attempts, RECOVERY_MAX_PER_MIN);
	CHECK(log_has("eth0: device FAILED: 8 resets within a minute did not make it behave "
		      "(last trouble: rx queue broken); it stays down -- 'netreset' tries again"));
	CHECK(!vh_bound());
	CHECK(!netif_device_present(&vh_vi()->dev));
	CHECK_EQ(vh_leaked(), 0);
	/* the rest of the kernel goes on: timers run, frames sent are dropped and counted */
	host_log_clear();
	udp_sendto(IPV4(10, 0, 2, 2), 1000, 1000, "x", 1);
	h_advance_ns(120 * NSEC_PER_SEC);
	vh_poll();
	CHECK_EQ(rec()->attempts, RECOVERY_MAX_PER_MIN);
	CHECK(!log_has("FAILED")); /* said once */
	CHECK(vh_vi()->dev.stats.tx_detached_drop > 0); /* the ARP requests for 10.0.2.2 */
	CHECK(virtnet_down_ms(vh_vi()) >= waited + 120000);
	/* netreset: back, counted as one more recovery */
	CHECK_EQ(netreset(), 0);
	check_back(RECOVERY_MAX_PER_MIN + 1);
	stack_up();
	check_ping(56, 50);
	finish();
}

/* The cap counts the last RECOVERY_MAX_PER_MIN attempts within a minute, not in all: a device
 * that breaks every 9 s has made eight attempts, but the oldest of them more than a minute
 * ago by the ninth, which is made (at the longest wait) and brings it back. */
static void test_recovery_cap_is_per_minute(void)
{
	start_default();
	stack_up();
	for (unsigned i = 0; i < RECOVERY_MAX_PER_MIN; i++) {
		break_rx_ring();
		CHECK_EQ(ms_until_attempt(5000), 10u << i);
		check_back(i + 1);
		h_advance_ns(9 * NSEC_PER_SEC);
	}
	break_rx_ring();
	CHECK_EQ(ms_until_attempt(5000), 2000);
	CHECK_EQ(rec()->attempts, RECOVERY_MAX_PER_MIN + 1);
	check_back(RECOVERY_MAX_PER_MIN + 1);
	finish();
}

/* A device that behaved for a minute since it came back starts again at the shortest wait. */
static void test_recovery_backoff_calms_down(void)
{
	start_default();
	stack_up();
	break_rx_ring();
	CHECK_EQ(ms_until_attempt(100), 10);
	check_back(1);
	break_rx_ring();
	CHECK_EQ(ms_until_attempt(100), 20);
	check_back(2);
	h_advance_ns(59 * NSEC_PER_SEC);
	break_rx_ring();
	CHECK_EQ(ms_until_attempt(100), 40); /* 59 s: not calm yet */
	check_back(3);
	h_advance_ns(60 * NSEC_PER_SEC);
	break_rx_ring();
	CHECK_EQ(ms_until_attempt(100), 10);
	check_back(4);
	finish();
}

/* A re-initialisation that fails (here the device reports a receive queue of size 0) is tried
 * again after a longer wait; once the device offers a usable queue, it is back. */
static void test_recovery_attempt_fails_then_succeeds(void)
{
	start_default();
	stack_up();
	vh.cfg.qsize[RX_VQ] = 0;
	break_rx_ring();
	CHECK_EQ(ms_until_attempt(100), 10);
	CHECK(log_has("eth0: recovery attempt 1 failed ("));
	CHECK(log_has("trying again in 20 ms"));
	CHECK_EQ(rec()->state, VIRTNET_RECOVERING);
	CHECK(!vh_bound());
	CHECK_EQ(ms_until_attempt(100), 20);
	CHECK(log_has("eth0: recovery attempt 2 failed ("));
	vh.cfg.qsize[RX_VQ] = 64;
	CHECK_EQ(ms_until_attempt(100), 40);
	CHECK_EQ(rec()->attempts, 3);
	check_back(1);
	stack_up();
	check_ping(56, 51);
	finish();
}

/* A device that can never be re-initialised: attempts at 10, 20, ... 1280 ms, then the ninth
 * within the minute is refused and the device ends FAILED, unbound, nothing leaked. */
static void test_recovery_probe_never_succeeds(void)
{
	start_default();
	stack_up();
	vh.cfg.qsize[RX_VQ] = 0;
	break_rx_ring();
	for (unsigned i = 0; i < RECOVERY_MAX_PER_MIN; i++)
		CHECK_EQ(ms_until_attempt(5000), 10u << i);
	CHECK_EQ(rec()->state, VIRTNET_RECOVERING);
	CHECK(log_has("eth0: recovery attempt 8 failed ("));
	CHECK(log_has("trying again in 2000 ms"));
	h_advance_ns(2000 * NSEC_PER_MSEC);
	CHECK_EQ(rec()->state, VIRTNET_FAILED);
	CHECK_EQ(rec()->attempts, RECOVERY_MAX_PER_MIN);
	CHECK(log_has("eth0: device FAILED: 8 resets within a minute did not make it behave"));
	CHECK(!vh_bound());
	CHECK_EQ(vh_leaked(), 0);
	h_advance_ns(120 * NSEC_PER_SEC);
	CHECK_EQ(rec()->attempts, RECOVERY_MAX_PER_MIN);
	finish();
}

/* DEVICE_NEEDS_RESET (2.1.2) with a configuration interrupt: the driver resets the device. */
static void test_recovery_on_needs_reset(void)
{
	start_default();
	stack_up();
	vh.status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	virtio_config_changed(&vh.vdev);
	vh_run_work();
	CHECK(log_has("device reports DEVICE_NEEDS_RESET"));
	CHECK(log_has("eth0: device needs reset; resetting the device in 10 ms"));
	CHECK(!strcmp(rec()->reason, "device needs reset"));
	h_advance_ns(10 * NSEC_PER_MSEC);
	CHECK(!(vh.status & VIRTIO_CONFIG_S_NEEDS_RESET));
	check_back(1);
	stack_up();
	check_ping(56, 52);
	finish();
}

/* A reset that never completes during a recovery: the device is dead; FAILED at once, its
 * rings and buffers kept (it may still write them), nothing retried. */
static void test_recovery_dead_device_fails(void)
{
	struct netbuf_stats ns;

	start_default();
	stack_up();
	vh.cfg.stuck_reset = true;
	break_rx_ring();
	h_advance_ns(10 * NSEC_PER_MSEC);
	CHECK(vh.vdev.dead);
	CHECK_EQ(rec()->state, VIRTNET_FAILED);
	CHECK(log_has("eth0: device FAILED: its reset never completed (last trouble: rx queue broken)"));
	netbuf_get_stats(&ns); /* what the device holds is still in use, counted */
	CHECK_EQ(ns.in_use, vh_vi()->rx_posted + vh_vi()->tx_inflight + arp_pending_total());
	CHECK_EQ(vh_vi()->rx_posted, vh.cfg.qsize[RX_VQ]);
	h_advance_ns(120 * NSEC_PER_SEC);
	CHECK_EQ(rec()->attempts, 1);
	reboot_dead_device();
	finish();
}

/* Reset with buffers on both queues and frames waiting in the backlog: all come back. */
static void test_reset_and_remove_with_buffers_out(void)
{
	start_default();
	vh_attach_stack(OUR_IP, PEER_IP);
	vh_poll();
	for (int i = 0; i < 100; i++)
		udp_sendto(IPV4(10, 0, 2, 255), 1000, 1000, "x", 1);
	vh_poll();
	CHECK(vh_vi()->tx_inflight > 0);
	CHECK_EQ(virtio_reprobe(&vh.vdev), 0);
	CHECK(vh_bound());
	CHECK_EQ(vh_vi()->tx_inflight, 0);
	CHECK_EQ(vh_vi()->rx_posted, rx_ring());
	CHECK_EQ(vh_leaked(), 0);
	CHECK(vh.resets >= 2);
	/* the new rings work */
	vh_rx_frame((u8[64]){ 0 }, 64);
	vh_poll();
	CHECK_EQ(vh_leaked(), 0);
	for (int i = 0; i < 10; i++)
		udp_sendto(IPV4(10, 0, 2, 255), 1000, 1000, "x", 1);
	vh_poll();
	finish(); /* remove with frames in flight */
}

/* ---- the control queue (virtio 1.x 5.1.6.5; drivers/net/virtio_net_ctrl.c) ---- */

#define CTRL_FEATURES (BIT_ULL(VIRTIO_NET_F_CTRL_VQ) | BIT_ULL(VIRTIO_NET_F_CTRL_RX) | \
		       BIT_ULL(VIRTIO_NET_F_CTRL_MAC_ADDR) | BIT_ULL(VIRTIO_NET_F_GUEST_ANNOUNCE))

static const u8 new_mac[ETH_ALEN] = { 0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc };

static void start_ctrl(u64 more, u16 max_pairs, enum vh_ctrl_answer answer)
{
	struct vh_config c;

	vh_default_config(&c);
	c.features |= CTRL_FEATURES | more;
	c.max_pairs = max_pairs;
	c.ctrl_answer = answer;
	vh_start(&c);
}

static bool cmd_is(unsigned i, u8 class, u8 cmd, const void *data, unsigned len)
{
	const struct vh_ctrl_cmd *c = vh_ctrl_cmd(i);

	return c->class == class && c->cmd == cmd && c->len == len && memcmp(c->data, data, len) == 0;
}

static struct virtnet_ctrl_stats *cst(void) { return &vh_vi()->ctrl.stats; }

/* The probe turns QEMU's reset state (promiscuous) into ours: promisc off, allmulti off, an
 * empty table; three commands on the control queue, index 2, each acknowledged. */
static void test_ctrl_probe_sets_filter(void)
{
	static const u8 off = 0, empty_tables[8] = { 0 };

	start_ctrl(0, 0, VH_CTRL_ACK);
	CHECK(vh_bound());
	CHECK(vh.accepted & BIT_ULL(VIRTIO_NET_F_CTRL_VQ));
	CHECK(vh_vi()->ctrl.cvq && vh_vi()->ctrl.cvq->index == 2);
	CHECK_EQ(vh.ctrl_seen, 3);
	CHECK(cmd_is(2, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, &off, 1));
	CHECK(cmd_is(1, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_ALLMULTI, &off, 1));
	CHECK(cmd_is(0, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, empty_tables, 8));
	CHECK(!vh.promisc && !vh.allmulti);
	CHECK_EQ(cst()->sent, 3);
	CHECK_EQ(cst()->ok, 3);
	CHECK(virtnet_rx_mode_in_step(vh_vi()));
	stack_up();
	check_ping(56, 1);
	finish();
}

/* promisc and allmulti send one command each, only when they change; a multicast group the
 * stack joins goes into the device's table. */
static void test_ctrl_promisc_allmulti_table(void)
{
	static const u8 on = 1, group[ETH_ALEN] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb };
	u8 table[8 + ETH_ALEN] = { 0, 0, 0, 0, 1, 0, 0, 0 };
	struct net_device *dev;

	start_ctrl(0, 0, VH_CTRL_ACK);
	stack_up();
	dev = &vh_vi()->dev;
	CHECK_EQ(dev_set_promiscuity(dev, true), 0);
	CHECK_EQ(vh.ctrl_seen, 4);
	CHECK(cmd_is(0, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, &on, 1));
	CHECK(vh.promisc && dev->promisc);
	CHECK_EQ(dev_set_promiscuity(dev, true), 0); /* no change: nothing sent */
	CHECK_EQ(vh.ctrl_seen, 4);
	CHECK_EQ(dev_set_allmulti(dev, true), 0);
	CHECK(cmd_is(0, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_ALLMULTI, &on, 1));
	CHECK(vh.allmulti);
	CHECK_EQ(dev_set_promiscuity(dev, false), 0);
	CHECK(!vh.promisc);
	memcpy(table + 8, group, ETH_ALEN);
	CHECK_EQ(eth_add_multicast(group), 0);
	CHECK(cmd_is(0, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, table, sizeof(table)));
	CHECK_EQ(vh.mc_count, 1);
	eth_clear_multicast();
	CHECK_EQ(vh.mc_count, 0);
	CHECK_EQ(cst()->nak + cst()->timeouts + cst()->bad_len, 0);
	check_ping(56, 2);
	finish();
}

/* A device that refuses (VIRTIO_NET_ERR): the error comes back, the flag stays as it was,
 * counted; the data path is untouched. */
static void test_ctrl_nak(void)
{
	struct net_device *dev;

	start_ctrl(0, 0, VH_CTRL_NAK);
	CHECK(vh_bound());
	CHECK_EQ(cst()->nak, 3); /* the probe's three, refused: the probe still succeeds */
	stack_up();
	dev = &vh_vi()->dev;
	CHECK(!virtnet_rx_mode_in_step(vh_vi()));
	CHECK_EQ(dev_set_promiscuity(dev, true), -EIO);
	CHECK(!dev->promisc);
	CHECK_EQ(cst()->nak, 3); /* the three the device never took are sent again */
	CHECK_EQ(vh_vi()->ctrl.last_ack, VIRTIO_NET_ERR);
	CHECK(log_has("control command rx promisc refused by the device (ack 1: VIRTIO_NET_ERR)"));
	check_ping(56, 3);
	finish();
}

/* A device that never answers: each command gives up after VIRTNET_CTRL_TIMEOUT_MS of the (simulated)
 * clock, the queue is stuck and later commands are refused at once without touching it, until
 * the late answer arrives; the data path works throughout. */
static void test_ctrl_timeout(void)
{
	struct net_device *dev;
	u64 t0;
	unsigned seen;

	start_ctrl(0, 0, VH_CTRL_ACK);
	stack_up();
	dev = &vh_vi()->dev;
	vh.cfg.ctrl_answer = VH_CTRL_SILENT;
	t0 = host_now_ns;
	CHECK_EQ(dev_set_promiscuity(dev, true), -ETIMEDOUT);
	CHECK(host_now_ns - t0 >= VIRTNET_CTRL_TIMEOUT_MS * NSEC_PER_MSEC);
	CHECK(host_now_ns - t0 < (VIRTNET_CTRL_TIMEOUT_MS + 10) * NSEC_PER_MSEC);
	CHECK(vh_vi()->ctrl.stuck);
	CHECK_EQ(cst()->timeouts, 1);
	CHECK(log_has("control command rx promisc: no answer from the device within 1000 ms"));
	seen = vh.ctrl_seen;
	t0 = host_now_ns;
	CHECK_EQ(dev_set_allmulti(dev, true), -EIO); /* stuck: not even posted */
	CHECK_EQ(host_now_ns, t0);
	CHECK_EQ(vh.ctrl_seen, seen);
	CHECK_EQ(cst()->unusable, 2); /* allmulti, and promisc again (never acknowledged) */
	check_ping(56, 4);
	/* the answer comes after all: the queue is usable again */
	vh.cfg.ctrl_answer = VH_CTRL_ACK;
	vh_ctrl_answer_late();
	CHECK_EQ(dev_set_allmulti(dev, true), 0);
	CHECK_EQ(cst()->late, 1);
	CHECK(!vh_vi()->ctrl.stuck);
	CHECK(vh.allmulti);
	/* and a reset takes back a command the device sits on */
	vh.cfg.ctrl_answer = VH_CTRL_SILENT;
	CHECK_EQ(dev_set_allmulti(dev, false), -ETIMEDOUT);
	vh.cfg.ctrl_answer = VH_CTRL_ACK;
	netif_device_detach(dev); /* torn down, as during a reset: said so, not "unsupported" */
	virtnet_ctrl_remove(vh_vi());
	CHECK_EQ(dev_set_mac_address(dev, new_mac), -ENODEV);
	CHECK_MEM(dev->mac, vh.cfg.mac, ETH_ALEN);
	CHECK_EQ(virtio_reprobe(&vh.vdev), 0);
	CHECK(!vh_vi()->ctrl.stuck);
	CHECK_EQ(dev_set_allmulti(dev, false), 0);
	vh_poll();
	vh_tx_complete(64);
	vh_poll();
	finish();
}

/* A used buffer whose length says the ack was not written (0), or more than our one byte
 * (the ring cuts that to 0): -EPROTO, the ack never read, the queue usable for the next. */
static void test_ctrl_bad_used_len(void)
{
	struct net_device *dev;
	u64 ring_bad;

	start_ctrl(0, 0, VH_CTRL_ACK);
	stack_up();
	dev = &vh_vi()->dev;
	vh.cfg.ctrl_answer = VH_CTRL_NO_ACK;
	CHECK_EQ(dev_set_promiscuity(dev, true), -EPROTO);
	CHECK_EQ(cst()->bad_len, 1);
	CHECK(!dev->promisc);
	ring_bad = vh_vi()->ctrl.cvq->stats.bad_used_len;
	vh.cfg.ctrl_answer = VH_CTRL_LONG;
	CHECK_EQ(dev_set_promiscuity(dev, true), -EPROTO);
	CHECK_EQ(cst()->bad_len, 2);
	CHECK_EQ(vh_vi()->ctrl.cvq->stats.bad_used_len, ring_bad + 1);
	CHECK(log_has("returned it without writing the ack (used length 0)"));
	vh.cfg.ctrl_answer = VH_CTRL_ACK;
	CHECK_EQ(dev_set_promiscuity(dev, true), 0);
	CHECK(vh.promisc);
	finish();
}

/* ifconfig hw ether: MAC_ADDR_SET, our MAC, then a gratuitous ARP from the new address (the
 * stack hears of it through the netdev event, not from the driver); kept across a reset. */
static void test_ctrl_mac_change(void)
{
	struct net_device *dev;
	unsigned n, len;
	const u8 *f;

	start_ctrl(0, 0, VH_CTRL_ACK);
	stack_up();
	dev = &vh_vi()->dev;
	n = vh.tx_seen;
	CHECK_EQ(dev_set_mac_address(dev, new_mac), 0);
	CHECK(cmd_is(0, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, new_mac, ETH_ALEN));
	CHECK_MEM(dev->mac, new_mac, ETH_ALEN);
	CHECK_MEM(vh.mac_now, new_mac, ETH_ALEN);
	vh_poll();
	CHECK_EQ(vh_tx_complete(64), 1);
	f = vh_tx(n, &len);
	CHECK_EQ(get_be16(f + 12), ETH_P_ARP);
	CHECK_MEM(f, eth_broadcast_addr, ETH_ALEN);
	CHECK_MEM(f + 6, new_mac, ETH_ALEN);               /* Ethernet source */
	CHECK_MEM(f + ETH_HLEN + 8, new_mac, ETH_ALEN);    /* sender hardware address */
	CHECK_EQ(get_be32(f + ETH_HLEN + 14), get_be32(f + ETH_HLEN + 24)); /* sender IP = target IP */
	CHECK_EQ(dev_set_mac_address(dev, (const u8[6]){ 0x01, 0, 0x5e, 0, 0, 1 }), -EINVAL);
	/* a reset: the device forgets (QEMU takes its configured MAC back); we set ours again */
	memcpy(vh.mac_now, vh.cfg.mac, ETH_ALEN);
	CHECK_EQ(virtio_reprobe(&vh.vdev), 0);
	CHECK_MEM(dev->mac, new_mac, ETH_ALEN);
	CHECK_MEM(vh.mac_now, new_mac, ETH_ALEN);
	vh_poll();
	vh_tx_complete(64);
	vh_poll();
	finish();
	/* without VIRTIO_NET_F_CTRL_MAC_ADDR: a clear message, nothing changes */
	start_default();
	stack_up();
	dev = &vh_vi()->dev;
	CHECK_EQ(dev_set_mac_address(dev, new_mac), -EOPNOTSUPP);
	CHECK_MEM(dev->mac, vh.cfg.mac, ETH_ALEN);
	CHECK(log_has("the device cannot change its MAC address: VIRTIO_NET_F_CTRL_MAC_ADDR not offered"));
	CHECK_EQ(dev_set_promiscuity(dev, true), -EOPNOTSUPP);
	finish();
}

/* VIRTIO_NET_S_ANNOUNCE (5.1.6.5.4): a gratuitous ARP, then ANNOUNCE_ACK, which clears it. */
static void test_guest_announce(void)
{
	unsigned n, len;
	u16 st;
	const u8 *f;

	start_ctrl(0, 0, VH_CTRL_ACK);
	stack_up();
	n = arp_stats.tx_announces;
	vh_request_announce();
	CHECK_EQ(arp_stats.tx_announces, n + 1);
	CHECK(cmd_is(0, VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK, "", 0));
	memcpy(&st, vh.cfgspace + VIRTIO_NET_CFG_STATUS, 2);
	CHECK_EQ(st, VIRTIO_NET_S_LINK_UP);
	CHECK_EQ(cst()->announces, 1);
	CHECK_EQ(cst()->nak, 0);
	vh_poll();
	n = vh.tx_seen;
	CHECK_EQ(vh_tx_complete(64), 1);
	f = vh_tx(n, &len);
	CHECK_EQ(get_be16(f + 12), ETH_P_ARP);
	CHECK_MEM(f + ETH_HLEN + 14, ((const u8[4]){ 10, 0, 2, 15 }), 4); /* sender IP: ours */
	finish();
	/* not negotiated: the bit means nothing to us, and nothing is sent */
	{
		struct vh_config c;

		vh_default_config(&c);
		c.features |= BIT_ULL(VIRTIO_NET_F_CTRL_VQ);
		vh_start(&c);
	}
	stack_up();
	n = arp_stats.tx_announces;
	vh_request_announce();
	CHECK_EQ(arp_stats.tx_announces, n);
	CHECK_EQ(vh.ctrl_seen, 0);
	finish();
}

/* MQ with four pairs: the control queue is queue 8 (5.1.2), the pairs we do not use are not set
 * up, and the device is told we use one. Too many pairs for us: MQ declined, control queue 2. */
static void test_ctrl_mq(void)
{
	static const u8 one[2] = { 1, 0 };

	start_ctrl(BIT_ULL(VIRTIO_NET_F_MQ), 4, VH_CTRL_ACK);
	CHECK(vh_bound());
	CHECK(vh.accepted & BIT_ULL(VIRTIO_NET_F_MQ));
	CHECK(vh_vi()->ctrl.cvq && vh_vi()->ctrl.cvq->index == 8);
	for (unsigned i = 2; i < 8; i++)
		CHECK(vh.vqs[i] == NULL);
	CHECK(cmd_is(3, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, one, 2));
	CHECK_EQ(vh.pairs, 1);
	stack_up();
	check_ping(56, 5);
	finish();
	start_ctrl(BIT_ULL(VIRTIO_NET_F_MQ), 40, VH_CTRL_ACK);
	CHECK(vh_bound());
	CHECK(!(vh.accepted & BIT_ULL(VIRTIO_NET_F_MQ)));
	CHECK(vh_vi()->ctrl.cvq && vh_vi()->ctrl.cvq->index == 2);
	CHECK(log_has("max_virtqueue_pairs 40 is outside 1..16; not accepting MQ"));
	finish();
}

/* A clock that jumps forward by an hour, as a migration's downtime would if the hypervisor let
 * the TSC run through it (QEMU stops it: docs/migration.md): one pass of the timers fires each
 * one due once and leaves none in the past (no storm: every timer re-arms from now), the
 * transmit watchdog does not take the jump for a stuck device, and the stack answers at once
 * (its ARP entry for the peer is stale now: still used, and confirmed by one unicast poll). */
static void test_clock_jump(void)
{
	static u8 f[256];
	unsigned n, sent, replies = 0, len, resets;

	start_ctrl(0, 0, VH_CTRL_ACK);
	stack_up();
	check_ping(56, 1);
	n = vh.tx_seen;
	resets = vh.resets;
	host_now_ns += 3600ull * NSEC_PER_SEC;
	timers_run();
	CHECK(timers_next_ns() > host_now_ns);
	CHECK_EQ(vh_vi()->recovery.state, VIRTNET_OK);
	CHECK_EQ(vh.resets, resets);
	CHECK_EQ(st()->tx_timeouts, 0);
	vh_rx_frame(f, build_ping(f, 56, 2));
	vh_poll();
	vh_tx_complete(64);
	vh_poll();
	sent = vh.tx_seen - n;
	CHECK(sent >= 1 && sent <= 3);
	for (unsigned i = n; i < vh.tx_seen; i++)
		replies += is_echo_reply(i, 56, 2);
	CHECK_EQ(replies, 1);
	for (unsigned i = n; i < vh.tx_seen; i++)
		if (get_be16(vh_tx(i, &len) + 12) == ETH_P_ARP)
			CHECK(!eth_is_broadcast(vh_tx(i, &len))); /* a poll, unicast (RFC 1122 2.3.2.1) */
	check_rx_refilled();
	finish();
}

/* 5.1.3.1: CTRL_RX and the others only with CTRL_VQ. */
static void test_ctrl_features_need_ctrl_vq(void)
{
	struct vh_config c;

	vh_default_config(&c);
	c.features |= BIT_ULL(VIRTIO_NET_F_CTRL_RX) | BIT_ULL(VIRTIO_NET_F_GUEST_ANNOUNCE);
	vh_start(&c);
	CHECK(vh_bound());
	CHECK(!(vh.accepted & (BIT_ULL(VIRTIO_NET_F_CTRL_RX) | BIT_ULL(VIRTIO_NET_F_GUEST_ANNOUNCE))));
	CHECK(log_has("CTRL_RX offered without CTRL_VQ; not accepting it"));
	CHECK(vh_vi()->ctrl.cvq == NULL);
	CHECK_EQ(virtnet_send_command(vh_vi(), VIRTIO_NET_CTRL_RX, 0, NULL, 0), -EOPNOTSUPP);
	finish();
}

/* ---- checksum offload (VIRTIO_NET_F_CSUM, VIRTIO_NET_F_GUEST_CSUM; 5.1.6.2, 5.1.6.4) ---- */

#define CSUM_FEATURES (BIT_ULL(VIRTIO_NET_F_CSUM) | BIT_ULL(VIRTIO_NET_F_GUEST_CSUM))

/* A device offering both checksum features (unless the command line says off), stack up. */
static void start_csum(const char *csum, const char *guest_csum)
{
	struct vh_config c;

	h_set_cmdline("vnet_csum", csum);
	h_set_cmdline("vnet_guest_csum", guest_csum);
	vh_default_config(&c);
	c.features |= CSUM_FEATURES;
	vh_start(&c);
	h_set_cmdline("vnet_csum", NULL);
	h_set_cmdline("vnet_guest_csum", NULL);
	CHECK(vh_bound());
	stack_up();
	udp_zero_stats();
}

/* The 12 header bytes a frame went out with must be exactly these. */
static void check_tx_header(unsigned i, u8 flags, u16 csum_start, u16 csum_offset)
{
	const u8 want[12] = { flags, 0, 0, 0, 0, 0, (u8)csum_start, (u8)(csum_start >> 8),
			      (u8)csum_offset, (u8)(csum_offset >> 8), 0, 0 };

	CHECK_EQ(vh_hdr_len(), 12);
	CHECK(memcmp(vh_tx_header(i), want, sizeof(want)) == 0);
}

/* The UDP datagram in frame f (IPv4 without options) sums to zero with its pseudo-header. */
static bool udp_sum_ok(const u8 *f)
{
	const struct iphdr *ip = (const void *)(f + ETH_HLEN);
	const u8 *uh = f + ETH_HLEN + IPV4_HLEN;
	u16 ulen = get_be16(uh + 4);

	return inet_csum_fold(inet_csum_add(inet_pseudo_sum(ip->saddr, ip->daddr, IPPROTO_UDP, ulen), uh, ulen)) == 0;
}

/* Send one datagram from the guest; returns the index of the frame the device took. */
static unsigned send_udp(const u8 *payload, unsigned len)
{
	unsigned n = vh.tx_seen;

	CHECK_EQ(udp_sendto(IPV4(10, 0, 2, 2), 5000, 6000, payload, len), 0);
	vh_poll();
	vh_tx_complete(64);
	vh_poll();
	CHECK(vh.tx_seen > n);
	return n;
}

static void test_csum_tx_offload(void)
{
	u8 payload[300], f[NETBUF_DEFAULT_SIZE];
	unsigned len, i;
	u16 seed;

	for (unsigned k = 0; k < sizeof(payload); k++)
		payload[k] = (u8)(k * 7 + 1);
	start_csum(NULL, NULL);
	CHECK((vh.accepted & CSUM_FEATURES) == CSUM_FEATURES);
	CHECK_EQ(vh_vi()->dev.features, NETIF_F_HW_CSUM | NETIF_F_RXCSUM);

	i = send_udp(payload, sizeof(payload));
	/* NEEDS_CSUM, start at the UDP header (14 + 20), result at its checksum field (6) */
	check_tx_header(i, VIRTIO_NET_HDR_F_NEEDS_CSUM, ETH_HLEN + IPV4_HLEN, 6);
	vh_tx(i, &len);
	memcpy(f, vh_tx(i, &len), MIN(len, sizeof(f)));
	CHECK_EQ(len, ETH_HLEN + IPV4_HLEN + UDP_HLEN + sizeof(payload));
	/* the field holds the pseudo-header sum, folded and not complemented (5.1.6.2) */
	seed = (u16)~inet_csum_fold(inet_pseudo_sum(IPV4(10, 0, 2, 15), IPV4(10, 0, 2, 2), IPPROTO_UDP,
						    UDP_HLEN + sizeof(payload)));
	CHECK_EQ(get_be16(f + ETH_HLEN + IPV4_HLEN + 6), seed);
	CHECK(!udp_sum_ok(f));
	CHECK(inet_csum(f + ETH_HLEN, IPV4_HLEN) == 0); /* the IPv4 header is always ours to sum */
	CHECK(memcmp(f + ETH_HLEN + IPV4_HLEN + UDP_HLEN, payload, sizeof(payload)) == 0);
	vh_complete_csum(f, len, vh_tx_header(i)); /* what the device does */
	CHECK(udp_sum_ok(f));
	CHECK_EQ(st()->tx_csum_partial, 1);
	CHECK_EQ(udp_stats.tx_csum_offload, 1);

	/* ICMP and ARP are summed by the stack: their headers carry no flags */
	i = vh.tx_seen;
	check_ping(56, 1);
	check_tx_header(i, 0, 0, 0);
	i = vh.tx_seen;
	vh_rx_frame(f, build_arp_request(f));
	vh_poll();
	CHECK_EQ(vh_tx_complete(64), 1);
	check_tx_header(i, 0, 0, 0);

	finish();
}

/* vnet_csum=off: offered, left out; the stack sums every datagram and the header stays 0. */
static void test_csum_tx_switched_off(void)
{
	u8 payload[100] = { 1, 2, 3 };
	unsigned len, i;

	start_csum("off", NULL);
	CHECK(!(vh.accepted & BIT_ULL(VIRTIO_NET_F_CSUM)));
	CHECK(vh.accepted & BIT_ULL(VIRTIO_NET_F_GUEST_CSUM));
	CHECK_EQ(vh_vi()->dev.features, NETIF_F_RXCSUM);
	i = send_udp(payload, sizeof(payload));
	check_tx_header(i, 0, 0, 0);
	CHECK(udp_sum_ok(vh_tx(i, &len)));
	CHECK_EQ(st()->tx_csum_partial, 0);
	CHECK_EQ(udp_stats.tx_csum_offload, 0);
	finish();

	/* a value other than on or off is said and ignored */
	start_csum("no", "maybe");
	CHECK((vh.accepted & CSUM_FEATURES) == CSUM_FEATURES);
	CHECK(log_has("vnet_csum=no ignored (on or off)"));
	CHECK(log_has("vnet_guest_csum=maybe ignored (on or off)"));
	finish();
}

/* A UDP datagram from the peer to port dport of ours, in an Ethernet frame; csum_ok false
 * makes its checksum wrong, seed puts the pseudo-header sum there instead (NEEDS_CSUM). */
enum rx_sum { SUM_RIGHT, SUM_WRONG, SUM_SEED };
static unsigned build_udp_in(u8 *out, u16 dport, const u8 *payload, unsigned len, enum rx_sum how)
{
	static u8 udp[2000], ip[2100];
	unsigned n = h_udp(udp, IPV4(10, 0, 2, 2), IPV4(10, 0, 2, 15), 4000, dport, payload, len, how != SUM_SEED);

	if (how == SUM_WRONG)
		udp[7] ^= 0x55;
	if (how == SUM_SEED)
		put_be16(udp + 6, (u16)~inet_csum_fold(inet_pseudo_sum(IPV4(10, 0, 2, 2), IPV4(10, 0, 2, 15),
								      IPPROTO_UDP, (u16)n)));
	n = h_ipv4(ip, IPV4(10, 0, 2, 2), IPV4(10, 0, 2, 15), IPPROTO_UDP, udp, n);
	return build_eth(out, vh_vi()->dev.mac, ETH_P_IP, ip, n);
}

/* The device receives frame f with this header (flags, csum_start, csum_offset). */
static void rx_with_header(const u8 *f, unsigned len, u8 flags, u16 csum_start, u16 csum_offset)
{
	static u8 tmp[2100];
	struct virtio_net_hdr_mrg_rxbuf h = { .hdr = { .flags = flags, .csum_start = csum_start,
						       .csum_offset = csum_offset }, .num_buffers = 1 };

	memcpy(tmp, &h, sizeof(h));
	memcpy(tmp + sizeof(h), f, len);
	CHECK_EQ(vh_rx_raw(tmp, sizeof(h) + len, 1, 0), 1);
	vh_rx_flush();
	vh_poll();
}

static void test_csum_rx_data_valid(void)
{
	u8 payload[64] = "data valid", f[200];
	unsigned len;

	start_csum(NULL, NULL);
	/* DATA_VALID: the device verified it; the stack does not sum it again (a wrong sum passes) */
	len = build_udp_in(f, UDP_PORT_DISCARD, payload, sizeof(payload), SUM_WRONG);
	rx_with_header(f, len, VIRTIO_NET_HDR_F_DATA_VALID, 0, 0);
	CHECK_EQ(udp_stats.discard_packets, 1);
	CHECK_EQ(udp_stats.rx_csum_trusted, 1);
	CHECK_EQ(udp_stats.rx_bad_csum, 0);
	CHECK_EQ(st()->rx_csum_valid, 1);
	/* no flags: summed, and the wrong one dropped */
	rx_with_header(f, len, 0, 0, 0);
	CHECK_EQ(udp_stats.discard_packets, 1);
	CHECK_EQ(udp_stats.rx_bad_csum, 1);
	check_rx_refilled();
	finish();

	/* vnet_guest_csum=off: the flags mean nothing (5.1.6.4.1 says the device sends 0) */
	start_csum(NULL, "off");
	CHECK(!(vh.accepted & BIT_ULL(VIRTIO_NET_F_GUEST_CSUM)));
	rx_with_header(f, len, VIRTIO_NET_HDR_F_DATA_VALID, 0, 0);
	CHECK_EQ(udp_stats.discard_packets, 0);
	CHECK_EQ(udp_stats.rx_bad_csum, 1);
	CHECK_EQ(udp_stats.rx_csum_trusted, 0);
	CHECK_EQ(st()->rx_csum_valid, 0);
	finish();
}

/* NEEDS_CSUM on receive: the data is verified, the field holds only the seed. The echo reply
 * must not send that seed back as a checksum: it is summed again (by the device here). */
static void echo_of_partial(bool tx_offload)
{
	u8 payload[200], f[400], out[400];
	unsigned len, olen, i;

	for (unsigned k = 0; k < sizeof(payload); k++)
		payload[k] = (u8)(k ^ 0x5a);
	start_csum(tx_offload ? NULL : "off", NULL);
	len = build_udp_in(f, UDP_PORT_ECHO, payload, sizeof(payload), SUM_SEED);
	i = vh.tx_seen;
	rx_with_header(f, len, VIRTIO_NET_HDR_F_NEEDS_CSUM, ETH_HLEN + IPV4_HLEN, 6);
	if (vh_tx_complete(64) != 1) {
		CHECK(!"the echo reply was sent");
		finish();
		return;
	}
	CHECK_EQ(st()->rx_csum_partial, 1);
	CHECK_EQ(udp_stats.rx_csum_trusted, 1);
	CHECK_EQ(udp_stats.echo_packets, 1);
	vh_tx(i, &olen);
	memcpy(out, vh_tx(i, &olen), MIN(olen, sizeof(out)));
	CHECK_EQ(olen, len);
	if (tx_offload)
		check_tx_header(i, VIRTIO_NET_HDR_F_NEEDS_CSUM, ETH_HLEN + IPV4_HLEN, 6);
	else
		check_tx_header(i, 0, 0, 0);
	vh_complete_csum(out, olen, vh_tx_header(i));
	CHECK(udp_sum_ok(out));
	CHECK(memcmp(out + olen - sizeof(payload), payload, sizeof(payload)) == 0);
	CHECK_EQ(get_be16(out + ETH_HLEN + IPV4_HLEN), UDP_PORT_ECHO); /* ports swapped */
	CHECK_EQ(get_be16(out + ETH_HLEN + IPV4_HLEN + 2), 4000);
	check_rx_refilled();
	finish();
}

static void test_csum_rx_needs_csum(void)
{
	u8 payload[32] = "partial", f[200];
	unsigned len;

	echo_of_partial(true);
	echo_of_partial(false);

	start_csum(NULL, NULL);
	len = build_udp_in(f, UDP_PORT_DISCARD, payload, sizeof(payload), SUM_SEED);
	/* the place to store the sum runs past the frame: a device error, dropped and counted */
	rx_with_header(f, len, VIRTIO_NET_HDR_F_NEEDS_CSUM, (u16)(len - 1), 0);
	CHECK_EQ(st()->rx_bad_csum_hdr, 1);
	rx_with_header(f, len, VIRTIO_NET_HDR_F_NEEDS_CSUM, ETH_HLEN + IPV4_HLEN, (u16)(len - ETH_HLEN - IPV4_HLEN - 1));
	CHECK_EQ(st()->rx_bad_csum_hdr, 2);
	CHECK_EQ(udp_stats.rx_datagrams, 0);
	/* NEEDS_CSUM naming another field is no promise about UDP: summed, the seed fails */
	rx_with_header(f, len, VIRTIO_NET_HDR_F_NEEDS_CSUM, ETH_HLEN, 10);
	CHECK_EQ(udp_stats.rx_bad_csum, 1);
	CHECK_EQ(udp_stats.discard_packets, 0);
	/* and naming ours: trusted */
	rx_with_header(f, len, VIRTIO_NET_HDR_F_NEEDS_CSUM, ETH_HLEN + IPV4_HLEN, 6);
	CHECK_EQ(udp_stats.discard_packets, 1);
	check_rx_refilled();
	finish();
}

int main(void)
{
	host_quiet = 1;
	host_now_ns = NSEC_PER_SEC;
	RUN(test_probe_well_behaved);
	RUN(test_packed_negotiated_and_working);
	RUN(test_packed_hostile_recovers);
	RUN(test_ctrl_probe_sets_filter);
	RUN(test_ctrl_promisc_allmulti_table);
	RUN(test_ctrl_nak);
	RUN(test_ctrl_timeout);
	RUN(test_ctrl_bad_used_len);
	RUN(test_ctrl_mac_change);
	RUN(test_guest_announce);
	RUN(test_ctrl_mq);
	RUN(test_ctrl_features_need_ctrl_vq);
	RUN(test_clock_jump);
	RUN(test_probe_legacy_small_header);
	RUN(test_probe_access_platform);
	RUN(test_queue_size_check);
	RUN(test_probe_queue_size_zero);
	RUN(test_probe_queue_size_not_power_of_two);
	RUN(test_probe_queue_too_large);
	RUN(test_mtu_out_of_range);
	RUN(test_small_mtu_enforced);
	RUN(test_mtu_feature_validated);
	RUN(test_mac_out_of_range);
	RUN(test_config_generation_never_settles);
	RUN(test_config_read_zeroes_on_failure);
	RUN(test_link_status_changes);
	RUN(test_features_ok_refused_and_stuck_reset);
	RUN(test_rx_used_len_short);
	RUN(test_rx_too_long_and_used_len_lie);
	RUN(test_rx_bad_used_id);
	RUN(test_num_buffers_zero);
	RUN(test_num_buffers_more_than_completed);
	RUN(test_num_buffers_merge);
	RUN(test_isr_unknown_bits);
	RUN(test_msix_fallback_enables_queues_last);
	RUN(test_teardown_releases_irqs_first);
	RUN(test_interrupt_claims_poll_first);
	RUN(test_tx_watchdog);
	RUN(test_recovery_backoff_then_failed);
	RUN(test_recovery_backoff_calms_down);
	RUN(test_recovery_cap_is_per_minute);
	RUN(test_recovery_attempt_fails_then_succeeds);
	RUN(test_recovery_probe_never_succeeds);
	RUN(test_recovery_on_needs_reset);
	RUN(test_recovery_dead_device_fails);
	RUN(test_tx_ring_broken_with_backlog);
	RUN(test_stall_then_refill);
	RUN(test_refill_after_pool_ran_dry);
	RUN(test_reset_and_remove_with_buffers_out);
	RUN(test_reset_clears_cached_status);
	RUN(test_failed_probe_detaches);
	RUN(test_reset_timeout_keeps_rings);
	RUN(test_csum_tx_offload);
	RUN(test_csum_tx_switched_off);
	RUN(test_csum_rx_data_valid);
	RUN(test_csum_rx_needs_csum);
	vh_teardown();
	return unit_summary("virtio_net");
}
