/*
 * drivers/virtio/virtio.c - the virtio core: binding devices to drivers and the device
 * initialisation sequence of virtio 1.x section 3.1.1, checked as it runs.
 *
 * The sequence: reset; ACKNOWLEDGE; DRIVER; read the offered features and write the subset
 * we use; FEATURES_OK and read it back (virtio 1.x only); driver setup (queues, interrupts);
 * DRIVER_OK. Each step is logged with a timestamp, and the rules a student is most likely to
 * break are checked as they happen (status bits are only ever added, negotiated features are
 * a subset of the offered ones, FEATURES_OK must stick, a modern device must get VERSION_1),
 * because QEMU tolerates many of those mistakes silently.
 *
 * The `virtio` shell command, which shows all of it, is in drivers/virtio/virtio_cmds.c.
 */
#include "drivers/virtio/virtio.h"
#include "kernel/cmdline.h"
#include "kernel/errno.h"
#include "kernel/irq.h"
#include "kernel/loop.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "kernel/time.h"
#include "kernel/timeline.h"

#define MAX_VIRTIO_DEVICES 8
#define MAX_VIRTIO_DRIVERS 4

static struct virtio_device *devices[MAX_VIRTIO_DEVICES];
static int ndevices;
static const struct virtio_driver *drivers[MAX_VIRTIO_DRIVERS];
static int ndrivers;
static struct work config_work;
static bool config_pending[MAX_VIRTIO_DEVICES]; /* set in interrupt context */

static const char *const status_names[8] = {
	"ACKNOWLEDGE", "DRIVER", "DRIVER_OK", "FEATURES_OK", "bit4", "bit5", "DEVICE_NEEDS_RESET", "FAILED",
};

const char *virtio_status_name(u8 bit)
{
	for (int i = 0; i < 8; i++)
		if (bit == (1u << i))
			return status_names[i];
	return "?";
}

static void rule_broken(struct virtio_device *vdev, const char *section, const char *what)
{
	vdev->stats.rule_violations++;
	printk("%s: SPEC RULE BROKEN (virtio 1.x %s): %s\n", vdev->name, section, what);
}

/* Bits each status bit needs already set (3.1.1 gives the order). */
static u8 status_prerequisites(const struct virtio_device *vdev, u8 bit)
{
	switch (bit) {
	case VIRTIO_CONFIG_S_DRIVER:
		return VIRTIO_CONFIG_S_ACKNOWLEDGE;
	case VIRTIO_CONFIG_S_FEATURES_OK:
		return VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
	case VIRTIO_CONFIG_S_DRIVER_OK:
		return VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		       (vdev->modern ? VIRTIO_CONFIG_S_FEATURES_OK : 0);
	default:
		return 0;
	}
}

void virtio_add_status(struct virtio_device *vdev, u8 bit)
{
	/* LAB:SOLUTION stage1 virtio_add_status_read */
	u8 cur = vdev->config->get_status(vdev);
	/* LAB:END */
	u8 need = status_prerequisites(vdev, bit);
	u64 t = now_ns();

	if ((cur & vdev->status) != vdev->status)
		rule_broken(vdev, "2.1.2/3.1.1",
			    "a status bit we set has vanished: status may only be added to (read, OR, write), or the device reset itself");
	if ((cur & need) != need && bit != VIRTIO_CONFIG_S_FAILED)
		rule_broken(vdev, "3.1.1", "status bit set out of order (ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK)");
	/* LAB:SOLUTION stage1 virtio_add_status_write */
	vdev->config->set_status(vdev, cur | bit);
	/* LAB:END */
	vdev->status = cur | bit;
	printk("%s: [%4llu.%03llu ms] status += %-11s -> 0x%02x\n", vdev->name, t / NSEC_PER_MSEC,
	       t / NSEC_PER_USEC % 1000, virtio_status_name(bit), vdev->status);
}

