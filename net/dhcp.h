/*
 * net/dhcp.h - the DHCP client (RFC 2131; options from RFC 2132) used with ip=dhcp:
 * the message format, option parsing that trusts nothing, and the client state machine of
 * RFC 2131 figure 5: INIT -> SELECTING -> REQUESTING -> BOUND -> RENEWING -> REBINDING, and
 * INIT-REBOOT -> REBOOTING -> BOUND when the link comes back with a lease still valid. Ours
 * adds CHECKING between REQUESTING and BOUND: the ACKed address probed with ARP (RFC 5227
 * 2.1.1, net/arp.c) before use, DHCPDECLINE when it is in use (RFC 2131 3.1 step 5) -- and
 * the same when, bound, another host goes on claiming the address after one defence (RFC 5227
 * 2.4 (b), through arp_set_conflict_handler: conflicts, declines); and
 * RELEASING -> RELEASED: the address given back with DHCPRELEASE (4.4.6) and no further
 * DHCP until dhcp_restart().
 */
#ifndef NET_DHCP_H
#define NET_DHCP_H

#include "kernel/time.h"
#include "net/byteorder.h"
#include "net/net_stats.h"

#define BOOTREQUEST 1
#define BOOTREPLY 2
#define DHCP_MAGIC 0x63825363u   /* RFC 2131 3: the options field starts with 99.130.83.99 */
#define DHCP_FIXED_LEN 240       /* fixed fields plus the magic cookie */
#define DHCP_MIN_MSG_LEN 300     /* RFC 1542 2.1: BOOTP relays expect at least 300 bytes */
#define DHCP_FLAG_BROADCAST 0x8000

/* Options (RFC 2132) */
#define DHO_PAD 0
#define DHO_SUBNET_MASK 1
#define DHO_ROUTER 3
#define DHO_DNS 6
#define DHO_HOSTNAME 12
#define DHO_REQUESTED_IP 50
#define DHO_LEASE_TIME 51
#define DHO_OVERLOAD 52
#define DHO_MSG_TYPE 53
#define DHO_SERVER_ID 54
#define DHO_PARAM_REQ 55
#define DHO_MESSAGE 56
#define DHO_MAX_MSG_SIZE 57
#define DHO_T1 58
#define DHO_T2 59
#define DHO_CLIENT_ID 61
#define DHO_END 255

/* Message types (option 53) */
#define DHCPDISCOVER 1
#define DHCPOFFER 2
#define DHCPREQUEST 3
#define DHCPDECLINE 4
#define DHCPACK 5
#define DHCPNAK 6
#define DHCPRELEASE 7

/* Retransmission while SELECTING, REQUESTING and REBOOTING (RFC 2131 4.1): the first after
 * 4 s, then 8 s, doubling up to 64 s, each randomised by a uniform value in -1..+1 s. */
#define DHCP_RETRY_FIRST_NS (4ull * 1000 * 1000 * 1000)
#define DHCP_RETRY_MAX_NS (64ull * 1000 * 1000 * 1000)
#define DHCP_RETRY_JITTER_NS (1000ull * 1000 * 1000)
/* REQUESTs before giving up (REQUESTING: start over; INIT-REBOOT: keep the lease): waits of
 * 4 + 8 + 16 + 32 s, the "total delay of 60 seconds" of 3.1 step 5 and 3.2 step 3. */
#define DHCP_REQUEST_TRIES 4
#define DHCP_RENEW_MIN_WAIT_NS (60ull * 1000 * 1000 * 1000) /* 4.4.5 */
/* A RELEASE waiting for the server's MAC keeps the address until ARP is done with it: at
 * most ARP's 3 tries, 1 s apart; the client looks every 10 ms. */
#define DHCP_RELEASE_WAIT_NS (3500ull * 1000 * 1000)
#define DHCP_RELEASE_POLL_NS (10ull * 1000 * 1000)
/* After a DECLINE, "a minimum of ten seconds before restarting" (3.1 step 5). */
#define DHCP_DECLINE_WAIT_NS (10ull * 1000 * 1000 * 1000)
#define DHCP_MIN_LEASE_S 10             /* shorter leases are treated as this long */
#define DHCP_DEFAULT_LEASE_S 3600       /* an ACK without option 51 */

