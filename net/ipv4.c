/*
 * net/ipv4.c - IPv4 receive and transmit (RFC 791; RFC 1122 section 3.2.1 for what a host
 * must check).
 *
 * Receive validates in the order the header is read: length, version, IHL, total length
 * against the frame (link padding is trimmed), header checksum; then sets fragments aside
 * for reassembly (net/ipv4_frag.c; the whole datagram comes back through the same checks),
 * drops martian sources and destinations that are not ours. TTL is not checked: RFC 1122
 * 3.2.1.7 forbids a host to discard a datagram because its TTL is below 2. Options are
 * skipped by pulling the whole IHL. Transmit builds a fresh 20-byte header in the headroom,
 * or, for a datagram larger than the MTU, copies it into fragments (RFC 791 3.2).
 */
#include "kernel/errno.h"
#include "kernel/string.h"
#include "kernel/time.h"
#include "net/arp.h"
#include "net/checksum.h"
#include "net/ethernet.h"
#include "net/icmp.h"
#include "net/inet.h"
#include "net/inet_addr.h"
#include "net/ipv4.h"
#include "net/ipv4_frag.h"
#include "net/udp.h"

struct ipv4_stats ipv4_stats;
#define IPV4_STAT(f) NET_STAT(struct ipv4_stats, f)
static const struct net_stat_desc ipv4_stat_desc[] = { IPV4_STATS(IPV4_STAT) };
static u16 next_id;
_Static_assert(IP_DEFAULT_TTL > 0, "RFC 1122 3.2.1.7: a host MUST NOT send a datagram with TTL 0");

static void ip_drop(struct netbuf *nb, u64 *counter)
{
	(*counter)++;
	netbuf_free(nb);
}

static enum ip_dest classify_dest(be32 daddr)
{
	if (!inet_configured())
		return IP_DEST_UNCONFIGURED;
	if (daddr == inet_addr())
		return IP_DEST_UNICAST;
	if (ipv4_is_limited_broadcast(daddr) || inet_is_subnet_broadcast(daddr))
		return IP_DEST_BROADCAST;
	return IP_DEST_OTHER;
}

enum ip_dest ipv4_rx_dest(const struct netbuf *nb) { return classify_dest(ip_hdr(nb)->daddr); }

/* Header checks; returns the counter to bump, or NULL when the header is sound. */
static u64 *ip_validate(struct netbuf *nb, const struct iphdr *ip)
{
	/* LAB:SOLUTION stage6 ip_validate */
	unsigned len = netbuf_len(nb), hlen, tot;

	if (len < IPV4_HLEN)
		return &ipv4_stats.rx_runt;
	if (ip_version(ip) != 4)
		return &ipv4_stats.rx_bad_version;
	hlen = ip_hdrlen(ip);
	if (hlen < IPV4_HLEN || hlen > len)
		return &ipv4_stats.rx_bad_ihl;
	tot = ntohs(ip->tot_len);
	if (tot < hlen)
		return &ipv4_stats.rx_bad_len;
	if (tot > len)
		return &ipv4_stats.rx_truncated;
	if (inet_csum(ip, hlen) != 0)
		return &ipv4_stats.rx_bad_csum;
	if (ntohs(ip->frag_off) & (IP_MF | IP_OFFSET))
		return &ipv4_stats.rx_fragments;
	/* RFC 1122 3.2.1.3: a source must be a host address (0.0.0.0 is a host that does not
	 * know its address yet, e.g. a DHCP client, and is allowed); our own address coming back
	 * from the wire is spoofed or looped, and any answer would go to ourselves. */
	if (ip->saddr != 0 && (!ipv4_is_valid_host(ip->saddr) || inet_is_subnet_broadcast(ip->saddr) ||
			       ip->saddr == inet_addr()))
		return &ipv4_stats.rx_bad_source;
	return NULL;
	/* LAB:END */
}

/* Why a datagram to this destination is not for us (the counter), or NULL. */
static u64 *ip_dest_refused(const struct iphdr *ip)
{
	if (ipv4_is_multicast(ip->daddr))
		return &ipv4_stats.rx_multicast;
	if (classify_dest(ip->daddr) == IP_DEST_OTHER)
		return &ipv4_stats.rx_not_for_us;
	return NULL;
}

static void ip_deliver(struct netbuf *nb, struct iphdr *ip);

