// SPDX-License-Identifier: GPL-2.0
/*
 * The multi-process cache: hits, exit, exec, eviction, events, and a pid
 * reused by another process (forced with clone3's set_tid), which must
 * never be answered with the old process's map.
 */
#include <dirent.h>
#include <linux/sched.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "vmaq_test.h"
#include "internal.h"

#define MARK_A 0x200000000000ull
#define MARK_B 0x300000000000ull

static int map_marker(void *arg)
{
	uint64_t at = *(uint64_t *)arg;

	return mmap((void *)(uintptr_t)at, 4096, PROT_READ,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) ==
	       (void *)(uintptr_t)at ? 0 : -1;
}

static bool has_marker(const struct vmaq_snapshot *s, uint64_t at)
{
	const struct vmaq_vma *v = vmaq_snapshot_find(s, at);

	return v && v->start == at;
}

FIXTURE(cache) {
	struct vmaq_cache *c;
	struct vmaq_events *ev;		/* the events variant's */
	int fds_before;
};

FIXTURE_VARIANT(cache) {
	bool events;		/* exec and exit events fed in */
	bool start_time;	/* identify processes as without pidfd_open() */
};

FIXTURE_VARIANT_ADD(cache, events) { .events = true };
FIXTURE_VARIANT_ADD(cache, no_events) { .events = false };
FIXTURE_VARIANT_ADD(cache, start_time) { .start_time = true };

FIXTURE_SETUP(cache)
{
	VMAQ_OPTS(vmaq_cache_opts, o, .flags = VMAQ_NAME);
	int err;

	VMAQ_FDS_SETUP();
	self->ev = NULL;
	ASSERT_EQ(0, vmaq_cache_new(&o, &self->c));
	if (variant->start_time)
		vmaq_cache_disable_pidfd(self->c);
	if (variant->events) {
		err = vmaq_events_new(NULL, &self->ev);
		if (err == -EPERM || err == -EOPNOTSUPP)
			SKIP(return, "no process events here: %s", strerror(-err));
		ASSERT_EQ(0, err);
	}
}

FIXTURE_TEARDOWN(cache)
{
	vmaq_cache_free(self->c);
	vmaq_events_free(self->ev);
	VMAQ_FDS_TEARDOWN();
}

/*
 * Feed the cache what the events say until @want entries went (or 5 s
 * passed); how many went, and in *lost whether events were lost.
 */
static int pump(struct vmaq_cache *c, struct vmaq_events *ev, int want, bool *lost)
{
	struct pollfd pfd = { .fd = vmaq_events_fd(ev), .events = POLLIN };
	struct vmaq_event evs[64];
	int dropped = 0, n, r;

	for (int i = 0; i < 50 && dropped < want; i++) {
		if (poll(&pfd, 1, 100) != 1)
			continue;
		while ((n = vmaq_events_read(ev, evs, 64)) > 0) {
			for (int k = 0; lost && k < n; k++)
				*lost |= evs[k].kind == VMAQ_EVENT_LOST;
			r = vmaq_cache_feed(c, evs, (size_t)n);
			if (r < 0)
				return r;
			dropped += r;
		}
	}
	return dropped;
}

TEST_F(cache, hit_returns_the_same_snapshot)
{
	struct test_child ch;
	const struct vmaq_snapshot *a, *b;
	uint64_t at = MARK_A;

	ASSERT_EQ(0, child_start(&ch, map_marker, &at));
	ASSERT_EQ(0, vmaq_cache_get(self->c, ch.pid, &a));
	EXPECT_TRUE(has_marker(a, MARK_A));
	ASSERT_EQ(0, vmaq_cache_get(self->c, ch.pid, &b));
	EXPECT_EQ(a, b);
	EXPECT_EQ(1u, vmaq_cache_count(self->c));
	EXPECT_EQ(0, vmaq_cache_refresh(self->c, ch.pid));
	ASSERT_EQ(0, child_finish(&ch));
}

