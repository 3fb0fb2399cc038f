/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VMAQUERY_TABLE_H
#define VMAQUERY_TABLE_H

#include "internal.h"

struct vmaq_table {
	struct vmaq_vma *v;
	size_t n, cap;
	size_t hint;		/* records to make room for first */
	char *arena;		/* names and build IDs */
	size_t alen, acap, ahint;
	bool borrowed_v;	/* v and arena are the caller's first buffers: */
	bool borrowed_arena;	/* never freed, copied to the heap to grow */
	bool have_gen;		/* read with a backend that reports one: */
	uint64_t gen;		/* the generation sampled before reading */
};

/* Expect about @records records: the first allocations' sizes. */
void vmaq_table_hint(struct vmaq_table *t, size_t records);
/*
 * Start with the caller's @v (room for @nv records) and @arena (@na
 * bytes, or NULL: the arena is allocated when first needed), which
 * outlive the table: a small lookup keeps its records in its own
 * allocation. The table moves to the heap only if it outgrows them.
 */
void vmaq_table_use(struct vmaq_table *t, struct vmaq_vma *v, size_t nv,
		    char *arena, size_t na);
int vmaq_table_add(struct vmaq_table *t, const struct vmaq_vma *vma);
void vmaq_table_free(struct vmaq_table *t);
ssize_t vmaq_table_search(const struct vmaq_table *t, uint64_t addr);
int vmaq_table_read(struct vmaq_table *t, struct vmaq_proc *proc,
		    unsigned int flags);
bool vmaq_vma_equal(const struct vmaq_vma *a, const struct vmaq_vma *b);

#endif /* VMAQUERY_TABLE_H */
