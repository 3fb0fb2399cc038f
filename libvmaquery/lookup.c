// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * vmaq_lookup(): many addresses in one pass. The addresses are visited in
 * ascending order, so each VMA is fetched once however many addresses it
 * covers, and the walk moves only forwards (the text backend reads the
 * file once; the query backend makes one ioctl per distinct VMA), or, with
 * the batch backend, the kernel resolves them 65536 to an ioctl.
 */
#include <stdlib.h>
#include <string.h>

#include "table.h"

#define UNMAPPED UINT32_MAX

struct vmaq_lookup {
	struct vmaq_table t;
	size_t count;
	uint32_t *idx;		/* per address: record index or UNMAPPED */
};

/* Addresses are sorted with their positions, on contiguous memory. */
struct addr_pos {
	uint64_t addr;
	size_t pos;
};

static int cmp_addr(const void *a, const void *b)
{
	uint64_t x = ((const struct addr_pos *)a)->addr;
	uint64_t y = ((const struct addr_pos *)b)->addr;

	return x < y ? -1 : x > y;
}

static int resolve(struct vmaq_lookup *l, struct vmaq_proc *proc,
		   const struct addr_pos *order, size_t count, unsigned int flags)
{
	struct vmaq_walk w;
	struct vmaq_rec *rec;
	bool have = false, exhausted = false, added = false;
	size_t k;
	int err = 0;

	rec = malloc(sizeof(*rec));
	if (!rec)
		return -ENOMEM;
	vmaq_walk_init(&w, proc, flags);
	for (k = 0; k < count; k++) {
		size_t i = order[k].pos;
		uint64_t a = order[k].addr;

		l->idx[i] = UNMAPPED;
		if (!exhausted && (!have || a >= rec->vma.end)) {
			err = vmaq_walk_next(&w, a, rec);
			if (err == -ENOENT) {
				exhausted = true;
				have = false;
				err = 0;
				continue;
			}
			if (err)
				break;
			have = true;
			added = false;
		}
		if (!have || a < rec->vma.start)
			continue;
		if (!added) {
			if (l->t.n >= UNMAPPED) {
				err = -E2BIG;
				break;
			}
			err = vmaq_table_add(&l->t, &rec->vma);
			if (err)
				break;
			added = true;
		}
		l->idx[i] = (uint32_t)(l->t.n - 1);
	}
	vmaq_walk_fini(&w);
	free(rec);
	return err;
}

static int table_add_slot(void *ctx, const struct vmaq_vma *vma, uint32_t *slot)
{
	struct vmaq_table *t = ctx;
	int err;

	if (t->n >= UNMAPPED)
		return -E2BIG;
	err = vmaq_table_add(t, vma);
	if (!err)
		*slot = (uint32_t)(t->n - 1);
	return err;
}

/* Batch backend: the kernel resolves the sorted addresses, 64Ki a call. */
static int resolve_batch(struct vmaq_lookup *l, struct vmaq_proc *proc,
			 const struct addr_pos *order, size_t count,
			 unsigned int flags)
{
	uint64_t *sorted = malloc(count * sizeof(*sorted));
	uint32_t *kidx = malloc(count * sizeof(*kidx));
	size_t k;
	int err = -ENOMEM;

	if (sorted && kidx) {
		for (k = 0; k < count; k++)
			sorted[k] = order[k].addr;
		err = vmaq_batch_lookup(proc, sorted, count, flags, table_add_slot,
					&l->t, kidx);
		for (k = 0; !err && k < count; k++)
			l->idx[order[k].pos] = kidx[k];
	}
	free(sorted);
	free(kidx);
	return err;
}

int vmaq_lookup(struct vmaq_proc *proc, const uint64_t *addrs, size_t count,
		unsigned int flags, struct vmaq_lookup **lookupp)
{
	struct vmaq_lookup *l;
	struct addr_pos *order = NULL;
	size_t i;
	int err;

	if (!proc || !lookupp || (count && !addrs))
		return vmaq_err(-EINVAL);
	if (vmaq_check_flags(flags, VMAQ_WALK_MASK))
		return vmaq_err(-EINVAL);
	if (count > SIZE_MAX / sizeof(*order))
		return vmaq_err(-E2BIG);
	l = calloc(1, sizeof(*l));
	if (!l)
		return vmaq_err(-ENOMEM);
	l->count = count;
	if (count) {
		l->idx = malloc(count * sizeof(*l->idx));
		order = malloc(count * sizeof(*order));
		if (!l->idx || !order) {
			err = -ENOMEM;
			goto fail;
		}
	}
	for (i = 0; i < count; i++) {
		order[i].addr = addrs[i];
		order[i].pos = i;
	}
	if (count)
		qsort(order, count, sizeof(*order), cmp_addr);
	if (proc->backend == VMAQ_BACKEND_BATCH && count)
		err = resolve_batch(l, proc, order, count, flags);
	else
		err = resolve(l, proc, order, count, flags);
	if (err)
		goto fail;
	vmaq_table_finish(&l->t);
	free(order);
	*lookupp = l;
	return 0;
fail:
	free(order);
	vmaq_lookup_free(l);
	return vmaq_err(err);
}

const struct vmaq_vma *vmaq_lookup_vma(const struct vmaq_lookup *l, size_t i)
{
	if (!l || i >= l->count) {
		errno = EINVAL;
		return NULL;
	}
	if (l->idx[i] == UNMAPPED) {
		errno = ENOENT;
		return NULL;
	}
	return &l->t.v[l->idx[i]];
}

size_t vmaq_lookup_count(const struct vmaq_lookup *l)
{
	return l ? l->count : 0;
}

void vmaq_lookup_free(struct vmaq_lookup *l)
{
	if (!l)
		return;
	vmaq_table_free(&l->t);
	free(l->idx);
	free(l);
}
