/*
 * drivers/net/virtio_net.c - the virtio network device driver (virtio 1.x section 5.1).
 *
 * Named after the Linux functions the course text walks through, so both can be read side by
 * side: virtnet_probe -> init_vqs -> virtnet_alloc_queues / virtnet_find_vqs; receive through
 * skb_recv_done (interrupt) -> virtnet_poll -> receive_buf -> netif_receive, refilled by
 * try_fill_recv; transmit through start_xmit -> xmit_skb -> virtqueue_add_outbuf, with
 * free_old_xmit reclaiming and skb_xmit_done (interrupt) waking the TX poll.
 *
 * Simpler than Linux: one queue pair (a device offering MQ is told so on the control queue:
 * virtio_net_ctrl.c, which holds every control command), no RSS, no segmentation offloads
 * (every frame is complete), no XDP. Checksum offload is there (VIRTIO_NET_F_CSUM and
 * VIRTIO_NET_F_GUEST_CSUM, 5.1.6.2 and 5.1.6.4) without the driver knowing any protocol: the
 * stack marks a netbuf "sum from here, store there" and the driver copies that into the
 * header; on receive it copies the header's flags into the netbuf for the stack to use.
 * vnet_csum=off and vnet_guest_csum=off on the command line leave either feature out.
 *
 * Everything the device hands us is checked: used lengths (shorter than the header, runts,
 * longer than the MTU allows), num_buffers (zero, or more than the device completed), config
 * values (MTU out of range, a multicast or zero MAC). Each drop has a counter in netstat.
 */
#include "drivers/net/virtio_net.h"
#include "drivers/net/virtio_net_priv.h"
#include "drivers/virtio/virtio.h"
#include "drivers/virtio/vring_trace.h"
#include "kernel/cmdline.h"
#include "kernel/errno.h"
#include "kernel/init.h"
#include "kernel/irq.h"
#include "kernel/printk.h"
#include "kernel/shell.h"
#include "kernel/string.h"
#include "kernel/time.h"
#include "net/net_stats.h"
#include "net/netdev.h"

#define VIRTNET_MAX_DEVICES 4
#define VIRTNET_MAX_MTU 9216   /* the largest MTU we size buffers for */
#define TX_RECLAIM_NS (10 * NSEC_PER_MSEC) /* idle transmit reclaim, about one tick */
#define REFILL_RETRY_NS (10 * NSEC_PER_MSEC) /* receive refill retry when the pool was empty */

static struct virtnet_info virtnet_devs[VIRTNET_MAX_DEVICES];
static int nvirtnet;

/* ------------------------------------------------------------------------------------------
 * Interrupts and polls: a queue's callback is off exactly while its poll is pending
 */

/* From a queue's interrupt (Linux's virtqueue_napi_schedule): silence the queue only when this
 * call claims the poll. A poll already pending will look at the queue anyway, and its end
 * (virtqueue_napi_complete) decides the callback's state: if we silenced the queue here too,
 * the callback could stay off with no poll left to turn it back on. */
static void virtqueue_napi_schedule(struct napi_struct *napi, struct virtqueue *vq)
{
	if (napi_schedule_prep(napi)) {
		virtqueue_disable_cb(vq);
		__napi_schedule(napi);
	}
}

/* The end of a poll that drained its queue (Linux's virtqueue_napi_complete): the poll is
 * released and the callback re-enabled as one step, interrupts off, so the handler never
 * finds the poll released with the callback still off, or claims the poll and silences the
 * queue just before we turn the callback back on. Buffers that slipped in meanwhile
 * (virtqueue_enable_cb's race check) schedule the poll again. */
static void virtqueue_napi_complete(struct napi_struct *napi, struct virtqueue *vq)
{
	unsigned long flags = local_irq_save();
	bool more;

	napi_complete(napi);
	more = !virtqueue_enable_cb(vq);
	local_irq_restore(flags);
	if (more)
		virtqueue_napi_schedule(napi, vq);
}

/* ------------------------------------------------------------------------------------------
 * Receive
 */

/* Where the device writes a receive buffer: the header right in front of the headroom mark,
 * so that after stripping it nb->data is the Ethernet header with NETBUF_HEADROOM - hdr_len
 * bytes of headroom left for a reply built in place. */
static u8 *rx_buf_start(const struct virtnet_info *vi, struct netbuf *nb)
{
	return nb->head + NETBUF_HEADROOM - vi->hdr_len;
}

/* Post one receive buffer. Legacy devices without ANY_LAYOUT want the header in a
 * descriptor of its own (5.1.6.3.2 legacy note); otherwise one descriptor holds both. */
