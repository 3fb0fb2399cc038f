// SPDX-License-Identifier: LGPL-2.1-or-later
/* Handles, backend selection, single lookups and walks. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

int vmaq_opts_check(const void *opts, size_t our_size, size_t min_size)
{
	const unsigned char *p = opts;
	size_t sz, i;

	if (!opts)
		return 0;
	sz = *(const size_t *)opts;
	if (sz < min_size)
		return -EINVAL;
	for (i = our_size; i < sz; i++)
		if (p[i])
			return -EINVAL;
	return 0;
}

static const struct vmaq_backend_ops *ops_of(enum vmaq_backend b)
{
	switch (b) {
	case VMAQ_BACKEND_BATCH:
		return &vmaq_batch_ops;
	case VMAQ_BACKEND_QUERY:
		return &vmaq_query_ops;
	default:
		return &vmaq_text_ops;
	}
}

const char *vmaq_backend_name(enum vmaq_backend backend)
{
	switch (backend) {
	case VMAQ_BACKEND_AUTO:
		return "auto";
	case VMAQ_BACKEND_BATCH:
		return "batch";
	case VMAQ_BACKEND_QUERY:
		return "query";
	case VMAQ_BACKEND_TEXT:
		return "text";
	}
	return NULL;
}

static int backend_from_env(enum vmaq_backend *b)
{
	const char *s = secure_getenv("VMAQ_BACKEND");

	*b = VMAQ_BACKEND_AUTO;
	if (!s || !*s || !strcmp(s, "auto"))
		return 0;
	if (!strcmp(s, "batch"))
		*b = VMAQ_BACKEND_BATCH;
	else if (!strcmp(s, "query"))
		*b = VMAQ_BACKEND_QUERY;
	else if (!strcmp(s, "text"))
		*b = VMAQ_BACKEND_TEXT;
	else
		return -EINVAL;
	return 0;
}

/*
 * Pick the backend for an open maps fd: the best the kernel offers
 * (batch ioctl, then PROCMAP_QUERY, then text) or the one asked for,
 * which fails with EOPNOTSUPP when the kernel lacks it.
 */
static int choose_backend(struct vmaq_proc *proc, enum vmaq_backend want)
{
	int b = vmaq_batch_probe(proc->fd), q;

	if (b == -ESRCH)
		return -ESRCH;
	q = b ? 1 : vmaq_query_probe(proc->fd);
	if (q == -ESRCH)
		return -ESRCH;
	switch (want) {
	case VMAQ_BACKEND_AUTO:
		proc->backend = b ? VMAQ_BACKEND_BATCH :
			q ? VMAQ_BACKEND_QUERY : VMAQ_BACKEND_TEXT;
		break;
	case VMAQ_BACKEND_BATCH:
		if (!b)
			return -EOPNOTSUPP;
		proc->backend = want;
		break;
	case VMAQ_BACKEND_QUERY:
		if (!q)
			return -EOPNOTSUPP;
		proc->backend = want;
		break;
	case VMAQ_BACKEND_TEXT:
		proc->backend = want;
		break;
	default:
		return -EINVAL;
	}
	return q ? 0 : vmaq_proc_check(proc);
}

int vmaq_proc_check(struct vmaq_proc *proc)
{
	int q;

	if (proc->backend == VMAQ_BACKEND_BATCH) {
		q = vmaq_batch_probe(proc->fd);
		return q < 0 ? q : 0;
	}
	if (proc->backend == VMAQ_BACKEND_QUERY) {
		q = vmaq_query_probe(proc->fd);
		return q < 0 ? q : 0;
	}
	return vmaq_text_alive(proc);
}

static int proc_new(int fd, pid_t pid, const struct vmaq_open_opts *opts,
		    struct vmaq_proc **procp)
{
	enum vmaq_backend want;
	struct vmaq_proc *proc;
	int err;

	proc = calloc(1, sizeof(*proc));
	if (!proc)
		return -ENOMEM;
	proc->fd = fd;
	proc->pid = pid;
	proc->refs = 1;
	pthread_mutex_init(&proc->lock, NULL);
	pthread_mutex_init(&proc->text_lock, NULL);
	want = VMAQ_OPTS_GET(opts, vmaq_open_opts, backend, VMAQ_BACKEND_AUTO);
	if (want == VMAQ_BACKEND_AUTO) {
		err = backend_from_env(&want);
		if (err)
			goto fail;
	}
	err = choose_backend(proc, want);
	if (err)
		goto fail;
	*procp = proc;
	return 0;
fail:
	pthread_mutex_destroy(&proc->text_lock);
	pthread_mutex_destroy(&proc->lock);
	free(proc);
	return err;
}

