/*
 * net/ethernet.c - Ethernet II receive and transmit (IEEE 802.3 clause 3).
 *
 * Receive keeps frames addressed to our MAC, to broadcast, and to a multicast address a
 * protocol asked for; everything else is counted by reason and dropped. A frame to a group
 * address (broadcast or multicast) is marked so on its buffer (nb->link_multicast): RFC 1122
 * forbids an ICMP error about it (3.2.2) and has a host discard it unless its IPv4
 * destination is a broadcast or multicast one (3.3.6), which only the layers above can tell. The type field picks
 * the protocol (ARP or IPv4); 802.3 length/LLC frames and unknown types are counted.
 * Transmit prepends the header into the buffer's headroom (no payload copy) and pads short
 * frames to the 60-byte minimum, as a real NIC must.
 */
#include "kernel/errno.h"
#include "kernel/string.h"
#include "net/arp.h"
#include "net/ethernet.h"
#include "net/inet.h"
#include "net/ipv4.h"

const u8 eth_broadcast_addr[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
struct eth_stats eth_stats;
#define ETH_STAT(f) NET_STAT(struct eth_stats, f)
static const struct net_stat_desc eth_stat_desc[] = { ETH_STATS(ETH_STAT) };

/* The groups live on the device (net/netdev.c), so that its driver can have the device
 * filter for them too (virtio-net's MAC table); this layer still checks every frame. */
int eth_add_multicast(const u8 *mac)
{
	return inet_dev() ? dev_mc_add(inet_dev(), mac) : -ENODEV;
}

void eth_clear_multicast(void)
{
	if (inet_dev())
		dev_mc_clear(inet_dev());
}

static void eth_drop(struct netbuf *nb, u64 *counter)
{
	(*counter)++;
	netbuf_free(nb);
}

/* Which frames are ours: our unicast MAC, broadcast, or a multicast group asked for. */
static bool eth_for_us(struct net_device *dev, const struct ethhdr *eh, u64 **why)
{
	if (eth_is_broadcast(eh->h_dest) || memcmp(eh->h_dest, dev->mac, ETH_ALEN) == 0)
		return true;
	if (eth_is_multicast(eh->h_dest)) {
		if (dev_mc_contains(dev, eh->h_dest))
			return true;
		*why = &eth_stats.rx_multicast;
		return false;
	}
	*why = &eth_stats.rx_not_for_us;
	return false;
}

void eth_input(struct net_device *dev, struct netbuf *nb)
{
	const struct ethhdr *eh = (const void *)nb->data;
	u64 *why = NULL;
	u16 type;

	eth_stats.rx_frames++;
	if (dev != inet_dev()) {
		eth_drop(nb, &eth_stats.rx_other_device);
		return;
	}
	if (netbuf_len(nb) < ETH_HLEN) {
		eth_drop(nb, &eth_stats.rx_runt);
		return;
	}
	if (!eth_for_us(dev, eh, &why)) {
		eth_drop(nb, why);
		return;
	}
	/* A group address is never a source (802.3 3.2.3); our own MAC would be a loop. */
	if (eth_is_multicast(eh->h_source) || memcmp(eh->h_source, dev->mac, ETH_ALEN) == 0) {
		eth_drop(nb, &eth_stats.rx_bad_source);
		return;
	}
	type = ntohs(eh->h_proto);
	if (type < ETH_P_802_3_MIN) {
		eth_drop(nb, &eth_stats.rx_802_3);
		return;
	}
	nb->protocol = type;
	nb->link_multicast = eth_is_multicast(eh->h_dest); /* broadcast too: for ICMP and UDP */
	netbuf_pull(nb, ETH_HLEN);
	switch (type) {
	case ETH_P_IP:
		eth_stats.rx_ip++;
		ipv4_input(nb);
		return;
	case ETH_P_ARP:
		eth_stats.rx_arp++;
		nb->ip_summed = NETBUF_CSUM_NONE; /* no checksum; a reply is built in this buffer */
		arp_input(nb);
		return;
	default:
		eth_drop(nb, &eth_stats.rx_unknown_ethertype);
	}
}

int eth_output(struct net_device *dev, struct netbuf *nb, const u8 *dest, u16 ethertype)
{
	struct ethhdr *eh = netbuf_push(nb, ETH_HLEN);
	unsigned len;
	int err;

	if (!eh) {
		eth_drop(nb, &eth_stats.tx_no_headroom);
		return -ENOBUFS;
	}
	memcpy(eh->h_dest, dest, ETH_ALEN);
	memcpy(eh->h_source, dev->mac, ETH_ALEN);
	eh->h_proto = htons(ethertype);
	len = netbuf_len(nb);
	if (len < ETH_ZLEN) {
		u8 *pad = netbuf_put(nb, ETH_ZLEN - len);

		if (pad)
			memset(pad, 0, ETH_ZLEN - len);
	}
	eth_stats.tx_frames++;
	err = dev_queue_xmit(dev, nb);
	if (err < 0)
		eth_stats.tx_dropped++;
	return err;
}

void eth_print_stats(void)
{
	net_stats_print_line("eth", eth_stat_desc, ARRAY_SIZE(eth_stat_desc), &eth_stats);
}

void eth_zero_stats(void) { memset(&eth_stats, 0, sizeof(eth_stats)); }
