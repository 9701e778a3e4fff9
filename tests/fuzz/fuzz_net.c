/*
 * tests/fuzz/fuzz_net.c - libFuzzer target: arbitrary frames into the real receive path.
 *
 * The stack runs on the fake eth0 of tests/unit/net_harness.c, whose transmit captures
 * frames, with a fake clock. One input is a small script:
 *
 *   byte 0        mode: bit 0 -> ip=dhcp (the client is mid-DISCOVER, xid 0x12345678),
 *                 otherwise ip=10.0.2.15/24 gw=10.0.2.2; bit 1 -> the peer 10.0.2.2 is
 *                 already in the ARP cache (replies leave at once)
 *   then records  2-byte big-endian header h:
 *                   h & 0x8000: advance the clock by (h & 0x7fff) * 10 ms (timers fire)
 *                   otherwise:  a frame of min(h, 1514, what is left) bytes follows
 *
 * After every input, each packet buffer must be free, captured, or waiting in an ARP queue
 * (no leak, no double free), and captured frames are released. Sanitizers catch the rest.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/kernel_harness.h"
#include "tests/unit/net_harness.h"

#define FUZZ_XID 0x12345678u
#define MAX_FRAME (ETH_HLEN + ETH_DATA_LEN)

static void start(uint8_t mode)
{
	host_now_ns = 1000000000ull; /* every input starts at the same time: reproducible */
	h_setup((mode & 1) ? "dhcp" : "10.0.2.15/24", "10.0.2.2");
	if (mode & 1) {
		h_advance_ns(0); /* the first DISCOVER */
		dhcp.xid = FUZZ_XID;
	}
	if (mode & 2) {
		u8 a[28];

		h_inject(h_frame(h_our_mac, h_peer_mac, ETH_P_ARP, a,
				 h_arp(a, ARPOP_REPLY, h_peer_mac, h_peer_ip, h_our_mac, h_our_ip)));
	}
	h_clear_tx();
}

static void inject_raw(const uint8_t *p, size_t len)
{
	struct netbuf *nb = netbuf_alloc();
	u8 *dst;

	if (!nb)
		abort(); /* the pool ran dry: something leaked */
	netbuf_reset(nb, NETBUF_HEADROOM - 12); /* as virtio_net leaves it */
	dst = netbuf_put(nb, (unsigned)len);
	memcpy(dst, p, len);
	/* the driver never passes up less than an Ethernet header: keep that contract */
	if (len < ETH_HLEN) {
		netbuf_free(nb);
		return;
	}
	netif_receive(&h_dev, nb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t i = 1;

	if (size < 1)
		return 0;
	start(data[0]);
	while (i + 2 <= size) {
		unsigned h = (unsigned)data[i] << 8 | data[i + 1];
		size_t len;

		i += 2;
		if (h & 0x8000) {
			h_advance_ns((u64)(h & 0x7fff) * 10000000ull);
			continue;
		}
		len = h;
		if (len > MAX_FRAME)
			len = MAX_FRAME;
		if (len > size - i)
			len = size - i;
		inject_raw(data + i, len);
		i += len;
		if (h_ntx > H_MAX_TX / 2)
			h_clear_tx();
	}
	if (h_leaked() != 0)
		abort();
	h_clear_tx();
	arp_flush();
	if (h_leaked() != 0)
		abort();
	return 0;
}
