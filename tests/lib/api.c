// SPDX-License-Identifier: GPL-2.0
/*
 * The library's contract outside the happy path: every error a caller can
 * meet (bad pid, kernel thread, exited process, exec, permission), the
 * options ABI, backend selection, fd delegation, and no leaked fds.
 */
#include <pthread.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "kselftest_harness.h"
#include "vmaq_test.h"

FIXTURE(api) {
	int fds_before;
};

FIXTURE_VARIANT(api) {
	enum vmaq_backend backend;
};

FIXTURE_VARIANT_ADD(api, text) { .backend = VMAQ_BACKEND_TEXT };
FIXTURE_VARIANT_ADD(api, query) { .backend = VMAQ_BACKEND_QUERY };
FIXTURE_VARIANT_ADD(api, batch) { .backend = VMAQ_BACKEND_BATCH };

FIXTURE_SETUP(api)
{
	struct vmaq_proc *p;
	int err;

	VMAQ_FDS_SETUP();
	err = open_backend(0, variant->backend, &p);
	if (err == -EOPNOTSUPP)
		SKIP(return, "%s backend not offered by this kernel",
		     vmaq_backend_name(variant->backend));
	ASSERT_EQ(0, err);
	vmaq_close(p);
}

/* Every test ends with the fds it started with. */
FIXTURE_TEARDOWN(api)
{
	VMAQ_FDS_TEARDOWN();
}

TEST_F(api, no_such_process)
{
	struct vmaq_proc *p = (void *)1;

	EXPECT_EQ(-ESRCH, open_backend(999999999, variant->backend, &p));
	EXPECT_EQ(ESRCH, errno);
	EXPECT_EQ(-EINVAL, open_backend(-1, variant->backend, &p));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-EINVAL, vmaq_open(0, NULL, NULL));
}

TEST_F(api, kernel_thread_has_no_address_space)
{
	struct vmaq_proc *p;
	char *comm = read_whole("/proc/2/comm", NULL);

	if (!comm || strncmp(comm, "kthreadd", 8)) {
		free(comm);
		SKIP(return, "pid 2 is not kthreadd here");
	}
	free(comm);
	EXPECT_EQ(-ESRCH, open_backend(2, variant->backend, &p));
}

TEST_F(api, zombie_is_gone)
{
	struct vmaq_proc *p;
	pid_t pid = fork();
	siginfo_t si;

	ASSERT_GE(pid, 0);
	if (pid == 0)
		_exit(0);
	/* wait for the exit without reaping: the pid stays, the mm is gone */
	ASSERT_EQ(0, waitid(P_PID, pid, &si, WEXITED | WNOWAIT));
	EXPECT_EQ(-ESRCH, open_backend(pid, variant->backend, &p));
	ASSERT_EQ(pid, waitpid(pid, NULL, 0));
}

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(434 /* SYS_pidfd_open */, pid, 0);
}

#define LEADER_MARK 0x290000000000ull

/*
 * What @p says of the file mapped at @addr, a file of our own map too:
 * vmaq_vma_open() opens that file, and its build ID is the one our own
 * handle reads (the library's text backend reads it through map_files,
 * a kernel's PROCMAP_QUERY itself).
 */
static void same_file_and_build_id(struct __test_metadata *_metadata,
				   struct vmaq_proc *p, uint64_t addr)
{
	const struct vmaq_vma *v, *mine;
	struct vmaq_proc *self;
	unsigned char bid[64];
	uint32_t bid_size;
	struct stat st;
	int fd;

	ASSERT_EQ(0, vmaq_open(0, NULL, &self));
	ASSERT_EQ(0, vmaq_find(self, addr, VMAQ_NAME | VMAQ_BUILD_ID, &mine));
	ASSERT_LT(0, mine->build_id_size);
	ASSERT_GE(sizeof(bid), mine->build_id_size);
	bid_size = mine->build_id_size;
	memcpy(bid, mine->build_id, bid_size);
	vmaq_close(self);

