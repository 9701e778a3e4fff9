/*
 * tests/unit/test_virtio_net_diag.c - what the virtio-net driver says about itself
 * (drivers/net/virtio_net_diag.c): the names of the device's feature bits (virtio 1.x 5.1.3,
 * as `virtio` prints them), ifconfig's driver lines and netstat's driver lines, read on the
 * console exactly as a user or a grading script reads them (tests/qemu read the same lines
 * from QEMU, but only a few of them). Also the states where the driver holds no rings (a
 * recovery whose re-initialisation failed): the lines must still come, without the rings'
 * parts. Written for the survivors of make mutate (docs/testing.md).
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function" /* harness helpers these tests do not use */
#include "tests/unit/virtnet_harness.c" /* #included, not linked: the driver's statics */
#pragma GCC diagnostic pop
#include "tests/unit/unit.h"

static struct virtnet_info *vi(void) { return vh_vi(); }

/* host_log holds this whole line (from a line start to its newline). */
static bool log_line(const char *line)
{
	size_t n = strlen(line);

	for (const char *p = host_log; (p = strstr(p, line)) != NULL; p++)
		if ((p == host_log || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

#define CHECK_LINE(line)                                                                   \
	do {                                                                               \
		CHECK(log_line(line));                                                     \
		if (!log_line(line))                                                       \
			printf("#   expected the line \"%s\" in:\n%s", line, host_log);     \
	} while (0)

static void finish(void) { CHECK(vh_teardown_clean()); }

static bool start_with(u64 add, u64 drop, enum vh_ctrl_answer answer, bool legacy)
{
	struct vh_config c;

	vh_default_config(&c);
	c.features = (c.features | add) & ~drop;
	c.ctrl_answer = answer;
	c.legacy = legacy;
	vh_start(&c);
	CHECK(vh_bound());
	return vh_bound();
}

/* A 60-byte broadcast frame from the device's MAC. */
static void send_frame(u8 seed)
{
	struct netbuf *nb = netbuf_alloc();
	u8 *p;

	CHECK(nb != NULL);
	if (!nb)
		return;
	p = netbuf_put(nb, 60);
	memset(p, 0xff, ETH_ALEN);
	memcpy(p + ETH_ALEN, vi()->dev.mac, ETH_ALEN);
	for (unsigned i = 12; i < 60; i++)
		p[i] = (u8)(seed + i);
	CHECK_EQ(vi()->dev.ops->ndo_start_xmit(nb, &vi()->dev), NETDEV_TX_OK);
}

/* Every feature bit virtio 1.x 5.1.3 defines for a network device (GSO(6) from its legacy
 * interface, 5.1.3.1), by the spec's number and name without the VIRTIO_NET_F_ prefix: the
 * driver's names, and the core's for the same bit (`virtio` prints the core's); a bit the spec
 * does not give the network device is unknown to the driver, and the core says so. */
static void test_feature_names_follow_spec(void)
{
	static const struct { unsigned bit; const char *name; } spec[] = {
		{ 0, "CSUM" }, { 1, "GUEST_CSUM" }, { 2, "CTRL_GUEST_OFFLOADS" }, { 3, "MTU" },
		{ 5, "MAC" }, { 6, "GSO" }, { 7, "GUEST_TSO4" }, { 8, "GUEST_TSO6" },
		{ 9, "GUEST_ECN" }, { 10, "GUEST_UFO" }, { 11, "HOST_TSO4" }, { 12, "HOST_TSO6" },
		{ 13, "HOST_ECN" }, { 14, "HOST_UFO" }, { 15, "MRG_RXBUF" }, { 16, "STATUS" },
		{ 17, "CTRL_VQ" }, { 18, "CTRL_RX" }, { 19, "CTRL_VLAN" }, { 20, "CTRL_RX_EXTRA" },
		{ 21, "GUEST_ANNOUNCE" }, { 22, "MQ" }, { 23, "CTRL_MAC_ADDR" }, { 56, "HOST_USO" },
		{ 57, "HASH_REPORT" }, { 59, "GUEST_HDRLEN" }, { 60, "RSS" }, { 61, "RSC_EXT" },
		{ 62, "STANDBY" }, { 63, "SPEED_DUPLEX" },
	};
	bool named[64] = { false };

	if (!start_with(0, 0, VH_CTRL_ACK, false))
		return;
	for (unsigned i = 0; i < ARRAY_SIZE(spec); i++) {
		const char *n = virtnet_feature_name(spec[i].bit);

		CHECK(n != NULL && strcmp(n, spec[i].name) == 0);
		CHECK_STR(virtio_feature_name(&vh.vdev, spec[i].bit), spec[i].name);
		if (n == NULL || strcmp(n, spec[i].name) != 0)
			printf("#   bit %u: \"%s\", the spec says \"%s\"\n", spec[i].bit, n ? n : "(null)",
			       spec[i].name);
		named[spec[i].bit] = true;
	}
	for (unsigned bit = 0; bit < 64; bit++)
		if (!named[bit])
			CHECK(virtnet_feature_name(bit) == NULL);
	/* 4 and 58 belong to no one; 24..41 to the transport (virtio 1.x 6), named by the core */
	CHECK_STR(virtio_feature_name(&vh.vdev, 4), "unknown");
	CHECK_STR(virtio_feature_name(&vh.vdev, 58), "unknown");
	CHECK_STR(virtio_feature_name(&vh.vdev, 32), "VERSION_1");
	CHECK_STR(virtio_feature_name(&vh.vdev, 64), "?");
	finish();
}

/* ifconfig's driver lines on a modern device with a control queue that carries out every
 * command: the interface, the features the driver accepted (exactly what the device was told),
 * the rings with what each holds, the receive filter in step, the control queue's counters. */
static void test_describe_modern_with_ctrl(void)
{
	if (!start_with(BIT_ULL(VIRTIO_NET_F_CTRL_VQ) | BIT_ULL(VIRTIO_NET_F_CTRL_RX), 0, VH_CTRL_ACK, false))
		return;
	CHECK_EQ(vh.accepted, BIT_ULL(VIRTIO_NET_F_MTU) | BIT_ULL(VIRTIO_NET_F_MAC) |
				      BIT_ULL(VIRTIO_NET_F_MRG_RXBUF) | BIT_ULL(VIRTIO_NET_F_STATUS) |
				      BIT_ULL(VIRTIO_NET_F_CTRL_VQ) | BIT_ULL(VIRTIO_NET_F_CTRL_RX) |
				      BIT_ULL(VIRTIO_RING_F_INDIRECT_DESC) | BIT_ULL(VIRTIO_RING_F_EVENT_IDX) |
				      BIT_ULL(VIRTIO_F_VERSION_1));
	send_frame(1);
	send_frame(2);
	vh_poll();
	host_log_clear();
	virtnet_describe(&vi()->dev);
	CHECK_LINE("  virtio: virtio0 modern, header 12 bytes, mergeable receive buffers of 1920 bytes, "
		   "header shares a descriptor");
	CHECK_LINE("  features: MTU(3) MAC(5) MRG_RXBUF(15) STATUS(16) CTRL_VQ(17) CTRL_RX(18) "
		   "RING_INDIRECT_DESC(28) RING_EVENT_IDX(29) VERSION_1(32)");
	CHECK_LINE("  rx ring 64 (posted 64), tx ring 64 (in flight 2)");
	CHECK_LINE("  rx filter (device): as the interface says (promisc, allmulti, multicast groups "
		   "acknowledged)");
	CHECK_LINE("  ctrl_sent 3 ctrl_ok 3 ctrl_failed 0 ctrl_nak 0 ctrl_timeouts 0 ctrl_bad_len 0 "
		   "ctrl_unusable 0 ctrl_late 0 announces 0 ctrl_state ok ctrl_last mac table_set ok");
	CHECK_EQ(vh_tx_complete(64), 2);
	vh_poll();
	finish();
}

/* A device that refuses every control command: the receive filter is said not to be in step
 * with the interface (the promiscuous mode and the lists were never acknowledged). */
static void test_describe_filter_not_in_step(void)
{
	if (!start_with(BIT_ULL(VIRTIO_NET_F_CTRL_VQ) | BIT_ULL(VIRTIO_NET_F_CTRL_RX), 0, VH_CTRL_NAK, false))
		return;
	host_log_clear();
	virtnet_describe(&vi()->dev);
	CHECK_LINE("  rx filter (device): NOT in step with the interface: a control command failed "
		   "(see ctrl_last)");
	CHECK(strstr(host_log, "as the interface says") == NULL);
	finish();
}

/* A legacy device without a control queue: a 10-byte header in a descriptor of its own
 * (no ANY_LAYOUT, virtio 1.x 5.1.6.6 legacy), whole-frame buffers, no filter to set. */
static void test_describe_legacy_without_ctrl(void)
{
	char line[160];

	/* the device offers VERSION_1, which a legacy transport cannot carry (bit 32): not taken */
	if (!start_with(0, BIT_ULL(VIRTIO_NET_F_MRG_RXBUF), VH_CTRL_ACK, true))
		return;
	CHECK(!(vh.accepted & BIT_ULL(VIRTIO_F_VERSION_1)));
	CHECK_LINE("virtio0: accepting 0x0000000030010028: MTU(3) MAC(5) STATUS(16) RING_INDIRECT_DESC(28) "
		   "RING_EVENT_IDX(29)");
	host_log_clear();
	virtnet_describe(&vi()->dev);
	/* a whole frame fits each buffer: at least the MTU and the Ethernet header */
	CHECK(vi()->rx_buf_len >= ETH_DATA_LEN + ETH_HLEN);
	snprintf(line, sizeof(line), "  virtio: virtio0 legacy, header 10 bytes, whole-frame receive "
		 "buffers of %u bytes, header in its own descriptor", vi()->rx_buf_len);
	CHECK_LINE(line);
	CHECK_LINE("  features: MTU(3) MAC(5) STATUS(16) RING_INDIRECT_DESC(28) RING_EVENT_IDX(29)");
	CHECK_LINE("  rx filter (device): none we can set (no VIRTIO_NET_F_CTRL_RX): the device decides");
	CHECK_LINE("  ctrl_state none (VIRTIO_NET_F_CTRL_VQ not negotiated)");
	finish();
}

/* netstat's driver lines count what the device completed even before the driver's poll took
 * it back: two frames sent and completed by the device, then netstat: tx_completed 2, none in
 * flight. The other lines: every counter by name, the control queue, the recovery record, the
 * rings' hostile-device counters. */
static void test_stats_lines(void)
{
	if (!start_with(0, 0, VH_CTRL_ACK, false))
		return;
	send_frame(1);
	send_frame(2);
	vi()->dev.ops->ndo_flush(&vi()->dev); /* the end of the burst: one kick */
	CHECK_EQ(vh_tx_complete(64), 2);
	CHECK_EQ(vi()->tx_inflight, 2); /* not yet taken back */
	host_log_clear();
	virtnet_stats(&vi()->dev);
	CHECK_LINE("eth0: virtio rx_frames 0 rx_buffers 0 rx_interrupts 0 rx_polls 0 rx_kicks 1 "
		   "rx_posted 64/64");
	CHECK_LINE("eth0: virtio tx_frames 2 tx_completed 2 tx_interrupts 0 tx_polls 0 tx_kicks 1 "
		   "tx_inflight 0/64");
	CHECK_LINE("eth0: csum tx off rx off tx_csum_partial 0 rx_csum_valid 0 rx_csum_partial 0");
	CHECK_LINE("eth0: drops rx_too_short 0 rx_runt 0 rx_too_long 0 rx_bad_num_buffers 0 "
		   "rx_merge_overflow 0 rx_refill_nomem 0 tx_ring_full 0 tx_no_headroom 0 tx_add_error 0 "
		   "tx_timeouts 0 rx_bad_csum_hdr 0 tx_csum_unsupported 0");
	CHECK_LINE("eth0: ctrl_state none (VIRTIO_NET_F_CTRL_VQ not negotiated)");
	CHECK_LINE("eth0: recovery device_recoveries 0 recovery_attempts 0 down_ms 0 state ok last none");
	CHECK_LINE("eth0: ring rx bad_used id 0 len 0 idx 0; tx bad_used id 0 len 0 idx 0");
	finish();
}

/* netstat -z: frames the device completed before the zero are counted before it, not after
 * (the driver takes them back first): after the zero, netstat shows tx_completed 0. */
static void test_zero_counts_completed_before(void)
{
	if (!start_with(0, 0, VH_CTRL_ACK, false))
		return;
	send_frame(1);
	send_frame(2);
	send_frame(3);
	vh_poll();
	CHECK_EQ(vh_tx_complete(64), 3);
	virtnet_zero_stats(&vi()->dev);
	CHECK_EQ(vi()->tx_inflight, 0);
	host_log_clear();
	virtnet_stats(&vi()->dev);
	CHECK_LINE("eth0: virtio tx_frames 0 tx_completed 0 tx_interrupts 0 tx_polls 0 tx_kicks 0 "
		   "tx_inflight 0/64");
	finish();
}

/* A recovery whose re-initialisation failed (the device now reports a receive queue of size
 * 0): the driver holds no rings until the next attempt. ifconfig, netstat and netstat -z still
 * answer, with empty rings and without the rings' lines. */
static void test_lines_without_rings(void)
{
	if (!start_with(0, 0, VH_CTRL_ACK, false))
		return;
	vh.cfg.qsize[0] = 0;
	sim_set_used_idx(&vh.sim[0], (u16)(vh.sim[0].used_idx + 1000)); /* a used index past all posted */
	vh_interrupt(0);
	vh_poll();
	CHECK_EQ(vi()->recovery.state, VIRTNET_RECOVERING);
	h_advance_ns(10 * NSEC_PER_MSEC); /* the first attempt, which fails */
	CHECK_EQ(vi()->recovery.attempts, 1);
	CHECK(vi()->rvq == NULL && vi()->svq == NULL);
	host_log_clear();
	virtnet_describe(&vi()->dev);
	virtnet_zero_stats(&vi()->dev);
	virtnet_stats(&vi()->dev);
	CHECK(strstr(host_log, "rx ring") == NULL);
	CHECK(strstr(host_log, "bad_used") == NULL);
	CHECK_LINE("eth0: virtio rx_frames 0 rx_buffers 0 rx_interrupts 0 rx_polls 0 rx_kicks 0 "
		   "rx_posted 0/0");
	CHECK_LINE("eth0: virtio tx_frames 0 tx_completed 0 tx_interrupts 0 tx_polls 0 tx_kicks 0 "
		   "tx_inflight 0/0");
	CHECK(strstr(host_log, "eth0: recovery device_recoveries 0 recovery_attempts 1 ") != NULL);
	CHECK(strstr(host_log, "state recovering last rx queue broken\n") != NULL);
	finish();
}

/* The device status bits by their virtio 1.x 2.1 names; a value that is not one bit has none. */
static void test_status_names_follow_spec(void)
{
	static const struct { u8 bit; const char *name; } spec[] = {
		{ 1, "ACKNOWLEDGE" }, { 2, "DRIVER" }, { 4, "DRIVER_OK" }, { 8, "FEATURES_OK" },
		{ 64, "DEVICE_NEEDS_RESET" }, { 128, "FAILED" },
	};

	for (unsigned i = 0; i < ARRAY_SIZE(spec); i++)
		CHECK_STR(virtio_status_name(spec[i].bit), spec[i].name);
	CHECK_STR(virtio_status_name(0), "?");
	CHECK_STR(virtio_status_name(3), "?");
}

/* At most 8 virtio devices: the ninth is refused with a console line and gets no name; a
 * device of a type no driver handles registers unbound, and probing it again (netreset's
 * path) says -ENODEV. */
static void test_device_table_and_reprobe_without_driver(void)
{
	static struct vh_device other[9];

	vh_teardown();
	host_log_clear();
	for (unsigned i = 0; i < 9; i++) {
		memset(&other[i], 0, sizeof(other[i]));
		other[i].vdev.config = &vh_ops;
		other[i].vdev.id = 2; /* a block device: no driver here */
		other[i].vdev.modern = true;
		CHECK_EQ(register_virtio_device(&other[i].vdev), i < 8 ? 0 : -ENOSPC);
	}
	CHECK(strstr(host_log, "virtio7: device type 2 on fake, modern (virtio 1.x) interface\n") != NULL);
	CHECK(strstr(host_log, "virtio: too many devices (at most 8); ignoring one\n") != NULL);
	CHECK(strstr(host_log, "virtio8") == NULL);
	CHECK(other[0].vdev.driver == NULL);
	CHECK_EQ(virtio_reprobe(&other[0].vdev), -ENODEV);
	vh_teardown();
}

int main(void)
{
	host_quiet = 1;
	RUN(test_feature_names_follow_spec);
	RUN(test_describe_modern_with_ctrl);
	RUN(test_describe_filter_not_in_step);
	RUN(test_describe_legacy_without_ctrl);
	RUN(test_stats_lines);
	RUN(test_zero_counts_completed_before);
	RUN(test_lines_without_rings);
	RUN(test_status_names_follow_spec);
	RUN(test_device_table_and_reprobe_without_driver);
	vh_teardown();
	return unit_summary("virtio_net_diag");
}
