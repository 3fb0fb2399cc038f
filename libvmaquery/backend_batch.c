// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * PROCMAP_QUERY_BATCH backend (kernels with the vmaquery series): walks
 * fetch many records per ioctl in range mode, lookups resolve many
 * sorted addresses per ioctl in address mode, and the address-space
 * generation makes staleness checks one cheap system call
 * (PROCMAP_QUERY_GENERATION, or a batch call with nothing to look up on
 * the first 6.12 series, which has no such command); a table's walk
 * takes it from its own first call, at no cost.
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

/*
 * Room for the kernel's records and strings. Fresh buffers of this size
 * are mapped pages that every call would fault in again (under TCG,
 * 4,096-record calls into fresh buffers made a 2,200-VMA snapshot take
 * twice as long as with these kept), so the last ones freed are kept for
 * the next walk, find or lookup of any handle: one set per process,
 * taken and given back with an atomic exchange, so that threads never
 * share one, and freed when the library is unloaded.
 */
struct batch_bufs {
	struct procmap_vma_record *recs;
	char *strs;
	uint32_t cap, strs_size;
};

static struct batch_bufs *spare_bufs;

/*
 * A handle's: whether the kernel speaks the 7.3 series' ABI (it takes
 * PROCMAP_BATCH_GENERATION and has PROCMAP_QUERY_GENERATION).
 */
struct batch_proc {
	bool gen_flag;
};

/* A walk's: the records of the last range call. */
struct batch_walk {
	struct batch_bufs *bufs;
	uint32_t ask;		/* records the next call asks for */
	uint32_t n, pos;
	uint64_t from, cursor;	/* they cover [from, cursor) */
	bool valid;
	bool called;		/* a call was made: the generation was asked for */
	struct vmaq_text_copy text;	/* for names too long for the kernel */
	bool text_names;	/* the last call's records have no names */
	uint32_t strs_len;	/* string bytes the last call used */
};

/*
 * Records per walk call: few first (an iterator may stop after one),
 * then eight times more each call, up to the most a call is worth: the
 * kernel's cost per call is small beside 4,096 records'.
 */
#define FIRST_CHUNK	32u
#define CHUNK_GROWTH	8u
#define MAX_CHUNK	4096u
/*
 * Addresses per address-mode call: the 7.3 series takes any number, the
 * first 6.12 series at most 65536.
 */
#define LOOKUP_CHUNK	65536u
/* Records of a lookup whose slots need no allocation. */
#define SMALL_SLOTS	64u
/* String bytes per record asked for; never less than one longest name. */
#define STR_PER_REC	128u
#define STR_MIN		(PATH_MAX + VMAQ_BUILD_ID_MAX)

static void bufs_free(struct batch_bufs *b)
{
	if (!b)
		return;
	free(b->recs);
	free(b->strs);
	free(b);
}

__attribute__((destructor)) static void bufs_unload(void)
{
	bufs_free(__atomic_exchange_n(&spare_bufs, NULL, __ATOMIC_ACQUIRE));
}

/*
 * Make @*bp (taking the spare set if it is NULL) hold @n records and
 * @strs string bytes. What the buffers held is not kept: every caller
 * has copied out what it needed from the last call.
 */
static int bufs_get(struct batch_bufs **bp, uint32_t n, size_t strs)
{
	struct batch_bufs *b = *bp;
	void *p;

	if (!b) {
		b = __atomic_exchange_n(&spare_bufs, NULL, __ATOMIC_ACQUIRE);
		if (!b)
			b = calloc(1, sizeof(*b));
		if (!b)
			return -ENOMEM;
		*bp = b;
	}
	if (strs > UINT32_MAX)
		return -ENOMEM;
	if (n > b->cap) {
		p = malloc((size_t)n * sizeof(struct procmap_vma_record));
		if (!p)
			return -ENOMEM;
		free(b->recs);
		b->recs = p;
		b->cap = n;
	}
	if (strs > b->strs_size) {
		p = malloc(strs);
		if (!p)
			return -ENOMEM;
		free(b->strs);
		b->strs = p;
		b->strs_size = (uint32_t)strs;
	}
	return 0;
}

