/*
 * drivers/virtio/virtio_cmds.c - the `virtio` shell command: each virtio device's transport,
 * status, negotiated features and counters, then what its transport has to say about
 * interrupts and queues (virtio_config_ops.describe).
 */
#include "drivers/virtio/virtio.h"
#include "kernel/printk.h"
#include "kernel/shell.h"

static void describe_status(u8 st)
{
	printk("0x%02x", st);
	for (int i = 0; i < 8; i++)
		if (st & (1u << i))
			printk(" %s", virtio_status_name(1u << i));
	printk("\n");
}

static int cmd_virtio(int argc, char **argv)
{
	if (virtio_device_count() == 0)
		printk("no virtio devices\n");
	for (int i = 0; i < virtio_device_count(); i++) {
		struct virtio_device *vdev = virtio_device_get(i);

		printk("%s: type %u, %s, %s transport, driver %s\n", vdev->name, vdev->id,
		       vdev->config->bus_name(vdev), vdev->modern ? "modern" : "legacy",
		       vdev->driver ? vdev->driver->name : "(none)");
		printk("  status: ");
		describe_status(vdev->config->get_status(vdev));
		printk("  features:");
		virtio_print_features(vdev, vdev->features);
		printk("  config changes %llu, needs-reset %llu, generation retries %llu, config read failures %llu, rule violations %llu\n",
		       vdev->stats.config_changes, vdev->stats.needs_reset,
		       vdev->stats.config_generation_retries, vdev->stats.config_read_failures,
		       vdev->stats.rule_violations);
		vdev->config->describe(vdev);
	}
	return 0;
}
SHELL_COMMAND(virtio, cmd_virtio, "virtio", "virtio devices: transport, features, interrupts, queues");
