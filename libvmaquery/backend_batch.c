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

#include "backend.h"

/* A walk's: the records of the last range call. */
struct batch_walk {
	struct procmap_vma_record *recs;
	char *strs;
	uint32_t cap, strs_size, n, pos;
	uint64_t from, cursor;	/* they cover [from, cursor) */
	bool valid;
	struct vmaq_text_copy text;	/* for names too long for the kernel */
	bool text_names;	/* the last call's records have no names */
};

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

/*
 * A call of a walk: the first 6.12 series fails a whole call with
 * ENAMETOOLONG when one name is longer than PATH_MAX. Then the call is
 * made again without names, which the walk takes from the text
 * (*text_names set).
 */
static int walk_ioctl(struct vmaq_walk *w, struct procmap_batch *b,
		      bool *text_names)
{
	int err = batch_ioctl(w->maps->fd, b);

	*text_names = false;
	if (err == -ENAMETOOLONG && (b->flags & PROCMAP_BATCH_NAMES)) {
		b->flags &= ~(uint64_t)PROCMAP_BATCH_NAMES;
		err = batch_ioctl(w->maps->fd, b);
		*text_names = !err;
	}
	return err;
}

static void batch_init(struct procmap_batch *b, uint64_t flags)
{
	memset(b, 0, sizeof(*b));
	b->size = sizeof(*b);
	b->flags = flags;
}

static int batch_generation_fd(int fd, uint64_t *gen)
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

static int batch_generation(struct vmaq_maps *m, uint64_t *gen)
{
	return batch_generation_fd(m->fd, gen);
}

static int batch_probe(int fd)
{
	uint64_t gen;
	int err = batch_generation_fd(fd, &gen);

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
	uint64_t k = vmaq_kernel_filters(flags);

	if (flags & VMAQ_NAME)
		k |= PROCMAP_BATCH_NAMES;
	if (flags & VMAQ_BUILD_ID)
		k |= PROCMAP_BATCH_BUILD_IDS;
	return k;
}

/*
 * One kernel record, and its strings, as the library's record, finished.
 * A name longer than the kernel returns (PATH_MAX) is the text's.
 */
static int fill_from_record(struct vmaq_walk *w, unsigned int flags,
			    struct vmaq_rec *rec,
			    const struct procmap_vma_record *r, const char *strs,
			    bool text_names)
{
	struct vmaq_vma *v = &rec->vma;
	int err;

	VMAQ_VMA_FROM_KERNEL(v, r);
	v->name = NULL;
	v->name_len = 0;
	if (r->name_size > 1) {
		err = vmaq_rec_set_name(rec, strs + r->name_off, r->name_size - 1);
		if (err)
			return err;
	}
	v->build_id = NULL;
	v->build_id_size = 0;
	if (r->build_id_size && r->build_id_size <= sizeof(rec->build_id)) {
		memcpy(rec->build_id, strs + r->build_id_off, r->build_id_size);
		v->build_id = rec->build_id;
		v->build_id_size = r->build_id_size;
	}
	/*
	 * A file always has a name: one without is too long for the kernel
	 * to return (the first 6.12 series gives no flag to say so).
	 */
	if ((flags & VMAQ_NAME) && (text_names ||
				    (r->rec_flags & PROCMAP_VMA_NAME_TOO_LONG) ||
				    (!v->name && (v->flags & VMAQ_FILE)))) {
		struct batch_walk *bw = w->priv;

		err = vmaq_maps_long_name(w->maps, &bw->text, rec);
		if (err)
			return err;
	}
	vmaq_rec_finish(rec, flags, !(flags & VMAQ_NAME) ? 0 :
			(r->rec_flags & PROCMAP_VMA_FILE_DELETED) ? 1 :
			vmaq_maps_deleted(w->maps, &w->deleted, v));
	if ((flags & VMAQ_NAME) && (r->rec_flags & PROCMAP_VMA_GATE))
		v->kind = VMAQ_KIND_GATE;
	return 0;
}

/* The one filter the kernel cannot apply: VMAQ_ANON. */
static bool anon_ok(const struct procmap_vma_record *r, unsigned int flags)
{
	return !(flags & VMAQ_ANON) || !(r->dev_major || r->dev_minor || r->inode);
}