	ASSERT_EQ(0, vmaq_find(p, addr, VMAQ_NAME | VMAQ_BUILD_ID, &v));
	ASSERT_EQ(bid_size, v->build_id_size);
	EXPECT_EQ(0, memcmp(bid, v->build_id, bid_size));
	fd = vmaq_vma_open(p, v);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_EQ(v->inode, (uint64_t)st.st_ino);
	close(fd);
}

/*
 * A process whose first thread exited while another runs on: its own
 * /proc/PID/maps is empty, yet the process and its map live on. A handle
 * by pid or by pidfd reads the map through the other thread's file.
 */
TEST_F(api, a_process_whose_leader_exited_opens_through_its_threads)
{
	const struct vmaq_vma *v;
	struct vmaq_proc *p;
	int pidfd;
	pid_t ch;

	ch = leaderless_start(LEADER_MARK, 0, 1, pause_forever, NULL);
	ASSERT_LT(0, ch);

	ASSERT_EQ(0, open_backend(ch, variant->backend, &p));
	EXPECT_EQ(ch, vmaq_pid(p));
	ASSERT_EQ(0, vmaq_find(p, LEADER_MARK, 0, &v));
	EXPECT_EQ(LEADER_MARK, v->start);
	/*
	 * The leader's map_files and root went with it; the thread's serve:
	 * the mapped file opens, and build IDs are those of a live leader's
	 * process (the child's files are ours) on every backend.
	 */
	same_file_and_build_id(_metadata, p, (uintptr_t)&pause_forever);
	vmaq_close(p);

	pidfd = pidfd_open_(ch);
	if (pidfd >= 0) {
		VMAQ_OPTS(vmaq_open_opts, o, .backend = variant->backend);

		ASSERT_EQ(0, vmaq_open_pidfd(pidfd, &o, &p));
		ASSERT_EQ(0, vmaq_find(p, LEADER_MARK, 0, &v));
		EXPECT_EQ(LEADER_MARK, v->start);
		vmaq_close(p);
	}

	/* and once the whole process has gone, it is gone */
	kill(ch, SIGKILL);
	ASSERT_EQ(0, waitid(P_PID, ch, &(siginfo_t){ 0 }, WEXITED | WNOWAIT));
	EXPECT_EQ(-ESRCH, open_backend(ch, variant->backend, &p));
	if (pidfd >= 0) {
		VMAQ_OPTS(vmaq_open_opts, o, .backend = variant->backend);

		EXPECT_EQ(-ESRCH, vmaq_open_pidfd(pidfd, &o, &p));
		close(pidfd);
	}
	ASSERT_EQ(ch, waitpid(ch, NULL, 0));
}

/* the child's: what to open, and where to say what it found */
static enum vmaq_backend self_zombie_backend;
static int self_zombie_fd;

struct self_zombie_said {
	int open, find, backends, scan, scan_self, vmas;
	unsigned int mask;
};

/* The child's second thread, its first one gone: our own map, ways. */
static void *self_zombie_thread(void *arg)
{
	struct self_zombie_said r = { .find = 1 };
	const struct vmaq_vma *v;
	struct vmaq_scan *scan;
	struct vmaq_proc *p;
	pid_t pid;

	/* once the first thread is a zombie, our maps file is empty */
	r.open = wait_for_zombie(getpid()) ?
		 open_backend(0, self_zombie_backend, &p) : -ETIME;
	if (!r.open) {
		r.find = vmaq_find(p, LEADER_MARK, 0, &v);
		vmaq_close(p);
	}
	r.backends = vmaq_kernel_backends(&r.mask);
	r.scan = vmaq_scan_new(NULL, &scan);
	if (!r.scan) {
		while (vmaq_scan_next(scan, &pid) > 0) {
			if (pid != getpid())
				continue;
			r.scan_self = 1;
			while (vmaq_scan_vma(scan, &v) > 0)
				r.vmas += v->start == LEADER_MARK;
		}
		vmaq_scan_free(scan);
	}
	if (write(self_zombie_fd, &r, sizeof(r)) != sizeof(r))
		_exit(1);
	/* killed, not exited: no thread left behind for valgrind to see */
	return pause_forever(arg);
}

