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

#include "backend.h"

#define TEXT_CHUNK (64 * 1024)

/* A walk's page sizes of the files it met, by device and inode. */
struct text_page {
	uint64_t inode;
	uint32_t dev_major, dev_minor;
	uint64_t size;		/* 0: free slot */
};

struct text_pages {
	size_t used, mask;	/* mask + 1 slots, a power of two */
	struct text_page slot[];
};

/* A walk's window onto the file, read in order. */
struct text_walk {
	char *buf;
	size_t cap, start, end;
	off_t off;
	uint64_t id;		/* this walk's id, for maps->reader */
	bool eof;
	bool got;		/* something was read */
	bool held;		/* the last line returned is still in the window */
	int pages_state;	/* PROCMAP_QUERY: 0 not asked yet, 1 offered, -1 not */
	size_t held_next;	/* where the line after it starts */
	uint64_t held_end;	/* its VMA's end */
	struct text_pages *pages;
	/*
	 * The last file whose build ID could not be read while the address
	 * space was there (answer 1): its other VMAs need not ask again.
	 * By name too: two btrfs subvolumes' files may share an inode
	 * number and the device maps shows.
	 */
	struct vmaq_file_memo bid_lost;
};

/* The handle's: build IDs read from the mapped files. */
struct text_state {
	struct vmaq_bid_cache bids;
};

/* Make room for at least TEXT_CHUNK more bytes after w->end. */
static int text_reserve(struct text_walk *w)
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
 * The rest of the file from w->off into the window, to its end, without
 * letting go of the file: *at_eof is set. Used once another walk has
 * moved the file's position, so that walks taking turns cost one extra
 * pass each, not a pass per read.
 */
static ssize_t text_read_rest(struct text_walk *w, int fd, bool *at_eof)
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
		n = vmaq_pread(fd, w->buf + w->end, w->cap - w->end, w->off);
		if (n < 0)
			return n;
		if (n == 0)
			break;
		w->end += (size_t)n;
		w->off += n;
		w->got = true;
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
static ssize_t text_read(struct text_walk *w, struct vmaq_maps *m, bool *at_eof)
{
	ssize_t n;

	*at_eof = false;
	pthread_mutex_lock(&m->lock);
	if (!w->id)
		w->id = ++m->ids;
	if (w->off && (m->reader != w->id || m->pos != w->off)) {
		w->off = 0;
		w->start = w->end = 0;
		w->held = false;
		n = text_read_rest(w, m->fd, at_eof);
	} else {
		n = vmaq_pread(m->fd, w->buf + w->end, w->cap - w->end, w->off);
	}
	if (n >= 0) {
		m->reader = w->id;
		m->pos = w->off + n;
	}
	pthread_mutex_unlock(&m->lock);
	return n;
}

/*
 * The answer is complete only if the address space still exists after
 * the read that saw the end. (If it goes away just after, the caller is
 * told ESRCH for a map that was whole: the safe side.)
 */
static int text_fill(struct text_walk *w, struct vmaq_maps *m)
{
	bool at_eof;
	ssize_t n;
	int err;

	err = text_reserve(w);
	if (err)
		return err;
	n = text_read(w, m, &at_eof);
	if (n < 0)
		return (int)n;
	if (n > 0) {
		w->got = true;
		w->off += n;
		w->end += (size_t)n;
	}
	if (n == 0 || at_eof) {
		w->eof = true;
		/* The kernel shows nothing once the address space is gone. */
		if (!w->got)
			return -ESRCH;
		return vmaq_maps_alive(m);
	}
	return 0;
}

/* Next complete line (without '\n'), or -ENOENT at the end of the file. */
static int text_line(struct text_walk *w, struct vmaq_maps *m,
		     const char **line, size_t *len)
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
				return -ENAMETOOLONG;
			w->start += *len + 1;
			return 0;
		}
		if (w->end - w->start > VMAQ_LINE_MAX)
			return -ENAMETOOLONG;
		if (w->eof) {
			/* maps always ends lines with '\n' */
			if (w->end > w->start)
				return -EBADMSG;
			return -ENOENT;
		}
		err = text_fill(w, m);
		if (err)
			return err;
	}
}

