/*
 * drivers/net/virtio_net_diag.c - what the virtio-net driver shows about itself: the names of
 * the device's feature bits (virtio 1.x 5.1.3) for `virtio`, its configuration for `ifconfig`,
 * and its counters for `netstat` (each drop counted where drivers/net/virtio_net.c decides it).
 * Kept apart from the data path so that virtio_net.c reads as probe, receive and transmit.
 */
#include "drivers/net/virtio_net.h"
#include "drivers/net/virtio_net_priv.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "net/net_stats.h"

const char *virtnet_feature_name(unsigned bit)
{
	switch (bit) {
	case VIRTIO_NET_F_CSUM: return "CSUM";
	case VIRTIO_NET_F_GUEST_CSUM: return "GUEST_CSUM";
	case VIRTIO_NET_F_CTRL_GUEST_OFFLOADS: return "CTRL_GUEST_OFFLOADS";
	case VIRTIO_NET_F_MTU: return "MTU";
	case VIRTIO_NET_F_MAC: return "MAC";
	case VIRTIO_NET_F_GSO: return "GSO";
	case VIRTIO_NET_F_GUEST_TSO4: return "GUEST_TSO4";
	case VIRTIO_NET_F_GUEST_TSO6: return "GUEST_TSO6";
	case VIRTIO_NET_F_GUEST_ECN: return "GUEST_ECN";
	case VIRTIO_NET_F_GUEST_UFO: return "GUEST_UFO";
	case VIRTIO_NET_F_HOST_TSO4: return "HOST_TSO4";
	case VIRTIO_NET_F_HOST_TSO6: return "HOST_TSO6";
	case VIRTIO_NET_F_HOST_ECN: return "HOST_ECN";
	case VIRTIO_NET_F_HOST_UFO: return "HOST_UFO";
	case VIRTIO_NET_F_MRG_RXBUF: return "MRG_RXBUF";
	case VIRTIO_NET_F_STATUS: return "STATUS";
	case VIRTIO_NET_F_CTRL_VQ: return "CTRL_VQ";
	case VIRTIO_NET_F_CTRL_RX: return "CTRL_RX";
	case VIRTIO_NET_F_CTRL_VLAN: return "CTRL_VLAN";
	case VIRTIO_NET_F_CTRL_RX_EXTRA: return "CTRL_RX_EXTRA";
	case VIRTIO_NET_F_GUEST_ANNOUNCE: return "GUEST_ANNOUNCE";
	case VIRTIO_NET_F_MQ: return "MQ";
	case VIRTIO_NET_F_CTRL_MAC_ADDR: return "CTRL_MAC_ADDR";
	case VIRTIO_NET_F_HOST_USO: return "HOST_USO";
	case VIRTIO_NET_F_HASH_REPORT: return "HASH_REPORT";
	case VIRTIO_NET_F_GUEST_HDRLEN: return "GUEST_HDRLEN";
	case VIRTIO_NET_F_RSS: return "RSS";
	case VIRTIO_NET_F_RSC_EXT: return "RSC_EXT";
	case VIRTIO_NET_F_STANDBY: return "STANDBY";
	case VIRTIO_NET_F_SPEED_DUPLEX: return "SPEED_DUPLEX";
	default: return NULL;
	}
}

void virtnet_describe(struct net_device *dev)
{
	struct virtnet_info *vi = dev->priv;

	printk("  virtio: %s %s, header %u bytes, %s receive buffers of %u bytes, %s\n", vi->vdev->name,
	       vi->vdev->modern ? "modern" : "legacy", vi->hdr_len, vi->mergeable_rx_bufs ? "mergeable" : "whole-frame",
	       vi->rx_buf_len, vi->any_layout ? "header shares a descriptor" : "header in its own descriptor");
	printk("  features:");
	virtio_print_features(vi->vdev, vi->vdev->features);
	if (vi->rvq && vi->svq)
		printk("  rx ring %u (posted %u), tx ring %u (in flight %u)\n", vi->rvq->num, vi->rx_posted,
		       vi->svq->num, vi->tx_inflight);
	if (virtio_has_feature(vi->vdev, VIRTIO_NET_F_CTRL_RX))
		printk("  rx filter (device): %s\n", virtnet_rx_mode_in_step(vi)
			       ? "as the interface says (promisc, allmulti, multicast groups acknowledged)"
			       : "NOT in step with the interface: a control command failed (see ctrl_last)");
	else
		printk("  rx filter (device): none we can set (no VIRTIO_NET_F_CTRL_RX): the device decides\n");
	virtnet_ctrl_describe(vi, " ");
}

