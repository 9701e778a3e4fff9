/*
 * tests/unit/net_harness.c - the fake device, the simulated clock (which drives the
 * kernel's own timer list, kernel/timer.c), and the frame builders the network stack's host
 * tests share (see net_harness.h).
 */
#include <stdlib.h>
#include <string.h>

#include "kernel/time.h"
#include "tests/unit/kernel_harness.h"
#include "tests/unit/net_harness.h"

struct net_device h_dev;
const u8 h_our_mac[ETH_ALEN] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
const u8 h_peer_mac[ETH_ALEN] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 };
be32 h_our_ip, h_peer_ip;
struct netbuf *h_tx[H_MAX_TX];
unsigned h_ntx, h_tx_dropped;

/* ---- the simulated clock: the kernel's own timer list (kernel/timer.c) on host_now_ns ---- */

void h_cancel_all_timers(void) { timers_reset(); }

void h_advance_ns(u64 ns)
{
	u64 end = host_now_ns + ns;

	/* step from deadline to deadline so each timer sees its own time */
	while (timers_next_ns() <= end) {
		if (timers_next_ns() > host_now_ns)
			host_now_ns = timers_next_ns();
		timers_run();
	}
	host_now_ns = end;
}

/* ---- the fake device ------------------------------------------------------------------------- */

static enum netdev_tx h_xmit(struct netbuf *nb, struct net_device *dev)
{
	if (h_ntx == H_MAX_TX) {
		h_tx_dropped++;
		netbuf_free(nb);
	} else {
		h_tx[h_ntx++] = nb;
	}
	return NETDEV_TX_OK;
}

static const struct net_device_ops h_ops = { .ndo_start_xmit = h_xmit };

void h_clear_tx(void)
{
	for (unsigned i = 0; i < h_ntx; i++)
		netbuf_free(h_tx[i]);
	h_ntx = 0;
	h_tx_dropped = 0;
}

void h_setup(const char *ip, const char *gw)
{
	static bool once;

	if (!once) {
		once = true;
		netbuf_pool_init(NETBUF_DEFAULT_SIZE);
		netbuf_pool_grow(512);
		memcpy(h_dev.mac, h_our_mac, ETH_ALEN);
		h_dev.mtu = ETH_DATA_LEN;
		h_dev.carrier = true;
		h_dev.ops = &h_ops;
		h_dev.driver_name = "fake";
		register_netdev(&h_dev);
	}
	h_our_ip = IPV4(10, 0, 2, 15);
	h_peer_ip = IPV4(10, 0, 2, 2);
	h_clear_tx();
	h_dev.carrier = true;
	h_dev.mtu = ETH_DATA_LEN;
	inet_reset();
	h_cancel_all_timers(); /* forget any timer the last test left behind */
	inet_attach(&h_dev, ip, gw);
	arp_announce_stop(); /* the attach's announcements (RFC 5227 2.3): the first is sent, */
	h_clear_tx();        /* and discarded here; the second would be due in 2 s */
	inet_zero_stats();
}

long h_leaked(void)
{
	struct netbuf_stats st;

	netbuf_get_stats(&st);
	return (long)st.in_use - (long)h_ntx - (long)arp_pending_total();
}

/* ---- builders ------------------------------------------------------------------------------- */

struct netbuf *h_frame(const u8 *dst, const u8 *src, u16 type, const void *payload, unsigned len)
{
	struct netbuf *nb = netbuf_alloc();
	u8 *p;

	if (!nb)
		abort();
	/* Like the driver: Ethernet header where the device wrote it, 116 bytes of headroom. */
	netbuf_reset(nb, NETBUF_HEADROOM - 12);
	p = netbuf_put(nb, ETH_HLEN + len);
	if (!p)
		abort();
	memcpy(p, dst, ETH_ALEN);
	memcpy(p + 6, src, ETH_ALEN);
	put_be16(p + 12, type);
	if (len)
		memcpy(p + ETH_HLEN, payload, len);
	return nb;
}

