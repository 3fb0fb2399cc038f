// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * PROCMAP_QUERY_BATCH backend (kernels with the vmaquery series): walks
 * fetch many records per ioctl in range mode, lookups resolve many
 * sorted addresses per ioctl in address mode, and the address-space
 * generation makes staleness checks one cheap system call
 * (PROCMAP_QUERY_GENERATION, or a batch call with nothing to look up on
 * the first 6.12 series, which has no such command).
 *
 * The first 6.12 series clips a range-mode record that starts below the
 * range's start to it; the 7.3 series returns whole VMAs. Either way a
 * walk only resumes from 0 or from the end of the VMA it returned last,
 * so the two agree; a lookup of an arbitrary address uses address mode.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/vmaquery_uapi.h>

#include "internal.h"

/* Records per walk call: small first (vmaq_find, short walks), then more. */
#define FIRST_CHUNK	32u
#define MAX_CHUNK	1024u
/*
 * Addresses per address-mode call: the 7.3 series takes any number, the
 * first 6.12 series at most 65536.
 */
#define LOOKUP_CHUNK	65536u
/* String bytes per record asked for; never less than one longest name. */
#define STR_PER_REC	128u
#define STR_MIN		(PATH_MAX + VMAQ_BUILD_ID_MAX)

static int batch_ioctl(int fd, struct procmap_batch *b)
{
	int ret;

	do {
		ret = ioctl(fd, PROCMAP_QUERY_BATCH, b);
	} while (ret < 0 && errno == EINTR);
	return ret < 0 ? -errno : 0;
}

static void batch_init(struct procmap_batch *b, uint64_t flags)
{
	memset(b, 0, sizeof(*b));
	b->size = sizeof(*b);
	b->flags = flags;
}

int vmaq_batch_generation(int fd, uint64_t *gen)
{
	struct procmap_batch b;
	int err;

	if (!ioctl(fd, PROCMAP_QUERY_GENERATION, gen))
		return 0;
	if (errno != ENOTTY)
		return -errno;
	batch_init(&b, 0);
	err = batch_ioctl(fd, &b);
	if (!err)
		*gen = b.generation;
	return err;
}

int vmaq_batch_probe(int fd)
{
	uint64_t gen;
	int err = vmaq_batch_generation(fd, &gen);

	if (!err)
		return 1;
	if (err == -ESRCH)
		return -ESRCH;
	/* ENOTTY without the series; anything else: not usable either */
	return 0;
}

/* The kernel's filters for the library's flags (VMAQ_ANON has none). */
static uint64_t kernel_flags(unsigned int flags)
{
	uint64_t k = 0;

	if (flags & VMAQ_READ)
		k |= PROCMAP_QUERY_VMA_READABLE;
	if (flags & VMAQ_WRITE)
		k |= PROCMAP_QUERY_VMA_WRITABLE;
	if (flags & VMAQ_EXEC)
		k |= PROCMAP_QUERY_VMA_EXECUTABLE;
	if (flags & VMAQ_SHARED)
		k |= PROCMAP_QUERY_VMA_SHARED;
	if (flags & VMAQ_FILE)
		k |= PROCMAP_QUERY_FILE_BACKED_VMA;
	if (flags & VMAQ_NAME)
		k |= PROCMAP_BATCH_NAMES;
	if (flags & VMAQ_BUILD_ID)
		k |= PROCMAP_BATCH_BUILD_IDS;
	return k;
}

/* One kernel record, and its strings, as the library's record. */
static void fill_from_record(struct vmaq_rec *rec, const struct procmap_vma_record *r,
			     const char *strs)
{
	struct vmaq_vma *v = &rec->vma;

	VMAQ_VMA_FROM_KERNEL(v, r);
	v->name = NULL;
	if (r->name_size > 1 && r->name_size <= sizeof(rec->name)) {
		memcpy(rec->name, strs + r->name_off, r->name_size);
		rec->name[r->name_size - 1] = '\0';
		v->name = rec->name;
	}
	v->build_id = NULL;
	v->build_id_size = 0;
	if (r->build_id_size && r->build_id_size <= sizeof(rec->build_id)) {
		memcpy(rec->build_id, strs + r->build_id_off, r->build_id_size);
		v->build_id = rec->build_id;
		v->build_id_size = r->build_id_size;
	}
}