void ipv4_input(struct netbuf *nb)
{
	struct iphdr *ip = (void *)nb->data;
	u64 *bad = ip_validate(nb, ip);

	ipv4_stats.rx_packets++;
	/* ip_validate names a fragment by its counter: a sound header, set aside for reassembly
	 * when it is for us. The whole datagram, if this completed it, is checked again (its
	 * source too) and goes on from here. */
	if (bad == &ipv4_stats.rx_fragments) {
		bad = ip_dest_refused(ip);
		if (!bad) {
			ipv4_stats.rx_fragments++;
			netbuf_trim(nb, ntohs(ip->tot_len)); /* Ethernet padding is not data */
			nb = ipv4_frag_input(nb);
			if (!nb)
				return;
			ip = (void *)nb->data;
			bad = ip_validate(nb, ip);
		}
	}
	if (!bad)
		bad = ip_dest_refused(ip);
	if (bad) {
		ip_drop(nb, bad);
		return;
	}
	netbuf_trim(nb, ntohs(ip->tot_len)); /* Ethernet padding is not data */
	ip_deliver(nb, ip);
}

/* Up to ICMP or UDP (unknown protocols: protocol unreachable), nb->data at the sound header
 * ip of a datagram for us. Consumes nb. */
static void ip_deliver(struct netbuf *nb, struct iphdr *ip)
{
	nb->network_off = (u16)(nb->data - nb->head);
	netbuf_pull(nb, ip_hdrlen(ip));       /* options skipped with the header */
	nb->transport_off = (u16)(nb->data - nb->head);
	switch (ip->protocol) {
	case IPPROTO_ICMP:
		ipv4_stats.rx_delivered++;
		/* A device vouches for TCP and UDP checksums only (5.1.6.4): ICMP verifies its own,
		 * and its reply, built in this buffer, must carry no received marks. */
		nb->ip_summed = NETBUF_CSUM_NONE;
		icmp_input(nb);
		return;
	case IPPROTO_UDP:
		ipv4_stats.rx_delivered++;
		udp_input(nb);
		return;
	default:
		ipv4_stats.rx_unknown_proto++;
		nb->ip_summed = NETBUF_CSUM_NONE;
		/* RFC 1122 3.2.2.1: protocol unreachable (consumes nb). */
		icmp_send_unreach(nb, ICMP_PROT_UNREACH);
	}
}

unsigned ipv4_max_payload(void)
{
	struct net_device *dev = inet_dev();

	return dev ? dev->mtu - IPV4_HLEN : 0;
}

int ipv4_route(be32 daddr, be32 *next_hop)
{
	if (ipv4_is_limited_broadcast(daddr) || inet_is_subnet_broadcast(daddr)) {
		*next_hop = INADDR_BROADCAST_BE;
		return 0;
	}
	if (!inet_configured())
		return -ENETUNREACH;
	if (inet_on_link(daddr)) {
		*next_hop = daddr;
		return 0;
	}
	if (!inet_if.gw)
		return -ENETUNREACH;
	*next_hop = inet_if.gw;
	return 0;
}

/* frag_off: MF and the offset in 8-byte blocks of a fragment, 0 for a whole datagram. DF is
 * never set: a router with a smaller MTU fragments rather than drops (docs/network.md).
 * optlen bytes of options (a multiple of 4, at most 40) follow the fixed header. */
static void ip_build_header(struct iphdr *ip, unsigned tot_len, const struct ip_tx *tx, u16 id, u16 frag_off,
			    const u8 *opts, unsigned optlen)
{
	unsigned hlen = IPV4_HLEN + optlen;

	ip->ver_ihl = (u8)(0x40 | hlen / 4);
	ip->tos = 0;
	ip->tot_len = htons((u16)tot_len);
	ip->id = htons(id);
	ip->frag_off = htons(frag_off);
	ip->ttl = IP_DEFAULT_TTL;
	ip->protocol = tx->protocol;
	ip->check = 0;
	ip->saddr = tx->saddr;
	ip->daddr = tx->daddr;
	if (optlen)
		memcpy(ip + 1, opts, optlen);
	ip->check = htons(inet_csum(ip, hlen));
}

/* RFC 791 3.1 "Options", the copied flag: the options of fragments after the first are those
 * whose type has bit 7 set (source routes, security), padded with end-of-list to 4 bytes.
 * opts is well-formed (ipv4_output's caller built it). Returns the length written to out. */
static unsigned ip_copied_options(const u8 *opts, unsigned optlen, u8 *out)
{
	unsigned i = 0, n = 0;

	while (i < optlen && opts[i] != IPOPT_END) {
		unsigned olen = opts[i] == IPOPT_NOP ? 1 : opts[i + 1];

		if (opts[i] & IPOPT_COPIED) {
			memcpy(out + n, opts + i, olen);
			n += olen;
		}
		i += olen;
	}
	while (n % 4)
		out[n++] = IPOPT_END;
	return n;
}

