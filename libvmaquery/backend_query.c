// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * PROCMAP_QUERY backend (Linux 6.11+): one ioctl per VMA, asking for the
 * first VMA at or after an address, with the caller's permission and
 * file filters pushed into the kernel.
 *
 * PROCMAP_QUERY never reports the gate VMA ([vsyscall] on x86-64), which
 * /proc/PID/maps prints last, so this backend adds it itself: see
 * gate_lookup().
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/vmaquery_uapi.h>

#include "backend.h"

_Static_assert(PROCMAP_QUERY_VMA_READABLE == VMAQ_READ &&
	       PROCMAP_QUERY_VMA_WRITABLE == VMAQ_WRITE &&
	       PROCMAP_QUERY_VMA_EXECUTABLE == VMAQ_EXEC &&
	       PROCMAP_QUERY_VMA_SHARED == VMAQ_SHARED &&
	       PROCMAP_QUERY_FILE_BACKED_VMA == VMAQ_KERNEL_FILE_FILTER,
	       "flag bits are copied as they are");

/* Where user space ends, for any task the library can be running with. */
#define GATE_MIN (UINTPTR_MAX > 0xffffffffu ? 1ull << 56 : 0xc0000000ull)

/* The handle's: the gate VMA, found once. */
struct query_state {
	pthread_mutex_t lock;
	int gate_state;		/* 0 unknown, 1 present, -1 absent */
	struct vmaq_rec gate;
};

/* A walk's: whether it has passed the gate VMA; the text, for long names. */
struct query_walk {
	bool gate_done;
	struct vmaq_text_copy text;
};

static int query_ioctl(int fd, struct procmap_query *q)
{
	int ret;

	do {
		ret = ioctl(fd, PROCMAP_QUERY, q);
	} while (ret < 0 && errno == EINTR);
	return ret < 0 ? -errno : 0;
}

static int query_probe(int fd)
{
	struct procmap_query q;
	int err;

	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.query_flags = PROCMAP_QUERY_COVERING_OR_NEXT_VMA;
	err = query_ioctl(fd, &q);
	if (!err || err == -ENOENT)
		return 1;
	if (err == -ESRCH)
		return -ESRCH;
	/* ENOTTY before 6.11; anything else: not usable either */
	return 0;
}

static int query_alive(struct vmaq_maps *m, void *be)
{
	int q = query_probe(m->fd);

	(void)be;
	return q < 0 ? q : 0;
}

static inline __attribute__((always_inline)) void
fill_from_query(struct vmaq_rec *rec, const struct procmap_query *q)
{
	struct vmaq_vma *v = &rec->vma;

	/* Every field set once (this runs once per VMA: no memset first). */
	VMAQ_VMA_FROM_KERNEL(v, q);
	v->name = q->vma_name_size > 1 ? rec->name : NULL;
	v->name_len = q->vma_name_size > 1 ? q->vma_name_size - 1 : 0;
	v->build_id = q->build_id_size ? rec->build_id : NULL;
	v->build_id_size = q->build_id_size;
}

/*
 * The gate VMA, which /proc/PID/maps prints last and PROCMAP_QUERY
 * never reports: the last line of the target's own text, if the ioctl
 * does not know its address. Read once per handle, on the first walk
 * that goes past the last VMA, outside the lock (walks in other threads
 * wait for nothing; if two read it, both find the same).
 */
static int gate_lookup(struct vmaq_maps *m, struct query_state *st)
{
	struct vmaq_rec last;
	struct procmap_query q;
	int state, err;

	pthread_mutex_lock(&st->lock);
	state = st->gate_state;
	pthread_mutex_unlock(&st->lock);
	if (state)
		return state > 0;
	vmaq_rec_init(&last);
	err = vmaq_maps_last_line(m, &last);
	/*
	 * A gate VMA lies above every address a task can map (x86-64:
	 * 0xffffffffff600000, arm: 0xffff0000): a last line below that is
	 * an ordinary VMA, even if it was unmapped before the ioctl below.
	 */
	if (err > 0 && last.vma.start < GATE_MIN)
		err = 0;
	if (err > 0) {
		memset(&q, 0, sizeof(q));
		q.size = sizeof(q);
		q.query_addr = last.vma.start;
		err = query_ioctl(m->fd, &q);
		err = err == -ENOENT ? 1 : err;
	}
	if (err >= 0) {
		pthread_mutex_lock(&st->lock);
		if (!st->gate_state) {
			if (err > 0 && vmaq_rec_copy(&st->gate, &last))
				err = -ENOMEM;
			else
				st->gate_state = err > 0 ? 1 : -1;
		}
		pthread_mutex_unlock(&st->lock);
	}
	vmaq_rec_fini(&last);
	return err;
}

