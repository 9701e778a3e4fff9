/*
 * drivers/net/virtio_net_recovery.c - a device that misbehaves is reset and brought back by
 * the driver itself, without a reboot.
 *
 * Linux marks a virtqueue broken when the device does something impossible, and the interface
 * stays dead until someone reloads the driver. A unikernel has nobody to log in and do that,
 * so here each of these starts a recovery:
 *
 *   - a queue the ring marked broken (a used index that jumped past what was posted, a notify
 *     that failed: drivers/virtio/virtio_ring.c);
 *   - a used id that was not in flight: the ring skipped it, but the buffer the device really
 *     used is now lost to both sides until a reset;
 *   - no transmit completion for TX_TIMEOUT_S while frames are in flight (the watchdog at
 *     the end of this file, Linux's dev_watchdog / ndo_tx_timeout);
 *   - the device set DEVICE_NEEDS_RESET (virtio 1.x 2.1.2).
 *
 * A recovery is what `netreset` does -- detach (no transmit; the backlog is dropped and
 * counted), carrier off, then virtio_reprobe: virtnet_remove resets the device and takes back
 * every buffer, virtnet_probe builds new rings, refills them and attaches -- run from a timer,
 * never from inside a poll that is still using the rings:
 *
 *            trigger                   probe succeeded
 *      OK ----------> RECOVERING -------------------------> OK
 *                      |    ^  probe failed: try again after a wait twice as long
 *                      |    +--(10 ms, 20 ms, ... 2 s)
 *                      | RECOVERY_MAX_PER_MIN attempts in the last minute already,
 *                      v or the reset never completed (the device is dead)
 *                    FAILED: the driver lets go of the device; the shell, timers and any
 *                            other device go on; `netreset` tries once more
 *
 * The wait also doubles from one recovery to the next while the device keeps breaking within
 * a minute of coming back, and starts again at 10 ms once it has behaved for a minute.
 */
#include "drivers/net/virtio_net_priv.h"
#include "kernel/errno.h"
#include "kernel/printk.h"
#include "kernel/string.h"

#define TX_TIMEOUT_S 5 /* no transmit completion for this long: reset the device */
#define RECOVERY_BACKOFF_MIN_MS 10
#define RECOVERY_BACKOFF_MAX_MS 2000
#define RECOVERY_CALM_NS (60 * NSEC_PER_SEC) /* up this long: the next trouble starts afresh */
#define RECOVERY_WINDOW_NS (60 * NSEC_PER_SEC) /* RECOVERY_MAX_PER_MIN attempts per window */
#define STRINGIFY(x) #x
#define XSTRINGIFY(x) STRINGIFY(x)

static const char *const health_names[] = {
	[VIRTNET_OK] = "ok", [VIRTNET_RECOVERING] = "recovering", [VIRTNET_FAILED] = "failed",
};

const char *virtnet_health_name(enum virtnet_health h) { return health_names[h]; }

static void arm_attempt(struct virtnet_recovery *r)
{
	timer_arm(&r->timer, (u64)r->backoff_ms * NSEC_PER_MSEC);
	r->backoff_ms = MIN(r->backoff_ms * 2, (unsigned)RECOVERY_BACKOFF_MAX_MS);
}

static void give_up(struct virtnet_info *vi, const char *why)
{
	struct virtnet_recovery *r = &vi->recovery;

	r->state = VIRTNET_FAILED;
	printk("%s: device FAILED: %s (last trouble: %s); it stays down -- 'netreset' tries again\n",
	       vi->dev.name, why, r->reason);
	/* Let go of it: reset, every buffer back in the pool (a dead device keeps what it holds). */
	virtio_release_driver(vi->vdev);
}

/* RECOVERY_MAX_PER_MIN attempts already within the last minute? attempt_ns is a ring of the
 * latest attempts: the slot about to be reused holds the oldest. */
static bool cap_reached(const struct virtnet_recovery *r, u64 now)
{
	return r->recent == RECOVERY_MAX_PER_MIN && now - r->attempt_ns[r->slot] < RECOVERY_WINDOW_NS;
}

#define CAP_REACHED XSTRINGIFY(RECOVERY_MAX_PER_MIN) " resets within a minute did not make it behave"

void virtnet_schedule_recovery(struct virtnet_info *vi, const char *reason)
{
	struct virtnet_recovery *r = &vi->recovery;
	u64 now = now_ns();

	if (r->state != VIRTNET_OK || !vi->registered)
		return; /* one recovery at a time; a failed device waits for netreset */
	r->state = VIRTNET_RECOVERING;
	r->reason = reason;
	r->down_since_ns = now;
	if (!r->recoveries || now - r->up_since_ns >= RECOVERY_CALM_NS)
		r->backoff_ms = RECOVERY_BACKOFF_MIN_MS;
	/* From here no frame reaches start_xmit, and the stack knows the link is gone (it
	 * forgets its neighbours, and announces itself again when the link returns). */
	netif_device_detach(&vi->dev);
	netif_carrier_off(&vi->dev);
	if (cap_reached(r, now)) { /* no reset to announce: give up, from the timer too */
		timer_arm(&r->timer, 0);
		return;
	}
	printk("%s: %s; resetting the device in %u ms\n", vi->dev.name, reason, r->backoff_ms);
	arm_attempt(r);
}

