# tests/unit/virtio_ring.mk - the split virtqueue against a simulated device.
UNIT_TESTS += virtio_ring
virtio_ring_SRCS := tests/unit/test_virtio_ring.c tests/unit/sim_device.c \
                    drivers/virtio/virtio_ring.c kernel/format.c tests/unit/host_stubs.c
