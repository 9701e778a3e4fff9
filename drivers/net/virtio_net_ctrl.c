/*
 * drivers/net/virtio_net_ctrl.c - virtio-net's control virtqueue (virtio 1.x 5.1.6.5) and the
 * commands we send on it:
 *
 *   VIRTIO_NET_CTRL_RX PROMISC / ALLMULTI  (VIRTIO_NET_F_CTRL_RX; 5.1.6.5.1): ifconfig promisc,
 *                                          allmulti, and at every probe;
 *   VIRTIO_NET_CTRL_MAC TABLE_SET          (CTRL_RX; 5.1.6.5.2): no unicast entries, the
 *                                          multicast groups of the net_device (dev_mc_add);
 *   VIRTIO_NET_CTRL_MAC ADDR_SET           (VIRTIO_NET_F_CTRL_MAC_ADDR; 5.1.6.5.2): ifconfig hw
 *                                          ether, and again after a reset;
 *   VIRTIO_NET_CTRL_ANNOUNCE ACK           (VIRTIO_NET_F_GUEST_ANNOUNCE; 5.1.6.5.4): after the
 *                                          device set VIRTIO_NET_S_ANNOUNCE and the stack announced us;
 *   VIRTIO_NET_CTRL_MQ VQ_PAIRS_SET 1      (VIRTIO_NET_F_MQ; 5.1.6.5.5): we drive one pair.
 *
 * The control queue is the last one: index 2 * max_virtqueue_pairs with MQ, 2 without
 * (5.1.2); the pairs we do not use in between are left unset (find_vqs with no name).
 *
 * A command is one chain: the class/command header and its data, device-readable, then one
 * ack byte the device writes (5.1.6.5). Like Linux's virtnet_send_command we send one at a
 * time and poll for the used buffer, but never for ever: after VIRTNET_CTRL_TIMEOUT_MS without an
 * answer the command fails with -ETIMEDOUT and the queue is marked stuck -- the device still
 * holds our header, data and ack buffers, so nothing is posted again until it gives them back.
 * Each later command first looks whether the late answer came (the queue is then usable again,
 * counted as late); otherwise it is refused at once with -EIO. A device reset (netreset, or the
 * self-healing of virtio_net_recovery.c for a device that breaks its rings) gives the buffers
 * back and a fresh queue. We do not reset the device for a silent control queue: the data
 * queues may work perfectly well, and receive filtering or an announcement are not worth an
 * outage. The ack byte is read only when the used length says the device wrote it.
 *
 * The device's view of the receive filter (QEMU resets it to promiscuous, an empty MAC table)
 * is set in full at each probe, then only what changes is sent.
 */
#include "drivers/net/virtio_net.h"
#include "drivers/net/virtio_net_priv.h"
#include "kernel/errno.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "kernel/time.h"

#define CTRL_POLL_US 10
#define CTRL_ACK_UNSET 0xff  /* neither OK nor ERR: what the ack byte holds until written */

unsigned virtnet_ctrl_index(struct virtio_device *vdev)
{
	le16 pairs = 1;

	if (!virtio_has_feature(vdev, VIRTIO_NET_F_CTRL_VQ))
		return 0;
	if (virtio_has_feature(vdev, VIRTIO_NET_F_MQ) &&
	    virtio_cread_bytes(vdev, VIRTIO_NET_CFG_MAX_VQ_PAIRS, &pairs, sizeof(pairs)) < 0)
		pairs = 1;
	return 2u * pairs;
}

/* 5.1.3.1: each of these needs VIRTIO_NET_F_CTRL_VQ. */
static const unsigned ctrl_dependents[] = {
	VIRTIO_NET_F_CTRL_RX, VIRTIO_NET_F_CTRL_MAC_ADDR, VIRTIO_NET_F_GUEST_ANNOUNCE, VIRTIO_NET_F_MQ,
};