/* netstat's driver lines: receive, transmit, drops (each followed by what it holds), then
 * the self-healing record and what the rings counted. */
#define VIRTNET_STAT(f) NET_STAT(struct virtnet_stats, f)
static const struct net_stat_desc virtnet_rx_desc[] = {
	VIRTNET_STAT(rx_frames) VIRTNET_STAT(rx_buffers) VIRTNET_STAT(rx_interrupts) VIRTNET_STAT(rx_polls)
	VIRTNET_STAT(rx_kicks)
};
static const struct net_stat_desc virtnet_tx_desc[] = {
	VIRTNET_STAT(tx_frames) VIRTNET_STAT(tx_completed) VIRTNET_STAT(tx_interrupts) VIRTNET_STAT(tx_polls)
	VIRTNET_STAT(tx_kicks)
};
static const struct net_stat_desc virtnet_drop_desc[] = {
	VIRTNET_STAT(rx_too_short) VIRTNET_STAT(rx_runt) VIRTNET_STAT(rx_too_long) VIRTNET_STAT(rx_bad_num_buffers)
	VIRTNET_STAT(rx_merge_overflow) VIRTNET_STAT(rx_refill_nomem) VIRTNET_STAT(tx_ring_full)
	VIRTNET_STAT(tx_no_headroom) VIRTNET_STAT(tx_add_error) VIRTNET_STAT(tx_timeouts)
	VIRTNET_STAT(rx_bad_csum_hdr) VIRTNET_STAT(tx_csum_unsupported)
};
static const struct net_stat_desc virtnet_csum_desc[] = {
	VIRTNET_STAT(tx_csum_partial) VIRTNET_STAT(rx_csum_valid) VIRTNET_STAT(rx_csum_partial)
};

void virtnet_stats(struct net_device *dev)
{
	struct virtnet_info *vi = dev->priv;

	if (vi->svq) /* count as in flight only what the device still holds */
		free_old_xmit(vi);
	printk("%s: virtio", dev->name);
	net_stats_print(virtnet_rx_desc, ARRAY_SIZE(virtnet_rx_desc), &vi->stats);
	printk(" rx_posted %u/%u\n", vi->rx_posted, vi->rvq ? vi->rvq->num : 0);
	printk("%s: virtio", dev->name);
	net_stats_print(virtnet_tx_desc, ARRAY_SIZE(virtnet_tx_desc), &vi->stats);
	printk(" tx_inflight %u/%u\n", vi->tx_inflight, vi->svq ? vi->svq->num : 0);
	printk("%s: csum tx %s rx %s", dev->name, vi->tx_csum ? "offload" : "off", vi->rx_csum ? "offload" : "off");
	net_stats_print(virtnet_csum_desc, ARRAY_SIZE(virtnet_csum_desc), &vi->stats);
	printk("\n");
	printk("%s: drops", dev->name);
	net_stats_print(virtnet_drop_desc, ARRAY_SIZE(virtnet_drop_desc), &vi->stats);
	printk("\n");
	{
		char prefix[sizeof(dev->name) + 1];

		snprintk(prefix, sizeof(prefix), "%s:", dev->name);
		virtnet_ctrl_describe(vi, prefix);
	}
	printk("%s: recovery device_recoveries %llu recovery_attempts %llu down_ms %llu state %s last %s\n",
	       dev->name, vi->recovery.recoveries, vi->recovery.attempts, virtnet_down_ms(vi),
	       virtnet_health_name(vi->recovery.state), vi->recovery.reason);
	if (vi->rvq && vi->svq)
		printk("%s: ring rx bad_used id %llu len %llu idx %llu; tx bad_used id %llu len %llu idx %llu\n", dev->name,
		       vi->rvq->stats.bad_used_id, vi->rvq->stats.bad_used_len,
		       vi->rvq->stats.bad_used_idx, vi->svq->stats.bad_used_id,
		       vi->svq->stats.bad_used_len, vi->svq->stats.bad_used_idx);
}

void virtnet_zero_stats(struct net_device *dev)
{
	struct virtnet_info *vi = dev->priv;

	if (vi->svq) /* frames completed before the zero are counted before it */
		free_old_xmit(vi);
	memset(&vi->stats, 0, sizeof(vi->stats));
	memset(&vi->ctrl.stats, 0, sizeof(vi->ctrl.stats));
}