unsigned h_ipv4(u8 *out, be32 src, be32 dst, u8 proto, const void *payload, unsigned len)
{
	struct iphdr *ip = (void *)out;

	memset(ip, 0, sizeof(*ip));
	ip->ver_ihl = 0x45;
	ip->tot_len = htons((u16)(IPV4_HLEN + len));
	ip->id = htons(0x1234);
	ip->frag_off = htons(IP_DF);
	ip->ttl = 64;
	ip->protocol = proto;
	ip->saddr = src;
	ip->daddr = dst;
	ip->check = htons(inet_csum(ip, IPV4_HLEN));
	if (len)
		memcpy(out + IPV4_HLEN, payload, len);
	return IPV4_HLEN + len;
}

unsigned h_udp(u8 *out, be32 src, be32 dst, u16 sport, u16 dport, const void *payload, unsigned len, bool csum)
{
	struct udphdr *uh = (void *)out;

	uh->source = htons(sport);
	uh->dest = htons(dport);
	uh->len = htons((u16)(UDP_HLEN + len));
	uh->check = 0;
	if (len)
		memcpy(out + UDP_HLEN, payload, len);
	if (csum) {
		u16 c = inet_csum_fold(inet_csum_add(inet_pseudo_sum(src, dst, IPPROTO_UDP, (u16)(UDP_HLEN + len)), out,
						     UDP_HLEN + len));
		uh->check = htons(c ? c : 0xffff);
	}
	return UDP_HLEN + len;
}

unsigned h_icmp_echo(u8 *out, u8 type, u16 id, u16 seq, const void *payload, unsigned len)
{
	struct icmphdr *ic = (void *)out;

	ic->type = type;
	ic->code = 0;
	ic->checksum = 0;
	ic->id = htons(id);
	ic->sequence = htons(seq);
	if (len)
		memcpy(out + ICMP_HLEN, payload, len);
	ic->checksum = htons(inet_csum(out, ICMP_HLEN + len));
	return ICMP_HLEN + len;
}

unsigned h_arp(u8 *out, u16 op, const u8 *sha, be32 spa, const u8 *tha, be32 tpa)
{
	struct arphdr_eth *ah = (void *)out;

	ah->ar_hrd = htons(ARPHRD_ETHER);
	ah->ar_pro = htons(ETH_P_IP);
	ah->ar_hln = 6;
	ah->ar_pln = 4;
	ah->ar_op = htons(op);
	memcpy(ah->ar_sha, sha, 6);
	ah->ar_spa = spa;
	memcpy(ah->ar_tha, tha, 6);
	ah->ar_tpa = tpa;
	return sizeof(*ah);
}

void h_inject(struct netbuf *nb) { netif_receive(&h_dev, nb); }

void h_inject_ip(be32 src, be32 dst, u8 proto, const void *payload, unsigned len)
{
	static u8 pkt[2048];
	unsigned n = h_ipv4(pkt, src, dst, proto, payload, len);

	h_inject(h_frame(h_our_mac, h_peer_mac, ETH_P_IP, pkt, n));
}

void h_inject_udp(u16 sport, u16 dport, const void *payload, unsigned len)
{
	static u8 seg[2048];
	unsigned n = h_udp(seg, h_peer_ip, h_our_ip, sport, dport, payload, len, true);

	h_inject_ip(h_peer_ip, h_our_ip, IPPROTO_UDP, seg, n);
}

const struct ethhdr *h_eth(unsigned i) { return (const void *)h_tx[i]->data; }
const struct iphdr *h_ip(unsigned i) { return (const void *)(h_tx[i]->data + ETH_HLEN); }
const u8 *h_l4(unsigned i) { return h_tx[i]->data + ETH_HLEN + ip_hdrlen(h_ip(i)); }
unsigned h_len(unsigned i) { return netbuf_len(h_tx[i]); }