TEST_F(cache, exited_process_is_dropped)
{
	struct test_child ch;
	const struct vmaq_snapshot *s;

	ASSERT_EQ(0, child_start(&ch, NULL, NULL));
	ASSERT_EQ(0, vmaq_cache_get(self->c, ch.pid, &s));
	pid_t pid = ch.pid;

	ASSERT_EQ(0, child_finish(&ch));
	if (self->ev) {
		/* the event alone drops the entry, before any lookup */
		EXPECT_EQ(1, pump(self->c, self->ev, 1, NULL));
		EXPECT_EQ(0u, vmaq_cache_count(self->c));
	}
	EXPECT_EQ(-ESRCH, vmaq_cache_get(self->c, pid, &s));
	EXPECT_EQ(0u, vmaq_cache_count(self->c));
}

TEST_F(cache, exec_gives_the_new_image)
{
	const struct vmaq_snapshot *s;
	int go[2], st;
	pid_t pid;
	char c = 0;
	uint64_t at = MARK_A;

	ASSERT_EQ(0, pipe(go));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		close(go[1]);
		if (map_marker(&at) || read(go[0], &c, 1) != 1)
			_exit(1);
		execl("/bin/sleep", "sleep", "5", (char *)NULL);
		_exit(127);
	}
	close(go[0]);
	for (int i = 0; i < 200; i++) {
		ASSERT_EQ(0, vmaq_cache_get(self->c, pid, &s));
		if (has_marker(s, MARK_A))
			break;
		vmaq_cache_refresh(self->c, pid);
		usleep(5000);
	}
	ASSERT_TRUE(has_marker(s, MARK_A));
	ASSERT_EQ(1, write(go[1], &c, 1));
	close(go[1]);
	for (int i = 0; i < 500; i++) {
		ASSERT_EQ(0, vmaq_cache_get(self->c, pid, &s));
		if (!has_marker(s, MARK_A))
			break;
		usleep(10000);
	}
	EXPECT_FALSE(has_marker(s, MARK_A));
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

/*
 * Start a process at exactly pid @pid (clone3 with set_tid), mapping
 * MARK_B, that waits until child_finish(). 0, -errno if the pid cannot
 * be chosen here (EPERM, ENOSYS, EEXIST), or -1.
 */
static int spawn_b_at(pid_t pid, struct test_child *b)
{
	struct clone_args args;
	int hold[2], ready[2], err;
	char c = 0;

	if (pipe(hold))
		return -1;
	if (pipe(ready)) {
		close(hold[0]);
		close(hold[1]);
		return -1;
	}
	memset(&args, 0, sizeof(args));
	args.exit_signal = SIGCHLD;
	args.set_tid = (uintptr_t)&pid;
	args.set_tid_size = 1;
	/* an exited thread's id is free only once the task is released */
	for (int i = 0; i < 1000; i++) {
		b->pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
		if (b->pid >= 0 || errno != EEXIST)
			break;
		usleep(1000);
	}
	if (b->pid == 0) {
		uint64_t bt = MARK_B;

		close(hold[1]);
		close(ready[0]);
		c = map_marker(&bt) == 0;
		if (write(ready[1], &c, 1) != 1)
			syscall(SYS_exit_group, 1);
		while (read(hold[0], &c, 1) < 0 && errno == EINTR)
			;
		syscall(SYS_exit_group, 0);
	}
	err = b->pid < 0 ? errno : 0;
	close(hold[0]);
	close(ready[1]);
	b->release_fd = hold[1];
	if (b->pid < 0) {
		close(ready[0]);
		close(hold[1]);
		b->release_fd = -1;
		return err == EPERM || err == ENOSYS || err == EEXIST ? -err : -1;
	}
	if (read(ready[0], &c, 1) != 1 || c != 1 || b->pid != pid)
		c = 0;
	close(ready[0]);
	return c ? 0 : -1;
}

TEST_F(cache, reused_pid_is_another_process)
{
	const struct vmaq_snapshot *s;
	struct test_child a, b;
	uint64_t at = MARK_A;
	pid_t pid;
	int err;

	ASSERT_EQ(0, child_start(&a, map_marker, &at));
	pid = a.pid;
	ASSERT_EQ(0, vmaq_cache_get(self->c, pid, &s));
	ASSERT_TRUE(has_marker(s, MARK_A));
	ASSERT_EQ(0, child_finish(&a));	/* exited and reaped: pid is free */
	/* start times count clock ticks: make B's differ from A's */
	usleep(30000);
	err = spawn_b_at(pid, &b);
	if (err < -1)
		SKIP(return, "cannot choose a pid here (clone3 set_tid: %s)",
		     strerror(-err));
	ASSERT_EQ(0, err);
	/* One lookup, no refresh: the cache itself must see the change. */
	ASSERT_EQ(0, vmaq_cache_get(self->c, pid, &s));
	EXPECT_FALSE(has_marker(s, MARK_A));
	EXPECT_TRUE(has_marker(s, MARK_B));
	ASSERT_EQ(0, child_finish(&b));
}