static int add_recvbuf(struct virtnet_info *vi, struct netbuf *nb)
{
	struct scatterlist sg[2];
	u8 *start = rx_buf_start(vi, nb);

	if (vi->any_layout) {
		sg[0].addr = start;
		sg[0].len = vi->hdr_len + vi->rx_buf_len;
		return virtqueue_add_inbuf(vi->rvq, sg, 1, nb);
	}
	sg[0].addr = start;
	sg[0].len = vi->hdr_len;
	sg[1].addr = start + vi->hdr_len;
	sg[1].len = vi->rx_buf_len;
	return virtqueue_add_inbuf(vi->rvq, sg, 2, nb);
}

/* Keep the receive queue full; one kick for the whole refill. Returns buffers added. When the
 * pool is empty, a timer retries: otherwise a queue drained to nothing would never interrupt
 * again, and receiving would stop for good (Linux's refill work does the same). */
static unsigned try_fill_recv(struct virtnet_info *vi)
{
	unsigned added = 0;

	virtnet_check_queues(vi); /* after every receive poll: did the device break the rings? */
	while (vi->rvq->num_free > 0) {
		struct netbuf *nb = netbuf_alloc();

		if (!nb) {
			vi->stats.rx_refill_nomem++;
			if (!vi->refill.pending)
				timer_arm(&vi->refill, REFILL_RETRY_NS);
			break;
		}
		if (add_recvbuf(vi, nb) < 0) {
			netbuf_free(nb);
			break;
		}
		vi->rx_posted++;
		added++;
	}
	VQ_TRACE(vi->rvq, "try_fill_recv/added", VQ_NOID, added);
	if (added && virtqueue_kick_prepare(vi->rvq)) {
		vi->stats.rx_kicks++;
		vi->dev.stats.doorbells++;
		virtqueue_notify(vi->rvq);
	}
	return added;
}

/* LAB:SOLUTION stage5 receive_buf */
static void drop_rx(struct virtnet_info *vi, struct netbuf *nb, u64 *counter)
{
	(*counter)++;
	netbuf_free(nb);
}

/*
 * MRG_RXBUF: a frame may continue in num_buffers - 1 further buffers, which the device has
 * already completed (it publishes them all at once). Their bytes are appended to the first
 * buffer, which is sized for a whole MTU-sized frame; a frame that does not fit is dropped.
 * The continuation buffers are consumed in every case so the queue stays in step.
 */
static bool merge_rx_buffers(struct virtnet_info *vi, struct netbuf *nb, u16 num_buffers)
{
	bool ok = true;

	for (u16 i = 1; i < num_buffers; i++) {
		unsigned len;
		struct netbuf *more = virtqueue_get_buf(vi->rvq, &len);

		if (!more) {
			vi->stats.rx_bad_num_buffers++;
			return false;
		}
		vi->rx_posted--;
		vi->stats.rx_buffers++;
		if (ok) {
			u8 *dst = netbuf_put(nb, len);

			if (dst)
				memcpy(dst, rx_buf_start(vi, more), len);
			else {
				vi->stats.rx_merge_overflow++;
				ok = false;
			}
		}
		netbuf_free(more);
	}
	return ok;
}

/*
 * What the header says about the frame's checksums (5.1.6.4), into nb->ip_summed for the
 * stack. nb->data is at the header, the whole frame behind it. Only with GUEST_CSUM: without
 * it the device must send flags 0 (5.1.6.4.1), and anything else it sends is ignored, so the
 * stack verifies every checksum itself. DATA_VALID: the device verified them. NEEDS_CSUM: the
 * device verified the data but left the checksum field holding only the seed, to be summed
 * from csum_start (counted from the Ethernet header) and stored csum_offset further on; a
 * place outside the frame is a device error (false: the frame is dropped).
 */
static bool rx_csum_flags(struct virtnet_info *vi, struct netbuf *nb)
{
	struct virtio_net_hdr hdr;
	unsigned frame_len = netbuf_len(nb) - vi->hdr_len;

	nb->ip_summed = NETBUF_CSUM_NONE;
	if (!vi->rx_csum)
		return true;
	memcpy(&hdr, nb->data, sizeof(hdr)); /* read once: the checks and the use see one value */
	if (hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) { /* 5.1.6.4.2: else csum_* are not used */
		if ((unsigned)hdr.csum_start + hdr.csum_offset + 2 > frame_len)
			return false;
		nb->ip_summed = NETBUF_CSUM_PARTIAL;
		nb->csum_start = (u16)(nb->data + vi->hdr_len - nb->head + hdr.csum_start);
		nb->csum_offset = hdr.csum_offset;
		vi->stats.rx_csum_partial++;
	} else if (hdr.flags & VIRTIO_NET_HDR_F_DATA_VALID) {
		nb->ip_summed = NETBUF_CSUM_UNNECESSARY;
		vi->stats.rx_csum_valid++;
	}
	return true;
}

