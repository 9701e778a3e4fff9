/*
 * net/udp.h - the User Datagram Protocol (RFC 768): header, a port table with handlers,
 * sending, and the two services on by default: echo (RFC 862, port 7) and discard
 * (RFC 863, port 9).
 */
#ifndef NET_UDP_H
#define NET_UDP_H

#include "net/byteorder.h"
#include "net/inet_addr.h"
#include "net/ipv4.h"
#include "net/net_stats.h"
#include "net/netbuf.h"

#define UDP_HLEN 8
#define UDP_MAX_BINDINGS 64
#define UDP_PORT_ECHO 7
#define UDP_PORT_DISCARD 9
#define UDP_PORT_DAYTIME 13 /* RFC 867 */
#define UDP_PORT_CHARGEN 19 /* RFC 864 */
#define UDP_PORT_TIME 37    /* RFC 868 */
#define UDP_PORT_BOOTPS 67
#define UDP_PORT_BOOTPC 68
#define UDP_EPHEMERAL_FIRST 49152 /* RFC 6335 dynamic ports */

/* RFC 768 "Format": ports, length of header + data, checksum (0: none computed). */
struct udphdr {
	be16 source;
	be16 dest;
	be16 len;
	be16 check;
} __packed;
_Static_assert(sizeof(struct udphdr) == UDP_HLEN, "UDP header is 8 bytes");

/* What a handler learns about a datagram besides its payload. Ports in host order. */
struct udp_meta {
	be32 saddr, daddr;
	u16 sport, dport;
	u16 rx_check;      /* the checksum field as received (host order), for udp_reply; 0 when
			    * it is not a checksum (the device left it for us: NETBUF_CSUM_PARTIAL) */
	u16 rx_len;        /* payload bytes as received, for udp_reply */
	enum ip_dest dest; /* unicast to us, broadcast, or "we have no address yet" */
	bool link_multicast; /* came in a link-layer broadcast or multicast frame (whatever dest
			      * says): answer nothing (RFC 1122 3.3.6) */
};

/* Called with nb->data at the payload (netbuf_len = payload length). Must consume nb:
 * free it, keep it, or hand it to udp_reply (saying whether the payload changed). */
typedef void (*udp_handler_t)(void *ctx, struct netbuf *nb, const struct udp_meta *m);

/* Ports are host order. udp_bind: port 0 picks a random free port of 49152..65535 (RFC 6056)
 * and reserves it. Returns the port bound (> 0), or -EINVAL (no handler), -EADDRINUSE,
 * -ENOSPC (UDP_MAX_BINDINGS ports bound). udp_unbind: -EINVAL (port 0), -ENOENT (not bound);
 * it also forgets the port's peer and error handler. */
int udp_bind(u16 port, udp_handler_t handler, void *ctx);
int udp_unbind(u16 port);
bool udp_port_bound(u16 port);

/* A bound port hears only peer:peer_port from now on: other datagrams to it are dropped
 * (rx_not_connected), and only ICMP errors about datagrams to the peer reach its error
 * handler; udp_send sends there. IP4_ANY and 0 disconnect. 0, -ENOENT (not bound), -EINVAL
 * (port 0, or a peer that is not a host address or the limited broadcast). */
int udp_connect(u16 port, ip4_addr peer, u16 peer_port);

/* An ICMP error about a datagram a port sent (RFC 1122 4.1.3.3): err -ECONNREFUSED (port
 * unreachable), -EMSGSIZE (fragmentation needed: mtu is the next hop's, RFC 1191, 0 when the
 * router gave none), -ENETUNREACH, -EHOSTUNREACH (any other unreachable, time exceeded);
 * where the datagram went; the ICMP type and code. */
struct udp_error {
	int err;
	ip4_addr dst;
	u16 dport;
	u16 mtu;
	u8 type, code;
};
typedef void (*udp_error_handler_t)(void *ctx, const struct udp_error *e);
/* Called, with the bind's ctx, for each ICMP error quoting a datagram from port (to its peer,
 * when connected). NULL: none (the default). 0 or -ENOENT. */