/*
 * A process whose first thread exited calls the library on itself: its
 * /proc/self/maps is empty, yet its own handle, the kernel's backends and
 * a scan (which finds it) all work, from the thread that runs.
 */
TEST_F(api, our_own_map_once_our_first_thread_exited)
{
	struct self_zombie_said r;
	int ready[2], st;
	pid_t ch;

	ASSERT_EQ(0, pipe(ready));
	/* for the child's thread */
	self_zombie_backend = variant->backend;
	self_zombie_fd = ready[1];
	ch = leaderless_start(LEADER_MARK, 0, 1, self_zombie_thread, NULL);
	ASSERT_LT(0, ch);
	close(ready[1]);
	ASSERT_EQ(sizeof(r), read(ready[0], &r, sizeof(r)));
	close(ready[0]);
	kill(ch, SIGKILL);
	ASSERT_EQ(ch, waitpid(ch, &st, 0));
	EXPECT_EQ(0, r.open);
	EXPECT_EQ(0, r.find);
	EXPECT_EQ(0, r.backends);
	EXPECT_NE(0, r.mask & (1u << VMAQ_BACKEND_TEXT));
	EXPECT_EQ(0, r.scan);
	EXPECT_EQ(1, r.scan_self);
	EXPECT_EQ(1, r.vmas);
}

/* A child with exactly pid @want (clone3 with set_tid), that waits. */
static pid_t spawn_at(pid_t want)
{
	struct {
		uint64_t flags, pidfd, child_tid, parent_tid, exit_signal,
			 stack, stack_size, tls, set_tid, set_tid_size;
	} args = { .exit_signal = SIGCHLD, .set_tid_size = 1 };
	pid_t tid[1] = { want };
	long r;

	args.set_tid = (uintptr_t)tid;
	r = syscall(435 /* SYS_clone3 */, &args, sizeof(args));
	if (r == 0) {
		pause();
		_exit(0);
	}
	return (pid_t)r;
}

TEST_F(api, pidfd_names_its_process_even_after_pid_reuse)
{
	struct test_child c;
	struct vmaq_proc *p, *q;
	char *text, *mine;
	VMAQ_OPTS(vmaq_open_opts, o, .backend = variant->backend);
	pid_t old, new;
	int pidfd, err, fd;

	ASSERT_EQ(0, child_start(&c, NULL, NULL));
	pidfd = pidfd_open_(c.pid);
	if (pidfd < 0 && errno == ENOSYS) {
		child_finish(&c);
		SKIP(return, "no pidfd_open (Linux 5.3)");
	}
	ASSERT_GE(pidfd, 0);
	ASSERT_EQ(0, vmaq_open_pidfd(pidfd, &o, &p));
	EXPECT_EQ(c.pid, vmaq_pid(p));
	EXPECT_EQ(variant->backend, vmaq_backend(p));
	text = maps_text(c.pid, NULL);
	mine = render_map(p, &err);
	ASSERT_EQ(0, err);
	EXPECT_STREQ(text, mine);
	free(text);
	free(mine);
	vmaq_close(p);
	/* the process is reaped and its pid given to another one */
	old = c.pid;
	ASSERT_EQ(0, child_finish(&c));
	new = spawn_at(old);
	if (new < 0 && (errno == EPERM || errno == ENOSYS || errno == E2BIG)) {
		close(pidfd);
		SKIP(return, "cannot choose a pid (clone3 set_tid: root, Linux 5.5)");
	}
	ASSERT_EQ(old, new);
	/* the pid opens the new process; the pidfd does not */
	ASSERT_EQ(0, open_backend(new, variant->backend, &q));
	vmaq_close(q);
	p = (void *)1;
	EXPECT_EQ(-ESRCH, vmaq_open_pidfd(pidfd, NULL, &p));
	EXPECT_EQ(ESRCH, errno);
	kill(new, SIGKILL);
	ASSERT_EQ(new, waitpid(new, NULL, 0));
	close(pidfd);
	/* not a pidfd, not a descriptor */
	fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	ASSERT_GE(fd, 0);
	EXPECT_EQ(-EBADF, vmaq_open_pidfd(fd, NULL, &p));
	close(fd);
	EXPECT_EQ(-EBADF, vmaq_open_pidfd(-1, NULL, &p));
	EXPECT_EQ(-EBADF, vmaq_open_pidfd(1000, NULL, &p));
	EXPECT_EQ(-EINVAL, vmaq_open_pidfd(0, NULL, NULL));
}