/* Room for @n records and their strings in the walk's buffers. */
static int walk_grow(struct vmaq_walk *w, uint32_t n)
{
	size_t strs = (w->flags & (VMAQ_NAME | VMAQ_BUILD_ID)) ?
		      (size_t)n * STR_PER_REC : 0;
	void *p;

	if (strs && strs < STR_MIN)
		strs = STR_MIN;
	if (n <= w->bcap)
		return 0;
	p = realloc(w->brecs, (size_t)n * sizeof(struct procmap_vma_record));
	if (!p)
		return -ENOMEM;
	w->brecs = p;
	if (strs) {
		p = realloc(w->bstrs, strs);
		if (!p)
			return -ENOMEM;
		w->bstrs = p;
	}
	w->bcap = n;
	w->bstrs_size = (uint32_t)strs;
	return 0;
}

/* Fetch the records from @addr on; the walk then covers [from, cursor). */
static int walk_fill(struct vmaq_walk *w, uint64_t addr)
{
	uint32_t chunk = w->bcap ? w->bcap * 2 : FIRST_CHUNK;
	struct procmap_batch b;
	int err;

	if (chunk > MAX_CHUNK)
		chunk = MAX_CHUNK;
	err = walk_grow(w, chunk);
	if (err)
		return err;
	/* the generation before the walk's first record: the records are at least this new */
	if (!w->have_gen) {
		err = vmaq_batch_generation(w->proc->fd, &w->gen);
		if (err)
			return err;
		w->have_gen = true;
	}
	batch_init(&b, kernel_flags(w->flags) | PROCMAP_BATCH_RANGE);
	b.start = addr;
	b.end = UINT64_MAX;
	b.rec_size = sizeof(struct procmap_vma_record);
	b.rec_count = w->bcap;
	b.recs_addr = (uintptr_t)w->brecs;
	if (w->bstrs_size) {
		b.strs_size = w->bstrs_size;
		b.strs_addr = (uintptr_t)w->bstrs;
	}
	err = batch_ioctl(w->proc->fd, &b);
	if (err)
		return err;
	kernel_wrote(w->brecs, (size_t)b.rec_count * sizeof(struct procmap_vma_record));
	if (b.strs_size)
		kernel_wrote(w->bstrs, b.strs_size);
	w->bfrom = addr;
	w->bcursor = b.start;
	w->bn = b.rec_count;
	w->bpos = 0;
	w->bvalid = true;
	return 0;
}

static int batch_next(struct vmaq_walk *w, uint64_t addr, struct vmaq_rec *rec)
{
	const struct procmap_vma_record *r;
	int err;

	for (;;) {
		if (w->bvalid && addr >= w->bfrom && addr < w->bcursor) {
			r = w->brecs;
			while (w->bpos < w->bn && r[w->bpos].vma_end <= addr)
				w->bpos++;
			if (w->bpos < w->bn) {
				/*
				 * Range mode clips a VMA that covers the start
				 * of the call. The walk starts each call at the
				 * last record's end: a clipped VMA grew over it
				 * since (merge, mremap), and as a record of its
				 * own it would describe a map that never was.
				 */
				if (r[w->bpos].rec_flags & PROCMAP_VMA_CLIPPED)
					return -EAGAIN;
				fill_from_record(rec, &r[w->bpos++], w->bstrs);
				if (vmaq_match(&rec->vma, w->flags))
					return 0;
				addr = rec->vma.end;	/* VMAQ_ANON: not the kernel's */
				if (!addr)
					return -ENOENT;
				continue;
			}
			/* nothing left below the cursor */
			addr = w->bcursor;
		}
		if (w->bvalid && w->bcursor == UINT64_MAX && addr >= w->bcursor)
			return -ENOENT;
		err = walk_fill(w, addr);
		if (err)
			return err;
	}
}

const struct vmaq_backend_ops vmaq_batch_ops = {
	.next = batch_next,
};

/*
 * The VMA covering @addr (the gate VMA included), or with VMAQ_NEXT the
 * first one above it, in address mode: range mode would clip a VMA that
 * starts below @addr.
 */
int vmaq_batch_find(struct vmaq_proc *proc, uint64_t addr, unsigned int flags,
		    struct vmaq_rec *rec)
{
	struct procmap_vma_record r;
	char strs[STR_MIN];
	struct procmap_batch b;
	uint32_t index;
	int err;