static int check_open_args(const struct vmaq_open_opts *opts,
			   struct vmaq_proc **procp)
{
	int err = VMAQ_OPTS_VALID(opts, vmaq_open_opts);

	if (err)
		return err;
	if (!procp)
		return -EINVAL;
	if (VMAQ_OPTS_GET(opts, vmaq_open_opts, reserved, 0))
		return -EINVAL;
	return 0;
}

int vmaq_open(pid_t pid, const struct vmaq_open_opts *opts,
	      struct vmaq_proc **procp)
{
	char path[64];
	int fd, err;

	err = check_open_args(opts, procp);
	if (err)
		return vmaq_err(err);
	if (pid < 0)
		return vmaq_err(-EINVAL);
	if (pid == 0)
		snprintf(path, sizeof(path), "/proc/self/maps");
	else
		snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = errno == ENOENT ? -ESRCH : -errno;
		return vmaq_err(err);
	}
	err = proc_new(fd, pid ? pid : getpid(), opts, procp);
	if (err) {
		close(fd);
		return vmaq_err(err);
	}
	return 0;
}

int vmaq_open_fd(int maps_fd, const struct vmaq_open_opts *opts,
		 struct vmaq_proc **procp)
{
	int fd, err;

	err = check_open_args(opts, procp);
	if (err)
		return vmaq_err(err);
	if (maps_fd < 0)
		return vmaq_err(-EBADF);
	/* Our own reference: the caller may close theirs at once. */
	fd = fcntl(maps_fd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return vmaq_err(-errno);
	err = proc_new(fd, -1, opts, procp);
	if (err) {
		close(fd);
		return vmaq_err(err);
	}
	return 0;
}

void vmaq_proc_get(struct vmaq_proc *proc)
{
	__atomic_add_fetch(&proc->refs, 1, __ATOMIC_RELAXED);
}

void vmaq_proc_put(struct vmaq_proc *proc)
{
	/* release: our uses of the handle happen before the free */
	if (__atomic_sub_fetch(&proc->refs, 1, __ATOMIC_ACQ_REL))
		return;
	close(proc->fd);
	vmaq_bid_cache_free(&proc->bids);
	pthread_mutex_destroy(&proc->text_lock);
	pthread_mutex_destroy(&proc->lock);
	free(proc);
}

/* The caller's reference: iterators and snapshots keep their own. */
void vmaq_close(struct vmaq_proc *proc)
{
	if (proc)
		vmaq_proc_put(proc);
}

enum vmaq_backend vmaq_backend(const struct vmaq_proc *proc)
{
	return proc ? proc->backend : VMAQ_BACKEND_AUTO;
}

pid_t vmaq_pid(const struct vmaq_proc *proc)
{
	return proc ? proc->pid : -1;
}

int vmaq_kernel_backends(unsigned int *mask)
{
	int fd, q, b;

	if (!mask)
		return vmaq_err(-EINVAL);
	fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vmaq_err(-errno);
	b = vmaq_batch_probe(fd);
	q = vmaq_query_probe(fd);
	close(fd);
	if (q < 0)
		return vmaq_err(q);
	if (b < 0)
		return vmaq_err(b);
	*mask = 1u << VMAQ_BACKEND_TEXT;
	if (q)
		*mask |= 1u << VMAQ_BACKEND_QUERY;
	if (b)
		*mask |= 1u << VMAQ_BACKEND_BATCH;
	return 0;
}

bool vmaq_match(const struct vmaq_vma *vma, unsigned int flags)
{
	unsigned int need = flags & (VMAQ_READ | VMAQ_WRITE | VMAQ_EXEC |
				     VMAQ_SHARED | VMAQ_FILE);

	if ((vma->flags & need) != need)
		return false;
	if ((flags & VMAQ_ANON) && (vma->flags & VMAQ_FILE))
		return false;
	return true;
}

void vmaq_rec_copy(struct vmaq_rec *dst, const struct vmaq_rec *src)
{
	dst->vma = src->vma;
	if (src->vma.name) {
		strcpy(dst->name, src->vma.name);
		dst->vma.name = dst->name;
	}
	if (src->vma.build_id) {
		memcpy(dst->build_id, src->vma.build_id, src->vma.build_id_size);
		dst->vma.build_id = dst->build_id;
	}
}

void vmaq_walk_init(struct vmaq_walk *w, struct vmaq_proc *proc,
		    unsigned int flags)
{
	memset(w, 0, sizeof(*w));
	w->proc = proc;
	w->flags = flags;
	w->empty = true;
}

void vmaq_walk_fini(struct vmaq_walk *w)
{
	free(w->buf);
	free(w->brecs);
	free(w->bstrs);
	w->buf = NULL;
	w->brecs = NULL;
	w->bstrs = NULL;
}

int vmaq_generation(struct vmaq_proc *proc, uint64_t *gen)
{
	int err;

	if (!proc || !gen)
		return vmaq_err(-EINVAL);
	if (proc->backend != VMAQ_BACKEND_BATCH)
		return vmaq_err(-EOPNOTSUPP);
	err = vmaq_batch_generation(proc->fd, gen);
	return err ? vmaq_err(err) : 0;
}

/* The next matching VMA ending above addr, with its build ID if asked. */
int vmaq_walk_next(struct vmaq_walk *w, uint64_t addr, struct vmaq_rec *rec)
{
	int err = ops_of(w->proc->backend)->next(w, addr, rec);

	if (err)
		return err;
	if ((w->flags & VMAQ_BUILD_ID) && w->proc->backend == VMAQ_BACKEND_TEXT) {
		err = vmaq_build_id_fill(w->proc, rec);
		if (!(w->flags & VMAQ_NAME))
			rec->vma.name = NULL;
	}
	return err;
}

int vmaq_check_flags(unsigned int flags, unsigned int allowed)
{
	if (flags & ~allowed)
		return -EINVAL;
	if ((flags & VMAQ_FILE) && (flags & VMAQ_ANON))
		return -EINVAL;
	return 0;
}

int vmaq_find(struct vmaq_proc *proc, uint64_t addr, unsigned int flags,
	      const struct vmaq_vma **vmap)
{
	struct vmaq_walk w;
	int err;

	if (!proc || !vmap)
		return vmaq_err(-EINVAL);
	err = vmaq_check_flags(flags, VMAQ_QUERY_MASK);
	if (err)
		return vmaq_err(err);
	if (proc->backend == VMAQ_BACKEND_BATCH) {
		err = vmaq_batch_find(proc, addr, flags, &proc->cur);
	} else {
		vmaq_walk_init(&w, proc, flags);
		err = vmaq_walk_next(&w, addr, &proc->cur);
		vmaq_walk_fini(&w);
		if (!err && !(flags & VMAQ_NEXT) && proc->cur.vma.start > addr)
			err = -ENOENT;
	}
	if (err)
		return vmaq_err(err);
	*vmap = &proc->cur.vma;
	return 0;
}

struct vmaq_iter {
	struct vmaq_walk walk;
	uint64_t addr;
	bool done;
	int err;		/* sticky: the walk cannot go on */
	struct vmaq_rec rec;
};

int vmaq_iter_new(struct vmaq_proc *proc, unsigned int flags,
		  struct vmaq_iter **iterp)
{
	struct vmaq_iter *it;
	int err;

