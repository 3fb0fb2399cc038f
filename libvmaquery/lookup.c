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

#define UNMAPPED VMAQ_LOOKUP_UNMAPPED
/*
 * A lookup of up to this many addresses sorts them on the stack, by
 * insertion: below it that beats the radix sort, which needs a second
 * array.
 */
#define SMALL_LOOKUP 64

/* Addresses are sorted with their positions, on contiguous memory. */
struct addr_pos {
	uint64_t addr;
	size_t pos;
};

struct vmaq_lookup {
	struct vmaq_table t;
	size_t count;
	/*
	 * Per address: record index or UNMAPPED. A small lookup's records
	 * follow, in the same allocation, and its names get one of their
	 * own if there are any: a profiler resolving a handful of addresses
	 * should pay for the ioctls, not for malloc(). (glibc serves blocks
	 * of up to about 1 KiB from a per-thread cache, 8 records and their
	 * indexes among them, larger ones at several times the cost.)
	 */
	uint32_t idx[];
};

/* The first room for a small lookup's names, a record. */
#define SMALL_NAME_ROOM 128

/*
 * Sort by address: a stable LSD radix sort, a byte a pass, over the bytes
 * in which the addresses differ (for addresses from one process, two or
 * three low ones); input already in order is left as it is. Several times
 * faster than qsort() on the thousands of addresses a profile brings,
 * which otherwise cost more than resolving them with the batch ioctl.
 * *@vp is replaced by the sorted array (the caller frees it), so that the
 * last pass is not followed by a copy back; up to SMALL_LOOKUP addresses
 * are sorted in place, by insertion, and *@vp is left as it is.
 */
static int sort_addrs(struct addr_pos **vp, size_t n)
{
	struct addr_pos *src = *vp, *dst;
	uint64_t differ = 0;
	bool in_order = true;
	size_t count[256], i;
	unsigned int shift;

	for (i = 1; i < n; i++) {
		differ |= src[i].addr ^ src[0].addr;
		in_order &= src[i - 1].addr <= src[i].addr;
	}
	if (in_order)
		return 0;
	if (n <= SMALL_LOOKUP) {
		/* insertion sort, stable, in place: no allocation */
		for (i = 1; i < n; i++) {
			struct addr_pos x = src[i];
			size_t j = i;

			for (; j > 0 && src[j - 1].addr > x.addr; j--)
				src[j] = src[j - 1];
			src[j] = x;
		}
		return 0;
	}
	dst = malloc(n * sizeof(*dst));
	if (!dst)
		return -ENOMEM;
	for (shift = 0; shift < 64; shift += 8) {
		struct addr_pos *t;
		size_t sum = 0;

		if (!((differ >> shift) & 0xff))
			continue;	/* one value of this byte: order unchanged */
		memset(count, 0, sizeof(count));
		for (i = 0; i < n; i++)
			count[(src[i].addr >> shift) & 0xff]++;
		for (i = 0; i < 256; i++) {
			size_t c = count[i];

			count[i] = sum;
			sum += c;
		}
		for (i = 0; i < n; i++)
			dst[count[(src[i].addr >> shift) & 0xff]++] = src[i];
		t = src;
		src = dst;
		dst = t;
	}
	free(dst);
	*vp = src;
	return 0;
}

static int resolve(struct vmaq_lookup *l, struct vmaq_proc *proc,
		   const struct addr_pos *order, size_t count, unsigned int flags,
		   enum vmaq_op op)
{
	struct vmaq_walk w;
	struct vmaq_rec r, *rec = &r;
	bool have = false, exhausted = false, added = false;
	char name[PATH_MAX];
	size_t k;
	int err;

	err = vmaq_walk_init(&w, proc, op, flags);
	if (err)
		return err;
	/* each record is copied into the table: one name buffer will do */
	vmaq_rec_init_buf(rec, name, sizeof(name));
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
	vmaq_rec_fini(rec);
	return err;
}

/*
 * A few addresses by the find backend's ->find(): one ioctl each for the
 * addresses the last record does not cover, each as a find does it (no
 * walk to set up; an address in a gap costs its own ioctl, where a walk
 * would have learnt the gap's end, which a few addresses seldom share).
 */
