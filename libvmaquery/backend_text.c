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

/*
 * End of file is also what every read returns once the address space the
 * file was opened on has gone (the task exited, or exec replaced it):
 * each read() pins the mm for its own length only, so a map can end
 * early at any read boundary and still look whole. The answer is
 * complete only if the address space still exists after the read that
 * saw the end: a live mm always shows at least one line from offset 0.
 * (If it goes away just after, the caller is told ESRCH for a map that
 * was whole: the safe side.)
 */
int vmaq_text_alive(struct vmaq_proc *proc)
{
	ssize_t n;
	char c;

	pthread_mutex_lock(&proc->text_lock);
	do {
		n = pread(proc->fd, &c, 1, 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		n = -errno;
	/* the file's position is now nobody's */
	proc->text_reader = 0;
	pthread_mutex_unlock(&proc->text_lock);
	if (n < 0)
		return (int)n;
	return n ? 0 : -ESRCH;
}

static ssize_t pread_all(int fd, void *buf, size_t len, off_t off)
{
	ssize_t n;

	do {
		n = pread(fd, buf, len, off);
	} while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

/*
 * The rest of the file from w->off into the window, to its end, without
 * letting go of the file: *at_eof is set. Used once another walk has
 * moved the file's position, so that walks taking turns cost one extra
 * pass each, not a pass per read.
 */
static ssize_t text_read_rest(struct vmaq_walk *w, bool *at_eof)
{
	char *nbuf;
	ssize_t n;

	/* the window takes what is read at once: 0 is returned */
	for (;;) {
		if (w->cap - w->end < TEXT_CHUNK) {
			nbuf = realloc(w->buf, w->cap * 2);
			if (!nbuf)
				return -ENOMEM;
			w->buf = nbuf;
			w->cap *= 2;
		}
		n = pread_all(w->proc->fd, w->buf + w->end, w->cap - w->end,
			      w->off);
		if (n < 0)
			return n;
		if (n == 0)
			break;
		w->end += (size_t)n;
		w->off += n;
		w->empty = false;
	}
	*at_eof = true;
	return 0;
}

/*
 * Read on from w->off if the file's position is still this walk's;
 * otherwise (another walk of the handle read in between) start again
 * from offset 0 with an empty window and read the whole file: text_next()
 * skips what the walk has passed, by address. Reads under the handle's
 * lock, so that walks in different threads cannot interleave inside one.
 */
static ssize_t text_read(struct vmaq_walk *w, bool *at_eof)
{
	struct vmaq_proc *proc = w->proc;
	ssize_t n;

	*at_eof = false;
	pthread_mutex_lock(&proc->text_lock);
	if (!w->text_id)
		w->text_id = ++proc->text_ids;
	if (w->off && (proc->text_reader != w->text_id ||
		       proc->text_pos != w->off)) {
		w->off = 0;
		w->start = w->end = 0;
		w->held = false;
		n = text_read_rest(w, at_eof);
	} else {
		n = pread_all(proc->fd, w->buf + w->end, w->cap - w->end,
			      w->off);
	}
	if (n >= 0) {
		proc->text_reader = w->text_id;
		proc->text_pos = w->off + n;
	}
	pthread_mutex_unlock(&proc->text_lock);
	return n;
}

static int text_fill(struct vmaq_walk *w)
{
	bool at_eof;
	ssize_t n;
	int err;

	err = text_reserve(w);
	if (err)
		return err;
	n = text_read(w, &at_eof);
	if (n < 0)
		return (int)n;
	if (n > 0) {
		w->empty = false;
		w->off += n;
		w->end += (size_t)n;
	}
	if (n == 0 || at_eof) {
		w->eof = true;
		/* The kernel shows nothing once the address space is gone. */
		if (w->empty)
			return -ESRCH;
		return vmaq_text_alive(w->proc);
	}
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
		err = text_line(w, &line, &len);
		if (err)
			return err;
		/* where the line starts (a re-read may have moved the window) */
		saved = (size_t)(line - w->buf);
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
