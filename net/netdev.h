/*
 * net/netdev.h - network devices as the stack sees them, and the NAPI-like poll list.
 *
 * A driver fills a struct net_device (MAC, MTU, carrier, net_device_ops) and registers it.
 * The stack sends with dev_queue_xmit() and receives through netif_receive(); it never sees a
 * ring. Drivers defer receive work out of interrupt context with napi_schedule(); the event
 * loop then calls their poll function with a budget (net_poll(), installed as the loop's poll
 * hook), and calls ndo_flush at the end of each burst so a driver can notify its device once
 * per burst instead of once per frame.
 *
 * The packet-buffer pool (net/netbuf.h) is sized here, not by drivers. A driver states what
 * its device needs in its net_device (rx_ring_size, tx_ring_size, rx_buf_len) and
 * register_netdev makes the pool cover it:
 *   - buffer size: NETBUF_HEADROOM + the largest rx_buf_len of the devices registered, at
 *     least NETBUF_DEFAULT_SIZE. The first registration creates the pool and fixes the size;
 *     a device registered later that needs larger buffers gets its MTU lowered to what they
 *     hold (said on the console), since buffers already posted to a ring cannot be resized.
 *   - buffer count: for every registered device, its two rings and its transmit backlog
 *     (TX_BACKLOG_LIMIT), plus NET_STACK_BUFS for the stack's own queues; at most
 *     netbuf_pool_max() (NETBUF_MAX).
 * The count is worked out afresh from what every device states each time (register_netdev,
 * netdev_reserve_buffers after a re-probe), and the pool grows by what is missing: a device
 * probed again after a reset is not counted twice, and its buffers, all freed by the reset,
 * are there for it again. The pool never shrinks.
 */
#ifndef NET_NETDEV_H
#define NET_NETDEV_H

#include "kernel/types.h"
#include "net/netbuf.h"

#define ETH_ALEN 6
#define ETH_HLEN 14
#define ETH_MIN_MTU 68
#define ETH_DATA_LEN 1500
#define NET_MAX_DEVICES 4
#define NAPI_BUDGET 64
#define TX_BACKLOG_LIMIT 256 /* frames queued while a device's ring is full */
#define NET_STACK_BUFS 256   /* pool buffers for the stack itself: ARP's queues (32 entries x 8) */
#define NETDEV_MC_MAX 4      /* multicast addresses a device is asked to receive (dev_mc_add) */

enum netdev_tx { NETDEV_TX_OK = 0, NETDEV_TX_BUSY = 1 };

struct net_device;

struct net_device_ops {
	int (*ndo_open)(struct net_device *dev);
	int (*ndo_stop)(struct net_device *dev);
	/* Take the frame (nb->data is the Ethernet header) or say NETDEV_TX_BUSY and leave nb
	 * untouched. On NETDEV_TX_OK the driver owns nb (and frees it when sent or dropped). */
	enum netdev_tx (*ndo_start_xmit)(struct netbuf *nb, struct net_device *dev);
	void (*ndo_flush)(struct net_device *dev);    /* end of a burst: kick the device */
	int (*ndo_reset)(struct net_device *dev);     /* full device reset and re-probe */
	void (*ndo_describe)(struct net_device *dev); /* ifconfig: driver details */
	void (*ndo_stats)(struct net_device *dev);    /* netstat: driver counters */
	void (*ndo_zero_stats)(struct net_device *dev);
	/* Optional. Tell the device what to receive: dev->promisc, dev->allmulti and the
	 * multicast list dev->mc (Linux's ndo_set_rx_mode, but with a result: 0, -EOPNOTSUPP when
	 * the device cannot filter or be told, or the error of the command that failed). */
	int (*ndo_set_rx_mode)(struct net_device *dev);
	/* Optional. Make the device use mac as its address (dev->mac is still the old one);
	 * 0 or a negative errno (-EOPNOTSUPP: this device cannot change it). */
	int (*ndo_set_mac_address)(struct net_device *dev, const u8 *mac);
};

