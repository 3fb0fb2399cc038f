// SPDX-License-Identifier: GPL-2.0
/*
 * The whole-system scan: every process once, with the records an
 * iterator of its own would give; kernel threads left out; processes
 * that exited, exec'd or are not ours reported for themselves and never
 * as a failure of the scan; the uid and cgroup filters; and a scan of a
 * machine where processes come and go by the hundred under a descriptor
 * limit of 256.
 */
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "kselftest_harness.h"
#include "vmaq_test.h"
#include "internal.h"

#define MARK 0x280000000000ull

static int map_marker(void *arg)
{
	uint64_t at = *(uint64_t *)arg;

	return mmap((void *)(uintptr_t)at, 4096, PROT_READ | PROT_EXEC,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) ==
	       (void *)(uintptr_t)at ? 0 : -1;
}

FIXTURE(scan) {
	int fds_before;
};

FIXTURE_VARIANT(scan) {
	enum vmaq_backend backend;
};

FIXTURE_VARIANT_ADD(scan, batch) { .backend = VMAQ_BACKEND_BATCH };
FIXTURE_VARIANT_ADD(scan, query) { .backend = VMAQ_BACKEND_QUERY };
FIXTURE_VARIANT_ADD(scan, text) { .backend = VMAQ_BACKEND_TEXT };

FIXTURE_SETUP(scan)
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

FIXTURE_TEARDOWN(scan)
{
	VMAQ_FDS_TEARDOWN();
}

/* Every record's bytes that must agree, name included. */
static bool same_vma(const struct vmaq_vma *a, const struct vmaq_vma *b)
{
	return a->start == b->start && a->end == b->end &&
	       a->flags == b->flags && a->offset == b->offset &&
	       a->inode == b->inode && a->dev_major == b->dev_major &&
	       a->dev_minor == b->dev_minor && a->kind == b->kind &&
	       a->name_len == b->name_len &&
	       (!a->name_len || !memcmp(a->name, b->name, a->name_len));
}

/* Is @pid a kernel thread, as /proc/PID/stat's flags say? */
static bool kernel_thread(pid_t pid)
{
	char path[64], *buf, *p;
	unsigned long flags = 0;
	size_t len;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	buf = read_whole(path, &len);
	if (!buf)
		return false;
	p = strrchr(buf, ')');
	for (i = 2; p && i < 9; i++)
		p = strchr(p + 1, ' ');
	if (p)
		flags = strtoul(p + 1, NULL, 10);
	free(buf);
	return flags & 0x00200000;
}

struct seen {
	pid_t pid;
	int err;		/* vmaq_scan_proc()'s errno, or 0 */
	int vma_err;		/* the walk's last return */
	size_t vmas;
	bool marker;
};

/* The kernel threads /proc lists now (at most @max): their pids. */
static int list_kthreads(pid_t *out, int max)
{
	struct dirent *d;
	int n = 0;
	DIR *dir = opendir("/proc");

	while (dir && (d = readdir(dir)) && n < max)
		if (atoi(d->d_name) > 0 && kernel_thread(atoi(d->d_name)))
			out[n++] = atoi(d->d_name);
	if (dir)
		closedir(dir);
	return n;
}

/*
 * Whether a scan that gave @e gave a kernel thread, of those listed before
 * it (@kt, @nkt). A pid is decided on after the scan: one whose process
 * went during it may be a new kernel thread's by then. So only a thread
 * listed before, still one after, and read without records counts.
 */
static bool scanned_a_kthread(const struct seen *e, const pid_t *kt, int nkt)
{
	int i;

	if (!e->err && e->vmas)
		return false;	/* records: a process's */
	for (i = 0; i < nkt && kt[i] != e->pid; i++)
		;
	return i < nkt && kernel_thread(e->pid);
}

/* Scan with @o; what it said of each process (at most @max). */
static int scan_all(struct vmaq_scan_opts *o, struct seen *out, int max,
		    pid_t watch, const struct vmaq_vma *expect, size_t nexpect,
		    int *mismatch)
{
	struct vmaq_scan *s;
	const struct vmaq_vma *v;
	int n = 0, r;
	pid_t pid;

	if (vmaq_scan_new(o, &s))
		return -errno;
	while ((r = vmaq_scan_next(s, &pid)) > 0) {
		struct seen *e = n < max ? &out[n++] : NULL;
		size_t i = 0;

		if (!e)
			continue;
		memset(e, 0, sizeof(*e));
		e->pid = pid;
		if (!vmaq_scan_proc(s)) {
			e->err = errno;
			e->vma_err = vmaq_scan_vma(s, &v);
			continue;
		}
		while ((r = vmaq_scan_vma(s, &v)) > 0) {
			if (v->start == MARK)
				e->marker = true;
			if (pid == watch && mismatch &&
			    (i >= nexpect || !same_vma(v, &expect[i])))
				(*mismatch)++;
			i++;
		}
		if (pid == watch && mismatch && !r && i != nexpect)
			(*mismatch)++;
		e->vma_err = r;
		e->vmas = i;
	}
	vmaq_scan_free(s);
	return r < 0 ? r : n;
}

