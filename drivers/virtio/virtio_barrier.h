/*
 * drivers/virtio/virtio_barrier.h - the memory barriers the virtio rings need.
 *
 * The device is another agent reading and writing our memory concurrently (a QEMU thread or
 * real hardware), so ring updates need ordering (virtio 1.x 2.7.13, 2.7.14). On x86 (TSO) the
 * CPU keeps stores in order with stores and loads in order with loads, so write and read
 * barriers only have to stop the compiler; a store followed by a load of another location
 * may still be reordered by the CPU, which virtio_mb must prevent (a locked instruction is a
 * full fence on x86 and cheaper than mfence).
 */
#ifndef DRIVERS_VIRTIO_VIRTIO_BARRIER_H
#define DRIVERS_VIRTIO_VIRTIO_BARRIER_H

/* Order earlier stores (descriptors, ring entries) before later stores (the index). */
#define virtio_wmb() __asm__ __volatile__("" ::: "memory")
/* Order earlier loads (the used index) before later loads (the entries it covers). */
#define virtio_rmb() __asm__ __volatile__("" ::: "memory")
/* Order earlier stores before later loads (publish index, then read the other side's event
 * index or flags). */
#define virtio_mb() __asm__ __volatile__("lock; addl $0, -4(%%rsp)" ::: "memory", "cc")

#endif