/* What may not be sent at all: the checks of RFC 1122 3.2.1.3 applied to ourselves. */
static int ip_output_check(struct netbuf *nb, be32 saddr, be32 daddr)
{
	struct net_device *dev = inet_dev();

	if (!dev)
		return -ENETDOWN;
	if (daddr == 0 || ipv4_is_multicast(daddr) || ipv4_is_loopback(daddr) || ipv4_is_reserved(daddr)) {
		ipv4_stats.tx_bad_dest++;
		return -EINVAL;
	}
	if (saddr == 0 ? !ipv4_is_limited_broadcast(daddr) : saddr != inet_addr()) {
		ipv4_stats.tx_no_source++;
		return -EINVAL;
	}
	return 0;
}

static int ip_send(struct net_device *dev, struct netbuf *nb, be32 next_hop)
{
	if (next_hop == INADDR_BROADCAST_BE)
		return eth_output(dev, nb, eth_broadcast_addr, ETH_P_IP);
	return arp_output(dev, nb, next_hop);
}

/* RFC 791 3.2's fragmentation procedure, done by copying: nb's data in pieces of as many
 * whole 8-byte blocks as the MTU (and a pool buffer) holds after the piece's header, each in a
 * pool buffer with its own header -- one id, the offset, MF on all but the last; the first
 * carries every option, the others the copied ones. Every buffer is taken before any is sent,
 * so a pool that runs dry drops the datagram whole and nothing useless goes out. One piece
 * (no MF, offset 0) when nb fits but is not the pool's. Consumes nb. */
static int ip_output_copies(struct net_device *dev, struct netbuf *nb, const struct ip_tx *tx, be32 next_hop)
{
	unsigned len = netbuf_len(nb), off = 0, pieces = 0, room = netbuf_buf_size() - NETBUF_HEADROOM;
	u8 later_opts[IPV4_MAX_HLEN - IPV4_HLEN];
	unsigned later_len = ip_copied_options(tx->opts, tx->optlen, later_opts);
	struct netbuf_queue q;
	struct netbuf *f;
	u16 id = next_id++;
	int err = 0;

	if (dev->mtu < IPV4_HLEN + tx->optlen + 8) { /* no device we attach to has so small an MTU */
		ip_drop(nb, &ipv4_stats.tx_too_big);
		return -EMSGSIZE;
	}
	netbuf_queue_init(&q, IP_MAX_TOTAL / 8 + 1);
	do {
		const u8 *opts = off ? later_opts : tx->opts;
		unsigned optlen = off ? later_len : tx->optlen;
		unsigned step = (MIN(dev->mtu - IPV4_HLEN - optlen, room) & ~7u), n = MIN(step, len - off);
		struct iphdr *ip;
		u8 *p;

		f = netbuf_alloc();
		p = f ? netbuf_put(f, n) : NULL;
		ip = p ? netbuf_push(f, IPV4_HLEN + optlen) : NULL;
		if (!ip) {
			netbuf_free(f);
			netbuf_queue_purge(&q);
			ip_drop(nb, &ipv4_stats.tx_frag_no_buffers);
			return -ENOBUFS;
		}
		memcpy(p, nb->data + off, n);
		ip_build_header(ip, IPV4_HLEN + optlen + n, tx, id, (u16)((off + n < len ? IP_MF : 0) | off / 8), opts,
				optlen);
		netbuf_enqueue(&q, f);
		pieces++;
		off += n;
	} while (off < len);
	netbuf_free(nb);
	ipv4_stats.tx_packets++;
	if (pieces > 1)
		ipv4_stats.tx_fragments += pieces;
	while ((f = netbuf_dequeue(&q))) {
		int e = ip_send(dev, f, next_hop);

		if (e && !err)
			err = e;
	}
	return err;
}

/* Datagrams to our own address: queued here, never on a device, and delivered from a timer
 * of 0 (the event loop), not from inside the send -- so two handlers answering each other
 * through loopback take turns with the rest of the system instead of recursing. */
static struct netbuf_queue lo_queue;
static struct timer lo_timer;
static bool lo_ready;

static void lo_deliver(struct timer *t)
{
	struct netbuf *nb;

	for (unsigned n = 0; n < IP_LOOPBACK_QUEUE && (nb = netbuf_dequeue(&lo_queue)); n++) {
		ipv4_stats.rx_loopback++;
		ip_deliver(nb, (struct iphdr *)nb->data);
	}
	if (lo_queue.len)
		timer_arm(&lo_timer, 0); /* what was queued meanwhile: next time round */
}