static void receive_buf(struct virtnet_info *vi, struct netbuf *nb, unsigned len)
{
	u16 num_buffers = 1;

	VQ_TRACE(vi->rvq, "receive_buf/len", VQ_NOID, len);
	if (len < vi->hdr_len) {
		drop_rx(vi, nb, &vi->stats.rx_too_short);
		return;
	}
	nb->data = nb->tail = rx_buf_start(vi, nb);
	netbuf_put(nb, len); /* len is within what we posted: the ring checked it */
	if (vi->mergeable_rx_bufs) {
		/* Read once into a local: the device is done with this buffer, but the value is
		 * untrusted and must not change between the checks below and its use. */
		memcpy(&num_buffers, nb->data + offsetof(struct virtio_net_hdr_mrg_rxbuf, num_buffers),
		       sizeof(num_buffers));
		if (num_buffers == 0) {
			drop_rx(vi, nb, &vi->stats.rx_bad_num_buffers);
			return;
		}
		if (num_buffers > 1 && !merge_rx_buffers(vi, nb, num_buffers)) {
			netbuf_free(nb);
			return;
		}
	}
	if (!rx_csum_flags(vi, nb)) {
		drop_rx(vi, nb, &vi->stats.rx_bad_csum_hdr);
		return;
	}
	netbuf_pull(nb, vi->hdr_len);
	if (netbuf_len(nb) < ETH_HLEN) {
		drop_rx(vi, nb, &vi->stats.rx_runt);
		return;
	}
	if (netbuf_len(nb) > vi->max_frame) {
		drop_rx(vi, nb, &vi->stats.rx_too_long);
		return;
	}
	vi->stats.rx_frames++;
	netif_receive(&vi->dev, nb);
}

static int virtnet_receive(struct virtnet_info *vi, int budget)
{
	int received = 0;
	unsigned len;
	struct netbuf *nb;

	while (received < budget && (nb = virtqueue_get_buf(vi->rvq, &len))) {
		vi->rx_posted--;
		vi->stats.rx_buffers++;
		receive_buf(vi, nb, len);
		received++;
	}
	return received;
}
/* LAB:END */

/* The NAPI poll: receive up to budget frames, refill, and re-enable the interrupt only when
 * the queue is drained (virtqueue_napi_complete checks for a frame that arrived just before). */
static int virtnet_poll(struct napi_struct *napi, int budget)
{
	struct virtnet_info *vi = container_of(napi, struct virtnet_info, napi);
	/* LAB:SOLUTION stage5 virtnet_poll */
	int received;

	vi->stats.rx_polls++;
	VQ_TRACE(vi->rvq, "virtnet_poll/budget", VQ_NOID, (u32)budget);
	received = virtnet_receive(vi, budget);
	try_fill_recv(vi);
	if (received < budget)
		virtqueue_napi_complete(napi, vi->rvq);
	return received;
	/* LAB:END */
}

static void virtnet_refill(struct timer *t)
{
	struct virtnet_info *vi = container_of(t, struct virtnet_info, refill);

	if (vi->rvq)
		try_fill_recv(vi); /* re-arms itself while the pool stays empty */
}

/* Called in interrupt context: only silence the queue and schedule the poll. */
static void skb_recv_done(struct virtqueue *rvq)
{
	struct virtnet_info *vi = ((struct virtio_device *)rvq->vdev)->priv;

	vi->stats.rx_interrupts++;
	VQ_TRACE(rvq, "skb_recv_done", VQ_NOID, 0);
	vi->dev.stats.irqs++;
	/* LAB:SOLUTION stage4 skb_recv_done */
	virtqueue_napi_schedule(&vi->napi, rvq);
	/* LAB:END */
}

/* ------------------------------------------------------------------------------------------
 * Transmit
 */

void free_old_xmit(struct virtnet_info *vi)
{
	/* LAB:SOLUTION stage5 free_old_xmit */
	unsigned len;
	struct netbuf *nb;

	while ((nb = virtqueue_get_buf(vi->svq, &len))) {
		vi->tx_inflight--;
		vi->stats.tx_completed++;
		netbuf_free(nb);
	}
	/* LAB:END */
}

/* 5.1.6.2: the device sums the frame from csum_start (counted from the Ethernet header) to its
 * end and stores the result csum_offset bytes further on; the stack has put the seed (the
 * pseudo-header sum) there. nb->data is at our header, the Ethernet header behind it. (__unused:
 * the lab's stub of xmit_skb does not call it yet.) */
static void __unused xmit_csum(struct virtnet_info *vi, struct virtio_net_hdr *hdr, const struct netbuf *nb)
{
	hdr->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	hdr->csum_start = (le16)(nb->head + nb->csum_start - (nb->data + vi->hdr_len));
	hdr->csum_offset = nb->csum_offset;
	vi->stats.tx_csum_partial++;
}

