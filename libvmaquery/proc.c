// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Handles, backend selection, single lookups and walks. The backends are
 * reached through their operations tables only (backend.h).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/magic.h>

#include "internal.h"

/* Every backend, best first. */
static const struct vmaq_backend_ops *const backends[] = {
	&vmaq_batch_ops,
	&vmaq_query_ops,
	&vmaq_text_ops,
};

#define NBACKENDS (sizeof(backends) / sizeof(backends[0]))

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

uint32_t vmaq_version(void)
{
	return VMAQ_VERSION_CODE(VMAQ_VERSION_MAJOR, VMAQ_VERSION_MINOR,
				 VMAQ_VERSION_PATCH);
}

#define STR_(x) #x
#define STR(x) STR_(x)

const char *vmaq_version_string(void)
{
	return STR(VMAQ_VERSION_MAJOR) "." STR(VMAQ_VERSION_MINOR) "."
	       STR(VMAQ_VERSION_PATCH);
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
	errno = EINVAL;
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
	const struct vmaq_backend_ops *ops = NULL;
	size_t i;
	int ok;

	if (want < VMAQ_BACKEND_AUTO || want > VMAQ_BACKEND_TEXT)
		return -EINVAL;
	for (i = 0; i < NBACKENDS && !ops; i++) {
		if (want != VMAQ_BACKEND_AUTO && backends[i]->id != want)
			continue;
		ok = backends[i]->probe(proc->maps.fd);
		if (ok < 0)
			return ok;
		if (ok)
			ops = backends[i];
		else if (want != VMAQ_BACKEND_AUTO)
			return -EOPNOTSUPP;
	}
	if (!ops)
		return -EOPNOTSUPP;
	proc->backend = ops->id;
	for (i = 0; i < VMAQ_OP_COUNT; i++)
		proc->op[i] = ops;
	/*
	 * Chosen for the caller, PROCMAP_QUERY does what it is fastest at:
	 * finds, lookups and the start of iterators, whose cost follows the
	 * VMAs they touch (an iterator may stop after one), and walks it
	 * filters or reads build IDs for in the kernel (the executable file
	 * VMAs: 5x faster than the text at 10,000 VMAs). A whole-map read
	 * (a snapshot; an iterator of everything past its first VMAs, see
	 * iter_switch()), one ioctl a VMA, may be slower or faster than the text,
	 * with the same records (the text backend asks PROCMAP_QUERY for
	 * each file's page size): on 6.18, 10,000 anonymous VMAs take 3.5
	 * ms as text and 5.4 with PROCMAP_QUERY, and the text loses once
	 * one VMA in eight starts a file; under QEMU's emulation the text
	 * loses at 2,000 anonymous VMAs (5.4 against 4.6 ms). No fixed rule
	 * holds on every machine, so such reads measure themselves: see
	 * scan_by_walk(). bench/libbench measures both.
	 */
	if (want == VMAQ_BACKEND_AUTO && ops->id == VMAQ_BACKEND_QUERY)
		proc->op[VMAQ_OP_SCAN] = &vmaq_text_ops;
	/*
	 * Where the batch ioctl is chosen, one PROCMAP_QUERY is faster for
	 * a find, and a few of them for a small lookup (lookup.c), than a
	 * batch call (TCG, 7.3, 2,200 VMAs: a find 2.0 against 17 us, 8
	 * addresses 18 against 71 us, 64: 146 against 299 us); their
	 * records are the same.
	 */
	if (want == VMAQ_BACKEND_AUTO && ops->id == VMAQ_BACKEND_BATCH &&
	    vmaq_query_ops.probe(proc->maps.fd) > 0)
		proc->op[VMAQ_OP_FIND] = &vmaq_query_ops;
	return 0;
}

/*
 * The state of every backend the handle's operations use, from @like's
 * where it has them (a handle of another process of this kernel).
 */
static int open_backends(struct vmaq_proc *proc, const struct vmaq_proc *like)
{
	size_t i;
	int err;

	for (i = 0; i < VMAQ_OP_COUNT; i++) {
		const struct vmaq_backend_ops *ops = proc->op[i];

		if (proc->be[ops->id])
			continue;
		if (like && ops->open_like && like->be[ops->id])
			err = ops->open_like(&proc->maps, like->be[ops->id],
					     &proc->be[ops->id]);
		else
			err = ops->open(&proc->maps, &proc->be[ops->id]);
		if (err)
			return err;
	}
	return 0;
}

static void close_backends(struct vmaq_proc *proc)
{
	size_t i;

	for (i = 0; i < NBACKENDS; i++)
		if (proc->be[backends[i]->id])
			backends[i]->close(proc->be[backends[i]->id]);
}

int vmaq_proc_check(struct vmaq_proc *proc)
{
	const struct vmaq_backend_ops *ops = proc->op[VMAQ_OP_WALK];

	return ops->alive(&proc->maps, proc->be[ops->id]);
}

int vmaq_proc_generation(struct vmaq_proc *proc, uint64_t *gen)
{
	const struct vmaq_backend_ops *ops = proc->op[VMAQ_OP_WALK];

	if (!ops->generation)
		return -EOPNOTSUPP;
	return ops->generation(&proc->maps, proc->be[ops->id], gen);
}

/* Everything but the maps fd, which the caller of proc_new() owns. */
static void proc_free(struct vmaq_proc *proc)
{
	close_backends(proc);
	vmaq_rec_fini(&proc->cur);
	pthread_mutex_destroy(&proc->maps.lock);
	free(proc);
}