static int resolve_finds(struct vmaq_lookup *l, struct vmaq_proc *proc,
			 const struct addr_pos *order, size_t count,
			 unsigned int flags)
{
	const struct vmaq_backend_ops *ops = proc->op[VMAQ_OP_FIND];
	struct vmaq_rec r, *rec = &r;
	bool have = false;
	char name[PATH_MAX];
	size_t k;
	int err = 0;

	vmaq_rec_init_buf(rec, name, sizeof(name));
	for (k = 0; k < count; k++) {
		size_t i = order[k].pos;
		uint64_t a = order[k].addr;

		l->idx[i] = UNMAPPED;
		if (have && a < rec->vma.end) {
			l->idx[i] = (uint32_t)(l->t.n - 1);
			continue;
		}
		err = ops->find(&proc->maps, proc->be[ops->id], flags, a, rec);
		have = !err;
		if (err == -ENOENT)
			err = 0;
		if (err || !have)
			continue;
		err = vmaq_table_add(&l->t, &rec->vma);
		if (err)
			break;
		l->idx[i] = (uint32_t)(l->t.n - 1);
	}
	vmaq_rec_fini(rec);
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

/* A backend that resolves many sorted addresses itself (the batch ioctl). */
static int resolve_backend(struct vmaq_lookup *l, struct vmaq_proc *proc,
			   const struct addr_pos *order, size_t count,
			   unsigned int flags)
{
	uint64_t small_sorted[SMALL_LOOKUP], *sorted = small_sorted;
	uint32_t small_kidx[SMALL_LOOKUP], *kidx = small_kidx;
	struct vmaq_walk w;
	size_t k;
	int err = -ENOMEM;

	/* a profiler's few addresses cost no allocation */
	if (count > SMALL_LOOKUP) {
		sorted = malloc(count * sizeof(*sorted));
		kidx = malloc(count * sizeof(*kidx));
	}
	if (sorted && kidx)
		err = vmaq_walk_init(&w, proc, VMAQ_OP_LOOKUP, flags);
	if (!err) {
		for (k = 0; k < count; k++)
			sorted[k] = order[k].addr;
		err = w.ops->lookup(&w, sorted, count, table_add_slot, &l->t, kidx);
		for (k = 0; !err && k < count; k++)
			l->idx[order[k].pos] = kidx[k];
		vmaq_walk_fini(&w);
	}
	if (sorted != small_sorted)
		free(sorted);
	if (kidx != small_kidx)
		free(kidx);
	return err;
}

int vmaq_lookup(struct vmaq_proc *proc, const uint64_t *addrs, size_t count,
		unsigned int flags, struct vmaq_lookup **lookupp)
{
	struct addr_pos small_order[SMALL_LOOKUP], *order = small_order;
	struct vmaq_lookup *l;
	size_t i, nsmall, vsmall;
	int err;

	if (!proc || !lookupp || (count && !addrs))
		return vmaq_err(-EINVAL);
	if (vmaq_check_flags(flags, VMAQ_WALK_MASK))
		return vmaq_err(-EINVAL);
	if (count > (SIZE_MAX - sizeof(*l)) / sizeof(struct addr_pos))
		return vmaq_err(-E2BIG);
	/* no more records than addresses */
	nsmall = count <= SMALL_LOOKUP ? count : 0;
	vsmall = sizeof(*l) + count * sizeof(l->idx[0]);
	vsmall = (vsmall + _Alignof(struct vmaq_vma) - 1) &
		 ~(_Alignof(struct vmaq_vma) - 1);
	l = malloc(vsmall + nsmall * sizeof(struct vmaq_vma));
	if (!l)
		return vmaq_err(-ENOMEM);
	memset(&l->t, 0, sizeof(l->t));
	l->count = count;
	if (nsmall) {
		vmaq_table_use(&l->t, (struct vmaq_vma *)((char *)l + vsmall),
			       nsmall, NULL, 0);
		l->t.ahint = nsmall * SMALL_NAME_ROOM;
	} else {
		vmaq_table_hint(&l->t, SMALL_LOOKUP);
	}
	if (count > SMALL_LOOKUP) {
		order = malloc(count * sizeof(*order));
		if (!order) {
			err = -ENOMEM;
			goto fail;
		}
	}
	for (i = 0; i < count; i++) {
		order[i].addr = addrs[i];
		order[i].pos = i;
	}
	err = sort_addrs(&order, count);
	if (err)
		goto fail;
	/* a few addresses: one find each, where finds have a faster way */
	if (count <= SMALL_LOOKUP &&
	    proc->op[VMAQ_OP_FIND] != proc->op[VMAQ_OP_LOOKUP])
		err = proc->op[VMAQ_OP_FIND]->find ?
		      resolve_finds(l, proc, order, count, flags) :
		      resolve(l, proc, order, count, flags, VMAQ_OP_FIND);
	else if (proc->op[VMAQ_OP_LOOKUP]->lookup && count)
		err = resolve_backend(l, proc, order, count, flags);
	else
		err = resolve(l, proc, order, count, flags, VMAQ_OP_LOOKUP);
	if (err)
		goto fail;
	if (order != small_order)
		free(order);
	*lookupp = l;
	return 0;
fail:
	if (order != small_order)
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

size_t vmaq_lookup_records(const struct vmaq_lookup *l)
{
	return l ? l->t.n : 0;
}

const struct vmaq_vma *vmaq_lookup_record(const struct vmaq_lookup *l, size_t i)
{
	if (!l || i >= l->t.n) {
		errno = EINVAL;
		return NULL;
	}
	return &l->t.v[i];
}

int vmaq_lookup_index(const struct vmaq_lookup *l, size_t first, size_t count,
		      uint32_t *index)
{
	if (!l || (count && !index) || first > l->count ||
	    count > l->count - first)
		return vmaq_err(-EINVAL);
	if (count)
		memcpy(index, &l->idx[first], count * sizeof(*index));
	return 0;
}

void vmaq_lookup_free(struct vmaq_lookup *l)
{
	if (!l)
		return;
	vmaq_table_free(&l->t);
	free(l);
}
