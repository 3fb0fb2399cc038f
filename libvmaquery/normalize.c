// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Normalization: what a symbolizer does with a process's addresses before
 * it opens any file. Each address becomes an object (a mapped file,
 * deduplicated over its VMAs, or a kernel mapping such as [vdso]) and an
 * offset into it, or a reason why it has none. It is one vmaq_lookup()
 * of the addresses, grouped: the objects point into the lookup's records,
 * which the answer keeps.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* A member added later must not land in padding an old library left. */
_Static_assert(sizeof(struct vmaq_object) ==
	       offsetof(struct vmaq_object, build_id) + sizeof(void *),
	       "struct vmaq_object has tail padding");

struct vmaq_norm {
	struct vmaq_lookup *lookup;
	struct vmaq_norm_addr *addrs;
	size_t count;
	struct vmaq_object *objs;
	uint32_t *obj_rec;	/* each object's first record */
	size_t nobjs;
};

/* Objects by identity: open addressing over indexes into objs, +1. */
struct obj_index {
	uint32_t *slot;
	size_t n;		/* a power of two */
};

static uint64_t obj_hash(const struct vmaq_vma *v)
{
	uint64_t h = v->inode * 0x9e3779b97f4a7c15ull;

	h ^= ((uint64_t)v->dev_major << 32 | v->dev_minor) * 0xc2b2ae3d27d4eb4full;
	h ^= v->kind;
	/* kernel mappings have no inode: their name tells them apart */
	for (uint32_t i = 0; !v->inode && i < v->name_len; i++)
		h = (h ^ (unsigned char)v->name[i]) * 0x100000001b3ull;
	return h ^ h >> 29;
}

static bool obj_same(const struct vmaq_object *o, const struct vmaq_vma *v)
{
	return o->inode == v->inode && o->dev_major == v->dev_major &&
	       o->dev_minor == v->dev_minor && o->kind == v->kind &&
	       o->name_len == v->name_len &&
	       (!v->name_len || !memcmp(o->name, v->name, v->name_len));
}

/*
 * What an address in @v is to a symbolizer: an object of its own
 * (files, and kernel mappings that hold code or data a symbolizer can
 * name), or anonymous memory, which no file describes.
 */
static bool has_object(const struct vmaq_vma *v)
{
	switch (v->kind) {
	case VMAQ_KIND_FILE:
	case VMAQ_KIND_VDSO:
	case VMAQ_KIND_VVAR:
	case VMAQ_KIND_GATE:
	case VMAQ_KIND_SPECIAL:
		return true;
	default:
		return false;
	}
}

/* The object of record @v: found, or added. UINT32_MAX: no memory. */
static uint32_t obj_of(struct vmaq_norm *nm, struct obj_index *ix,
		       const struct vmaq_vma *v, uint32_t rec)
{
	size_t i = (size_t)obj_hash(v) & (ix->n - 1);
	struct vmaq_object *o;

	for (; ix->slot[i]; i = (i + 1) & (ix->n - 1)) {
		o = &nm->objs[ix->slot[i] - 1];
		if (obj_same(o, v)) {
			/* a file's build ID may come with any of its VMAs */
			if (!o->build_id_size && v->build_id_size) {
				o->build_id = v->build_id;
				o->build_id_size = v->build_id_size;
			}
			return ix->slot[i] - 1;
		}
	}
	o = &nm->objs[nm->nobjs];
	memset(o, 0, sizeof(*o));
	o->size = (uint32_t)sizeof(*o);
	o->kind = v->kind;
	o->name = v->name;
	o->name_len = v->name_len;
	o->inode = v->inode;
	o->dev_major = v->dev_major;
	o->dev_minor = v->dev_minor;
	o->flags = v->flags & VMAQ_DELETED;
	o->build_id = v->build_id_size ? v->build_id : NULL;
	o->build_id_size = v->build_id_size;
	nm->obj_rec[nm->nobjs] = rec;
	ix->slot[i] = (uint32_t)++nm->nobjs;
	return (uint32_t)(nm->nobjs - 1);
}