static struct seen *find_seen(struct seen *s, int n, pid_t pid)
{
	for (int i = 0; i < n; i++)
		if (s[i].pid == pid)
			return &s[i];
	return NULL;
}

#define MAX_SEEN 65536

/*
 * Process @pid's records as an iterator of its own gives them, names
 * copied: *@np of them, the names in *@namesp; 0 or -errno.
 */
static int records_of(pid_t pid, enum vmaq_backend be, struct vmaq_vma **vp,
		      char ***namesp, size_t *np)
{
	VMAQ_OPTS(vmaq_open_opts, oo, .backend = be);
	struct vmaq_vma *expect = NULL, *e;
	const struct vmaq_vma *v;
	char **names = NULL, **nn;
	struct vmaq_proc *p;
	struct vmaq_iter *it;
	size_t n = 0;
	int r;

	if (vmaq_open(pid, &oo, &p))
		return -errno;
	if (vmaq_iter_new(p, VMAQ_NAME, &it)) {
		r = -errno;
		vmaq_close(p);
		return r;
	}
	while ((r = vmaq_iter_next(it, &v)) > 0) {
		e = realloc(expect, (n + 1) * sizeof(*expect));
		if (e)
			expect = e;
		nn = realloc(names, (n + 1) * sizeof(*names));
		if (nn)
			names = nn;
		if (!e || !nn) {
			r = -ENOMEM;
			break;
		}
		expect[n] = *v;
		names[n] = v->name ? strndup(v->name, v->name_len) : NULL;
		expect[n].name = names[n];
		n++;
	}
	vmaq_iter_free(it);
	vmaq_close(p);
	*vp = expect;
	*namesp = names;
	*np = n;
	return r;
}

static void records_free(struct vmaq_vma *v, char **names, size_t n)
{
	for (size_t k = 0; k < n; k++)
		free(names[k]);
	free(names);
	free(v);
}

/*
 * A scan with @o, into an array the caller frees; *@ep is what it said of
 * @pid (NULL: nothing, or the scan failed; *@np is then its count or
 * error).
 */
static struct seen *scan_for(struct vmaq_scan_opts *o, pid_t pid, int *np,
			     struct seen **ep)
{
	struct seen *seen = calloc(MAX_SEEN, sizeof(*seen));

	*ep = NULL;
	*np = seen ? scan_all(o, seen, MAX_SEEN, 0, NULL, 0, NULL) : -ENOMEM;
	if (*np > 0)
		*ep = find_seen(seen, *np, pid);
	return seen;
}

TEST_F(scan, every_process_once_with_its_own_records)
{
	VMAQ_OPTS(vmaq_scan_opts, o, .backend = variant->backend,
		  .flags = VMAQ_NAME);
	struct vmaq_vma *expect = NULL;
	struct test_child ch;
	struct seen *seen, *e;
	size_t nexpect = 0;
	int n, i, j, mismatch = 0, kthreads = 0, nkt;
	pid_t *kt = calloc(MAX_SEEN, sizeof(*kt));
	uint64_t at = MARK;
	char **names = NULL;

	seen = calloc(MAX_SEEN, sizeof(*seen));
	ASSERT_NE(NULL, seen);
	ASSERT_EQ(0, child_start(&ch, map_marker, &at));
	/* the child's map as its own iterator gives it (it does not change) */
	ASSERT_EQ(0, records_of(ch.pid, variant->backend, &expect, &names, &nexpect));
	ASSERT_LT(3u, nexpect);

	ASSERT_NE(NULL, kt);
	nkt = list_kthreads(kt, MAX_SEEN);
	n = scan_all(&o, seen, MAX_SEEN, ch.pid, expect, nexpect, &mismatch);
	ASSERT_LT(0, n);
	EXPECT_EQ(0, mismatch) TH_LOG("the scan's records of the child differ from an iterator's");
	e = find_seen(seen, n, ch.pid);
	ASSERT_NE(NULL, e);
	EXPECT_EQ(0, e->err);
	EXPECT_EQ(0, e->vma_err);
	EXPECT_TRUE(e->marker);
	EXPECT_EQ(nexpect, e->vmas);
	e = find_seen(seen, n, getpid());
	ASSERT_NE(NULL, e);
	EXPECT_EQ(0, e->err);
	EXPECT_LT(0u, e->vmas);
	for (i = 0; i < n; i++) {
		/* each once; no kernel thread; an error only of those listed */
		for (j = i + 1; j < n; j++)
			EXPECT_NE(seen[i].pid, seen[j].pid);
		if (scanned_a_kthread(&seen[i], kt, nkt))
			kthreads++;
		if (seen[i].err)
			EXPECT_TRUE(seen[i].err == ESRCH || seen[i].err == EACCES ||
				    seen[i].err == EPERM)
				TH_LOG("pid %d: %s", seen[i].pid, strerror(seen[i].err));
		if (seen[i].err)
			EXPECT_EQ(-seen[i].err, seen[i].vma_err);
	}
	EXPECT_EQ(0, kthreads) TH_LOG("kernel threads are not processes with maps");
	ASSERT_EQ(0, child_finish(&ch));
	records_free(expect, names, nexpect);
	free(seen);
	free(kt);
}