int virtnet_ctrl_validate(struct virtio_device *vdev)
{
	le16 pairs;

	if (!virtio_has_feature(vdev, VIRTIO_NET_F_CTRL_VQ)) {
		for (unsigned i = 0; i < ARRAY_SIZE(ctrl_dependents); i++)
			if (virtio_has_feature(vdev, ctrl_dependents[i])) {
				printk("%s: %s offered without CTRL_VQ; not accepting it (virtio 1.x 5.1.3.1)\n",
				       vdev->name, virtnet_feature_name(ctrl_dependents[i]));
				virtio_clear_feature(vdev, ctrl_dependents[i]);
			}
		return 0;
	}
	if (!virtio_has_feature(vdev, VIRTIO_NET_F_MQ))
		return 0;
	if (virtio_cread_bytes(vdev, VIRTIO_NET_CFG_MAX_VQ_PAIRS, &pairs, sizeof(pairs)) < 0) {
		printk("%s: cannot read max_virtqueue_pairs; refusing the device\n", vdev->name);
		return -EIO;
	}
	/* 5.1.4.1: 1..0x8000; and its control queue must have an index we can hold */
	if (pairs < VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN || pairs > VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX ||
	    2u * pairs + 1 > VIRTIO_MAX_VQS) {
		printk("%s: max_virtqueue_pairs %u is outside 1..%u; not accepting MQ (one pair, control queue 2)\n",
		       vdev->name, pairs, (VIRTIO_MAX_VQS - 1) / 2);
		virtio_clear_feature(vdev, VIRTIO_NET_F_MQ);
	}
	return 0;
}

static const char *ctrl_cmd_name(u8 class, u8 cmd)
{
	switch (class << 8 | cmd) {
	case VIRTIO_NET_CTRL_RX << 8 | VIRTIO_NET_CTRL_RX_PROMISC: return "rx promisc";
	case VIRTIO_NET_CTRL_RX << 8 | VIRTIO_NET_CTRL_RX_ALLMULTI: return "rx allmulti";
	case VIRTIO_NET_CTRL_MAC << 8 | VIRTIO_NET_CTRL_MAC_TABLE_SET: return "mac table_set";
	case VIRTIO_NET_CTRL_MAC << 8 | VIRTIO_NET_CTRL_MAC_ADDR_SET: return "mac addr_set";
	case VIRTIO_NET_CTRL_ANNOUNCE << 8 | VIRTIO_NET_CTRL_ANNOUNCE_ACK: return "announce ack";
	case VIRTIO_NET_CTRL_MQ << 8 | VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET: return "mq vq_pairs_set";
	default: return "other";
	}
}

/* A command that timed out: has the device given its buffers back since? */
static bool ctrl_unstuck(struct virtnet_info *vi)
{
	struct virtnet_ctrl *c = &vi->ctrl;
	unsigned len;

	if (!virtqueue_get_buf(c->cvq, &len))
		return false;
	c->stuck = false;
	c->stats.late++;
	printk("%s: the control queue answered its timed-out command late; usable again\n", vi->dev.name);
	return true;
}

/* Poll for the used buffer: true when it came back, with its used length. */
static bool ctrl_wait(struct virtnet_ctrl *c, unsigned *len)
{
	u64 deadline = now_ns() + VIRTNET_CTRL_TIMEOUT_MS * NSEC_PER_MSEC;

	for (;;) {
		if (virtqueue_get_buf(c->cvq, len))
			return true;
		if (virtqueue_is_broken(c->cvq) || now_ns() >= deadline)
			return false;
		udelay(CTRL_POLL_US);
	}
}

static int ctrl_result(struct virtnet_ctrl *c, int err)
{
	c->last_err = err;
	return err;
}