int udp_on_error(u16 port, udp_error_handler_t fn);

/* From a port (bound or not) to dst:dport, typed: the calls for applications. udp_send: to
 * the peer of a connected port (-ENOTCONN otherwise, -ENOENT not bound). Both as udp_sendto. */
int udp_send_to(u16 port, ip4_addr dst, u16 dport, const void *data, size_t len);
int udp_send(u16 port, const void *data, size_t len);

/* Copy len bytes into a new datagram and send it from our address; more than the MTU holds
 * leaves in fragments; to our own address it loops back (delivered from the event loop, never
 * on the wire). The untyped form (ip in network order) the stack's own commands use. Returns
 * 0 or -EINVAL (port 0 either side, or a destination we may not send to),
 * -EMSGSIZE (more than IPV4_MAX_SEND - UDP_HLEN bytes),
 * -ENETDOWN (no address yet), -ENETUNREACH, -ENOBUFS. */
int udp_sendto(be32 ip, u16 sport, u16 dport, const void *data, size_t len);
/* Prepend the UDP header to the payload at nb->data, checksum it, send. Consumes nb. */
int udp_output(struct netbuf *nb, be32 saddr, be32 daddr, u16 sport, u16 dport);
/* What a handler did to the payload it hands to udp_reply. */
enum udp_reply_payload {
	UDP_PAYLOAD_NEW,       /* changed, trimmed or written afresh: checksummed anew */
	UDP_PAYLOAD_UNCHANGED, /* exactly the bytes that arrived (echo): the received checksum is
				* reused, the payload not read again */
};
/* Send the payload at nb->data back where m says it came from, in place (ports and addresses
 * swapped). With UDP_PAYLOAD_UNCHANGED the received checksum stays valid (RFC 1071: swapping
 * addresses and ports does not change a one's-complement sum) and is sent as it came -- unless
 * the sender computed none, the datagram went to a broadcast (our source address differs from
 * its destination) or the length is not what arrived, when it is computed after all. The
 * caller vouches for the bytes: a payload changed in place under UDP_PAYLOAD_UNCHANGED goes
 * out with a wrong checksum. Consumes nb. */
int udp_reply(struct netbuf *nb, const struct udp_meta *m, enum udp_reply_payload payload);
/* A fresh source port for clients (49152..65535, skipping bound ones). */
u16 udp_ephemeral_port(void);

/* nb->data at the UDP header (ip_hdr(nb) valid). Consumes nb. */
void udp_input(struct netbuf *nb);
/* net/icmp.c: an ICMP error of type and code quoting len bytes from an IPv4 header on (mtu:
 * RFC 1191's next-hop MTU field); passed to the sending port's error handler, if any. */
void udp_icmp_error(const u8 *quote, unsigned len, u8 type, u8 code, u16 mtu);
/* The sender of a datagram, typed (for udp_send_to). */
static inline ip4_addr udp_meta_src(const struct udp_meta *m) { return ip4_from_be32(m->saddr); }

/* echo and discard on their ports; called by inet_attach and inet_reset. */
void udp_services_start(void);
void udp_reset(void);

#define UDP_STATS(X)                                                                          \
	X(rx_datagrams) X(rx_runt) X(rx_bad_len) X(rx_bad_csum) X(rx_no_csum) X(rx_bad_port)      \
	X(rx_not_connected) X(rx_icmp_errors) X(rx_icmp_ignored)                                 \
	X(rx_no_port) X(rx_unconfigured) X(tx_datagrams) X(tx_errors) X(echo_packets)           \
	X(echo_bytes) X(echo_ignored) X(echo_loop_refused) X(discard_packets) X(discard_bytes)   \
	X(rx_csum_trusted) X(tx_csum_offload)
struct udp_stats { UDP_STATS(NET_STAT_FIELD) };
extern struct udp_stats udp_stats;

void udp_print_stats(void);
void udp_zero_stats(void);

#endif