struct netdev_stats {
	u64 rx_packets, rx_bytes;
	u64 tx_packets, tx_bytes;
	u64 rx_no_handler;   /* no protocol registered for frames */
	u64 tx_busy;         /* driver said busy: frame queued in the backlog */
	u64 tx_backlog_drop; /* backlog full: frame dropped */
	u64 tx_carrier_drop; /* link down: frame dropped, and the backlog purged when the link
			      * went down (or a retry found it down) */
	u64 tx_too_long;     /* longer than MTU + Ethernet header: dropped */
	u64 tx_detached_drop; /* no working device behind it (netif_device_detach): dropped,
			       * and the backlog purged when it was detached (or a retry found
			       * it so) */
	u64 napi_polls;
	u64 napi_budget_exhausted;
	/* cost accounting, measured here around the driver's entry points (the driver does no
	 * timing of its own; the `perf` command divides them) */
	u64 rx_cycles;     /* TSC cycles in receive polls, the stack and replies sent from it */
	u64 tx_cycles;     /* TSC cycles of transmit work outside receive polls (ndo_start_xmit,
			    * ndo_flush, transmit polls) */
	u64 doorbells;     /* notifications to the device (kicks) */
	u64 irqs;          /* interrupts taken for this device */
};

struct napi_struct {
	int (*poll)(struct napi_struct *napi, int budget);
	struct net_device *dev;
	struct napi_struct *next;
	bool scheduled;
	bool tx; /* a transmit-completion poll (netif_napi_add_tx): its time is tx_cycles */
};

/* net_device.features. The stack asks for an offload only where the device has it. */
#define NETIF_F_HW_CSUM (1u << 0) /* completes a checksum the stack marks NETBUF_CSUM_PARTIAL */
#define NETIF_F_RXCSUM (1u << 1)  /* may mark received frames as verified (netbuf.ip_summed) */

struct net_device {
	char name[8];
	int ifindex;
	u8 mac[ETH_ALEN];
	unsigned mtu;
	bool carrier;
	bool up;
	bool detached; /* netif_device_detach: the driver has no working device (see below) */
	const struct net_device_ops *ops;
	void *priv;
	const char *driver_name;
	u32 features; /* NETIF_F_*: what the device does for the stack (set by the driver) */
	/* What the device needs from the packet-buffer pool, stated by the driver before
	 * register_netdev (the sizing policy is at the top of this file). */
	unsigned rx_ring_size; /* receive buffers the device holds posted */
	unsigned tx_ring_size; /* frames the device holds in flight */
	unsigned rx_buf_len;   /* bytes of frame one receive buffer must hold past NETBUF_HEADROOM */
	bool flush_pending;
	/* what to receive besides our MAC and broadcast (dev_set_promiscuity, dev_set_allmulti,
	 * dev_mc_add); the driver's ndo_set_rx_mode hands it to the device */
	bool promisc;
	bool allmulti;
	u8 mc[NETDEV_MC_MAX][ETH_ALEN];
	unsigned mc_count;
	struct netbuf_queue tx_backlog;
	struct netdev_stats stats;
};

/* Names the device ethN, sizes the buffer pool for it (may lower dev->mtu and rx_buf_len, see
 * above), opens it. Returns 0 or a negative errno (-ENOSPC: NET_MAX_DEVICES are registered;
 * otherwise the pool's: no memory for more buffers). */
int register_netdev(struct net_device *dev);
/* The pool again, for a registered device whose driver restated its needs (probed again after
 * a reset). Same policy and result as in register_netdev; nothing is counted twice. */
int netdev_reserve_buffers(struct net_device *dev);
struct net_device *netdev_get(int ifindex); /* 0-based; NULL past the last */
int netdev_count(void);

/* Send a frame (nb->data at the Ethernet header). Always consumes nb: sent, queued, or
 * dropped with a counter. Returns 0 or a negative errno saying why it was dropped. */
int dev_queue_xmit(struct net_device *dev, struct netbuf *nb);
/* The driver has room again: retry the backlog. */
void netif_wake_queue(struct net_device *dev);

/*
 * The driver's device is not usable for now: it is being torn down for a reset, or a probe
 * failed after register_netdev (the device stays registered: the stack holds it). Until
 * netif_device_attach, dev_queue_xmit drops every frame (tx_detached_drop), the backlog is
 * purged, and nothing reaches the driver: no ndo_start_xmit, no ndo_flush, no NAPI poll
 * (a scheduled one is taken off the list). Linux's names and meaning (netif_device_detach
 * clears __LINK_STATE_PRESENT). A driver may detach before register_netdev, so that the
 * device is registered absent until its rings work. The carrier is separate: the link may
 * well be up on a detached device.
 */
