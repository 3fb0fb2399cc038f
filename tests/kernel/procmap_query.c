// SPDX-License-Identifier: GPL-2.0
/*
 * PROCMAP_QUERY, beyond upstream's proc-pid-vm: every combination of
 * filter flags at every interesting address against a model built from
 * the text file, names (anonymous, deleted, newline), file offsets, huge
 * pages, the edges of the address space, exited processes, fds kept
 * across fork, and one test per documented error.
 *
 * Runs wherever PROCMAP_QUERY exists (6.11+): the host, the stock and the
 * patched kernel; without it every test skips.
 */
#include <limits.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <linux/vmaquery_uapi.h>

#include "kselftest_harness.h"
#include "vmaq_test.h"

#define QF_PERMS (PROCMAP_QUERY_VMA_READABLE | PROCMAP_QUERY_VMA_WRITABLE | \
		  PROCMAP_QUERY_VMA_EXECUTABLE | PROCMAP_QUERY_VMA_SHARED)

static long pg;

static int query(int fd, uint64_t addr, uint64_t flags, struct procmap_query *q,
		 char *name, size_t name_sz)
{
	memset(q, 0, sizeof(*q));
	q->size = sizeof(*q);
	q->query_flags = flags;
	q->query_addr = addr;
	if (name) {
		q->vma_name_addr = (uintptr_t)name;
		q->vma_name_size = (uint32_t)name_sz;
	}
	return ioctl(fd, PROCMAP_QUERY, q) ? -errno : 0;
}

static bool have_query(void)
{
	struct procmap_query q;
	int fd = open("/proc/self/maps", O_RDONLY);
	int r = query(fd, 0, PROCMAP_QUERY_COVERING_OR_NEXT_VMA, &q, NULL, 0);

	close(fd);
	return r == 0;
}

#define NEED_QUERY() do { \
	if (!have_query()) \
		SKIP(return, "kernel has no PROCMAP_QUERY"); \
} while (0)

/* The text model: VMAs as the text file lists them (gate VMA dropped). */
struct mvma {
	uint64_t start, end, off;
	uint32_t perms;		/* PROCMAP_QUERY_VMA_* */
	bool file;
};

static int model(pid_t pid, struct mvma *v, int max)
{
	char *text = maps_text(pid, NULL), *line, *save = NULL;
	int n = 0;

	for (line = strtok_r(text, "\n", &save); line && n < max;
	     line = strtok_r(NULL, "\n", &save)) {
		unsigned long long s, e, off, ino;
		unsigned int maj, min;
		char p[5];

		if (sscanf(line, "%llx-%llx %4s %llx %x:%x %llu", &s, &e, p, &off,
			   &maj, &min, &ino) != 7 || s >= 0xffffffffff600000ull)
			continue;
		v[n] = (struct mvma){ .start = s, .end = e, .off = off,
				      .file = maj || min || ino };
		v[n].perms = (p[0] == 'r' ? PROCMAP_QUERY_VMA_READABLE : 0) |
			     (p[1] == 'w' ? PROCMAP_QUERY_VMA_WRITABLE : 0) |
			     (p[2] == 'x' ? PROCMAP_QUERY_VMA_EXECUTABLE : 0) |
			     (p[3] == 's' ? PROCMAP_QUERY_VMA_SHARED : 0);
		n++;
	}
	free(text);
	return n;
}

/* What PROCMAP_QUERY must answer, per its documentation. */
static const struct mvma *expect(const struct mvma *v, int n, uint64_t addr,
				 uint64_t flags)
{
	for (int i = 0; i < n; i++) {
		if (v[i].end <= addr)
			continue;
		if ((v[i].perms & (flags & QF_PERMS)) != (flags & QF_PERMS) ||
		    ((flags & PROCMAP_QUERY_FILE_BACKED_VMA) && !v[i].file)) {
			if (flags & PROCMAP_QUERY_COVERING_OR_NEXT_VMA)
				continue;
			return NULL;
		}
		if (!(flags & PROCMAP_QUERY_COVERING_OR_NEXT_VMA) && v[i].start > addr)
			return NULL;
		return &v[i];
	}
	return NULL;
}