static int query_gate(struct vmaq_maps *m, struct query_state *st,
		      struct query_walk *qw, unsigned int flags, uint64_t addr,
		      struct vmaq_rec *rec)
{
	int err;

	if (qw->gate_done)
		return -ENOENT;
	qw->gate_done = true;
	err = gate_lookup(m, st);
	if (err <= 0)
		return err ? err : -ENOENT;
	/* set once, never changed: read without the lock */
	if (st->gate.vma.end <= addr || !vmaq_match(&st->gate.vma, flags))
		return -ENOENT;
	err = vmaq_rec_copy(rec, &st->gate);
	if (err)
		return err;
	/* the text has no page size; the gate is one page */
	rec->vma.page_size = (uint64_t)sysconf(_SC_PAGESIZE);
	vmaq_rec_finish(rec, flags, 0);
	if (flags & VMAQ_NAME)
		rec->vma.kind = VMAQ_KIND_GATE;
	return 0;
}

/*
 * The first VMA matching @flags with end > @addr (@next), or the one
 * covering @addr if it matches: asked of @m, with the handle's state
 * @st, for a walk whose state is @qw (a find's is on its stack) and
 * memo of deleted files @deleted (NULL: none). Arguments, not a struct:
 * inlined, they stay in registers.
 */
static inline __attribute__((always_inline)) int
query_at(struct vmaq_maps *m, struct query_state *st, struct query_walk *qw,
	 struct vmaq_file_memo *deleted, unsigned int flags, uint64_t addr,
	 struct vmaq_rec *rec, bool next)
{
	struct procmap_query q;
	uint64_t kflags = (next ? PROCMAP_QUERY_COVERING_OR_NEXT_VMA : 0) |
			  vmaq_kernel_filters(flags);
	bool want_name = flags & VMAQ_NAME, too_long;
	int err;

	if (want_name) {
		err = vmaq_rec_reserve(rec, PATH_MAX - 1);
		if (err)
			return err;
	}
	for (;;) {
		too_long = false;
		memset(&q, 0, sizeof(q));
		q.size = sizeof(q);
		q.query_flags = kflags;
		q.query_addr = addr;
		if (want_name) {
			q.vma_name_addr = (uintptr_t)rec->name;
			q.vma_name_size = PATH_MAX;
		}
		if (flags & VMAQ_BUILD_ID) {
			q.build_id_addr = (uintptr_t)rec->build_id;
			q.build_id_size = sizeof(rec->build_id);
		}
		err = query_ioctl(m->fd, &q);
		if (err == -ENAMETOOLONG && want_name) {
			/* a path longer than PATH_MAX: the rest first, then the name */
			memset(&q, 0, sizeof(q));
			q.size = sizeof(q);
			q.query_flags = kflags;
			q.query_addr = addr;
			if (flags & VMAQ_BUILD_ID) {
				q.build_id_addr = (uintptr_t)rec->build_id;
				q.build_id_size = sizeof(rec->build_id);
			}
			err = query_ioctl(m->fd, &q);
			too_long = true;
		}
		if (err == -ENOENT) {
			/*
			 * Not mapped: a find below the gate's lowest address
			 * (in a gap) does not need it, nor the text read that
			 * finding it costs.
			 */
			if (!next && addr < GATE_MIN)
				return -ENOENT;
			err = query_gate(m, st, qw, flags, addr, rec);
			if (!err && !next && rec->vma.start > addr)
				err = -ENOENT;
			return err;
		}
		if (err)
			return err;
		if (q.vma_name_size)
			kernel_wrote(rec->name, q.vma_name_size);
		if (q.build_id_size)
			kernel_wrote(rec->build_id, q.build_id_size);
		fill_from_query(rec, &q);
		/* only VMAQ_ANON is left to check: the kernel did the rest */
		if (!(flags & VMAQ_ANON) || vmaq_match(&rec->vma, flags))
			break;
		/* VMAQ_ANON cannot be pushed into the kernel */
		if (!next)
			return -ENOENT;
		addr = q.vma_end;
	}
	/* a name longer than the ioctl returns (PATH_MAX): the text's */
	if (too_long) {
		err = vmaq_maps_long_name(m, &qw->text, rec);
		if (err)
			return err;
	}
	vmaq_rec_finish(rec, flags, (flags & VMAQ_NAME) ?
			vmaq_maps_deleted(m, deleted, &rec->vma) : 0);
	return 0;
}