TEST_F(cache, least_recently_used_is_evicted)
{
	VMAQ_OPTS(vmaq_cache_opts, o, .max_procs = 2);
	struct vmaq_cache *c;
	struct test_child ch[3];
	const struct vmaq_snapshot *s;
	int i;

	ASSERT_EQ(0, vmaq_cache_new(&o, &c));
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, child_start(&ch[i], NULL, NULL));
		ASSERT_EQ(0, vmaq_cache_get(c, ch[i].pid, &s));
		if (i == 1)	/* touch the first again: the second is oldest */
			ASSERT_EQ(0, vmaq_cache_get(c, ch[0].pid, &s));
	}
	EXPECT_EQ(2u, vmaq_cache_count(c));
	vmaq_cache_free(c);
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, child_finish(&ch[i]));
}

/* Children that only wait to be killed: no descriptor of ours each. */
static int sleepers_start(pid_t *pids, int n)
{
	for (int i = 0; i < n; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			return -1;
		if (pids[i] == 0) {
			for (;;)
				pause();
		}
	}
	return 0;
}

static void sleepers_kill(pid_t *pids, int n)
{
	for (int i = 0; i < n; i++) {
		if (pids[i] > 0) {
			kill(pids[i], SIGKILL);
			waitpid(pids[i], NULL, 0);
			pids[i] = 0;
		}
	}
}

#define SLEEPERS 40

/*
 * Exits whose events never came (none listened to, or lost to a full
 * socket queue: ENOBUFS, VMAQ_EVENT_LOST) are found all the same: by
 * vmaq_cache_revalidate(), or by the LOST event fed in. Audit finding
 * F3: dead entries were kept for ever, with their descriptors.
 */
TEST_F(cache, dead_entries_go_even_without_their_events)
{
	const struct vmaq_snapshot *s;
	pid_t pids[SLEEPERS];
	bool lost = false;
	int dropped = 0;

	ASSERT_EQ(0, sleepers_start(pids, SLEEPERS));
	for (int i = 0; i < SLEEPERS; i++)
		ASSERT_EQ(0, vmaq_cache_get(self->c, pids[i], &s));
	EXPECT_EQ((size_t)SLEEPERS, vmaq_cache_count(self->c));
	if (self->ev) {
		/* the smallest queue the kernel allows: most events are lost */
		int one = 1, fd = vmaq_events_fd(self->ev);

		ASSERT_EQ(0, setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &one, sizeof(one)));
	}
	/* every exit has happened (and made its event) once it is reaped */
	sleepers_kill(pids, SLEEPERS);
	if (self->ev) {
		dropped = pump(self->c, self->ev, SLEEPERS, &lost);
		EXPECT_TRUE(lost) TH_LOG("%d exits and no event lost?", SLEEPERS);
	} else {
		dropped = vmaq_cache_revalidate(self->c);
	}
	EXPECT_EQ(SLEEPERS, dropped);
	EXPECT_EQ(0u, vmaq_cache_count(self->c));
}

