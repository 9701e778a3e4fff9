/*
 * tests/unit/netdev_harness.c - net/netdev.c for host tests that register a new device in each
 * test (the virtio-net driver tests): the file is included, not linked, so that
 * netdev_harness_reset() can empty its device table and poll list between tests.
 */
#include "net/netdev.c" /* #included, not linked: devices, poll list are static */
#include "tests/unit/netdev_harness.h"

void netdev_harness_reset(void)
{
	memset(devices, 0, sizeof(devices));
	ndevices = 0;
	poll_head = poll_tail = NULL;
	stall_until_ns = 0;
	netdev_framelog = false;
}
