// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The whole-system scan: every process /proc lists, one after another.
 *
 * The kernel has no call that reads another process's map through a
 * descriptor already open (PROCMAP_QUERY and the batch ioctl answer for
 * the process whose maps file they are given), so each process costs one
 * open of its maps file. Everything else is the scan's once: the first
 * handle probes the kernel's interfaces, and every later one takes its
 * choice and what its whole-map reads measured from the one before
 * (vmaq_proc_open_at()); buffers come from the library's spares.
 *
 * A process that vanishes is the normal case on a busy machine, not an
 * error: between readdir() and the open it may exit (ENOENT/ESRCH), and
 * while its map is read it may exit or exec (the handle's address space
 * goes: ESRCH). Either is reported for that process alone. So is a
 * process the caller may not read (EACCES, or EPERM under some LSMs).
 * Only a failure to list /proc ends the scan.
 *
 * Kernel threads have no address space: their maps file opens and its
 * handle says ESRCH. The scan tells them from processes that went by
 * the flags in /proc/PID/stat (PF_KTHREAD), read only then, and leaves
 * them out. So does a process whose first thread exited (a zombie
 * leader) while others run on: its map is read through one of those.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define PF_KTHREAD_FLAG 0x00200000u	/* include/linux/sched.h */

/* No padding, on any ABI: the options are checked byte for byte. */
_Static_assert(sizeof(struct vmaq_scan_opts) ==
	       offsetof(struct vmaq_scan_opts, reserved) + sizeof(uint64_t),
	       "struct vmaq_scan_opts has padding at its end");

static pid_t dirent_pid(const struct dirent *d);

struct vmaq_scan {
	DIR *dir;			/* /proc */
	struct vmaq_open_opts oo;
	unsigned int flags;		/* the VMAs' filter and contents */
	uint32_t scan_flags;
	uid_t uid;
	char *cgroup;			/* without a trailing '/'; "" for "/" */
	size_t cgroup_len;
	/* the last handle, while no later one is open: its choices */
	struct vmaq_proc *like;
	/* the current process */
	pid_t pid;
	struct vmaq_proc *proc;		/* NULL: see err */
	int err;
	struct vmaq_iter *iter;
	bool iter_done;
	/*
	 * Where the current process's files are looked up: /proc and
	 * "PID/", or with a filter its own /proc/PID (bound to that
	 * process: a pid taken again meanwhile is not it) and "". The
	 * prefix is path's first prefix_len bytes (see scan_path()).
	 */
	int at;
	size_t prefix_len;
	char path[64];
	/* the iterator's first step, made at the open: 1, 0 or -errno */
	int first_n;
	const struct vmaq_vma *first;
	/* records the iterator gave at once, not yet handed out */
	const struct vmaq_vma *run;
	size_t run_n;
};

static void scan_drop_current(struct vmaq_scan *s)
{
	vmaq_iter_free(s->iter);
	s->iter = NULL;
	s->iter_done = false;
	s->first_n = 0;
	s->first = NULL;
	s->run = NULL;
	s->run_n = 0;
	/* the handle stays as the next one's model until that is open */
	if (s->proc) {
		vmaq_close(s->like);
		s->like = s->proc;
	}
	s->proc = NULL;
	s->err = 0;
}

/*
 * The path of the current process's file @what (a short constant), from
 * s->at. A copy, not snprintf(): every process's maps file is named so,
 * and the two snprintf() calls of each process cost 1,300 instructions
 * (valgrind in the VM), a tenth of all the library did for a process.
 */
static const char *scan_path(struct vmaq_scan *s, const char *what)
{
	/* it fits: scan_open() takes prefixes of up to 11 bytes ("PID/") */
	memcpy(s->path + s->prefix_len, what, strlen(what) + 1);
	return s->path;
}

