/*
 * drivers/virtio/vring_trace.h - watch the rings move: per-step trace records of the data
 * path (the `trace` shell command, `trace=1` on the kernel command line) and the `vq NAME`
 * picture of one queue. docs/data-path.md shows how to read both.
 *
 * A trace point is one line in virtio_ring.c or virtio_net.c:
 *
 *     VQ_TRACE(vq, "virtqueue_add_sgs/descs", head, needed);
 *
 * step names the function (Linux's name where ours has it); an optional "/label" names the
 * value printed after the descriptor id. With tracing off a trace point costs one load and
 * one predictable branch; with it on, the record (TSC, queue, id, value, and the queue's
 * avail/used indices and free count at that instant) goes into a buffer that the event loop
 * prints later, so interrupt handlers never wait for the serial port.
 *
 * Host builds (unit tests, fuzzing) compile trace points to nothing.
 */
#ifndef DRIVERS_VIRTIO_VRING_TRACE_H
#define DRIVERS_VIRTIO_VRING_TRACE_H

#include "drivers/virtio/virtio_ring.h"

#define VQ_NOID 0xffffffffu /* the step concerns no particular descriptor */

#ifdef HOST_TEST
/* Host tests: the trace points call a test's hook when it set one (tests/unit/kernel_harness.c). */
extern void (*host_vq_trace)(const struct virtqueue *vq, const char *step, u32 id, u32 val);
#define VQ_TRACE(vq, step, id, val)                                              \
	do {                                                                     \
		if (host_vq_trace)                                               \
			host_vq_trace((vq), (step), (id), (val));                \
	} while (0)
#else
extern bool vring_trace_on; /* read by every trace point; written only by trace_set() */
void vring_trace_event(const struct virtqueue *vq, const char *step, u32 id, u32 val);
#define VQ_TRACE(vq, step, id, val)                                              \
	do {                                                                     \
		if (unlikely(vring_trace_on))                                    \
			vring_trace_event((vq), (step), (id), (val));            \
	} while (0)
#endif

/* Turn tracing on (stopping by itself after max_events records, 0 = no limit) or off. */
void trace_set(bool on, u64 max_events);

#endif
