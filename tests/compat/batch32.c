// SPDX-License-Identifier: GPL-2.0
/*
 * PROCMAP_QUERY_BATCH from a 32-bit (compat) process: built with -m32 and
 * run in the VM (the test kernel has IA32_EMULATION). The ABI has one
 * layout for both word sizes, so compat_ptr_ioctl() is all the kernel
 * needs; this proves it by walking this process's map in range mode and
 * looking every VMA up in address mode, against the text file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/vmaquery_uapi.h>

#include "kselftest_harness.h"

_Static_assert(sizeof(void *) == 4, "build this test with -m32");
_Static_assert(sizeof(struct procmap_batch) == 96, "one layout for 32 and 64 bits");
_Static_assert(sizeof(struct procmap_vma_record) == PROCMAP_VMA_RECORD_SIZE_VER0,
	       "one layout for 32 and 64 bits");
_Static_assert(offsetof(struct procmap_batch, addr_count) == 72, "one layout");

struct line {
	unsigned long long start, end;
	char perms[5];
	char name[256];
};

static int read_text(struct line *l, int max)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char buf[512];
	int n = 0;

	while (f && n < max && fgets(buf, sizeof(buf), f)) {
		int at = 0;

		l[n].name[0] = '\0';
		if (sscanf(buf, "%llx-%llx %4s %*x %*x:%*x %*u %n", &l[n].start,
			   &l[n].end, l[n].perms, &at) < 3)
			break;
		buf[strcspn(buf, "\n")] = '\0';
		snprintf(l[n].name, sizeof(l[n].name), "%s", buf + at);
		n++;
	}
	if (f)
		fclose(f);
	return n;
}

TEST(compat_range_and_address_modes_agree_with_the_text)
{
	static struct procmap_vma_record recs[256];
	static char strs[65536];
	static struct line text[256];
	static uint64_t addrs[256];
	static uint32_t index[256];
	struct procmap_batch b;
	int fd = open("/proc/self/maps", O_RDONLY), n;

	uint64_t gen = 0;
	/* the 7.3 ABI has the generation command and fills the batch's when asked */
	bool v2 = !ioctl(fd, PROCMAP_QUERY_GENERATION, &gen);

	memset(&b, 0, sizeof(b));
	b.size = sizeof(b);
	b.flags = v2 ? PROCMAP_BATCH_GENERATION : 0;
	if (ioctl(fd, PROCMAP_QUERY_BATCH, &b))
		SKIP(return, "no PROCMAP_QUERY_BATCH for 32-bit callers: %s", strerror(errno));
	EXPECT_NE(0, b.generation);
	if (v2) {
		EXPECT_EQ(gen, b.generation);
	}

	n = read_text(text, 256);
	ASSERT_GT(n, 3);
	memset(&b, 0, sizeof(b));
	b.size = sizeof(b);
	b.flags = PROCMAP_BATCH_RANGE | PROCMAP_BATCH_NAMES;
	b.end = UINT64_MAX;
	b.rec_size = sizeof(recs[0]);
	b.rec_count = 256;
	b.recs_addr = (uintptr_t)recs;
	b.strs_size = sizeof(strs);
	b.strs_addr = (uintptr_t)strs;
	ASSERT_EQ(0, ioctl(fd, PROCMAP_QUERY_BATCH, &b)) TH_LOG("%s", strerror(errno));
	ASSERT_EQ((uint32_t)n, b.rec_count);
	EXPECT_EQ(UINT64_MAX, b.start);
	for (int i = 0; i < n; i++) {
		const char *name = recs[i].name_size ? strs + recs[i].name_off : "";

		EXPECT_EQ(text[i].start, recs[i].vma_start);
		EXPECT_EQ(text[i].end, recs[i].vma_end);
		EXPECT_STREQ(text[i].name, name);
		addrs[i] = recs[i].vma_end - 1;
	}

	memset(&b, 0, sizeof(b));
	b.size = sizeof(b);
	b.addr_count = (uint32_t)n;
	b.addrs_addr = (uintptr_t)addrs;
	b.index_addr = (uintptr_t)index;
	b.rec_size = sizeof(recs[0]);
	b.rec_count = 256;
	b.recs_addr = (uintptr_t)recs;
	ASSERT_EQ(0, ioctl(fd, PROCMAP_QUERY_BATCH, &b)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ((uint32_t)n, b.resolved);
	for (int i = 0; i < n; i++) {
		ASSERT_LT(index[i], b.rec_count);
		EXPECT_EQ(text[i].start, recs[index[i]].vma_start);
	}
	/* a pointer beyond 4 GiB is no pointer of a 32-bit task */
	b.recs_addr = 1ULL << 32;
	b.generation = 0;
	b.resolved = 0;
	b.kernel_rec_size = 0;
	EXPECT_EQ(-1, ioctl(fd, PROCMAP_QUERY_BATCH, &b));
	EXPECT_EQ(EFAULT, errno);
	close(fd);
}

TEST_HARNESS_MAIN