/* A child with every kind of VMA the filters distinguish, and holes. */
static int setup_kinds(void *arg)
{
	const char *path = arg;
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	char *m;

	if (fd < 0 || ftruncate(fd, 16 * pg))
		return -1;
	m = mmap(NULL, 16 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return -1;
	munmap(m, 16 * pg);
	/* r--, rw-, r-x (file), rw-s (file), ---, hole, rw- shared anon */
	if (mmap(m, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED ||
	    mmap(m + pg, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED ||
	    mmap(m + 2 * pg, 2 * pg, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_FIXED, fd, 3 * pg) == MAP_FAILED ||
	    mmap(m + 4 * pg, pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED ||
	    mmap(m + 5 * pg, pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED ||
	    mmap(m + 7 * pg, pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
		return -1;
	close(fd);
	return 0;
}

FIXTURE(pq) {
	struct test_child c;
	char path[64];
	int fd;
};

FIXTURE_SETUP(pq)
{
	char maps[64];

	pg = sysconf(_SC_PAGESIZE);
	self->fd = -1;
	self->c.pid = 0;
	NEED_QUERY();
	snprintf(self->path, sizeof(self->path), "/tmp/vmaq-pq.%d", getpid());
	ASSERT_EQ(0, child_start(&self->c, setup_kinds, self->path));
	snprintf(maps, sizeof(maps), "/proc/%d/maps", self->c.pid);
	self->fd = open(maps, O_RDONLY);
	ASSERT_GE(self->fd, 0);
}

FIXTURE_TEARDOWN(pq)
{
	if (self->fd >= 0)
		close(self->fd);
	if (self->c.pid > 0)
		child_finish(&self->c);
	unlink(self->path);
}

TEST_F(pq, every_flag_combination_at_every_address)
{
	static struct mvma v[4096];
	uint64_t addrs[4096 * 3 + 8];
	int n = model(self->c.pid, v, 4096), na = 0, checked = 0;

	ASSERT_GT(n, 5);
	for (int i = 0; i < n; i++) {
		addrs[na++] = v[i].start;
		addrs[na++] = v[i].end - 1;
		addrs[na++] = v[i].end;		/* a gap, or the next start */
	}
	addrs[na++] = 0;
	addrs[na++] = 1;
	addrs[na++] = ~0ull;
	addrs[na++] = ~0ull - pg;
	addrs[na++] = 1ull << 47;
	for (uint64_t f = 0; f < 0x40; f++) {
		for (int a = 0; a < na; a++) {
			struct procmap_query q;
			const struct mvma *e = expect(v, n, addrs[a], f);
			int r = query(self->fd, addrs[a], f, &q, NULL, 0);

			if (!e) {
				if (r != -ENOENT)
					TH_LOG("flags %#llx addr %#llx: want ENOENT, got %d [%#llx-%#llx]",
					       (unsigned long long)f, (unsigned long long)addrs[a],
					       r, (unsigned long long)q.vma_start,
					       (unsigned long long)q.vma_end);
				ASSERT_EQ(-ENOENT, r);
				continue;
			}
			ASSERT_EQ(0, r);
			ASSERT_EQ(e->start, q.vma_start);
			ASSERT_EQ(e->end, q.vma_end);
			ASSERT_EQ(e->perms, q.vma_flags);
			ASSERT_EQ(e->off, q.vma_offset);
			ASSERT_EQ((uint64_t)pg, q.vma_page_size);
			ASSERT_EQ(f, q.query_flags);	/* not changed */
			checked++;
		}
	}
	TH_LOG("%d VMAs, %d addresses, 64 flag sets: %d answers checked", n, na, checked);
}

TEST_F(pq, names_offsets_and_deleted_files)
{
	static struct mvma v[4096];
	char name[PATH_MAX], want[128];
	struct procmap_query q;
	int n;

	ASSERT_EQ(0, unlink(self->path));	/* the child's mappings stay */
	n = model(self->c.pid, v, 4096);
	for (int i = 0; i < n; i++) {
		if (!v[i].file || v[i].perms != (PROCMAP_QUERY_VMA_READABLE |
						  PROCMAP_QUERY_VMA_EXECUTABLE))
			continue;
		ASSERT_EQ(0, query(self->fd, v[i].start, 0, &q, name, sizeof(name)));
		snprintf(want, sizeof(want), "%s (deleted)", self->path);
		if (strcmp(want, name))
			continue;	/* the program's own code */
		EXPECT_EQ(strlen(want) + 1, q.vma_name_size);
		EXPECT_EQ((uint64_t)3 * pg, q.vma_offset);
		EXPECT_NE(0u, q.inode);
		/* a buffer one byte too small */
		EXPECT_EQ(-ENAMETOOLONG, query(self->fd, v[i].start, 0, &q, name,
					      strlen(want)));
		return;
	}
	ASSERT_TRUE(false);
}

TEST(named_anonymous_vma)
{
	char *m, name[64];
	struct procmap_query q;
	int fd;

	NEED_QUERY();
	pg = sysconf(_SC_PAGESIZE);
	m = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, m);
	if (prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, m + pg, pg, "query me"))
		SKIP(return, "no ANON_VMA_NAME");
	fd = open("/proc/self/maps", O_RDONLY);
	ASSERT_EQ(0, query(fd, (uintptr_t)m + pg + 5, 0, &q, name, sizeof(name)));
	EXPECT_STREQ("[anon:query me]", name);
	EXPECT_EQ((uintptr_t)m + pg, q.vma_start);
	EXPECT_EQ((uintptr_t)m + 2 * pg, q.vma_end);
	ASSERT_EQ(0, query(fd, (uintptr_t)m, 0, &q, name, sizeof(name)));
	EXPECT_EQ(0u, q.vma_name_size);		/* unnamed */
	close(fd);
	munmap(m, 3 * pg);
}

TEST(huge_pages_report_their_page_size)
{
	struct procmap_query q;
	char *m;
	int fd, w;

	NEED_QUERY();
	w = open("/proc/sys/vm/nr_hugepages", O_WRONLY);
	if (w >= 0) {
		if (write(w, "4", 1) != 1)
			TH_LOG("could not reserve huge pages");
		close(w);
	}
	m = mmap(NULL, 2 << 20, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (m == MAP_FAILED)
		SKIP(return, "no 2 MiB huge pages here");
	m[0] = 1;
	fd = open("/proc/self/maps", O_RDONLY);
	ASSERT_EQ(0, query(fd, (uintptr_t)m, 0, &q, NULL, 0));
	EXPECT_EQ((uint64_t)2 << 20, q.vma_page_size);
	close(fd);
	munmap(m, 2 << 20);
}

TEST(last_vma_and_the_edges)
{
	static struct mvma v[4096];
	struct procmap_query q;
	int fd, n;

	NEED_QUERY();
	n = model(getpid(), v, 4096);
	fd = open("/proc/self/maps", O_RDONLY);
	/* the last VMA the tree has (the gate VMA is not in it) */
	ASSERT_EQ(0, query(fd, v[n - 1].start, 0, &q, NULL, 0));
	EXPECT_EQ(v[n - 1].end, q.vma_end);
	EXPECT_EQ(-ENOENT, query(fd, v[n - 1].end, PROCMAP_QUERY_COVERING_OR_NEXT_VMA,
				 &q, NULL, 0));
	ASSERT_EQ(0, query(fd, 0, PROCMAP_QUERY_COVERING_OR_NEXT_VMA, &q, NULL, 0));
	EXPECT_EQ(v[0].start, q.vma_start);
	EXPECT_EQ(-ENOENT, query(fd, 0, 0, &q, NULL, 0));
	EXPECT_EQ(-ENOENT, query(fd, ~0ull, PROCMAP_QUERY_COVERING_OR_NEXT_VMA, &q, NULL, 0));
	/* the gate VMA is not reported */
	EXPECT_EQ(-ENOENT, query(fd, 0xffffffffff600000ull, 0, &q, NULL, 0));
	close(fd);
}

TEST(exited_process_is_esrch)
{
	struct test_child c;
	struct procmap_query q;
	char path[64];
	int fd;

	NEED_QUERY();
	ASSERT_EQ(0, child_start(&c, NULL, NULL));
	snprintf(path, sizeof(path), "/proc/%d/maps", c.pid);
	fd = open(path, O_RDONLY);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, query(fd, 0, PROCMAP_QUERY_COVERING_OR_NEXT_VMA, &q, NULL, 0));
	ASSERT_EQ(0, child_finish(&c));
	EXPECT_EQ(-ESRCH, query(fd, 0, PROCMAP_QUERY_COVERING_OR_NEXT_VMA, &q, NULL, 0));
	close(fd);
}

TEST(forked_child_uses_an_inherited_maps_fd)
{
	int fd, st;
	pid_t pid;
	char *m;

	NEED_QUERY();
	pg = sysconf(_SC_PAGESIZE);
	m = mmap(NULL, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	fd = open("/proc/self/maps", O_RDONLY);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct procmap_query q;

		/* the fd still describes the parent's address space */
		munmap(m, pg);
		_exit(query(fd, (uintptr_t)m, 0, &q, NULL, 0) == 0 &&
		      q.vma_start == (uintptr_t)m ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	EXPECT_EQ(0, WEXITSTATUS(st));
	close(fd);
	munmap(m, pg);
}

/* Every documented failure, with nothing written back on failure. */
TEST(invalid_arguments)
{
	struct { struct procmap_query q; char tail[64]; } big;
	struct procmap_query q;
	char name[16];
	int fd;

	NEED_QUERY();
	fd = open("/proc/self/maps", O_RDONLY);
	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.query_flags = 0x40;			/* unknown flag */
	EXPECT_EQ(-1, ioctl(fd, PROCMAP_QUERY, &q));
	EXPECT_EQ(EINVAL, errno);
	q.query_flags = 1ull << 63;
	EXPECT_EQ(-1, ioctl(fd, PROCMAP_QUERY, &q));
	EXPECT_EQ(EINVAL, errno);
	q.query_flags = 0;
	q.size = 8;				/* too small for query_addr */
	EXPECT_EQ(-1, ioctl(fd, PROCMAP_QUERY, &q));
	EXPECT_EQ(EINVAL, errno);
	q.size = 8192;				/* more than a page */
	EXPECT_EQ(-1, ioctl(fd, PROCMAP_QUERY, &q));
	EXPECT_EQ(E2BIG, errno);
	q.size = sizeof(q);
	q.vma_name_size = 16;			/* size without address */
	EXPECT_EQ(-1, ioctl(fd, PROCMAP_QUERY, &q));
	EXPECT_EQ(EINVAL, errno);
	q.vma_name_size = 0;
	q.vma_name_addr = (uintptr_t)name;	/* address without size */
	EXPECT_EQ(-1, ioctl(fd, PROCMAP_QUERY, &q));
	EXPECT_EQ(EINVAL, errno);
	q.vma_name_addr = 0;
	q.build_id_size = 20;
	EXPECT_EQ(-1, ioctl(fd, PROCMAP_QUERY, &q));
	EXPECT_EQ(EINVAL, errno);
	q.build_id_size = 0;
	/* a larger struct with a non-zero unknown tail */
	memset(&big, 0, sizeof(big));
	big.q.size = sizeof(big);
	big.q.query_addr = (uintptr_t)&q;
	big.tail[5] = 1;
	EXPECT_EQ(-1, ioctl(fd, PROCMAP_QUERY, &big));
	EXPECT_EQ(E2BIG, errno);
	big.tail[5] = 0;
	EXPECT_EQ(0, ioctl(fd, PROCMAP_QUERY, &big));
	/* a name buffer the kernel cannot write */
	q.query_addr = (uintptr_t)&q;
	q.vma_name_addr = 8;
	q.vma_name_size = 64;
	EXPECT_EQ(-1, ioctl(fd, PROCMAP_QUERY, &q));
	EXPECT_EQ(EFAULT, errno);
	/* the argument itself unreadable */
	EXPECT_EQ(-1, ioctl(fd, PROCMAP_QUERY, (void *)8));
	EXPECT_EQ(EFAULT, errno);
	close(fd);
}

TEST(build_id_is_the_elf_note)
{
	unsigned char id[20];
	struct procmap_query q;
	int fd;

	NEED_QUERY();
	fd = open("/proc/self/maps", O_RDONLY);
	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.query_addr = (uintptr_t)&have_query;
	q.build_id_addr = (uintptr_t)id;
	q.build_id_size = sizeof(id);
	ASSERT_EQ(0, ioctl(fd, PROCMAP_QUERY, &q));
	EXPECT_EQ(20u, q.build_id_size);	/* gcc's default sha1 ID */
	q.build_id_size = 4;			/* too small */
	EXPECT_EQ(-1, ioctl(fd, PROCMAP_QUERY, &q));
	EXPECT_EQ(ENAMETOOLONG, errno);
	/* anonymous memory: no build ID, not an error */
	q.query_addr = (uintptr_t)&q;
	q.build_id_size = sizeof(id);
	ASSERT_EQ(0, ioctl(fd, PROCMAP_QUERY, &q));
	EXPECT_EQ(0u, q.build_id_size);
	close(fd);
}

TEST_HARNESS_MAIN
