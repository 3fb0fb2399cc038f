// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The /proc/PID/maps line parser. No scanf: every field is scanned by
 * hand, bounded by the line length, with overflow checks, so any input
 * gives either a record or -EBADMSG and never reads past the line.
 *
 * Format (fs/proc/task_mmu.c): "start-end perms offset major:minor inode",
 * then, if the VMA has a name, spaces up to column 73 and the name. Hex
 * fields have at least 8 (device: 2) lower-case digits.
 */
#include <string.h>

#include "backend.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Scan hex digits at *p (at least one, value must fit 64 bits). */
static bool scan_hex(const char **p, const char *end, uint64_t *val)
{
	const char *s = *p;
	uint64_t v = 0;
	int d;

	if (s == end || hexval(*s) < 0)
		return false;
	for (; s < end && (d = hexval(*s)) >= 0; s++) {
		if (v >> 60)
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*p = s;
	*val = v;
	return true;
}

static bool scan_dec(const char **p, const char *end, uint64_t *val)
{
	const char *s = *p;
	uint64_t v = 0;

	if (s == end || *s < '0' || *s > '9')
		return false;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		unsigned int d = (unsigned int)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*p = s;
	*val = v;
	return true;
}

static bool expect(const char **p, const char *end, char c)
{
	if (*p == end || **p != c)
		return false;
	(*p)++;
	return true;
}

static bool perm(const char **p, const char *end, char yes, char no,
		 uint32_t bit, uint32_t *flags)
{
	if (*p == end)
		return false;
	if (**p == yes)
		*flags |= bit;
	else if (**p != no)
		return false;
	(*p)++;
	return true;
}

int vmaq_parse_line(const char *line, size_t len, struct vmaq_vma *vma,
		    const char **name, size_t *name_len)
{
	const char *p = line, *end = line + len;
	uint64_t maj, min;
	uint32_t flags = 0;

	memset(vma, 0, sizeof(*vma));
	/* The kernel never writes a NUL into maps; a name cannot hold one. */
	if (memchr(line, '\0', len))
		return -EBADMSG;
	if (!scan_hex(&p, end, &vma->start) || !expect(&p, end, '-') ||
	    !scan_hex(&p, end, &vma->end) || !expect(&p, end, ' '))
		return -EBADMSG;
	if (vma->end <= vma->start)
		return -EBADMSG;
	if (!perm(&p, end, 'r', '-', VMAQ_READ, &flags) ||
	    !perm(&p, end, 'w', '-', VMAQ_WRITE, &flags) ||
	    !perm(&p, end, 'x', '-', VMAQ_EXEC, &flags) ||
	    !perm(&p, end, 's', 'p', VMAQ_SHARED, &flags) ||
	    !expect(&p, end, ' '))
		return -EBADMSG;
	if (!scan_hex(&p, end, &vma->offset) || !expect(&p, end, ' ') ||
	    !scan_hex(&p, end, &maj) || !expect(&p, end, ':') ||
	    !scan_hex(&p, end, &min) || !expect(&p, end, ' ') ||
	    !scan_dec(&p, end, &vma->inode))
		return -EBADMSG;
	/* dev_t majors have 12 bits and minors 20 in the kernel */
	if (maj > 0xfff || min > 0xfffff)
		return -EBADMSG;
	vma->dev_major = (uint32_t)maj;
	vma->dev_minor = (uint32_t)min;
	if (vma->dev_major || vma->dev_minor || vma->inode)
		flags |= VMAQ_FILE;
	vma->flags = flags;

	*name = NULL;
	*name_len = 0;
	if (p == end)
		return 0;
	/* The kernel always ends the fixed part with one space. */
	if (*p != ' ')
		return -EBADMSG;
	while (p < end && *p == ' ')
		p++;
	if (p < end) {
		*name = p;
		*name_len = (size_t)(end - p);
	}
	return 0;
}

static bool is_newline_escape(const char *s, size_t left)
{
	return left >= 4 && s[0] == '\\' && s[1] == '0' && s[2] == '1' &&
	       s[3] == '2';
}

/* The length of a name from the text once seq_path()'s "\012" are newlines. */
size_t vmaq_text_name_len(const char *src, size_t len)
{
	size_t i = 0, o = 0;

	while (i < len) {
		i += is_newline_escape(src + i, len - i) ? 4 : 1;
		o++;
	}
	return o;
}

/* Copy it so into @dst, which has room for that length and a NUL. */
void vmaq_unescape_name(char *dst, const char *src, size_t len)
{
	size_t i = 0, o = 0;

	while (i < len) {
		if (is_newline_escape(src + i, len - i)) {
			dst[o++] = '\n';
			i += 4;
		} else {
			dst[o++] = src[i++];
		}
	}
	dst[o] = '\0';
}