void netif_device_detach(struct net_device *dev);
/* The driver's rings are back: frames reach it again. */
void netif_device_attach(struct net_device *dev);
static inline bool netif_device_present(const struct net_device *dev) { return !dev->detached; }

void netif_carrier_on(struct net_device *dev);
void netif_carrier_off(struct net_device *dev);

/* A received frame (nb->data at the Ethernet header) goes up; consumes nb. */
void netif_receive(struct net_device *dev, struct netbuf *nb);
/* The stack registers here for every received frame (net/ethernet.c). */
void netdev_set_rx_handler(void (*handler)(struct net_device *dev, struct netbuf *nb));
/* Called when a device's carrier changes (the stack sends a gratuitous ARP on link up). */
void netdev_set_link_handler(void (*handler)(struct net_device *dev, bool up));

/*
 * Events a driver reports for the layers above, Linux's netdevice notifier in one handler
 * (the stack registers it: net/config.c): NETDEV_CHANGEADDR after dev_set_mac_address changed
 * dev->mac, NETDEV_NOTIFY_PEERS when the device asks the guest to announce itself (Linux's
 * netdev_notify_peers; virtio-net's GUEST_ANNOUNCE after a migration). The stack answers both
 * with gratuitous ARP; the driver never calls it directly.
 */
enum netdev_event { NETDEV_CHANGEADDR, NETDEV_NOTIFY_PEERS };
void netdev_set_event_handler(void (*handler)(struct net_device *dev, enum netdev_event event));
void netdev_notify_peers(struct net_device *dev);
/* A new unicast MAC for dev: the driver's ndo_set_mac_address first, then dev->mac and
 * NETDEV_CHANGEADDR. 0, -EINVAL (a group or zero address), -EOPNOTSUPP (no way to change it)
 * or the driver's error; dev->mac is unchanged unless 0. */
int dev_set_mac_address(struct net_device *dev, const u8 *mac);
/* Receive filtering: set the flag and tell the driver (ndo_set_rx_mode). On an error the flag
 * is set back and the error returned (-EOPNOTSUPP: the device cannot be told). */
int dev_set_promiscuity(struct net_device *dev, bool on);
int dev_set_allmulti(struct net_device *dev, bool on);
/* The multicast list: add an address (0 if already there, -ENOSPC when NETDEV_MC_MAX are),
 * empty it, or ask whether it holds mac. Adding and emptying tell the driver; what the device
 * says is counted by the driver, the list holds the address either way (the stack's own
 * filter uses it: net/ethernet.c). */
int dev_mc_add(struct net_device *dev, const u8 *mac);
void dev_mc_clear(struct net_device *dev);
bool dev_mc_contains(const struct net_device *dev, const u8 *mac);

void netif_napi_add(struct net_device *dev, struct napi_struct *napi,
		    int (*poll)(struct napi_struct *napi, int budget));
/* The same for a poll that reclaims transmitted buffers (Linux: netif_napi_add_tx). */
void netif_napi_add_tx(struct net_device *dev, struct napi_struct *napi,
		       int (*poll)(struct napi_struct *napi, int budget));
void napi_schedule(struct napi_struct *napi); /* safe in interrupt context */
/* napi_schedule in two steps (Linux's names): napi_schedule_prep claims the poll -- false when
 * it is already scheduled or running, which then looks at the queue again anyway -- and
 * __napi_schedule queues the claimed poll. A driver's interrupt handler silences its queue in
 * between, and only when it made the claim: so a queue's interrupt is off exactly while its
 * poll is pending, never left off (or turned off) behind a poll that already ran. */
bool napi_schedule_prep(struct napi_struct *napi);
void __napi_schedule(struct napi_struct *napi);
/* The poll function calls this when it did less than its budget; afterwards it re-enables
 * its interrupt and, if work slipped in, schedules itself again -- with interrupts off
 * around both, so that no handler runs in between (see virtqueue_napi_complete). */
void napi_complete(struct napi_struct *napi);

/* Event-loop hook: run scheduled polls and flush bursts; true while work remains. */
bool net_poll(void);
/* The loop's last look before it halts, interrupts off: is a poll scheduled (by an interrupt
 * that came after net_poll's return) that net_poll would run now? Not while stalled. */
bool net_poll_pending(void);
/* Debugging: run no polls for ms milliseconds, so receive rings fill and devices must drop
 * (the `stall` command); polling resumes by itself. */
void net_stall(u64 ms);

#endif
