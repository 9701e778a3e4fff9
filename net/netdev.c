/*
 * net/netdev.c - device registry, transmit with a bounded backlog, receive hand-off, and the
 * NAPI-like poll list that the event loop runs.
 */
#include "kernel/crc32.h"
#include "kernel/errno.h"
#include "kernel/irq.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "kernel/time.h"
#include "kernel/timeline.h"
#include "net/netdev.h"

static struct net_device *devices[NET_MAX_DEVICES];
static int ndevices;
static struct napi_struct *poll_head, *poll_tail; /* shared with IRQ handlers */
static void (*rx_handler)(struct net_device *dev, struct netbuf *nb);
static void (*link_handler)(struct net_device *dev, bool up);
static void (*event_handler)(struct net_device *dev, enum netdev_event event);
bool netdev_framelog; /* print a CRC of every received frame (net/netdev_cmds.c) */

/* Pool buffers the registered devices and the stack need, by the policy in netdev.h. */
static unsigned pool_buffers_wanted(void)
{
	unsigned want = NET_STACK_BUFS;

	for (int i = 0; i < ndevices; i++)
		want += devices[i]->rx_ring_size + devices[i]->tx_ring_size + TX_BACKLOG_LIMIT;
	if (want > netbuf_pool_max()) {
		printk("netbuf: the rings want %u buffers, the pool holds at most %u; not every ring will fill\n",
		       want, netbuf_pool_max());
		want = netbuf_pool_max();
	}
	return want;
}

int netdev_reserve_buffers(struct net_device *dev)
{
	int err = netbuf_pool_init(MAX(NETBUF_HEADROOM + dev->rx_buf_len, (unsigned)NETBUF_DEFAULT_SIZE));
	unsigned room, want;
	struct netbuf_stats st;

	if (err == -EEXIST) { /* made earlier with smaller buffers, now posted: they stay */
		room = netbuf_buf_size() - NETBUF_HEADROOM;
		dev->mtu -= dev->rx_buf_len - room;
		dev->rx_buf_len = room;
		printk("%s: packet buffers hold at most a %u-byte MTU; using that\n", dev->name, dev->mtu);
	} else if (err) {
		return err;
	}
	want = pool_buffers_wanted();
	netbuf_get_stats(&st);
	return st.total < want ? netbuf_pool_grow(want - (unsigned)st.total) : 0;
}

int register_netdev(struct net_device *dev)
{
	int err;

	if (ndevices == NET_MAX_DEVICES)
		return -ENOSPC;
	dev->ifindex = ndevices;
	snprintk(dev->name, sizeof(dev->name), "eth%d", ndevices);
	devices[ndevices++] = dev; /* its rings count from here on */
	err = netdev_reserve_buffers(dev);
	if (err) {
		devices[--ndevices] = NULL;
		return err;
	}
	netbuf_queue_init(&dev->tx_backlog, TX_BACKLOG_LIMIT);
	if (dev->ops->ndo_open)
		dev->ops->ndo_open(dev);
	dev->up = true;
	printk("%s: registered, driver %s, mac %02x:%02x:%02x:%02x:%02x:%02x, mtu %u, link %s\n", dev->name,
	       dev->driver_name, dev->mac[0], dev->mac[1], dev->mac[2], dev->mac[3], dev->mac[4], dev->mac[5],
	       dev->mtu, dev->carrier ? "up" : "down");
	return 0;
}

struct net_device *netdev_get(int i) { return i >= 0 && i < ndevices ? devices[i] : NULL; }
int netdev_count(void) { return ndevices; }

void netdev_set_rx_handler(void (*handler)(struct net_device *dev, struct netbuf *nb)) { rx_handler = handler; }
void netdev_set_link_handler(void (*handler)(struct net_device *dev, bool up)) { link_handler = handler; }
void netdev_set_event_handler(void (*handler)(struct net_device *dev, enum netdev_event event))
{
	event_handler = handler;
}

static void netdev_event(struct net_device *dev, enum netdev_event event)
{
	if (event_handler)
		event_handler(dev, event);
}

void netdev_notify_peers(struct net_device *dev) { netdev_event(dev, NETDEV_NOTIFY_PEERS); }

int dev_set_mac_address(struct net_device *dev, const u8 *mac)
{
	static const u8 zero[ETH_ALEN];
	int err;

	if ((mac[0] & 1) || memcmp(mac, zero, ETH_ALEN) == 0)
		return -EINVAL;
	if (!dev->ops->ndo_set_mac_address)
		return -EOPNOTSUPP;
	err = dev->ops->ndo_set_mac_address(dev, mac);
	if (err)
		return err;
	memcpy(dev->mac, mac, ETH_ALEN);
	netdev_event(dev, NETDEV_CHANGEADDR);
	return 0;
}

static int dev_set_rx_mode(struct net_device *dev)
{
	return dev->ops && dev->ops->ndo_set_rx_mode ? dev->ops->ndo_set_rx_mode(dev) : -EOPNOTSUPP;
}

