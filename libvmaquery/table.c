// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Record tables: the compact storage behind vmaq_lookup() and snapshots.
 * Records sit in one array and their names and build IDs in one arena,
 * which they point into (arena_reserve() moves them with it).
 */
#include <stdlib.h>
#include <string.h>

#include "table.h"

/* walks of a map that keeps changing under them, before EAGAIN */
#define VMAQ_TABLE_TRIES 8

void vmaq_table_free(struct vmaq_table *t)
{
	if (!t->borrowed_v)
		free(t->v);
	if (!t->borrowed_arena)
		free(t->arena);
	memset(t, 0, sizeof(*t));
}

/*
 * Room for @len more bytes in the arena. When it must grow it moves to a
 * new block, and the names and build IDs of the records kept so far,
 * which point into it, move with it: rebased while the old block is
 * still there. A table that starts the size of the handle's last read
 * seldom grows; a pass over the records each time it does costs less
 * than one at the end of every read.
 */
static int arena_reserve(struct vmaq_table *t, size_t len)
{
	size_t ncap, i;
	char *n;

	if (len > SIZE_MAX / 2 - t->alen)
		return -ENOMEM;
	if (t->alen + len <= t->acap)
		return 0;
	ncap = t->acap ? t->acap : t->ahint ? t->ahint : 4096;
	while (ncap < t->alen + len)
		ncap *= 2;
	n = malloc(ncap);
	if (!n)
		return -ENOMEM;
	if (t->alen)
		memcpy(n, t->arena, t->alen);
	for (i = 0; i < t->n; i++) {
		struct vmaq_vma *v = &t->v[i];

		if (v->name)
			v->name = n + (v->name - t->arena);
		if (v->build_id)
			v->build_id = (const unsigned char *)n +
				      (v->build_id - (const unsigned char *)t->arena);
	}
	if (!t->borrowed_arena)
		free(t->arena);
	t->arena = n;
	t->acap = ncap;
	t->borrowed_arena = false;
	return 0;
}

/* A copy of @len bytes at @data in the arena, which has room for them. */
static void *arena_copy(struct vmaq_table *t, const void *data, size_t len)
{
	void *copy = t->arena + t->alen;

	memcpy(copy, data, len);
	t->alen += len;
	return copy;
}

static int grow(struct vmaq_table *t)
{
	size_t ncap = t->cap ? t->cap * 2 : t->hint ? t->hint : 64;
	void *v;

	if (ncap > SIZE_MAX / sizeof(struct vmaq_vma))
		return -ENOMEM;
	v = t->v;
	if (vmaq_buf_grow(&v, &t->borrowed_v, t->n * sizeof(struct vmaq_vma),
			  ncap * sizeof(struct vmaq_vma)))
		return -ENOMEM;
	t->v = v;
	t->cap = ncap;
	return 0;
}

void vmaq_table_use(struct vmaq_table *t, struct vmaq_vma *v, size_t nv,
		    char *arena, size_t na)
{
	t->v = v;
	t->cap = nv;
	t->borrowed_v = true;
	t->arena = arena;
	t->acap = arena ? na : 0;
	t->borrowed_arena = arena != NULL;
}

void vmaq_table_hint(struct vmaq_table *t, size_t records)
{
	t->hint = records ? records : 1;
	/* a name or two of a few dozen bytes a record */
	t->ahint = records < 64 ? 128 * t->hint : 0;
}

/*
 * The name and build ID @v points at, copied into the arena: @v then
 * points at the copies. Room for both is made first: the arena moving
 * between the two would leave this record's name (not yet a kept
 * record's, which move with it) in the old block.
 */
static inline __attribute__((always_inline)) int
keep_strings(struct vmaq_table *t, struct vmaq_vma *v)
{
	size_t nlen = v->name ? (size_t)v->name_len + 1 : 0;
	size_t blen = v->build_id ? v->build_id_size : 0;
	int err;

	/* an empty build ID is none: nothing outside the arena is kept */
	if (!blen)
		v->build_id = NULL;
	if (!nlen && !blen)
		return 0;
	err = arena_reserve(t, nlen + blen);
	if (err)
		return err;
	if (nlen)
		v->name = arena_copy(t, v->name, nlen);
	if (blen)
		v->build_id = arena_copy(t, v->build_id, blen);
	return 0;
}

int vmaq_table_add(struct vmaq_table *t, const struct vmaq_vma *vma)
{
	size_t i = t->n;
	int err;

	if (t->n == t->cap) {
		err = grow(t);
		if (err)
			return err;
	}
	t->v[i] = *vma;
	err = keep_strings(t, &t->v[i]);
	if (err)
		return err;
	t->n++;
	return 0;
}

/* Index of the VMA covering addr in a table sorted by address, or -1. */
ssize_t vmaq_table_search(const struct vmaq_table *t, uint64_t addr)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->v[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < t->n && t->v[lo].start <= addr)
		return (ssize_t)lo;
	return -1;
}

static bool str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return !strcmp(a, b);
}

