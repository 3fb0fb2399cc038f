/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VMAQUERY_TABLE_H
#define VMAQUERY_TABLE_H

#include "internal.h"

struct vmaq_table {
	struct vmaq_vma *v;
	size_t n, cap;
	size_t *name_off, *bid_off;	/* arena offsets until finished */
	char *arena;
	size_t alen, acap;
	bool have_gen;		/* read with a backend that reports one: */
	uint64_t gen;		/* the generation sampled before reading */
};

int vmaq_table_add(struct vmaq_table *t, const struct vmaq_vma *vma);
void vmaq_table_finish(struct vmaq_table *t);
void vmaq_table_free(struct vmaq_table *t);
ssize_t vmaq_table_search(const struct vmaq_table *t, uint64_t addr);
int vmaq_table_read(struct vmaq_table *t, struct vmaq_proc *proc,
		    unsigned int flags);
bool vmaq_vma_equal(const struct vmaq_vma *a, const struct vmaq_vma *b);

#endif /* VMAQUERY_TABLE_H */