static const char *const transport_feature_names[64] = {
	[VIRTIO_F_NOTIFY_ON_EMPTY] = "NOTIFY_ON_EMPTY",
	[VIRTIO_F_ANY_LAYOUT] = "ANY_LAYOUT",
	[VIRTIO_RING_F_INDIRECT_DESC] = "RING_INDIRECT_DESC",
	[VIRTIO_RING_F_EVENT_IDX] = "RING_EVENT_IDX",
	[30] = "BAD_FEATURE(30)",
	[VIRTIO_F_VERSION_1] = "VERSION_1",
	[VIRTIO_F_ACCESS_PLATFORM] = "ACCESS_PLATFORM",
	[VIRTIO_F_RING_PACKED] = "RING_PACKED",
	[VIRTIO_F_IN_ORDER] = "IN_ORDER",
	[VIRTIO_F_ORDER_PLATFORM] = "ORDER_PLATFORM",
	[VIRTIO_F_SR_IOV] = "SR_IOV",
	[VIRTIO_F_NOTIFICATION_DATA] = "NOTIFICATION_DATA",
	[40] = "RING_RESET",
};

const char *virtio_feature_name(const struct virtio_device *vdev, unsigned bit)
{
	const char *n = NULL;

	if (bit >= 64)
		return "?";
	if (transport_feature_names[bit])
		return transport_feature_names[bit];
	if (vdev->driver && vdev->driver->feature_name)
		n = vdev->driver->feature_name(bit);
	return n ? n : "unknown";
}

void virtio_print_features(const struct virtio_device *vdev, u64 features)
{
	for (unsigned bit = 0; bit < 64; bit++)
		if (features & BIT_ULL(bit))
			printk(" %s(%u)", virtio_feature_name(vdev, bit), bit);
	printk("\n");
}

/* virtio_ring=split|packed on the command line: which ring layout to ask for. Unset: the
 * packed ring (virtio 1.2 2.8) whenever the device offers VIRTIO_F_RING_PACKED. */
enum ring_choice { RING_ANY, RING_SPLIT, RING_PACKED };

static enum ring_choice ring_choice(void)
{
	const char *v = cmdline_get("virtio_ring");

	if (!v)
		return RING_ANY;
	if (strcmp(v, "split") == 0)
		return RING_SPLIT;
	if (strcmp(v, "packed") == 0)
		return RING_PACKED;
	return RING_ANY;
}

/* Say what the command line's ring choice came to, when it did not get its way. */
static void report_ring_choice(const struct virtio_device *vdev)
{
	const char *v = cmdline_get("virtio_ring");

	if (v && ring_choice() == RING_ANY)
		printk("%s: virtio_ring=%s not understood (split or packed); the packed ring when offered\n",
		       vdev->name, v);
	else if (ring_choice() == RING_PACKED && !vring_packed_ready())
		printk("%s: virtio_ring=packed, but this kernel's packed ring is switched off (vring_packed_ready); using the split ring\n",
		       vdev->name);
	else if (ring_choice() == RING_PACKED && !(vdev->offered & BIT_ULL(VIRTIO_F_RING_PACKED)))
		printk("%s: virtio_ring=packed, but the device does not offer RING_PACKED(34)%s; using the split ring\n",
		       vdev->name, vdev->modern ? " (QEMU: -device virtio-net-pci,packed=on)" :
		       " (a legacy transport never can)");
}

/* What the core itself can use, whatever the driver: the ring features it implements, and
 * VERSION_1, ACCESS_PLATFORM and RING_PACKED on a modern transport (bits above 31, which the
 * legacy feature register cannot carry). */
static u64 transport_features(const struct virtio_device *vdev)
{
	u64 f = BIT_ULL(VIRTIO_RING_F_INDIRECT_DESC) | BIT_ULL(VIRTIO_RING_F_EVENT_IDX);

	if (vdev->modern) {
		f |= BIT_ULL(VIRTIO_F_VERSION_1);
		if (ring_choice() != RING_SPLIT && vring_packed_ready())
			f |= BIT_ULL(VIRTIO_F_RING_PACKED);
		/*
		 * ACCESS_PLATFORM (bit 33, virtio 1.x 6 "Reserved Feature Bits"): the device reaches
		 * our memory through the platform's DMA translation (an IOMMU), so the addresses we
		 * give it are bus addresses. 6.1 says a driver SHOULD accept it when offered and must
		 * then either turn the IOMMU off or program it to translate; a device may refuse to
		 * work without it (QEMU's iommu_platform=on clears FEATURES_OK). We have no IOMMU:
		 * the platform passes our addresses through untranslated, so a bus address is the
		 * physical address (virt_to_phys, dma_alloc) and nothing changes. What a virtual
		 * IOMMU would add: docs/hardening.md, "DMA and an IOMMU".
		 */
		f |= BIT_ULL(VIRTIO_F_ACCESS_PLATFORM);
	}
	return f;
}