TEST_F(api, exit_while_open_gives_esrch_not_stale_data)
{
	struct test_child c;
	struct vmaq_proc *p;
	struct vmaq_iter *it;
	struct vmaq_lookup *l;
	struct vmaq_snapshot *s;
	const struct vmaq_vma *v;
	uint64_t addr = 0x1000;

	ASSERT_EQ(0, child_start(&c, NULL, NULL));
	ASSERT_EQ(0, open_backend(c.pid, variant->backend, &p));
	ASSERT_EQ(0, vmaq_snapshot_new(p, VMAQ_NAME, &s));
	ASSERT_EQ(0, child_finish(&c));
	EXPECT_EQ(-ESRCH, vmaq_find(p, 0, VMAQ_NEXT, &v));
	EXPECT_EQ(ESRCH, errno);
	EXPECT_EQ(-ESRCH, vmaq_lookup(p, &addr, 1, 0, &l));
	ASSERT_EQ(0, vmaq_iter_new(p, 0, &it));
	EXPECT_EQ(-ESRCH, vmaq_iter_next(it, &v));
	vmaq_iter_free(it);
	/* a snapshot keeps what it had and says why it cannot refresh */
	EXPECT_EQ(-ESRCH, vmaq_snapshot_refresh(s));
	EXPECT_GT(vmaq_snapshot_count(s), 0u);
	vmaq_snapshot_free(s);
	vmaq_close(p);
}

/*
 * Iterators and snapshots keep their handle: vmaq_close() gives up the
 * caller's reference only, and they go on working (the Python binding
 * relies on this: a Snapshot outlives Process.close()).
 */
TEST_F(api, iterators_and_snapshots_outlive_close)
{
	struct test_child c;
	struct vmaq_proc *p;
	struct vmaq_iter *it;
	struct vmaq_snapshot *s;
	const struct vmaq_vma *v;
	size_t n = 0, lines, len, i;
	int r, pairs = 50;
	char *text;

	ASSERT_EQ(0, child_start(&c, setup_pairs, &pairs));
	ASSERT_EQ(0, open_backend(c.pid, variant->backend, &p));
	ASSERT_EQ(0, vmaq_iter_new(p, VMAQ_NAME, &it));
	ASSERT_EQ(0, vmaq_snapshot_new(p, VMAQ_NAME, &s));
	ASSERT_EQ(1, vmaq_iter_next(it, &v));
	vmaq_close(p);
	/* a new handle may reuse the freed one's memory and fd: it must not */
	ASSERT_EQ(0, open_backend(0, variant->backend, &p));
	while ((r = vmaq_iter_next(it, &v)) == 1)
		n++;
	EXPECT_EQ(0, r);
	EXPECT_EQ(vmaq_snapshot_count(s) - 1, n);
	EXPECT_EQ(0, vmaq_snapshot_stale(s));
	EXPECT_EQ(0, vmaq_snapshot_refresh(s));
	/* still the child's map (100 VMAs more than ours), not ours */
	text = maps_text(c.pid, &len);
	ASSERT_NE(NULL, text);
	for (lines = 0, i = 0; i < len; i++)
		lines += text[i] == '\n';
	free(text);
	EXPECT_EQ(lines, vmaq_snapshot_count(s));
	vmaq_iter_free(it);
	vmaq_close(p);
	ASSERT_EQ(0, child_finish(&c));
	/* the last reference, after the process is gone */
	EXPECT_EQ(-ESRCH, vmaq_snapshot_refresh(s));
	vmaq_snapshot_free(s);
}

