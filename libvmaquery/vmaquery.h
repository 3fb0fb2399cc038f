/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libvmaquery: structured queries of a process's memory map (its VMAs).
 *
 * One handle (struct vmaq_proc) stands for one address space: the one a
 * process had when the handle was opened. Queries go through the best
 * interface the running kernel offers, chosen once per handle:
 *
 *   VMAQ_BACKEND_BATCH  batched query ioctl (kernels with the vmaquery series)
 *   VMAQ_BACKEND_QUERY  PROCMAP_QUERY ioctl (Linux 6.11 and later)
 *   VMAQ_BACKEND_TEXT   parsing /proc/PID/maps (any kernel; where
 *                       PROCMAP_QUERY exists it also asks it for page sizes)
 *
 * (An AUTO handle on a kernel with PROCMAP_QUERY but not the batch ioctl
 * reads snapshots with no filter but VMAQ_ANON and no build IDs, and
 * iterators with no filter and no build IDs after their 16th VMA, as
 * text or with PROCMAP_QUERY, whichever measured faster on its map:
 * vmaquery(7).) All of them give the same records. Conventions, for
 * every function:
 *   - functions returning int return 0 (or a count) on success and a
 *     negative errno on failure, and also set errno to the positive value;
 *   - functions returning a pointer return NULL on failure with errno set;
 *   - records (const struct vmaq_vma *) belong to the object that returned
 *     them and stay valid until that object is next used or freed;
 *   - a handle, iterator or snapshot may be used by one thread at a time;
 *     different objects may be used by different threads concurrently,
 *     including several iterators and snapshots of one handle and the
 *     handle itself (what they share is locked inside the library).
 *     The library's global state: one spare set of buffers for the batch
 *     ioctl (up to 832 KiB) and one spare iterator buffer (up to 352
 *     KiB), which threads take and give back atomically and which stay
 *     allocated until the library is unloaded; an atomic counter that
 *     numbers threads (for iterators' timing); whether it runs under
 *     valgrind, asked once;
 *   - iterators and snapshots keep their handle alive: vmaq_close() gives
 *     up the caller's use of it, and the handle (with its maps file) is
 *     freed when its last iterator or snapshot is freed too. Each object is
 *     still freed by its own function, once.
 *
 * See vmaquery(7) for an overview and one page per function in section 3.
 */
#ifndef VMAQUERY_H
#define VMAQUERY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VMAQ_VERSION_MAJOR 1
#define VMAQ_VERSION_MINOR 0
#define VMAQ_VERSION_PATCH 0
/* One number per release, comparable: VMAQ_VERSION_CODE(1, 0, 0). */
#define VMAQ_VERSION_CODE(major, minor, patch) \
	(((major) << 16) | ((minor) << 8) | (patch))

#define VMAQ_API __attribute__((visibility("default")))

/* Opaque objects. */
struct vmaq_proc;	/* one process's address space */
struct vmaq_iter;	/* a walk over its VMAs */
struct vmaq_lookup;	/* the answer to a batch of addresses */
struct vmaq_snapshot;	/* an in-memory copy of its map */
struct vmaq_cache;	/* snapshots of many processes */

enum vmaq_backend {
	VMAQ_BACKEND_AUTO = 0,	/* best available (option value only) */
	VMAQ_BACKEND_BATCH = 1,
	VMAQ_BACKEND_QUERY = 2,
	VMAQ_BACKEND_TEXT = 3,
};

/*
 * Flags. The first group describes a VMA (struct vmaq_vma.flags) and, as
 * a filter, selects VMAs that have all the given bits. VMAQ_ANON selects
 * VMAs without a file. The second group changes what a query does.
 */
#define VMAQ_READ	0x0001u	/* readable ('r') */
#define VMAQ_WRITE	0x0002u	/* writable ('w') */
#define VMAQ_EXEC	0x0004u	/* executable ('x') */
#define VMAQ_SHARED	0x0008u	/* may be shared ('s' rather than 'p') */
#define VMAQ_FILE	0x0010u	/* backed by a file (device or inode non-zero) */
#define VMAQ_ANON	0x0020u	/* filter only: not backed by a file */
#define VMAQ_DELETED	0x0040u	/* the mapped file has been unlinked */
#define VMAQ_NEXT	0x0100u	/* vmaq_find: the VMA at or after addr */
#define VMAQ_NAME	0x0200u	/* fill in vmaq_vma.name */
#define VMAQ_BUILD_ID	0x0400u	/* fill in vmaq_vma.build_id */

#define VMAQ_BUILD_ID_MAX 20

/* What a VMA is, for a symbolizer: struct vmaq_vma.kind. */
enum vmaq_kind {
	VMAQ_KIND_UNKNOWN = 0,	/* VMAQ_NAME was not asked for */
	VMAQ_KIND_FILE = 1,	/* a mapped file (memfd and shared anonymous too) */
	VMAQ_KIND_ANON = 2,	/* anonymous memory, "[anon:...]" names included */
	VMAQ_KIND_HEAP = 3,	/* [heap] */
	VMAQ_KIND_STACK = 4,	/* [stack] */
	VMAQ_KIND_VDSO = 5,	/* [vdso] */
	VMAQ_KIND_VVAR = 6,	/* [vvar], [vvar_vclock] */
	VMAQ_KIND_GATE = 7,	/* [vsyscall] or another gate VMA */
	VMAQ_KIND_SPECIAL = 8,	/* another kernel mapping: [uprobes], [sigpage], ... */
};

/*
 * One VMA, as one line of /proc/PID/maps describes it.
 *
 * The struct grows at its end in later releases. The library sets .size
 * to the size of the struct it was built with; a member is there only if
 * VMAQ_VMA_HAS() says so, which is always true for the members below in
 * a program built against this header and a library of this version or
 * later. Where a caller hands records in (vmaq_format()) or asks for
 * copies (vmaq_snapshot_copy()), it says which size it knows.
 */
struct vmaq_vma {
	uint32_t size;		/* bytes of this record that are filled in */
	uint32_t flags;		/* VMAQ_READ ... VMAQ_FILE; VMAQ_DELETED
				 * when VMAQ_NAME was asked for */
	uint64_t start;		/* first address */
	uint64_t end;		/* one past the last address */
	uint64_t offset;	/* file offset of start (0 when anonymous) */
	uint64_t inode;
	uint32_t dev_major;
	uint32_t dev_minor;
	/*
	 * Kernel page size backing the VMA (e.g. 2 MiB for hugetlbfs); 0 when
	 * unknown: the text backend before Linux 6.11, or a VMA read from
	 * the text (by a text handle's finds, lookups and iterators, or an
	 * automatic handle's iterator past its 16th VMA, see
	 * vmaq_iter_new(3)) that changed before its page size could be
	 * asked. Snapshots read such a map again instead.
	 */
	uint64_t page_size;
	/*
	 * The name the kernel gives the VMA ("/usr/lib/x.so", "[heap]",
	 * "[anon:name]", "/tmp/f (deleted)"), of any length below 1 MiB
	 * (a longer line of the text is ENAMETOOLONG): the
	 * bytes of the path, where /proc/PID/maps writes a newline as
	 * "\012" (vmaq_format() writes it so again). NULL when the VMA has
	 * no name or VMAQ_NAME was not asked for.
	 */
	const char *name;
	/* ELF build ID, when VMAQ_BUILD_ID was asked for and one exists. */
	const unsigned char *build_id;
	uint32_t build_id_size;
	uint32_t name_len;	/* strlen(name); 0 without one */
	uint32_t kind;		/* enum vmaq_kind */
	uint32_t reserved;	/* 0 */
};

/* Does record @v have member @field? */
#define VMAQ_VMA_HAS(v, field) \
	((v)->size >= offsetof(struct vmaq_vma, field) + sizeof((v)->field))
/* The size of the first 1.0 record: the least a caller may declare. */
#define VMAQ_VMA_SIZE_1_0 (offsetof(struct vmaq_vma, reserved) + sizeof(uint32_t))

/*
 * Extensible options: set .sz to sizeof the struct (VMAQ_OPTS does), so
 * that a program built against an older header keeps working with a newer
 * library and the other way round. Unknown non-zero tail bytes are
 * rejected with -EINVAL.
 */
struct vmaq_open_opts {
	size_t sz;
	/* VMAQ_BACKEND_AUTO: the VMAQ_BACKEND environment variable if set
	 * ("batch", "query", "text"), else the best the kernel offers. */
	enum vmaq_backend backend;
	uint32_t reserved;
};
#define vmaq_open_opts__last_field reserved

/*
 * Declare NAME as an options struct of TYPE with .sz set and every other
 * member zero unless given. Options structs have no padding, so this
 * leaves no byte unset.
 */
#define VMAQ_OPTS(TYPE, NAME, ...) \
	struct TYPE NAME = { .sz = sizeof(struct TYPE), __VA_ARGS__ }

/* The library's version, VMAQ_VERSION_CODE() of the one running. */
VMAQ_API uint32_t vmaq_version(void);
/* The same as a string: "1.0.0". */
VMAQ_API const char *vmaq_version_string(void);

/*
 * Handles. A process whose first thread exited while others run on is
 * read through one of theirs (its own /proc/PID/maps is empty).
 */
VMAQ_API int vmaq_open(pid_t pid, const struct vmaq_open_opts *opts,
		       struct vmaq_proc **procp);
VMAQ_API int vmaq_open_fd(int maps_fd, const struct vmaq_open_opts *opts,
			  struct vmaq_proc **procp);
/*
 * The process a pidfd names (pidfd_open(2), clone3(CLONE_PIDFD)): the
 * handle is of that very process even if its pid was reused meanwhile
 * (-ESRCH once it has been reaped). The caller keeps its pidfd.
 */
VMAQ_API int vmaq_open_pidfd(int pidfd, const struct vmaq_open_opts *opts,
			     struct vmaq_proc **procp);
VMAQ_API void vmaq_close(struct vmaq_proc *proc);
VMAQ_API enum vmaq_backend vmaq_backend(const struct vmaq_proc *proc);
VMAQ_API const char *vmaq_backend_name(enum vmaq_backend backend);
VMAQ_API pid_t vmaq_pid(const struct vmaq_proc *proc);
VMAQ_API int vmaq_kernel_backends(unsigned int *mask);
/*
 * The address-space generation (batch backend only, else -EOPNOTSUPP):
 * once a change to the process's VMAs has returned, no later call returns
 * a value returned before that change began. Costs one system call.
 */
VMAQ_API int vmaq_generation(struct vmaq_proc *proc, uint64_t *gen);

/* Single lookups and walks. */
VMAQ_API int vmaq_find(struct vmaq_proc *proc, uint64_t addr,
		       unsigned int flags, const struct vmaq_vma **vmap);
VMAQ_API int vmaq_iter_new(struct vmaq_proc *proc, unsigned int flags,
			   struct vmaq_iter **iterp);
/*
 * The VMAs that overlap [start, end), whole (the first may start below
 * start, the last end above end), in address order. vmaq_iter_new() is
 * the range [0, UINT64_MAX).
 */
VMAQ_API int vmaq_iter_range(struct vmaq_proc *proc, unsigned int flags,
			     uint64_t start, uint64_t end,
			     struct vmaq_iter **iterp);
VMAQ_API int vmaq_iter_next(struct vmaq_iter *iter,
			    const struct vmaq_vma **vmap);
VMAQ_API void vmaq_iter_free(struct vmaq_iter *iter);

/* Many addresses at once: the symbolizer's call. */
VMAQ_API int vmaq_lookup(struct vmaq_proc *proc, const uint64_t *addrs,
			 size_t count, unsigned int flags,
			 struct vmaq_lookup **lookupp);
VMAQ_API const struct vmaq_vma *vmaq_lookup_vma(const struct vmaq_lookup *lookup,
						size_t index);
VMAQ_API size_t vmaq_lookup_count(const struct vmaq_lookup *lookup);
/*
 * The same answer as arrays, for callers that cannot afford a call per
 * address (bindings): its records (those vmaq_lookup_vma() returns, each
 * once, in the order of the addresses that found them) and, for
 * addresses first .. first + count - 1, the index of each one's record
 * or VMAQ_LOOKUP_UNMAPPED.
 */
#define VMAQ_LOOKUP_UNMAPPED UINT32_MAX
VMAQ_API size_t vmaq_lookup_records(const struct vmaq_lookup *lookup);
VMAQ_API const struct vmaq_vma *vmaq_lookup_record(const struct vmaq_lookup *lookup,
						   size_t index);
VMAQ_API int vmaq_lookup_index(const struct vmaq_lookup *lookup, size_t first,
			       size_t count, uint32_t *index);
VMAQ_API void vmaq_lookup_free(struct vmaq_lookup *lookup);

/*
 * Normalization, a symbolizer's first step: each address as an object
 * (a mapped file, one for all its VMAs, or a kernel mapping such as
 * [vdso]) and an offset into it (the file offset; from the mapping's
 * start for a kernel mapping), or the reason it has none. One lookup.
 */
struct vmaq_norm;

enum vmaq_norm_reason {
	VMAQ_NORM_OK = 0,	/* .object and .offset are set */
	VMAQ_NORM_UNMAPPED = 1,	/* no VMA covers the address */
	VMAQ_NORM_ANON = 2,	/* anonymous memory: heap, stack, JIT code, ... */
};

#define VMAQ_NORM_NO_OBJECT UINT32_MAX

/* One address's answer. Its layout is fixed for libvmaquery.so.1. */
struct vmaq_norm_addr {
	uint64_t offset;
	uint32_t object;	/* index for vmaq_norm_object(), or NO_OBJECT */
	uint32_t reason;	/* enum vmaq_norm_reason */
};

/*
 * An object: begins with its size and grows at its end, as struct
 * vmaq_vma does (no padding on any ABI: a member added later is never
 * mistaken for an old library's padding). Names and build IDs live as
 * long as the answer.
 */
struct vmaq_object {
	uint32_t size;		/* sizeof(struct vmaq_object) of the library */
	uint32_t kind;		/* enum vmaq_kind: FILE, VDSO, VVAR, GATE, SPECIAL */
	uint64_t inode;
	uint32_t dev_major, dev_minor;
	uint32_t flags;		/* VMAQ_DELETED */
	uint32_t name_len;
	uint32_t build_id_size;	/* 0: none (or not asked for) */
	uint32_t reserved;	/* 0 */
	const char *name;	/* the path or "[vdso]": the kernel's bytes */
	const unsigned char *build_id;
};

/* Does object @o have member @field? */
#define VMAQ_OBJECT_HAS(o, field) \
	((o)->size >= offsetof(struct vmaq_object, field) + sizeof((o)->field))

/* @flags: 0 or VMAQ_BUILD_ID. Addresses in any order, repeats allowed. */
VMAQ_API int vmaq_normalize(struct vmaq_proc *proc, const uint64_t *addrs,
			    size_t count, unsigned int flags,
			    struct vmaq_norm **normp);
VMAQ_API size_t vmaq_norm_count(const struct vmaq_norm *norm);
/* vmaq_norm_count() answers, one per address in the order given. */
VMAQ_API const struct vmaq_norm_addr *vmaq_norm_addrs(const struct vmaq_norm *norm);
VMAQ_API size_t vmaq_norm_objects(const struct vmaq_norm *norm);
VMAQ_API const struct vmaq_object *vmaq_norm_object(const struct vmaq_norm *norm,
						    size_t index);
/*
 * One VMA of object @index (the first of its VMAs the addresses fell in),
 * as the lookup read it: for vmaq_vma_open(), or the object's range.
 */
VMAQ_API const struct vmaq_vma *vmaq_norm_object_vma(const struct vmaq_norm *norm,
						     size_t index);
VMAQ_API void vmaq_norm_free(struct vmaq_norm *norm);
/*
 * The file a VMA of @proc maps, opened read-only and close-on-exec: the
 * very file (its device and inode are checked), never a planted name.
 * A deleted one, or one replaced under its name, is reached only through
 * /proc/PID/map_files, which Linux opens only to CAP_SYS_ADMIN or
 * CAP_CHECKPOINT_RESTORE: ENOENT without. Without them the name is
 * looked up under /proc/PID/root. A descriptor the caller closes, or a
 * negative error number: ENOENT (no file, or not that file any more),
 * EACCES, EMFILE.
 */
VMAQ_API int vmaq_vma_open(struct vmaq_proc *proc, const struct vmaq_vma *vma);
VMAQ_API uint64_t vmaq_vma_file_offset(const struct vmaq_vma *vma,
				       uint64_t addr);

/* Cached maps. */
VMAQ_API int vmaq_snapshot_new(struct vmaq_proc *proc, unsigned int flags,
			       struct vmaq_snapshot **snapp);
VMAQ_API size_t vmaq_snapshot_count(const struct vmaq_snapshot *snap);
VMAQ_API const struct vmaq_vma *vmaq_snapshot_vma(const struct vmaq_snapshot *snap,
						  size_t index);
VMAQ_API const struct vmaq_vma *vmaq_snapshot_find(const struct vmaq_snapshot *snap,
						   uint64_t addr);
VMAQ_API int vmaq_snapshot_stale(struct vmaq_snapshot *snap);
VMAQ_API int vmaq_snapshot_refresh(struct vmaq_snapshot *snap);
VMAQ_API void vmaq_snapshot_free(struct vmaq_snapshot *snap);
/*
 * How a snapshot's map changed: vmaq_snapshot_update() is
 * vmaq_snapshot_refresh() that also says what changed, VMA by VMA in
 * address order (a VMA is known by its start: one that moved is one
 * removed and one added). The records are the diff's, valid until
 * vmaq_diff_free().
 */
struct vmaq_diff;

enum vmaq_change_kind {
	VMAQ_CHANGE_ADDED = 1,		/* .vma is new */
	VMAQ_CHANGE_REMOVED = 2,	/* .vma is gone */
	VMAQ_CHANGE_MODIFIED = 3,	/* .vma (same start) was .was */
};

/* One change. Its layout is fixed for libvmaquery.so.1. */
struct vmaq_change {
	uint32_t kind;			/* enum vmaq_change_kind */
	uint32_t reserved;		/* 0 */
	const struct vmaq_vma *vma;
	const struct vmaq_vma *was;	/* MODIFIED: the record before; else NULL */
};

/* 1 and a diff if the map changed, 0 (and NULL) if not, or -errno. */
VMAQ_API int vmaq_snapshot_update(struct vmaq_snapshot *snap,
				  struct vmaq_diff **diffp);
VMAQ_API size_t vmaq_diff_count(const struct vmaq_diff *diff);
VMAQ_API const struct vmaq_change *vmaq_diff_change(const struct vmaq_diff *diff,
						    size_t index);
VMAQ_API void vmaq_diff_free(struct vmaq_diff *diff);

/*
 * Copy records first .. first + count - 1 into @recs, an array of
 * elements of @rec_size bytes (the caller's sizeof(struct vmaq_vma), at
 * least VMAQ_VMA_SIZE_1_0): what both sides know is copied, the rest of
 * each element zeroed, and .size says how much is filled. Names and
 * build IDs stay the snapshot's. Returns the number copied.
 */
VMAQ_API int vmaq_snapshot_copy(const struct vmaq_snapshot *snap, size_t first,
				size_t count, void *recs, size_t rec_size);

/*
 * Every process of the system (a whole-system scan): the processes
 * /proc lists when the scan reaches them (thread ids are not listed;
 * kernel threads, which have no address space, are left out), in the
 * order /proc gives, each with its VMAs. A process that exits before its
 * map is opened, exits or execs while it is read, or whose map the
 * caller may not read,
 * is one the scan goes past, reported as such (vmaq_scan_proc()), never
 * an error of the scan (with a filter, one that went before the filter
 * could tell is passed by). Where the kernel has no way to read another
 * process's map through a descriptor already open, every process's maps
 * file is opened once; what can be reused is (the backend the first one
 * chose, what whole-map reads measured, the buffers).
 */
struct vmaq_scan;

#define VMAQ_SCAN_UID 0x1u	/* only processes whose effective uid is .uid */

struct vmaq_scan_opts {
	size_t sz;
	enum vmaq_backend backend;	/* as in vmaq_open() */
	/*
	 * The VMAs vmaq_scan_vma() gives and what their records hold, as in
	 * vmaq_iter_new(): VMAQ_EXEC for executable VMAs only, VMAQ_NAME...
	 */
	uint32_t flags;
	uint32_t scan_flags;		/* VMAQ_SCAN_* */
	uint32_t uid;			/* with VMAQ_SCAN_UID */
	/*
	 * NULL, or a cgroup (v2) path as /proc/PID/cgroup gives it
	 * ("/system.slice"): only processes in it or in a cgroup below it.
	 */
	const char *cgroup;
	uint64_t reserved;		/* 0 */
};
#define vmaq_scan_opts__last_field reserved

VMAQ_API int vmaq_scan_new(const struct vmaq_scan_opts *opts,
			   struct vmaq_scan **scanp);
/* 1 and the next process's id, 0 after the last; < 0: /proc failed. */
VMAQ_API int vmaq_scan_next(struct vmaq_scan *scan, pid_t *pidp);
/*
 * The current process's handle, the scan's until the next
 * vmaq_scan_next() (its snapshots and iterators live on, as always), or
 * NULL and errno: ESRCH (it exited or exec'd), EACCES or EPERM (not
 * ours to read).
 */
VMAQ_API struct vmaq_proc *vmaq_scan_proc(struct vmaq_scan *scan);
/*
 * The current process's next VMA: 1, 0 at the end, or < 0 as
 * vmaq_iter_next(), ESRCH when the process went while it was read.
 */
VMAQ_API int vmaq_scan_vma(struct vmaq_scan *scan, const struct vmaq_vma **vmap);
VMAQ_API void vmaq_scan_free(struct vmaq_scan *scan);

/*
 * Process events: exec and exit of every process of the system, from
 * the kernel's process-events connector, for a caller that follows
 * processes and asks for them (a listener makes the kernel build events
 * for the whole host while there is one). Since Linux 6.6 the kernel
 * sends exec and exit alone; before, it sends every event and needs
 * CAP_NET_ADMIN. Feed them to a cache with vmaq_cache_feed(), along
 * with what the caller learns elsewhere (perf, eBPF).
 */
struct vmaq_events;

enum vmaq_event_kind {
	VMAQ_EVENT_EXEC = 1,	/* process .pid exec'd: a new address space */
	VMAQ_EVENT_EXIT = 2,	/* process .pid exited */
	VMAQ_EVENT_LOST = 3,	/* events were lost: any process may have changed */
	VMAQ_EVENT_CHANGE = 4,	/* the caller's: .pid's map changed (mmap, munmap...) */
};

/* One event. Its layout is fixed for libvmaquery.so.1. */
struct vmaq_event {
	uint32_t kind;		/* enum vmaq_event_kind */
	int32_t pid;		/* the process (thread group id); 0 for LOST */
};

struct vmaq_events_opts {
	size_t sz;
	uint32_t flags;		/* 0 */
	uint32_t reserved;
};
#define vmaq_events_opts__last_field reserved

VMAQ_API int vmaq_events_new(const struct vmaq_events_opts *opts,
			     struct vmaq_events **evp);
/* A descriptor to poll(2) for POLLIN; the object's, not the caller's. */
VMAQ_API int vmaq_events_fd(const struct vmaq_events *ev);
/* What is queued, up to @max, without waiting: the number read. */
VMAQ_API int vmaq_events_read(struct vmaq_events *ev, struct vmaq_event *out,
			      size_t max);
VMAQ_API void vmaq_events_free(struct vmaq_events *ev);

/*
 * Many processes: a snapshot of each, kept. One descriptor per entry; a
 * hit costs one system call when nothing changed; staleness per kernel
 * in vmaq_cache_new(3).
 */
struct vmaq_cache_opts {
	size_t sz;
	enum vmaq_backend backend;	/* for every process, as in vmaq_open */
	uint32_t flags;			/* VMAQ_NAME, VMAQ_BUILD_ID: what snapshots hold */
	/* entries kept, least recently used go; 0: RLIMIT_NOFILE / 2, <= 1024 */
	uint32_t max_procs;
	uint32_t cache_flags;		/* 0 */
};
#define vmaq_cache_opts__last_field cache_flags

VMAQ_API int vmaq_cache_new(const struct vmaq_cache_opts *opts,
			    struct vmaq_cache **cachep);
VMAQ_API void vmaq_cache_free(struct vmaq_cache *cache);
VMAQ_API int vmaq_cache_get(struct vmaq_cache *cache, pid_t pid,
			    const struct vmaq_snapshot **snapp);
VMAQ_API int vmaq_cache_refresh(struct vmaq_cache *cache, pid_t pid);
/*
 * Tell the cache what happened: EXEC and EXIT drop the process's entry,
 * CHANGE has its next vmaq_cache_get() read it again, LOST checks every
 * entry. Returns how many entries were dropped.
 */
VMAQ_API int vmaq_cache_feed(struct vmaq_cache *cache,
			     const struct vmaq_event *evs, size_t count);
/* Check every entry now, dropping those whose process went: how many. */
VMAQ_API int vmaq_cache_revalidate(struct vmaq_cache *cache);
VMAQ_API size_t vmaq_cache_count(const struct vmaq_cache *cache);

/* Text. */
VMAQ_API int vmaq_format(const struct vmaq_vma *vma, char *buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* VMAQUERY_H */