static int negotiate_features(struct virtio_device *vdev, const struct virtio_driver *drv)
{
	u64 wanted = transport_features(vdev);
	u8 st;

	for (unsigned i = 0; i < drv->feature_table_size; i++)
		if (drv->feature_table[i] < 64)
			wanted |= BIT_ULL(drv->feature_table[i]);

	/* LAB:SOLUTION stage1 negotiate_features_read */
	vdev->offered = vdev->config->get_features(vdev);
	vdev->features = vdev->offered & wanted;
	if (!vdev->modern)
		vdev->features &= 0xffffffffull; /* the legacy register holds 32 bits */
	/* LAB:END */
	report_ring_choice(vdev);
	/* The driver's last word on the subset, with the configuration in view (3.1.1 step 4). */
	if (drv->validate) {
		int err = drv->validate(vdev);

		if (err)
			return err;
	}
	printk("%s: offered   0x%016llx:", vdev->name, vdev->offered);
	virtio_print_features(vdev, vdev->offered);
	printk("%s: accepting 0x%016llx:", vdev->name, vdev->features);
	virtio_print_features(vdev, vdev->features);

	if (vdev->features & ~vdev->offered)
		rule_broken(vdev, "2.2", "the driver accepted a feature the device did not offer");
	if (vdev->modern && !virtio_has_feature(vdev, VIRTIO_F_VERSION_1)) {
		printk("%s: the modern interface requires VERSION_1, which the device did not offer (virtio 1.x 6.1)\n",
		       vdev->name);
		return -EIO;
	}
	/* LAB:SOLUTION stage1 negotiate_features_write */
	vdev->config->set_features(vdev, vdev->features);
	if (!vdev->modern)
		return 0; /* legacy devices have no FEATURES_OK step */

	virtio_add_status(vdev, VIRTIO_CONFIG_S_FEATURES_OK);
	st = vdev->config->get_status(vdev);
	if (!(st & VIRTIO_CONFIG_S_FEATURES_OK)) {
		vdev->status = st; /* the device's answer, not a bit we lost: the self-check follows it */
		printk("%s: the device refused our feature subset (FEATURES_OK did not stick, 3.1.1 step 6)\n",
		       vdev->name);
		return -EIO;
	}
	return 0;
	/* LAB:END */
}

static void fail_device(struct virtio_device *vdev, int err)
{
	virtio_add_status(vdev, VIRTIO_CONFIG_S_FAILED);
	printk("%s: initialisation failed (%s); device marked FAILED\n", vdev->name, strerror(err));
}

/*
 * virtio_selftest=clobber on the command line makes the core commit a typical student
 * mistake -- writing one status value instead of adding a bit -- to show that the self-check
 * catches it at the next step (tests/qemu/test_virtio.py).
 */
static void selftest_clobber_status(struct virtio_device *vdev)
{
	const char *t = cmdline_get("virtio_selftest");

	if (t && strcmp(t, "clobber") == 0) {
		printk("%s: selftest: writing status DRIVER alone, dropping ACKNOWLEDGE (a deliberate mistake)\n",
		       vdev->name);
		vdev->config->set_status(vdev, VIRTIO_CONFIG_S_DRIVER);
	}
}