/*
 * What @from chose and measured, for @to, a handle of another process of
 * the same kernel: the same backends, and the costs its whole-map reads
 * measured (atomic loads: @from's snapshots may be in use elsewhere).
 */
static void proc_inherit(struct vmaq_proc *to, const struct vmaq_proc *from)
{
	size_t i, k, c;

	to->backend = from->backend;
	for (i = 0; i < VMAQ_OP_COUNT; i++)
		to->op[i] = from->op[i];
	for (k = 0; k < VMAQ_NR_READERS; k++) {
		for (c = 0; c < 2; c++) {
			const struct vmaq_scan_class *f = &from->scan[k][c];
			struct vmaq_scan_class *t = &to->scan[k][c];

			for (i = 0; i < 2; i++) {
				t->cost[i] = __atomic_load_n(&f->cost[i], __ATOMIC_RELAXED);
				t->count[i] = __atomic_load_n(&f->count[i], __ATOMIC_RELAXED);
				t->pend_ns[i] = __atomic_load_n(&f->pend_ns[i], __ATOMIC_RELAXED);
				t->pend_vmas[i] = __atomic_load_n(&f->pend_vmas[i], __ATOMIC_RELAXED);
			}
			t->decisions = __atomic_load_n(&f->decisions, __ATOMIC_RELAXED);
		}
	}
}

/* proc_new()'s @how */
#define PROC_FINDS	1u	/* room for finds' names in the handle */
#define PROC_READ_NOW	2u	/* see vmaq_proc_open_at() */

static int proc_new(int fd, pid_t pid, const struct vmaq_open_opts *opts,
		    unsigned int how, const struct vmaq_proc *like,
		    struct vmaq_proc **procp)
{
	bool finds = how & PROC_FINDS;
	enum vmaq_backend want;
	struct vmaq_proc *proc;
	int err;

	proc = vmaq_zalloc(sizeof(*proc) + (finds ? PATH_MAX : 0));
	if (!proc)
		return -ENOMEM;
	proc->maps.fd = fd;
	proc->maps.pid = pid;
	proc->maps.files_pid = pid;
	pthread_mutex_init(&proc->maps.lock, NULL);
	/*
	 * A find's name goes where the handle is (one block, and no
	 * allocation at the first find); a name beyond PATH_MAX moves it
	 * to one of its own, as does a cache handle's (none) at its first.
	 */
	if (finds)
		vmaq_rec_init_buf(&proc->cur, proc->cur_name, PATH_MAX);
	else
		vmaq_rec_init(&proc->cur);
	proc->refs = 1;
	err = 0;
	if (like) {
		proc_inherit(proc, like);
	} else {
		want = VMAQ_OPTS_GET(opts, vmaq_open_opts, backend,
				     VMAQ_BACKEND_AUTO);
		if (want == VMAQ_BACKEND_AUTO)
			err = backend_from_env(&want);
		if (!err)
			err = choose_backend(proc, want);
	}
	if (!err)
		err = open_backends(proc, like);
	/*
	 * The backends' probes cannot all tell a gone address space (the
	 * text's cannot); every backend's first read does (an empty text
	 * is ESRCH), and one the caller makes at once (a scan's) is the
	 * check.
	 */
	if (!err && !(how & PROC_READ_NOW))
		err = vmaq_proc_check(proc);
	if (err) {
		proc_free(proc);
		return err;
	}
	*procp = proc;
	return 0;
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

static bool is_procfs(const char *path)
{
	struct statfs sf;

	return !statfs(path, &sf) && sf.f_type == PROC_SUPER_MAGIC;
}

/*
 * A maps file, not any file: /etc/passwd, /dev/zero or
 * /proc/PID/smaps would otherwise fail only at the first read, with
 * EBADMSG. Its name is the one procfs gave it: /proc/PID/maps or
 * /proc/PID/task/TID/maps, wherever procfs is mounted. A best-effort
 * early check (a bind mount can give another procfs file that name):
 * the reads check every line all the same.
 */
static int check_maps_fd(int fd)
{
	char link[64], name[PATH_MAX];
	struct statfs sf;
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st))
		return -errno;
	if (fstatfs(fd, &sf))
		return -errno;
	if (sf.f_type != PROC_SUPER_MAGIC || !S_ISREG(st.st_mode))
		return -EINVAL;
	/* this thread's table: a thread may have unshared its files */
	snprintf(link, sizeof(link), "/proc/thread-self/fd/%d", fd);
	n = readlink(link, name, sizeof(name) - 1);
	if (n < 0 && errno == ENOENT) {		/* before Linux 3.17 */
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, name, sizeof(name) - 1);
	}
	if (n < 0)
		return 0;	/* no procfs of our own to tell the name */
	name[n] = '\0';
	if (n < 5 || strcmp(name + n - 5, "/maps"))
		return -EINVAL;
	return 0;
}

int vmaq_open(pid_t pid, const struct vmaq_open_opts *opts,
	      struct vmaq_proc **procp)
{
	return vmaq_proc_open(pid, opts, true, procp);
}

/* /proc/@pid/maps (0: ours), or -errno: ESRCH for no such process. */
static int open_maps(pid_t pid)
{
	char path[64];
	int fd, err;

	if (pid == 0)
		snprintf(path, sizeof(path), "/proc/self/maps");
	else
		snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	err = -errno;
	/* no such process, unless there is no procfs to ask */
	if (err == -ENOENT && is_procfs("/proc"))
		err = -ESRCH;
	return err;
}

/*
 * The handle of @pid through one of its other threads: a process whose
 * first thread has exited (a zombie leader) while others run on has an
 * empty /proc/PID/maps, and its threads' files show its map. -ESRCH if
 * no thread's does.
 */
