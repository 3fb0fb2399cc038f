// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: arbitrary bytes as the contents of a maps file.
 *
 * The input goes through the whole text backend (a memfd opened with
 * vmaq_open_fd(), so line assembly, long lines and a missing final newline
 * are covered too): a full walk, a find and a lookup. Every line the
 * parser accepts must render back to text that parses to the same record,
 * so the parser and the renderer check each other.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

static void check_roundtrip(const struct vmaq_vma *v)
{
	static char text[VMAQ_LINE_MAX + 64], nbuf[VMAQ_LINE_MAX + 1];
	struct vmaq_vma back;
	const char *name;
	size_t nl;
	int n = vmaq_format(v, text, sizeof(text));

	if (n <= 0 || (size_t)n >= sizeof(text))
		abort();
	if (vmaq_parse_line(text, (size_t)n - 1, &back, &name, &nl))
		abort();
	if (back.start != v->start || back.end != v->end ||
	    back.offset != v->offset || back.inode != v->inode ||
	    back.dev_major != v->dev_major || back.dev_minor != v->dev_minor ||
	    back.flags != (v->flags & ~VMAQ_DELETED))
		abort();
	if (!name != !v->name)
		abort();
	if (name) {
		if (vmaq_text_name_len(name, nl) >= sizeof(nbuf))
			abort();
		vmaq_unescape_name(nbuf, name, nl);
		/* a name that began with spaces loses them: the format has no
		 * way to tell them from padding, and neither has the kernel's */
		const char *want = v->name;

		while (*want == ' ')
			want++;
		if (strcmp(nbuf, want))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	VMAQ_OPTS(vmaq_open_opts, o, .backend = VMAQ_BACKEND_TEXT);
	struct vmaq_proc *p;
	struct vmaq_iter *it;
	struct vmaq_lookup *l;
	const struct vmaq_vma *v;
	uint64_t addrs[3] = { 0, 0x7fff0000, ~0ull };

	if (fd < 0)
		fd = memfd_create("maps-fuzz", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, 0) ||
	    (size && pwrite(fd, data, size, 0) != (ssize_t)size))
		abort();
	if (vmaq_open_fd(fd, &o, &p))
		return 0;	/* empty input: no address space */
	if (!vmaq_iter_new(p, VMAQ_NAME, &it)) {
		uint64_t last_end = 0;

		while (vmaq_iter_next(it, &v) > 0) {
			check_roundtrip(v);
			if (v->end <= v->start)
				abort();
			last_end = v->end;
		}
		(void)last_end;
		vmaq_iter_free(it);
	}
	if (size >= 8)
		memcpy(&addrs[1], data, 8);
	vmaq_find(p, addrs[1], VMAQ_NEXT | VMAQ_NAME, &v);
	if (!vmaq_lookup(p, addrs, 3, VMAQ_NAME, &l))
		vmaq_lookup_free(l);
	vmaq_close(p);
	return 0;
}