static int virtio_dev_probe(struct virtio_device *vdev, const struct virtio_driver *drv)
{
	int err;

	vdev->driver = drv;
	virtio_add_status(vdev, VIRTIO_CONFIG_S_DRIVER);
	selftest_clobber_status(vdev);
	err = negotiate_features(vdev, drv);
	if (err)
		goto err_fail;
	err = drv->probe(vdev);
	if (err)
		goto err_fail;
	if (!vdev->ready)
		virtio_device_ready(vdev);
	return 0;

err_fail:
	fail_device(vdev, err);
	vdev->driver = NULL;
	return err;
}

int virtio_reset_device(struct virtio_device *vdev)
{
	int err = vdev->config->reset(vdev);

	/* The device's status is 0 now (2.1.2 / 4.1.4.3.2): so is what we remember of it, or the
	 * self-check would take every bit we set before the reset for one that vanished. */
	vdev->status = 0;
	vdev->ready = false;
	if (err && !vdev->dead) {
		/* Not reset (4.1.4.3.2 has the driver wait for status 0; the transport gave up): the
		 * device has not let go of its queues, so their rings and buffers stay allocated. */
		vdev->dead = true;
		printk("%s: the device did not finish its reset (%s): its rings and buffers stay allocated "
		       "and it is not used again\n", vdev->name, strerror(err));
	}
	return err;
}