/*
 * The text writes a newline in a path as "\012", and a path may also
 * hold those four bytes: the kernel says which it is (PROCMAP_QUERY, or
 * map_files), else the file system (vmaq_maps_text_newlines()).
 */
static int text_name(struct vmaq_walk *w, const char *name, size_t len,
		     struct vmaq_rec *rec)
{
	int err = vmaq_rec_set_text_name(rec, name, len);

	if (err || rec->vma.name_len == len || !(rec->vma.flags & VMAQ_FILE))
		return err;
	return vmaq_maps_text_newlines(w->maps, rec);
}

static struct text_page *page_slot(struct text_pages *p, const struct vmaq_vma *v)
{
	size_t i = (size_t)((v->inode * 0x9e3779b97f4a7c15ull) >> 32 ^
			    v->dev_minor ^ (uint64_t)v->dev_major << 20) & p->mask;

	while (p->slot[i].size && (p->slot[i].inode != v->inode ||
				   p->slot[i].dev_major != v->dev_major ||
				   p->slot[i].dev_minor != v->dev_minor))
		i = (i + 1) & p->mask;
	return &p->slot[i];
}

static int page_remember(struct text_walk *t, const struct vmaq_vma *v)
{
	struct text_pages *p = t->pages, *np;
	size_t n, i;

	if (!p || 2 * (p->used + 1) > p->mask + 1) {
		n = p ? 2 * (p->mask + 1) : 64;
		np = calloc(1, sizeof(*np) + n * sizeof(np->slot[0]));
		if (!np)
			return -ENOMEM;
		np->mask = n - 1;
		for (i = 0; p && i <= p->mask; i++) {
			if (p->slot[i].size) {
				struct vmaq_vma k = {
					.inode = p->slot[i].inode,
					.dev_major = p->slot[i].dev_major,
					.dev_minor = p->slot[i].dev_minor,
				};

				*page_slot(np, &k) = p->slot[i];
				np->used++;
			}
		}
		free(p);
		t->pages = p = np;
	}
	*page_slot(p, v) = (struct text_page){
		.inode = v->inode, .dev_major = v->dev_major,
		.dev_minor = v->dev_minor, .size = v->page_size,
	};
	p->used++;
	return 0;
}

/*
 * The text has no page size. Where the kernel offers PROCMAP_QUERY the
 * record gets the one that ioctl reports, so that a handle's records are
 * the same whichever backend reads them: the base page size for a VMA
 * without a file (only hugetlbfs and device-DAX files map larger pages),
 * else what the kernel says of the file's VMA, asked once per file a walk
 * meets. A VMA whose file no longer covers its start when asked (the map
 * changed since its line was read) keeps 0, as on kernels without the
 * ioctl, and the walk says so (w->changed): a snapshot reads again.
 */
static int text_page_size(struct vmaq_walk *w, struct text_walk *t,
			  struct vmaq_maps *m, struct vmaq_vma *v)
{
	bool anon = !v->inode && !v->dev_major && !v->dev_minor;
	struct text_page *hit;
	uint64_t size = 0;
	int err;

	v->page_size = 0;
	if (t->pages_state < 0)
		return 0;
	if (t->pages_state > 0) {
		if (anon) {
			v->page_size = (uint64_t)sysconf(_SC_PAGESIZE);
			return 0;
		}
		hit = t->pages ? page_slot(t->pages, v) : NULL;
		if (hit && hit->size) {
			v->page_size = hit->size;
			return 0;
		}
	}
	/* for the first VMA of a walk, the question is also the probe */
	err = vmaq_maps_page_size(m, v, &size);
	if (err == -ESRCH || err == -ENOMEM)
		return err;
	if (err && err != -ESTALE) {
		t->pages_state = -1;	/* ENOTTY: before Linux 6.11 */
		return 0;
	}
	t->pages_state = 1;
	if (anon) {
		v->page_size = (uint64_t)sysconf(_SC_PAGESIZE);
		return 0;
	}
	if (err) {
		w->changed = true;
		return 0;
	}
	v->page_size = size;
	return page_remember(t, v);
}

