// SPDX-License-Identifier: GPL-2.0
/*
 * uapi/linux/vmaquery_uapi.h must describe the very ABI the patched
 * kernel defines: the same ioctl numbers, flag values, struct sizes,
 * alignments and field offsets and sizes (tests/uapi_layout.h lists them).
 * The kernel's side is compiled from the tree's installed headers.
 */
#include <sys/ioctl.h>

#include <linux/vmaquery_uapi.h>

#include "kselftest_harness.h"
#include "uapi_layout.h"

static const struct vmaq_layout ours[] = { VMAQ_UAPI_LAYOUT };

TEST(every_number_agrees)
{
	size_t n = sizeof(ours) / sizeof(ours[0]);

	ASSERT_EQ(n, vmaq_kernel_layout_len);
	for (size_t i = 0; i < n; i++) {
		ASSERT_STREQ(ours[i].what, vmaq_kernel_layout[i].what);
		EXPECT_EQ(ours[i].value, vmaq_kernel_layout[i].value)
			TH_LOG("%s: uapi/ has %llu, the kernel %llu", ours[i].what,
			       ours[i].value, vmaq_kernel_layout[i].value);
	}
}

/* The layout rules of the ABI, on our copy. */
TEST(structs_are_size_first_and_64_bit_aligned)
{
	EXPECT_EQ(0, offsetof(struct procmap_batch, size));
	EXPECT_EQ(0, sizeof(struct procmap_batch) % 8);
	EXPECT_EQ(8, _Alignof(struct procmap_batch));
	EXPECT_EQ(0, sizeof(struct procmap_vma_record) % 8);
	EXPECT_EQ(PROCMAP_VMA_RECORD_SIZE_VER0, sizeof(struct procmap_vma_record));
	/* the ioctl number encodes the struct size it was defined with */
	EXPECT_EQ(sizeof(struct procmap_batch), _IOC_SIZE(PROCMAP_QUERY_BATCH));
	EXPECT_EQ(18, _IOC_NR(PROCMAP_QUERY_BATCH));
	EXPECT_EQ(_IOC_READ | _IOC_WRITE, _IOC_DIR(PROCMAP_QUERY_BATCH));
}

TEST_HARNESS_MAIN
