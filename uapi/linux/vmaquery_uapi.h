/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * Userspace view of the /proc/PID/maps ioctl ABI, for builds whose
 * installed kernel headers predate it (Debian 12 ships 6.1 headers, which
 * have no PROCMAP_QUERY).
 *
 * The layout and numbers are the kernel's ABI (include/uapi/linux/fs.h);
 * tests/kernel/uapi_agree.c checks them against the kernel tree's headers.
 * Every definition is guarded, so this header may be included after a
 * <linux/fs.h> that already has them; it must not be included before one.
 */
#ifndef _VMAQUERY_UAPI_H
#define _VMAQUERY_UAPI_H

#include <linux/types.h>
#include <linux/ioctl.h>

#ifndef PROCFS_IOCTL_MAGIC
#define PROCFS_IOCTL_MAGIC 'f'
#endif

#ifndef PROCMAP_QUERY
/* Linux 6.11: one VMA per call, looked up by address. */
#define PROCMAP_QUERY _IOWR(PROCFS_IOCTL_MAGIC, 17, struct procmap_query)

enum procmap_query_flags {
	/* VMA permission filters (and the same bits in vma_flags on return) */
	PROCMAP_QUERY_VMA_READABLE		= 0x01,
	PROCMAP_QUERY_VMA_WRITABLE		= 0x02,
	PROCMAP_QUERY_VMA_EXECUTABLE		= 0x04,
	PROCMAP_QUERY_VMA_SHARED		= 0x08,
	/* return the first matching VMA at or after query_addr */
	PROCMAP_QUERY_COVERING_OR_NEXT_VMA	= 0x10,
	/* consider only VMAs backed by a file */
	PROCMAP_QUERY_FILE_BACKED_VMA		= 0x20,
};

struct procmap_query {
	__u64 size;		/* in: sizeof(struct procmap_query) */
	__u64 query_flags;	/* in: enum procmap_query_flags */
	__u64 query_addr;	/* in */
	__u64 vma_start;	/* out */
	__u64 vma_end;		/* out */
	__u64 vma_flags;	/* out: PROCMAP_QUERY_VMA_* */
	__u64 vma_page_size;	/* out */
	__u64 vma_offset;	/* out: file offset of vma_start */
	__u64 inode;		/* out */
	__u32 dev_major;	/* out */
	__u32 dev_minor;	/* out */
	__u32 vma_name_size;	/* in: buffer size; out: name length + 1 */
	__u32 build_id_size;	/* in: buffer size; out: build ID length */
	__u64 vma_name_addr;	/* in: user pointer to the name buffer */
	__u64 build_id_addr;	/* in: user pointer to the build ID buffer */
};
#endif /* PROCMAP_QUERY */

#ifndef PROCMAP_QUERY_BATCH
/*
 * The vmaquery series: many VMAs per call, by address or over a range,
 * and the address-space generation. See the kernel's
 * Documentation/filesystems/proc.rst and include/uapi/linux/fs.h.
 *
 * Two kernels carry it: the 7.3 series (this layout) and, until it is
 * rebuilt on the same ABI, the 6.12 series, whose first version had
 * "reserved" where kernel_rec_size is (it stays 0 there), sorted
 * addresses on its own, took 72-byte records, always filled in the
 * generation (it has no PROCMAP_BATCH_GENERATION flag, and rejects it)
 * and has no PROCMAP_QUERY_GENERATION.
 */
#define PROCMAP_QUERY_BATCH _IOWR(PROCFS_IOCTL_MAGIC, 18, struct procmap_batch)
/* 'f' 19 to 39 are fscrypt's */
#define PROCMAP_QUERY_GENERATION _IOR(PROCFS_IOCTL_MAGIC, 40, __u64)

enum procmap_batch_flags {
	PROCMAP_BATCH_RANGE		= 0x100,	/* walk [start, end) */
	PROCMAP_BATCH_NAMES		= 0x200,	/* names into the string area */
	PROCMAP_BATCH_BUILD_IDS		= 0x400,	/* build IDs, likewise */
	PROCMAP_BATCH_GENERATION	= 0x800,	/* fill in generation */
};

#define PROCMAP_BATCH_NO_VMA		0xffffffffU	/* index[]: not mapped */
#define PROCMAP_BATCH_UNRESOLVED	0xfffffffeU	/* index[]: no room left */
#define PROCMAP_BATCH_BUILD_ID_MAX	20	/* the longest build ID */
/* a string area this large always holds one record's strings */
#define PROCMAP_BATCH_STRS_MIN		(4096 + PROCMAP_BATCH_BUILD_ID_MAX)

struct procmap_batch {
	__u64 size;		/* in: sizeof(struct procmap_batch) */
	__u64 flags;		/* in: PROCMAP_BATCH_*, PROCMAP_QUERY_* filters */
	__u64 generation;	/* out (0 on input) */
	__u64 start;		/* range mode: in: from; out: resume at */
	__u64 end;		/* range mode: in: up to, exclusive */
	__u64 addrs_addr;	/* address mode: in: sorted __u64 addrs[addr_count] */
	__u64 index_addr;	/* address mode: in: __u32 index[addr_count] */
	__u64 recs_addr;	/* in: room for rec_count records */
	__u64 strs_addr;	/* in: string area of strs_size bytes */
	__u32 addr_count;	/* address mode: in */
	__u32 rec_size;		/* in: size of the caller's record */
	__u32 rec_count;	/* in: room; out: records written */
	__u32 strs_size;	/* in: room; out: bytes used */
	__u32 resolved;		/* address mode: out (0 on input) */
	__u32 kernel_rec_size;	/* out (0 on input): the kernel's record size */
};

enum procmap_vma_record_flags {
	PROCMAP_VMA_NAME_TOO_LONG	= 0x1,	/* a name over PATH_MAX: none given */
	PROCMAP_VMA_FILE_DELETED	= 0x2,	/* the file has been unlinked */
	PROCMAP_VMA_GATE		= 0x4,	/* the gate VMA */
	PROCMAP_VMA_CLIPPED		= 0x8,	/* starts above the VMA's start */
};

struct procmap_vma_record {
	__u64 vma_start;
	__u64 vma_end;
	__u64 vma_flags;	/* PROCMAP_QUERY_VMA_* */
	__u64 vma_page_size;
	__u64 vma_offset;
	__u64 inode;
	__u32 dev_major;
	__u32 dev_minor;
	__u32 name_off;		/* in the string area; records of one file
				 * may share their name and build ID */
	__u32 name_size;	/* with the NUL; 0: no name */
	__u32 build_id_off;	/* in the string area */
	__u32 build_id_size;	/* 0: none */
	__u64 rec_flags;	/* PROCMAP_VMA_* */
};

#define PROCMAP_VMA_RECORD_SIZE_VER0	80
#endif /* PROCMAP_QUERY_BATCH */

#endif /* _VMAQUERY_UAPI_H */
