# tests/unit/net.mk - the network stack (net/) on the host: one binary per protocol, all on
# the fake device, clock and frame builders of tests/unit/test_net_harness.c, and the
# kernel's own timer list (kernel/timer.c) on its simulated clock.
NET_HOST_SRCS := net/inet.c net/config.c net/ethernet.c net/arp.c net/ipv4.c net/icmp.c net/udp.c \
                 net/dhcp.c net/netdev.c net/netbuf.c net/net_stats.c kernel/crc32.c kernel/format.c \
                 tests/unit/host_stubs.c tests/unit/test_net_harness.c kernel/timer.c
NET_UNIT := net_inet net_eth net_arp net_ipv4 net_icmp net_udp net_dhcp
UNIT_TESTS += $(NET_UNIT)
$(foreach t,$(NET_UNIT),$(eval $(t)_SRCS := tests/unit/test_$(t).c $(NET_HOST_SRCS)))