bool vmaq_vma_equal(const struct vmaq_vma *a, const struct vmaq_vma *b)
{
	return a->start == b->start && a->end == b->end &&
	       a->offset == b->offset && a->inode == b->inode &&
	       a->dev_major == b->dev_major && a->dev_minor == b->dev_minor &&
	       a->flags == b->flags && a->page_size == b->page_size &&
	       a->kind == b->kind && str_eq(a->name, b->name);
}

/*
 * A scan's records, written by the backend where they stay: what
 * vmaq_table_add() does, without copying the record.
 */
struct table_sink {
	struct vmaq_table *t;
	uint64_t end;		/* of the record kept last */
};

static struct vmaq_vma *table_room(void *ctx, size_t n, size_t *got)
{
	struct table_sink *ts = ctx;
	struct vmaq_table *t = ts->t;

	while (t->cap - t->n < n)
		if (grow(t))
			return NULL;
	*got = n;
	return &t->v[t->n];
}

static int table_keep(void *ctx, struct vmaq_vma *v, size_t n)
{
	struct table_sink *ts = ctx;
	struct vmaq_table *t = ts->t;
	size_t i;
	int err;

	for (i = 0; i < n; i++, v++) {
		/* grew over the cursor between two calls: see vmaq_iter_next */
		if (v->start < ts->end)
			return -EAGAIN;
		ts->end = v->end;
		err = keep_strings(t, v);
		if (err)
			return err;
		t->n++;
	}
	return 0;
}

/* One walk into t by @ops; -EAGAIN if a record overlaps the one before it. */
static int table_read_once(struct vmaq_table *t, struct vmaq_proc *proc,
			   const struct vmaq_backend_ops *ops,
			   unsigned int flags, struct vmaq_rec *rec)
{
	uint64_t addr = 0;
	struct vmaq_walk w;
	int err;

	t->n = 0;
	t->alen = 0;
	err = vmaq_walk_init_ops(&w, proc, ops, VMAQ_OP_SCAN, flags);
	if (err)
		return err;
	if (ops->next_many) {
		struct table_sink ts = { .t = t, .end = 0 };
		const struct vmaq_scan_sink sink = {
			.room = table_room, .put = table_keep, .ctx = &ts,
		};

		do {
			err = ops->next_many(&w, ts.end, &sink, rec);
		} while (!err && ts.end);
	} else {
		while (!(err = vmaq_walk_next(&w, addr, rec))) {
			const struct vmaq_vma *v = &rec->vma;

			/* grew over the cursor between steps: see vmaq_iter_next */
			if (v->start < addr) {
				err = -EAGAIN;
				break;
			}
			err = vmaq_table_add(t, v);
			if (err)
				break;
			addr = v->end;
			if (!addr)
				break;
		}
	}
	t->have_gen = w.have_gen;
	t->gen = w.gen;
	vmaq_walk_fini(&w);
	if (err == -ENOENT && w.changed)
		err = -ESTALE;
	if (err == -ENOENT)
		err = 0;
	/*
	 * The text backend's page size of a file VMA that changed before it
	 * could ask: read again, as for an overlap.
	 */
	if (err == -ESTALE)
		err = -EAGAIN;
	/* nothing half-made stays */
	if (err)
		t->n = 0;
	return err;
}

/*
 * Read every VMA matching flags into t (emptied first). A table never
 * holds overlapping records: a walk that met one (the map changed under
 * it) is done again, a bounded number of times, then fails with EAGAIN.
 */
int vmaq_table_read(struct vmaq_table *t, struct vmaq_proc *proc,
		    unsigned int flags)
{
	/* the way is chosen once: a read done again goes the same way */
	const struct vmaq_backend_ops *ops = vmaq_scan_ops(proc, flags);
	bool whole = !(flags & VMAQ_FILTER_MASK), warm = t->cap || t->hint;
	struct vmaq_rec rec;
	uint64_t t0 = vmaq_cpu_ns();
	int err, tries = 0;

	/*
	 * A new table of everything starts the size of the handle's last
	 * such read, and a little more: the map seldom changes much between
	 * two reads, and growing by doubling would copy (and, under
	 * emulation, fault in) the records many times over.
	 */
	if (whole && !warm) {
		size_t n = __atomic_load_n(&proc->last_scan_n, __ATOMIC_RELAXED);
		size_t alen = __atomic_load_n(&proc->last_scan_alen, __ATOMIC_RELAXED);

		if (n) {
			t->hint = n + n / 8 + 16;
			t->ahint = alen + alen / 8 + 256;
			warm = true;
		}
	}
	vmaq_rec_init(&rec);
	do {
		err = table_read_once(t, proc, ops, flags, &rec);
	} while (err == -EAGAIN && ++tries < VMAQ_TABLE_TRIES);
	vmaq_rec_fini(&rec);
	if (err)
		return err;
	if (whole) {
		__atomic_store_n(&proc->last_scan_n, t->n, __ATOMIC_RELAXED);
		__atomic_store_n(&proc->last_scan_alen, t->alen, __ATOMIC_RELAXED);
		/* what it cost, the tries that failed included */
		if (warm && t0)
			vmaq_scan_seen(proc, VMAQ_READER_TABLE, ops, flags, t->n,
				       vmaq_cpu_ns() - t0);
	}
	return 0;
}