TEST_F(api, handle_stays_on_the_old_image_across_exec)
{
	struct vmaq_proc *p;
	const struct vmaq_vma *v;
	int go[2], st;
	pid_t pid;
	char c = 0;

	ASSERT_EQ(0, pipe(go));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(1);
		execl("/bin/sleep", "sleep", "5", (char *)NULL);
		_exit(127);
	}
	close(go[0]);
	ASSERT_EQ(0, open_backend(pid, variant->backend, &p));
	ASSERT_EQ(0, vmaq_find(p, 0, VMAQ_NEXT, &v));
	ASSERT_EQ(1, write(go[1], &c, 1));
	close(go[1]);
	/* wait until the new image is in place */
	for (int i = 0; i < 500; i++) {
		char path[64], buf[32] = "";
		int fd;

		snprintf(path, sizeof(path), "/proc/%d/comm", pid);
		fd = open(path, O_RDONLY);
		if (fd >= 0) {
			if (read(fd, buf, sizeof(buf) - 1) < 0)
				buf[0] = '\0';
			close(fd);
		}
		if (!strncmp(buf, "sleep", 5))
			break;
		usleep(10000);
	}
	EXPECT_EQ(-ESRCH, vmaq_find(p, 0, VMAQ_NEXT, &v));
	vmaq_close(p);
	/* a new handle sees the new image */
	ASSERT_EQ(0, open_backend(pid, variant->backend, &p));
	EXPECT_EQ(0, vmaq_find(p, 0, VMAQ_NEXT, &v));
	vmaq_close(p);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

TEST_F(api, other_users_process_is_permission_denied)
{
	pid_t pid;
	int st;

	if (getuid() != 0)
		SKIP(return, "needs root to become another user");
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct vmaq_proc *p;
		int err;

		if (setgid(65534) || setuid(65534))
			_exit(10);
		err = open_backend(getppid(), variant->backend, &p);
		_exit(err == -EACCES ? 0 : 20 + (err < 0 ? -err : 99));
	}
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	ASSERT_TRUE(WIFEXITED(st));
	EXPECT_EQ(0, WEXITSTATUS(st));
}

/*
 * Delegation: a process opens its own maps and passes the fd over a unix
 * socket to an agent that could not open it, and the agent queries it.
 */
TEST_F(api, maps_fd_passed_to_unprivileged_agent_works)
{
	int sv[2], st;
	pid_t agent;
	char *m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (getuid() != 0)
		SKIP(return, "needs root to start an agent as another user");
	ASSERT_NE(MAP_FAILED, m);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	agent = fork();
	ASSERT_GE(agent, 0);
	if (agent == 0) {
		char cbuf[CMSG_SPACE(sizeof(int))], b;
		struct iovec iov = { &b, 1 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cbuf,
				     .msg_controllen = sizeof(cbuf) };
		VMAQ_OPTS(vmaq_open_opts, o, .backend = variant->backend);
		struct vmaq_proc *p;
		const struct vmaq_vma *v;
		int fd;

		close(sv[0]);
		if (setgid(65534) || setuid(65534))
			_exit(10);
		/* the agent itself may not open the target */
		if (open_backend(getppid(), variant->backend, &p) != -EACCES)
			_exit(11);
		if (recvmsg(sv[1], &mh, 0) != 1 || !CMSG_FIRSTHDR(&mh))
			_exit(12);
		memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof(fd));
		if (vmaq_open_fd(fd, &o, &p))
			_exit(13);
		close(fd);	/* the handle keeps its own reference */
		if (vmaq_find(p, (uintptr_t)m, 0, &v) || v->start != (uintptr_t)m)
			_exit(14);
		vmaq_close(p);
		_exit(0);
	}
	close(sv[1]);
	{
		int fd = open("/proc/self/maps", O_RDONLY);
		char cbuf[CMSG_SPACE(sizeof(int))] = { 0 }, b = 'x';
		struct iovec iov = { &b, 1 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cbuf,
				     .msg_controllen = sizeof(cbuf) };
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

		ASSERT_GE(fd, 0);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(fd));
		ASSERT_EQ(1, sendmsg(sv[0], &mh, 0));
		close(fd);
	}
	close(sv[0]);
	ASSERT_EQ(agent, waitpid(agent, &st, 0));
	ASSERT_TRUE(WIFEXITED(st));
	EXPECT_EQ(0, WEXITSTATUS(st));
	munmap(m, 4096);
}

