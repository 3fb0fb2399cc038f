/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The backend interface: what the core (proc.c, lookup.c, table.c,
 * snapshot.c) asks of a backend, and the helpers backends share (records
 * in record.c, the maps file in maps.c, the text parser in parse.c, build
 * IDs in buildid.c). Backends include this file only: they never call
 * into the core, which reaches them through struct vmaq_backend_ops.
 */
#ifndef VMAQUERY_BACKEND_H
#define VMAQUERY_BACKEND_H

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "vmaquery.h"

/*
 * calloc(1, @size) for the few blocks made for every process a scan or a
 * cache opens (the handle and an iterator): the glibc of Debian 12 (2.36)
 * takes no calloc() block from the thread's cache, only malloc() ones,
 * and the scan's handles come and go one after the other (valgrind in
 * the VM: 300 instructions less a block, its free() included). No size
 * is multiplied: calloc()'s overflow check is not missed.
 */
static inline void *vmaq_zalloc(size_t size)
{
	void *p = malloc(size);

	/* hidden from the compiler, which would make the two calloc() again */
	__asm__("" : "+r"(p));
	if (p)
		memset(p, 0, size);
	return p;
}

/*
 * Valgrind does not know that the ioctls write the records, names and
 * build IDs: tell it which bytes the kernel filled, so that programs using
 * the library can be checked with memcheck. Whether it runs under
 * valgrind is asked at the first ioctl (record.c), not in a constructor,
 * which a program's own constructors may come before: a client request
 * is a dozen instructions, a find's own are a few dozen.
 */
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
extern int vmaq_on_valgrind;	/* 0: not asked yet, 1: no, 2: yes */
bool vmaq_valgrind_ask(void);
#define kernel_wrote(p, n) do {						\
	int vg_ = __atomic_load_n(&vmaq_on_valgrind, __ATOMIC_RELAXED);	\
									\
	if (__builtin_expect(vg_ != 1, 0) &&				\
	    (vg_ == 2 || vmaq_valgrind_ask()))				\
		VALGRIND_MAKE_MEM_DEFINED((p), (n));			\
} while (0)
#endif
#endif
#ifndef kernel_wrote
#define kernel_wrote(p, n) ((void)(p), (void)(n))
#endif

#define VMAQ_FILTER_MASK (VMAQ_READ | VMAQ_WRITE | VMAQ_EXEC | VMAQ_SHARED | \
			  VMAQ_FILE | VMAQ_ANON)
#define VMAQ_QUERY_MASK (VMAQ_FILTER_MASK | VMAQ_NEXT | VMAQ_NAME | VMAQ_BUILD_ID)
#define VMAQ_WALK_MASK (VMAQ_FILTER_MASK | VMAQ_NAME | VMAQ_BUILD_ID)

/*
 * Longest maps line accepted: far beyond any name a file system gives
 * (a path may be longer than PATH_MAX, and the text writes each newline
 * in it as four bytes), short of what a broken or hostile file could
 * make the library allocate.
 */
#define VMAQ_LINE_MAX (1u << 20)

/* ---- records (record.c) ---- */

/* A VMA record that owns storage for its name, of any length, and build ID. */
struct vmaq_rec {
	struct vmaq_vma vma;
	char *name;		/* name_cap bytes, or NULL */
	size_t name_cap;
	bool name_borrowed;	/* name is the caller's buffer: never freed */
	unsigned char build_id[VMAQ_BUILD_ID_MAX];
};

void vmaq_rec_init(struct vmaq_rec *rec);
/*
 * The same, with @buf (@size bytes, at least PATH_MAX) as the first name
 * buffer: a short-lived record on the stack needs no allocation for the
 * names the ioctls return. A longer name moves to the heap.
 */
void vmaq_rec_init_buf(struct vmaq_rec *rec, char *buf, size_t size);
/*
 * Make *@p @size bytes, keeping its first @keep. A *@borrowed buffer
 * (the caller's, never freed here) is copied to the heap, and *@borrowed
 * cleared; on failure *@p is left as it was.
 */
