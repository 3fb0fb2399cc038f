// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Snapshots: a process's whole map in memory, answering lookups with a
 * binary search and no system call. With the batch backend a snapshot
 * knows the address-space generation it was read at, and is current as
 * long as the generation is: one cheap ioctl. Otherwise, or when the
 * generation moved, staleness is found by reading the map again and
 * comparing (the generation also moves for changes that cancel out).
 */
#include <stdlib.h>
#include <string.h>

#include "table.h"

struct vmaq_snapshot {
	struct vmaq_proc *proc;
	unsigned int flags;
	struct vmaq_table t;
	struct vmaq_table fresh;	/* the re-read that stale() compares */
	bool fresh_valid;
};

int vmaq_snapshot_new(struct vmaq_proc *proc, unsigned int flags,
		      struct vmaq_snapshot **snapp)
{
	struct vmaq_snapshot *s;
	int err;

	if (!proc || !snapp)
		return vmaq_err(-EINVAL);
	if (vmaq_check_flags(flags, VMAQ_WALK_MASK))
		return vmaq_err(-EINVAL);
	s = calloc(1, sizeof(*s));
	if (!s)
		return vmaq_err(-ENOMEM);
	vmaq_proc_get(proc);
	s->proc = proc;
	s->flags = flags;
	err = vmaq_table_read(&s->t, proc, flags);
	if (err) {
		vmaq_snapshot_free(s);
		return vmaq_err(err);
	}
	*snapp = s;
	return 0;
}

size_t vmaq_snapshot_count(const struct vmaq_snapshot *s)
{
	return s ? s->t.n : 0;
}

const struct vmaq_vma *vmaq_snapshot_vma(const struct vmaq_snapshot *s,
					 size_t i)
{
	if (!s || i >= s->t.n)
		return vmaq_err_ptr(-EINVAL);
	return &s->t.v[i];
}

const struct vmaq_vma *vmaq_snapshot_find(const struct vmaq_snapshot *s,
					  uint64_t addr)
{
	ssize_t i;

	if (!s)
		return vmaq_err_ptr(-EINVAL);
	i = vmaq_table_search(&s->t, addr);
	if (i < 0)
		return vmaq_err_ptr(-ENOENT);
	return &s->t.v[i];
}

static bool tables_equal(const struct vmaq_table *a, const struct vmaq_table *b)
{
	size_t i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++) {
		if (!vmaq_vma_equal(&a->v[i], &b->v[i]))
			return false;
		if (a->v[i].build_id_size != b->v[i].build_id_size ||
		    (a->v[i].build_id_size &&
		     memcmp(a->v[i].build_id, b->v[i].build_id,
			    a->v[i].build_id_size)))
			return false;
	}
	return true;
}

/* 1 if the process's map differs from the snapshot, 0 if not. */
int vmaq_snapshot_stale(struct vmaq_snapshot *s)
{
	int err;

	if (!s)
		return vmaq_err(-EINVAL);
	if (s->t.have_gen) {
		uint64_t gen;

		err = vmaq_proc_generation(s->proc, &gen);
		if (err)
			return vmaq_err(err);
		if (gen == s->t.gen)
			return 0;
	}
	err = vmaq_table_read(&s->fresh, s->proc, s->flags);
	if (err) {
		s->fresh_valid = false;
		return vmaq_err(err);
	}
	s->fresh_valid = true;
	if (!tables_equal(&s->t, &s->fresh))
		return 1;
	/* the same map at a later generation: no re-read next time */
	s->t.have_gen = s->fresh.have_gen;
	s->t.gen = s->fresh.gen;
	return 0;
}

int vmaq_snapshot_gen_current(struct vmaq_snapshot *s)
{
	uint64_t gen;
	int err;

	if (!s->t.have_gen)
		return -EOPNOTSUPP;
	err = vmaq_proc_generation(s->proc, &gen);
	if (err)
		return err;
	return gen == s->t.gen;
}

/*
 * Bring the snapshot up to date. Returns 1 if it changed, 0 if it was
 * current. On error (the process exited: -ESRCH) the old contents stay,
 * so a caller never loses what it had.
 */
int vmaq_snapshot_refresh(struct vmaq_snapshot *s)
{
	struct vmaq_table tmp;
	int stale = vmaq_snapshot_stale(s);

	if (stale <= 0)
		return stale;
	tmp = s->t;
	s->t = s->fresh;
	s->fresh = tmp;
	s->fresh_valid = false;
	return 1;
}

void vmaq_snapshot_free(struct vmaq_snapshot *s)
{
	if (!s)
		return;
	vmaq_table_free(&s->t);
	vmaq_table_free(&s->fresh);
	if (s->proc)
		vmaq_proc_put(s->proc);
	free(s);
}