/* Room for @n records and their strings in the walk's buffers. */
static int walk_grow(struct vmaq_walk *w, struct batch_walk *bw, uint32_t n)
{
	size_t strs = (w->flags & (VMAQ_NAME | VMAQ_BUILD_ID)) ?
		      (size_t)n * STR_PER_REC : 0;
	void *p;

	if (strs && strs < STR_MIN)
		strs = STR_MIN;
	if (n <= bw->cap)
		return 0;
	p = realloc(bw->recs, (size_t)n * sizeof(struct procmap_vma_record));
	if (!p)
		return -ENOMEM;
	bw->recs = p;
	if (strs) {
		p = realloc(bw->strs, strs);
		if (!p)
			return -ENOMEM;
		bw->strs = p;
	}
	bw->cap = n;
	bw->strs_size = (uint32_t)strs;
	return 0;
}

/* Fetch the records from @addr on; the walk then covers [from, cursor). */
static int walk_fill(struct vmaq_walk *w, uint64_t addr)
{
	struct batch_walk *bw = w->priv;
	uint32_t chunk = bw->cap ? bw->cap * 2 :
			 w->whole ? MAX_CHUNK : FIRST_CHUNK;
	struct procmap_batch b;
	int err;

	if (chunk > MAX_CHUNK)
		chunk = MAX_CHUNK;
	err = walk_grow(w, bw, chunk);
	if (err)
		return err;
	/* the generation before the walk's first record: the records are at least this new */
	if (!w->have_gen) {
		err = batch_generation_fd(w->maps->fd, &w->gen);
		if (err)
			return err;
		w->have_gen = true;
	}
	batch_init(&b, kernel_flags(w->flags) | PROCMAP_BATCH_RANGE);
	b.start = addr;
	b.end = UINT64_MAX;
	b.rec_size = sizeof(struct procmap_vma_record);
	b.rec_count = bw->cap;
	b.recs_addr = (uintptr_t)bw->recs;
	if (bw->strs_size) {
		b.strs_size = bw->strs_size;
		b.strs_addr = (uintptr_t)bw->strs;
	}
	err = walk_ioctl(w, &b, &bw->text_names);
	if (err)
		return err;
	kernel_wrote(bw->recs, (size_t)b.rec_count * sizeof(struct procmap_vma_record));
	if (b.strs_size)
		kernel_wrote(bw->strs, b.strs_size);
	bw->from = addr;
	bw->cursor = b.start;
	bw->n = b.rec_count;
	bw->pos = 0;
	bw->valid = true;
	return 0;
}

static int batch_next(struct vmaq_walk *w, uint64_t addr, struct vmaq_rec *rec)
{
	struct batch_walk *bw = w->priv;
	const struct procmap_vma_record *r;
	int err;

	for (;;) {
		if (bw->valid && addr >= bw->from && addr < bw->cursor) {
			r = bw->recs;
			while (bw->pos < bw->n && r[bw->pos].vma_end <= addr)
				bw->pos++;
			if (bw->pos < bw->n) {
				/*
				 * Range mode clips a VMA that covers the start
				 * of the call. The walk starts each call at the
				 * last record's end: a clipped VMA grew over it
				 * since (merge, mremap), and as a record of its
				 * own it would describe a map that never was.
				 */
				if (r[bw->pos].rec_flags & PROCMAP_VMA_CLIPPED)
					return -EAGAIN;
				/* VMAQ_ANON is not the kernel's to filter */
				if (!anon_ok(&r[bw->pos], w->flags)) {
					addr = r[bw->pos++].vma_end;
					if (!addr)
						return -ENOENT;
					continue;
				}
				return fill_from_record(w, w->flags, rec,
							&r[bw->pos++], bw->strs,
							bw->text_names);
			}
			/* nothing left below the cursor */
			addr = bw->cursor;
		}
		if (bw->valid && bw->cursor == UINT64_MAX && addr >= bw->cursor)
			return -ENOENT;
		err = walk_fill(w, addr);
		if (err)
			return err;
	}
}

/*
 * The VMA covering @addr (the gate VMA included), or with VMAQ_NEXT the
 * first one above it, in address mode: range mode would clip a VMA that
 * starts below @addr.
 */