	batch_init(&b, kernel_flags(flags));
	b.addr_count = 1;
	b.addrs_addr = (uintptr_t)&addr;
	b.index_addr = (uintptr_t)&index;
	b.rec_size = sizeof(r);
	b.rec_count = 1;
	b.recs_addr = (uintptr_t)&r;
	if (flags & (VMAQ_NAME | VMAQ_BUILD_ID)) {
		b.strs_size = sizeof(strs);
		b.strs_addr = (uintptr_t)strs;
	}
	err = batch_ioctl(proc->fd, &b);
	if (err)
		return err;
	if (index == 0) {
		kernel_wrote(&r, sizeof(r));
		kernel_wrote(strs, b.strs_size);
		fill_from_record(rec, &r, strs);
		if (vmaq_match(&rec->vma, flags))
			return 0;
		/* VMAQ_ANON and a file VMA: the next one, if asked */
		addr = rec->vma.end;
		if (!addr)
			return -ENOENT;	/* it ends at the top */
	}
	if (!(flags & VMAQ_NEXT))
		return -ENOENT;
	/* nothing (matching) covers addr: the next one starts above it */
	{
		struct vmaq_walk w;

		vmaq_walk_init(&w, proc, flags);
		err = batch_next(&w, addr, rec);
		vmaq_walk_fini(&w);
	}
	return err;
}

/*
 * Resolve @count addresses, sorted ascending, into @t (one entry per
 * distinct VMA) and @idx (per address: an entry of @t, or UINT32_MAX),
 * LOOKUP_CHUNK at a time, resuming where the kernel's records ran out.
 */
int vmaq_batch_lookup(struct vmaq_proc *proc, const uint64_t *sorted,
		      size_t count, unsigned int flags,
		      int (*add)(void *ctx, const struct vmaq_vma *vma, uint32_t *slot),
		      void *ctx, uint32_t *kidx)
{
	uint32_t cap = count < 4096 ? (uint32_t)count : 4096;
	size_t done = 0, strs_size = 0;
	struct procmap_vma_record *recs;
	struct vmaq_rec *rec;
	uint32_t *slots;
	char *strs = NULL;
	int err = 0;

	if (flags & (VMAQ_NAME | VMAQ_BUILD_ID))
		strs_size = (size_t)cap * STR_PER_REC < STR_MIN ? STR_MIN :
			    (size_t)cap * STR_PER_REC;
	recs = malloc((size_t)cap * sizeof(*recs));
	slots = malloc((size_t)cap * sizeof(*slots));
	rec = malloc(sizeof(*rec));
	if (strs_size)
		strs = malloc(strs_size);
	if (!recs || !slots || !rec || (strs_size && !strs)) {
		err = -ENOMEM;
		goto out;
	}
	while (done < count) {
		size_t n = count - done;
		struct procmap_batch b;

		if (n > LOOKUP_CHUNK)
			n = LOOKUP_CHUNK;
		batch_init(&b, kernel_flags(flags));
		b.addr_count = (uint32_t)n;
		b.addrs_addr = (uintptr_t)(sorted + done);
		b.index_addr = (uintptr_t)(kidx + done);
		b.rec_size = sizeof(*recs);
		b.rec_count = cap;
		b.recs_addr = (uintptr_t)recs;
		b.strs_size = (uint32_t)strs_size;
		b.strs_addr = (uintptr_t)strs;
		err = batch_ioctl(proc->fd, &b);
		if (err)
			break;
		kernel_wrote(kidx + done, n * sizeof(*kidx));
		kernel_wrote(recs, (size_t)b.rec_count * sizeof(*recs));
		if (b.strs_size)
			kernel_wrote(strs, b.strs_size);
		if (!b.resolved) {
			err = -EIO;	/* no progress: cannot happen with room for one */
			break;
		}
		for (uint32_t i = 0; i < b.rec_count; i++) {
			fill_from_record(rec, &recs[i], strs);
			slots[i] = UINT32_MAX;
			if (!vmaq_match(&rec->vma, flags))
				continue;	/* VMAQ_ANON: not the kernel's */
			err = add(ctx, &rec->vma, &slots[i]);
			if (err)
				goto out;
		}
		for (size_t k = done; k < done + b.resolved; k++)
			kidx[k] = kidx[k] < b.rec_count ? slots[kidx[k]] : UINT32_MAX;
		done += b.resolved;
	}
out:
	free(recs);
	free(slots);
	free(rec);
	free(strs);
	return err;
}