/*
 * The batch backend's calls cut to a few records (the scan takes what
 * each brought at once, and hands the records out itself): runs end
 * anywhere in a map of 600 VMAs, and the scan still gives the child's
 * records as its own iterator does, each once and in order. The cap
 * changes nothing on the other backends, where the test is the same.
 */
TEST_F(scan, calls_cut_short_give_the_iterators_records)
{
	static const uint32_t caps[] = { 1, 2, 3, 7, 64, 0 };
	VMAQ_OPTS(vmaq_scan_opts, o, .backend = variant->backend,
		  .flags = VMAQ_NAME);
	struct vmaq_vma *expect = NULL;
	struct seen *seen, *e;
	struct test_child ch;
	size_t nexpect = 0;
	char **names = NULL;
	int pairs = 300;

	ASSERT_EQ(0, child_start(&ch, setup_pairs, &pairs));
	/* after the fork: a block the child holds in no variable is a leak */
	seen = calloc(MAX_SEEN, sizeof(*seen));
	ASSERT_NE(NULL, seen);
	ASSERT_EQ(0, records_of(ch.pid, variant->backend, &expect, &names, &nexpect));
	ASSERT_LE((size_t)2 * pairs, nexpect);
	for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
		int n, mismatch = 0;

		vmaq_batch_test_cap(caps[c]);
		n = scan_all(&o, seen, MAX_SEEN, ch.pid, expect, nexpect, &mismatch);
		vmaq_batch_test_cap(0);
		ASSERT_LT(0, n);
		e = find_seen(seen, n, ch.pid);
		ASSERT_NE(NULL, e);
		EXPECT_EQ(0, e->err);
		EXPECT_EQ(0, e->vma_err);
		EXPECT_EQ(nexpect, e->vmas) TH_LOG("cap %u", caps[c]);
		EXPECT_EQ(0, mismatch) TH_LOG("cap %u: the scan's records differ", caps[c]);
	}
	ASSERT_EQ(0, child_finish(&ch));
	records_free(expect, names, nexpect);
	free(seen);
}

TEST_F(scan, kernel_threads_are_left_out)
{
	VMAQ_OPTS(vmaq_scan_opts, o, .backend = variant->backend);
	pid_t *kt = calloc(MAX_SEEN, sizeof(*kt));
	struct seen *seen;
	int n, i, listed;

	/* this machine's kernel threads, if its /proc shows any */
	ASSERT_NE(NULL, kt);
	listed = list_kthreads(kt, MAX_SEEN);
	ASSERT_LT(0, listed) TH_LOG("no kernel thread in /proc: nothing to test");
	seen = calloc(MAX_SEEN, sizeof(*seen));
	ASSERT_NE(NULL, seen);
	n = scan_all(&o, seen, MAX_SEEN, 0, NULL, 0, NULL);
	ASSERT_LT(0, n);
	for (i = 0; i < n; i++)
		EXPECT_FALSE(scanned_a_kthread(&seen[i], kt, listed))
			TH_LOG("pid %d", seen[i].pid);
	free(seen);
	free(kt);
}