/* Read up to @size - 1 bytes of the current process's file @what; -errno. */
static ssize_t read_proc_file(struct vmaq_scan *s, const char *what,
			      char *buf, size_t size)
{
	ssize_t n;
	int fd;

	fd = openat(s->at, scan_path(s, what), O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read(fd, buf, size - 1);
	if (n < 0)
		n = -errno;
	else
		buf[n] = '\0';
	close(fd);
	return n;
}

/*
 * Is the current process a kernel thread (1), a process (0), or gone
 * (-ESRCH)? Field 9 of its stat holds the task's flags. A zombie is a
 * process, one that has gone: not a kernel thread.
 */
static int is_kernel_thread(struct vmaq_scan *s)
{
	unsigned long long flags;
	int err;

	err = vmaq_stat_field(s->at, scan_path(s, "stat"), 9, &flags);
	return err ? err : (flags & PF_KTHREAD_FLAG) ? 1 : 0;
}

/*
 * The handle of @pid (through its thread @tid unless 0), and the first
 * step of its iterator: that read tells a process gone or a kernel
 * thread (ESRCH) where the open alone would need a call of its own.
 * Any other error of the step is the caller's, at its first VMA.
 */
static int scan_open_read(struct vmaq_scan *s, pid_t pid, pid_t tid)
{
	char task[64];
	const char *path = task;
	int err;

	if (tid)
		snprintf(task, sizeof(task), "%.*stask/%d/maps", (int)s->prefix_len,
			 s->path, (int)tid);
	else
		path = scan_path(s, "maps");
	err = vmaq_proc_open_at(s->at, path, pid, &s->oo, s->like, true,
				&s->proc);

	if (err)
		return err;
	/* a zombie leader's map_files and root are empty: the thread's */
	if (tid)
		s->proc->maps.files_pid = tid;
	err = vmaq_iter_to_end(s->proc, s->flags, &s->iter);
	if (!err) {
		s->first_n = vmaq_iter_next(s->iter, &s->first);
		if (s->first_n == -ESRCH)
			err = -ESRCH;
	}
	if (err) {
		vmaq_iter_free(s->iter);
		s->iter = NULL;
		s->first_n = 0;
		vmaq_close(s->proc);
		s->proc = NULL;
	}
	return err;
}

/*
 * A process whose first thread has exited (a zombie leader) has an empty
 * /proc/PID/maps; its other threads' files show its map. -ESRCH if none.
 */
static int open_by_thread(struct vmaq_scan *s, pid_t pid)
{
	struct dirent *d;
	int fd, err = -ESRCH;
	DIR *task;

	fd = openat(s->at, scan_path(s, "task"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -ESRCH;
	task = fdopendir(fd);
	if (!task) {
		close(fd);
		return -ESRCH;
	}
	while (err == -ESRCH && (d = readdir(task))) {
		pid_t tid = dirent_pid(d);

		if (tid && tid != pid)
			err = scan_open_read(s, pid, tid);
	}
	closedir(task);
	return err;
}

/* Is @pid in the scan's cgroup (or one below it)? -ESRCH when gone. */
static int in_cgroup(struct vmaq_scan *s)
{
	char buf[4096], *line, *path, *nl;
	ssize_t n;

	n = read_proc_file(s, "cgroup", buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	/* the unified hierarchy's line: "0::/path" */
	for (line = buf; line && *line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (strncmp(line, "0::", 3))
			continue;
		path = line + 3;
		if (strncmp(path, s->cgroup, s->cgroup_len))
			return 0;
		return path[s->cgroup_len] == '\0' || path[s->cgroup_len] == '/';
	}
	return 0;
}

/* Does the current process pass the scan's filters? 1, 0, or -errno. */
static int selected(struct vmaq_scan *s)
{
	struct stat st;

	if (s->scan_flags & VMAQ_SCAN_UID) {
		/* the directory's owner: the effective uid, as ps(1) reads it */
		if (fstat(s->at, &st))
			return -errno;
		if (st.st_uid != s->uid)
			return 0;
	}
	if (s->cgroup)
		return in_cgroup(s);
	return 1;
}

int vmaq_scan_new(const struct vmaq_scan_opts *opts, struct vmaq_scan **scanp)
{
	int err = VMAQ_OPTS_VALID(opts, vmaq_scan_opts);
	const char *cg;
	struct vmaq_scan *s;

	if (err)
		return vmaq_err(err);
	if (!scanp)
		return vmaq_err(-EINVAL);
	s = calloc(1, sizeof(*s));
	if (!s)
		return vmaq_err(-ENOMEM);
	s->oo.sz = sizeof(s->oo);
	s->oo.backend = VMAQ_OPTS_GET(opts, vmaq_scan_opts, backend,
				      VMAQ_BACKEND_AUTO);
	s->flags = VMAQ_OPTS_GET(opts, vmaq_scan_opts, flags, 0);
	s->scan_flags = VMAQ_OPTS_GET(opts, vmaq_scan_opts, scan_flags, 0);
	s->uid = VMAQ_OPTS_GET(opts, vmaq_scan_opts, uid, 0);
	cg = VMAQ_OPTS_GET(opts, vmaq_scan_opts, cgroup, NULL);
	err = vmaq_check_flags(s->flags, VMAQ_WALK_MASK);
	if (!err && ((s->scan_flags & ~VMAQ_SCAN_UID) ||
		     VMAQ_OPTS_GET(opts, vmaq_scan_opts, reserved, 0) ||
		     s->oo.backend < VMAQ_BACKEND_AUTO ||
		     s->oo.backend > VMAQ_BACKEND_TEXT ||
		     (cg && cg[0] != '/')))
		err = -EINVAL;
	if (!err && cg) {
		s->cgroup_len = strlen(cg);
		while (s->cgroup_len && cg[s->cgroup_len - 1] == '/')
			s->cgroup_len--;
		s->cgroup = strndup(cg, s->cgroup_len);
		if (!s->cgroup)
			err = -ENOMEM;
	}
	/* a kernel without cgroups has no /proc/PID/cgroup to select by */
	if (!err && cg && access("/proc/self/cgroup", R_OK))
		err = errno == ENOENT ? -EOPNOTSUPP : -errno;
	if (!err) {
		s->dir = opendir("/proc");
		if (!s->dir)
			err = -errno;
	}
	/*
	 * The backend chosen once, on our own map: one the kernel lacks
	 * fails here (EOPNOTSUPP), not for every process.
	 */
	if (!err) {
		/* this thread's: our first thread's is empty once it exited */
		err = vmaq_proc_open_at(dirfd(s->dir), "thread-self/maps",
					getpid(), &s->oo, NULL, false, &s->like);
		if (err == -ESRCH)	/* or before Linux 3.17, none */
			err = vmaq_proc_open_at(dirfd(s->dir), "self/maps",
						getpid(), &s->oo, NULL, false,
						&s->like);
	}
	if (err) {
		if (s->dir)
			closedir(s->dir);
		free(s->cgroup);
		free(s);
		return vmaq_err(err);
	}
	*scanp = s;
	return 0;
}

/* A directory name of /proc that is a pid: digits only, > 0. */
static pid_t dirent_pid(const struct dirent *d)
{
	const char *p = d->d_name;
	long v = 0;

	if (*p < '1' || *p > '9')
		return 0;
	for (; *p; p++) {
		if (*p < '0' || *p > '9' || v > INT32_MAX / 10)
			return 0;
		v = v * 10 + (*p - '0');
	}
	return v > INT32_MAX ? 0 : (pid_t)v;
}

/*
 * Open the current process @pid. 0: it is the current one (with a handle,
 * or with the reason it has none in s->err); 1: pass it by (a kernel
 * thread, or not selected).
 */
static int scan_pick(struct vmaq_scan *s, pid_t pid)
{
	int err, k;

	if (s->scan_flags || s->cgroup) {
		/*
		 * One that went before the filter could tell, or whose files
		 * the filter may not read (hidepid=), is passed by: it may
		 * never have been selected.
		 */
		err = selected(s);
		if (err == 0 || err == -ESRCH || err == -EACCES || err == -EPERM)
			return 1;
		if (err < 0) {
			s->err = err;
			return 0;
		}
	}
	err = scan_open_read(s, pid, 0);
	if (err == -ESRCH) {
		/* gone, or a kernel thread (no address space): which? */
		k = is_kernel_thread(s);
		if (k > 0)
			return 1;
		/* or a leader that exited, its threads running on */
		if (!k)
			err = open_by_thread(s, pid);
	}
	if (err == -ENOENT)
		err = -ESRCH;
	s->err = err;
	if (!err) {
		/* the new handle is the model now: one maps file open */
		vmaq_close(s->like);
		s->like = NULL;
	}
	return 0;
}

/*
 * scan_pick(), with the process's files found from where they are;
 * @name is its directory's (dirent_pid() said it is a pid).
 */
static int scan_open(struct vmaq_scan *s, pid_t pid, const char *name)
{
	size_t len = strlen(name);
	int ret;

	s->at = dirfd(s->dir);
	/* "PID/": dirent_pid() took at most 10 digits; room for scan_path() */
	if (len > 10)
		return 1;
	memcpy(s->path, name, len);
	s->path[len] = '/';
	s->path[len + 1] = '\0';
	s->prefix_len = len + 1;
	if (s->scan_flags || s->cgroup) {
		/*
		 * A filter and the map: one process's, whatever the pid.
		 * O_PATH: hidepid= lets the directory be looked at (its
		 * owner), not opened for reading.
		 */
		s->at = openat(dirfd(s->dir), s->path, O_PATH | O_DIRECTORY |
			       O_CLOEXEC);
		if (s->at < 0) {
			s->at = dirfd(s->dir);
			if (errno == ENOENT)
				return 1;
			s->err = -errno;
			return 0;
		}
		s->prefix_len = 0;
	}
	ret = scan_pick(s, pid);
	if (s->at != dirfd(s->dir))
		close(s->at);
	s->at = dirfd(s->dir);
	return ret;
}

int vmaq_scan_next(struct vmaq_scan *s, pid_t *pidp)
{
	struct dirent *d;
	pid_t pid;

	if (!s || !pidp)
		return vmaq_err(-EINVAL);
	scan_drop_current(s);
	for (;;) {
		errno = 0;
		d = readdir(s->dir);
		if (!d) {
			if (errno)
				return vmaq_err(-errno);
			s->pid = 0;
			return 0;
		}
		pid = dirent_pid(d);
		if (!pid)
			continue;
		if (scan_open(s, pid, d->d_name))
			continue;
		s->pid = pid;
		*pidp = pid;
		return 1;
	}
}

struct vmaq_proc *vmaq_scan_proc(struct vmaq_scan *s)
{
	if (!s || (!s->proc && !s->err))
		return vmaq_err_ptr(-EINVAL);
	if (!s->proc)
		return vmaq_err_ptr(s->err);
	return s->proc;
}

/* vmaq_scan_vma() but for its common step */
static __attribute__((noinline)) int
scan_vma_slow(struct vmaq_scan *s, const struct vmaq_vma **vmap)
{
	int n;

	if (!s || !vmap || (!s->proc && !s->err))
		return vmaq_err(-EINVAL);
	if (!s->proc)
		return vmaq_err(s->err);
	if (s->iter_done)
		return 0;
	if (s->first) {
		*vmap = s->first;
		s->first = NULL;
		return 1;
	}
	if (s->first_n <= 0) {
		/* the first step's end or error, once, as a step's */
		n = s->first_n;
		s->first_n = 1;
		if (n < 0)
			return vmaq_err(n);
	} else {
		/*
		 * As many as the iterator's buffer holds, handed out by the
		 * step above: one call of the iterator per buffer, not one
		 * per record (two fifths of the library's instructions per
		 * record, valgrind in the VM).
		 */
		s->run_n = vmaq_iter_take(s->iter, &s->run);
		if (s->run_n) {
			*vmap = s->run++;
			s->run_n--;
			return 1;
		}
		n = vmaq_iter_next(s->iter, vmap);
	}
	if (n == 0)
		s->iter_done = true;
	return n;
}

int vmaq_scan_vma(struct vmaq_scan *s, const struct vmaq_vma **vmap)
{
	/* the common step: the next of the records taken at once */
	if (s && vmap && s->run_n) {
		*vmap = s->run++;
		s->run_n--;
		return 1;
	}
	return scan_vma_slow(s, vmap);
}

void vmaq_scan_free(struct vmaq_scan *s)
{
	if (!s)
		return;
	scan_drop_current(s);
	vmaq_close(s->like);
	if (s->dir)
		closedir(s->dir);
	free(s->cgroup);
	free(s);
}