/* Put one frame on the transmit queue, header prepended in the headroom. */
static int xmit_skb(struct virtnet_info *vi, struct netbuf *nb)
{
	/* LAB:SOLUTION stage5 xmit_skb */
	struct scatterlist sg[2];
	u8 *hdr = netbuf_push(nb, vi->hdr_len);
	int err;

	if (!hdr)
		return -ENOBUFS;
	memset(hdr, 0, vi->hdr_len); /* flags 0, GSO_NONE, num_buffers 0 */
	if (nb->ip_summed == NETBUF_CSUM_PARTIAL)
		xmit_csum(vi, (struct virtio_net_hdr *)hdr, nb);
	if (vi->any_layout) {
		sg[0].addr = nb->data;
		sg[0].len = netbuf_len(nb);
		err = virtqueue_add_outbuf(vi->svq, sg, 1, nb);
	} else {
		sg[0].addr = hdr;
		sg[0].len = vi->hdr_len;
		sg[1].addr = hdr + vi->hdr_len;
		sg[1].len = netbuf_len(nb) - vi->hdr_len;
		err = virtqueue_add_outbuf(vi->svq, sg, 2, nb);
	}
	if (err)
		netbuf_pull(nb, vi->hdr_len); /* give the frame back as it came */
	return err;
	/* LAB:END */
}

static enum netdev_tx start_xmit(struct netbuf *nb, struct net_device *dev)
{
	struct virtnet_info *vi = dev->priv;
	int err;

	VQ_TRACE(vi->svq, "start_xmit/len", VQ_NOID, netbuf_len(nb));
	free_old_xmit(vi);
	if (nb->ip_summed == NETBUF_CSUM_PARTIAL && !vi->tx_csum) {
		/* only after a re-probe lost VIRTIO_NET_F_CSUM under a frame in the backlog */
		vi->stats.tx_csum_unsupported++;
		netbuf_free(nb);
		return NETDEV_TX_OK;
	}
	err = xmit_skb(vi, nb);
	if (err == -ENOSPC) {
		vi->stats.tx_ring_full++;
		/* Ask for an interrupt when the device frees descriptors (skb_xmit_done). */
		if (!virtqueue_enable_cb(vi->svq))
			virtqueue_napi_schedule(&vi->napi_tx, vi->svq);
		return NETDEV_TX_BUSY;
	}
	if (err) {
		*(err == -ENOBUFS ? &vi->stats.tx_no_headroom : &vi->stats.tx_add_error) += 1;
		netbuf_free(nb);
		virtnet_check_queues(vi);
		return NETDEV_TX_OK; /* consumed: dropped with a counter */
	}
	vi->tx_inflight++;
	vi->stats.tx_frames++;
	/* LAB:SOLUTION stage7 start_xmit */
	vi->tx_kick_pending = true;
	/* LAB:END */
	return NETDEV_TX_OK;
}

/*
 * Transmit completions are reclaimed without interrupts while the ring has room: by the next
 * start_xmit (free_old_xmit), or by this timer a tick after a burst. Interrupt delivery is
 * costly (under QEMU's TCG a TX interrupt per burst cost as much as the whole receive path), so
 * skb_xmit_done is armed only when the ring is full and a sender waits for room (start_xmit).
 */
static void virtnet_tx_reclaim(struct timer *t)
{
	struct virtnet_info *vi = container_of(t, struct virtnet_info, tx_reclaim);

	if (!vi->svq)
		return;
	free_old_xmit(vi);
	virtnet_check_queues(vi); /* a tick after each burst: did the device break the rings? */
	if (!netif_device_present(&vi->dev))
		return;
	netif_wake_queue(&vi->dev);
	if (vi->tx_inflight)
		timer_arm(t, TX_RECLAIM_NS);
}

/* End of a burst: one kick for everything queued since the last one, if the device wants it
 * (virtqueue_kick_prepare: VRING_USED_F_NO_NOTIFY or the event index decide). */
static void virtnet_flush(struct net_device *dev)
{
	struct virtnet_info *vi = dev->priv;

	if (!vi->tx_kick_pending)
		return;
	vi->tx_kick_pending = false;
	VQ_TRACE(vi->svq, "virtnet_flush", VQ_NOID, 0);
	if (virtqueue_kick_prepare(vi->svq)) {
		vi->stats.tx_kicks++;
		vi->dev.stats.doorbells++;
		virtqueue_notify(vi->svq);
	}
	if (!vi->tx_reclaim.pending)
		timer_arm(&vi->tx_reclaim, TX_RECLAIM_NS);
}

static int virtnet_poll_tx(struct napi_struct *napi, int budget)
{
	struct virtnet_info *vi = container_of(napi, struct virtnet_info, napi_tx);

	vi->stats.tx_polls++;
	free_old_xmit(vi);
	netif_wake_queue(&vi->dev);
	/* Still waiting for room (the backlog could not drain): wait for the next completion.
	 * Otherwise the reclaim timer takes care of what is in flight, callbacks stay off. */
	if (vi->dev.tx_backlog.len)
		virtqueue_napi_complete(napi, vi->svq);
	else
		napi_complete(napi);
	return 0;
}