TEST_F(scan, an_exited_process_is_reported_not_an_error)
{
	VMAQ_OPTS(vmaq_scan_opts, o, .backend = variant->backend);
	struct seen *seen, *e;
	pid_t zombie;
	int n;

	/* exited, not reaped: /proc lists it, its address space is gone */
	zombie = fork();
	ASSERT_LE(0, zombie);
	if (!zombie)
		_exit(0);
	ASSERT_TRUE(wait_for_zombie(zombie));
	seen = scan_for(&o, zombie, &n, &e);
	ASSERT_NE(NULL, e);
	EXPECT_EQ(ESRCH, e->err);
	EXPECT_EQ(-ESRCH, e->vma_err);
	EXPECT_NE(NULL, find_seen(seen, n, getpid()));
	ASSERT_EQ(zombie, waitpid(zombie, NULL, 0));
	free(seen);
}

/*
 * A process that execs after its first VMA was read: the rest of the
 * walk is never the new program's. PROCMAP_QUERY and the text read the
 * kernel again and say the process went (ESRCH); the batch ioctl may
 * have read the whole map in its first call, before the exec, and then
 * gives all of it: a complete map of the address space it had.
 */
TEST_F(scan, an_exec_during_the_read_never_mixes_two_images)
{
	VMAQ_OPTS(vmaq_scan_opts, o, .backend = variant->backend,
		  .flags = VMAQ_NAME);
	VMAQ_OPTS(vmaq_open_opts, oo, .backend = variant->backend);
	struct vmaq_vma old[512];
	const struct vmaq_vma *v;
	struct vmaq_scan *s;
	struct vmaq_proc *p;
	struct vmaq_iter *it;
	int go[2], done[2], r, vmas = 0, nold = 0, differ = 0;
	bool found = false;
	pid_t pid, ch;
	char c;

	ASSERT_EQ(0, pipe(go));
	ASSERT_EQ(0, pipe(done));
	ch = fork();
	ASSERT_LE(0, ch);
	if (!ch) {
		close(go[1]);
		close(done[0]);
		if (read(go[0], &c, 1) != 1)
			_exit(1);
		/* close-on-exec tells the parent the exec happened */
		fcntl(done[1], F_SETFD, FD_CLOEXEC);
		execl("/bin/sh", "sh", "-c", "read x", (char *)NULL);
		_exit(127);
	}
	close(go[0]);
	close(done[1]);
	/* the map it has until the exec (no names kept: bounds suffice) */
	ASSERT_EQ(0, vmaq_open(ch, &oo, &p));
	ASSERT_EQ(0, vmaq_iter_new(p, 0, &it));
	while (nold < 512 && vmaq_iter_next(it, &v) > 0)
		old[nold++] = *v;
	vmaq_iter_free(it);
	vmaq_close(p);
	ASSERT_LT(2, nold);
	ASSERT_EQ(0, vmaq_scan_new(&o, &s));
	while ((r = vmaq_scan_next(s, &pid)) > 0) {
		if (pid != ch)
			continue;
		found = true;
		ASSERT_NE(NULL, vmaq_scan_proc(s));
		ASSERT_EQ(1, vmaq_scan_vma(s, &v));
		differ += v->start != old[0].start || v->end != old[0].end;
		vmas = 1;
		ASSERT_EQ(1, write(go[1], "x", 1));
		ASSERT_EQ(0, read(done[0], &c, 1));	/* EOF: exec'd */
		while ((r = vmaq_scan_vma(s, &v)) > 0) {
			differ += vmas >= nold || v->start != old[vmas].start ||
				  v->end != old[vmas].end;
			vmas++;
		}
		EXPECT_EQ(0, differ) TH_LOG("records not of the old image");
		if (variant->backend == VMAQ_BACKEND_BATCH && r == 0) {
			EXPECT_EQ(nold, vmas) TH_LOG("a map cut short, said whole");
		} else {
			EXPECT_EQ(-ESRCH, r) TH_LOG("%d VMAs, then %d", vmas, r);
		}
	}
	EXPECT_EQ(0, r);
	EXPECT_TRUE(found);
	vmaq_scan_free(s);
	close(go[1]);
	close(done[0]);
	kill(ch, SIGKILL);
	ASSERT_EQ(ch, waitpid(ch, NULL, 0));
}

