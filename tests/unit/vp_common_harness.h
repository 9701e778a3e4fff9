/* tests/unit/vp_common_harness.h - see vp_common_harness.c. */
#ifndef TESTS_UNIT_VP_COMMON_HARNESS_H
#define TESTS_UNIT_VP_COMMON_HARNESS_H

#include "drivers/virtio/virtio_pci_common.h"

#define VP_SIM_QUEUES 4
#define VP_SIM_MAX_ENABLES 16

struct vp_sim_queue {
	u16 size;
	u16 vector;  /* queue_msix_vector as the device holds it */
	u16 enabled; /* queue_enable */
};

/* One write to queue_enable, with what the device had been told by then. */
struct vp_sim_enable {
	u16 queue, value;
	u16 queue_vector, config_vector;
	bool msix_enabled;
};

/* A modern virtio-pci device's common configuration (4.1.4.3) and the platform around it. */
struct vp_sim {
	volatile u8 common[0x38];  /* the region vp->common points at (accesses are simulated) */
	u8 isr[4];
	u8 notify[64];
	u16 num_queues;
	u16 nvectors;              /* the device maps vectors 0..nvectors-1, refuses the rest */
	u16 config_vector;
	u16 queue_select;
	u8 status;
	struct vp_sim_queue q[VP_SIM_QUEUES];
	struct vp_sim_enable enables[VP_SIM_MAX_ENABLES];
	unsigned nenables;
	bool msix;                 /* the function has MSI-X (and irqs can be had) */
	bool msix_enabled;
	bool intx;                 /* request_irq of an INTx line succeeds */
	unsigned msi_allocated, msi_freed;
	bool stuck_reset;          /* writing status 0 does not reset; each read of it takes 1 ms */
	bool irq_storm;            /* every queue_select write: each installed handler runs, as if
	                            * its interrupt arrived just then */
	unsigned storm_irqs;       /* handlers the storm ran */
};
extern struct vp_sim vp_sim;

/* Run the INTx handler (vp_interrupt) once, as the interrupt line would. */
void vp_harness_intx(struct virtio_pci_device *vp);
/* Probe vp's modern transport (virtio_pci_modern_probe) on pci, whose capabilities lead to
 * vp_sim's registers. 0 or the probe's error. */
int vp_harness_modern(struct virtio_pci_device *vp, struct pci_dev *pci);

#endif
