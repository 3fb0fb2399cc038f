// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The multi-process cache: snapshots of many processes, for agents that
 * follow them all.
 *
 * Identity. A pid alone is not a process: pids are reused. Each entry
 * holds a pidfd opened before the maps file; the entry stands for that
 * process only, and a pidfd that polls readable (the process exited)
 * retires it, whatever now runs under the same number. Kernels before 5.3
 * have no pidfd_open(): there the process's start time (in clock ticks
 * since boot, from /proc/PID/stat) read before the maps file is opened
 * identifies it instead. An exec keeps the pid but replaces the address
 * space: the entry's maps handle is bound to the old one and answers
 * ESRCH, which retires the entry too.
 *
 * Promptness. Where the kernel lets us listen (CAP_NET_ADMIN, or anyone
 * on kernels that stopped checking), the cache also listens to the
 * process-events connector and drops entries as exec and exit events
 * arrive, so memory and descriptors are returned without waiting for the
 * next lookup. Without it the checks above still hold for lookups, and
 * vmaq_cache_process_events() checks every entry; when events were lost
 * (ENOBUFS) the next call does so too.
 *
 * Descriptors. An entry holds two (pidfd, maps file): the default size
 * is a quarter of the soft descriptor limit, and on EMFILE the cache
 * gives back its oldest entries rather than fail.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef VMAQ_NO_LIBMNL
#include <libmnl/libmnl.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#endif

#include "internal.h"

#define CACHE_BUCKETS 256
#define CACHE_DEFAULT_MAX 1024

struct cache_entry {
	struct cache_entry *next;	/* bucket chain */
	pid_t pid;
	int pidfd;			/* -1 without pidfd_open() */
	unsigned long long start_time;	/* identity when there is no pidfd */
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
	struct mnl_socket *nl;		/* NULL without the connector */
	char *nlbuf;
	bool no_pidfd;			/* pidfd_open() missing (or disabled) */
	bool lost;			/* events were lost: sweep */
	pid_t nl_pid;			/* who subscribed the socket */
};

static int sys_pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/*
 * The start time of process @pid (field 22 of /proc/PID/stat), or 0 if it
 * cannot be read. The command name (field 2) may hold spaces and
 * parentheses: fields are counted from the last ')'.
 */
static unsigned long long proc_start_time(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long t = 0;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	/* after ')' comes field 3 (state); field 22 is 19 fields later */
	for (field = 2; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (p)
		t = strtoull(p + 1, NULL, 10);
	return t;
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
	if (e->pidfd >= 0)
		close(e->pidfd);
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

#ifndef VMAQ_NO_LIBMNL
static int connector_send(struct vmaq_cache *c, int op)
{
	char buf[NLMSG_SPACE(sizeof(struct cn_msg) + sizeof(int))];
	struct nlmsghdr *nlh;
	struct cn_msg *cn;

	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = NLMSG_DONE;
	nlh->nlmsg_pid = mnl_socket_get_portid(c->nl);
	cn = mnl_nlmsg_put_extra_header(nlh, sizeof(*cn));
	cn->id.idx = CN_IDX_PROC;
	cn->id.val = CN_VAL_PROC;
	cn->len = sizeof(op);
	memcpy(mnl_nlmsg_put_extra_header(nlh, sizeof(op)), &op, sizeof(op));
	return mnl_socket_sendto(c->nl, nlh, nlh->nlmsg_len) < 0 ? -errno : 0;
}

/*
 * Subscribe to exec/exit events; fails where the kernel wants
 * CAP_NET_ADMIN for it (it stopped asking in 6.x).
 */
static int connector_open(struct vmaq_cache *c)
{
	int err;

	c->nl = mnl_socket_open2(NETLINK_CONNECTOR, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!c->nl)
		return -errno;
	if (mnl_socket_bind(c->nl, CN_IDX_PROC, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		goto fail;
	}
	err = connector_send(c, PROC_CN_MCAST_LISTEN);
	if (err)
		goto fail;
	c->nl_pid = getpid();
	c->nlbuf = malloc(MNL_SOCKET_BUFFER_SIZE);
	if (!c->nlbuf) {
		/* the kernel counts listeners: say we are gone */
		connector_send(c, PROC_CN_MCAST_IGNORE);
		err = -ENOMEM;
		goto fail;
	}
	return 0;
fail:
	mnl_socket_close(c->nl);
	c->nl = NULL;
	return err;
}

/* One connector message: drop the process an exec or exit is about. */
static void on_event(struct vmaq_cache *c, const struct nlmsghdr *nlh)
{
	const struct cn_msg *cn = mnl_nlmsg_get_payload(nlh);
	struct proc_event ev;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*cn) + sizeof(ev) ||
	    cn->id.idx != CN_IDX_PROC || cn->id.val != CN_VAL_PROC)
		return;
	/* The event follows a 20-byte header: copy it to align it. */
	memcpy(&ev, cn->data, sizeof(ev));
	switch (ev.what) {
	case PROC_EVENT_EXEC:
		cache_drop(c, ev.event_data.exec.process_tgid);
		break;
	case PROC_EVENT_EXIT:
		/* a thread's exit is not the process's */
		if (ev.event_data.exit.process_pid == ev.event_data.exit.process_tgid)
			cache_drop(c, ev.event_data.exit.process_tgid);
		break;
	default:
		break;
	}
}

static int connector_drain(struct vmaq_cache *c)
{
	const struct nlmsghdr *nlh;
	size_t before;
	ssize_t n;
	int left;

	before = c->count;
	for (;;) {
		n = mnl_socket_recvfrom(c->nl, c->nlbuf, MNL_SOCKET_BUFFER_SIZE);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/*
			 * ENOBUFS: events were lost (the socket's queue was
			 * full). Those after the loss are still queued; the
			 * entries whose events were lost are found by a sweep.
			 */
			if (errno == ENOBUFS) {
				c->lost = true;
				continue;
			}
			if (errno == EAGAIN)
				break;
			return -errno;
		}
		/*
		 * Not mnl_cb_run(): the connector sends every event with type
		 * NLMSG_DONE, which it would take for the end of a dump.
		 */
		/* libmnl counts the bytes left in an int: not through a ssize_t */
		left = (int)n;
		for (nlh = (const struct nlmsghdr *)c->nlbuf; mnl_nlmsg_ok(nlh, left);
		     nlh = mnl_nlmsg_next(nlh, &left))
			on_event(c, nlh);
	}
	return (int)(before - c->count);
}