/* Reset and acknowledge: steps 1 and 2 of 3.1.1. */
static int virtio_reset_and_ack(struct virtio_device *vdev)
{
	int err = virtio_reset_device(vdev);

	if (err) {
		printk("%s: the device did not reset (status stays non-zero): %s\n", vdev->name, strerror(err));
		return err;
	}
	virtio_add_status(vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	return 0;
}

/* The driver for vdev's type, whether bound or not (one driver per device type). */
static const struct virtio_driver *find_driver(const struct virtio_device *vdev)
{
	for (int i = 0; i < ndrivers; i++)
		if (drivers[i]->device_id == vdev->id)
			return drivers[i];
	return NULL;
}

static void try_bind(struct virtio_device *vdev)
{
	const struct virtio_driver *drv = find_driver(vdev);

	if (drv)
		virtio_dev_probe(vdev, drv);
}

int register_virtio_device(struct virtio_device *vdev)
{
	int err;

	if (ndevices == MAX_VIRTIO_DEVICES) {
		printk("virtio: too many devices (at most %d); ignoring one\n", MAX_VIRTIO_DEVICES);
		return -ENOSPC;
	}
	vdev->index = ndevices;
	snprintk(vdev->name, sizeof(vdev->name), "virtio%d", ndevices);
	devices[ndevices++] = vdev;
	printk("%s: device type %u on %s, %s interface\n", vdev->name, vdev->id,
	       vdev->config->bus_name(vdev), vdev->modern ? "modern (virtio 1.x)" : "legacy (virtio 0.9.5)");
	err = virtio_reset_and_ack(vdev);
	if (err)
		return err;
	try_bind(vdev);
	return 0;
}

int register_virtio_driver(const struct virtio_driver *drv)
{
	if (ndrivers == MAX_VIRTIO_DRIVERS)
		return -ENOSPC;
	drivers[ndrivers++] = drv;
	for (int i = 0; i < ndevices; i++)
		if (!devices[i]->driver && !(devices[i]->status & VIRTIO_CONFIG_S_FAILED))
			try_bind(devices[i]);
	return 0;
}

void virtio_device_ready(struct virtio_device *vdev)
{
	virtio_add_status(vdev, VIRTIO_CONFIG_S_DRIVER_OK);
	vdev->ready = true;
	timeline_mark("virtio DRIVER_OK");
}

void virtio_release_driver(struct virtio_device *vdev)
{
	if (!vdev->driver)
		return;
	vdev->driver->remove(vdev); /* resets the device and takes every buffer back */
	vdev->driver = NULL;
}

int virtio_reprobe(struct virtio_device *vdev)
{
	/* A device whose last probe failed is bound to no driver, and is probed again all the same:
	 * that is how `netreset` brings it back once whatever failed is fixed. */
	const struct virtio_driver *drv = vdev->driver ? vdev->driver : find_driver(vdev);
	int err;

	if (!drv)
		return -ENODEV;
	virtio_release_driver(vdev);
	if (vdev->dead) {
		printk("%s: is dead (a reset never completed); not probed again\n", vdev->name);
		return -EIO;
	}
	err = virtio_reset_and_ack(vdev);
	if (err)
		return err;
	return virtio_dev_probe(vdev, drv);
}

static void config_work_fn(struct work *w)
{
	for (int i = 0; i < ndevices; i++) {
		struct virtio_device *vdev = devices[i];
		unsigned long flags = local_irq_save();
		bool pending = config_pending[i];

		config_pending[i] = false;
		local_irq_restore(flags);
		if (!pending)
			continue;
		if (vdev->config->get_status(vdev) & VIRTIO_CONFIG_S_NEEDS_RESET) {
			vdev->stats.needs_reset++;
			printk("%s: device reports DEVICE_NEEDS_RESET (virtio 1.x 2.1.2)\n",
			       vdev->name);
		}
		if (vdev->driver && vdev->driver->config_changed)
			vdev->driver->config_changed(vdev);
	}
}

/* Called in interrupt context. */
void virtio_config_changed(struct virtio_device *vdev)
{
	vdev->stats.config_changes++;
	config_pending[vdev->index] = true;
	if (!config_work.fn)
		work_init(&config_work, config_work_fn);
	work_schedule(&config_work);
}

int virtio_check_queue_size(struct virtio_device *vdev, unsigned index, unsigned size, bool can_shrink)
{
	if (size == 0) {
		printk("%s: queue %u does not exist (size 0)\n", vdev->name, index);
		return -ENOENT;
	}
	if (!IS_POWER_OF_2(size)) {
		printk("%s: queue %u size %u is not a power of two (2.7); refusing the device\n", vdev->name, index, size);
		return -EIO;
	}
	if (size <= VIRTQUEUE_MAX_SIZE)
		return (int)size;
	if (!can_shrink) {
		printk("%s: queue %u size %u is larger than we support (%u) and cannot be changed; refusing the device\n",
		       vdev->name, index, size, VIRTQUEUE_MAX_SIZE);
		return -EIO;
	}
	return VIRTQUEUE_MAX_SIZE; /* modern lets the driver choose a smaller size (4.1.4.3.2) */
}

int virtio_config_read_stable(struct virtio_device *vdev, u32 (*generation)(struct virtio_device *vdev),
			      void (*read)(struct virtio_device *vdev, unsigned off, void *buf, unsigned len),
			      unsigned off, void *buf, unsigned len)
{
	for (int tries = 0; tries < VIRTIO_CONFIG_GENERATION_TRIES; tries++) {
		u32 gen = generation(vdev);

		read(vdev, off, buf, len);
		if (generation(vdev) == gen)
			return 0;
		vdev->stats.config_generation_retries++;
	}
	memset(buf, 0, len); /* never hand out a torn value */
	vdev->stats.config_read_failures++;
	printk("%s: device configuration never settled (config_generation changed on each of %d reads)\n",
	       vdev->name, VIRTIO_CONFIG_GENERATION_TRIES);
	return -EIO;
}

int virtio_cread_bytes(struct virtio_device *vdev, unsigned off, void *buf, unsigned len)
{
	return vdev->config->get(vdev, off, buf, len);
}

/* A failed read (unsettled generation) yields all-ones, which every caller treats as an
 * implausible value and rejects; the failure itself was already reported by the transport. */
u8 virtio_cread8(struct virtio_device *vdev, unsigned off)
{
	u8 v;
	return virtio_cread_bytes(vdev, off, &v, 1) ? 0xff : v;
}

u16 virtio_cread16(struct virtio_device *vdev, unsigned off)
{
	le16 v;
	return virtio_cread_bytes(vdev, off, &v, 2) ? 0xffff : v;
}

u32 virtio_cread32(struct virtio_device *vdev, unsigned off)
{
	le32 v;
	return virtio_cread_bytes(vdev, off, &v, 4) ? 0xffffffffu : v;
}

int virtio_device_count(void) { return ndevices; }
struct virtio_device *virtio_device_get(int i) { return i >= 0 && i < ndevices ? devices[i] : NULL; }
