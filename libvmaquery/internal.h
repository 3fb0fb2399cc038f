/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libvmaquery internals: nothing here is part of the ABI. */
#ifndef VMAQUERY_INTERNAL_H
#define VMAQUERY_INTERNAL_H

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "vmaquery.h"

/*
 * Valgrind does not know that the ioctls write the records, names and
 * build IDs: tell it which bytes the kernel filled, so that programs using
 * the library can be checked with memcheck. Costs a few instructions.
 */
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define kernel_wrote(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))
#endif
#endif
#ifndef kernel_wrote
#define kernel_wrote(p, n) ((void)(p), (void)(n))
#endif

#define VMAQ_FILTER_MASK (VMAQ_READ | VMAQ_WRITE | VMAQ_EXEC | VMAQ_SHARED | \
			  VMAQ_FILE | VMAQ_ANON)
#define VMAQ_QUERY_MASK (VMAQ_FILTER_MASK | VMAQ_NEXT | VMAQ_NAME | VMAQ_BUILD_ID)

/*
 * Longest text line accepted: the fixed columns and a name of PATH_MAX - 1
 * bytes that are all newlines, each written as the four bytes "\012".
 */
#define VMAQ_LINE_MAX (4 * PATH_MAX + 256)

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

/* A VMA record that owns its name and build ID storage. */
struct vmaq_rec {
	struct vmaq_vma vma;
	char name[PATH_MAX];
	unsigned char build_id[VMAQ_BUILD_ID_MAX];
};

/* Build ID cache, keyed by (device, inode). */
struct vmaq_bid_entry {
	uint64_t inode;
	uint32_t dev_major, dev_minor;
	uint32_t size;		/* 0: the file has none (or cannot be read) */
	unsigned char id[VMAQ_BUILD_ID_MAX];
};

struct vmaq_bid_cache {
	struct vmaq_bid_entry *slots;
	size_t nslots, used;
};

/*
 * A handle. fd, pid and backend are set before anyone else sees it and
 * never change. Its iterators and snapshots each hold a reference, so the
 * handle lives until vmaq_close() and the last of them is freed; they may
 * run in other threads than the handle's user, so everything they share
 * through it (the gate record, the build-ID cache, the file's read
 * position) is guarded by the locks below.
 */
struct vmaq_proc {
	int fd;			/* /proc/PID/maps */
	pid_t pid;		/* -1 when opened from a caller's fd */
	enum vmaq_backend backend;
	unsigned int refs;	/* the caller's, one per iterator and snapshot */
	pthread_mutex_t lock;	/* gate_state, gate, bids */
	/* The gate VMA ([vsyscall] on x86-64), which PROCMAP_QUERY skips. */
	int gate_state;		/* 0 unknown, 1 present, -1 absent */
	struct vmaq_rec gate;
	struct vmaq_rec cur;	/* what vmaq_find() returns: the handle's own */
	/*
	 * The maps file has one read position, which the kernel keeps in
	 * its seq_file: a read at any other offset makes it render the map
	 * again from the start and count bytes, which tears lines if the
	 * map changed. Text walks say whose position the file holds.
	 */
	pthread_mutex_t text_lock;
	uint64_t text_reader;	/* id of the walk that read last */
	off_t text_pos;		/* where that read ended */
	uint64_t text_ids;	/* last walk id handed out */
	struct vmaq_bid_cache bids;
};

/* A walk up the address space; backends implement next(). */
struct vmaq_walk {
	struct vmaq_proc *proc;
	unsigned int flags;
	bool gate_done;
	/* text backend: a window onto the file, read in order */
	char *buf;
	size_t cap, start, end;
	off_t off;
	bool eof;
	bool empty;		/* nothing read yet */
	uint64_t text_id;	/* this walk's id, for proc->text_reader */
	bool held;		/* the last line returned is still in the window */
	size_t held_next;	/* where the line after it starts */
	uint64_t held_end;	/* its VMA's end */
	/* batch backend: the records of the last range call */
	struct procmap_vma_record *brecs;
	char *bstrs;
	uint32_t bcap, bstrs_size, bn, bpos;
	uint64_t bfrom, bcursor;	/* they cover [bfrom, bcursor) */
	bool bvalid;
	/* the address-space generation, when the backend reports one */
	bool have_gen;
	uint64_t gen;
};