/* Set one receive flag and tell the driver; set back on an error. */
static int dev_set_rx_flag(struct net_device *dev, bool *flag, bool on)
{
	bool was = *flag;
	int err;

	*flag = on;
	err = dev_set_rx_mode(dev);
	if (err)
		*flag = was;
	return err;
}

int dev_set_promiscuity(struct net_device *dev, bool on) { return dev_set_rx_flag(dev, &dev->promisc, on); }
int dev_set_allmulti(struct net_device *dev, bool on) { return dev_set_rx_flag(dev, &dev->allmulti, on); }

bool dev_mc_contains(const struct net_device *dev, const u8 *mac)
{
	for (unsigned i = 0; i < dev->mc_count; i++)
		if (memcmp(dev->mc[i], mac, ETH_ALEN) == 0)
			return true;
	return false;
}

int dev_mc_add(struct net_device *dev, const u8 *mac)
{
	if (dev_mc_contains(dev, mac))
		return 0;
	if (dev->mc_count == NETDEV_MC_MAX)
		return -ENOSPC;
	memcpy(dev->mc[dev->mc_count++], mac, ETH_ALEN);
	dev_set_rx_mode(dev); /* the device's answer is the driver's to count */
	return 0;
}

void dev_mc_clear(struct net_device *dev)
{
	if (!dev->mc_count)
		return;
	dev->mc_count = 0;
	dev_set_rx_mode(dev);
}

/* Cost accounting: the time of each outermost call into a driver goes to rx_cycles for a
 * receive poll (with the stack and the replies sent while handling its frames) and to
 * tx_cycles for the rest (ndo_start_xmit and ndo_flush outside polls, transmit polls). A
 * transmit inside a poll is part of that poll's time. */
static bool in_poll;

static void account_cycles(struct net_device *dev, bool rx, u64 t0)
{
	*(rx ? &dev->stats.rx_cycles : &dev->stats.tx_cycles) += rdtsc() - t0;
}

static enum netdev_tx try_xmit(struct net_device *dev, struct netbuf *nb)
{
	unsigned len = netbuf_len(nb);
	u64 t0 = rdtsc();
	enum netdev_tx ret = dev->ops->ndo_start_xmit(nb, dev);

	if (!in_poll)
		account_cycles(dev, false, t0);
	if (ret == NETDEV_TX_OK) {
		dev->stats.tx_packets++;
		dev->stats.tx_bytes += len;
		dev->flush_pending = true;
	}
	return ret;
}

int dev_queue_xmit(struct net_device *dev, struct netbuf *nb)
{
	nb->dev = dev;
	if (dev->detached) { /* no rings behind it: the driver must not see the frame */
		dev->stats.tx_detached_drop++;
		netbuf_free(nb);
		return -ENODEV;
	}
	if (!dev->carrier || !dev->up) {
		dev->stats.tx_carrier_drop++;
		netbuf_free(nb);
		return -ENETDOWN;
	}
	if (netbuf_len(nb) > dev->mtu + ETH_HLEN || netbuf_len(nb) < ETH_HLEN) {
		dev->stats.tx_too_long++;
		netbuf_free(nb);
		return -EMSGSIZE;
	}
	/* Keep order: while a backlog exists, new frames join its end. */
	if (!dev->tx_backlog.len && try_xmit(dev, nb) == NETDEV_TX_OK)
		return 0;
	dev->stats.tx_busy++;
	if (!netbuf_enqueue(&dev->tx_backlog, nb)) {
		dev->stats.tx_backlog_drop++;
		netbuf_free(nb);
		return -ENOBUFS;
	}
	return 0;
}

/* Drop every frame waiting in the backlog, each counted in *counter: the layers above
 * counted them as sent, so their end must show somewhere. */
static void backlog_drop_all(struct net_device *dev, u64 *counter)
{
	struct netbuf *nb;

	while ((nb = netbuf_dequeue(&dev->tx_backlog))) {
		(*counter)++;
		netbuf_free(nb);
	}
}

void netif_wake_queue(struct net_device *dev)
{
	struct netbuf *nb;

	while (dev->tx_backlog.head) {
		if (dev->detached || !dev->carrier) {
			backlog_drop_all(dev, dev->detached ? &dev->stats.tx_detached_drop : &dev->stats.tx_carrier_drop);
			return;
		}
		/* Off the queue before the driver sees it: NETDEV_TX_OK may mean it already freed
		 * the frame (dropped with a counter), and then its link belongs to the free list. */
		nb = netbuf_dequeue(&dev->tx_backlog);
		if (try_xmit(dev, nb) != NETDEV_TX_OK) {
			netbuf_queue_head(&dev->tx_backlog, nb); /* busy: untouched, first in line again */
			return;
		}
	}
}

void netif_device_detach(struct net_device *dev)
{
	dev->detached = true;
	dev->flush_pending = false; /* no ndo_flush for frames the device will never see */
	backlog_drop_all(dev, &dev->stats.tx_detached_drop);
}

void netif_device_attach(struct net_device *dev) { dev->detached = false; }

void netif_carrier_on(struct net_device *dev)
{
	if (dev->carrier)
		return;
	dev->carrier = true;
	printk("%s: link up\n", dev->name);
	timeline_mark("link up");
	if (link_handler)
		link_handler(dev, true);
}

