/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the test programs: a child process with a prepared
 * address space that holds still while it is examined, reading whole
 * files, and rendering a map through the library.
 */
#ifndef VMAQ_TEST_H
#define VMAQ_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmaquery.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif

/*
 * Under valgrind the program's stack is valgrind's, not the kernel's
 * [stack] VMA: tests that look at their own stack cannot hold there.
 */
/* qsort() comparator for uint64_t addresses */
static inline int vmaq_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static inline int under_valgrind(void)
{
#ifdef RUNNING_ON_VALGRIND
	return RUNNING_ON_VALGRIND;
#else
	return 0;
#endif
}

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

struct test_child {
	pid_t pid;
	int release_fd;		/* closing it lets the child exit */
};

/*
 * Fork a child that runs setup(arg), reports, then waits for release.
 * Returns 0, or -1 if setup failed in the child (its return code is lost:
 * setup should print why).
 */
static inline int child_start(struct test_child *c, int (*setup)(void *),
			      void *arg)
{
	int ready[2], hold[2];
	char ok = 0;

	if (pipe(ready) || pipe(hold))
		return -1;
	c->pid = fork();
	if (c->pid < 0)
		return -1;
	if (c->pid == 0) {
		char r;
		int fd;

		/* Hold nothing of other children's: their release would hang. */
		for (fd = 3; fd < 1024; fd++)
			if (fd != ready[1] && fd != hold[0])
				close(fd);
		r = setup ? (setup(arg) == 0) : 1;
		if (write(ready[1], &r, 1) != 1)
			_exit(1);
		while (read(hold[0], &ok, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(ready[1]);
	close(hold[0]);
	c->release_fd = hold[1];
	if (read(ready[0], &ok, 1) != 1)
		ok = 0;
	close(ready[0]);
	return ok ? 0 : -1;
}

/* A thread that only waits (pthread_create()'s start routine). */
static inline void *pause_forever(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

static inline int child_finish(struct test_child *c)
{
	int st = 0;

	if (c->release_fd >= 0)
		close(c->release_fd);
	c->release_fd = -1;
	if (c->pid > 0 && waitpid(c->pid, &st, 0) < 0)
		return -1;
	c->pid = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/*
 * Make room for @n more default-size huge pages than are in use, and tell
 * what nr_hugepages was (restore it with huge_pages_restore()). Returns
 * -1 if the kernel would not reserve them (not root, no hugetlbfs, or no
 * memory for them).
 */
static inline long huge_pages_reserve(long n)
{
	long old = -1, now = -1;
	FILE *f = fopen("/proc/sys/vm/nr_hugepages", "r+");

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &old) != 1 || fseek(f, 0, SEEK_SET) ||
	    fprintf(f, "%ld\n", old + n) < 0 || fflush(f) ||
	    fseek(f, 0, SEEK_SET) || fscanf(f, "%ld", &now) != 1)
		now = -1;
	fclose(f);
	return now >= old + n ? old : -1;
}

static inline void huge_pages_restore(long old)
{
	FILE *f;

	if (old < 0)
		return;
	f = fopen("/proc/sys/vm/nr_hugepages", "w");
	if (f) {
		fprintf(f, "%ld\n", old);
		fclose(f);
	}
}

/*
 * A child_start() setup: *arg pairs of pages, read-write then read-only,
 * so that no two neighbours merge: 2 * *arg VMAs.
 */
static inline int setup_pairs(void *arg)
{
	long page = sysconf(_SC_PAGESIZE);
	int n = *(int *)arg, i;
	char *m = mmap(NULL, (size_t)n * 2 * page, PROT_READ,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		return -1;
	for (i = 0; i < 2 * n; i += 2)
		if (mprotect(m + (size_t)i * page, page, PROT_READ | PROT_WRITE))
			return -1;
	return 0;
}

/* Whole file into a NUL-terminated buffer; *len without the NUL. */
static inline char *read_whole(const char *path, size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;

	if (fd < 0 || !buf) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	for (;;) {
		if (cap - n < 4096) {
			char *nb = realloc(buf, cap *= 2);

			if (!nb) {
				free(buf);
				close(fd);
				return NULL;
			}
			buf = nb;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

static inline char *maps_text(pid_t pid, size_t *len)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	return read_whole(path, len);
}

/* @v's maps line at the end of *@buf (*@n bytes of *@cap, NUL-terminated). */
static inline void append_line(char **buf, size_t *cap, size_t *n,
			       const struct vmaq_vma *v)
{
	int need = vmaq_format(v, NULL, 0);

	if (*n + (size_t)need + 1 > *cap) {
		*cap = (*n + (size_t)need + 1) * 2;
		*buf = realloc(*buf, *cap);
	}
	vmaq_format(v, *buf + *n, *cap - *n);
	*n += (size_t)need;
}

/*
 * The whole map as text, rendered from the library's records of a walk
 * with @flags; *bids (if not NULL) counts the records with a build ID.
 */
static inline char *render_map_flags(struct vmaq_proc *p, unsigned int flags,
				     int *err, size_t *bids)
{
	struct vmaq_iter *it;
	const struct vmaq_vma *v;
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	int r;

	if (bids)
		*bids = 0;
	*err = vmaq_iter_new(p, flags, &it);
	if (*err) {
		free(buf);
		return NULL;
	}
	buf[0] = '\0';
	while ((r = vmaq_iter_next(it, &v)) > 0) {
		append_line(&buf, &cap, &n, v);
		if (bids)
			*bids += v->build_id_size > 0;
	}
	vmaq_iter_free(it);
	*err = r;
	if (r < 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static inline char *render_map(struct vmaq_proc *p, int *err)
{
	return render_map_flags(p, VMAQ_NAME, err, NULL);
}

/*
 * The same from a snapshot with @flags: a table is read its own way
 * (a backend's scan), and must give what a walk gives.
 */
static inline char *render_snapshot(struct vmaq_proc *p, unsigned int flags,
				    int *err)
{
	struct vmaq_snapshot *s;
	size_t cap = 1 << 16, n = 0, i;
	char *buf;

	*err = vmaq_snapshot_new(p, flags, &s);
	if (*err)
		return NULL;
	buf = malloc(cap);
	if (!buf) {
		vmaq_snapshot_free(s);
		*err = -ENOMEM;
		return NULL;
	}
	buf[0] = '\0';
	for (i = 0; i < vmaq_snapshot_count(s); i++)
		append_line(&buf, &cap, &n, vmaq_snapshot_vma(s, i));
	vmaq_snapshot_free(s);
	return buf;
}

/* Wait (up to a second) until @pid is a zombie: exited, not reaped. */
static inline bool wait_for_zombie(pid_t pid)
{
	char path[64], *st;
	size_t len;
	bool z = false;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	for (int i = 0; i < 1000 && !z; i++) {
		st = read_whole(path, &len);
		if (!st)
			return false;
		z = strstr(st, ") Z ") != NULL;
		free(st);
		if (!z)
			usleep(1000);
	}
	return z;
}

/*
 * A process whose first thread has exited while others run on (a zombie
 * leader): a child that maps a page at @mark (PROT_READ | @prot), runs
 * @fn(@args[i]) in @n threads (@args NULL: @fn(NULL)) and exits its
 * first thread; it dies with us. Its pid once the leader is a zombie, or
 * -1. End it with SIGKILL: its threads are never joined.
 */
static inline pid_t leaderless_start(uint64_t mark, int prot, int n,
				     void *(*fn)(void *), void *const *args)
{
	int ready[2], ok;
	pid_t ch;
	char c;

	if (pipe(ready))
		return -1;
	ch = fork();
	if (!ch) {
		pthread_t t;

		close(ready[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (mmap((void *)(uintptr_t)mark, 4096, PROT_READ | prot,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
			 -1, 0) != (void *)(uintptr_t)mark)
			_exit(1);
		for (int i = 0; i < n; i++)
			if (pthread_create(&t, NULL, fn, args ? args[i] : NULL))
				_exit(1);
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		pthread_exit(NULL);
	}
	close(ready[1]);
	ok = ch > 0 && read(ready[0], &c, 1) == 1 && wait_for_zombie(ch);
	close(ready[0]);
	if (ch > 0 && !ok) {
		kill(ch, SIGKILL);
		waitpid(ch, NULL, 0);
	}
	return ok ? ch : -1;
}

/* Open with a given backend; returns what vmaq_open returns. */
static inline int open_backend(pid_t pid, enum vmaq_backend b,
			       struct vmaq_proc **p)
{
	VMAQ_OPTS(vmaq_open_opts, o, .backend = b);

	return vmaq_open(pid, &o, p);
}

/* Count of open file descriptors of this process. */
static inline int count_fds(void)
{
	int n = 0, fd;

	for (fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

#ifdef TEST_TIMEOUT_DEFAULT
/*
 * No test may leave a file descriptor open. A plain TEST() runs in a child
 * of the runner: vmaq_test_main() wraps each one to compare the count of
 * open descriptors before and after it. A TEST_F() runs its setup, body and
 * teardown in a grandchild, out of the wrapper's sight: each fixture of the
 * library tests calls VMAQ_FDS_SETUP() first in its setup and
 * VMAQ_FDS_TEARDOWN() last in its teardown (a "fds_before" member).
 * Either way only a test that passed is judged: one that failed or
 * skipped half-way may leave its own descriptors behind.
 */
#define VMAQ_FDS_SETUP() (self->fds_before = count_fds())
#define VMAQ_FDS_TEARDOWN() do { \
	if (_metadata->exit_code == KSFT_PASS) \
		EXPECT_EQ(self->fds_before, count_fds()) \
			TH_LOG("the test left file descriptors open"); \
} while (0)

typedef void (*vmaq_test_fn)(struct __test_metadata *,
			     struct __fixture_variant_metadata *);

static struct {
	struct __test_metadata *t;
	vmaq_test_fn fn;
} vmaq_wrapped[512];

static void vmaq_fd_checked(struct __test_metadata *t,
			    struct __fixture_variant_metadata *v)
{
	int before = count_fds(), after;
	unsigned int i;

	for (i = 0; vmaq_wrapped[i].t != t; i++)
		;
	vmaq_wrapped[i].fn(t, v);
	after = count_fds();
	if (t->exit_code == KSFT_PASS && after != before) {
		ksft_print_msg("%s: %d file descriptors open after the test, %d before\n",
			       t->name, after, before);
		t->exit_code = KSFT_FAIL;
	}
}

static inline int vmaq_test_main(int argc, char **argv)
{
	struct __fixture_metadata *f;
	struct __test_metadata *t;
	unsigned int n = 0;

	for (f = __fixture_list; f; f = f->next) {
		if (strcmp(f->name, "global"))
			continue;	/* fixtures check themselves */
		for (t = f->tests; t && n < 512; t = t->next, n++) {
			vmaq_wrapped[n].t = t;
			vmaq_wrapped[n].fn = t->fn;
			t->fn = vmaq_fd_checked;
		}
	}
	return test_harness_run(argc, argv);
}

/*
 * Tests that run for VMAQ_RACE_SECONDS or VMAQ_FUZZ_SECONDS (make torture
 * sets them to many minutes) would hit the harness's 30 s timeout: give
 * every test of the program room for the longer of the two, plus two
 * minutes (the walks of thousands of VMAs under KASAN took over a minute
 * on a loaded emulator). The timeout only catches hangs. Call from main()
 * before test_harness_run().
 */
static inline void vmaq_stretch_timeouts(void)
{
	const char *vars[] = { "VMAQ_RACE_SECONDS", "VMAQ_FUZZ_SECONDS" };
	struct __fixture_metadata *f;
	struct __test_metadata *t;
	double secs = 0;

	for (unsigned int i = 0; i < 2; i++)
		if (getenv(vars[i]) && atof(getenv(vars[i])) > secs)
			secs = atof(getenv(vars[i]));
	for (f = __fixture_list; f; f = f->next)
		for (t = f->tests; t; t = t->next)
			if (t->timeout < 2 * secs + 120)
				t->timeout = (int)(2 * secs + 120);
}
#endif

#endif /* VMAQ_TEST_H */
