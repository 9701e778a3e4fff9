/*
 * tests/fuzz/fuzz_virtnet.c - libFuzzer target: a hostile virtio-net device feeding the real
 * driver (drivers/net/virtio_net.c: virtnet_poll -> receive_buf -> merge_rx_buffers) and,
 * through it, the real stack (net/).
 *
 * The driver runs on the fake transport and simulated device of
 * tests/unit/virtnet_harness.c (included: it includes the driver itself). Each input starts a
 * fresh device with 32-entry queues and is a small script:
 *
 *   byte 0   mode: bits 0-1 the device: 0 modern + MRG_RXBUF (12-byte header, 1920-byte
 *            buffers), 1 modern without MRG_RXBUF, 2 legacy, 10-byte header in its own
 *            descriptor, 3 modern + MRG_RXBUF with 256-byte buffers (frames span buffers);
 *            bit 2 the peer 10.0.2.2 is resolved first; bit 3 no EVENT_IDX; bit 4 ip=dhcp;
 *            bit 5 packed rings (VIRTIO_F_RING_PACKED offered; not with the legacy device);
 *            bit 6 the device offers checksum offload (CSUM, GUEST_CSUM: the header's flags
 *            and csum_start/csum_offset of received frames are then read)
 *   records  one op byte, then its arguments:
 *     op & 7 = 0..2  raw receive: nbufs (1 byte; 0 = as many as it takes), len (2 bytes,
 *                    big-endian), len bytes written as they come -- the virtio-net header,
 *                    num_buffers included, is the fuzzer's; op & 8: a 2-byte lie added to the
 *                    first used length
 *     op & 7 = 3     a well-formed frame: len (2 bytes) and its bytes; the header is right
 *     op & 7 = 4     advance the clock by (1 byte) * 20 ms: ARP, DHCP and watchdog timers;
 *                    at most MAX_CLOCK_NS in all (past that the op does nothing: long runs of
 *                    simulated time only fire the same timers again, slowly)
 *     op & 7 = 5     the device transmits up to (1 byte) queued frames and completes them
 *     op & 7 = 6     a made-up used entry: id (2 bytes), len (2 bytes), on the receive queue
 *                    (op & 8: the transmit queue)
 *     op & 7 = 7     link status (1 byte: bit 0 up), a configuration interrupt
 *   After every record the event loop's network part runs.
 *
 * After the script the device completes what it holds, then every packet buffer must be free,
 * posted, in flight or queued in ARP / the backlog; after the device is removed, all of them
 * free. Anything else aborts, as do the sanitizers.
 */
#include <stdint.h>

#include "tests/unit/virtnet_harness.c" /* #included, not linked: the driver's statics */

#define MAX_BYTES 9100
#define MAX_CLOCK_NS (130 * NSEC_PER_SEC) /* ARP expiry (60 s) and more, with room to spare */

static void start(uint8_t mode)
{
	struct vh_config c;

	host_now_ns = NSEC_PER_SEC;
	vh_default_config(&c);
	c.qsize[0] = c.qsize[1] = 32;
	switch (mode & 3) {
	case 1:
		c.features &= ~BIT_ULL(VIRTIO_NET_F_MRG_RXBUF);
		break;
	case 2:
		c.legacy = true;
		c.features &= ~(BIT_ULL(VIRTIO_F_VERSION_1) | BIT_ULL(VIRTIO_NET_F_MRG_RXBUF));
		break;
	case 3:
		h_set_cmdline("vnet_rxbuf", "256");
		break;
	}
	if (mode & 8)
		c.features &= ~BIT_ULL(VIRTIO_RING_F_EVENT_IDX);
	if ((mode & 32) && !c.legacy)
		c.features |= BIT_ULL(VIRTIO_F_RING_PACKED);
	if (mode & 64)
		c.features |= BIT_ULL(VIRTIO_NET_F_CSUM) | BIT_ULL(VIRTIO_NET_F_GUEST_CSUM);
	vh_start(&c);
	h_set_cmdline("vnet_rxbuf", NULL);
	if (!vh_bound())
		abort(); /* a well-behaved device must be accepted */
	vh_attach_stack((mode & 16) ? "dhcp" : "10.0.2.15/24", "10.0.2.2");
	vh_poll();
	if (mode & 4) {
		u8 f[64], a[28];

		h_arp(a, ARPOP_REPLY, h_peer_mac, h_peer_ip, vh_vi()->dev.mac, IPV4(10, 0, 2, 15));
		memcpy(f, vh_vi()->dev.mac, ETH_ALEN);
		memcpy(f + 6, h_peer_mac, ETH_ALEN);
		put_be16(f + 12, ETH_P_ARP);
		memcpy(f + ETH_HLEN, a, sizeof(a));
		vh_rx_frame(f, ETH_HLEN + sizeof(a));
		vh_poll();
	}
}

static void check_and_stop(void)
{
	struct netbuf_stats st;

	for (int i = 0; i < 64 && vh_tx_complete(64); i++)
		vh_poll();
	if (vh_leaked() != 0)
		abort();
	if (vh.tx_hdr_bad) /* a transmit header that breaks virtio 1.x 5.1.6.2.1 */
		abort();
	vh_teardown();
	netbuf_get_stats(&st);
	if (st.in_use != 0 || st.bad_frees != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t i = 1;
	u64 clock = 0;

	if (size < 1)
		return 0;
	host_quiet = 1;
	start(data[0]);
	while (i < size) {
		uint8_t op = data[i++];
		size_t left;

		switch (op & 7) {
		case 0:
		case 1:
		case 2: {
			unsigned nbufs, len;
			u32 lie = 0;

			if (size - i < 3)
				goto out;
			nbufs = data[i] ? data[i] : 64;
			len = (unsigned)data[i + 1] << 8 | data[i + 2];
			i += 3;
			if (op & 8) {
				if (size - i < 2)
					goto out;
				lie = (u32)data[i] << 8 | data[i + 1];
				i += 2;
			}
			left = size - i;
			len = (unsigned)MIN((size_t)MIN(len, MAX_BYTES), left);
			vh_rx_raw(data + i, len, nbufs, lie);
			vh_rx_flush();
			i += len;
			break;
		}
		case 3: {
			unsigned len;

			if (size - i < 2)
				goto out;
			len = (unsigned)data[i] << 8 | data[i + 1];
			i += 2;
			left = size - i;
			len = (unsigned)MIN((size_t)MIN(len, MAX_BYTES), left);
			vh_rx_frame(data + i, len);
			i += len;
			break;
		}
		case 4: {
			u64 ns;

			if (i >= size)
				goto out;
			ns = (u64)data[i++] * 20 * NSEC_PER_MSEC; /* not inside MIN: it evaluates twice */
			ns = MIN(ns, MAX_CLOCK_NS - clock);
			clock += ns;
			h_advance_ns(ns);
			break;
		}
		case 5:
			if (i >= size)
				goto out;
			vh_tx_complete(data[i++]);
			break;
		case 6: {
			unsigned q = (op & 8) ? TX_VQ : RX_VQ;

			if (size - i < 4)
				goto out;
			if (vh.vqs[q]) {
				vh_push(&vh, q, (u32)data[i] << 8 | data[i + 1], (u32)data[i + 2] << 8 | data[i + 3]);
				if (vh_flush(&vh, q))
					vh_interrupt(q);
			}
			i += 4;
			break;
		}
		case 7:
			if (i >= size)
				goto out;
			vh_set_link(data[i++] & 1);
			break;
		}
		vh_poll();
	}
out:
	vh_poll();
	check_and_stop();
	return 0;
}
