// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Text backend: /proc/PID/maps read in order, in large chunks (each read()
 * takes the target's mmap_lock once on 6.12, so fewer reads means less
 * interference), parsed line by line, and stopped as soon as the answer is
 * known.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define TEXT_CHUNK (64 * 1024)

/* Make room for at least TEXT_CHUNK more bytes after w->end. */
static int text_reserve(struct vmaq_walk *w)
{
	char *nbuf;
	size_t ncap;

	if (w->start > 0 && w->start == w->end)
		w->start = w->end = 0;
	if (w->cap - w->end >= TEXT_CHUNK)
		return 0;
	if (w->start > 0) {
		memmove(w->buf, w->buf + w->start, w->end - w->start);
		w->end -= w->start;
		w->start = 0;
		if (w->cap - w->end >= TEXT_CHUNK)
			return 0;
	}
	ncap = w->cap ? w->cap * 2 : 2 * TEXT_CHUNK;
	nbuf = realloc(w->buf, ncap);
	if (!nbuf)
		return -ENOMEM;
	w->buf = nbuf;
	w->cap = ncap;
	return 0;
}

static int text_fill(struct vmaq_walk *w)
{
	ssize_t n;
	int err;

	err = text_reserve(w);
	if (err)
		return err;
	do {
		n = pread(w->proc->fd, w->buf + w->end, w->cap - w->end, w->off);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0) {
		w->eof = true;
		/* The kernel shows nothing once the address space is gone. */
		if (w->empty)
			return -ESRCH;
		return 0;
	}
	w->empty = false;
	w->off += n;
	w->end += (size_t)n;
	return 0;
}

/* Next complete line (without '\n'), or -ENOENT at the end of the file. */
static int text_line(struct vmaq_walk *w, const char **line, size_t *len)
{
	for (;;) {
		char *s = NULL, *nl = NULL;
		int err;

		/* no arithmetic on the NULL window before the first read */
		if (w->end > w->start) {
			s = w->buf + w->start;
			nl = memchr(s, '\n', w->end - w->start);
		}
		if (nl) {
			*line = s;
			*len = (size_t)(nl - s);
			if (*len > VMAQ_LINE_MAX)
				return -EBADMSG;
			w->start += *len + 1;
			return 0;
		}
		if (w->end - w->start > VMAQ_LINE_MAX)
			return -EBADMSG;
		if (w->eof) {
			/* maps always ends lines with '\n' */
			if (w->end > w->start)
				return -EBADMSG;
			return -ENOENT;
		}
		err = text_fill(w);
		if (err)
			return err;
	}
}

static int text_next(struct vmaq_walk *w, uint64_t addr, struct vmaq_rec *rec)
{
	const char *line, *name;
	size_t len, name_len, saved;
	int err;

	/* The line returned last time is still in the window: skip it
	 * without parsing it again if the caller has moved past it. */
	if (w->held && addr >= w->held_end)
		w->start = w->held_next;
	w->held = false;
	for (;;) {
		saved = w->start;
		err = text_line(w, &line, &len);
		if (err)
			return err;
		err = vmaq_parse_line(line, len, &rec->vma, &name, &name_len);
		if (err)
			return err;
		if (rec->vma.end <= addr || !vmaq_match(&rec->vma, w->flags))
			continue;
		/*
		 * The same VMA may answer the next, higher address too: keep
		 * its line in the window. The window only moves in text_fill,
		 * which is not called before this line is consumed again.
		 */
		w->held = true;
		w->held_next = w->start;
		w->held_end = rec->vma.end;
		w->start = saved;
		/* the name also leads the build-ID reader to the file */
		if (name && (w->flags & (VMAQ_NAME | VMAQ_BUILD_ID))) {
			/* longer than PATH_MAX: not a name the kernel wrote */
			if (vmaq_unescape_name(rec->name, sizeof(rec->name), name,
					       name_len) == SIZE_MAX)
				return -EBADMSG;
			rec->vma.name = rec->name;
		}
		return 0;
	}
}

const struct vmaq_backend_ops vmaq_text_ops = {
	.next = text_next,
};
