/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libvmaquery's core: nothing here is part of the ABI. */
#ifndef VMAQUERY_INTERNAL_H
#define VMAQUERY_INTERNAL_H

#include "backend.h"

/* Return -err and set errno: the one way every entry point fails. */
static inline int vmaq_err(int err)
{
	if (err < 0)
		err = -err;
	errno = err;
	return -err;
}

static inline void *vmaq_err_ptr(int err)
{
	vmaq_err(err);
	return NULL;
}

/* Options structs: sz first; a larger caller struct must be zero past ours. */
int vmaq_opts_check(const void *opts, size_t our_size, size_t min_size);
#define VMAQ_OPTS_VALID(o, type) \
	vmaq_opts_check((o), sizeof(struct type), \
			offsetof(struct type, sz) + sizeof(size_t))
#define VMAQ_OPTS_GET(o, type, field, def) \
	((o) && (o)->sz >= offsetof(struct type, field) + sizeof((o)->field) ? \
	 (o)->field : (def))

/* -EINVAL for bits outside @allowed, or VMAQ_FILE with VMAQ_ANON. */
int vmaq_check_flags(unsigned int flags, unsigned int allowed);

/* The operations of a handle, each with the backend that does it. */
enum vmaq_op {
	VMAQ_OP_WALK,		/* iterators, snapshots, caches */
	VMAQ_OP_FIND,		/* vmaq_find() */
	VMAQ_OP_LOOKUP,		/* vmaq_lookup() */
	/*
	 * A whole-map read into a table (snapshots, caches) that the kernel
	 * can do nothing for: no permission or file filter to apply, no
	 * build ID to read. vmaq_walk_init() makes any other one a WALK.
	 */
	VMAQ_OP_SCAN,
	VMAQ_OP_COUNT
};

#define VMAQ_NR_BACKENDS (VMAQ_BACKEND_TEXT + 1)

/*
 * A handle. Everything but refs and cur is set before anyone else sees
 * it and never changes. Its iterators and snapshots each hold a
 * reference, so the handle lives until vmaq_close() and the last of them
 * is freed; they may run in other threads than the handle's user, and
 * what they share through it (the maps file's read position, the
 * backends' states) is guarded inside maps.c and the backends.
 */
struct vmaq_proc {
	struct vmaq_maps maps;
	enum vmaq_backend backend;	/* the one asked for, or the best */
	const struct vmaq_backend_ops *op[VMAQ_OP_COUNT];
	void *be[VMAQ_NR_BACKENDS];	/* each used backend's state */
	unsigned int refs;	/* the caller's, one per iterator and snapshot */
	struct vmaq_rec cur;	/* what vmaq_find() returns: the handle's own */
	/*
	 * Where SCAN has a backend of its own (the text, beside
	 * PROCMAP_QUERY for WALK), per class of whole-map read ([0]: without
	 * names, [1]: with VMAQ_NAME): what a VMA costs each way ([0]:
	 * op[SCAN], [1]: op[WALK]; ns of the reading thread's CPU time, 0
	 * until measured), how many reads each way measured, and how many
	 * reads of the class chose a way. Atomic: the snapshots of one
	 * handle may be read in several threads.
	 */
	uint32_t scan_cost[2][2];
	uint32_t scan_count[2][2];
	uint32_t scan_decisions[2];
	/* the last unfiltered table read's records and arena bytes, atomic */
	size_t last_scan_n, last_scan_alen;
};

int vmaq_walk_init(struct vmaq_walk *w, struct vmaq_proc *proc,
		   enum vmaq_op op, unsigned int flags);
void vmaq_walk_fini(struct vmaq_walk *w);
/* The next matching VMA ending above @addr, finished by the backend. */
static inline int vmaq_walk_next(struct vmaq_walk *w, uint64_t addr,
				 struct vmaq_rec *rec)
{
	return w->ops->next(w, addr, rec);
}
/*
 * A table read of @flags: the backend it goes by, chosen once for it
 * (and counted), then the walk through that backend.
 */
const struct vmaq_backend_ops *vmaq_scan_ops(struct vmaq_proc *proc,
					     unsigned int flags);
int vmaq_walk_init_ops(struct vmaq_walk *w, struct vmaq_proc *proc,
		       const struct vmaq_backend_ops *ops, enum vmaq_op op,
		       unsigned int flags);
/*
 * A complete table read of every VMA (@flags: VMAQ_NAME or nothing) by
 * @ops found @vmas of them in @ns of CPU time: what the next go by.
 */
void vmaq_scan_seen(struct vmaq_proc *proc, const struct vmaq_backend_ops *ops,
		    unsigned int flags, size_t vmas, uint64_t ns);
/* Every this many reads of a class, one goes the way measured slower. */
#define VMAQ_SCAN_PROBE 16

/* References held by iterators and snapshots (and vmaq_close()'s). */
void vmaq_proc_get(struct vmaq_proc *proc);
void vmaq_proc_put(struct vmaq_proc *proc);

/* 0 while the handle's address space exists, -ESRCH once it is gone. */
int vmaq_proc_check(struct vmaq_proc *proc);
/* The generation, through the walk backend: -EOPNOTSUPP without one. */
int vmaq_proc_generation(struct vmaq_proc *proc, uint64_t *gen);

/* Tests only: the backend a walk of @op with @flags would use now. */
enum vmaq_backend vmaq_proc_walk_backend(struct vmaq_proc *proc,
					 enum vmaq_op op, unsigned int flags);
/*
 * Tests only: a class's costs and counts ([0]: op[SCAN], [1]: op[WALK]),
 * and costs to go by instead.
 */
void vmaq_proc_scan_stats(struct vmaq_proc *proc, bool names, uint32_t cost[2],
			  uint32_t count[2]);
void vmaq_proc_set_scan_costs(struct vmaq_proc *proc, bool names,
			      uint32_t scan, uint32_t walk);
/* Tests only: make a cache identify processes by start time. */
void vmaq_cache_disable_pidfd(struct vmaq_cache *c);

#endif /* VMAQUERY_INTERNAL_H */