static int batch_find(struct vmaq_walk *w, uint64_t addr, struct vmaq_rec *rec)
{
	struct procmap_vma_record r;
	struct procmap_batch b;
	uint32_t index;
	char *strs = NULL;
	bool text_names;
	int err;

	if (w->flags & (VMAQ_NAME | VMAQ_BUILD_ID)) {
		strs = malloc(STR_MIN);
		if (!strs)
			return -ENOMEM;
	}
	batch_init(&b, kernel_flags(w->flags));
	b.addr_count = 1;
	b.addrs_addr = (uintptr_t)&addr;
	b.index_addr = (uintptr_t)&index;
	b.rec_size = sizeof(r);
	b.rec_count = 1;
	b.recs_addr = (uintptr_t)&r;
	if (strs) {
		b.strs_size = STR_MIN;
		b.strs_addr = (uintptr_t)strs;
	}
	err = walk_ioctl(w, &b, &text_names);
	if (!err && index == 0) {
		kernel_wrote(&r, sizeof(r));
		if (b.strs_size)
			kernel_wrote(strs, b.strs_size);
		if (anon_ok(&r, w->flags)) {
			err = fill_from_record(w, w->flags, rec, &r, strs,
					       text_names);
			free(strs);
			return err;
		}
		/* VMAQ_ANON and a file VMA: the next one, if asked */
		addr = r.vma_end;
		if (!addr)
			err = -ENOENT;	/* it ends at the top */
	}
	free(strs);
	if (err)
		return err;
	if (!(w->flags & VMAQ_NEXT))
		return -ENOENT;
	/* nothing (matching) covers addr: the next one starts above it */
	return batch_next(w, addr, rec);
}

/*
 * Resolve @count addresses, sorted ascending: @kidx gets per address the
 * slot @add gave its record, or UINT32_MAX. LOOKUP_CHUNK at a time,
 * resuming where the kernel's records ran out.
 */
static int batch_lookup(struct vmaq_walk *w, const uint64_t *sorted,
			size_t count, vmaq_add_fn add, void *ctx, uint32_t *kidx)
{
	uint32_t cap = count < 4096 ? (uint32_t)count : 4096;
	size_t done = 0, strs_size = 0;
	struct procmap_vma_record *recs;
	struct vmaq_rec rec;
	uint32_t *slots;
	char *strs = NULL;
	bool text_names;
	int err = 0;

	if (!count)
		return 0;
	vmaq_rec_init(&rec);
	if (w->flags & (VMAQ_NAME | VMAQ_BUILD_ID))
		strs_size = (size_t)cap * STR_PER_REC < STR_MIN ? STR_MIN :
			    (size_t)cap * STR_PER_REC;
	recs = malloc((size_t)cap * sizeof(*recs));
	slots = malloc((size_t)cap * sizeof(*slots));
	if (strs_size)
		strs = malloc(strs_size);
	if (!recs || !slots || (strs_size && !strs)) {
		err = -ENOMEM;
		goto out;
	}
	while (done < count) {
		size_t n = count - done;
		struct procmap_batch b;

		if (n > LOOKUP_CHUNK)
			n = LOOKUP_CHUNK;
		batch_init(&b, kernel_flags(w->flags));
		b.addr_count = (uint32_t)n;
		b.addrs_addr = (uintptr_t)(sorted + done);
		b.index_addr = (uintptr_t)(kidx + done);
		b.rec_size = sizeof(*recs);
		b.rec_count = cap;
		b.recs_addr = (uintptr_t)recs;
		b.strs_size = (uint32_t)strs_size;
		b.strs_addr = (uintptr_t)strs;
		err = walk_ioctl(w, &b, &text_names);
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
			slots[i] = UINT32_MAX;
			if (!anon_ok(&recs[i], w->flags))
				continue;
			err = fill_from_record(w, w->flags, &rec, &recs[i], strs,
					       text_names);
			if (!err)
				err = add(ctx, &rec.vma, &slots[i]);
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
	free(strs);
	vmaq_rec_fini(&rec);
	return err;
}

static int batch_open(struct vmaq_maps *m, void **be)
{
	(void)m;
	*be = NULL;
	return 0;
}

static void batch_close(void *be)
{
	(void)be;
}

static int batch_alive(struct vmaq_maps *m, void *be)
{
	int q = batch_probe(m->fd);

	(void)be;
	return q < 0 ? q : 0;
}

static void batch_walk_fini(struct vmaq_walk *w)
{
	struct batch_walk *bw = w->priv;

	free(bw->recs);
	free(bw->strs);
	vmaq_text_copy_fini(&bw->text);
}

_Static_assert(sizeof(struct batch_walk) <= sizeof(((struct vmaq_walk *)0)->inline_priv),
	       "a walk's state lives in the walk: no allocation per find");

const struct vmaq_backend_ops vmaq_batch_ops = {
	.id = VMAQ_BACKEND_BATCH,
	.probe = batch_probe,
	.open = batch_open,
	.close = batch_close,
	.alive = batch_alive,
	.walk_size = sizeof(struct batch_walk),
	.walk_fini = batch_walk_fini,
	.next = batch_next,
	.find = batch_find,
	.lookup = batch_lookup,
	.generation = batch_generation,
};
