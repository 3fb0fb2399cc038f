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

/* Readers of whole maps that measure what each way costs them. */
enum vmaq_reader {
	VMAQ_READER_TABLE,	/* snapshots, caches: vmaq_table_read() */
	VMAQ_READER_ITER,	/* iterators of everything, past the switch */
	VMAQ_NR_READERS,
};

struct vmaq_scan_class {
	/*
	 * ns of the reading thread's CPU time a VMA, 0 until measured
	 * ([0]: op[SCAN], [1]: op[WALK]), and how many reads measured it
	 */
	uint32_t cost[2];
	uint32_t count[2];
	uint32_t decisions;	/* reads of the class that chose a way */
	/*
	 * Table reads of fewer than VMAQ_TABLE_MEASURE_MIN VMAs, summed
	 * until there are that many: small maps are measured too.
	 */
	uint64_t pend_ns[2];
	uint32_t pend_vmas[2];
};

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
	 * PROCMAP_QUERY for WALK), per kind of reader (tables, iterators:
	 * an iterator's figure includes its caller's time between steps, so
	 * the two are never mixed) and class of whole-map read ([0]: without
	 * names, [1]: with VMAQ_NAME): what a VMA costs each way, how many
	 * reads measured it, how many chose a way (struct vmaq_scan_class).
	 * Atomic: the snapshots and iterators of one handle may be used in
	 * several threads.
	 */
	struct vmaq_scan_class scan[VMAQ_NR_READERS][2];
	/* the last unfiltered table read's records and arena bytes, atomic */
	size_t last_scan_n, last_scan_alen;
	/*
	 * cur's name, while it fits, where the handle is: one block, not
	 * two, for a find (PATH_MAX bytes; none for a cache's handles,
	 * which never find).
	 */
	char cur_name[];
};

/* vmaq_open(), with room for finds' names in the handle or not. */
int vmaq_proc_open(pid_t pid, const struct vmaq_open_opts *opts, bool finds,
		   struct vmaq_proc **procp);

/*
 * Numeric field @field (>= 3, as proc(5) counts) of the stat file @path
 * under @dirfd ("PID/stat" of /proc, "stat" of /proc/PID, or a whole
 * path). -ESRCH once the process is gone.
 */
int vmaq_stat_field(int dirfd, const char *path, int field,
		    unsigned long long *val);

/*
 * Process @pid's handle, its maps file @path under @dirfd ("PID/maps"
 * of /proc, "maps" of /proc/PID, "task/TID/maps"), with @like's backends and
 * measures (NULL: its own): a scan's. No room for finds' names. With
 * @read_now the caller reads the map at once and takes ESRCH from that
 * read as the open's (a process gone, or a kernel thread): the handle
 * is not checked apart.
 * -errno, not set in errno.
 */
int vmaq_proc_open_at(int dirfd, const char *path, pid_t pid,
		      const struct vmaq_open_opts *opts,
		      const struct vmaq_proc *like, bool read_now,
		      struct vmaq_proc **procp);

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
 * A complete read of every VMA (@flags: VMAQ_NAME or nothing) by @ops,
 * of @vmas of them in @ns of CPU time, by a reader of @kind: what the
 * next ones go by. Table reads of fewer than VMAQ_TABLE_MEASURE_MIN
 * VMAs count together, as one measure once they add up to that many: a
 * few VMAs alone would measure the calls, not the VMAs.
 */
#define VMAQ_TABLE_MEASURE_MIN 256
void vmaq_scan_seen(struct vmaq_proc *proc, enum vmaq_reader kind,
		    const struct vmaq_backend_ops *ops, unsigned int flags,
		    size_t vmas, uint64_t ns);
/* The calling thread's CPU time in ns, user and system; 0 if unknown. */
uint64_t vmaq_cpu_ns(void);
/*
 * Records an iterator of everything hands out before it may go on by
 * op[SCAN] (see proc.c).
 */
#define VMAQ_ITER_SWITCH_AT 16
/* The fewest records past that point whose cost an iterator measures. */
#define VMAQ_ITER_MEASURE_MIN 16
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
 * An iterator of everything that its caller reads to the end (a scan's):
 * it goes by the way whole maps cost least from its first VMA, not after
 * VMAQ_ITER_SWITCH_AT of them. -errno, set in errno too.
 */
int vmaq_iter_to_end(struct vmaq_proc *proc, unsigned int flags,
		     struct vmaq_iter **iterp);
/*
 * The records from @it's next on that its buffer holds and that steps
 * would give one after the other, taken at once as that many steps: how
 * many (0: none, the next is vmaq_iter_next()'s), *@vp the first. They
 * stay valid until the iterator's next step or its end. For a caller
 * that hands records out one by one itself (the scan).
 */
size_t vmaq_iter_take(struct vmaq_iter *it, const struct vmaq_vma **vp);
/* Tests only: the backend an iterator's walk goes by now. */
enum vmaq_backend vmaq_iter_walk_backend(const struct vmaq_iter *it);
/*
 * Tests only: a class's costs and counts ([0]: op[SCAN], [1]: op[WALK]),
 * and costs to go by instead.
 */
void vmaq_proc_scan_stats(struct vmaq_proc *proc, enum vmaq_reader kind,
			  bool names, uint32_t cost[2], uint32_t count[2]);
void vmaq_proc_set_scan_costs(struct vmaq_proc *proc, enum vmaq_reader kind,
			      bool names, uint32_t scan, uint32_t walk);
/*
 * Is the snapshot as new as its address space? 1 if its generation is
 * the kernel's, 0 if that moved, -ESRCH once the address space is gone,
 * -EOPNOTSUPP without a generation. One system call.
 */
int vmaq_snapshot_gen_current(struct vmaq_snapshot *s);
/* Tests only: make a cache identify processes by start time. */
void vmaq_cache_disable_pidfd(struct vmaq_cache *c);

#endif /* VMAQUERY_INTERNAL_H */