int vmaq_buf_grow(void **p, bool *borrowed, size_t keep, size_t size);
void vmaq_rec_fini(struct vmaq_rec *rec);
/* Room for a name of @len bytes and its NUL in rec->name. */
int vmaq_rec_grow(struct vmaq_rec *rec, size_t len);
/* Inline: every ioctl of a walk asks, and the room is nearly always there. */
static inline int vmaq_rec_reserve(struct vmaq_rec *rec, size_t len)
{
	return len < rec->name_cap ? 0 : vmaq_rec_grow(rec, len);
}
/* rec->vma.name becomes a copy of @s (@len bytes, no NUL in them). */
int vmaq_rec_set_name(struct vmaq_rec *rec, const char *s, size_t len);
/* The same from the text's form, "\012" meaning a newline. */
int vmaq_rec_set_text_name(struct vmaq_rec *rec, const char *s, size_t len);
int vmaq_rec_copy(struct vmaq_rec *dst, const struct vmaq_rec *src);
bool vmaq_match(const struct vmaq_vma *vma, unsigned int flags);
/*
 * The PROCMAP_QUERY_* filters both ioctls apply for VMAQ_READ ...
 * VMAQ_FILE; VMAQ_ANON has none and is the caller's to check. The
 * permission bits are the same (backend_query.c asserts it).
 */
#define VMAQ_KERNEL_FILE_FILTER 0x20u	/* PROCMAP_QUERY_FILE_BACKED_VMA */

static inline uint64_t vmaq_kernel_filters(unsigned int flags)
{
	uint64_t k = flags & (VMAQ_READ | VMAQ_WRITE | VMAQ_EXEC | VMAQ_SHARED);

	if (flags & VMAQ_FILE)
		k |= VMAQ_KERNEL_FILE_FILTER;
	return k;
}
uint32_t vmaq_bracket_kind(const struct vmaq_vma *v);
bool vmaq_deleted_name(const struct vmaq_vma *v);

/*
 * The same for a record whose name and build ID are stored elsewhere.
 * Inline: every record of every walk comes through it, and most are
 * told apart by their first byte.
 */
static inline void vmaq_vma_finish(struct vmaq_vma *v, unsigned int flags,
				   int deleted)
{
	v->size = (uint32_t)sizeof(*v);
	v->reserved = 0;
	v->flags &= ~VMAQ_DELETED;
	if (!(flags & VMAQ_NAME)) {
		v->name = NULL;
		v->name_len = 0;
		v->kind = VMAQ_KIND_UNKNOWN;
		return;
	}
	if (!v->name)
		v->name_len = 0;
	if (v->name && v->name[0] == '[')
		v->kind = vmaq_bracket_kind(v);
	else
		v->kind = v->flags & VMAQ_FILE ? VMAQ_KIND_FILE : VMAQ_KIND_ANON;
	if (deleted < 0)
		deleted = vmaq_deleted_name(v);
	if (deleted && (v->flags & VMAQ_FILE))
		v->flags |= VMAQ_DELETED;
}

/*
 * What every backend does to a record before handing it out: its size,
 * name length and kind, VMAQ_DELETED (@deleted: 1 the backend knows the
 * file is unlinked, 0 it knows it is not, -1 the name's " (deleted)"
 * decides), and no name unless VMAQ_NAME was asked for.
 */
static inline void vmaq_rec_finish(struct vmaq_rec *rec, unsigned int flags,
				   int deleted)
{
	vmaq_vma_finish(&rec->vma, flags, deleted);
}

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
	(v)->page_size = (k)->vma_page_size;				\
	(v)->flags = (uint32_t)((k)->vma_flags &			\
		(VMAQ_READ | VMAQ_WRITE | VMAQ_EXEC | VMAQ_SHARED));	\
	if ((v)->dev_major || (v)->dev_minor || (v)->inode)		\
		(v)->flags |= VMAQ_FILE;				\
	(v)->reserved = 0;						\
} while (0)

/* ---- the text parser (parse.c) ---- */

/* One line, without its newline. */
int vmaq_parse_line(const char *line, size_t len, struct vmaq_vma *vma,
		    const char **name, size_t *name_len);