/*
 * The kernel counts listeners and makes process events while there is
 * one: a socket closed without IGNORE keeps it doing so for good.
 */
static void connector_close(struct vmaq_cache *c)
{
	/*
	 * Before 6.6 the kernel counts LISTENs and IGNOREs, not sockets: a
	 * forked child freeing its copy of the cache must not unsubscribe
	 * its parent's listener (nor, at 0, everyone's).
	 */
	if (c->nl_pid == getpid())
		connector_send(c, PROC_CN_MCAST_IGNORE);
	mnl_socket_close(c->nl);
}

static int connector_fd(const struct vmaq_cache *c)
{
	return mnl_socket_get_fd(c->nl);
}
#else
/* Static builds without libmnl (Debian has no libmnl.a): no events. */
static int connector_open(struct vmaq_cache *c)
{
	(void)c;
	return -EOPNOTSUPP;
}

static int connector_drain(struct vmaq_cache *c)
{
	(void)c;
	return 0;
}

static void connector_close(struct vmaq_cache *c)
{
	(void)c;
}

static int connector_fd(const struct vmaq_cache *c)
{
	(void)c;
	return -ENOTCONN;
}
#endif

static bool entry_valid(struct cache_entry *e);

/*
 * Drop every entry whose process has exited or exec'd: what events would
 * have told, had they not been lost or not been listened to. Returns how
 * many were dropped.
 */