int vmaq_normalize(struct vmaq_proc *proc, const uint64_t *addrs, size_t count,
		   unsigned int flags, struct vmaq_norm **normp)
{
	struct obj_index ix = { 0 };
	struct vmaq_norm *nm;
	uint32_t *rec_obj = NULL, *idx = NULL;
	size_t nrec, i, chunk = 4096;
	int err;

	if (!proc || !normp || (!addrs && count))
		return vmaq_err(-EINVAL);
	if (flags & ~VMAQ_BUILD_ID)
		return vmaq_err(-EINVAL);
	if (count >= UINT32_MAX)
		return vmaq_err(-E2BIG);
	nm = calloc(1, sizeof(*nm));
	if (!nm)
		return vmaq_err(-ENOMEM);
	nm->count = count;
	nm->addrs = calloc(count ? count : 1, sizeof(*nm->addrs));
	if (!nm->addrs) {
		err = -ENOMEM;
		goto fail;
	}
	err = vmaq_lookup(proc, addrs, count, VMAQ_NAME | flags, &nm->lookup);
	if (err)
		goto fail;
	/* each record found: its object, or UINT32_MAX for none */
	nrec = vmaq_lookup_records(nm->lookup);
	for (ix.n = 16; ix.n < 2 * nrec; ix.n *= 2)
		;
	ix.slot = calloc(ix.n, sizeof(*ix.slot));
	rec_obj = calloc(nrec ? nrec : 1, sizeof(*rec_obj));
	nm->objs = calloc(nrec ? nrec : 1, sizeof(*nm->objs));
	nm->obj_rec = calloc(nrec ? nrec : 1, sizeof(*nm->obj_rec));
	idx = calloc(chunk, sizeof(*idx));
	if (!ix.slot || !rec_obj || !nm->objs || !nm->obj_rec || !idx) {
		err = -ENOMEM;
		goto fail;
	}
	for (i = 0; i < nrec; i++) {
		const struct vmaq_vma *v = vmaq_lookup_record(nm->lookup, i);

		rec_obj[i] = has_object(v) ? obj_of(nm, &ix, v, (uint32_t)i) :
					     UINT32_MAX;
	}
	for (i = 0; i < count; i += chunk) {
		size_t n = count - i < chunk ? count - i : chunk;

		err = vmaq_lookup_index(nm->lookup, i, n, idx);
		if (err)
			goto fail;
		for (size_t k = 0; k < n; k++) {
			struct vmaq_norm_addr *a = &nm->addrs[i + k];
			const struct vmaq_vma *v;

			a->object = VMAQ_NORM_NO_OBJECT;
			if (idx[k] == VMAQ_LOOKUP_UNMAPPED) {
				a->reason = VMAQ_NORM_UNMAPPED;
				continue;
			}
			v = vmaq_lookup_record(nm->lookup, idx[k]);
			if (rec_obj[idx[k]] == UINT32_MAX) {
				a->reason = VMAQ_NORM_ANON;
				continue;
			}
			a->object = rec_obj[idx[k]];
			a->reason = VMAQ_NORM_OK;
			/* a kernel mapping's offset is from its start */
			a->offset = v->kind == VMAQ_KIND_FILE ?
				    vmaq_vma_file_offset(v, addrs[i + k]) :
				    addrs[i + k] - v->start;
		}
	}
	free(ix.slot);
	free(rec_obj);
	free(idx);
	*normp = nm;
	return 0;
fail:
	free(ix.slot);
	free(rec_obj);
	free(idx);
	vmaq_norm_free(nm);
	return vmaq_err(err);
}

size_t vmaq_norm_count(const struct vmaq_norm *norm)
{
	return norm ? norm->count : 0;
}

const struct vmaq_norm_addr *vmaq_norm_addrs(const struct vmaq_norm *norm)
{
	if (!norm)
		return vmaq_err_ptr(-EINVAL);
	return norm->addrs;
}

size_t vmaq_norm_objects(const struct vmaq_norm *norm)
{
	return norm ? norm->nobjs : 0;
}

const struct vmaq_object *vmaq_norm_object(const struct vmaq_norm *norm,
					   size_t index)
{
	if (!norm || index >= norm->nobjs)
		return vmaq_err_ptr(-EINVAL);
	return &norm->objs[index];
}

const struct vmaq_vma *vmaq_norm_object_vma(const struct vmaq_norm *norm,
					    size_t index)
{
	if (!norm || index >= norm->nobjs)
		return vmaq_err_ptr(-EINVAL);
	return vmaq_lookup_record(norm->lookup, norm->obj_rec[index]);
}

void vmaq_norm_free(struct vmaq_norm *norm)
{
	if (!norm)
		return;
	vmaq_lookup_free(norm->lookup);
	free(norm->addrs);
	free(norm->objs);
	free(norm->obj_rec);
	free(norm);
}