/* The used ids a queue could not match are counted by the ring (bad_used_id); every probe
 * makes new queues, so any count at all happened since the last (re)start. */
static const char *queue_trouble(const struct virtqueue *vq, const char *broken, const char *bad_id)
{
	if (!vq)
		return NULL;
	if (virtqueue_is_broken(vq))
		return broken;
	if (vq->stats.bad_used_id)
		return bad_id;
	return NULL;
}

void virtnet_check_queues(struct virtnet_info *vi)
{
	const char *why = queue_trouble(vi->rvq, "rx queue broken", "rx queue: used id not in flight");

	if (!why)
		why = queue_trouble(vi->svq, "tx queue broken", "tx queue: used id not in flight");
	if (why)
		virtnet_schedule_recovery(vi, why);
}

static void recovery_attempt(struct timer *t)
{
	struct virtnet_info *vi = container_of(t, struct virtnet_info, recovery.timer);
	struct virtnet_recovery *r = &vi->recovery;
	u64 now = now_ns();
	int err;

	if (r->state != VIRTNET_RECOVERING)
		return;
	if (cap_reached(r, now)) {
		give_up(vi, CAP_REACHED);
		return;
	}
	r->attempt_ns[r->slot] = now;
	r->slot = (r->slot + 1) % RECOVERY_MAX_PER_MIN;
	r->recent = MIN(r->recent + 1, (unsigned)RECOVERY_MAX_PER_MIN);
	r->attempts++;
	err = virtio_reprobe(vi->vdev); /* on success virtnet_probe calls virtnet_recovery_done */
	if (!err)
		return;
	if (vi->vdev->dead) {
		give_up(vi, "its reset never completed");
		return;
	}
	printk("%s: recovery attempt %llu failed (%s); trying again in %u ms\n", vi->dev.name, r->attempts,
	       strerror(err), r->backoff_ms);
	arm_attempt(r);
}

void virtnet_recovery_done(struct virtnet_info *vi)
{
	struct virtnet_recovery *r = &vi->recovery;
	u64 now = now_ns();

	if (r->state == VIRTNET_OK)
		return;
	timer_cancel(&r->timer); /* `netreset` may have got there first */
	r->state = VIRTNET_OK;
	r->recoveries++;
	r->down_ns += now - r->down_since_ns;
	r->up_since_ns = now;
	printk("%s: device back after %llu ms down (recovery %llu)\n", vi->dev.name,
	       (now - r->down_since_ns) / NSEC_PER_MSEC, r->recoveries);
}

u64 virtnet_down_ms(const struct virtnet_info *vi)
{
	const struct virtnet_recovery *r = &vi->recovery;
	u64 down = r->down_ns;

	if (r->state != VIRTNET_OK)
		down += now_ns() - r->down_since_ns;
	return down / NSEC_PER_MSEC;
}

/*
 * A device that stops completing transmitted frames must not go unnoticed (Linux's
 * dev_watchdog / ndo_tx_timeout). Once a second the watchdog reclaims what it can and looks
 * at the rings; after TX_TIMEOUT_S seconds without progress it counts a timeout and starts a
 * recovery, whose reset takes every frame back.
 */
static void virtnet_watchdog(struct timer *t)
{
	struct virtnet_info *vi = container_of(t, struct virtnet_info, watchdog);

	if (!netif_device_present(&vi->dev)) { /* no rings to watch (a dead device keeps its frames) */
		vi->watchdog_idle_s = 0;
		timer_arm(t, NSEC_PER_SEC);
		return;
	}
	free_old_xmit(vi);
	virtnet_check_queues(vi);
	if (!vi->tx_inflight || vi->stats.tx_completed != vi->watchdog_completed) {
		vi->watchdog_idle_s = 0;
	} else if (++vi->watchdog_idle_s == TX_TIMEOUT_S) {
		vi->stats.tx_timeouts++;
		printk("%s: transmit timeout: the device has completed none of %u frames for %d s\n",
		       vi->dev.name, vi->tx_inflight, TX_TIMEOUT_S);
		virtnet_schedule_recovery(vi, "transmit timeout");
	}
	vi->watchdog_completed = vi->stats.tx_completed;
	timer_arm(t, NSEC_PER_SEC);
}

void virtnet_recovery_init(struct virtnet_info *vi)
{
	timer_setup(&vi->watchdog, virtnet_watchdog);
	timer_setup(&vi->recovery.timer, recovery_attempt);
	vi->recovery.reason = "none";
}
