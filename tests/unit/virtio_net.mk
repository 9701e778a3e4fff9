# tests/unit/virtio_net.mk - the virtio-net driver and virtio core against a hostile simulated
# device (tests/unit/virtnet_harness.c, which includes drivers/net/virtio_net.c and
# drivers/virtio/virtio.c), with the real ring, the INTx handler and the whole stack.
VIRTNET_HOST_SRCS = tests/unit/sim_device.c tests/unit/netdev_host.c tests/unit/vp_common_host.c \
                    drivers/virtio/virtio_ring.c \
                    $(filter-out net/netdev.c,$(NET_HOST_SRCS))
# sources the test includes rather than links
VIRTNET_INCLUDED := tests/unit/virtnet_harness.c drivers/net/virtio_net.c drivers/virtio/virtio.c \
                    drivers/virtio/virtio_pci_common.c net/netdev.c
UNIT_TESTS += virtio_net
virtio_net_SRCS = tests/unit/test_virtio_net.c $(VIRTNET_HOST_SRCS)
$(BUILD)/unit/virtio_net: $(VIRTNET_INCLUDED)