TEST(cache_fits_the_descriptor_limit)
{
	pid_t pids[SLEEPERS], tester;
	int st;

	ASSERT_EQ(0, sleepers_start(pids, SLEEPERS));
	tester = fork();
	ASSERT_GE(tester, 0);
	if (tester == 0) {
		VMAQ_OPTS(vmaq_cache_opts, big, .max_procs = 1000);
		struct rlimit rl;
		const struct vmaq_snapshot *s;
		struct vmaq_cache *c;
		int fd;

		/* nothing of ours above stderr: the limit is the cache's */
		for (fd = 3; fd < 1024; fd++)
			close(fd);
		/* the soft limit only: valgrind keeps the hard one */
		if (getrlimit(RLIMIT_NOFILE, &rl))
			_exit(9);
		rl.rlim_cur = 48;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			_exit(10);
		if (vmaq_cache_new(NULL, &c))
			_exit(11);
		for (int i = 0; i < SLEEPERS; i++)
			if (vmaq_cache_get(c, pids[i], &s))
				_exit(12);
		/* half of 48: one descriptor an entry */
		if (vmaq_cache_count(c) != 24)
			_exit(13);
		vmaq_cache_free(c);
		/*
		 * valgrind enforces the limit for some system calls only
		 * (open(2), not pidfd_open(2)): there, only memory errors are
		 * looked for; the host suite checks the eviction.
		 */
		if (under_valgrind())
			_exit(0);
		/* fewer descriptors than sleepers: the cache must give some back */
		rl.rlim_cur = 32;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			_exit(10);
		if (vmaq_cache_new(&big, &c))
			_exit(14);
		for (int i = 0; i < SLEEPERS; i++)
			if (vmaq_cache_get(c, pids[i], &s))
				_exit(20 + (errno & 63));
		if (vmaq_cache_count(c) >= SLEEPERS)
			_exit(15);
		vmaq_cache_free(c);
		/*
		 * Reading build IDs takes descriptors too: an entry is made
		 * whole (room is made for that as well) or not at all, never
		 * kept without them.
		 */
		{
			VMAQ_OPTS(vmaq_cache_opts, bid, .max_procs = 1000,
				  .flags = VMAQ_NAME | VMAQ_BUILD_ID,
				  .backend = VMAQ_BACKEND_TEXT);

			if (vmaq_cache_new(&bid, &c))
				_exit(17);
			for (int i = 0; i < SLEEPERS; i++) {
				size_t ids = 0;

				if (vmaq_cache_get(c, pids[i], &s))
					_exit(18);
				for (size_t j = 0; j < vmaq_snapshot_count(s); j++)
					ids += vmaq_snapshot_vma(s, j)->build_id_size > 0;
				if (!ids)
					_exit(19);
			}
		}
		/* and the process can still open files once the cache is gone */
		vmaq_cache_free(c);
		fd = open("/dev/null", O_RDONLY);
		_exit(fd < 0 ? 16 : 0);
	}
	ASSERT_EQ(tester, waitpid(tester, &st, 0));
	sleepers_kill(pids, SLEEPERS);
	ASSERT_TRUE(WIFEXITED(st));
	EXPECT_EQ(0, WEXITSTATUS(st));
}

TEST(cache_bad_arguments)
{
	VMAQ_OPTS(vmaq_cache_opts, o, .flags = VMAQ_WRITE);
	VMAQ_OPTS(vmaq_cache_opts, o2, .cache_flags = 0x80);
	struct vmaq_cache *c;
	const struct vmaq_snapshot *s;

	EXPECT_EQ(-EINVAL, vmaq_cache_new(&o, &c));
	EXPECT_EQ(-EINVAL, vmaq_cache_new(&o2, &c));
	ASSERT_EQ(0, vmaq_cache_new(NULL, &c));
	EXPECT_EQ(-EINVAL, vmaq_cache_get(c, 0, &s));
	EXPECT_EQ(-ESRCH, vmaq_cache_get(c, 999999999, &s));
	vmaq_cache_free(c);
}

/*
 * The system calls @n hits on @pid make: counted in a child traced
 * with ptrace from the point it stops itself, its exit_group included
 * (subtracted). -1 if it cannot be traced.
 */
static long syscalls_of_hits(struct vmaq_cache *c, pid_t pid, int n)
{
	const struct vmaq_snapshot *s;
	long stops = 0;
	pid_t ch;
	int st;

	ch = fork();
	if (ch < 0)
		return -1;
	if (!ch) {
		/* the first get (a miss) before the count starts */
		if (vmaq_cache_get(c, pid, &s) || ptrace(PTRACE_TRACEME, 0, 0, 0))
			_exit(1);
		raise(SIGSTOP);
		for (int i = 0; i < n; i++)
			if (vmaq_cache_get(c, pid, &s))
				_exit(2);
		syscall(SYS_exit_group, 0);
	}
	if (waitpid(ch, &st, 0) != ch || !WIFSTOPPED(st))
		return -1;
	if (ptrace(PTRACE_SETOPTIONS, ch, 0, PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL))
		return -1;
	for (;;) {
		if (ptrace(PTRACE_SYSCALL, ch, 0, 0))
			return -1;
		if (waitpid(ch, &st, 0) != ch)
			return -1;
		if (WIFEXITED(st))
			return WEXITSTATUS(st) ? -1 : (stops + 1) / 2 - 1;
		if (WIFSIGNALED(st))
			return -1;
		if (WSTOPSIG(st) == (SIGTRAP | 0x80))
			stops++;
	}
}