static int query_next(struct vmaq_walk *w, uint64_t addr, struct vmaq_rec *rec)
{
	return query_at(w->maps, w->be, w->priv, &w->deleted, w->flags, addr,
			rec, true);
}

/*
 * Any find, by query_at(): its walk state on the stack (the text copy's
 * length and position are set when it is read); one record has no use
 * for a memo of deleted files.
 */
static __attribute__((noinline)) int
find_slow(struct vmaq_maps *m, struct query_state *st, unsigned int flags,
	  uint64_t addr, struct vmaq_rec *rec)
{
	struct query_walk qw;
	int err;

	qw.gate_done = false;
	qw.text.buf = NULL;
	err = query_at(m, st, &qw, NULL, flags, addr, rec, flags & VMAQ_NEXT);
	if (qw.text.buf)
		vmaq_text_copy_fini(&qw.text);
	return err;
}

/*
 * A find asks the kernel for the covering VMA only, unless VMAQ_NEXT.
 * The common one (a name or none, filters the kernel applies, a record
 * with room for any name the ioctl returns) is one ioctl in a straight
 * line: what a profiler calls per sample, where the library's own work
 * is the part of the cost that is left to cut. Anything else (VMAQ_NEXT,
 * VMAQ_ANON, build IDs, a name too long, an address above every VMA
 * that may be the gate's) goes by find_slow(), which asks again.
 */
static int query_find(struct vmaq_maps *m, void *be, unsigned int flags,
		      uint64_t addr, struct vmaq_rec *rec)
{
	struct procmap_query q;
	int err;

	if ((flags & (VMAQ_NEXT | VMAQ_ANON | VMAQ_BUILD_ID)) ||
	    ((flags & VMAQ_NAME) && rec->name_cap < PATH_MAX))
		return find_slow(m, be, flags, addr, rec);
	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.query_flags = vmaq_kernel_filters(flags);
	q.query_addr = addr;
	if (flags & VMAQ_NAME) {
		q.vma_name_addr = (uintptr_t)rec->name;
		q.vma_name_size = PATH_MAX;
	}
	err = query_ioctl(m->fd, &q);
	if (err == -ENOENT && addr < GATE_MIN)
		return -ENOENT;
	if (err == -ENOENT || err == -ENAMETOOLONG)
		return find_slow(m, be, flags, addr, rec);
	if (err)
		return err;
	if (q.vma_name_size)
		kernel_wrote(rec->name, q.vma_name_size);
	fill_from_query(rec, &q);
	vmaq_rec_finish(rec, flags, (flags & VMAQ_NAME) ?
			vmaq_maps_deleted(m, NULL, &rec->vma) : 0);
	return 0;
}

static int query_open(struct vmaq_maps *m, void **be)
{
	struct query_state *st = calloc(1, sizeof(*st));

	(void)m;
	if (!st)
		return -ENOMEM;
	pthread_mutex_init(&st->lock, NULL);
	vmaq_rec_init(&st->gate);
	*be = st;
	return 0;
}

static void query_close(void *be)
{
	struct query_state *st = be;

	vmaq_rec_fini(&st->gate);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

static void query_walk_fini(struct vmaq_walk *w)
{
	struct query_walk *qw = w->priv;

	if (qw->text.buf)
		vmaq_text_copy_fini(&qw->text);
}

_Static_assert(sizeof(struct query_walk) <= sizeof(((struct vmaq_walk *)0)->inline_priv),
	       "a walk's state lives in the walk: no allocation per find");

const struct vmaq_backend_ops vmaq_query_ops = {
	.id = VMAQ_BACKEND_QUERY,
	.probe = query_probe,
	.open = query_open,
	.close = query_close,
	.alive = query_alive,
	.walk_size = sizeof(struct query_walk),
	.walk_fini = query_walk_fini,
	.next = query_next,
	.find = query_find,
};
