# tests/unit/netdev_pool.mk - the packet-buffer pool's sizing policy (register_netdev in
# net/netdev.c) with fake NICs, on a pool this binary creates only through registration.
UNIT_TESTS += netdev_pool
netdev_pool_SRCS = tests/unit/test_netdev_pool.c $(NET_HOST_SRCS)
