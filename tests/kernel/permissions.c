// SPDX-License-Identifier: GPL-2.0
/*
 * The permission model, as an unprivileged agent meets it:
 *  - another user's process cannot be opened, and the library gives the
 *    same answer (EACCES) as opening its /proc/PID/maps;
 *  - a maps fd the target opened itself and passed over a unix socket
 *    works for the agent;
 *  - after the target execs a set-user-ID program, that fd shows nothing
 *    of the new image: ESRCH from the ioctl and the library, an empty
 *    read from the text.
 * Needs root to create the users' processes (uid 1000 and 1001 exist in
 * the test VM's /etc/passwd; on the host only the numbers matter).
 */
#include <grp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <linux/vmaquery_uapi.h>

#include "kselftest_harness.h"
#include "vmaq_test.h"

#define AGENT 1000
#define OTHER 1001

static void become(uid_t uid)
{
	if (setgroups(0, NULL) || setgid(uid) || setuid(uid))
		_exit(100);
}

static int send_fd(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 }, b = 'f';
	struct iovec iov = { &b, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(fd));
	return sendmsg(sock, &mh, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))], b;
	struct iovec iov = { &b, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	int fd = -1;

	if (recvmsg(sock, &mh, 0) != 1 || !CMSG_FIRSTHDR(&mh))
		return -1;
	memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof(fd));
	return fd;
}

FIXTURE(perm) {
	int unused;
};

FIXTURE_SETUP(perm)
{
	if (getuid() != 0)
		SKIP(return, "needs root to start processes as other users");
}

FIXTURE_TEARDOWN(perm)
{
}

TEST_F(perm, another_users_process_is_refused_like_its_maps_file)
{
	int hold[2], st;
	pid_t target, agent;
	char c;

	ASSERT_EQ(0, pipe(hold));
	target = fork();
	ASSERT_GE(target, 0);
	if (target == 0) {
		become(OTHER);
		close(hold[1]);
		while (read(hold[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(hold[0]);
	usleep(50000);
	agent = fork();
	ASSERT_GE(agent, 0);
	if (agent == 0) {
		char path[64];
		struct vmaq_proc *p;
		int err, fd;

		become(AGENT);
		snprintf(path, sizeof(path), "/proc/%d/maps", target);
		fd = open(path, O_RDONLY);
		if (fd >= 0 || errno != EACCES)
			_exit(1);
		err = vmaq_open(target, NULL, &p);
		_exit(err == -EACCES ? 0 : 2);
	}
	ASSERT_EQ(agent, waitpid(agent, &st, 0));
	EXPECT_TRUE(WIFEXITED(st));
	EXPECT_EQ(0, WEXITSTATUS(st));
	close(hold[1]);
	waitpid(target, &st, 0);
}

/*
 * The target (uid AGENT) opens its own maps, hands the fd to the agent
 * (also uid AGENT, but it could be anyone), then execs a set-user-ID-root
 * program. The agent's fd must show the old image while it lives, and
 * nothing of the new one after the exec.
 */
TEST_F(perm, passed_fd_sees_nothing_after_a_setuid_exec)
{
	char dir[] = "/tmp/vmaq-perm.XXXXXX", prog[64], cmd[128];
	int sv[2], go[2], done[2], st;
	pid_t target, agent;
	char c;

	ASSERT_NE(NULL, mkdtemp(dir));
	chmod(dir, 0755);
	/* a set-user-ID root copy of sleep */
	snprintf(prog, sizeof(prog), "%s/suid-sleep", dir);
	/* -L: in the VM, /bin/sleep is a link to busybox */
	snprintf(cmd, sizeof(cmd), "cp -L %s %s",
		 access("/bin/sleep", X_OK) ? "/usr/bin/sleep" : "/bin/sleep", prog);
	ASSERT_EQ(0, system(cmd));
	ASSERT_EQ(0, chmod(prog, 04755));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	ASSERT_EQ(0, pipe(go));
	ASSERT_EQ(0, pipe(done));

	target = fork();
	ASSERT_GE(target, 0);
	if (target == 0) {
		int fd;

		become(AGENT);
		close(sv[0]);
		fd = open("/proc/self/maps", O_RDONLY);
		if (fd < 0 || send_fd(sv[1], fd))
			_exit(1);
		close(fd);
		/* wait until the agent has looked at the old image */
		if (read(go[0], &c, 1) != 1)
			_exit(2);
		/* argv[0] "sleep": busybox picks its applet by that name */
		execl(prog, "sleep", "5", (char *)NULL);
		_exit(3);
	}
	agent = fork();
	ASSERT_GE(agent, 0);
	if (agent == 0) {
		VMAQ_OPTS(vmaq_open_opts, o, .backend = VMAQ_BACKEND_AUTO);
		struct procmap_query q;
		const struct vmaq_vma *v;
		struct vmaq_proc *p;
		char buf[256], exe[64];
		int fd, i;

		become(AGENT);
		fd = recv_fd(sv[0]);
		if (fd < 0 || vmaq_open_fd(fd, &o, &p))
			_exit(10);
		if (vmaq_find(p, 0, VMAQ_NEXT, &v))
			_exit(11);	/* the old image is visible */
		if (write(go[1], "g", 1) != 1)
			_exit(12);
		/* wait for the exec to be done: its exe link changes */
		snprintf(exe, sizeof(exe), "/proc/%d/exe", target);
		for (i = 0; i < 500; i++) {
			ssize_t n = readlink(exe, buf, sizeof(buf) - 1);

			if (n < 0 && errno == EACCES)
				break;		/* it is root's now */
			if (n > 0 && (buf[n] = '\0', strstr(buf, "suid-sleep")))
				break;
			usleep(10000);
		}
		usleep(50000);
		/* nothing of the new image, through every interface */
		if (vmaq_find(p, 0, VMAQ_NEXT, &v) != -ESRCH)
			_exit(13);
		memset(&q, 0, sizeof(q));
		q.size = sizeof(q);
		q.query_flags = PROCMAP_QUERY_COVERING_OR_NEXT_VMA;
		if (ioctl(fd, PROCMAP_QUERY, &q) == 0 ||
		    (errno != ESRCH && errno != ENOTTY))
			_exit(14);
		if (pread(fd, buf, sizeof(buf), 0) != 0)
			_exit(15);
		/* and the agent cannot open the new image either */
		if (vmaq_open(target, NULL, &p) != -EACCES)
			_exit(16);
		_exit(0);
	}
	ASSERT_EQ(agent, waitpid(agent, &st, 0));
	EXPECT_TRUE(WIFEXITED(st));
	if (WIFEXITED(st) && WEXITSTATUS(st))
		TH_LOG("agent failed at step %d", WEXITSTATUS(st));
	EXPECT_EQ(0, WEXITSTATUS(st));
	kill(target, SIGKILL);
	waitpid(target, &st, 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	EXPECT_EQ(0, system(cmd));
}

TEST_HARNESS_MAIN
