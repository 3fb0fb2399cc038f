// SPDX-License-Identifier: GPL-2.0
/*
 * The ABI list of tests/uapi_layout.h, evaluated against the patched
 * kernel tree's installed headers (build/kernel/headers) rather than
 * uapi/. Linked into tests/kernel/uapi_agree.
 */
#include <linux/fs.h>

#include "uapi_layout.h"

const struct vmaq_layout vmaq_kernel_layout[] = { VMAQ_UAPI_LAYOUT };
const size_t vmaq_kernel_layout_len =
	sizeof(vmaq_kernel_layout) / sizeof(vmaq_kernel_layout[0]);
