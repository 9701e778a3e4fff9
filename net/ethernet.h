/*
 * net/ethernet.h - Ethernet II framing (IEEE 802.3 clause 3.2.6, "DIX" type field): the
 * header, receive demultiplexing by ethertype, and output that prepends the header in the
 * buffer's headroom.
 */
#ifndef NET_ETHERNET_H
#define NET_ETHERNET_H

#include "net/byteorder.h"
#include "net/net_stats.h"
#include "net/netdev.h"

#define ETH_P_IP 0x0800
#define ETH_P_ARP 0x0806
#define ETH_ZLEN 60        /* shortest frame without the FCS: shorter ones are padded */
#define ETH_P_802_3_MIN 0x0600 /* type values below this are 802.3 length fields */
#define ETH_MCAST_MAX NETDEV_MC_MAX /* multicast addresses protocols may ask for */

/* IEEE 802.3 3.1.1: destination, source, type. */
struct ethhdr {
	u8 h_dest[ETH_ALEN];
	u8 h_source[ETH_ALEN];
	be16 h_proto;
} __packed;
_Static_assert(sizeof(struct ethhdr) == ETH_HLEN, "Ethernet header is 14 bytes");

extern const u8 eth_broadcast_addr[ETH_ALEN];

static inline bool eth_is_multicast(const u8 *mac) { return mac[0] & 1; } /* broadcast too */
static inline bool eth_is_broadcast(const u8 *mac)
{
	return (mac[0] & mac[1] & mac[2] & mac[3] & mac[4] & mac[5]) == 0xff;
}
static inline bool eth_is_zero(const u8 *mac)
{
	return (mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]) == 0;
}

#define ETH_STATS(X)                                                                          \
	X(rx_frames) X(rx_ip) X(rx_arp) X(rx_runt) X(rx_not_for_us) X(rx_multicast)           \
	X(rx_bad_source) X(rx_802_3) X(rx_unknown_ethertype) X(rx_other_device)               \
	X(tx_frames) X(tx_no_headroom) X(tx_dropped)
struct eth_stats { ETH_STATS(NET_STAT_FIELD) };
extern struct eth_stats eth_stats;

/* The receive handler installed with netdev_set_rx_handler: nb->data at the Ethernet header.
 * Consumes nb. */
void eth_input(struct net_device *dev, struct netbuf *nb);
/* Prepend the header (our MAC as source), pad to ETH_ZLEN and hand to the device. Consumes
 * nb. Returns 0 or a negative errno (the frame is then dropped and counted). */
int eth_output(struct net_device *dev, struct netbuf *nb, const u8 *dest, u16 ethertype);
/* Accept frames sent to a multicast MAC (a protocol asks), on the stack's device and in its
 * filter (dev_mc_add); -ENOSPC when the table is full, -ENODEV without a device. */
int eth_add_multicast(const u8 *mac);
void eth_clear_multicast(void);

void eth_print_stats(void);
void eth_zero_stats(void);

#endif
