// SPDX-License-Identifier: GPL-2.0
/*
 * The multi-process cache: hits, exit, exec, eviction, events, and a pid
 * reused by another process (forced with clone3's set_tid), which must
 * never be answered with the old process's map.
 */
#include <linux/sched.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
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
	bool events;
	int fds_before;
};

FIXTURE_VARIANT(cache) {
	uint32_t cache_flags;
	bool start_time;	/* identify processes as without pidfd_open() */
};

FIXTURE_VARIANT_ADD(cache, events) { .cache_flags = 0 };
FIXTURE_VARIANT_ADD(cache, no_events) { .cache_flags = VMAQ_CACHE_NO_EVENTS };
FIXTURE_VARIANT_ADD(cache, start_time) {
	.cache_flags = VMAQ_CACHE_NO_EVENTS,
	.start_time = true,
};

FIXTURE_SETUP(cache)
{
	VMAQ_OPTS(vmaq_cache_opts, o, .flags = VMAQ_NAME,
		  .cache_flags = variant->cache_flags);

	VMAQ_FDS_SETUP();
	ASSERT_EQ(0, vmaq_cache_new(&o, &self->c));
	if (variant->start_time)
		vmaq_cache_disable_pidfd(self->c);
	self->events = vmaq_cache_fd(self->c) >= 0;
	if (!variant->cache_flags && !self->events)
		SKIP(return, "process events need CAP_NET_ADMIN (and libmnl)");
	EXPECT_EQ(!variant->cache_flags, self->events);
}