TEST_F(scan, only_executable_vmas_with_vmaq_exec)
{
	VMAQ_OPTS(vmaq_scan_opts, o, .backend = variant->backend,
		  .flags = VMAQ_EXEC | VMAQ_NAME);
	const struct vmaq_vma *v;
	struct vmaq_scan *s;
	size_t mine = 0, all = 0;
	pid_t pid;
	int r;

	ASSERT_EQ(0, vmaq_scan_new(&o, &s));
	while ((r = vmaq_scan_next(s, &pid)) > 0) {
		if (!vmaq_scan_proc(s))
			continue;
		while ((r = vmaq_scan_vma(s, &v)) > 0) {
			EXPECT_TRUE(v->flags & VMAQ_EXEC);
			all++;
			if (pid == getpid())
				mine++;
		}
	}
	EXPECT_EQ(0, r);
	EXPECT_LT(0u, mine);
	EXPECT_LE(mine, all);
	vmaq_scan_free(s);
}

/* Kernel threads are root's: the owner filter sees only processes. */
TEST_F(scan, the_uid_filter_selects_by_effective_uid)
{
	VMAQ_OPTS(vmaq_scan_opts, o, .backend = variant->backend,
		  .scan_flags = VMAQ_SCAN_UID, .uid = 65534);
	struct test_child ch;
	struct seen *seen;
	int n, i;

	if (geteuid())
		SKIP(return, "needs root to run a child as another user");
	ASSERT_EQ(0, child_start(&ch, NULL, NULL));
	seen = calloc(MAX_SEEN, sizeof(*seen));
	ASSERT_NE(NULL, seen);
	/*
	 * root's: kernel threads pass the filter and are then left out,
	 * their /proc/PID closed (the fixture counts descriptors)
	 */
	o.uid = 0;
	n = scan_all(&o, seen, MAX_SEEN, 0, NULL, 0, NULL);
	ASSERT_LT(0, n);
	EXPECT_NE(NULL, find_seen(seen, n, getpid()));
	EXPECT_NE(NULL, find_seen(seen, n, ch.pid));
	o.uid = 65534;
	/* our child, not yet another user's */
	n = scan_all(&o, seen, MAX_SEEN, 0, NULL, 0, NULL);
	ASSERT_LE(0, n);
	EXPECT_EQ(NULL, find_seen(seen, n, ch.pid));
	EXPECT_EQ(NULL, find_seen(seen, n, getpid()));
	ASSERT_EQ(0, child_finish(&ch));

	pid_t other = fork();

	ASSERT_LE(0, other);
	if (!other) {
		if (setresuid(65534, 65534, 65534))
			_exit(1);
		pause();
		_exit(0);
	}
	/* until the child has changed its uid */
	for (i = 0; i < 1000; i++) {
		char path[64];
		struct stat st;

		snprintf(path, sizeof(path), "/proc/%d", (int)other);
		if (!stat(path, &st) && st.st_uid == 65534)
			break;
		usleep(1000);
	}
	ASSERT_GT(1000, i);
	n = scan_all(&o, seen, MAX_SEEN, 0, NULL, 0, NULL);
	ASSERT_LT(0, n);
	EXPECT_NE(NULL, find_seen(seen, n, other));
	EXPECT_EQ(NULL, find_seen(seen, n, getpid()));
	for (i = 0; i < n; i++) {
		char path[64];
		struct stat st;

		snprintf(path, sizeof(path), "/proc/%d", (int)seen[i].pid);
		if (!stat(path, &st))
			EXPECT_EQ(65534u, st.st_uid) TH_LOG("pid %d", seen[i].pid);
	}
	kill(other, SIGKILL);
	ASSERT_EQ(other, waitpid(other, NULL, 0));
	free(seen);
}

/*
 * Under hidepid=1 another user's /proc/PID is there but its files are
 * not ours to read: a filter that cannot read them passes the process by
 * (it may never have been selected) rather than report it unreadable.
 * A child in a mount namespace of its own, with a procfs mounted so, and
 * as another user, scans with each filter: it sees itself, and no
 * process it could not read.
 */
