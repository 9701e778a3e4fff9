/* tests/unit/vp_common_harness.h - see vp_common_harness.c. */
#ifndef TESTS_UNIT_VP_COMMON_HARNESS_H
#define TESTS_UNIT_VP_COMMON_HARNESS_H

#include "drivers/virtio/virtio_pci_common.h"

#define VP_SIM_QUEUES 4
#define VP_SIM_MAX_ENABLES 16
#define VP_SIM_MAX_CAPS 8

/* virtio_pci_cap.cfg_type values (4.1.4), as the device writes them */
#define VP_SIM_CAP_COMMON 1
#define VP_SIM_CAP_NOTIFY 2
#define VP_SIM_CAP_ISR 3
#define VP_SIM_CAP_DEVICE 4
#define VP_SIM_COMMON_LEN 0x38 /* struct virtio_pci_common_cfg (4.1.4.3) */

/* Where the simulated device's registers sit in its memory BAR (BAR 4) */
#define VP_SIM_BAR 4
#define VP_SIM_BAR_SIZE 0x4000
#define VP_SIM_COMMON 0x0000   /* the common configuration (4.1.4.3): accesses are simulated */
#define VP_SIM_ISR 0x1000
#define VP_SIM_NOTIFY 0x2000
#define VP_SIM_DEVICE 0x2800   /* device-specific configuration, when a capability offers it */
#define VP_SIM_MSIX_TABLE 0x3000
#define VP_SIM_MSIX_PBA 0x3800
/* The legacy interface's I/O BAR (BAR 0, 4.1.4.8), when vp_sim.legacy */
#define VP_SIM_LEGACY_PORT 0xc000
#define VP_SIM_LEGACY_SIZE 0x40
#define VP_SIM_DEVCFG_LEN 12   /* device-specific configuration bytes (virtio-net: MAC, status, ...) */

struct vp_sim_queue {
	u16 size;
	u16 vector;  /* queue_msix_vector as the device holds it */
	u16 enabled; /* queue_enable; legacy: a page frame number was written */
	u32 pfn;     /* legacy: queue address >> 12 */
	u64 desc, avail, used; /* modern: queue_desc, queue_driver, queue_device as written */
};

/* One write to queue_enable (legacy: a non-zero queue PFN), with what the device had been
 * told by then. */
struct vp_sim_enable {
	u16 queue, value;
	u16 queue_vector, config_vector;
	bool msix_enabled;
};

/* A virtio vendor capability (struct virtio_pci_cap, 4.1.4) as the device offers it. */
struct vp_sim_cap {
	u8 type;     /* cfg_type */
	u8 bar;
	u8 cap_len;  /* 0: the structure's own size, 16 (20 for a notify capability) */
	u32 offset, length;
	u32 mult;    /* notify_off_multiplier */
};

/* The device's vectors at one moment */
struct vp_sim_vectors {
	u16 config;
	u16 queue[VP_SIM_QUEUES];
};

/* A virtio-pci device: its PCI configuration space (built from the fields below when a test
 * starts it), the common configuration (4.1.4.3) or the legacy registers (4.1.4.8), and the
 * platform around it. */
struct vp_sim {
	u8 bar4[VP_SIM_BAR_SIZE] __attribute__((aligned(4096))); /* the memory BAR's contents */
	u16 num_queues;
	u16 nvectors;              /* the device maps vectors 0..nvectors-1, refuses the rest */
	u16 config_vector;
	u16 queue_select;
	u8 status;
	u64 features;              /* offered: device_feature (modern, both halves), host
	                            * features (legacy, the low 32 bits) */
	u64 driver_features;       /* driver_feature / guest features as written */
	u32 dfselect, gfselect;    /* device_feature_select, driver_feature_select */
	struct vp_sim_queue q[VP_SIM_QUEUES];
	struct vp_sim_enable enables[VP_SIM_MAX_ENABLES];
	unsigned nenables;
	/* the vendor capabilities in list order; none given: common, notify (multiplier 2) and
	 * ISR in BAR 4 */
	struct vp_sim_cap caps[VP_SIM_MAX_CAPS];
	unsigned ncaps;
	bool legacy;               /* BAR 0 is the legacy I/O block (a transitional device) */
	bool no_modern;            /* no vendor capability at all (QEMU's disable-modern=on) */
	u8 devcfg[VP_SIM_DEVCFG_LEN];
	unsigned devcfg_writes;    /* legacy: bytes the driver wrote into the device configuration */
	bool msix;                 /* the function has MSI-X (and irqs can be had) */
	bool msix_on_entry;        /* ... and firmware left it enabled */
	bool msi;                  /* the function has an MSI capability */
	bool msi_on_entry;         /* ... and firmware left it enabled */
	unsigned msix_disables;    /* times the MSI-X enable bit went from 1 to 0 */
	struct vp_sim_vectors at_msix_disable; /* the device's vectors at the last of those */
	bool intx;                 /* request_irq of an INTx line succeeds */
	unsigned msi_allocated, msi_freed;
	bool stuck_reset;          /* writing status 0 does not reset; each read of it takes 1 ms */
	bool irq_storm;            /* every queue_select write: each installed handler runs, as if
	                            * its interrupt arrived just then */
	unsigned storm_irqs;       /* handlers the storm ran */
	unsigned devcfg_reads[5];  /* modern: reads in the device-specific configuration, by
	                            * access width in bytes (1, 2, 4: 4.1.3.1 wants a field's own) */
};
extern struct vp_sim vp_sim;

/* Run the INTx handler (vp_interrupt) once, as the interrupt line would. */
void vp_harness_intx(struct virtio_pci_device *vp);
/* Probe vp's modern transport (virtio_pci_modern_probe) on pci, whose capabilities lead to
 * vp_sim's registers. 0 or the probe's error. */
int vp_harness_modern(struct virtio_pci_device *vp, struct pci_dev *pci);
/* The real virtio_pci_probe on pci (ids, irq pin and line, MSI-X table size as the test set
 * them; BARs and configuration space from vp_sim): PCI setup, the transport's probe, and
 * registration as a virtio device (no driver binds unless one is registered). 0 or the
 * probe's error; on success the device is pci->driver_data. */
int vp_harness_probe(struct pci_dev *pci);
/* The MSI-X and MSI enable bits as they are now in the function's configuration space */
bool vp_sim_msix_enabled(void);
bool vp_sim_msi_enabled(void);

#endif
