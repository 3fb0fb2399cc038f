// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Records: storage for names of any length, copies, filters, and what
 * every backend does to a record before it is handed out, so that the
 * three describe a VMA the same way.
 */
#include <stdlib.h>
#include <string.h>

#include <linux/vmaquery_uapi.h>

#include "backend.h"

#define DELETED_SUFFIX " (deleted)"

#ifdef VALGRIND_MAKE_MEM_DEFINED
int vmaq_on_valgrind;

/* A program does not start or stop running on valgrind: asked once. */
bool vmaq_valgrind_ask(void)
{
	int v = RUNNING_ON_VALGRIND ? 2 : 1;

	__atomic_store_n(&vmaq_on_valgrind, v, __ATOMIC_RELAXED);
	return v == 2;
}
#endif

void vmaq_rec_init(struct vmaq_rec *rec)
{
	memset(rec, 0, sizeof(*rec));
}

void vmaq_rec_init_buf(struct vmaq_rec *rec, char *buf, size_t size)
{
	vmaq_rec_init(rec);
	rec->name = buf;
	rec->name_cap = size;
	rec->name_borrowed = true;
}

void vmaq_rec_fini(struct vmaq_rec *rec)
{
	if (!rec->name_borrowed)
		free(rec->name);
	vmaq_rec_init(rec);
}

int vmaq_rec_grow(struct vmaq_rec *rec, size_t len)
{
	size_t cap;
	void *n;

	if (len >= VMAQ_LINE_MAX)
		return -ENAMETOOLONG;
	/* one allocation holds any name the ioctls return */
	for (cap = rec->name_cap ? rec->name_cap : PATH_MAX; cap <= len; cap *= 2)
		;
	n = rec->name;
	if (vmaq_buf_grow(&n, &rec->name_borrowed, rec->name_cap, cap))
		return -ENOMEM;
	rec->name = n;
	rec->name_cap = cap;
	return 0;
}

int vmaq_buf_grow(void **p, bool *borrowed, size_t keep, size_t size)
{
	void *n;

	if (*borrowed) {
		n = malloc(size);
		if (n && keep)
			memcpy(n, *p, keep);
	} else {
		n = realloc(*p, size);
	}
	if (!n)
		return -ENOMEM;
	*p = n;
	*borrowed = false;
	return 0;
}

int vmaq_rec_set_name(struct vmaq_rec *rec, const char *s, size_t len)
{
	int err = vmaq_rec_reserve(rec, len);

	if (err)
		return err;
	memmove(rec->name, s, len);
	rec->name[len] = '\0';
	rec->vma.name = rec->name;
	rec->vma.name_len = (uint32_t)len;
	return 0;
}

int vmaq_rec_set_text_name(struct vmaq_rec *rec, const char *s, size_t len)
{
	size_t n = vmaq_text_name_len(s, len);
	int err = vmaq_rec_reserve(rec, n);

	if (err)
		return err;
	vmaq_unescape_name(rec->name, s, len);
	rec->vma.name = rec->name;
	rec->vma.name_len = (uint32_t)n;
	return 0;
}

int vmaq_rec_copy(struct vmaq_rec *dst, const struct vmaq_rec *src)
{
	int err;

	dst->vma = src->vma;
	dst->vma.name = NULL;
	if (src->vma.name) {
		err = vmaq_rec_set_name(dst, src->vma.name, src->vma.name_len);
		if (err)
			return err;
	}
	if (src->vma.build_id) {
		memcpy(dst->build_id, src->vma.build_id, src->vma.build_id_size);
		dst->vma.build_id = dst->build_id;
	}
	return 0;
}

bool vmaq_match(const struct vmaq_vma *vma, unsigned int flags)
{
	unsigned int need = flags & (VMAQ_READ | VMAQ_WRITE | VMAQ_EXEC |
				     VMAQ_SHARED | VMAQ_FILE);

	if ((vma->flags & need) != need)
		return false;
	if ((flags & VMAQ_ANON) && (vma->flags & VMAQ_FILE))
		return false;
	return true;
}

/*
 * Is @v's name @lit, or does it start with @lit (a string literal)? By
 * its length: a map has a bracketed name every few VMAs ([heap], [stack],
 * [anon:...]), and strcmp() on each cost more than the rest of a batch
 * record's conversion.
 */
#define IS(v, lit) \
	((v)->name_len == sizeof(lit) - 1 && !memcmp((v)->name, lit, sizeof(lit) - 1))
#define STARTS(v, lit) \
	((v)->name_len >= sizeof(lit) - 1 && !memcmp((v)->name, lit, sizeof(lit) - 1))

/* The kind of a VMA whose name starts with '[' (vmaq_vma_finish()). */
uint32_t vmaq_bracket_kind(const struct vmaq_vma *v)
{
	if (STARTS(v, "[anon:") || STARTS(v, "[anon_shmem:"))
		return VMAQ_KIND_ANON;
	if (v->flags & VMAQ_FILE)
		return VMAQ_KIND_FILE;
	if (IS(v, "[heap]"))
		return VMAQ_KIND_HEAP;
	/* "[stack:TID]": thread stacks, before Linux 4.5 */
	if (IS(v, "[stack]") || STARTS(v, "[stack:"))
		return VMAQ_KIND_STACK;
	if (IS(v, "[vdso]"))
		return VMAQ_KIND_VDSO;
	if (IS(v, "[vvar]") || IS(v, "[vvar_vclock]"))
		return VMAQ_KIND_VVAR;
	if (IS(v, "[vsyscall]"))
		return VMAQ_KIND_GATE;
	return VMAQ_KIND_SPECIAL;
}

bool vmaq_deleted_name(const struct vmaq_vma *v)
{
	size_t n = sizeof(DELETED_SUFFIX) - 1;

	return v->name && (v->flags & VMAQ_FILE) && v->name_len >= n &&
	       !memcmp(v->name + v->name_len - n, DELETED_SUFFIX, n);
}