TEST_F(scan, under_hidepid_a_filter_that_cannot_read_passes_a_process_by)
{
	int status;
	pid_t pid;

	if (geteuid())
		SKIP(return, "needs root to mount a procfs");
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		VMAQ_OPTS(vmaq_scan_opts, o, .backend = variant->backend,
			  .scan_flags = VMAQ_SCAN_UID, .uid = 65534);
		struct seen *seen = calloc(MAX_SEEN, sizeof(*seen));
		bool cgroups = !access("/proc/self/cgroup", F_OK);
		int n, k, bad = 0;

		if (!seen || unshare(CLONE_NEWNS) ||
		    mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) ||
		    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
			  "hidepid=1"))
			_exit(10);
		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			_exit(11);
		for (k = 0; k < (cgroups ? 2 : 1); k++) {
			if (k) {
				o.scan_flags = 0;
				o.cgroup = "/";
			}
			n = scan_all(&o, seen, MAX_SEEN, 0, NULL, 0, NULL);
			if (n < 0)
				_exit(12 + k);
			if (!find_seen(seen, n, getpid()) ||
			    !find_seen(seen, n, getpid())->vmas)
				_exit(14 + k);
			for (int i = 0; i < n; i++)
				bad += seen[i].err == EACCES || seen[i].err == EPERM;
			if (bad)
				_exit(16 + k);
		}
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	/* 14/15: itself not seen (uid, cgroup); 16/17: one it could not read */
	EXPECT_EQ(0, WEXITSTATUS(status));
}

/* The cgroup v2 hierarchy's mount point, or NULL. */
static char *cgroup2_root(void)
{
	char line[4096], *res = NULL;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	while (f && !res && fgets(line, sizeof(line), f)) {
		char *sep = strstr(line, " - cgroup2 ");
		char *p = line;

		if (!sep)
			continue;
		/* fields: id parent maj:min root mountpoint ... */
		for (int i = 0; i < 4 && p; i++)
			p = strchr(p + 1, ' ');
		if (p) {
			char *end = strchr(p + 1, ' ');

			if (end)
				res = strndup(p + 1, (size_t)(end - p - 1));
		}
	}
	if (f)
		fclose(f);
	return res;
}

static bool write_pid(const char *file, pid_t pid)
{
	FILE *f = fopen(file, "we");
	bool ok;

	if (!f)
		return false;
	ok = fprintf(f, "%d\n", (int)pid) > 0;
	return !fclose(f) && ok;
}

/* Our cgroup v2 path, as /proc/self/cgroup gives it ("0::/x/y"). */
static char *own_cgroup(void)
{
	char *buf, *p, *nl, *res = NULL;
	size_t len;

	buf = read_whole("/proc/self/cgroup", &len);
	if (!buf)
		return NULL;
	for (p = buf; p && *p; p = nl ? nl + 1 : NULL) {
		nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		if (!strncmp(p, "0::", 3)) {
			res = strdup(p + 3);
			break;
		}
	}
	free(buf);
	return res;
}

TEST_F(scan, the_cgroup_filter_selects_a_subtree)
{
	VMAQ_OPTS(vmaq_scan_opts, o, .backend = variant->backend);
	char dir[1024], sub[2048], procs[2100], path[512];
	char *root, *mine;
	struct test_child a, b;
	struct seen *seen;
	int n, i;

	if (access("/proc/self/cgroup", F_OK)) {
		/* a kernel without cgroups: the filter cannot be had */
		o.cgroup = "/";
		EXPECT_EQ(-EOPNOTSUPP, vmaq_scan_new(&o, &(struct vmaq_scan *){ NULL }));
		return;
	}
	root = cgroup2_root();
	mine = own_cgroup();
	if (!root || !mine || geteuid())
		SKIP(return, "no cgroup v2 hierarchy of ours to make cgroups in");
	/* two cgroups, one inside the other, below our own */
	snprintf(path, sizeof(path), "%s/vmaq-scan.%d", strcmp(mine, "/") ? mine : "",
		 (int)getpid());
	snprintf(dir, sizeof(dir), "%s%s", root, path);
	snprintf(sub, sizeof(sub), "%s/in", dir);
	if (mkdir(dir, 0755))
		SKIP(return, "cannot make a cgroup in %s: %s", root, strerror(errno));
	ASSERT_EQ(0, mkdir(sub, 0755));
	ASSERT_EQ(0, child_start(&a, NULL, NULL));
	ASSERT_EQ(0, child_start(&b, NULL, NULL));
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
	ASSERT_TRUE(write_pid(procs, a.pid));
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", sub);
	ASSERT_TRUE(write_pid(procs, b.pid));

	seen = calloc(MAX_SEEN, sizeof(*seen));
	ASSERT_NE(NULL, seen);
	o.cgroup = path;
	n = scan_all(&o, seen, MAX_SEEN, 0, NULL, 0, NULL);
	EXPECT_EQ(2, n);
	EXPECT_NE(NULL, find_seen(seen, n, a.pid));
	EXPECT_NE(NULL, find_seen(seen, n, b.pid));
	/* the inner one alone; a trailing '/' is the same cgroup */
	snprintf(sub, sizeof(sub), "%s/in/", path);
	o.cgroup = sub;
	n = scan_all(&o, seen, MAX_SEEN, 0, NULL, 0, NULL);
	EXPECT_EQ(1, n);
	EXPECT_NE(NULL, find_seen(seen, n, b.pid));
	/* a prefix that is not a whole name selects nothing */
	snprintf(sub, sizeof(sub), "%s/i", path);
	o.cgroup = sub;
	EXPECT_EQ(0, scan_all(&o, seen, MAX_SEEN, 0, NULL, 0, NULL));

	/* back where they were, then the cgroups go */
	snprintf(procs, sizeof(procs), "%s%s/cgroup.procs", root,
		 strcmp(mine, "/") ? mine : "");
	EXPECT_TRUE(write_pid(procs, a.pid));
	EXPECT_TRUE(write_pid(procs, b.pid));
	ASSERT_EQ(0, child_finish(&a));
	ASSERT_EQ(0, child_finish(&b));
	snprintf(sub, sizeof(sub), "%s/in", dir);
	for (i = 0; i < 100 && rmdir(sub) && errno == EBUSY; i++)
		usleep(10000);
	EXPECT_EQ(0, rmdir(dir));
	free(seen);
	free(root);
	free(mine);
}