TEST_F(api, open_fd_rejects_bad_fds)
{
	VMAQ_OPTS(vmaq_open_opts, o, .backend = variant->backend);
	struct vmaq_proc *p;
	int fd = open("/proc/self/maps", O_RDONLY);

	static const char *const not_maps[] = {
		"/etc/passwd", "/dev/zero", "/proc/self/smaps",
		"/proc/self/status", "/proc/self",
	};
	char task[64];
	size_t i;

	EXPECT_EQ(-EBADF, vmaq_open_fd(-1, &o, &p));
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, vmaq_open_fd(fd, &o, &p));
	EXPECT_EQ(-1, vmaq_pid(p));
	close(fd);
	vmaq_close(p);
	/*
	 * Audit finding F12: any fd was taken, and failed only at the
	 * first read, with EBADMSG.
	 */
	for (i = 0; i < sizeof(not_maps) / sizeof(not_maps[0]); i++) {
		fd = open(not_maps[i], O_RDONLY | O_CLOEXEC);
		ASSERT_GE(fd, 0) TH_LOG("%s", not_maps[i]);
		p = NULL;
		EXPECT_EQ(-EINVAL, vmaq_open_fd(fd, &o, &p)) TH_LOG("%s", not_maps[i]);
		EXPECT_EQ(EINVAL, errno);
		EXPECT_EQ(NULL, p);
		close(fd);
	}
	/* a thread's maps file is one */
	snprintf(task, sizeof(task), "/proc/self/task/%d/maps", (int)getpid());
	fd = open(task, O_RDONLY | O_CLOEXEC);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, vmaq_open_fd(fd, &o, &p));
	close(fd);
	vmaq_close(p);
}

/*
 * A thread with a descriptor table of its own: the maps fd it opened is
 * checked in its own table, not the process leader's (review: EINVAL).
 */
struct own_table {
	pthread_barrier_t opened, planted;
	int fd, err;
	enum vmaq_backend backend;
};

static void *open_fd_in_own_table(void *arg)
{
	VMAQ_OPTS(vmaq_open_opts, o);
	struct own_table *t = arg;
	struct vmaq_proc *p;

	o.backend = t->backend;
	t->err = -1;
	if (unshare(CLONE_FILES))
		t->err = -errno;
	else
		t->fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	pthread_barrier_wait(&t->opened);
	pthread_barrier_wait(&t->planted);
	if (t->err == -1 && t->fd >= 0) {
		t->err = vmaq_open_fd(t->fd, &o, &p);
		if (!t->err)
			vmaq_close(p);
		close(t->fd);
	}
	return NULL;
}

TEST_F(api, open_fd_in_a_thread_with_its_own_descriptors)
{
	struct own_table t = { .fd = -1, .backend = variant->backend };
	pthread_t th;
	int other;

	ASSERT_EQ(0, pthread_barrier_init(&t.opened, NULL, 2));
	ASSERT_EQ(0, pthread_barrier_init(&t.planted, NULL, 2));
	ASSERT_EQ(0, pthread_create(&th, NULL, open_fd_in_own_table, &t));
	pthread_barrier_wait(&t.opened);
	/* the same number in the process's table: another file */
	other = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
	ASSERT_GE(other, 0);
	if (t.fd >= 0 && other != t.fd) {
		ASSERT_EQ(t.fd, dup2(other, t.fd));
		close(other);
		other = t.fd;
	}
	pthread_barrier_wait(&t.planted);
	ASSERT_EQ(0, pthread_join(th, NULL));
	ASSERT_GE(t.fd, 0);
	EXPECT_EQ(0, t.err);
	close(other);
	pthread_barrier_destroy(&t.opened);
	pthread_barrier_destroy(&t.planted);
}