static int cache_sweep(struct vmaq_cache *c)
{
	struct cache_entry **pp, *e;
	int dropped = 0;
	size_t i;

	for (i = 0; i < CACHE_BUCKETS; i++) {
		for (pp = &c->buckets[i]; (e = *pp);) {
			if (entry_valid(e)) {
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

/*
 * The events queued so far, and with @sweep a check of every entry if
 * some were lost. A lookup does not sweep (it checks its own entry, and
 * on a busy machine a queue may overflow between any two lookups: a
 * sweep each would cost two system calls per entry per lookup);
 * vmaq_cache_process_events() does.
 */
static int cache_events(struct vmaq_cache *c, bool sweep)
{
	int n = 0;

	if (c->nl) {
		n = connector_drain(c);
		if (n < 0)
			return n;
	}
	if (sweep && c->lost) {
		c->lost = false;
		n += cache_sweep(c);
	}
	return n;
}

int vmaq_cache_process_events(struct vmaq_cache *c)
{
	int n;

	if (!c)
		return vmaq_err(-EINVAL);
	/* without events, the caller's call is the time to look */
	if (!c->nl)
		c->lost = true;
	n = cache_events(c, true);
	return n < 0 ? vmaq_err(n) : n;
}

/*
 * An entry holds two descriptors (its pidfd and its maps file): by
 * default the cache takes at most half of the soft descriptor limit, so
 * that the rest of the process keeps room, and at most 1024 entries.
 */
static size_t default_max(void)
{
	struct rlimit rl;
	size_t max = CACHE_DEFAULT_MAX;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 4 < max)
		max = rl.rlim_cur / 4;
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
	    (VMAQ_OPTS_GET(opts, vmaq_cache_opts, cache_flags, 0) &
	     ~VMAQ_CACHE_NO_EVENTS)) {
		free(c);
		return vmaq_err(-EINVAL);
	}
	if (!(VMAQ_OPTS_GET(opts, vmaq_cache_opts, cache_flags, 0) &
	      VMAQ_CACHE_NO_EVENTS))
		connector_open(c);	/* optional: see the top of this file */
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
	if (c->nl)
		connector_close(c);
	free(c->nlbuf);
	free(c);
}

int vmaq_cache_fd(const struct vmaq_cache *c)
{
	if (!c)
		return vmaq_err(-EINVAL);
	if (!c->nl)
		return vmaq_err(-ENOTCONN);
	return connector_fd(c);
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

/* Does the entry's pid still name the process it was opened for? */
static bool entry_same_process(const struct cache_entry *e)
{
	if (e->pidfd >= 0)
		return !pidfd_exited(e->pidfd);
	return proc_start_time(e->pid) == e->start_time;
}

/*
 * An entry for process @pid, its map read through thread @via (@pid
 * itself, or one of its threads once the leader has exited: its maps
 * file is then empty).
 */
static int entry_new(struct vmaq_cache *c, pid_t pid, pid_t via,
		     struct cache_entry **ep)
{
	VMAQ_OPTS(vmaq_open_opts, o, .backend = c->backend);
	struct cache_entry *e;
	int err;

	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->pid = pid;
	e->pidfd = -1;
	/*
	 * The identity first: whatever the maps file then shows must be the
	 * process it names.
	 */
	if (!c->no_pidfd) {
		e->pidfd = sys_pidfd_open(pid);
		if (e->pidfd < 0 && errno == ENOSYS)
			c->no_pidfd = true;
		else if (e->pidfd < 0) {
			err = errno == ESRCH ? -ESRCH : -errno;
			free(e);
			return err;
		}
	}
	if (e->pidfd < 0) {
		e->start_time = proc_start_time(pid);
		if (!e->start_time) {
			free(e);
			return -ESRCH;
		}
	}
	/* its finds are its snapshot's: no room for a name in the handle */
	err = vmaq_proc_open(via, &o, false, &e->proc);
	if (!err && !entry_same_process(e))
		err = -ESRCH;	/* it died; the maps may be a newcomer's */
	if (!err)
		err = vmaq_snapshot_new(e->proc, c->flags, &e->snap);
	if (err) {
		entry_free(e);
		return err;
	}
	*ep = e;
	return 0;
}

/* Still the same process, with the same address space? */
static bool entry_valid(struct cache_entry *e)
{
	return entry_same_process(e) && vmaq_proc_check(e->proc) == 0;
}

static struct cache_entry *cache_find(struct vmaq_cache *c, pid_t pid)
{
	struct cache_entry *e;

	for (e = *bucket(c, pid); e; e = e->next)
		if (e->pid == pid)
			return e;
	return NULL;
}

/* A new entry for @pid read through @via, evicting to make room. */
static int cache_add(struct vmaq_cache *c, pid_t pid, pid_t via,
		     struct cache_entry **ep)
{
	struct cache_entry *e = NULL;
	int err;

	/*
	 * Out of descriptors: the cache's own entries are the ones it may
	 * give back, oldest first (ENFILE is the system's: not ours to fix).
	 */
	while ((err = entry_new(c, pid, via, &e)) == -EMFILE && c->count)
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

/* @pid's entry if it still stands for the same process and map. */
static struct cache_entry *cache_find_valid(struct vmaq_cache *c, pid_t pid)
{
	struct cache_entry *e = cache_find(c, pid);

	if (e && !entry_valid(e)) {
		cache_drop(c, pid);
		e = NULL;
	}
	return e;
}

/* The entry of the process @pid (a process or thread id) belongs to. */
static int cache_entry_of(struct vmaq_cache *c, pid_t pid,
			  struct cache_entry **ep)
{
	struct cache_entry *e;
	pid_t leader;
	int err;

	cache_events(c, false);
	e = cache_find_valid(c, pid);
	if (e) {
		*ep = e;
		return 0;
	}
	/* a thread's map is its process's: one entry, the process's */
	leader = thread_group(pid);
	if (leader <= 0 || leader == pid)
		return cache_add(c, pid, pid, ep);
	e = cache_find_valid(c, leader);
	if (e) {
		*ep = e;
		return 0;
	}
	err = cache_add(c, leader, leader, ep);
	/* a leader that has exited shows no map: its threads still do */
	if (err == -ESRCH)
		err = cache_add(c, leader, pid, ep);
	return err;
}

int vmaq_cache_get(struct vmaq_cache *c, pid_t pid,
		   const struct vmaq_snapshot **snapp)
{
	struct cache_entry *e;
	int err;

	if (!c || !snapp || pid <= 0)
		return vmaq_err(-EINVAL);
	err = cache_entry_of(c, pid, &e);
	if (err)
		return vmaq_err(err);
	e->used = ++c->clock;
	*snapp = e->snap;
	return 0;
}

int vmaq_cache_refresh(struct vmaq_cache *c, pid_t pid)
{
	struct cache_entry *e;
	int err;

	if (!c || pid <= 0)
		return vmaq_err(-EINVAL);
	err = cache_entry_of(c, pid, &e);
	if (err)
		return vmaq_err(err);
	e->used = ++c->clock;
	err = vmaq_snapshot_refresh(e->snap);
	if (err == -ESRCH)
		cache_drop(c, e->pid);
	return err < 0 ? vmaq_err(err) : err;
}