/* RFC 2131 section 2, figure 1. */
struct dhcp_msg {
	u8 op;
	u8 htype;
	u8 hlen;
	u8 hops;
	be32 xid;
	be16 secs;
	be16 flags;
	be32 ciaddr;     /* client's address when it has one (renewing, rebinding) */
	be32 yiaddr;     /* "your" address: what the server gives */
	be32 siaddr;
	be32 giaddr;
	u8 chaddr[16];
	u8 sname[64];    /* may carry options (overload, option 52) */
	u8 file[128];    /* likewise */
	be32 magic;
	u8 options[];
} __packed;
_Static_assert(sizeof(struct dhcp_msg) == DHCP_FIXED_LEN, "DHCP fixed part + cookie is 240 bytes");

/* What we take from a server's options; the rest is skipped. */
struct dhcp_options {
	u8 msg_type;                       /* 0: absent */
	bool have_mask, have_router, have_server_id, have_lease, have_t1, have_t2, have_dns;
	be32 mask, router, server_id, dns; /* dns: the first server of option 6 */
	u32 lease_s, t1_s, t2_s;
	u8 overload;                       /* 1 file, 2 sname, 3 both */
	unsigned bad_options;              /* known options with a wrong length or value */
};

/* Parse one options area; -EINVAL when an option runs past its end. */
int dhcp_parse_options(const u8 *p, unsigned len, struct dhcp_options *o, bool allow_overload);
/* Check a whole BOOTREPLY (fixed part, cookie, options, overloaded areas) into *o.
 * Returns 0 or -EINVAL. */
int dhcp_parse_reply(const void *msg, unsigned len, struct dhcp_options *o);

enum dhcp_state {
	DHCP_OFF, DHCP_INIT, DHCP_SELECTING, DHCP_REQUESTING, DHCP_BOUND, DHCP_RENEWING, DHCP_REBINDING,
	DHCP_REBOOTING, DHCP_RELEASING, DHCP_RELEASED, DHCP_CHECKING,
};

struct dhcp_client {
	enum dhcp_state state;
	u32 xid;
	unsigned tries;          /* transmissions in the current state */
	u64 retry_ns;            /* current backoff */
	u64 started_ns;          /* start of this acquisition or renewal (the secs field) */
	u16 discover_secs;       /* secs of the last DISCOVER, repeated by REQUESTING (3.1 step 3) */
	u64 request_sent_ns;     /* the lease counts from the REQUEST (4.4.1) */
	be32 offered, server_id;
	be32 leased;             /* the address of the lease we hold (REBOOTING asks for it again;
				  * CHECKING: the one being probed) */
	u64 release_deadline;    /* RELEASING: give the address up by then, RELEASE sent or not */
	be32 mask, router;
	be32 dns;                /* option 6's first server, 0 without one */
	u32 lease_s, t1_s, t2_s;
	u64 t1_at, t2_at, expire_at;
	struct timer timer;
	u32 rng;
};
extern struct dhcp_client dhcp;

#define DHCP_STATS(X)                                                                         \
	X(discovers) X(offers) X(requests) X(acks) X(naks) X(renewals) X(rebinds) X(expiries)   \
	X(rx_malformed) X(rx_ignored) X(rx_bad_options) X(rx_bad_offer) X(retransmits)          \
	X(restarts) X(tx_errors) X(naks_ignored) X(releases) X(reboots) X(reboot_timeouts)      \
	X(declines) X(conflicts)
struct dhcp_stats { DHCP_STATS(NET_STAT_FIELD) };
extern struct dhcp_stats dhcp_stats;

void dhcp_start(void);         /* bind port 68 and begin (INIT) */
void dhcp_stop(void);
void dhcp_link_change(bool up);
/* The machine moved (net/config.c, on NETDEV_NOTIFY_PEERS): confirm a valid lease by
 * INIT-REBOOT unless that is under way. */
void dhcp_moved(void);
int dhcp_renew_now(void);      /* BOUND -> RENEWING at once (shell, tests) */
/* DHCPRELEASE of the lease we hold, then the address goes (RELEASING -> RELEASED). 0, or
 * -EINVAL without a lease. */
int dhcp_release(void);
/* RELEASED -> a new acquisition at once (a DISCOVER). 0, or -EINVAL in any other state. */
int dhcp_restart(void);
const char *dhcp_state_name(enum dhcp_state s);
void dhcp_describe(void);
void dhcp_print_stats(void);
void dhcp_zero_stats(void);

#endif
