// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * PROCMAP_QUERY backend (Linux 6.11+): one ioctl per VMA, asking for the
 * first VMA at or after an address, with the caller's permission and
 * file filters pushed into the kernel.
 *
 * PROCMAP_QUERY never reports the gate VMA ([vsyscall] on x86-64), which
 * /proc/PID/maps prints last, so this backend adds it itself: see
 * gate_lookup_locked().
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/vmaquery_uapi.h>

#include "internal.h"

_Static_assert(PROCMAP_QUERY_VMA_READABLE == VMAQ_READ &&
	       PROCMAP_QUERY_VMA_WRITABLE == VMAQ_WRITE &&
	       PROCMAP_QUERY_VMA_EXECUTABLE == VMAQ_EXEC &&
	       PROCMAP_QUERY_VMA_SHARED == VMAQ_SHARED,
	       "flag bits are copied as they are");

/* Highest address a 32-bit (compat) task can map. */
#define COMPAT_TASK_TOP 0x100000000ull

static int query_ioctl(int fd, struct procmap_query *q)
{
	int ret;

	do {
		ret = ioctl(fd, PROCMAP_QUERY, q);
	} while (ret < 0 && errno == EINTR);
	return ret < 0 ? -errno : 0;
}

int vmaq_query_probe(int fd)
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

static void fill_from_query(struct vmaq_rec *rec, const struct procmap_query *q)
{
	struct vmaq_vma *v = &rec->vma;

	/* Every field set once (this runs once per VMA: no memset first). */
	VMAQ_VMA_FROM_KERNEL(v, q);
	v->name = q->vma_name_size > 1 ? rec->name : NULL;
	v->build_id = q->build_id_size ? rec->build_id : NULL;
	v->build_id_size = q->build_id_size;
}

/*
 * The last line of our own maps text, into rec; 0 if it cannot be read
 * as a line. Only that line is parsed: whatever else the caller has
 * mapped (a name longer than PATH_MAX, say) must not make every query
 * of every process fail.
 */
static int last_line_of_self(int fd, struct vmaq_rec *rec)
{
	size_t cap = 1 << 16, len = 0, l;
	char *buf = malloc(cap), *nb;
	const char *name;
	size_t name_len;
	ssize_t n;
	int found = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (cap - len < 4096) {
			nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			return -errno;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len && buf[len - 1] == '\n') {
		len--;
		for (l = len; l > 0 && buf[l - 1] != '\n'; l--)
			;
		if (!vmaq_parse_line(buf + l, len - l, &rec->vma, &name,
				     &name_len) && name &&
		    vmaq_unescape_name(rec->name, sizeof(rec->name), name,
				       name_len) != SIZE_MAX) {
			rec->vma.name = rec->name;
			rec->vma.build_id = NULL;
			rec->vma.build_id_size = 0;
			found = 1;
		}
	}
	free(buf);
	return found;
}

static int gate_from_self(struct vmaq_rec *gate)
{
	struct vmaq_rec *last;
	struct procmap_query q;
	int fd, err;

	last = malloc(sizeof(*last));
	if (!last)
		return -ENOMEM;
	fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		free(last);
		return -errno;
	}
	err = last_line_of_self(fd, last);
	if (err <= 0)
		goto out;
	/* The last line is the gate VMA if PROCMAP_QUERY cannot see it. */
	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.query_addr = last->vma.start;
	err = query_ioctl(fd, &q);
	if (err == -ENOENT) {
		vmaq_rec_copy(gate, last);
		err = 1;
	} else if (!err) {
		err = 0;
	}
out:
	close(fd);
	free(last);
	return err;
}

/*
 * Does the target have a gate VMA? The kernel shows one to every 64-bit
 * task when it shows one to us (the vsyscall= setting is global), and
 * none to 32-bit tasks, which are the ones with nothing above 4 GiB.
 * Found once per handle, under proc->lock: walks in several threads ask.
 */