/* Called in interrupt context. */
static void skb_xmit_done(struct virtqueue *svq)
{
	struct virtnet_info *vi = ((struct virtio_device *)svq->vdev)->priv;

	vi->stats.tx_interrupts++;
	VQ_TRACE(svq, "skb_xmit_done", VQ_NOID, 0);
	vi->dev.stats.irqs++;
	/* LAB:SOLUTION stage4 skb_xmit_done */
	virtqueue_napi_schedule(&vi->napi_tx, svq);
	/* LAB:END */
}

/* ------------------------------------------------------------------------------------------
 * Configuration, probe, remove
 */

/* The status field (5.1.4): the link, and VIRTIO_NET_S_ANNOUNCE, which the device sets (QEMU:
 * after a migration) to have us announce ourselves (5.1.6.5.4) -- the link first, so the
 * announcement goes out on a link that is up. */
static void virtnet_update_status(struct virtnet_info *vi)
{
	le16 status = VIRTIO_NET_S_LINK_UP; /* without STATUS the link is always up (5.1.4) */

	if (virtio_has_feature(vi->vdev, VIRTIO_NET_F_STATUS) &&
	    virtio_cread_bytes(vi->vdev, VIRTIO_NET_CFG_STATUS, &status, sizeof(status)) < 0) {
		printk("%s: cannot read the link status; keeping the link as it was\n", vi->vdev->name);
		return;
	}
	if (status & VIRTIO_NET_S_LINK_UP)
		netif_carrier_on(&vi->dev);
	else
		netif_carrier_off(&vi->dev);
	if (status & VIRTIO_NET_S_ANNOUNCE)
		virtnet_guest_announce(vi);
}

/* From the event loop, after a configuration interrupt. */
static void virtnet_config_changed(struct virtio_device *vdev)
{
	struct virtnet_info *vi = vdev->priv;

	if (!vi || !vi->registered)
		return;
	if (vdev->config->get_status(vdev) & VIRTIO_CONFIG_S_NEEDS_RESET) {
		virtnet_schedule_recovery(vi, "device needs reset");
		return;
	}
	virtnet_update_status(vi);
}

static void random_mac(u8 mac[ETH_ALEN])
{
	u64 r = rdtsc() * 0x9e3779b97f4a7c15ull;

	for (int i = 0; i < ETH_ALEN; i++)
		mac[i] = (u8)(r >> (8 * i));
	mac[0] = (mac[0] & 0xfe) | 0x02; /* unicast, locally administered */
}

static bool valid_unicast_mac(const u8 mac[ETH_ALEN])
{
	static const u8 zero[ETH_ALEN];

	return !(mac[0] & 1) && memcmp(mac, zero, ETH_ALEN) != 0;
}

/* A configuration the device cannot read back consistently (the generation never settles)
 * fails the probe: nothing it says could be trusted. */