int vmaq_snapshot_copy(const struct vmaq_snapshot *s, size_t first, size_t count,
		       void *recs, size_t rec_size)
{
	size_t i, n = sizeof(struct vmaq_vma);
	unsigned char *out = recs;
	uint32_t size;

	if (!s || (count && !recs) || rec_size < VMAQ_VMA_SIZE_1_0 ||
	    rec_size > UINT32_MAX || first > s->t.n)
		return vmaq_err(-EINVAL);
	if (count > s->t.n - first)
		count = s->t.n - first;
	if (count > INT32_MAX)
		count = INT32_MAX;
	if (rec_size < n)
		n = rec_size;
	for (i = 0; i < count; i++, out += rec_size) {
		memcpy(out, &s->t.v[first + i], n);
		memset(out + n, 0, rec_size - n);
		/* what this copy holds: the caller's size or ours */
		size = (uint32_t)n;
		memcpy(out + offsetof(struct vmaq_vma, size), &size, sizeof(size));
	}
	return (int)count;
}

/*
 * Diffs: how a snapshot's map changed, with copies of the records (the
 * snapshot's own tables are reused by its next read).
 */
struct vmaq_diff {
	struct vmaq_table now, was;	/* the records, copied */
	struct vmaq_change *c;
	size_t n;
};

/* Record the change, its records copied: indexes first, pointers at the end. */
static int diff_add(struct vmaq_diff *d, size_t *cap, uint32_t kind,
		    const struct vmaq_vma *now, const struct vmaq_vma *was)
{
	struct vmaq_change *c;
	int err;

	if (d->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;

		c = realloc(d->c, ncap * sizeof(*c));
		if (!c)
			return -ENOMEM;
		d->c = c;
		*cap = ncap;
	}
	c = &d->c[d->n];
	memset(c, 0, sizeof(*c));
	c->kind = kind;
	/* until every record is in: the index + 1 of each (0: none) */
	if (now) {
		err = vmaq_table_add(&d->now, now);
		if (err)
			return err;
		c->vma = (const struct vmaq_vma *)(uintptr_t)d->now.n;
	}
	if (was) {
		err = vmaq_table_add(&d->was, was);
		if (err)
			return err;
		c->was = (const struct vmaq_vma *)(uintptr_t)d->was.n;
	}
	d->n++;
	return 0;
}

static int diff_tables(const struct vmaq_table *a, const struct vmaq_table *b,
		       struct vmaq_diff **diffp)
{
	struct vmaq_diff *d = calloc(1, sizeof(*d));
	size_t i = 0, j = 0, cap = 0;
	int err = 0;

	if (!d)
		return -ENOMEM;
	/* both in address order: a merge by start */
	while (!err && (i < a->n || j < b->n)) {
		const struct vmaq_vma *x = i < a->n ? &a->v[i] : NULL;
		const struct vmaq_vma *y = j < b->n ? &b->v[j] : NULL;

		if (x && (!y || x->start < y->start)) {
			err = diff_add(d, &cap, VMAQ_CHANGE_REMOVED, NULL, x);
			i++;
		} else if (y && (!x || y->start < x->start)) {
			err = diff_add(d, &cap, VMAQ_CHANGE_ADDED, y, NULL);
			j++;
		} else {
			if (!vmaq_vma_equal(x, y) || x->build_id_size != y->build_id_size ||
			    (x->build_id_size &&
			     memcmp(x->build_id, y->build_id, x->build_id_size)))
				err = diff_add(d, &cap, VMAQ_CHANGE_MODIFIED, y, x);
			i++;
			j++;
		}
	}
	if (err) {
		vmaq_diff_free(d);
		return err;
	}
	for (i = 0; i < d->n; i++) {
		uintptr_t k = (uintptr_t)d->c[i].vma, w = (uintptr_t)d->c[i].was;

		d->c[i].vma = k ? &d->now.v[k - 1] : NULL;
		d->c[i].was = w ? &d->was.v[w - 1] : NULL;
		/* a removal's record is the old one */
		if (!d->c[i].vma)
			d->c[i].vma = d->c[i].was, d->c[i].was = NULL;
	}
	*diffp = d;
	return 0;
}

int vmaq_snapshot_update(struct vmaq_snapshot *s, struct vmaq_diff **diffp)
{
	struct vmaq_table tmp;
	int stale, err;

	if (!s || !diffp)
		return vmaq_err(-EINVAL);
	*diffp = NULL;
	stale = vmaq_snapshot_stale(s);
	if (stale <= 0)
		return stale;
	err = diff_tables(&s->t, &s->fresh, diffp);
	if (err)
		return vmaq_err(err);
	tmp = s->t;
	s->t = s->fresh;
	s->fresh = tmp;
	s->fresh_valid = false;
	return 1;
}

size_t vmaq_diff_count(const struct vmaq_diff *d)
{
	return d ? d->n : 0;
}

const struct vmaq_change *vmaq_diff_change(const struct vmaq_diff *d, size_t i)
{
	if (!d || i >= d->n)
		return vmaq_err_ptr(-EINVAL);
	return &d->c[i];
}

void vmaq_diff_free(struct vmaq_diff *d)
{
	if (!d)
		return;
	vmaq_table_free(&d->now);
	vmaq_table_free(&d->was);
	free(d->c);
	free(d);
}
