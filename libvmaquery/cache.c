// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The multi-process cache: snapshots of many processes, for agents that
 * follow them all. Three parts: who a pid is (identity), what tells that
 * a process changed (the caller's events, fed in), and the entries.
 *
 * Identity. A pid alone is not a process: pids are reused. An entry is
 * made for the process a pidfd names: the pidfd is opened first, then
 * the maps file, and the entry is made only if the pidfd says its
 * process still runs (so the file opened is that process's); kernels
 * before 5.3 have no pidfd_open(), and there the process's start time
 * read before and after the open stands in. Then the pidfd is closed:
 * the maps file is bound to that address space, and every read through
 * it fails with ESRCH once the address space is gone, which happens
 * when the process exits and when it execs. That is the entry's whole
 * identity: one descriptor per entry, whatever the kernel. A thread id
 * is its process's: one entry for all the threads of a process. Which
 * process that is is read from /proc/TID/status once and then checked
 * with tgkill(2) of signal 0, one system call more per hit.
 *
 * Staleness, per kernel (what a hit costs, when nothing changed):
 *   - batch kernels: one PROCMAP_QUERY_GENERATION ioctl. A generation
 *     that moved makes the hit read the map again, so the snapshot
 *     returned is never older than the call (exec and exit: ESRCH, and
 *     the entry is made again for whatever now runs under the pid);
 *   - PROCMAP_QUERY kernels: one PROCMAP_QUERY ioctl, which tells that
 *     the address space still exists (exec and exit are seen at once);
 *     changes to the map within it (mmap, munmap, mprotect) are not:
 *     the caller feeds them in (VMAQ_EVENT_CHANGE, from perf or eBPF)
 *     or refreshes, and the snapshot is otherwise as of its read;
 *   - text kernels: the same, by a read of one byte of the maps file
 *     (which makes the kernel format its first line).
 * Exec and exit events (vmaq_events(3), or the caller's own) fed in drop
 * entries at once, so that their memory and descriptors go without
 * waiting for a hit; a lost event (VMAQ_EVENT_LOST) checks every entry.
 *
 * Descriptors. The default size is at most half of the soft descriptor
 * limit (and 1024 entries), and on EMFILE the cache gives back its
 * oldest entries rather than fail.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

#define CACHE_BUCKETS 256
#define CACHE_DEFAULT_MAX 1024
/* Thread ids remembered with their process, one per slot */
#define CACHE_THREADS 1024

struct cache_entry {
	struct cache_entry *next;	/* bucket chain */
	pid_t pid;
	bool dirty;			/* fed a change: read it again */
	uint64_t used;			/* LRU clock */
	struct vmaq_proc *proc;
	struct vmaq_snapshot *snap;
};

struct vmaq_cache {
	struct cache_entry *buckets[CACHE_BUCKETS];
	size_t count, max;
	uint64_t clock;
	unsigned int flags;
	enum vmaq_backend backend;
	bool no_pidfd;			/* pidfd_open() missing (or disabled) */
	/*
	 * Thread ids asked for, with their process: slot tid % CACHE_THREADS
	 * (a newer one takes the slot). Only a hint, checked at every use.
	 */
	struct {
		pid_t tid, tgid;
	} threads[CACHE_THREADS];
};

static int sys_pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* The start time of process @pid (field 22 of /proc/PID/stat), or 0. */
static unsigned long long proc_start_time(pid_t pid)
{
	unsigned long long t;
	char path[32];

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	return vmaq_stat_field(AT_FDCWD, path, 22, &t) ? 0 : t;
}

/* The thread group (process) of thread @tid, or -1 if it cannot be read. */
static pid_t thread_group(pid_t tid)
{
	char path[64], buf[4096], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strstr(buf, "\nTgid:");
	return p ? (pid_t)strtol(p + 6, NULL, 10) : -1;
}

/*
 * The process of thread @tid, or -1: what the cache remembers, if the
 * thread is still one of that process's (tgkill(2) of signal 0 tells,
 * in one system call), else from /proc/TID/status, then remembered.
 */
static pid_t thread_group_of(struct vmaq_cache *c, pid_t tid)
{
	unsigned int slot = (unsigned int)tid % CACHE_THREADS;
	pid_t tgid;

	if (c->threads[slot].tid == tid) {
		if (!syscall(SYS_tgkill, c->threads[slot].tgid, tid, 0))
			return c->threads[slot].tgid;
		/* gone, or another's now (maybe a process): asked anew */
		c->threads[slot].tid = 0;
	}
	tgid = thread_group(tid);
	if (tgid > 0 && tgid != tid) {
		c->threads[slot].tid = tid;
		c->threads[slot].tgid = tgid;
	}
	return tgid;
}

static bool pidfd_exited(int pidfd)
{
	struct pollfd pfd = { .fd = pidfd, .events = POLLIN };

	return poll(&pfd, 1, 0) > 0;
}

static struct cache_entry **bucket(struct vmaq_cache *c, pid_t pid)
{
	return &c->buckets[(unsigned int)pid % CACHE_BUCKETS];
}

static void entry_free(struct cache_entry *e)
{
	vmaq_snapshot_free(e->snap);
	vmaq_close(e->proc);
	free(e);
}

static bool cache_drop(struct vmaq_cache *c, pid_t pid)
{
	struct cache_entry **pp, *e;

	for (pp = bucket(c, pid); (e = *pp); pp = &e->next) {
		if (e->pid == pid) {
			*pp = e->next;
			entry_free(e);
			c->count--;
			return true;
		}
	}
	return false;
}

static void cache_evict_lru(struct vmaq_cache *c)
{
	struct cache_entry *e, *old = NULL;
	size_t i;

	for (i = 0; i < CACHE_BUCKETS; i++)
		for (e = c->buckets[i]; e; e = e->next)
			if (!old || e->used < old->used)
				old = e;
	if (old)
		cache_drop(c, old->pid);
}

/* Is the entry's address space still there? One system call. */
static bool entry_alive(struct cache_entry *e)
{
	return vmaq_proc_check(e->proc) == 0;
}

/*
 * Drop every entry whose process has exited or exec'd: what events would
 * have told, had they not been lost. Returns how many were dropped.
 */
static int cache_sweep(struct vmaq_cache *c)
{
	struct cache_entry **pp, *e;
	int dropped = 0;
	size_t i;

	for (i = 0; i < CACHE_BUCKETS; i++) {
		for (pp = &c->buckets[i]; (e = *pp);) {
			if (entry_alive(e)) {
				pp = &e->next;
				continue;
			}
			*pp = e->next;
			entry_free(e);
			c->count--;
			dropped++;
		}
	}
	return dropped;
}

static struct cache_entry *cache_find(struct vmaq_cache *c, pid_t pid)
{
	struct cache_entry *e;

	for (e = *bucket(c, pid); e; e = e->next)
		if (e->pid == pid)
			return e;
	return NULL;
}

int vmaq_cache_feed(struct vmaq_cache *c, const struct vmaq_event *evs, size_t n)
{
	struct cache_entry *e;
	int dropped = 0;
	size_t i;

	if (!c || (!evs && n))
		return vmaq_err(-EINVAL);
	for (i = 0; i < n; i++) {
		switch (evs[i].kind) {
		case VMAQ_EVENT_EXEC:
		case VMAQ_EVENT_EXIT:
			dropped += cache_drop(c, evs[i].pid);
			break;
		case VMAQ_EVENT_CHANGE:
			e = cache_find(c, evs[i].pid);
			if (e)
				e->dirty = true;
			break;
		case VMAQ_EVENT_LOST:
			dropped += cache_sweep(c);
			break;
		default:
			return vmaq_err(-EINVAL);
		}
	}
	return dropped;
}

int vmaq_cache_revalidate(struct vmaq_cache *c)
{
	if (!c)
		return vmaq_err(-EINVAL);
	return cache_sweep(c);
}

/*
 * An entry holds one descriptor (its maps file): by default the cache
 * takes at most half of the soft descriptor limit, so that the rest of
 * the process keeps room, and at most 1024 entries.
 */
static size_t default_max(void)
{
	struct rlimit rl;
	size_t max = CACHE_DEFAULT_MAX;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 2 < max)
		max = rl.rlim_cur / 2;
	return max ? max : 1;
}

int vmaq_cache_new(const struct vmaq_cache_opts *opts, struct vmaq_cache **cachep)
{
	struct vmaq_cache *c;
	int err = VMAQ_OPTS_VALID(opts, vmaq_cache_opts);

	if (err)
		return vmaq_err(err);
	if (!cachep)
		return vmaq_err(-EINVAL);
	c = calloc(1, sizeof(*c));
	if (!c)
		return vmaq_err(-ENOMEM);
	c->flags = VMAQ_OPTS_GET(opts, vmaq_cache_opts, flags, 0);
	c->backend = VMAQ_OPTS_GET(opts, vmaq_cache_opts, backend, VMAQ_BACKEND_AUTO);
	c->max = VMAQ_OPTS_GET(opts, vmaq_cache_opts, max_procs, 0);
	if (!c->max)
		c->max = default_max();
	if ((c->flags & ~(VMAQ_NAME | VMAQ_BUILD_ID)) ||
	    VMAQ_OPTS_GET(opts, vmaq_cache_opts, cache_flags, 0) ||
	    c->backend < VMAQ_BACKEND_AUTO || c->backend > VMAQ_BACKEND_TEXT) {
		free(c);
		return vmaq_err(-EINVAL);
	}
	*cachep = c;
	return 0;
}

void vmaq_cache_free(struct vmaq_cache *c)
{
	struct cache_entry *e, *n;
	size_t i;

	if (!c)
		return;
	for (i = 0; i < CACHE_BUCKETS; i++)
		for (e = c->buckets[i]; e; e = n) {
			n = e->next;
			entry_free(e);
		}
	free(c);
}

size_t vmaq_cache_count(const struct vmaq_cache *c)
{
	return c ? c->count : 0;
}

/* For tests: identify processes as kernels without pidfd_open() do. */
void vmaq_cache_disable_pidfd(struct vmaq_cache *c)
{
	c->no_pidfd = true;
}

/*
 * An entry for process @pid (one whose leader exited is read through
 * another of its threads: see vmaq_proc_open()).
 */
static int entry_new(struct vmaq_cache *c, pid_t pid, struct cache_entry **ep)
{
	VMAQ_OPTS(vmaq_open_opts, o, .backend = c->backend);
	unsigned long long start_time = 0;
	struct cache_entry *e;
	int pidfd = -1, err;

	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->pid = pid;
	/*
	 * The identity first: whatever the maps file then shows must be the
	 * process it names.
	 */
	if (!c->no_pidfd) {
		pidfd = sys_pidfd_open(pid);
		if (pidfd < 0 && errno == ENOSYS) {
			c->no_pidfd = true;
		} else if (pidfd < 0) {
			/* ENOENT: not a process (Linux 6.9+ says so for a thread) */
			err = errno == ENOENT ? -ESRCH : -errno;
			free(e);
			return err;
		}
	}
	if (pidfd < 0) {
		start_time = proc_start_time(pid);
		if (!start_time) {
			free(e);
			return -ESRCH;
		}
	}
	/* its finds are its snapshot's: no room for a name in the handle */
	err = vmaq_proc_open(pid, &o, false, &e->proc);
	if (err)
		err = -errno;
	/* it died before the open: the maps may be a newcomer's */
	if (!err && (pidfd >= 0 ? pidfd_exited(pidfd) :
		     proc_start_time(pid) != start_time))
		err = -ESRCH;
	if (pidfd >= 0)
		close(pidfd);
	if (!err)
		err = vmaq_snapshot_new(e->proc, c->flags, &e->snap) ? -errno : 0;
	if (err) {
		entry_free(e);
		return err;
	}
	*ep = e;
	return 0;
}

/* A new entry for @pid, evicting to make room. */
static int cache_add(struct vmaq_cache *c, pid_t pid, struct cache_entry **ep)
{
	struct cache_entry *e = NULL;
	int err;

	/*
	 * Out of descriptors: the cache's own entries are the ones it may
	 * give back, oldest first (ENFILE is the system's: not ours to fix).
	 */
	while ((err = entry_new(c, pid, &e)) == -EMFILE && c->count)
		cache_evict_lru(c);
	if (err)
		return err;
	if (c->count >= c->max)
		cache_evict_lru(c);
	e->next = *bucket(c, pid);
	*bucket(c, pid) = e;
	c->count++;
	*ep = e;
	return 0;
}

/*
 * @pid's entry if it still stands for the same address space, brought up
 * to date where the kernel tells (its generation) or the caller did (a
 * change fed in: *@reread then set); NULL after dropping it if not. One
 * system call when nothing changed.
 */
static struct cache_entry *cache_find_valid(struct vmaq_cache *c, pid_t pid,
					    bool *reread)
{
	struct cache_entry *e = cache_find(c, pid);
	int r;

	if (!e)
		return NULL;
	r = vmaq_snapshot_gen_current(e->snap);
	if (r == -EOPNOTSUPP)
		r = entry_alive(e) ? 1 : -ESRCH;
	/* moved on (or told so): the same address space, read again */
	if (r == 0 || (r == 1 && e->dirty)) {
		r = vmaq_snapshot_refresh(e->snap);
		if (r == 1)
			*reread = true;
		r = r < 0 ? -errno : 1;
		if (r == 1)
			e->dirty = false;
	}
	if (r < 0) {
		cache_drop(c, pid);
		return NULL;
	}
	return e;
}

/*
 * The entry of the process @pid (a process or thread id) belongs to;
 * *@reread set if its map was read (a new entry's, or one brought up to
 * date), left as it was if not.
 */
static int cache_entry_of(struct vmaq_cache *c, pid_t pid,
			  struct cache_entry **ep, bool *reread)
{
	struct cache_entry *e;
	pid_t leader;

	e = cache_find_valid(c, pid, reread);
	if (e) {
		*ep = e;
		return 0;
	}
	/* a thread's map is its process's: one entry, the process's */
	*reread = true;
	leader = thread_group_of(c, pid);
	if (leader <= 0 || leader == pid)
		return cache_add(c, pid, ep);
	*reread = false;
	e = cache_find_valid(c, leader, reread);
	if (e) {
		*ep = e;
		return 0;
	}
	*reread = true;
	return cache_add(c, leader, ep);
}

int vmaq_cache_get(struct vmaq_cache *c, pid_t pid,
		   const struct vmaq_snapshot **snapp)
{
	struct cache_entry *e;
	bool reread = false;
	int err;

	if (!c || !snapp || pid <= 0)
		return vmaq_err(-EINVAL);
	err = cache_entry_of(c, pid, &e, &reread);
	if (err)
		return vmaq_err(err);
	e->used = ++c->clock;
	*snapp = e->snap;
	return 0;
}

int vmaq_cache_refresh(struct vmaq_cache *c, pid_t pid)
{
	struct cache_entry *e;
	bool reread = false;
	int err;

	if (!c || pid <= 0)
		return vmaq_err(-EINVAL);
	/* a map the lookup read (the generation moved, or new) is news too */
	err = cache_entry_of(c, pid, &e, &reread);
	if (err)
		return vmaq_err(err);
	e->used = ++c->clock;
	if (reread)
		return 1;
	err = vmaq_snapshot_refresh(e->snap);
	if (err == -ESRCH) {
		/*
		 * Gone, or read through a thread that has exited since (its
		 * leader had): whatever runs under @pid now is read anew.
		 */
		cache_drop(c, e->pid);
		err = cache_entry_of(c, pid, &e, &reread);
		if (err)
			return vmaq_err(err);
		e->used = ++c->clock;
		return 1;
	}
	return err < 0 ? vmaq_err(err) : err;
}
