/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every number of the ioctl ABI that userspace depends on: ioctl numbers,
 * flag values, struct sizes and field offsets. tests/kernel/uapi_agree.c
 * evaluates this list against uapi/linux/vmaquery_uapi.h, and
 * tests/uapi/kernel_layout.c against the patched kernel tree's installed
 * headers; the test fails on any difference.
 */
#ifndef VMAQ_UAPI_LAYOUT_H
#define VMAQ_UAPI_LAYOUT_H

#include <stddef.h>

struct vmaq_layout {
	const char *what;
	unsigned long long value;
};

#define VMAQ_FIELD(s, f) X(offsetof(struct s, f)) X(sizeof(((struct s *)0)->f))

#define VMAQ_UAPI_LAYOUT						\
	X(PROCFS_IOCTL_MAGIC)						\
	X(PROCMAP_QUERY)						\
	X(PROCMAP_QUERY_VMA_READABLE) X(PROCMAP_QUERY_VMA_WRITABLE)	\
	X(PROCMAP_QUERY_VMA_EXECUTABLE) X(PROCMAP_QUERY_VMA_SHARED)	\
	X(PROCMAP_QUERY_COVERING_OR_NEXT_VMA)				\
	X(PROCMAP_QUERY_FILE_BACKED_VMA)				\
	X(sizeof(struct procmap_query))					\
	VMAQ_FIELD(procmap_query, size)					\
	VMAQ_FIELD(procmap_query, query_flags)				\
	VMAQ_FIELD(procmap_query, query_addr)				\
	VMAQ_FIELD(procmap_query, vma_start)				\
	VMAQ_FIELD(procmap_query, vma_end)				\
	VMAQ_FIELD(procmap_query, vma_flags)				\
	VMAQ_FIELD(procmap_query, vma_page_size)			\
	VMAQ_FIELD(procmap_query, vma_offset)				\
	VMAQ_FIELD(procmap_query, inode)				\
	VMAQ_FIELD(procmap_query, dev_major)				\
	VMAQ_FIELD(procmap_query, dev_minor)				\
	VMAQ_FIELD(procmap_query, vma_name_size)			\
	VMAQ_FIELD(procmap_query, build_id_size)			\
	VMAQ_FIELD(procmap_query, vma_name_addr)			\
	VMAQ_FIELD(procmap_query, build_id_addr)			\
	X(PROCMAP_QUERY_BATCH)						\
	X(PROCMAP_BATCH_RANGE) X(PROCMAP_BATCH_NAMES)			\
	X(PROCMAP_BATCH_BUILD_IDS)					\
	X(PROCMAP_BATCH_NO_VMA) X(PROCMAP_BATCH_UNRESOLVED)		\
	X(PROCMAP_QUERY_GENERATION)					\
	X(PROCMAP_VMA_NAME_TOO_LONG) X(PROCMAP_VMA_FILE_DELETED)		\
	X(PROCMAP_VMA_GATE) X(PROCMAP_VMA_CLIPPED)			\
	X(PROCMAP_BATCH_GENERATION) X(PROCMAP_BATCH_BUILD_ID_MAX)	\
	X(PROCMAP_BATCH_STRS_MIN)					\
	X(sizeof(struct procmap_batch))					\
	X(_Alignof(struct procmap_batch))				\
	VMAQ_FIELD(procmap_batch, size)					\
	VMAQ_FIELD(procmap_batch, flags)				\
	VMAQ_FIELD(procmap_batch, generation)				\
	VMAQ_FIELD(procmap_batch, start)				\
	VMAQ_FIELD(procmap_batch, end)					\
	VMAQ_FIELD(procmap_batch, addrs_addr)				\
	VMAQ_FIELD(procmap_batch, index_addr)				\
	VMAQ_FIELD(procmap_batch, recs_addr)				\
	VMAQ_FIELD(procmap_batch, strs_addr)				\
	VMAQ_FIELD(procmap_batch, addr_count)				\
	VMAQ_FIELD(procmap_batch, rec_size)				\
	VMAQ_FIELD(procmap_batch, rec_count)				\
	VMAQ_FIELD(procmap_batch, strs_size)				\
	VMAQ_FIELD(procmap_batch, resolved)				\
	VMAQ_FIELD(procmap_batch, kernel_rec_size)			\
	X(PROCMAP_VMA_RECORD_SIZE_VER0)					\
	X(sizeof(struct procmap_vma_record))				\
	X(_Alignof(struct procmap_vma_record))				\
	VMAQ_FIELD(procmap_vma_record, vma_start)			\
	VMAQ_FIELD(procmap_vma_record, vma_end)				\
	VMAQ_FIELD(procmap_vma_record, vma_flags)			\
	VMAQ_FIELD(procmap_vma_record, vma_page_size)			\
	VMAQ_FIELD(procmap_vma_record, vma_offset)			\
	VMAQ_FIELD(procmap_vma_record, inode)				\
	VMAQ_FIELD(procmap_vma_record, dev_major)			\
	VMAQ_FIELD(procmap_vma_record, dev_minor)			\
	VMAQ_FIELD(procmap_vma_record, name_off)			\
	VMAQ_FIELD(procmap_vma_record, name_size)			\
	VMAQ_FIELD(procmap_vma_record, build_id_off)			\
	VMAQ_FIELD(procmap_vma_record, build_id_size)			\
	VMAQ_FIELD(procmap_vma_record, rec_flags)

#define X(expr) { #expr, (unsigned long long)(expr) },

/* The list as seen by the kernel tree's headers (tests/uapi/kernel_layout.c). */
extern const struct vmaq_layout vmaq_kernel_layout[];
extern const size_t vmaq_kernel_layout_len;

#endif /* VMAQ_UAPI_LAYOUT_H */