/* The unescaped length of a text name, and the unescaping itself. */
size_t vmaq_text_name_len(const char *src, size_t len);
void vmaq_unescape_name(char *dst, const char *src, size_t len);

/* ---- the maps file (maps.c) ---- */

/*
 * A handle's /proc/PID/maps file, which every backend of the handle uses.
 * It has one read position, which the kernel keeps in its seq_file: a
 * read at any other offset makes it render the map again from the start
 * and count bytes, which tears lines if the map changed. Readers take
 * @lock around their reads and say whose position the file holds.
 */
struct vmaq_maps {
	int fd;
	pid_t pid;		/* -1 when opened from a caller's fd */
	/*
	 * Whose /proc/N/ has the map_files and root to open mapped files
	 * through: pid's, in procfs's numbering, or the thread's a process
	 * whose leader exited is read through (the leader's are empty).
	 */
	pid_t files_pid;
	pthread_mutex_t lock;
	uint64_t reader;	/* id of the reader that read last, 0: none */
	off_t pos;		/* where that read ended */
	uint64_t ids;		/* last reader id handed out */
};

ssize_t vmaq_pread(int fd, void *buf, size_t len, off_t off);
/* 0 while the address space exists, -ESRCH once it is gone. */
int vmaq_maps_alive(struct vmaq_maps *m);
/*
 * The whole text from offset 0, NUL-terminated; the caller frees *@bufp.
 * -ESRCH if the address space was gone when its end was read.
 */
int vmaq_maps_read_all(struct vmaq_maps *m, char **bufp, size_t *lenp);
/*
 * Tests only: called, with the maps lock held, after each read of a
 * vmaq_maps_read_all() copy, to cut the target there.
 */
extern void (*vmaq_test_read_all_step)(void *arg);
extern void *vmaq_test_read_all_arg;
/* A walk's copy of the whole text, for vmaq_maps_line_cached(). */
struct vmaq_text_copy {
	char *buf;
	size_t len, pos;
};
/*
 * The text's line for the VMA starting at @start, into @rec (name
 * included): for names that an ioctl cannot return. -ENOENT if gone.
 * The text is read once into @t, the first time a walk asks.
 */
int vmaq_maps_line_cached(struct vmaq_maps *m, struct vmaq_text_copy *t,
			  uint64_t start, struct vmaq_rec *rec);
/* @rec's name (or none) from that line: EAGAIN if the map changed. */
int vmaq_maps_long_name(struct vmaq_maps *m, struct vmaq_text_copy *t,
			struct vmaq_rec *rec);
void vmaq_text_copy_fini(struct vmaq_text_copy *t);
/* The text's last line into @rec: 1, or 0 if the map is empty. */
int vmaq_maps_last_line(struct vmaq_maps *m, struct vmaq_rec *rec);
/*
 * The name of @rec's VMA as the kernel has it, not as the text escapes
 * it (PROCMAP_QUERY, else /proc/PID/map_files): 0 and rec->vma.name set,
 * or a negative errno and @rec unchanged.
 */
int vmaq_maps_raw_name(struct vmaq_maps *m, struct vmaq_rec *rec);
/*
 * @rec's name came from the text, each "\012" read as a newline: make
 * it the kernel's bytes (vmaq_maps_raw_name() below PATH_MAX, else the
 * file system's: the reading that is the VMA's file, looked for one path
 * component at a time); left as it is where nothing can tell (an
 * unlinked file too long for the kernel to name). 0, -ENOMEM, or
 * -EMFILE or -ENFILE (no descriptor to look with).
 */
int vmaq_maps_text_newlines(struct vmaq_maps *m, struct vmaq_rec *rec);
/*
 * The kernel's page size for the file VMA @v describes, through
 * PROCMAP_QUERY: -ESTALE if no VMA of that file covers v->start any more.
 */
int vmaq_maps_page_size(struct vmaq_maps *m, const struct vmaq_vma *v,
			uint64_t *page_size);
/*
 * A walk's last answer about a file, by name, device and inode: whether
 * it is deleted (vmaq_maps_deleted()), whether its build ID was lost.
 */