int virtnet_send_command(struct virtnet_info *vi, u8 class, u8 cmd, const void *data, unsigned len)
{
	struct virtnet_ctrl *c = &vi->ctrl;
	struct scatterlist sg[3];
	unsigned n = 0, used_len;
	int err;

	if (!c->cvq) /* none negotiated, or torn down for a reset (the next probe sets all again) */
		return virtio_has_feature(vi->vdev, VIRTIO_NET_F_CTRL_VQ) ? -ENODEV : -EOPNOTSUPP;
	if (len > sizeof(c->data))
		return -EINVAL;
	c->any = true;
	c->last_class = class;
	c->last_cmd = cmd;
	c->last_ack = CTRL_ACK_UNSET;
	if (c->stuck && !ctrl_unstuck(vi)) {
		c->stats.unusable++;
		printk("%s: control command %s not sent: the queue still holds a command the device never "
		       "answered (netreset gets it back)\n", vi->dev.name, ctrl_cmd_name(class, cmd));
		return ctrl_result(c, -EIO);
	}
	c->hdr.class = class;
	c->hdr.cmd = cmd;
	if (len)
		memcpy(c->data, data, len);
	c->ack = CTRL_ACK_UNSET;
	sg[n++] = (struct scatterlist){ &c->hdr, sizeof(c->hdr) };
	if (len)
		sg[n++] = (struct scatterlist){ c->data, len };
	sg[n++] = (struct scatterlist){ &c->ack, sizeof(c->ack) };
	err = virtqueue_add_sgs(c->cvq, sg, n - 1, 1, c);
	if (err) { /* the queue holds nothing of ours (one command at a time): broken */
		c->stats.unusable++;
		printk("%s: control command %s not sent: the control queue refused it (%s)\n", vi->dev.name,
		       ctrl_cmd_name(class, cmd), strerror(err));
		return ctrl_result(c, -EIO);
	}
	c->stats.sent++;
	virtqueue_kick(c->cvq);
	if (!ctrl_wait(c, &used_len)) {
		c->stuck = true;
		c->stats.timeouts++;
		printk("%s: control command %s: no answer from the device within %u ms; no further command "
		       "until it answers or is reset (netreset)\n", vi->dev.name, ctrl_cmd_name(class, cmd),
		       VIRTNET_CTRL_TIMEOUT_MS);
		return ctrl_result(c, -ETIMEDOUT);
	}
	/* The ring already cut a length beyond our one writable byte to 0 (bad_used_len). */
	if (used_len < sizeof(c->ack)) {
		c->stats.bad_len++;
		printk("%s: control command %s: the device returned it without writing the ack (used length %u)\n",
		       vi->dev.name, ctrl_cmd_name(class, cmd), used_len);
		return ctrl_result(c, -EPROTO);
	}
	c->last_ack = READ_ONCE(c->ack);
	if (c->last_ack != VIRTIO_NET_OK) {
		c->stats.nak++;
		printk("%s: control command %s refused by the device (ack %u%s)\n", vi->dev.name,
		       ctrl_cmd_name(class, cmd), c->last_ack, c->last_ack == VIRTIO_NET_ERR ? ": VIRTIO_NET_ERR" : "");
		return ctrl_result(c, -EIO);
	}
	c->stats.ok++;
	return ctrl_result(c, 0);
}

static int ctrl_rx_flag(struct virtnet_info *vi, u8 cmd, bool on)
{
	u8 v = on;

	return virtnet_send_command(vi, VIRTIO_NET_CTRL_RX, cmd, &v, sizeof(v));
}

/* 5.1.6.5.2: two tables, each a le32 count then the addresses: no unicast entries (the
 * device's own address is ours), then the multicast groups. */
static int ctrl_mac_table(struct virtnet_info *vi, const struct net_device *dev)
{
	u8 buf[VIRTNET_CTRL_DATA_MAX];
	le32 uni = 0, multi = dev->mc_count;
	unsigned off = 0;

	memcpy(buf + off, &uni, sizeof(uni));
	off += sizeof(uni);
	memcpy(buf + off, &multi, sizeof(multi));
	off += sizeof(multi);
	memcpy(buf + off, dev->mc, dev->mc_count * ETH_ALEN);
	off += dev->mc_count * ETH_ALEN;
	return virtnet_send_command(vi, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, buf, off);
}

/* Send what differs from what the device was last told, and every part it has not
 * acknowledged (stale): one that failed is sent again by the next call. The first error is
 * returned. */
int virtnet_set_rx_mode(struct net_device *dev)
{
	struct virtnet_info *vi = dev->priv;
	struct virtnet_ctrl *c = &vi->ctrl;
	int err = 0, e;

	if (!virtio_has_feature(vi->vdev, VIRTIO_NET_F_CTRL_RX))
		return -EOPNOTSUPP;
	if (!c->cvq) /* torn down for a reset: the next probe sends it all */
		return -ENODEV;
	if ((c->stale & CTRL_STALE_PROMISC) || c->promisc != dev->promisc) {
		e = ctrl_rx_flag(vi, VIRTIO_NET_CTRL_RX_PROMISC, dev->promisc);
		c->promisc = dev->promisc;
		c->stale = e ? c->stale | CTRL_STALE_PROMISC : c->stale & ~CTRL_STALE_PROMISC;
		err = err ? err : e;
	}
	if ((c->stale & CTRL_STALE_ALLMULTI) || c->allmulti != dev->allmulti) {
		e = ctrl_rx_flag(vi, VIRTIO_NET_CTRL_RX_ALLMULTI, dev->allmulti);
		c->allmulti = dev->allmulti;
		c->stale = e ? c->stale | CTRL_STALE_ALLMULTI : c->stale & ~CTRL_STALE_ALLMULTI;
		err = err ? err : e;
	}
	if ((c->stale & CTRL_STALE_TABLE) || c->mc_count != dev->mc_count ||
	    memcmp(c->mc, dev->mc, dev->mc_count * ETH_ALEN) != 0) {
		e = ctrl_mac_table(vi, dev);
		c->mc_count = dev->mc_count;
		memcpy(c->mc, dev->mc, sizeof(c->mc));
		c->stale = e ? c->stale | CTRL_STALE_TABLE : c->stale & ~CTRL_STALE_TABLE;
		err = err ? err : e;
	}
	return err;
}