/* Give @b back for the next call to take; one spare set is kept. */
static void bufs_put(struct batch_bufs *b)
{
	struct batch_bufs *none = NULL;

	if (b && !__atomic_compare_exchange_n(&spare_bufs, &none, b, false,
					      __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		bufs_free(b);
}

/* String bytes to ask for with @n records under @flags. */
static size_t strs_for(unsigned int flags, uint32_t n)
{
	size_t strs = (size_t)n * STR_PER_REC;

	if (!(flags & (VMAQ_NAME | VMAQ_BUILD_ID)))
		return 0;
	return strs < STR_MIN ? STR_MIN : strs;
}

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

/*
 * The generation: PROCMAP_QUERY_GENERATION (which waits for a writer
 * busy with the map), or, on the first 6.12 series, which has no such
 * command, from a batch call with nothing to look up.
 */
static int batch_generation_fd(int fd, bool have_cmd, uint64_t *gen)
{
	struct procmap_batch b;
	int err;

	if (have_cmd) {
		if (!ioctl(fd, PROCMAP_QUERY_GENERATION, gen))
			return 0;
		if (errno != ENOTTY)
			return -errno;
	}
	batch_init(&b, 0);
	err = batch_ioctl(fd, &b);
	if (!err)
		*gen = b.generation;
	return err;
}

static int batch_generation(struct vmaq_maps *m, void *be, uint64_t *gen)
{
	const struct batch_proc *bp = be;

	return batch_generation_fd(m->fd, bp->gen_flag, gen);
}

/*
 * Which ABI the kernel speaks, from a batch call with nothing to look
 * up, which never waits: 2 for the 7.3 series' (PROCMAP_BATCH_GENERATION
 * and PROCMAP_QUERY_GENERATION), 1 for the first 6.12 series' (which
 * rejects the flag), 0 without the ioctl, or -ESRCH.
 */
static int batch_abi(int fd)
{
	struct procmap_batch b;
	int err;

	batch_init(&b, PROCMAP_BATCH_GENERATION);
	err = batch_ioctl(fd, &b);
	if (err == -EINVAL) {
		batch_init(&b, 0);
		err = batch_ioctl(fd, &b);
		if (!err)
			return 1;
	}
	if (!err)
		return 2;
	if (err == -ESRCH)
		return -ESRCH;
	/* ENOTTY without the series; anything else: not usable either */
	return 0;
}

static int batch_probe(int fd)
{
	int abi = batch_abi(fd);

	return abi < 0 ? abi : abi > 0;
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
 * A name longer than the kernel returns (PATH_MAX) is the text's. With
 * w->lend, the name and build ID stay in @strs, the call's string area
 * (@strs_len bytes used), where the kernel wrote them, and the record is
 * valid as long as that is.
 */
static inline __attribute__((always_inline)) int
fill_vma(struct vmaq_walk *w, unsigned int flags, struct vmaq_vma *v,
	 struct vmaq_rec *rec, const struct procmap_vma_record *r,
	 const char *strs, uint32_t strs_len, bool text_names)
{
	int err, deleted;

	VMAQ_VMA_FROM_KERNEL(v, r);
	v->name = NULL;
	v->name_len = 0;
	if (r->name_size > 1 && r->name_off < strs_len &&
	    r->name_size <= strs_len - r->name_off) {
		const char *name = strs + r->name_off;
		uint32_t len = r->name_size - 1;

		if (w->lend && !name[len]) {
			v->name = name;
			v->name_len = len;
		} else {
			err = vmaq_rec_set_name(rec, name, len);
			if (err)
				return err;
			v->name = rec->name;
			v->name_len = len;
		}
	}
	v->build_id = NULL;
	v->build_id_size = 0;
	if (r->build_id_size && r->build_id_size <= sizeof(rec->build_id) &&
	    r->build_id_off < strs_len &&
	    r->build_id_size <= strs_len - r->build_id_off) {
		if (w->lend) {
			v->build_id = (const unsigned char *)strs + r->build_id_off;
		} else {
			memcpy(rec->build_id, strs + r->build_id_off, r->build_id_size);
			v->build_id = rec->build_id;
		}
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

		if (v != &rec->vma)
			rec->vma = *v;
		err = vmaq_maps_long_name(w->maps, &bw->text, rec);
		if (err)
			return err;
		v->name = rec->vma.name;
		v->name_len = rec->vma.name_len;
	}
	/*
	 * The kernel's flag where it gives one, else the name's " (deleted)"
	 * looked into as the other backends do: the 7.3 series does not flag
	 * every name the text calls deleted (/anon_hugepage (deleted)).
	 */
	if (!(flags & VMAQ_NAME))
		deleted = 0;
	else if (r->rec_flags & PROCMAP_VMA_FILE_DELETED)
		deleted = 1;
	else
		deleted = vmaq_maps_deleted(w->maps, &w->deleted, v);
	vmaq_vma_finish(v, flags, deleted);
	if ((flags & VMAQ_NAME) && (r->rec_flags & PROCMAP_VMA_GATE))
		v->kind = VMAQ_KIND_GATE;
	return 0;
}

/* The same into @rec's own record. */
static int fill_from_record(struct vmaq_walk *w, unsigned int flags,
			    struct vmaq_rec *rec,
			    const struct procmap_vma_record *r,
			    const char *strs, uint32_t strs_len, bool text_names)
{
	return fill_vma(w, flags, &rec->vma, rec, r, strs, strs_len, text_names);
}

/* The one filter the kernel cannot apply: VMAQ_ANON. */
static bool anon_ok(const struct procmap_vma_record *r, unsigned int flags)
{
	return !(flags & VMAQ_ANON) || !(r->dev_major || r->dev_minor || r->inode);
}

/* Tests only: at most this many records a walk call (0: as many as fit). */
static uint32_t test_cap;

void vmaq_batch_test_cap(uint32_t records)
{
	__atomic_store_n(&test_cap, records, __ATOMIC_RELAXED);
}

/* Fetch the records from @addr on; the walk then covers [from, cursor). */
static int walk_fill(struct vmaq_walk *w, uint64_t addr)
{
	const struct batch_proc *bp = w->be;
	struct batch_walk *bw = w->priv;
	bool want_gen = w->want_gen && !bw->called;
	uint64_t flags = kernel_flags(w->flags) | PROCMAP_BATCH_RANGE;
	struct batch_bufs *bufs;
	struct procmap_batch b;
	uint32_t cap, asked;
	size_t strs;
	int err;

	if (!bw->ask)
		bw->ask = w->whole ? MAX_CHUNK : FIRST_CHUNK;
	strs = strs_for(w->flags, bw->ask);
	err = bufs_get(&bw->bufs, bw->ask, strs);
	if (err)
		return err;
	bufs = bw->bufs;
	/*
	 * The generation before the walk's first record: the records are at
	 * least this new. The 7.3 series gives it with a flag, the first
	 * 6.12 series always.
	 */
	if (want_gen && bp->gen_flag)
		flags |= PROCMAP_BATCH_GENERATION;
again:
	batch_init(&b, flags);
	b.start = addr;
	b.end = UINT64_MAX;
	b.rec_size = sizeof(struct procmap_vma_record);
	b.rec_count = bw->ask;
	cap = __atomic_load_n(&test_cap, __ATOMIC_RELAXED);
	if (cap && cap < b.rec_count)
		b.rec_count = cap;
	b.recs_addr = (uintptr_t)bufs->recs;
	if (strs) {
		b.strs_size = (uint32_t)strs;
		b.strs_addr = (uintptr_t)bufs->strs;
	}
	asked = b.rec_count;
	err = walk_ioctl(w, &b, &bw->text_names);
	if (err)
		return err;
	/* never more records or string bytes than there was room for */
	if (b.rec_count > asked || b.strs_size > strs)
		return -EBADMSG;
	kernel_wrote(bufs->recs, (size_t)b.rec_count * sizeof(struct procmap_vma_record));
	if (b.strs_size)
		kernel_wrote(bufs->strs, b.strs_size);
	if (want_gen && b.generation) {
		w->gen = b.generation;
		w->have_gen = true;
	} else if (want_gen && (flags & PROCMAP_BATCH_GENERATION)) {
		/*
		 * 0: a writer held mmap_lock, and the call does not wait for
		 * it. PROCMAP_QUERY_GENERATION does; the call is then made
		 * again, so that its records are at least that new. A map
		 * that is always changing would otherwise leave every table
		 * without a generation, and every stale check a whole read.
		 * Without CONFIG_PER_VMA_LOCK there is none (EOPNOTSUPP), and
		 * the records stand.
		 */
		flags &= ~(uint64_t)PROCMAP_BATCH_GENERATION;
		err = batch_generation_fd(w->maps->fd, true, &w->gen);
		if (!err) {
			w->have_gen = true;
			goto again;
		}
		if (err != -EOPNOTSUPP)
			return err;
	}
	/* a call that did not move on would be made again forever */
	if (!b.rec_count && b.start <= addr && b.start != UINT64_MAX)
		return -EIO;
	bw->called = true;
	bw->from = addr;
	bw->cursor = b.start;
	bw->n = b.rec_count;
	bw->strs_len = strs ? b.strs_size : 0;
	bw->pos = 0;
	bw->valid = true;
	if (bw->ask < MAX_CHUNK)
		bw->ask = bw->ask * CHUNK_GROWTH < MAX_CHUNK ?
			  bw->ask * CHUNK_GROWTH : MAX_CHUNK;
	return 0;
}

/*
 * Whether the last call's records hold the first one ending above @addr
 * (bw->pos is then its index); when they cover @addr but hold none,
 * *@addr moves on to where that call stopped.
 */
static bool walk_at(struct batch_walk *bw, uint64_t *addr)
{
	const struct procmap_vma_record *r;

	if (!bw->valid || *addr < bw->from || *addr >= bw->cursor)
		return false;
	r = bw->bufs->recs;
	while (bw->pos < bw->n && r[bw->pos].vma_end <= *addr)
		bw->pos++;
	if (bw->pos < bw->n)
		return true;
	*addr = bw->cursor;
	return false;
}

/* The last call reached the end of the address space, and @addr is past it. */
static bool walk_past_end(const struct batch_walk *bw, uint64_t addr)
{
	return bw->valid && bw->cursor == UINT64_MAX && addr >= bw->cursor;
}

/*
 * fill_vma() for the records most of a run is made of: no flag from the
 * kernel, no build ID asked for, and the name (if any) lent from the
 * call's string area. False for any record it does not finish (a name
 * that is not a whole string there, a file without a name, a file name
 * ending in ')', which may be " (deleted)"): fill_vma() does those.
 */
static inline __attribute__((always_inline)) bool
fill_plain(struct vmaq_vma *v, const struct procmap_vma_record *r,
	   const char *strs, uint32_t strs_len, unsigned int flags)
{
	uint32_t len = r->name_size - 1;
	const char *name;

	VMAQ_VMA_FROM_KERNEL(v, r);
	v->size = (uint32_t)sizeof(*v);
	v->build_id = NULL;
	v->build_id_size = 0;
	v->name = NULL;
	v->name_len = 0;
	if (!(flags & VMAQ_NAME)) {
		v->kind = VMAQ_KIND_UNKNOWN;
		return true;
	}
	if (r->name_size <= 1) {
		v->kind = VMAQ_KIND_ANON;
		return !(v->flags & VMAQ_FILE);
	}
	if (r->name_off >= strs_len || r->name_size > strs_len - r->name_off)
		return false;
	name = strs + r->name_off;
	if (name[len] || ((v->flags & VMAQ_FILE) && name[len - 1] == ')'))
		return false;
	v->name = name;
	v->name_len = len;
	if (name[0] == '[')
		v->kind = vmaq_bracket_kind(v);
	else
		v->kind = v->flags & VMAQ_FILE ? VMAQ_KIND_FILE : VMAQ_KIND_ANON;
	return true;
}

static int batch_next(struct vmaq_walk *w, uint64_t addr, struct vmaq_rec *rec)
{
	struct batch_walk *bw = w->priv;
	const struct procmap_vma_record *r;
	int err;

	for (;;) {
		if (walk_at(bw, &addr)) {
			r = &bw->bufs->recs[bw->pos];
			/*
			 * Range mode clips a VMA that covers the start of the
			 * call. The walk starts each call at the last record's
			 * end: a clipped VMA grew over it since (merge,
			 * mremap), and as a record of its own it would
			 * describe a map that never was.
			 */
			if (r->rec_flags & PROCMAP_VMA_CLIPPED)
				return -EAGAIN;
			bw->pos++;
			/* VMAQ_ANON is not the kernel's to filter */
			if (!anon_ok(r, w->flags)) {
				addr = r->vma_end;
				if (!addr)
					return -ENOENT;
				continue;
			}
			return fill_from_record(w, w->flags, rec, r,
						bw->bufs->strs, bw->strs_len,
						bw->text_names);
		}
		if (walk_past_end(bw, addr))
			return -ENOENT;
		err = walk_fill(w, addr);
		if (err)
			return err;
	}
}

/*
 * The walk's records from bw->pos on into @sink, up to the end of the
 * last call's: how many were kept (0: every one was VMAQ_ANON's to drop),
 * or an error. Names stay in the call's string area; one the text gives
 * is in @rec, which the next one would overwrite, so the records stop
 * there. A clipped record stops them too, and is the next call's EAGAIN.
 */
static int convert_many(struct vmaq_walk *w, const struct vmaq_scan_sink *sink,
			struct vmaq_rec *rec)
{
	struct batch_walk *bw = w->priv;
	const struct procmap_vma_record *r = bw->bufs->recs;
	const char *strs = bw->bufs->strs;
	uint32_t pos = bw->pos, n = bw->n, strs_len = bw->strs_len;
	unsigned int flags = w->flags;
	/* runs of plain records: see fill_plain() */
	bool plain = w->lend && !bw->text_names &&
		     !(flags & (VMAQ_ANON | VMAQ_BUILD_ID));
	size_t room, k = 0;
	struct vmaq_vma *v;
	bool own = false;
	int err = 0;

	v = sink->room(sink->ctx, n - pos, &room);
	if (!v)
		return -ENOMEM;
	while (pos < n && k < room && !own) {
		const struct procmap_vma_record *x;

		/* a run of plain records (most are), in a loop of its own */
		if (plain) {
			uint32_t lim = n - pos <= room - k ? n : pos + (uint32_t)(room - k);

			while (pos < lim && !r[pos].rec_flags &&
			       fill_plain(&v[k], &r[pos], strs, strs_len, flags)) {
				pos++;
				k++;
			}
			if (pos == lim)
				break;
		}
		x = &r[pos];
		/* as in batch_next() */
		if (x->rec_flags & PROCMAP_VMA_CLIPPED) {
			if (!k)
				err = -EAGAIN;
			break;
		}
		if (!anon_ok(x, flags)) {
			pos++;
			continue;
		}
		err = fill_vma(w, flags, &v[k], rec, x, strs, strs_len,
			       bw->text_names);
		/*
		 * The records before it first, as batch_next() gives them:
		 * the failed one stays, to fail the next step.
		 */
		if (err) {
			if (k)
				err = 0;
			break;
		}
		pos++;
		own = (rec->name && v[k].name == rec->name) ||
		      v[k].build_id == rec->build_id;
		k++;
	}
	bw->pos = pos;
	if (err)
		return err;
	if (k) {
		err = sink->put(sink->ctx, v, k);
		if (err)
			return err;
	}
	return (int)k;
}

/*
 * Like batch_next(), many records at once: the first ending above @addr
 * and those after it that the walk's last call brought, into @sink.
 */
static int batch_next_many(struct vmaq_walk *w, uint64_t addr,
			   const struct vmaq_scan_sink *sink,
			   struct vmaq_rec *rec)
{
	struct batch_walk *bw = w->priv;
	int err;

	for (;;) {
		if (walk_at(bw, &addr)) {
			err = convert_many(w, sink, rec);
			if (err)
				return err < 0 ? err : 0;
			/* every one left was VMAQ_ANON's to drop */
			addr = bw->cursor;
		}
		if (walk_past_end(bw, addr))
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
static int find_in(struct vmaq_walk *w, uint64_t addr, struct vmaq_rec *rec)
{
	struct batch_bufs *bufs = NULL;
	const struct procmap_vma_record *r;
	size_t strs = strs_for(w->flags, 1);
	struct procmap_batch b;
	uint32_t index;
	bool text_names;
	int err;

	err = bufs_get(&bufs, 1, strs);
	if (err)
		goto out;
	r = bufs->recs;
	batch_init(&b, kernel_flags(w->flags));
	b.addr_count = 1;
	b.addrs_addr = (uintptr_t)&addr;
	b.index_addr = (uintptr_t)&index;
	b.rec_size = sizeof(*r);
	b.rec_count = 1;
	b.recs_addr = (uintptr_t)r;
	if (strs) {
		b.strs_size = (uint32_t)strs;
		b.strs_addr = (uintptr_t)bufs->strs;
	}
	err = walk_ioctl(w, &b, &text_names);
	if (!err) {
		kernel_wrote(&index, sizeof(index));
		/* one address, room for its record: resolved, and 0 or none */
		if (b.resolved != 1 || (index && index != PROCMAP_BATCH_NO_VMA) ||
		    (!index && b.rec_count != 1) || b.strs_size > strs)
			err = -EBADMSG;
	}
	if (!err && index == 0) {
		kernel_wrote(r, sizeof(*r));
		if (b.strs_size)
			kernel_wrote(bufs->strs, b.strs_size);
		if (anon_ok(r, w->flags)) {
			err = fill_from_record(w, w->flags, rec, r, bufs->strs,
					       b.strs_size, text_names);
			goto out;
		}
		/* VMAQ_ANON and a file VMA: the next one, if asked */
		addr = r->vma_end;
		if (!addr)
			err = -ENOENT;	/* it ends at the top */
	}
	if (!err && !(w->flags & VMAQ_NEXT))
		err = -ENOENT;
	if (err)
		goto out;
	/* nothing (matching) covers addr: the next one starts above it */
	bufs_put(bufs);
	return batch_next(w, addr, rec);
out:
	bufs_put(bufs);
	return err;
}

/*
 * Resolve @count addresses, sorted ascending: @kidx gets per address the
 * slot @add gave its record, or UINT32_MAX. LOOKUP_CHUNK at a time,
 * resuming where the kernel's records ran out.
 */
static int batch_lookup(struct vmaq_walk *w, const uint64_t *sorted,
			size_t count, vmaq_add_fn add, void *ctx, uint32_t *kidx)
{
	uint32_t cap = count < MAX_CHUNK ? (uint32_t)count : MAX_CHUNK;
	size_t strs = strs_for(w->flags, cap), done = 0;
	uint32_t small_slots[SMALL_SLOTS], *slots = small_slots;
	struct batch_bufs *bufs = NULL;
	struct procmap_vma_record *recs;
	struct vmaq_rec rec;
	bool text_names;
	int err = 0;

	if (!count)
		return 0;
	vmaq_rec_init(&rec);
	if (cap > SMALL_SLOTS)
		slots = malloc((size_t)cap * sizeof(*slots));
	err = slots ? bufs_get(&bufs, cap, strs) : -ENOMEM;
	if (err)
		goto out;
	recs = bufs->recs;
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
		b.strs_size = (uint32_t)strs;
		b.strs_addr = strs ? (uintptr_t)bufs->strs : 0;
		err = walk_ioctl(w, &b, &text_names);
		if (err)
			break;
		if (b.resolved > n || b.rec_count > cap || b.strs_size > strs) {
			err = -EBADMSG;
			break;
		}
		kernel_wrote(kidx + done, n * sizeof(*kidx));
		kernel_wrote(recs, (size_t)b.rec_count * sizeof(*recs));
		if (b.strs_size)
			kernel_wrote(bufs->strs, b.strs_size);
		if (!b.resolved) {
			err = -EIO;	/* no progress: cannot happen with room for one */
			break;
		}
		for (uint32_t i = 0; i < b.rec_count; i++) {
			slots[i] = UINT32_MAX;
			if (!anon_ok(&recs[i], w->flags))
				continue;
			err = fill_from_record(w, w->flags, &rec, &recs[i],
					       bufs->strs, b.strs_size,
					       text_names);
			if (!err)
				err = add(ctx, &rec.vma, &slots[i]);
			if (err)
				goto out;
		}
		for (size_t k = done; k < done + b.resolved; k++) {
			if (kidx[k] < b.rec_count)
				kidx[k] = slots[kidx[k]];
			else if (kidx[k] == PROCMAP_BATCH_NO_VMA)
				kidx[k] = UINT32_MAX;
			else
				err = -EBADMSG;	/* UNRESOLVED among the resolved */
		}
		if (err)
			goto out;
		done += b.resolved;
	}
out:
	bufs_put(bufs);
	if (slots != small_slots)
		free(slots);
	vmaq_rec_fini(&rec);
	return err;
}

/*
 * A handle's state is one of these two, never written: nothing to
 * allocate for each process a scan or a cache opens.
 */
static const struct batch_proc batch_abi_first = { .gen_flag = false };
static const struct batch_proc batch_abi_gen = { .gen_flag = true };

static int batch_open(struct vmaq_maps *m, void **be)
{
	int abi = batch_abi(m->fd);

	if (abi < 0)
		return abi;
	/* the probe said yes a moment ago: not an ABI of the first series */
	if (!abi)
		return -EOPNOTSUPP;
	*be = (void *)(abi == 2 ? &batch_abi_gen : &batch_abi_first);
	return 0;
}

static int batch_open_like(struct vmaq_maps *m, const void *like, void **be)
{
	(void)m;
	*be = (void *)like;
	return 0;
}

static void batch_close(void *be)
{
	(void)be;
}

static int batch_alive(struct vmaq_maps *m, void *be)
{
	const struct batch_proc *bp = be;
	struct procmap_batch b;

	batch_init(&b, bp->gen_flag ? PROCMAP_BATCH_GENERATION : 0);
	return batch_ioctl(m->fd, &b) == -ESRCH ? -ESRCH : 0;
}

static void batch_walk_fini(struct vmaq_walk *w)
{
	struct batch_walk *bw = w->priv;

	bufs_put(bw->bufs);
	vmaq_text_copy_fini(&bw->text);
}

/*
 * A find's walk, on the stack: address mode needs none, but the records
 * that are not the common case (a name the text must give, VMAQ_NEXT
 * past a file VMA that VMAQ_ANON drops) go the walk's way.
 */
static int batch_find(struct vmaq_maps *m, void *be, unsigned int flags,
		      uint64_t addr, struct vmaq_rec *rec)
{
	struct batch_walk bw = { .bufs = NULL };
	struct vmaq_walk w = {
		.ops = &vmaq_batch_ops, .maps = m, .be = be, .priv = &bw,
		.flags = flags,
	};
	int err;

	err = find_in(&w, addr, rec);
	batch_walk_fini(&w);
	if (w.deleted.name)
		vmaq_file_memo_fini(&w.deleted);
	return err;
}

_Static_assert(sizeof(struct batch_walk) <= sizeof(((struct vmaq_walk *)0)->inline_priv),
	       "a walk's state lives in the walk: no allocation per find");

const struct vmaq_backend_ops vmaq_batch_ops = {
	.id = VMAQ_BACKEND_BATCH,
	.probe = batch_probe,
	.open = batch_open,
	.open_like = batch_open_like,
	.close = batch_close,
	.alive = batch_alive,
	.walk_size = sizeof(struct batch_walk),
	.walk_fini = batch_walk_fini,
	.next = batch_next,
	.next_many = batch_next_many,
	.find = batch_find,
	.lookup = batch_lookup,
	.generation = batch_generation,
};