/* Reviewer's finding: three system calls per hit, a maps read on text. */
TEST_F(cache, a_hit_is_one_system_call)
{
	struct test_child ch;
	long zero, many;

	if (under_valgrind())
		SKIP(return, "valgrind's own system calls would be counted");
	ASSERT_EQ(0, child_start(&ch, NULL, NULL));
	zero = syscalls_of_hits(self->c, ch.pid, 0);
	many = syscalls_of_hits(self->c, ch.pid, 100);
	ASSERT_LE(0, zero);
	ASSERT_LE(0, many);
	EXPECT_LE(many - zero, 100) TH_LOG("%ld system calls for 100 hits", many - zero);
	EXPECT_LE(50, many - zero) TH_LOG("a hit with no system call cannot tell an exit");
	ASSERT_EQ(0, child_finish(&ch));
}

/* A process with a second thread, which says its id and exits on demand. */
struct threaded {
	int tid_w;		/* the thread writes its id here */
	int quit_r, quit_w;	/* it exits once quit_w is closed */
};

static void *threaded_thread(void *arg)
{
	struct threaded *t = arg;
	pid_t tid = (pid_t)syscall(SYS_gettid);
	char c;

	if (write(t->tid_w, &tid, sizeof(tid)) != sizeof(tid))
		syscall(SYS_exit_group, 1);
	while (read(t->quit_r, &c, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

/* Like child_start(), with the second thread; its id in *@tid. */
static int threaded_start(struct test_child *ch, struct threaded *t,
			  uint64_t at, pid_t *tid)
{
	int tp[2], qp[2], hold[2];
	char c;

	if (pipe(tp) || pipe(qp) || pipe(hold))
		return -1;
	t->tid_w = tp[1];
	t->quit_r = qp[0];
	t->quit_w = qp[1];
	ch->pid = fork();
	if (ch->pid < 0)
		return -1;
	if (!ch->pid) {
		pthread_t th;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(tp[0]);
		close(qp[1]);
		close(hold[1]);
		if (map_marker(&at) ||
		    pthread_create(&th, NULL, threaded_thread, t))
			syscall(SYS_exit_group, 1);
		while (read(hold[0], &c, 1) < 0 && errno == EINTR)
			;
		/* the caller closes quit_w first: nothing left behind */
		pthread_join(th, NULL);
		syscall(SYS_exit_group, 0);
	}
	close(tp[1]);
	close(qp[0]);
	close(hold[0]);
	ch->release_fd = hold[1];
	if (read(tp[0], tid, sizeof(*tid)) != sizeof(*tid))
		return -1;
	close(tp[0]);
	return 0;
}

/*
 * A thread id gives its process's entry, and a hit by thread id costs one
 * system call more than one by process id: the check that the thread is
 * still that process's.
 */
TEST_F(cache, a_thread_id_gives_its_process_entry)
{
	const struct vmaq_snapshot *a, *b;
	struct test_child ch;
	struct threaded t;
	long zero, many;
	pid_t tid;

	ASSERT_EQ(0, threaded_start(&ch, &t, MARK_A, &tid));
	ASSERT_NE(ch.pid, tid);
	ASSERT_EQ(0, vmaq_cache_get(self->c, tid, &a));
	EXPECT_TRUE(has_marker(a, MARK_A));
	ASSERT_EQ(0, vmaq_cache_get(self->c, ch.pid, &b));
	EXPECT_EQ(a, b);
	ASSERT_EQ(0, vmaq_cache_get(self->c, tid, &b));
	EXPECT_EQ(a, b);
	EXPECT_EQ(1u, vmaq_cache_count(self->c));
	if (!under_valgrind()) {
		zero = syscalls_of_hits(self->c, tid, 0);
		many = syscalls_of_hits(self->c, tid, 100);
		ASSERT_LE(0, zero);
		ASSERT_LE(0, many);
		EXPECT_LE(many - zero, 200) TH_LOG("%ld system calls for 100 hits", many - zero);
	}
	close(t.quit_w);
	ASSERT_EQ(0, child_finish(&ch));
}

/*
 * A thread id the cache knows, taken by a new process once the thread has
 * gone: the new process's map, not that of the thread's process.
 */
TEST_F(cache, a_thread_id_taken_by_another_process_is_that_process)
{
	const struct vmaq_snapshot *s;
	struct test_child ch, b;
	struct threaded t;
	pid_t tid;
	int err;

	ASSERT_EQ(0, threaded_start(&ch, &t, MARK_A, &tid));
	ASSERT_EQ(0, vmaq_cache_get(self->c, tid, &s));
	ASSERT_TRUE(has_marker(s, MARK_A));
	/* the thread exits; spawn_b_at() waits until its id is free */
	close(t.quit_w);
	err = spawn_b_at(tid, &b);
	if (err < -1) {
		child_finish(&ch);
		SKIP(return, "cannot choose a pid here (clone3 set_tid: %s)",
		     strerror(-err));
	}
	ASSERT_EQ(0, err);
	ASSERT_EQ(0, vmaq_cache_get(self->c, tid, &s));
	EXPECT_FALSE(has_marker(s, MARK_A));
	EXPECT_TRUE(has_marker(s, MARK_B));
	ASSERT_EQ(0, child_finish(&b));
	ASSERT_EQ(0, child_finish(&ch));
}

TEST_F(cache, one_descriptor_per_entry)
{
	const struct vmaq_snapshot *s;
	pid_t pids[SLEEPERS];
	int before;

	ASSERT_EQ(0, sleepers_start(pids, SLEEPERS));
	before = count_fds();
	for (int i = 0; i < SLEEPERS; i++)
		ASSERT_EQ(0, vmaq_cache_get(self->c, pids[i], &s));
	EXPECT_EQ(before + SLEEPERS, count_fds());
	sleepers_kill(pids, SLEEPERS);
	EXPECT_EQ(SLEEPERS, vmaq_cache_revalidate(self->c));
	EXPECT_EQ(before, count_fds());
}

/*
 * A map that changes within its address space: seen by the next hit
 * where the kernel has a generation; elsewhere only once the change is
 * fed in (the documented rule), never before.
 */
TEST_F(cache, a_change_is_seen_by_generation_or_once_fed_in)
{
	struct vmaq_event ev = { .kind = VMAQ_EVENT_CHANGE };
	const struct vmaq_snapshot *s;
	unsigned int mask = 0;
	int go[2], done[2];
	uint64_t at = MARK_B;
	bool gen;
	pid_t pid;
	char c;

	ASSERT_EQ(0, vmaq_kernel_backends(&mask));
	gen = mask & (1u << VMAQ_BACKEND_BATCH);
	ASSERT_EQ(0, pipe(go));
	ASSERT_EQ(0, pipe(done));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		close(go[1]);
		close(done[0]);
		if (read(go[0], &c, 1) != 1 || map_marker(&at) ||
		    write(done[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(go[0]);
	close(done[1]);
	ASSERT_EQ(0, vmaq_cache_get(self->c, pid, &s));
	EXPECT_FALSE(has_marker(s, MARK_B));
	ASSERT_EQ(1, write(go[1], "x", 1));
	ASSERT_EQ(1, read(done[0], &c, 1));
	ASSERT_EQ(0, vmaq_cache_get(self->c, pid, &s));
	EXPECT_EQ(gen, has_marker(s, MARK_B));
	ev.pid = pid;
	EXPECT_EQ(0, vmaq_cache_feed(self->c, &ev, 1));
	ASSERT_EQ(0, vmaq_cache_get(self->c, pid, &s));
	EXPECT_TRUE(has_marker(s, MARK_B));
	/* an exit fed in drops the entry at once, whatever the process does */
	ev.kind = VMAQ_EVENT_EXIT;
	EXPECT_EQ(1, vmaq_cache_feed(self->c, &ev, 1));
	EXPECT_EQ(0u, vmaq_cache_count(self->c));
	kill(pid, SIGKILL);
	ASSERT_EQ(pid, waitpid(pid, NULL, 0));
	close(go[1]);
	close(done[0]);
}

/*
 * Hundreds of short-lived processes looked up under a limit of 256
 * descriptors, with their events (where listened to) flooding in: no
 * lookup of a live process fails, the cache stays within the limit and
 * ends with no entry of a process that went. Its 400 forks take about
 * 23 s of the harness's 30 on the debug kernel under TCG: it is given
 * room for a machine several times as slow.
 */
TEST_F_TIMEOUT(cache, hundreds_of_short_lived_processes_under_256_descriptors, 150)
{
	const struct vmaq_snapshot *s;
	int rounds = under_valgrind() ? 2 : 10, failed = 0, fds = 0;
	struct rlimit old, rl;
	pid_t pids[SLEEPERS];

	ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &old));
	rl = old;
	rl.rlim_cur = 256;
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &rl));
	vmaq_cache_free(self->c);
	/* made under the limit: its default size follows it */
	ASSERT_EQ(0, vmaq_cache_new(NULL, &self->c));
	for (int r = 0; r < rounds; r++) {
		if (sleepers_start(pids, SLEEPERS))
			break;
		for (int i = 0; i < SLEEPERS; i++)
			failed += vmaq_cache_get(self->c, pids[i], &s) != 0;
		if (count_fds() > fds)
			fds = count_fds();
		sleepers_kill(pids, SLEEPERS);
		if (self->ev)
			pump(self->c, self->ev, 0, NULL);
	}
	/* whatever events said or lost, a check leaves no dead entry */
	vmaq_cache_revalidate(self->c);
	EXPECT_EQ(0u, vmaq_cache_count(self->c));
	EXPECT_EQ(0, failed);
	EXPECT_GE(256, fds);
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &old));
}

