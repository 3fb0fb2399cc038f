// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * vmaq_format(): one record as the line /proc/PID/maps shows for it, byte
 * for byte: hex fields of at least 8 digits (device: 2), the name padded
 * to column 73 and a newline in a path written as "\012", as seq_path()
 * does. Concatenating the lines of a full walk reproduces the file.
 */
#include <string.h>

#include "internal.h"

/* Column where the kernel's seq_pad() stops padding: 25 + 6 * 8 - 1. */
#define NAME_COLUMN 72

struct out {
	char *buf;
	size_t size, len;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->len < o->size) {
		size_t room = o->size - o->len;

		memcpy(o->buf + o->len, s, n < room ? n : room);
	}
	o->len += n;
}

static void put_c(struct out *o, char c)
{
	put(o, &c, 1);
}

static void put_hex(struct out *o, uint64_t v, int min_digits)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[16];
	int n = 0;

	do {
		tmp[n++] = digits[v & 0xf];
		v >>= 4;
	} while (v);
	while (n < min_digits)
		tmp[n++] = '0';
	while (n)
		put_c(o, tmp[--n]);
}

static void put_dec(struct out *o, uint64_t v)
{
	char tmp[20];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		put_c(o, tmp[--n]);
}

int vmaq_format(const struct vmaq_vma *vma, char *buf, size_t size)
{
	struct out o = { .buf = buf, .size = size };
	const char *s;

	/* the caller says which record it knows: 1.0's at least */
	if (!vma || (!buf && size) || vma->size < VMAQ_VMA_SIZE_1_0)
		return vmaq_err(-EINVAL);
	put_hex(&o, vma->start, 8);
	put_c(&o, '-');
	put_hex(&o, vma->end, 8);
	put_c(&o, ' ');
	put_c(&o, vma->flags & VMAQ_READ ? 'r' : '-');
	put_c(&o, vma->flags & VMAQ_WRITE ? 'w' : '-');
	put_c(&o, vma->flags & VMAQ_EXEC ? 'x' : '-');
	put_c(&o, vma->flags & VMAQ_SHARED ? 's' : 'p');
	put_c(&o, ' ');
	put_hex(&o, vma->offset, 8);
	put_c(&o, ' ');
	put_hex(&o, vma->dev_major, 2);
	put_c(&o, ':');
	put_hex(&o, vma->dev_minor, 2);
	put_c(&o, ' ');
	put_dec(&o, vma->inode);
	put_c(&o, ' ');
	if (vma->name) {
		while (o.len < NAME_COLUMN)
			put_c(&o, ' ');
		put_c(&o, ' ');
		for (s = vma->name; *s; s++) {
			if (*s == '\n')
				put(&o, "\\012", 4);
			else
				put_c(&o, *s);
		}
	}
	put_c(&o, '\n');
	if (size)
		buf[o.len < size ? o.len : size - 1] = '\0';
	if (o.len > INT32_MAX)
		return vmaq_err(-EOVERFLOW);
	return (int)o.len;
}