int virtnet_set_mac_address(struct net_device *dev, const u8 *mac)
{
	struct virtnet_info *vi = dev->priv;
	int err;

	if (!virtio_has_feature(vi->vdev, VIRTIO_NET_F_CTRL_MAC_ADDR)) {
		printk("%s: the device cannot change its MAC address: VIRTIO_NET_F_CTRL_MAC_ADDR not %s\n", dev->name,
		       (vi->vdev->offered & BIT_ULL(VIRTIO_NET_F_CTRL_MAC_ADDR)) ? "negotiated" : "offered");
		return -EOPNOTSUPP;
	}
	err = virtnet_send_command(vi, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, mac, ETH_ALEN);
	if (!err)
		vi->ctrl.mac_set = true;
	return err;
}

void virtnet_guest_announce(struct virtnet_info *vi)
{
	if (!virtio_has_feature(vi->vdev, VIRTIO_NET_F_GUEST_ANNOUNCE))
		return;
	vi->ctrl.stats.announces++;
	printk("%s: the device asks us to announce ourselves (VIRTIO_NET_S_ANNOUNCE)\n", vi->dev.name);
	netdev_notify_peers(&vi->dev);
	virtnet_send_command(vi, VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK, NULL, 0);
}

void virtnet_ctrl_probe(struct virtnet_info *vi)
{
	struct virtnet_ctrl *c = &vi->ctrl;

	/* What the device holds after its reset is not ours to assume (QEMU: promiscuous): all of
	 * it is sent. */
	c->stale = CTRL_STALE_PROMISC | CTRL_STALE_ALLMULTI | CTRL_STALE_TABLE;
	if (!c->cvq)
		return;
	if (virtio_has_feature(vi->vdev, VIRTIO_NET_F_MQ)) {
		le16 pairs = 1; /* 5.1.6.5.5: we drive receiveq1/transmitq1 only */

		virtnet_send_command(vi, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &pairs, sizeof(pairs));
	}
	if (c->mac_set && virtnet_send_command(vi, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, vi->dev.mac,
					       ETH_ALEN) < 0)
		printk("%s: could not set the MAC address again after the reset\n", vi->dev.name);
	if (virtio_has_feature(vi->vdev, VIRTIO_NET_F_CTRL_RX))
		virtnet_set_rx_mode(&vi->dev);
}

void virtnet_ctrl_remove(struct virtnet_info *vi)
{
	vi->ctrl.cvq = NULL;
	vi->ctrl.stuck = false;
}

bool virtnet_rx_mode_in_step(const struct virtnet_info *vi)
{
	const struct virtnet_ctrl *c = &vi->ctrl;
	const struct net_device *dev = &vi->dev;

	return !c->stale && c->promisc == dev->promisc && c->allmulti == dev->allmulti && c->mc_count == dev->mc_count &&
	       memcmp(c->mc, dev->mc, dev->mc_count * ETH_ALEN) == 0;
}

void virtnet_ctrl_describe(struct virtnet_info *vi, const char *prefix)
{
	const struct virtnet_ctrl *c = &vi->ctrl;
	const struct virtnet_ctrl_stats *s = &c->stats;

	if (!virtio_has_feature(vi->vdev, VIRTIO_NET_F_CTRL_VQ)) {
		printk("%s ctrl_state none (VIRTIO_NET_F_CTRL_VQ not negotiated)\n", prefix);
		return;
	}
	printk("%s ctrl_sent %llu ctrl_ok %llu ctrl_failed %llu ctrl_nak %llu ctrl_timeouts %llu ctrl_bad_len %llu "
	       "ctrl_unusable %llu ctrl_late %llu announces %llu ctrl_state %s", prefix, s->sent, s->ok, s->nak + s->timeouts + s->bad_len + s->unusable,
	       s->nak, s->timeouts, s->bad_len, s->unusable, s->late, s->announces,
	       !c->cvq ? "down" : c->stuck ? "stuck" : "ok");
	if (c->any)
		printk(" ctrl_last %s %s", ctrl_cmd_name(c->last_class, c->last_cmd),
		       c->last_err ? strerror(c->last_err) : "ok");
	printk("\n");
}