TEST(events_bad_arguments)
{
	VMAQ_OPTS(vmaq_events_opts, o, .flags = 1);
	struct vmaq_event e = { .kind = 99, .pid = 1 };
	struct vmaq_events *ev;
	struct vmaq_cache *c;

	EXPECT_EQ(-EINVAL, vmaq_events_new(&o, &ev));
	EXPECT_EQ(-EINVAL, vmaq_events_new(NULL, NULL));
	EXPECT_EQ(-EINVAL, vmaq_events_fd(NULL));
	EXPECT_EQ(-EINVAL, vmaq_events_read(NULL, &e, 1));
	vmaq_events_free(NULL);
	ASSERT_EQ(0, vmaq_cache_new(NULL, &c));
	EXPECT_EQ(-EINVAL, vmaq_cache_feed(c, &e, 1));
	EXPECT_EQ(-EINVAL, vmaq_cache_feed(c, NULL, 1));
	EXPECT_EQ(0, vmaq_cache_feed(c, NULL, 0));
	EXPECT_EQ(-EINVAL, vmaq_cache_feed(NULL, &e, 0));
	EXPECT_EQ(-EINVAL, vmaq_cache_revalidate(NULL));
	vmaq_cache_free(c);
}

/* Exec and exit events of a child of ours, in order; a listener unsubscribes. */
TEST(events_tell_exec_and_exit)
{
	struct vmaq_event evs[64];
	struct vmaq_events *ev;
	bool exec = false, exited = false;
	int err, n;
	pid_t pid;

	err = vmaq_events_new(NULL, &ev);
	if (err == -EPERM || err == -EOPNOTSUPP)
		SKIP(return, "no process events here: %s", strerror(-err));
	ASSERT_EQ(0, err);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	ASSERT_EQ(pid, waitpid(pid, NULL, 0));
	for (int i = 0; i < 50 && !exited; i++) {
		struct pollfd pfd = { .fd = vmaq_events_fd(ev), .events = POLLIN };

		if (poll(&pfd, 1, 100) != 1)
			continue;
		while ((n = vmaq_events_read(ev, evs, 64)) > 0) {
			for (int k = 0; k < n; k++) {
				if (evs[k].pid != pid)
					continue;
				if (evs[k].kind == VMAQ_EVENT_EXEC)
					exec = true;
				if (evs[k].kind == VMAQ_EVENT_EXIT) {
					EXPECT_TRUE(exec) TH_LOG("exit before exec");
					exited = true;
				}
			}
		}
	}
	EXPECT_TRUE(exec);
	EXPECT_TRUE(exited);
	vmaq_events_free(ev);
}