/*
 * Hundreds of processes that come and go while the scan runs, under a
 * limit of 256 descriptors: the scan never fails, and each process is
 * either read whole or reported gone.
 */
TEST_F(scan, hundreds_of_short_lived_processes_under_256_descriptors)
{
	VMAQ_OPTS(vmaq_scan_opts, o, .backend = variant->backend,
		  .flags = VMAQ_NAME);
	struct rlimit old, rl = { 256, 256 };
	int rounds = under_valgrind() ? 2 : 6, gone = 0, read_ok = 0, whole = 0;
	struct seen *seen, *f;
	pid_t forker;
	int i, n;

	int ready[2];
	char c;

	ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &old));
	ASSERT_EQ(0, pipe(ready));
	forker = fork();
	ASSERT_LE(0, forker);
	if (!forker) {
		uint64_t at = MARK;

		/* it must not outlive the test, whatever becomes of the test */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() == 1 ||
		    map_marker(&at) || write(ready[1], "", 1) != 1)
			_exit(1);
		close(ready[0]);
		close(ready[1]);
		/*
		 * Ten children that live as long as it does, then short-lived
		 * ones, up to 90 at a time, a new one as soon as one is
		 * reaped, for as long as it runs. Each has the forker's map
		 * (its marker VMA too), which does not change.
		 */
		for (i = 0; i < 10; i++) {
			if (!fork()) {
				if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() == 1)
					_exit(0);
				pause();
				_exit(0);
			}
		}
		for (i = 0;; i++) {
			if (i >= 90)
				wait(NULL);
			if (!fork()) {
				usleep(1000 * (i % 7));
				_exit(0);
			}
		}
	}
	close(ready[1]);
	/* its map as its children have it */
	EXPECT_EQ(1, read(ready[0], &c, 1));
	close(ready[0]);
	/* the soft limit only: valgrind keeps the hard one */
	rl = old;
	rl.rlim_cur = 256;
	seen = calloc(MAX_SEEN, sizeof(*seen));
	if (!seen || setrlimit(RLIMIT_NOFILE, &rl)) {
		kill(forker, SIGKILL);
		waitpid(forker, NULL, 0);
		ASSERT_TRUE(false) TH_LOG("setrlimit: %s", strerror(errno));
	}
	for (int r = 0; r < rounds; r++) {
		n = scan_all(&o, seen, MAX_SEEN, 0, NULL, 0, NULL);
		EXPECT_LT(0, n) TH_LOG("the scan failed: %s", strerror(-n));
		f = n > 0 ? find_seen(seen, n, forker) : NULL;
		EXPECT_TRUE(f && f->marker && !f->err && !f->vma_err);
		for (i = 0; f && i < n; i++) {
			if (seen[i].err == ESRCH || seen[i].vma_err == -ESRCH) {
				gone++;
			} else if (!seen[i].err && !seen[i].vma_err) {
				read_ok++;
				/* a child read is read whole: the forker's VMAs */
				if (seen[i].marker && seen[i].pid != forker) {
					EXPECT_EQ(f->vmas, seen[i].vmas)
						TH_LOG("pid %d", seen[i].pid);
					whole++;
				}
			} else
				EXPECT_TRUE(seen[i].err == EACCES || seen[i].err == EPERM)
					TH_LOG("pid %d: %d %d", seen[i].pid, seen[i].err,
					       seen[i].vma_err);
		}
	}
	kill(forker, SIGKILL);
	ASSERT_EQ(forker, waitpid(forker, NULL, 0));
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &old));
	TH_LOG("%d processes read (%d of them children), %d gone", read_ok, whole, gone);
	EXPECT_LT(0, whole);
	free(seen);
}