	if (!proc || !iterp)
		return vmaq_err(-EINVAL);
	err = vmaq_check_flags(flags, VMAQ_WALK_MASK);
	if (err)
		return vmaq_err(err);
	it = calloc(1, sizeof(*it));
	if (!it)
		return vmaq_err(-ENOMEM);
	vmaq_proc_get(proc);
	vmaq_walk_init(&it->walk, proc, flags);
	*iterp = it;
	return 0;
}

int vmaq_iter_next(struct vmaq_iter *it, const struct vmaq_vma **vmap)
{
	int err;

	if (!it || !vmap)
		return vmaq_err(-EINVAL);
	if (it->err)
		return vmaq_err(it->err);
	if (it->done)
		return 0;
	err = vmaq_walk_next(&it->walk, it->addr, &it->rec);
	if (err == -ENOENT) {
		it->done = true;
		return 0;
	}
	/*
	 * Each step asks for the first VMA ending above the last one's end.
	 * One that starts below it grew over the cursor between two steps
	 * (a merge, mremap, a stack growing down): with the records already
	 * returned it would make a map that never existed. Say so instead.
	 */
	if (!err && it->rec.vma.start < it->addr)
		err = -EAGAIN;
	if (err) {
		it->err = err;
		return vmaq_err(err);
	}
	it->addr = it->rec.vma.end;
	/* a VMA ending at the top of the address space is the last */
	if (it->addr == 0)
		it->done = true;
	*vmap = &it->rec.vma;
	return 1;
}

void vmaq_iter_free(struct vmaq_iter *it)
{
	if (!it)
		return;
	vmaq_walk_fini(&it->walk);
	vmaq_proc_put(it->walk.proc);
	free(it);
}

uint64_t vmaq_vma_file_offset(const struct vmaq_vma *vma, uint64_t addr)
{
	return addr - vma->start + vma->offset;
}
