/* tests/unit/netdev_host.h - see netdev_host.c. */
#ifndef TESTS_UNIT_NETDEV_HOST_H
#define TESTS_UNIT_NETDEV_HOST_H

/* Forget every registered device and scheduled poll (the devices' memory is the caller's). */
void netdev_host_reset(void);

#endif