static int open_by_thread(pid_t pid, const struct vmaq_open_opts *opts,
			  unsigned int how, struct vmaq_proc **procp)
{
	char path[64];
	struct dirent *d;
	int fd, err = -ESRCH;
	DIR *task;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	task = opendir(path);
	if (!task)
		return errno == EMFILE || errno == ENFILE || errno == ENOMEM ?
		       -errno : -ESRCH;
	while (err == -ESRCH && (d = readdir(task))) {
		char *end;
		long tid = strtol(d->d_name, &end, 10);

		if (*end || tid <= 0 || tid == pid)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%ld/maps", (int)pid, tid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			if (errno != ENOENT && errno != ESRCH)
				err = -errno;
			continue;
		}
		err = proc_new(fd, pid, opts, how, NULL, procp);
		if (err)
			close(fd);
		else
			(*procp)->maps.files_pid = (pid_t)tid;
	}
	closedir(task);
	return err;
}

/*
 * Our own process and thread ids as procfs numbers them (its
 * thread-self is "PID/task/TID"): in a pid namespace other than
 * procfs's, getpid() is another process's number there.
 */
static void procfs_self(pid_t *pid, pid_t *tid)
{
	char link[64];
	int p, t, n;
	ssize_t len;

	len = readlink("/proc/thread-self", link, sizeof(link) - 1);
	if (len > 0) {
		link[len] = '\0';
		if (sscanf(link, "%d/task/%d%n", &p, &t, &n) == 2 && !link[n] &&
		    p > 0 && t > 0) {
			*pid = p;
			*tid = t;
			return;
		}
	}
	/* before Linux 3.17, or no procfs of ours: the numbers we know */
	*pid = getpid();
	*tid = (pid_t)syscall(SYS_gettid);
}

/*
 * Our own handle, of /proc/self/maps @fd (taken, or closed), or of this
 * thread's map once our first thread has exited (its file is empty).
 */