static int text_next(struct vmaq_walk *w, uint64_t addr, struct vmaq_rec *rec)
{
	struct text_walk *t = w->priv;
	struct text_state *st = w->be;
	const char *line, *name;
	size_t len, name_len, saved;
	int err;

	/* The line returned last time is still in the window: skip it
	 * without parsing it again if the caller has moved past it. */
	if (t->held && addr >= t->held_end)
		t->start = t->held_next;
	t->held = false;
	for (;;) {
		err = text_line(t, w->maps, &line, &len);
		if (err)
			return err;
		/* where the line starts (a re-read may have moved the window) */
		saved = (size_t)(line - t->buf);
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
		t->held = true;
		t->held_next = t->start;
		t->held_end = rec->vma.end;
		t->start = saved;
		err = text_page_size(w, t, w->maps, &rec->vma);
		if (err)
			return err;
		/* the name also leads the build-ID reader to the file */
		if (name && (w->flags & (VMAQ_NAME | VMAQ_BUILD_ID))) {
			err = text_name(w, name, name_len, rec);
			if (err)
				return err;
		}
		if (w->flags & VMAQ_BUILD_ID) {
			err = vmaq_build_id_fill(&st->bids, w->maps->files_pid, rec);
			/*
			 * A file that cannot be opened has no build ID to give,
			 * unless the reason is that the process is gone: a find
			 * or a lookup that stops before the end of the text
			 * would then answer for a dead address space without the
			 * ID it had. Asked once per file and walk: a file that
			 * could not be opened while the address space was there
			 * has no build ID to give for its other VMAs either.
			 */
			if (err == 1 && vmaq_file_memo_has(&t->bid_lost, &rec->vma) &&
			    t->bid_lost.answer) {
				err = 0;
			} else if (err == 1) {
				err = vmaq_maps_alive(w->maps);
				vmaq_file_memo_keep(&t->bid_lost, &rec->vma, !err);
			}
			if (err)
				return err;
		}
		vmaq_rec_finish(rec, w->flags, (w->flags & VMAQ_NAME) ?
				vmaq_maps_deleted(w->maps, &w->deleted, &rec->vma) : 0);
		return 0;
	}
}

static int text_probe(int fd)
{
	(void)fd;
	return 1;
}

static int text_open(struct vmaq_maps *m, void **be)
{
	struct text_state *st = calloc(1, sizeof(*st));

	(void)m;
	if (!st)
		return -ENOMEM;
	vmaq_bid_cache_init(&st->bids);
	*be = st;
	return 0;
}

static void text_close(void *be)
{
	struct text_state *st = be;

	vmaq_bid_cache_fini(&st->bids);
	free(st);
}

static int text_alive(struct vmaq_maps *m, void *be)
{
	(void)be;
	return vmaq_maps_alive(m);
}

static void text_walk_fini(struct vmaq_walk *w)
{
	struct text_walk *t = w->priv;

	free(t->buf);
	free(t->pages);
	vmaq_file_memo_fini(&t->bid_lost);
}

_Static_assert(sizeof(struct text_walk) <= sizeof(((struct vmaq_walk *)0)->inline_priv),
	       "a walk's state lives in the walk: no allocation per find");

const struct vmaq_backend_ops vmaq_text_ops = {
	.id = VMAQ_BACKEND_TEXT,
	.probe = text_probe,
	.open = text_open,
	.close = text_close,
	.alive = text_alive,
	.walk_size = sizeof(struct text_walk),
	.walk_fini = text_walk_fini,
	.next = text_next,
};
