/*
 * net/inet.h - the stack as a whole: the interface's address configuration and the stack-wide
 * hooks (init, attach, reset, describe, counters). Byte order is net/byteorder.h, the
 * checksum net/checksum.h, address helpers net/inet_addr.h.
 *
 * The stack runs on one interface: the first network device registered (eth0). Frames from
 * any other device are counted and dropped by the Ethernet layer.
 */
#ifndef NET_INET_H
#define NET_INET_H

#include "net/byteorder.h"

struct net_device;

enum inet_source { INET_SRC_NONE, INET_SRC_STATIC, INET_SRC_DHCP };

struct inet_ifaddr {
	struct net_device *dev; /* the stack's device; NULL before inet_init found one */
	be32 addr, mask, gw;    /* gw 0: no default route */
	bool configured;
	enum inet_source source;
	bool ready_printed;     /* the "net: ready" marker goes out once per boot */
};

extern struct inet_ifaddr inet_if;

static inline struct net_device *inet_dev(void) { return inet_if.dev; }
static inline bool inet_configured(void) { return inet_if.configured; }
static inline be32 inet_addr(void) { return inet_if.configured ? inet_if.addr : 0; }
/* The directed (subnet) broadcast of the configured network; 0 for /31 and /32. */
be32 inet_subnet_broadcast(void);
/* a is that broadcast (never true without an address, or for /31 and /32). */
bool inet_is_subnet_broadcast(be32 a);
bool inet_on_link(be32 daddr);

/* Unpredictable enough for DNS ids and ephemeral ports (RFC 5452, RFC 6056): a xorshift
 * generator seeded from the clock and our MAC, stirred with the clock at each call. Not for
 * secrets. */
u32 inet_random(void);

/* Set the address (prints the "net: ready" marker the first time, announces the address
 * with a gratuitous ARP). gw may be 0. Returns 0 or -EINVAL for an unusable address. */
int inet_set_address(be32 addr, be32 mask, be32 gw, enum inet_source source);
void inet_clear_address(void);

/* Parse ip= and gw= values (NULL: absent) into a static configuration; *dhcp is set for
 * ip=dhcp. Messages explain anything ignored. Returns 0 or -EINVAL (nothing usable). */
int inet_parse_config(const char *ip, const char *gw, be32 *addr, be32 *mask, be32 *gwaddr, bool *dhcp);

/* Bring the stack up on dev with the boot command line's configuration (inet_init) or with
 * an explicit one (tests, fuzzer). */
void inet_init(void);
void inet_attach(struct net_device *dev, const char *ip, const char *gw);
/* Drop every piece of state (ARP cache and queues, bindings, DHCP, counters): tests only. */
void inet_reset(void);

/* Hooks for the shell (net/netdev_cmds.c): ifconfig's address lines, netstat's per-layer
 * counters, netstat -z. */
void inet_describe(struct net_device *dev);
void inet_print_stats(void);
void inet_zero_stats(void);

#endif