struct vmaq_file_memo {
	char *name;		/* NULL: none yet */
	size_t len;
	uint64_t inode;
	uint32_t dev_major, dev_minor;
	int answer;
};

void vmaq_file_memo_fini(struct vmaq_file_memo *d);
/* Is the memo's answer about @v's file? */
bool vmaq_file_memo_has(const struct vmaq_file_memo *d, const struct vmaq_vma *v);
/* Keep @answer about @v's file (without room, none); returns @answer. */
int vmaq_file_memo_keep(struct vmaq_file_memo *d, const struct vmaq_vma *v,
			int answer);
/*
 * Is the file of a name ending in " (deleted)" unlinked? 1, 0, or -1:
 * cannot tell (0 for a name without the suffix). @d (or NULL) spares
 * the VMAs of one file a stat() each.
 */
int vmaq_maps_deleted_check(struct vmaq_maps *m, struct vmaq_file_memo *d,
			    const struct vmaq_vma *v);
/* Inline: nearly every name tells by its last byte that it is not. */
static inline int vmaq_maps_deleted(struct vmaq_maps *m,
				    struct vmaq_file_memo *d,
				    const struct vmaq_vma *v)
{
	if (!v->name || !(v->flags & VMAQ_FILE) || !v->name_len ||
	    v->name[v->name_len - 1] != ')')
		return 0;
	return vmaq_maps_deleted_check(m, d, v);
}

/* ---- build IDs read from files (buildid.c) ---- */

struct vmaq_bid_entry;
/* Cache keyed by (device, inode, name), shared by a handle's walks. */
struct vmaq_bid_cache {
	pthread_mutex_t lock;
	struct vmaq_bid_entry *slots;
	size_t nslots, used;
};

int vmaq_elf_build_id(int fd, unsigned char *id, uint32_t *size);
/*
 * The file @v maps, opened O_RDONLY, if it is that very regular file
 * (device and inode), through /proc/@pid/map_files (@pid > 0), else by
 * name: a descriptor, or -errno (-ENOENT: not that file, or none).
 */
int vmaq_open_mapped_file(pid_t pid, const struct vmaq_vma *v);
/*
 * Whether the file stat(2) gave @st_dev for (@path under @dirfd, statx(2)'s
 * AT_* @at; "" and AT_EMPTY_PATH: the open file @dirfd) is on @v's device.
 * The maps give the superblock's device, which stat(2) need not: btrfs
 * gives a subvolume's. Then the file's mount, looked up in the mountinfo
 * of @pid (> 0), then ours, tells.
 */
bool vmaq_on_vma_dev(int dirfd, const char *path, int at, dev_t st_dev,
		     pid_t pid, const struct vmaq_vma *v);
void vmaq_bid_cache_init(struct vmaq_bid_cache *c);
void vmaq_bid_cache_fini(struct vmaq_bid_cache *c);
/*
 * @rec's build ID, read from its file: 0, 1 if the file could not be
 * opened (then none), or a negative errno.
 */
int vmaq_build_id_fill(struct vmaq_bid_cache *c, pid_t pid, struct vmaq_rec *rec);
/* Tests only: called before the file of a build ID is opened. */
extern void (*vmaq_test_bid_open)(void *arg);
extern void *vmaq_test_bid_open_arg;

/* ---- backends ---- */

/* A walk up the address space, through one backend. */
struct vmaq_walk {
	const struct vmaq_backend_ops *ops;
	struct vmaq_maps *maps;
	void *be;		/* the backend's state for the handle */
	void *priv;		/* the backend's state for this walk */
	unsigned int flags;
	/*
	 * Where priv points when the backend's walk state fits: a find or a
	 * lookup is one walk, and must not cost an allocation.
	 */
	union {
		unsigned char bytes[128];
		uint64_t align;
		void *align_ptr;
	} inline_priv;
	/*
	 * The address-space generation as it was before the walk's first
	 * record, when the backend reports one and want_gen asked for it.
	 */
	bool want_gen;
	bool have_gen;
	uint64_t gen;
	/*
	 * A record was given with a field left unknown because the map
	 * changed under the walk (a text page size): a snapshot reads again.
	 */
	bool changed;
	bool whole;		/* the walk will read to the end (a table) */
	/*
	 * A record's name and build ID may stay in the walk's own storage:
	 * each record is used before the walk's next step or its end.
	 */
	bool lend;
	struct vmaq_file_memo deleted;
};