static int self_new(int fd, const struct vmaq_open_opts *opts,
		    unsigned int how, struct vmaq_proc **procp)
{
	pid_t files_pid, tid;
	int err;

	procfs_self(&files_pid, &tid);
	err = proc_new(fd, getpid(), opts, how, NULL, procp);
	if (err == -ESRCH) {
		close(fd);
		fd = open("/proc/thread-self/maps", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return errno == ENOENT ? -ESRCH : -errno;
		files_pid = tid;
		err = proc_new(fd, getpid(), opts, how, NULL, procp);
	}
	if (err) {
		close(fd);
		return err;
	}
	(*procp)->maps.files_pid = files_pid;
	return 0;
}

/*
 * A new handle of the maps file @fd of @pid (taking @fd, or closing it),
 * or of one of its threads' if its own shows no address space any more
 * while the process lives on (*@by_thread then set).
 */
static int proc_new_of(int fd, pid_t pid, const struct vmaq_open_opts *opts,
		       unsigned int how, struct vmaq_proc **procp,
		       bool *by_thread)
{
	int err = proc_new(fd, pid, opts, how, NULL, procp);

	*by_thread = false;
	if (!err)
		return 0;
	close(fd);
	if (err != -ESRCH)
		return err;
	*by_thread = true;
	return open_by_thread(pid, opts, how, procp);
}

int vmaq_proc_open(pid_t pid, const struct vmaq_open_opts *opts, bool finds,
		   struct vmaq_proc **procp)
{
	bool by_thread;
	int fd, err;

	err = check_open_args(opts, procp);
	if (err)
		return vmaq_err(err);
	if (pid < 0)
		return vmaq_err(-EINVAL);
	fd = open_maps(pid);
	if (fd < 0)
		return vmaq_err(fd);
	if (pid)
		err = proc_new_of(fd, pid, opts, finds ? PROC_FINDS : 0, procp,
				  &by_thread);
	else
		err = self_new(fd, opts, finds ? PROC_FINDS : 0, procp);
	return err ? vmaq_err(err) : 0;
}

int vmaq_stat_field(int dirfd, const char *path, int field,
		    unsigned long long *val)
{
	char buf[1024], *p;
	ssize_t n;
	int fd, f;

	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -ESRCH;
	buf[n] = '\0';
	/* the command name (field 2) may hold spaces and parentheses */
	p = strrchr(buf, ')');
	for (f = 2; f < field && p; f++)
		p = strchr(p + 1, ' ');
	if (!p || field < 3)
		return -ESRCH;
	*val = strtoull(p + 1, NULL, 10);
	return 0;
}

int vmaq_proc_open_at(int dirfd, const char *path, pid_t pid,
		      const struct vmaq_open_opts *opts,
		      const struct vmaq_proc *like, bool read_now,
		      struct vmaq_proc **procp)
{
	int fd, err;

	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	err = proc_new(fd, pid, opts, read_now ? PROC_READ_NOW : 0, like, procp);
	if (err)
		close(fd);
	return err;
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
	err = check_maps_fd(maps_fd);
	if (err)
		return vmaq_err(err);
	/* Our own reference: the caller may close theirs at once. */
	fd = fcntl(maps_fd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return vmaq_err(-errno);
	err = proc_new(fd, -1, opts, PROC_FINDS, NULL, procp);
	if (err) {
		close(fd);
		return vmaq_err(err);
	}
	return 0;
}

/*
 * The number, in our pid namespace, of the process pidfd @pidfd names
 * (its fdinfo's "Pid:" line): -ESRCH once it has been reaped (-1) or if
 * it is not in our namespace (0), -EBADF if @pidfd is no pidfd. Read
 * through this thread's descriptor table, as check_maps_fd() does.
 */
static int pidfd_pid(int pidfd, pid_t *pid)
{
	char path[64], buf[1024], *p, *end;
	ssize_t n;
	long v;
	int fd;

	snprintf(path, sizeof(path), "/proc/thread-self/fdinfo/%d", pidfd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0)
		return errno == ENOENT ? -EBADF : -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0) {
		n = -errno;
		close(fd);
		return (int)n;
	}
	close(fd);
	buf[n] = '\0';
	p = strstr(buf, "\nPid:");
	if (!p && !strncmp(buf, "Pid:", 4))
		p = buf - 1;
	if (!p)
		return -EBADF;
	p += 5;
	errno = 0;
	v = strtol(p, &end, 10);
	if (errno || end == p || (*end != '\n' && *end != '\0'))
		return -EBADMSG;
	if (v <= 0 || v > INT32_MAX)
		return -ESRCH;
	*pid = (pid_t)v;
	return 0;
}

int vmaq_open_pidfd(int pidfd, const struct vmaq_open_opts *opts,
		    struct vmaq_proc **procp)
{
	pid_t pid, again;
	bool by_thread;
	int fd, err;

	err = check_open_args(opts, procp);
	if (err)
		return vmaq_err(err);
	if (pidfd < 0)
		return vmaq_err(-EBADF);
	err = pidfd_pid(pidfd, &pid);
	if (err)
		return vmaq_err(err);
	fd = open_maps(pid);
	if (fd < 0)
		return vmaq_err(fd);
	/*
	 * The number may have been the pidfd's process's when it was read
	 * and another's when the file was opened. Not if the process was
	 * still there after the open: it held its number all along (a pid
	 * is given again only once its process is reaped, and the pidfd
	 * then says -1), so the file opened is its.
	 */
	err = pidfd_pid(pidfd, &again);
	if (!err && again != pid)
		err = -ESRCH;
	if (err) {
		close(fd);
		return vmaq_err(err);
	}
	err = proc_new_of(fd, pid, opts, PROC_FINDS, procp, &by_thread);
	/* a thread's file, opened later: checked the same way */
	if (!err && by_thread) {
		err = pidfd_pid(pidfd, &again);
		if (!err && again != pid)
			err = -ESRCH;
		if (err) {
			vmaq_close(*procp);
			*procp = NULL;
		}
	}
	return err ? vmaq_err(err) : 0;
}

int vmaq_vma_open(struct vmaq_proc *proc, const struct vmaq_vma *vma)
{
	int fd;

	if (!proc || !vma)
		return vmaq_err(-EINVAL);
	if (!(vma->flags & VMAQ_FILE))
		return vmaq_err(-ENOENT);
	fd = vmaq_open_mapped_file(proc->maps.files_pid, vma);
	return fd < 0 ? vmaq_err(fd) : fd;
}

void vmaq_proc_get(struct vmaq_proc *proc)
{
	__atomic_add_fetch(&proc->refs, 1, __ATOMIC_RELAXED);
}

void vmaq_proc_put(struct vmaq_proc *proc)
{
	int fd;

	/* release: our uses of the handle happen before the free */
	if (__atomic_sub_fetch(&proc->refs, 1, __ATOMIC_ACQ_REL))
		return;
	fd = proc->maps.fd;
	proc_free(proc);
	close(fd);
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
	return proc ? proc->maps.pid : -1;
}

int vmaq_kernel_backends(unsigned int *mask)
{
	unsigned int m = 0;
	size_t i;
	int fd, ok;

	if (!mask)
		return vmaq_err(-EINVAL);
	/* this thread's: our first thread's shows nothing once it exited */
	fd = open("/proc/thread-self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vmaq_err(-errno);
	for (i = 0; i < NBACKENDS; i++) {
		ok = backends[i]->probe(fd);
		if (ok < 0) {
			close(fd);
			return vmaq_err(ok);
		}
		if (ok)
			m |= 1u << backends[i]->id;
	}
	close(fd);
	*mask = m;
	return 0;
}

/*
 * Which whole-map reads measure what they cost: those of everything,
 * with names or without (two classes: without names PROCMAP_QUERY does
 * less and the text the same), by tables (not the handle's first: its
 * table grows from nothing, later ones start the size of the last) and
 * by iterators (see iter_switch()), with a figure each (an iterator's
 * includes its caller's work). Every VMAQ_SCAN_PROBE'th read of a class
 * goes the way that measured slower, since the map or the machine may
 * have changed: that costs a sixteenth of the difference.
 */
static bool scan_measures(unsigned int flags)
{
	return !(flags & ~VMAQ_NAME);
}

static struct vmaq_scan_class *scan_class(struct vmaq_proc *proc,
					  enum vmaq_reader kind,
					  unsigned int flags)
{
	return &proc->scan[kind][!!(flags & VMAQ_NAME)];
}

/*
 * Whether a read goes by op[WALK] rather than op[SCAN]: while nothing
 * is measured by the text, then once by PROCMAP_QUERY, then the way
 * that cost less per VMA so far. Reads that do not measure (VMAQ_ANON)
 * take that way too, or the text while nothing is known.
 * @decide: the choice is made for a read (counted), not only asked about.
 */
static bool scan_by_walk(struct vmaq_proc *proc, enum vmaq_reader kind,
			 unsigned int flags, bool decide)
{
	struct vmaq_scan_class *c = scan_class(proc, kind, flags);
	uint32_t scan = __atomic_load_n(&c->cost[0], __ATOMIC_RELAXED);
	uint32_t walk = __atomic_load_n(&c->cost[1], __ATOMIC_RELAXED);
	uint32_t n;

	if (!scan_measures(flags))
		return scan && walk && walk < scan;
	n = decide ? __atomic_add_fetch(&c->decisions, 1, __ATOMIC_RELAXED) :
		     __atomic_load_n(&c->decisions, __ATOMIC_RELAXED) + 1;
	if (!scan || !walk)
		return !!scan;
	return (walk < scan) != !(n % VMAQ_SCAN_PROBE);
}

/* SCAN is for reads of everything that the kernel can do nothing for. */
static enum vmaq_op walk_op(struct vmaq_proc *proc, enum vmaq_op op,
			    unsigned int flags, bool decide)
{
	if (op != VMAQ_OP_SCAN)
		return op;
	if (flags & (VMAQ_BUILD_ID | (VMAQ_FILTER_MASK & ~VMAQ_ANON)))
		return VMAQ_OP_WALK;
	if (proc->op[VMAQ_OP_SCAN] != proc->op[VMAQ_OP_WALK] &&
	    scan_by_walk(proc, VMAQ_READER_TABLE, flags, decide))
		return VMAQ_OP_WALK;
	return op;
}

const struct vmaq_backend_ops *vmaq_scan_ops(struct vmaq_proc *proc,
					     unsigned int flags)
{
	return proc->op[walk_op(proc, VMAQ_OP_SCAN, flags, true)];
}

enum vmaq_backend vmaq_proc_walk_backend(struct vmaq_proc *proc,
					 enum vmaq_op op, unsigned int flags)
{
	return proc->op[walk_op(proc, op, flags, false)]->id;
}

int vmaq_walk_init(struct vmaq_walk *w, struct vmaq_proc *proc,
		   enum vmaq_op op, unsigned int flags)
{
	return vmaq_walk_init_ops(w, proc, proc->op[walk_op(proc, op, flags, true)],
				  op, flags);
}

int vmaq_walk_init_ops(struct vmaq_walk *w, struct vmaq_proc *proc,
		       const struct vmaq_backend_ops *ops, enum vmaq_op op,
		       unsigned int flags)
{
	w->ops = ops;
	w->maps = &proc->maps;
	w->be = proc->be[ops->id];
	w->flags = flags;
	/* a table keeps it, to tell later whether it is stale */
	w->want_gen = op == VMAQ_OP_SCAN;
	w->have_gen = false;
	w->gen = 0;
	w->changed = false;
	/* a table read goes to the end: no reason to start small */
	w->whole = op == VMAQ_OP_SCAN;
	/* a find's record is the handle's, kept after the walk */
	w->lend = op != VMAQ_OP_FIND;
	w->deleted.name = NULL;
	/* only what the backend uses is cleared: a find is one ioctl */
	if (ops->walk_size <= sizeof(w->inline_priv)) {
		w->priv = &w->inline_priv;
		memset(w->priv, 0, ops->walk_size);
	} else {
		w->priv = calloc(1, ops->walk_size);
		if (!w->priv)
			return -ENOMEM;
	}
	return 0;
}

uint64_t vmaq_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void vmaq_scan_seen(struct vmaq_proc *proc, enum vmaq_reader kind,
		    const struct vmaq_backend_ops *ops, unsigned int flags,
		    size_t vmas, uint64_t ns)
{
	struct vmaq_scan_class *c = scan_class(proc, kind, flags);
	unsigned int i = ops == proc->op[VMAQ_OP_SCAN] ? 0 : 1;
	uint64_t cost, old;

	if (proc->op[VMAQ_OP_SCAN] == proc->op[VMAQ_OP_WALK] ||
	    !scan_measures(flags) || !vmas)
		return;
	if (kind == VMAQ_READER_TABLE && vmas < VMAQ_TABLE_MEASURE_MIN) {
		/*
		 * Whoever brings the sum to the minimum takes it. Between two
		 * threads the two sums may be taken a read apart: one measure
		 * a little off, which the average below absorbs.
		 */
		__atomic_add_fetch(&c->pend_ns[i], ns, __ATOMIC_RELAXED);
		if (__atomic_add_fetch(&c->pend_vmas[i], (uint32_t)vmas, __ATOMIC_RELAXED) <
		    VMAQ_TABLE_MEASURE_MIN)
			return;
		vmas = __atomic_exchange_n(&c->pend_vmas[i], 0, __ATOMIC_RELAXED);
		ns = __atomic_exchange_n(&c->pend_ns[i], 0, __ATOMIC_RELAXED);
		if (!vmas)
			return;
	}
	cost = ns / vmas;
	if (cost < 1)
		cost = 1;
	if (cost > UINT32_MAX / 4)
		cost = UINT32_MAX / 4;
	/*
	 * Half the last measure, half what came before: one slow read does
	 * not decide alone, and a probe of the other way counts.
	 */
	old = __atomic_load_n(&c->cost[i], __ATOMIC_RELAXED);
	if (old)
		cost = (old + cost) / 2;
	__atomic_store_n(&c->cost[i], (uint32_t)cost, __ATOMIC_RELAXED);
	__atomic_add_fetch(&c->count[i], 1, __ATOMIC_RELAXED);
}

void vmaq_proc_scan_stats(struct vmaq_proc *proc, enum vmaq_reader kind,
			  bool names, uint32_t cost[2], uint32_t count[2])
{
	struct vmaq_scan_class *c = &proc->scan[kind][names];

	for (int i = 0; i < 2; i++) {
		cost[i] = __atomic_load_n(&c->cost[i], __ATOMIC_RELAXED);
		count[i] = __atomic_load_n(&c->count[i], __ATOMIC_RELAXED);
	}
}

void vmaq_proc_set_scan_costs(struct vmaq_proc *proc, enum vmaq_reader kind,
			      bool names, uint32_t scan, uint32_t walk)
{
	struct vmaq_scan_class *c = &proc->scan[kind][names];

	__atomic_store_n(&c->cost[0], scan, __ATOMIC_RELAXED);
	__atomic_store_n(&c->cost[1], walk, __ATOMIC_RELAXED);
}

void vmaq_walk_fini(struct vmaq_walk *w)
{
	if (w->deleted.name)
		vmaq_file_memo_fini(&w->deleted);
	if (w->priv && w->ops->walk_fini)
		w->ops->walk_fini(w);
	if (w->priv != (void *)&w->inline_priv)
		free(w->priv);
	w->priv = NULL;
}

int vmaq_generation(struct vmaq_proc *proc, uint64_t *gen)
{
	int err;

	if (!proc || !gen)
		return vmaq_err(-EINVAL);
	err = vmaq_proc_generation(proc, gen);
	return err ? vmaq_err(err) : 0;
}

int vmaq_check_flags(unsigned int flags, unsigned int allowed)
{
	if (flags & ~allowed)
		return -EINVAL;
	if ((flags & VMAQ_FILE) && (flags & VMAQ_ANON))
		return -EINVAL;
	return 0;
}

/*
 * A find by a backend without ->find(): the first record of a walk.
 * Apart, so that the common find sets up no walk's frame.
 */
static __attribute__((noinline)) int
find_by_walk(struct vmaq_proc *proc, uint64_t addr, unsigned int flags)
{
	struct vmaq_walk w;
	int err;

	err = vmaq_walk_init(&w, proc, VMAQ_OP_FIND, flags);
	if (err)
		return err;
	err = w.ops->next(&w, addr, &proc->cur);
	if (!err && !(flags & VMAQ_NEXT) && proc->cur.vma.start > addr)
		err = -ENOENT;
	vmaq_walk_fini(&w);
	return err;
}

int vmaq_find(struct vmaq_proc *proc, uint64_t addr, unsigned int flags,
	      const struct vmaq_vma **vmap)
{
	const struct vmaq_backend_ops *ops;
	int err;

	if (!proc || !vmap)
		return vmaq_err(-EINVAL);
	err = vmaq_check_flags(flags, VMAQ_QUERY_MASK);
	if (err)
		return vmaq_err(err);
	ops = proc->op[VMAQ_OP_FIND];
	if (ops->find)
		err = ops->find(&proc->maps, proc->be[ops->id], flags, addr,
				&proc->cur);
	else
		err = find_by_walk(proc, addr, flags);
	if (err)
		return vmaq_err(err);
	*vmap = &proc->cur.vma;
	return 0;
}

struct vmaq_iter {
	struct vmaq_proc *proc;
	struct vmaq_walk walk;
	uint64_t addr;
	/* the first VMA starting here or above is past the range */
	uint64_t limit;
	bool done;
	int err;		/* sticky: the walk cannot go on */
	struct vmaq_rec rec;
	/*
	 * A backend with ->next_many() fills these a step at a time, and
	 * the iterator hands them out: no call into the backend a record.
	 */
	struct vmaq_vma *buf;	/* mem->v, or NULL */
	struct iter_buf *mem;
	size_t n, pos;
	/*
	 * How many records it has handed out; for an iterator of everything
	 * on a handle whose whole-map reads have a way of their own, at how
	 * many it may change its way (see iter_switch(); SIZE_MAX: never),
	 * the CPU time then (0: none, or no longer a measure) and the
	 * thread_serial() of the thread whose clock that is.
	 */
	size_t steps, switch_at;
	uint64_t t0, serial;
};

/* The most records an iterator holds at once: the batch backend's call. */
#define ITER_MAX 4096

/*
 * An iterator's records. The largest block freed so far is kept for the
 * next iterator of any handle: a walk to the end holds up to ITER_MAX
 * records at once (352 KiB), which each new iterator would otherwise
 * allocate again as it grows from 32. One for the process, not one per
 * handle: a cache may hold thousands of handles.
 */
struct iter_buf {
	size_t cap;
	struct vmaq_vma v[];
};

static struct iter_buf *spare_iter_buf;

__attribute__((destructor)) static void iter_buf_unload(void)
{
	free(__atomic_exchange_n(&spare_iter_buf, NULL, __ATOMIC_ACQUIRE));
}

/*
 * Keep the larger of @b and the spare. Only a block taken out of the
 * slot is looked at: another thread may take the spare and free it.
 */
static void iter_buf_put(struct iter_buf *b)
{
	struct iter_buf *old, *none = NULL;

	if (!b)
		return;
	old = __atomic_exchange_n(&spare_iter_buf, NULL, __ATOMIC_ACQ_REL);
	if (old && old->cap > b->cap) {
		struct iter_buf *t = b;

		b = old;
		old = t;
	}
	free(old);
	if (!__atomic_compare_exchange_n(&spare_iter_buf, &none, b, false,
					 __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		free(b);
}

static struct vmaq_vma *iter_room(void *ctx, size_t n, size_t *got)
{
	struct vmaq_iter *it = ctx;
	struct iter_buf *b;

	if (n > ITER_MAX)
		n = ITER_MAX;
	if (!it->mem || it->mem->cap < n) {
		/* what the old block held is handed out: no copy */
		b = __atomic_exchange_n(&spare_iter_buf, NULL, __ATOMIC_ACQUIRE);
		if (b && b->cap < n) {
			free(b);
			b = NULL;
		}
		if (!b) {
			b = malloc(sizeof(*b) + n * sizeof(b->v[0]));
			if (!b)
				return NULL;
			b->cap = n;
		}
		free(it->mem);
		it->mem = b;
		it->buf = b->v;
	}
	*got = n;
	return it->buf;
}

static int iter_keep(void *ctx, struct vmaq_vma *v, size_t n)
{
	struct vmaq_iter *it = ctx;

	(void)v;
	it->n = n;
	it->pos = 0;
	return 0;
}

/* The walk's next record: from the iterator's own, or the backend's. */
static int iter_step(struct vmaq_iter *it, const struct vmaq_vma **vp)
{
	const struct vmaq_backend_ops *ops = it->walk.ops;
	int err;

	if (!ops->next_many) {
		err = vmaq_walk_next(&it->walk, it->addr, &it->rec);
		*vp = &it->rec.vma;
		return err;
	}
	if (it->pos == it->n) {
		const struct vmaq_scan_sink sink = {
			.room = iter_room, .put = iter_keep, .ctx = it,
		};

		it->n = it->pos = 0;
		err = ops->next_many(&it->walk, it->addr, &sink, &it->rec);
		if (err)
			return err;
	}
	*vp = &it->buf[it->pos++];
	return 0;
}

/*
 * An iterator of everything starts by PROCMAP_QUERY, which costs little
 * to stop after a few VMAs; past VMAQ_ITER_SWITCH_AT records it goes on
 * by the way whole maps cost less (the text, beside PROCMAP_QUERY), as
 * its kind of reader measured: a walk to the end is then up to 1.8x
 * faster (6.18, 770 VMAs: 267 against 480 us). The text reads again the
 * VMAs passed, which is why the switch comes early. What the rest of
 * the walk costs, that included, is the measure, if it has at least
 * VMAQ_ITER_MEASURE_MIN VMAs.
 */

/*
 * Move a walk's state (whose priv may point into it) to @dst, where the
 * walk goes on.
 */
static void walk_move(struct vmaq_walk *dst, struct vmaq_walk *src)
{
	*dst = *src;
	if (src->priv == (void *)&src->inline_priv)
		dst->priv = &dst->inline_priv;
}

/*
 * A number for the calling thread that no other thread ever has (a
 * pthread_t or a thread ID is given again once its thread is gone):
 * an iterator's CPU time is a measure only if one thread stepped it
 * from its switch point to its end. The default TLS model, not
 * initial-exec: a library that is dlopen()ed (by the Python binding)
 * must not depend on the static TLS block's spare room.
 */
static uint64_t thread_serial(void)
{
	static uint64_t last;
	static __thread uint64_t mine;

	if (!mine)
		mine = __atomic_add_fetch(&last, 1, __ATOMIC_RELAXED);
	return mine;
}

/*
 * At VMAQ_ITER_SWITCH_AT records, with the clock started either way: the
 * step by op[SCAN], if that is the way chosen, or 1 (go on as it was).
 * The old walk is let go only once the new one has made its first step:
 * if that fails for want of memory (the text's buffer), the iterator
 * goes on as it was, and nothing is lost.
 */
static int iter_switch(struct vmaq_iter *it, const struct vmaq_vma **vp)
{
	struct vmaq_proc *proc = it->proc;
	struct vmaq_walk w;
	int err;

	it->t0 = vmaq_cpu_ns();
	it->serial = thread_serial();
	if (scan_by_walk(proc, VMAQ_READER_ITER, it->walk.flags, true) ||
	    vmaq_walk_init_ops(&w, proc, proc->op[VMAQ_OP_SCAN], VMAQ_OP_WALK,
			       it->walk.flags))
		return 1;
	err = vmaq_walk_next(&w, it->addr, &it->rec);
	if (err == -ENOMEM) {
		vmaq_walk_fini(&w);
		return 1;
	}
	vmaq_walk_fini(&it->walk);
	walk_move(&it->walk, &w);
	/* the new walk goes on from it->addr: nothing the old one brought */
	it->n = it->pos = 0;
	*vp = &it->rec.vma;
	return err;
}

/*
 * At the end of an iterator that measures: what its rest cost (one
 * thread stepped it throughout, see iter_next_slow()).
 */
static void iter_measured(struct vmaq_iter *it)
{
	size_t vmas = it->steps - it->switch_at;
	uint64_t now;

	if (it->t0 && vmas >= VMAQ_ITER_MEASURE_MIN &&
	    it->serial == thread_serial()) {
		now = vmaq_cpu_ns();
		if (now > it->t0)
			vmaq_scan_seen(it->proc, VMAQ_READER_ITER, it->walk.ops,
				       it->walk.flags, vmas, now - it->t0);
	}
	it->t0 = 0;
}

int vmaq_iter_new(struct vmaq_proc *proc, unsigned int flags,
		  struct vmaq_iter **iterp)
{
	return vmaq_iter_range(proc, flags, 0, UINT64_MAX, iterp);
}

int vmaq_iter_range(struct vmaq_proc *proc, unsigned int flags, uint64_t start,
		    uint64_t end, struct vmaq_iter **iterp)
{
	bool whole = !start && end == UINT64_MAX;
	struct vmaq_iter *it;
	int err;

	if (!proc || !iterp || start >= end)
		return vmaq_err(-EINVAL);
	err = vmaq_check_flags(flags, VMAQ_WALK_MASK);
	if (err)
		return vmaq_err(err);
	it = vmaq_zalloc(sizeof(*it));
	if (!it)
		return vmaq_err(-ENOMEM);
	err = vmaq_walk_init(&it->walk, proc, VMAQ_OP_WALK, flags);
	if (err) {
		free(it);
		return vmaq_err(err);
	}
	vmaq_rec_init(&it->rec);
	vmaq_proc_get(proc);
	it->proc = proc;
	it->addr = start;
	it->limit = end;
	/*
	 * Only an iterator of everything may go on by the whole map's way
	 * (the text reads from the first VMA whatever the range), and only
	 * it is a measure of that way.
	 */
	it->switch_at = whole && scan_measures(flags) &&
			proc->op[VMAQ_OP_SCAN] != proc->op[VMAQ_OP_WALK] ?
			VMAQ_ITER_SWITCH_AT : SIZE_MAX;
	*iterp = it;
	return 0;
}

int vmaq_iter_to_end(struct vmaq_proc *proc, unsigned int flags,
		     struct vmaq_iter **iterp)
{
	int err = vmaq_iter_range(proc, flags, 0, UINT64_MAX, iterp);

	if (err)
		return err;
	if ((*iterp)->switch_at != SIZE_MAX)
		(*iterp)->switch_at = 0;
	/* no reason to start small: the batch ioctl's first call is whole */
	(*iterp)->walk.whole = true;
	return 0;
}

/* vmaq_iter_next() past its common case: see there. */
static __attribute__((noinline)) int
iter_next_slow(struct vmaq_iter *it, const struct vmaq_vma **vmap)
{
	const struct vmaq_vma *v;
	int err;

	if (it->err)
		return vmaq_err(it->err);
	if (it->done)
		return 0;
	/*
	 * The clock is the thread's: a step in another thread (an iterator
	 * may go from thread to thread, one at a time) ends the measure.
	 * An iterator that measures has no buffer: each step comes here.
	 */
	if (it->t0 && it->serial != thread_serial())
		it->t0 = 0;
	err = 1;
	if (it->steps == it->switch_at)
		err = iter_switch(it, &v);
	if (err == 1)
		err = iter_step(it, &v);
	if (err == -ENOENT) {
		it->done = true;
		if (it->t0)
			iter_measured(it);
		return 0;
	}
	/* past the end of a range: the walk is over, and its record unused */
	if (!err && v->start >= it->limit) {
		it->done = true;
		it->n = it->pos = 0;
		return 0;
	}
	/*
	 * Each step asks for the first VMA ending above the last one's end.
	 * One that starts below it grew over the cursor between two steps
	 * (a merge, mremap, a stack growing down): with the records already
	 * returned it would make a map that never existed. Say so instead.
	 * The first VMA of a range may start below it: it overlaps it.
	 */
	if (!err && v->start < it->addr && it->steps)
		err = -EAGAIN;
	if (err) {
		it->err = err;
		/* no record after it, from the buffer either */
		it->n = it->pos = 0;
		return vmaq_err(err);
	}
	it->addr = v->end;
	it->steps++;
	/* a VMA ending at the top of the address space is the last */
	if (it->addr == 0) {
		it->done = true;
		it->n = it->pos = 0;
		if (it->t0)
			iter_measured(it);
	}
	*vmap = v;
	return 1;
}

int vmaq_iter_next(struct vmaq_iter *it, const struct vmaq_vma **vmap)
{
	const struct vmaq_vma *v;

	if (!it || !vmap)
		return vmaq_err(-EINVAL);
	/*
	 * The common step, kept short (it is one call per VMA): the next
	 * of the records the backend's last step brought, in order after
	 * the last, not the last of the address space, not where the
	 * iterator may change its way, not while it measures. The buffer
	 * is emptied once the iterator fails or ends.
	 */
	if (it->pos < it->n && it->steps != it->switch_at && !it->t0) {
		v = &it->buf[it->pos];
		if (v->start >= it->addr && v->end && v->start < it->limit) {
			it->pos++;
			it->addr = v->end;
			it->steps++;
			*vmap = v;
			return 1;
		}
	}
	return iter_next_slow(it, vmap);
}

size_t vmaq_iter_take(struct vmaq_iter *it, const struct vmaq_vma **vp)
{
	uint64_t addr = it->addr;
	const struct vmaq_vma *v;
	size_t k = 0, room;

	/*
	 * vmaq_iter_next()'s common step, record by record. A backend
	 * without ->next_many() has no buffer (buf NULL, n 0).
	 */
	if (it->pos >= it->n || it->steps == it->switch_at || it->t0)
		return 0;
	v = it->buf + it->pos;
	room = it->n - it->pos;
	if (it->switch_at > it->steps && it->switch_at - it->steps < room)
		room = it->switch_at - it->steps;
	while (k < room && v[k].start >= addr && v[k].end &&
	       v[k].start < it->limit)
		addr = v[k++].end;
	if (k) {
		it->pos += k;
		it->addr = addr;
		it->steps += k;
		*vp = v;
	}
	return k;
}

enum vmaq_backend vmaq_iter_walk_backend(const struct vmaq_iter *it)
{
	return it->walk.ops->id;
}

void vmaq_iter_free(struct vmaq_iter *it)
{
	if (!it)
		return;
	vmaq_walk_fini(&it->walk);
	vmaq_rec_fini(&it->rec);
	vmaq_proc_put(it->proc);
	iter_buf_put(it->mem);
	free(it);
}

uint64_t vmaq_vma_file_offset(const struct vmaq_vma *vma, uint64_t addr)
{
	return addr - vma->start + vma->offset;
}