/*
 * A process whose first thread exited while another runs on: its
 * /proc/PID/maps is empty, its map lives on through the other thread.
 * Read, not reported gone (review finding F2).
 */
TEST_F(scan, a_process_whose_leader_exited_is_read_through_its_threads)
{
	VMAQ_OPTS(vmaq_scan_opts, o, .backend = variant->backend);
	struct seen *seen, *e;
	pid_t ch;
	int n;

	ch = leaderless_start(MARK, PROT_EXEC, 1, pause_forever, NULL);
	ASSERT_LT(0, ch);
	seen = scan_for(&o, ch, &n, &e);
	ASSERT_NE(NULL, e);
	EXPECT_EQ(0, e->err);
	EXPECT_EQ(0, e->vma_err);
	EXPECT_TRUE(e->marker);
	kill(ch, SIGKILL);
	ASSERT_EQ(ch, waitpid(ch, NULL, 0));
	free(seen);
}

/* A backend the kernel lacks fails the scan at once, not every process. */
TEST(scan_of_a_backend_the_kernel_lacks_fails_at_once)
{
	VMAQ_OPTS(vmaq_scan_opts, o, .backend = VMAQ_BACKEND_BATCH);
	unsigned int mask = 0;
	struct vmaq_scan *s;
	int err;

	ASSERT_EQ(0, vmaq_kernel_backends(&mask));
	err = vmaq_scan_new(&o, &s);
	if (mask & (1u << VMAQ_BACKEND_BATCH)) {
		ASSERT_EQ(0, err);
		vmaq_scan_free(s);
	} else {
		EXPECT_EQ(-EOPNOTSUPP, err);
	}
}

TEST(scan_bad_arguments)
{
	VMAQ_OPTS(vmaq_scan_opts, o);
	const struct vmaq_vma *v;
	struct vmaq_scan *s;
	pid_t pid;

	EXPECT_EQ(-EINVAL, vmaq_scan_new(&o, NULL));
	EXPECT_EQ(-EINVAL, vmaq_scan_new(&(struct vmaq_scan_opts){
		.sz = sizeof(o), .scan_flags = 0x80 }, &s));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-EINVAL, vmaq_scan_new(&(struct vmaq_scan_opts){
		.sz = sizeof(o), .flags = VMAQ_NEXT }, &s));
	EXPECT_EQ(-EINVAL, vmaq_scan_new(&(struct vmaq_scan_opts){
		.sz = sizeof(o), .reserved = 1 }, &s));
	EXPECT_EQ(-EINVAL, vmaq_scan_new(&(struct vmaq_scan_opts){
		.sz = sizeof(o), .flags = VMAQ_ANON | VMAQ_FILE }, &s));
	EXPECT_EQ(-EINVAL, vmaq_scan_new(&(struct vmaq_scan_opts){
		.sz = sizeof(o), .backend = (enum vmaq_backend)9 }, &s));
	EXPECT_EQ(-EINVAL, vmaq_scan_new(&(struct vmaq_scan_opts){
		.sz = sizeof(o), .cgroup = "relative" }, &s));
	EXPECT_EQ(-EINVAL, vmaq_scan_new(&(struct vmaq_scan_opts){ .sz = 3 }, &s));
	EXPECT_EQ(-EINVAL, vmaq_scan_next(NULL, &pid));
	EXPECT_EQ(NULL, vmaq_scan_proc(NULL));
	EXPECT_EQ(-EINVAL, vmaq_scan_vma(NULL, &v));
	vmaq_scan_free(NULL);

	ASSERT_EQ(0, vmaq_scan_new(NULL, &s));
	/* no current process before the first vmaq_scan_next() */
	EXPECT_EQ(NULL, vmaq_scan_proc(s));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-EINVAL, vmaq_scan_vma(s, &v));
	EXPECT_EQ(-EINVAL, vmaq_scan_next(s, NULL));
	ASSERT_EQ(1, vmaq_scan_next(s, &pid));
	EXPECT_LT(0, pid);
	vmaq_scan_free(s);
}

int main(int argc, char **argv)
{
	return vmaq_test_main(argc, argv);
}