static int virtnet_read_mac(struct virtnet_info *vi)
{
	u8 *mac = vi->dev.mac;

	if (vi->ctrl.mac_set) /* ifconfig hw ether: ours, set again on the control queue */
		return 0;
	if (virtio_has_feature(vi->vdev, VIRTIO_NET_F_MAC)) {
		if (virtio_cread_bytes(vi->vdev, VIRTIO_NET_CFG_MAC, mac, ETH_ALEN) < 0) {
			printk("%s: cannot read the device MAC; refusing the device\n", vi->vdev->name);
			return -EIO;
		}
		if (valid_unicast_mac(mac))
			return 0;
		printk("%s: device MAC %02x:%02x:%02x:%02x:%02x:%02x is not a unicast address; using a random one\n",
		       vi->vdev->name, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	}
	random_mac(mac);
	return 0;
}

/* The device's mtu field (5.1.4); -EIO, said on the console, when it cannot be read. */
static int virtnet_cread_mtu(struct virtio_device *vdev)
{
	le16 mtu;

	if (virtio_cread_bytes(vdev, VIRTIO_NET_CFG_MTU, &mtu, sizeof(mtu)) < 0) {
		printk("%s: cannot read the device MTU; refusing the device\n", vdev->name);
		return -EIO;
	}
	return mtu;
}

/* The largest MTU our receive buffers can take whole: VIRTNET_MAX_MTU, or less once the
 * packet-buffer pool exists with smaller buffers (its size is fixed by the first device). */
static unsigned virtnet_mtu_limit(void)
{
	unsigned pool = netbuf_buf_size();

	if (pool && pool - NETBUF_HEADROOM - ETH_HLEN < VIRTNET_MAX_MTU)
		return pool - NETBUF_HEADROOM - ETH_HLEN;
	return VIRTNET_MAX_MTU;
}

/* vnet_csum=off / vnet_guest_csum=off: leave VIRTIO_NET_F_CSUM / VIRTIO_NET_F_GUEST_CSUM out
 * although the device offers it (for tests, labs and the benchmark's offload row). */
static void virtnet_csum_switch(struct virtio_device *vdev, const char *key, unsigned bit)
{
	const char *v = cmdline_get(key);

	if (!v || strcmp(v, "on") == 0)
		return;
	if (strcmp(v, "off") != 0) {
		printk("%s: %s=%s ignored (on or off)\n", vdev->name, key, v);
		return;
	}
	if (virtio_has_feature(vdev, bit))
		virtio_clear_feature(vdev, bit);
}

static void virtnet_csum_switches(struct virtio_device *vdev)
{
	virtnet_csum_switch(vdev, "vnet_csum", VIRTIO_NET_F_CSUM);
	virtnet_csum_switch(vdev, "vnet_guest_csum", VIRTIO_NET_F_GUEST_CSUM);
}

/*
 * Before FEATURES_OK (Linux's virtnet_validate). Accepting VIRTIO_NET_F_MTU binds the driver
 * to the device's mtu: receive buffers for a frame of that size (5.1.4.2), nothing longer
 * sent. So the feature is accepted only for an mtu we can honour: not one below 68, which the
 * device must not offer (5.1.4.1: 68..65535), and not one above what our buffers hold. Either
 * way the device is then driven as one without an MTU (1500), rather than negotiated and
 * then ignored.
 */
static int virtnet_validate(struct virtio_device *vdev)
{
	int mtu = virtnet_ctrl_validate(vdev);

	if (mtu < 0)
		return mtu;
	virtnet_csum_switches(vdev);
	if (!virtio_has_feature(vdev, VIRTIO_NET_F_MTU))
		return 0;
	mtu = virtnet_cread_mtu(vdev);
	if (mtu < 0)
		return mtu;
	if (mtu < ETH_MIN_MTU) {
		printk("%s: device MTU %d is below the minimum %u; not accepting VIRTIO_NET_F_MTU, using %u\n",
		       vdev->name, mtu, ETH_MIN_MTU, ETH_DATA_LEN);
		virtio_clear_feature(vdev, VIRTIO_NET_F_MTU);
	} else if ((unsigned)mtu > virtnet_mtu_limit()) {
		printk("%s: device MTU %d is above the %u our receive buffers hold; not accepting "
		       "VIRTIO_NET_F_MTU, using %u\n", vdev->name, mtu, virtnet_mtu_limit(), ETH_DATA_LEN);
		virtio_clear_feature(vdev, VIRTIO_NET_F_MTU);
	}
	return 0;
}

/* The MTU to use (68..virtnet_mtu_limit()), or -EIO. */
static int virtnet_read_mtu(struct virtnet_info *vi)
{
	int mtu;

	if (!virtio_has_feature(vi->vdev, VIRTIO_NET_F_MTU))
		return ETH_DATA_LEN;
	mtu = virtnet_cread_mtu(vi->vdev);
	if (mtu < 0)
		return mtu;
	/* virtnet_validate saw one we can honour: the device changed it since */
	if (mtu < ETH_MIN_MTU || (unsigned)mtu > virtnet_mtu_limit()) {
		printk("%s: device MTU %d is outside %u..%u although it was inside when the features were "
		       "negotiated; refusing the device\n", vi->vdev->name, mtu, ETH_MIN_MTU, virtnet_mtu_limit());
		return -EIO;
	}
	return mtu;
}

/* Buffer sizing: every receive buffer holds a whole frame (5.1.6.3.1 asks for at least
 * MTU + header without MRG_RXBUF); register_netdev sized the pool for dev.rx_buf_len (and may
 * have lowered the MTU), and each buffer is posted whole. With MRG_RXBUF, vnet_rxbuf=N on the
 * command line posts less of each, so frames span several buffers and the merge path runs
 * (for tests and labs). */
static void virtnet_size_rx_bufs(struct virtnet_info *vi)
{
	const char *knob = cmdline_get("vnet_rxbuf");

	vi->max_frame = vi->dev.mtu + ETH_HLEN;
	vi->rx_buf_len = netbuf_buf_size() - NETBUF_HEADROOM;
	if (knob && vi->mergeable_rx_bufs) {
		u64 n;

		if (parse_u64(knob, &n) == 0 && n >= 64 && n < vi->rx_buf_len)
			vi->rx_buf_len = (unsigned)n;
		else
			printk("%s: vnet_rxbuf=%s ignored (64..%u)\n", vi->vdev->name, knob, vi->rx_buf_len - 1);
	}
}

/* Linux splits this in two because it has many queue pairs; we keep the names. */
static int virtnet_alloc_queues(struct virtnet_info *vi)
{
	netif_napi_add(&vi->dev, &vi->napi, virtnet_poll);
	netif_napi_add_tx(&vi->dev, &vi->napi_tx, virtnet_poll_tx);
	return 0;
}

/* Our queue pair, and with CTRL_VQ the control queue after every pair the device has
 * (virtnet_ctrl_index); the pairs we do not use are left unset (no name). The control queue
 * never interrupts: each command is polled for. */
static int virtnet_find_vqs(struct virtnet_info *vi)
{
	unsigned ctrl = virtnet_ctrl_index(vi->vdev);
	unsigned nvqs = ctrl ? ctrl + 1 : VIRTNET_NVQS;
	struct virtqueue *vqs[VIRTIO_MAX_VQS];
	vq_callback_t callbacks[VIRTIO_MAX_VQS] = { skb_recv_done, skb_xmit_done };
	const char *names[VIRTIO_MAX_VQS] = { "rx0", "tx0" };
	int err;

	if (ctrl)
		names[ctrl] = "ctrl";
	err = vi->vdev->config->find_vqs(vi->vdev, nvqs, vqs, callbacks, names);
	if (err)
		return err;
	vi->rvq = vqs[RX_VQ];
	vi->svq = vqs[TX_VQ];
	vi->ctrl.cvq = ctrl ? vqs[ctrl] : NULL;
	vi->ctrl.stuck = false;
	virtqueue_disable_cb(vi->svq); /* armed only when the ring fills (see virtnet_tx_reclaim) */
	return 0;
}

static int init_vqs(struct virtnet_info *vi)
{
	int err = virtnet_alloc_queues(vi);

	if (err)
		return err;
	return virtnet_find_vqs(vi);
}

static void free_unused_bufs(struct virtnet_info *vi)
{
	struct netbuf *nb;

	while ((nb = virtqueue_detach_unused_buf(vi->rvq))) {
		vi->rx_posted--;
		netbuf_free(nb);
	}
	while ((nb = virtqueue_detach_unused_buf(vi->svq))) {
		vi->tx_inflight--;
		netbuf_free(nb);
	}
}

static void virtnet_remove(struct virtio_device *vdev)
{
	struct virtnet_info *vi = vdev->priv;
	bool stopped;

	/* Detach before anything is torn down (Linux's netif_device_detach): from here until a
	 * probe has the rings back, no frame reaches start_xmit, which would meet NULL queues. */
	netif_device_detach(&vi->dev);
	/* Reset first: once the device has stopped, nothing it holds can change under us. A device
	 * that did not stop (the reset timed out; the core marks it dead) may still write every
	 * buffer it holds: those stay with it, counted in rx_posted and tx_inflight, and del_vqs
	 * keeps the rings. */
	stopped = virtio_reset_device(vdev) == 0;
	timer_cancel(&vi->tx_reclaim);
	timer_cancel(&vi->refill);
	napi_complete(&vi->napi);
	napi_complete(&vi->napi_tx);
	if (stopped) {
		free_old_xmit(vi);
		free_unused_bufs(vi);
	}
	virtnet_ctrl_remove(vi); /* a control buffer the device kept stays in vi->ctrl: static */
	vdev->config->del_vqs(vdev);
	vi->rvq = vi->svq = NULL;
	vi->tx_kick_pending = false;
}

static int virtnet_reset(struct net_device *dev)
{
	struct virtnet_info *vi = dev->priv;

	return virtio_reprobe(vi->vdev);
}

static const struct net_device_ops virtnet_netdev_ops = {
	.ndo_start_xmit = start_xmit,
	.ndo_flush = virtnet_flush,
	.ndo_reset = virtnet_reset,
	.ndo_describe = virtnet_describe,
	.ndo_stats = virtnet_stats,
	.ndo_zero_stats = virtnet_zero_stats,
	.ndo_set_rx_mode = virtnet_set_rx_mode,
	.ndo_set_mac_address = virtnet_set_mac_address,
};

static struct virtnet_info *virtnet_get_info(struct virtio_device *vdev)
{
	struct virtnet_info *vi = vdev->priv;

	if (vi) /* re-probe after a reset: keep the net_device and its name */
		return vi;
	if (nvirtnet == VIRTNET_MAX_DEVICES)
		return NULL;
	vi = &virtnet_devs[nvirtnet++];
	vi->vdev = vdev;
	vdev->priv = vi;
	timer_setup(&vi->tx_reclaim, virtnet_tx_reclaim);
	timer_setup(&vi->refill, virtnet_refill);
	virtnet_recovery_init(vi);
	return vi;
}

static int virtnet_probe(struct virtio_device *vdev)
{
	struct virtnet_info *vi = virtnet_get_info(vdev);
	int err;

	if (!vi)
		return -ENOSPC;
	/* Absent until the rings work (attached below): a probe failing after register_netdev
	 * leaves eth0 registered, and the stack must not send into queues that do not exist. */
	netif_device_detach(&vi->dev);
	vi->mergeable_rx_bufs = virtio_has_feature(vdev, VIRTIO_NET_F_MRG_RXBUF);
	vi->hdr_len = (vi->mergeable_rx_bufs || virtio_has_feature(vdev, VIRTIO_F_VERSION_1))
			      ? sizeof(struct virtio_net_hdr_mrg_rxbuf)
			      : sizeof(struct virtio_net_hdr);
	vi->any_layout = virtio_has_feature(vdev, VIRTIO_F_VERSION_1) || virtio_has_feature(vdev, VIRTIO_F_ANY_LAYOUT);
	vi->tx_csum = virtio_has_feature(vdev, VIRTIO_NET_F_CSUM);
	vi->rx_csum = virtio_has_feature(vdev, VIRTIO_NET_F_GUEST_CSUM);
	vi->dev.features = (vi->tx_csum ? NETIF_F_HW_CSUM : 0) | (vi->rx_csum ? NETIF_F_RXCSUM : 0);
	err = virtnet_read_mac(vi);
	if (err)
		goto err_out;
	err = virtnet_read_mtu(vi);
	if (err < 0)
		goto err_out;
	vi->dev.mtu = (unsigned)err;
	vi->dev.priv = vi;
	vi->dev.ops = &virtnet_netdev_ops;
	vi->dev.driver_name = "virtio_net";

	err = init_vqs(vi);
	if (err)
		goto err_out;
	/* What we need from the packet-buffer pool; the netdev layer sizes it (net/netdev.h). On a
	 * re-probe the device is registered already: the pool is checked again, and the buffers
	 * virtnet_remove freed are there for us. */
	vi->dev.rx_ring_size = vi->rvq->num;
	vi->dev.tx_ring_size = vi->svq->num;
	vi->dev.rx_buf_len = vi->dev.mtu + ETH_HLEN;
	if (!vi->registered) {
		vi->dev.carrier = false;
		err = register_netdev(&vi->dev);
		if (err) {
			printk("%s: cannot register the network device: %s\n", vdev->name, strerror(err));
			goto err_del_vqs;
		}
		vi->registered = true;
		timer_arm(&vi->watchdog, NSEC_PER_SEC);
	} else {
		err = netdev_reserve_buffers(&vi->dev);
		if (err) {
			printk("%s: cannot allocate packet buffers: %s\n", vdev->name, strerror(err));
			goto err_del_vqs;
		}
	}
	virtnet_size_rx_bufs(vi);
	vi->rx_posted = vi->tx_inflight = 0;

	/* 3.1.1: no notifications before DRIVER_OK, so the device is made ready before the
	 * receive queue is filled (and kicked). */
	virtio_device_ready(vdev);
	if (try_fill_recv(vi) == 0) {
		printk("%s: could not post a single receive buffer\n", vdev->name);
		err = -ENOMEM;
		goto err_reset;
	}
	vi->watchdog_idle_s = 0;
	virtnet_ctrl_probe(vi); /* pairs, MAC, receive filter: before frames flow */
	netif_device_attach(&vi->dev); /* before the link: link up sends a gratuitous ARP */
	virtnet_recovery_done(vi);
	virtnet_update_status(vi);
	printk("%s: %s ready: header %u bytes, rx ring %u, tx ring %u, %u-byte receive buffers%s\n", vi->dev.name,
	       vdev->name, vi->hdr_len, vi->rvq->num, vi->svq->num, vi->rx_buf_len,
	       vi->mergeable_rx_bufs ? " (mergeable)" : "");
	return 0;

err_reset:
	if (virtio_reset_device(vdev) == 0) /* else the device keeps them (see virtnet_remove) */
		free_unused_bufs(vi);
err_del_vqs:
	virtnet_ctrl_remove(vi);
	vdev->config->del_vqs(vdev);
	vi->rvq = vi->svq = NULL;
err_out:
	return err;
}

static const unsigned virtnet_features[] = {
	VIRTIO_NET_F_CSUM,
	VIRTIO_NET_F_GUEST_CSUM,
	VIRTIO_NET_F_MAC,
	VIRTIO_NET_F_STATUS,
	VIRTIO_NET_F_MRG_RXBUF,
	VIRTIO_NET_F_MTU,
	VIRTIO_F_ANY_LAYOUT,
	VIRTIO_NET_F_CTRL_VQ,
	VIRTIO_NET_F_CTRL_RX,
	VIRTIO_NET_F_CTRL_MAC_ADDR,
	VIRTIO_NET_F_GUEST_ANNOUNCE,
	VIRTIO_NET_F_MQ,
};

static const struct virtio_driver virtio_net_driver = {
	.name = "virtio_net",
	.device_id = VIRTIO_ID_NET,
	.feature_table = virtnet_features,
	.feature_table_size = ARRAY_SIZE(virtnet_features),
	.feature_name = virtnet_feature_name,
	.validate = virtnet_validate,
	.probe = virtnet_probe,
	.remove = virtnet_remove,
	.config_changed = virtnet_config_changed,
};

static void virtio_net_init(void) { register_virtio_driver(&virtio_net_driver); }
INITCALL(3, virtio_net_init);