/* How a backend's lookup hands the core one record, and gets its slot. */
typedef int (*vmaq_add_fn)(void *ctx, const struct vmaq_vma *vma, uint32_t *slot);
/*
 * Where a backend's scan puts its records, many at a time: @room gives
 * the place of up to @n next records (*@got of them, at least one; NULL:
 * no memory), which the backend fills and then hands to @put to be kept.
 * Their names and build IDs need only be valid during that call. What
 * @put returns, non-zero, stops the scan.
 */
struct vmaq_scan_sink {
	struct vmaq_vma *(*room)(void *ctx, size_t n, size_t *got);
	int (*put)(void *ctx, struct vmaq_vma *v, size_t n);
	void *ctx;
};

struct vmaq_backend_ops {
	enum vmaq_backend id;
	/* 1 if the kernel answers this backend on @fd, 0 if not, -ESRCH. */
	int (*probe)(int fd);
	/* The backend's state for one handle (NULL is fine). */
	int (*open)(struct vmaq_maps *m, void **be);
	/*
	 * The same for another process of this kernel, from a handle's
	 * state @like (NULL: open): what open() asks the kernel, it knows.
	 */
	int (*open_like)(struct vmaq_maps *m, const void *like, void **be);
	void (*close)(void *be);
	/* 0 while the address space exists, -ESRCH once it is gone. */
	int (*alive)(struct vmaq_maps *m, void *be);
	/* Bytes of per-walk state (zeroed), and what frees what it holds. */
	size_t walk_size;
	void (*walk_fini)(struct vmaq_walk *w);
	/*
	 * The first VMA matching w->flags with end > @addr, or -ENOENT past
	 * the last, finished (vmaq_rec_finish()), build ID included if asked.
	 */
	int (*next)(struct vmaq_walk *w, uint64_t addr, struct vmaq_rec *rec);
	/*
	 * Optional: ->next()'s record and as many after it as come without
	 * another step of the backend's (at least one), into @sink: a
	 * table's or an iterator's step, without a call per record. A name
	 * the backend cannot lend from its own storage is in @rec, and the
	 * records end there. -ENOENT past the last.
	 */
	int (*next_many)(struct vmaq_walk *w, uint64_t addr,
			 const struct vmaq_scan_sink *sink, struct vmaq_rec *rec);
	/*
	 * Optional: the VMA covering @addr, or (VMAQ_NEXT in @flags) the
	 * next, finished as ->next() finishes it. No walk: a find is one
	 * ioctl, and the state of a walk would cost more to set up and
	 * tear down than the library's part of the ioctl (@be is the
	 * handle's state, as in ->generation()).
	 */
	int (*find)(struct vmaq_maps *m, void *be, unsigned int flags,
		    uint64_t addr, struct vmaq_rec *rec);
	/*
	 * Optional: @count addresses, sorted ascending; @kidx gets per
	 * address the slot @add gave its record, or UINT32_MAX.
	 */
	int (*lookup)(struct vmaq_walk *w, const uint64_t *sorted, size_t count,
		      vmaq_add_fn add, void *ctx, uint32_t *kidx);
	/* Optional: the address-space generation. */
	int (*generation)(struct vmaq_maps *m, void *be, uint64_t *gen);
};

/*
 * Tests only: the batch backend's walks ask for at most @records a call
 * (0: the default), so that runs of records end in every place a test
 * needs them to.
 */
void vmaq_batch_test_cap(uint32_t records);

extern const struct vmaq_backend_ops vmaq_text_ops;
extern const struct vmaq_backend_ops vmaq_query_ops;
extern const struct vmaq_backend_ops vmaq_batch_ops;

#endif /* VMAQUERY_BACKEND_H */