/*
 * Without procfs at /proc nothing can be asked of any process: that is
 * ENOENT, not "no such process" (audit finding F12).
 */
TEST(no_procfs_is_not_esrch)
{
	pid_t pid;
	int st;

	if (getuid() != 0)
		SKIP(return, "needs root for a mount namespace");
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct vmaq_proc *p;

		if (unshare(CLONE_NEWNS))
			_exit(10);
		if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL))
			_exit(11);
		if (mount("none", "/proc", "tmpfs", 0, NULL))
			_exit(12);
		if (vmaq_open(getppid(), NULL, &p) != -ENOENT || errno != ENOENT)
			_exit(13);
		if (vmaq_open(0, NULL, &p) != -ENOENT)
			_exit(14);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	ASSERT_TRUE(WIFEXITED(st));
	EXPECT_EQ(0, WEXITSTATUS(st));
}

TEST(options_abi)
{
	struct {
		struct vmaq_open_opts o;
		char tail[16];
	} big;
	struct vmaq_proc *p;

	memset(&big, 0, sizeof(big));
	/* too small to hold even sz */
	big.o.sz = sizeof(size_t) - 1;
	EXPECT_EQ(-EINVAL, vmaq_open(0, &big.o, &p));
	/* from a newer program: larger, zero tail is fine */
	big.o.sz = sizeof(big);
	ASSERT_EQ(0, vmaq_open(0, &big.o, &p));
	vmaq_close(p);
	/* a non-zero byte we do not know is refused */
	big.tail[7] = 1;
	EXPECT_EQ(-EINVAL, vmaq_open(0, &big.o, &p));
	big.tail[7] = 0;
	big.o.reserved = 1;
	EXPECT_EQ(-EINVAL, vmaq_open(0, &big.o, &p));
	/* from an older program: only sz, everything else defaults */
	big.o.reserved = 0;
	big.o.backend = VMAQ_BACKEND_TEXT;
	big.o.sz = sizeof(size_t);
	ASSERT_EQ(0, vmaq_open(0, &big.o, &p));
	EXPECT_NE(VMAQ_BACKEND_AUTO, vmaq_backend(p));
	vmaq_close(p);
	big.o.sz = sizeof(big.o);
	big.o.backend = (enum vmaq_backend)42;
	EXPECT_EQ(-EINVAL, vmaq_open(0, &big.o, &p));
}

/* Only the batch backend has a generation; it moves on every change. */
TEST_F(api, generation_is_batch_only_and_moves_on_change)
{
	struct test_child c = { .release_fd = -1 };
	struct vmaq_proc *p;
	uint64_t g1, g2;
	void *m;

	ASSERT_EQ(0, open_backend(0, variant->backend, &p));
	EXPECT_EQ(-EINVAL, vmaq_generation(p, NULL));
	EXPECT_EQ(-EINVAL, vmaq_generation(NULL, &g1));
	if (variant->backend != VMAQ_BACKEND_BATCH) {
		EXPECT_EQ(-EOPNOTSUPP, vmaq_generation(p, &g1));
		EXPECT_EQ(EOPNOTSUPP, errno);
		vmaq_close(p);
		return;
	}
	ASSERT_EQ(0, vmaq_generation(p, &g1));
	ASSERT_EQ(0, vmaq_generation(p, &g2));
	EXPECT_EQ(g1, g2);
	m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_EQ(0, vmaq_generation(p, &g2));
	EXPECT_GT(g2, g1);
	munmap(m, 4096);
	vmaq_close(p);

	/* a process that is gone: ESRCH */
	ASSERT_EQ(0, child_start(&c, NULL, NULL));
	ASSERT_EQ(0, open_backend(c.pid, variant->backend, &p));
	ASSERT_EQ(0, child_finish(&c));
	EXPECT_EQ(-ESRCH, vmaq_generation(p, &g1));
	EXPECT_EQ(ESRCH, errno);
	vmaq_close(p);
}