static void lo_init(void)
{
	if (lo_ready)
		return;
	netbuf_queue_init(&lo_queue, IP_LOOPBACK_QUEUE);
	timer_setup(&lo_timer, lo_deliver);
	lo_ready = true;
}

static int ip_loopback(struct netbuf *nb, const struct ip_tx *tx)
{
	unsigned hlen = IPV4_HLEN + tx->optlen;
	struct iphdr *ip = netbuf_push(nb, hlen);

	lo_init();
	if (!ip) {
		ip_drop(nb, &ipv4_stats.tx_no_headroom);
		return -ENOBUFS;
	}
	ip_build_header(ip, netbuf_len(nb), tx, next_id++, 0, tx->opts, tx->optlen);
	nb->link_multicast = false;
	if (!netbuf_enqueue(&lo_queue, nb)) {
		ip_drop(nb, &ipv4_stats.tx_loopback_full);
		return -ENOBUFS;
	}
	ipv4_stats.tx_packets++;
	ipv4_stats.tx_loopback++;
	timer_arm(&lo_timer, 0);
	return 0;
}

int ipv4_output_opts(struct netbuf *nb, const struct ip_tx *tx)
{
	struct net_device *dev = inet_dev();
	unsigned hlen = IPV4_HLEN + tx->optlen;
	be32 next_hop;
	struct iphdr *ip;
	int err = ip_output_check(nb, tx->saddr, tx->daddr);

	if (!err && (tx->optlen % 4 || hlen > IPV4_MAX_HLEN))
		err = -EINVAL;
	if (!err && netbuf_len(nb) > IP_MAX_TOTAL - hlen) {
		ipv4_stats.tx_too_big++;
		err = -EMSGSIZE;
	}
	if (!err && inet_configured() && tx->daddr == inet_addr())
		return ip_loopback(nb, tx);
	if (!err) {
		err = ipv4_route(tx->daddr, &next_hop);
		if (err)
			ipv4_stats.tx_no_route++;
	}
	if (err) {
		netbuf_free(nb);
		return err;
	}
	/* Larger than the MTU, or memory that is not the pool's (a reassembly slot or the big
	 * send buffer, which must come back now and never reach the device): sent as copies. */
	if (netbuf_len(nb) > dev->mtu - hlen || nb->release)
		return ip_output_copies(dev, nb, tx, next_hop);
	ip = netbuf_push(nb, hlen);
	if (!ip) {
		ip_drop(nb, &ipv4_stats.tx_no_headroom);
		return -ENOBUFS;
	}
	ip_build_header(ip, netbuf_len(nb), tx, next_id++, 0, tx->opts, tx->optlen);
	ipv4_stats.tx_packets++;
	return ip_send(dev, nb, next_hop);
}

int ipv4_output(struct netbuf *nb, be32 saddr, be32 daddr, u8 protocol)
{
	struct ip_tx tx = { .saddr = saddr, .daddr = daddr, .protocol = protocol };

	return ipv4_output_opts(nb, &tx);
}

/* The send buffer for datagrams a pool buffer cannot hold: static, one at a time, given back
 * by netbuf_free (ipv4_output copies it into fragments and frees it before it returns). */
static struct {
	struct netbuf nb;
	bool busy;
	u8 mem[NETBUF_HEADROOM + IPV4_MAX_SEND];
} big_tx;

static void big_tx_release(struct netbuf *nb) { big_tx.busy = false; }

struct netbuf *ipv4_alloc_tx(unsigned len)
{
	struct netbuf *nb = &big_tx.nb;

	if (len > IPV4_MAX_SEND)
		return NULL;
	if (len + NETBUF_HEADROOM <= netbuf_buf_size())
		return netbuf_alloc();
	if (big_tx.busy)
		return NULL;
	big_tx.busy = true;
	memset(nb, 0, sizeof(*nb));
	nb->head = big_tx.mem;
	nb->end = big_tx.mem + sizeof(big_tx.mem);
	nb->data = nb->tail = big_tx.mem + NETBUF_HEADROOM;
	nb->in_use = true;
	nb->release = big_tx_release;
	return nb;
}

void ipv4_print_stats(void)
{
	net_stats_print_line("ip", ipv4_stat_desc, ARRAY_SIZE(ipv4_stat_desc), &ipv4_stats);
}

void ipv4_zero_stats(void) { memset(&ipv4_stats, 0, sizeof(ipv4_stats)); }
void ipv4_reset(void)
{
	lo_init();
	timer_cancel(&lo_timer);
	netbuf_queue_purge(&lo_queue);
	next_id = 0;
	big_tx.busy = false;
	ipv4_frag_reset();
}