FIXTURE_TEARDOWN(cache)
{
	vmaq_cache_free(self->c);
	VMAQ_FDS_TEARDOWN();
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
	struct pollfd pfd;

	ASSERT_EQ(0, child_start(&ch, NULL, NULL));
	ASSERT_EQ(0, vmaq_cache_get(self->c, ch.pid, &s));
	pid_t pid = ch.pid;

	ASSERT_EQ(0, child_finish(&ch));
	if (self->events) {
		/* the event alone drops the entry, before any lookup */
		int dropped = 0;

		pfd.fd = vmaq_cache_fd(self->c);
		pfd.events = POLLIN;
		/* other processes' events may come first */
		for (int i = 0; i < 50 && !dropped; i++)
			if (poll(&pfd, 1, 100) == 1)
				dropped = vmaq_cache_process_events(self->c);
		EXPECT_EQ(1, dropped);
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

TEST_F(cache, reused_pid_is_another_process)
{
	struct clone_args args;
	const struct vmaq_snapshot *s;
	struct test_child a;
	uint64_t at = MARK_A;
	int hold[2], ready[2], st;
	pid_t pid, b;
	char c;

	ASSERT_EQ(0, child_start(&a, map_marker, &at));
	pid = a.pid;
	ASSERT_EQ(0, vmaq_cache_get(self->c, pid, &s));
	ASSERT_TRUE(has_marker(s, MARK_A));
	ASSERT_EQ(0, child_finish(&a));	/* exited and reaped: pid is free */
	ASSERT_EQ(0, pipe(hold));
	ASSERT_EQ(0, pipe(ready));
	/* start times count clock ticks: make B's differ from A's */
	usleep(30000);
	memset(&args, 0, sizeof(args));
	args.exit_signal = SIGCHLD;
	args.set_tid = (uintptr_t)&pid;
	args.set_tid_size = 1;
	b = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
	if (b < 0 && (errno == EPERM || errno == ENOSYS || errno == EEXIST)) {
		int err = errno;

		close(hold[0]);
		close(hold[1]);
		close(ready[0]);
		close(ready[1]);
		SKIP(return, "cannot choose a pid here (clone3 set_tid: %s)",
		     strerror(err));
	}
	ASSERT_GE(b, 0);
	if (b == 0) {
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
	close(hold[0]);
	close(ready[1]);
	ASSERT_EQ(pid, b);
	ASSERT_EQ(1, read(ready[0], &c, 1));
	ASSERT_EQ(1, c);
	close(ready[0]);
	/* One lookup, no refresh: the cache itself must see the change. */
	ASSERT_EQ(0, vmaq_cache_get(self->c, pid, &s));
	EXPECT_FALSE(has_marker(s, MARK_A));
	EXPECT_TRUE(has_marker(s, MARK_B));
	close(hold[1]);
	ASSERT_EQ(b, waitpid(b, &st, 0));
}

TEST_F(cache, least_recently_used_is_evicted)
{
	VMAQ_OPTS(vmaq_cache_opts, o, .max_procs = 2,
		  .cache_flags = VMAQ_CACHE_NO_EVENTS);
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
 * Exits whose events never came (no connector, or lost to a full socket
 * queue: ENOBUFS) are found by vmaq_cache_process_events(). Audit finding
 * F3: dead entries were kept for ever, with their descriptors.
 */
TEST_F(cache, dead_entries_go_even_without_their_events)
{
	const struct vmaq_snapshot *s;
	pid_t pids[SLEEPERS];
	int dropped = 0;

	ASSERT_EQ(0, sleepers_start(pids, SLEEPERS));
	for (int i = 0; i < SLEEPERS; i++)
		ASSERT_EQ(0, vmaq_cache_get(self->c, pids[i], &s));
	EXPECT_EQ((size_t)SLEEPERS, vmaq_cache_count(self->c));
	if (self->events) {
		/* the smallest queue the kernel allows: most events are lost */
		int one = 1, fd = vmaq_cache_fd(self->c);

		ASSERT_EQ(0, setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &one, sizeof(one)));
	}
	/* every exit has happened (and made its event) once it is reaped */
	sleepers_kill(pids, SLEEPERS);
	dropped = vmaq_cache_process_events(self->c);
	EXPECT_EQ(SLEEPERS, dropped);
	EXPECT_EQ(0u, vmaq_cache_count(self->c));
}

/* A thread's id gives its process's entry (audit finding F12: ENOENT). */
static void *wait_for_cancel(void *arg)
{
	*(volatile pid_t *)arg = (pid_t)syscall(SYS_gettid);
	for (;;)
		pause();
	return NULL;
}

TEST_F(cache, thread_id_gives_the_process)
{
	const struct vmaq_snapshot *a, *b;
	volatile pid_t tid = 0;
	pthread_t t;

	ASSERT_EQ(0, pthread_create(&t, NULL, wait_for_cancel, (void *)&tid));
	while (!tid)
		sched_yield();
	ASSERT_EQ(0, vmaq_cache_get(self->c, tid, &a));
	ASSERT_EQ(0, vmaq_cache_get(self->c, getpid(), &b));
	EXPECT_EQ(a, b);
	EXPECT_EQ(1u, vmaq_cache_count(self->c));
	EXPECT_NE(NULL, vmaq_snapshot_find(a, (uintptr_t)&tid));
	/* refresh by thread id finds the same entry */
	EXPECT_LE(0, vmaq_cache_refresh(self->c, tid));
	EXPECT_EQ(1u, vmaq_cache_count(self->c));
	pthread_cancel(t);
	pthread_join(t, NULL);
}

/* A process whose first thread has exited, the others running on. */
static void *report_and_wait(void *arg)
{
	pid_t tid = (pid_t)syscall(SYS_gettid);

	if (write((int)(intptr_t)arg, &tid, sizeof(tid)) != sizeof(tid))
		_exit(1);
	for (;;)
		pause();
	return NULL;
}

static char task_state(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] ? p[2] : 0;
}

/*
 * Its leader's maps file is empty once the leader has exited; the thread
 * id still gives the process's map (review: ESRCH for a live process).
 */
TEST_F(cache, thread_of_an_exited_leader_gives_the_process)
{
	const struct vmaq_snapshot *s;
	pid_t pid, tid = 0;
	int p[2];

	ASSERT_EQ(0, pipe(p));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		pthread_t t;

		/* by value: the first thread's stack goes with it */
		if (pthread_create(&t, NULL, report_and_wait, (void *)(intptr_t)p[1]))
			_exit(1);
		pthread_exit(NULL);
	}
	close(p[1]);
	ASSERT_EQ(sizeof(tid), read(p[0], &tid, sizeof(tid)));
	close(p[0]);
	/* the leader is a zombie once its exit is done: a short wait */
	while (task_state(pid) != 'Z')
		sched_yield();
	ASSERT_EQ(0, vmaq_cache_get(self->c, tid, &s));
	EXPECT_LT(3u, vmaq_snapshot_count(s));
	EXPECT_EQ(1u, vmaq_cache_count(self->c));
	EXPECT_LE(0, vmaq_cache_refresh(self->c, tid));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/*
 * A cache under a small descriptor limit: the default size leaves the
 * process half of its descriptors, and a cache told to hold more than
 * fits gives back its oldest entries instead of failing with EMFILE
 * (audit finding F3: EMFILE at 509 processes under 1024 descriptors).
 */
TEST(cache_fits_the_descriptor_limit)
{
	pid_t pids[SLEEPERS], tester;
	int st;

	ASSERT_EQ(0, sleepers_start(pids, SLEEPERS));
	tester = fork();
	ASSERT_GE(tester, 0);
	if (tester == 0) {
		VMAQ_OPTS(vmaq_cache_opts, big, .max_procs = 1000,
			  .cache_flags = VMAQ_CACHE_NO_EVENTS);
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
		/* a quarter of 48: two descriptors an entry */
		if (vmaq_cache_count(c) != 12)
			_exit(13);
		vmaq_cache_free(c);
		/*
		 * valgrind enforces the limit for some system calls only
		 * (open(2), not pidfd_open(2)): there, only memory errors are
		 * looked for; the host suite checks the eviction.
		 */
		if (under_valgrind())
			_exit(0);
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
				  .backend = VMAQ_BACKEND_TEXT,
				  .cache_flags = VMAQ_CACHE_NO_EVENTS);

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

int main(int argc, char **argv)
{
	return vmaq_test_main(argc, argv);
}