TEST(backend_from_environment)
{
	struct vmaq_proc *p;
	unsigned int mask;
	VMAQ_OPTS(vmaq_open_opts, forced, .backend = VMAQ_BACKEND_TEXT);

	ASSERT_EQ(0, vmaq_kernel_backends(&mask));
	EXPECT_TRUE(mask & (1u << VMAQ_BACKEND_TEXT));
	ASSERT_EQ(0, setenv("VMAQ_BACKEND", "text", 1));
	ASSERT_EQ(0, vmaq_open(0, NULL, &p));
	EXPECT_EQ(VMAQ_BACKEND_TEXT, vmaq_backend(p));
	vmaq_close(p);
	ASSERT_EQ(0, setenv("VMAQ_BACKEND", "query", 1));
	if (mask & (1u << VMAQ_BACKEND_QUERY)) {
		ASSERT_EQ(0, vmaq_open(0, NULL, &p));
		EXPECT_EQ(VMAQ_BACKEND_QUERY, vmaq_backend(p));
		vmaq_close(p);
		/* an explicit option wins over the environment */
		ASSERT_EQ(0, vmaq_open(0, &forced, &p));
		EXPECT_EQ(VMAQ_BACKEND_TEXT, vmaq_backend(p));
		vmaq_close(p);
	} else {
		EXPECT_EQ(-EOPNOTSUPP, vmaq_open(0, NULL, &p));
	}
	ASSERT_EQ(0, setenv("VMAQ_BACKEND", "fastest", 1));
	EXPECT_EQ(-EINVAL, vmaq_open(0, NULL, &p));
	ASSERT_EQ(0, setenv("VMAQ_BACKEND", "batch", 1));
	if (mask & (1u << VMAQ_BACKEND_BATCH)) {
		ASSERT_EQ(0, vmaq_open(0, NULL, &p));
		EXPECT_EQ(VMAQ_BACKEND_BATCH, vmaq_backend(p));
		vmaq_close(p);
	} else {
		EXPECT_EQ(-EOPNOTSUPP, vmaq_open(0, NULL, &p));
	}
	ASSERT_EQ(0, unsetenv("VMAQ_BACKEND"));
	/* the best the kernel offers */
	ASSERT_EQ(0, vmaq_open(0, NULL, &p));
	EXPECT_EQ(mask & (1u << VMAQ_BACKEND_BATCH) ? VMAQ_BACKEND_BATCH :
		  mask & (1u << VMAQ_BACKEND_QUERY) ? VMAQ_BACKEND_QUERY :
		  VMAQ_BACKEND_TEXT, vmaq_backend(p));
	vmaq_close(p);
	EXPECT_STREQ("text", vmaq_backend_name(VMAQ_BACKEND_TEXT));
	EXPECT_EQ(NULL, vmaq_backend_name((enum vmaq_backend)9));
}

TEST(null_objects_are_harmless)
{
	vmaq_close(NULL);
	vmaq_iter_free(NULL);
	vmaq_lookup_free(NULL);
	vmaq_snapshot_free(NULL);
	EXPECT_EQ(0u, vmaq_lookup_count(NULL));
	EXPECT_EQ(0u, vmaq_snapshot_count(NULL));
	EXPECT_EQ(-1, vmaq_pid(NULL));
	EXPECT_EQ(-EINVAL, vmaq_find(NULL, 0, 0, NULL));
	EXPECT_EQ(NULL, vmaq_snapshot_find(NULL, 0));
	EXPECT_EQ(EINVAL, errno);
}

int main(int argc, char **argv)
{
	return vmaq_test_main(argc, argv);
}
