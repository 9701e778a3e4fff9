/* tests/unit/netdev_harness.h - see netdev_harness.c. */
#ifndef TESTS_UNIT_NETDEV_HARNESS_H
#define TESTS_UNIT_NETDEV_HARNESS_H

/* Forget every registered device and scheduled poll (the devices' memory is the caller's). */
void netdev_harness_reset(void);

#endif