struct vmaq_backend_ops {
	/* First VMA matching w->flags with end > addr; -ENOENT past the last. */
	int (*next)(struct vmaq_walk *w, uint64_t addr, struct vmaq_rec *rec);
};

extern const struct vmaq_backend_ops vmaq_text_ops;
extern const struct vmaq_backend_ops vmaq_query_ops;
extern const struct vmaq_backend_ops vmaq_batch_ops;

void vmaq_walk_init(struct vmaq_walk *w, struct vmaq_proc *proc,
		    unsigned int flags);
void vmaq_walk_fini(struct vmaq_walk *w);
int vmaq_walk_next(struct vmaq_walk *w, uint64_t addr, struct vmaq_rec *rec);
bool vmaq_match(const struct vmaq_vma *vma, unsigned int flags);
/* -EINVAL for bits outside @allowed, or VMAQ_FILE with VMAQ_ANON. */
int vmaq_check_flags(unsigned int flags, unsigned int allowed);
#define VMAQ_WALK_MASK (VMAQ_FILTER_MASK | VMAQ_NAME | VMAQ_BUILD_ID)
void vmaq_rec_copy(struct vmaq_rec *dst, const struct vmaq_rec *src);

/* Text parser (parse.c): one line, without its newline. */
int vmaq_parse_line(const char *line, size_t len, struct vmaq_vma *vma,
		    const char **name, size_t *name_len);
size_t vmaq_unescape_name(char *dst, size_t size, const char *src, size_t len);

/* Tests only: make a cache identify processes by start time. */
void vmaq_cache_disable_pidfd(struct vmaq_cache *c);

/* References held by iterators and snapshots (and vmaq_close()'s). */
void vmaq_proc_get(struct vmaq_proc *proc);
void vmaq_proc_put(struct vmaq_proc *proc);

/* 0 while the handle's address space exists, -ESRCH once it is gone. */
int vmaq_proc_check(struct vmaq_proc *proc);
/* The same for the text backend, which has no ioctl to ask. */
int vmaq_text_alive(struct vmaq_proc *proc);

/*
 * The fields a PROCMAP_QUERY answer (@k a struct procmap_query) and a
 * PROCMAP_QUERY_BATCH record (a struct procmap_vma_record) share by
 * name, into struct vmaq_vma @v; name and build ID are the caller's.
 * PROCMAP_QUERY_VMA_* and VMAQ_READ..VMAQ_SHARED are the same bits, and
 * VMAQ_FILE follows the text backend's rule so filters agree.
 */
#define VMAQ_VMA_FROM_KERNEL(v, k) do {					\
	(v)->start = (k)->vma_start;					\
	(v)->end = (k)->vma_end;					\
	(v)->offset = (k)->vma_offset;					\
	(v)->inode = (k)->inode;					\
	(v)->dev_major = (k)->dev_major;				\
	(v)->dev_minor = (k)->dev_minor;				\
	(v)->page_size = (uint32_t)(k)->vma_page_size;			\
	(v)->flags = (uint32_t)((k)->vma_flags &			\
		(VMAQ_READ | VMAQ_WRITE | VMAQ_EXEC | VMAQ_SHARED));	\
	if ((v)->dev_major || (v)->dev_minor || (v)->inode)		\
		(v)->flags |= VMAQ_FILE;				\
	(v)->reserved = 0;						\
} while (0)

/* Batch backend (backend_batch.c). */
struct procmap_vma_record;
int vmaq_batch_probe(int fd);
int vmaq_batch_generation(int fd, uint64_t *gen);
int vmaq_batch_find(struct vmaq_proc *proc, uint64_t addr, unsigned int flags,
		    struct vmaq_rec *rec);
int vmaq_batch_lookup(struct vmaq_proc *proc, const uint64_t *sorted,
		      size_t count, unsigned int flags,
		      int (*add)(void *ctx, const struct vmaq_vma *vma, uint32_t *slot),
		      void *ctx, uint32_t *kidx);

/* Query backend helper: does this fd answer PROCMAP_QUERY? */
int vmaq_query_probe(int fd);

/* Build IDs read by the library (buildid.c). */
int vmaq_elf_build_id(int fd, unsigned char *id, uint32_t *size);
int vmaq_build_id_fill(struct vmaq_proc *proc, struct vmaq_rec *rec);
void vmaq_bid_cache_free(struct vmaq_bid_cache *c);

#endif /* VMAQUERY_INTERNAL_H */
