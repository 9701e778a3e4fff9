/*
 * tests/unit/net_harness.h - a host-side world for the network stack's unit tests and
 * fuzzer: a fake eth0 whose transmit captures frames, a fake clock with one-shot timers,
 * and builders for the frames a peer would send (RFC 826/791/792/768/2131 layouts).
 *
 * Addresses: we are 10.0.2.15/24 with MAC 52:54:00:12:34:56; the peer is 10.0.2.2 with
 * MAC 02:00:00:00:00:02 (also the gateway).
 */
#ifndef TESTS_UNIT_NET_HARNESS_H
#define TESTS_UNIT_NET_HARNESS_H

#include "kernel/errno.h"
#include "net/arp.h"
#include "net/dhcp.h"
#include "net/ethernet.h"
#include "net/icmp.h"
#include "net/checksum.h"
#include "net/inet.h"
#include "net/inet_addr.h"
#include "net/ipv4.h"
#include "net/udp.h"

#define H_MAX_TX 64

extern struct net_device h_dev;
extern const u8 h_our_mac[ETH_ALEN], h_peer_mac[ETH_ALEN];
extern be32 h_our_ip, h_peer_ip;
extern struct netbuf *h_tx[H_MAX_TX]; /* captured frames, data at the Ethernet header */
extern unsigned h_ntx;
extern unsigned h_tx_dropped;          /* captures beyond H_MAX_TX (freed) */

/* Fresh stack on the fake device: ip/gw as on the kernel command line (NULL: default). */
void h_setup(const char *ip, const char *gw);
/* Free the captured frames. */
void h_clear_tx(void);
/* Forget every pending timer (before the memory holding them is reused). */
void h_cancel_all_timers(void);
/* Move the clock forward, firing due timers in order. */
void h_advance_ns(u64 ns);
/* Buffers neither free nor accounted for (captured or queued in ARP): should be 0. */
long h_leaked(void);

/* Frame builders: each returns a netbuf holding a whole Ethernet frame. */
struct netbuf *h_frame(const u8 *dst, const u8 *src, u16 type, const void *payload, unsigned len);
/* An IPv4 packet from src to dst with payload (header checksum right, DF, TTL 64). */
unsigned h_ipv4(u8 *out, be32 src, be32 dst, u8 proto, const void *payload, unsigned len);
unsigned h_udp(u8 *out, be32 src, be32 dst, u16 sport, u16 dport, const void *payload, unsigned len, bool csum);
unsigned h_icmp_echo(u8 *out, u8 type, u16 id, u16 seq, const void *payload, unsigned len);
unsigned h_arp(u8 *out, u16 op, const u8 *sha, be32 spa, const u8 *tha, be32 tpa);
/* Hand a frame to the stack as the driver would. */
void h_inject(struct netbuf *nb);
/* Convenience: an IPv4 frame from the peer to us carrying payload of proto. */
void h_inject_ip(be32 src, be32 dst, u8 proto, const void *payload, unsigned len);
void h_inject_udp(u16 sport, u16 dport, const void *payload, unsigned len);

/* Accessors on a captured frame. */
const struct ethhdr *h_eth(unsigned i);
const struct iphdr *h_ip(unsigned i);
const u8 *h_l4(unsigned i); /* after the IPv4 header */
unsigned h_len(unsigned i);

#endif