void netif_carrier_off(struct net_device *dev)
{
	if (!dev->carrier)
		return;
	dev->carrier = false;
	printk("%s: link down\n", dev->name);
	backlog_drop_all(dev, &dev->stats.tx_carrier_drop);
	if (link_handler)
		link_handler(dev, false);
}

void netif_receive(struct net_device *dev, struct netbuf *nb)
{
	dev->stats.rx_packets++;
	dev->stats.rx_bytes += netbuf_len(nb);
	nb->dev = dev;
	if (netdev_framelog)
		printk("rx: %s len %u crc %08x\n", dev->name, netbuf_len(nb), crc32_ieee(nb->data, netbuf_len(nb)));
	if (!rx_handler) {
		dev->stats.rx_no_handler++;
		netbuf_free(nb);
		return;
	}
	rx_handler(dev, nb);
}

void netif_napi_add(struct net_device *dev, struct napi_struct *napi,
		    int (*poll)(struct napi_struct *napi, int budget))
{
	napi->dev = dev;
	napi->poll = poll;
	napi->next = NULL;
	napi->scheduled = false;
	napi->tx = false;
}

void netif_napi_add_tx(struct net_device *dev, struct napi_struct *napi,
		       int (*poll)(struct napi_struct *napi, int budget))
{
	netif_napi_add(dev, napi, poll);
	napi->tx = true;
}

bool napi_schedule_prep(struct napi_struct *napi)
{
	unsigned long flags = local_irq_save();
	bool claimed = !napi->scheduled;

	napi->scheduled = true;
	local_irq_restore(flags);
	return claimed;
}

void __napi_schedule(struct napi_struct *napi)
{
	unsigned long flags = local_irq_save();

	napi->next = NULL;
	if (poll_tail)
		poll_tail->next = napi;
	else
		poll_head = napi;
	poll_tail = napi;
	local_irq_restore(flags);
}

void napi_schedule(struct napi_struct *napi)
{
	if (napi_schedule_prep(napi))
		__napi_schedule(napi);
}

/* Take napi off the poll list (it is at the head while its poll runs, or absent). */
static void napi_unlink(struct napi_struct *napi)
{
	struct napi_struct **pp;

	for (pp = &poll_head; *pp; pp = &(*pp)->next) {
		if (*pp == napi) {
			*pp = napi->next;
			if (poll_tail == napi) {
				poll_tail = NULL;
				for (struct napi_struct *n = poll_head; n; n = n->next)
					poll_tail = n;
			}
			break;
		}
	}
	napi->next = NULL;
}

void napi_complete(struct napi_struct *napi)
{
	unsigned long flags = local_irq_save();

	napi_unlink(napi);
	napi->scheduled = false;
	local_irq_restore(flags);
}

/* Move napi from the head to the tail of the list: it used its whole budget, so others get
 * a turn before it runs again. */
static void napi_requeue(struct napi_struct *napi)
{
	unsigned long flags = local_irq_save();

	if (napi->scheduled && poll_head == napi && napi->next) {
		napi_unlink(napi);
		poll_tail->next = napi;
		poll_tail = napi;
	}
	local_irq_restore(flags);
}

static u64 stall_until_ns;

void net_stall(u64 ms) { stall_until_ns = now_ns() + ms * NSEC_PER_MSEC; }

/* Stalled (the `stall` command): polls wait, the loop idles; false once the time is up, when
 * the next net_poll ends the stall. */
static bool net_stalled(void)
{
	return stall_until_ns && now_ns() < stall_until_ns;
}

bool net_poll_pending(void)
{
	return READ_ONCE(poll_head) != NULL && !net_stalled();
}

bool net_poll(void)
{
	int rounds = 0;

	if (stall_until_ns) {
		if (net_stalled())
			return false; /* idle until the next tick; scheduled polls wait */
		stall_until_ns = 0;
		printk("net: stall over, polling again\n");
	}

	/* A bounded number of polls per loop iteration so timers and the shell still run. */
	while (READ_ONCE(poll_head) && rounds++ < 8) {
		struct napi_struct *napi = poll_head;
		u64 t0 = rdtsc();
		int done;

		if (napi->dev->detached) { /* its driver has no rings to poll */
			napi_complete(napi);
			continue;
		}
		napi->dev->stats.napi_polls++;
		in_poll = true;
		done = napi->poll(napi, NAPI_BUDGET);
		in_poll = false;
		account_cycles(napi->dev, !napi->tx, t0);
		if (done >= NAPI_BUDGET) {
			napi->dev->stats.napi_budget_exhausted++;
			napi_requeue(napi);
		}
	}
	for (int i = 0; i < ndevices; i++) {
		struct net_device *dev = devices[i];

		if (dev->flush_pending && !dev->detached) {
			u64 t0 = rdtsc();

			dev->flush_pending = false;
			if (dev->ops->ndo_flush)
				dev->ops->ndo_flush(dev);
			account_cycles(dev, false, t0);
		}
	}
	return READ_ONCE(poll_head) != NULL;
}