static int gate_lookup_locked(struct vmaq_proc *proc)
{
	struct procmap_query q;
	int err;

	if (proc->gate_state)
		return proc->gate_state > 0;
	err = gate_from_self(&proc->gate);
	if (err < 0)
		return err;
	if (err > 0) {
		memset(&q, 0, sizeof(q));
		q.size = sizeof(q);
		q.query_flags = PROCMAP_QUERY_COVERING_OR_NEXT_VMA;
		q.query_addr = COMPAT_TASK_TOP;
		err = query_ioctl(proc->fd, &q);
		if (err && err != -ENOENT)
			return err;
		err = !err && q.vma_start < proc->gate.vma.start;
	}
	proc->gate_state = err ? 1 : -1;
	return err;
}

static int query_gate(struct vmaq_walk *w, uint64_t addr, struct vmaq_rec *rec)
{
	int err;

	if (w->gate_done)
		return -ENOENT;
	w->gate_done = true;
	pthread_mutex_lock(&w->proc->lock);
	err = gate_lookup_locked(w->proc);
	if (err > 0 && (w->proc->gate.vma.end <= addr ||
			!vmaq_match(&w->proc->gate.vma, w->flags)))
		err = 0;
	if (err > 0)
		vmaq_rec_copy(rec, &w->proc->gate);
	pthread_mutex_unlock(&w->proc->lock);
	if (err <= 0)
		return err ? err : -ENOENT;
	if (!(w->flags & VMAQ_NAME))
		rec->vma.name = NULL;
	return 0;
}

static int query_next(struct vmaq_walk *w, uint64_t addr, struct vmaq_rec *rec)
{
	struct procmap_query q;
	uint64_t kflags = PROCMAP_QUERY_COVERING_OR_NEXT_VMA;
	bool want_name = w->flags & VMAQ_NAME;
	int err;

	if (w->flags & VMAQ_READ)
		kflags |= PROCMAP_QUERY_VMA_READABLE;
	if (w->flags & VMAQ_WRITE)
		kflags |= PROCMAP_QUERY_VMA_WRITABLE;
	if (w->flags & VMAQ_EXEC)
		kflags |= PROCMAP_QUERY_VMA_EXECUTABLE;
	if (w->flags & VMAQ_SHARED)
		kflags |= PROCMAP_QUERY_VMA_SHARED;
	if (w->flags & VMAQ_FILE)
		kflags |= PROCMAP_QUERY_FILE_BACKED_VMA;

	for (;;) {
		memset(&q, 0, sizeof(q));
		q.size = sizeof(q);
		q.query_flags = kflags;
		q.query_addr = addr;
		if (want_name) {
			q.vma_name_addr = (uintptr_t)rec->name;
			q.vma_name_size = sizeof(rec->name);
		}
		if (w->flags & VMAQ_BUILD_ID) {
			q.build_id_addr = (uintptr_t)rec->build_id;
			q.build_id_size = sizeof(rec->build_id);
		}
		err = query_ioctl(w->proc->fd, &q);
		if (err == -ENAMETOOLONG && want_name) {
			/* a path longer than PATH_MAX: report it unnamed */
			want_name = false;
			continue;
		}
		if (err == -ENOENT)
			return query_gate(w, addr, rec);
		if (err)
			return err;
		if (q.vma_name_size)
			kernel_wrote(rec->name, q.vma_name_size);
		if (q.build_id_size)
			kernel_wrote(rec->build_id, q.build_id_size);
		fill_from_query(rec, &q);
		/* only VMAQ_ANON is left to check: the kernel did the rest */
		if (!(w->flags & VMAQ_ANON) || vmaq_match(&rec->vma, w->flags))
			return 0;
		/* VMAQ_ANON cannot be pushed into the kernel */
		addr = q.vma_end;
		want_name = w->flags & VMAQ_NAME;
	}
}

const struct vmaq_backend_ops vmaq_query_ops = {
	.next = query_next,
};