int main(int argc, char **argv)
{
	return vmaq_test_main(argc, argv);
}

static int leaderless_quit[2][2];	/* the child's two threads' exits */

/* Up to @max ids of @pid's threads other than its first, lowest first. */
static int other_threads(pid_t pid, pid_t *tids, int max)
{
	char path[64];
	struct dirent *d;
	int n = 0, tid;
	DIR *task;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	task = opendir(path);
	if (!task)
		return -1;
	while ((d = readdir(task)) && n < max) {
		tid = atoi(d->d_name);
		if (tid > 0 && tid != pid)
			tids[n++] = tid;
	}
	closedir(task);
	return n;
}

static void *leaderless_thread(void *arg)
{
	int *quit = arg;
	char c;

	close(quit[1]);		/* the child's copy: the parent's ends it */
	while (read(quit[0], &c, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

/*
 * A process whose first thread exited, its two others running on: the
 * cache reads it through one of them (its own maps file is empty), with
 * build IDs (from that thread's map_files), and goes on reading it once
 * that thread exits too.
 */
TEST_F(cache, a_process_whose_leader_exited_is_read_through_its_threads)
{
	const struct vmaq_vma *v;
	const struct vmaq_snapshot *s;
	struct vmaq_cache *c;
	pid_t ch, tids[2];
	int i, st;

	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, pipe(leaderless_quit[i]));
	}
	ch = leaderless_start(MARK_A, 0, 2, leaderless_thread,
			      (void *[]){ leaderless_quit[0], leaderless_quit[1] });
	ASSERT_LT(0, ch);
	for (i = 0; i < 2; i++)
		close(leaderless_quit[i][0]);
	/* the threads' ids, in the order they were made */
	ASSERT_EQ(2, other_threads(ch, tids, 2));

	/*
	 * PROCMAP_QUERY reads build IDs in the kernel, the text backend
	 * through map_files; the thread goes while the first cache reads
	 * through it (its hits check the address space, its reads the file).
	 */
	for (int b = 0; b < 2; b++) {
		VMAQ_OPTS(vmaq_cache_opts, o, .flags = VMAQ_NAME | VMAQ_BUILD_ID,
			  .backend = b ? VMAQ_BACKEND_TEXT : VMAQ_BACKEND_AUTO);

		ASSERT_EQ(0, vmaq_cache_new(&o, &c));
		if (variant->start_time)
			vmaq_cache_disable_pidfd(c);
		ASSERT_EQ(0, vmaq_cache_get(c, tids[1], &s));
		EXPECT_TRUE(has_marker(s, MARK_A));
		v = vmaq_snapshot_find(s, (uintptr_t)&leaderless_thread);
		ASSERT_NE(NULL, v);
		EXPECT_EQ(20, v->build_id_size) TH_LOG("no build ID through the thread");
		ASSERT_EQ(0, vmaq_cache_get(c, ch, &s));
		EXPECT_TRUE(has_marker(s, MARK_A));
		EXPECT_EQ(1, vmaq_cache_count(c));

		if (b == 0) {
			/* the first thread goes (its file is the one read) */
			close(leaderless_quit[0][1]);
			for (i = 0; i < 1000 &&
			     !syscall(SYS_tgkill, ch, tids[0], 0); i++)
				usleep(1000);
		}
		EXPECT_LE(0, vmaq_cache_refresh(c, ch));
		ASSERT_EQ(0, vmaq_cache_get(c, tids[1], &s));
		EXPECT_TRUE(has_marker(s, MARK_A));
		v = vmaq_snapshot_find(s, (uintptr_t)&leaderless_thread);
		ASSERT_NE(NULL, v);
		EXPECT_EQ(20, v->build_id_size);
		EXPECT_EQ(1, vmaq_cache_count(c));
		vmaq_cache_free(c);
	}

	/* killed, not exited: no thread left behind for valgrind to see */
	kill(ch, SIGKILL);
	close(leaderless_quit[1][1]);
	ASSERT_EQ(ch, waitpid(ch, &st, 0));
}
