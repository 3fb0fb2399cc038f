// SPDX-License-Identifier: GPL-2.0
/*
 * Snapshots and build IDs: a snapshot answers like the live process,
 * notices every kind of change (mmap, munmap, mremap, mprotect, naming,
 * exec), and build IDs agree between the kernel (query backend), the
 * library's own ELF reader (text backend) and the file itself.
 */
#include <sched.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "kselftest_harness.h"
#include "vmaq_test.h"
#include "internal.h"

/*
 * The process whose map changes is a child that does nothing but execute
 * one-byte commands (no allocation, so neither malloc nor a sanitizer's
 * or valgrind's bookkeeping changes its map behind the test's back).
 */
struct mapper {
	pid_t pid;
	int cmd, ack;
	uint64_t m;		/* its 8-page region */
	long pg;
};

static void mapper_loop(int cmd, int ack, char *m, long pg)
{
	char c, *r;

	while (read(cmd, &c, 1) == 1) {
		int ok = 1;

		switch (c) {
		case 's': ok = !mprotect(m + pg, pg, PROT_READ | PROT_WRITE); break;
		case 'j': ok = !mprotect(m + pg, pg, PROT_READ); break;
		case 'u': ok = !munmap(m + 7 * pg, pg); break;
		case 'g':
			ok = mmap(m + 7 * pg, pg, PROT_READ,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == m + 7 * pg;
			break;
		case 'h': ok = mremap(m, 8 * pg, 4 * pg, 0) == m; break;
		case 'v':
			r = mremap(m, 4 * pg, 4 * pg, MREMAP_MAYMOVE | MREMAP_FIXED, m + 4 * pg);
			ok = r == m + 4 * pg;
			m = r;
			break;
		case 'n': ok = !prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, m, pg, "renamed"); break;
		case 'x': ok = !munmap(m, 4 * pg); break;
		}
		if (write(ack, ok ? "1" : "0", 1) != 1)
			break;
	}
	_exit(0);
}

static int mapper_start(struct mapper *mp)
{
	int cmd[2], ack[2];
	char *m;

	mp->pg = sysconf(_SC_PAGESIZE);
	m = mmap(NULL, 8 * mp->pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED || pipe(cmd) || pipe(ack))
		return -1;
	mp->m = (uintptr_t)m;
	mp->pid = fork();
	if (mp->pid == 0) {
		close(cmd[1]);
		close(ack[0]);
		mapper_loop(cmd[0], ack[1], m, mp->pg);
	}
	munmap(m, 8 * mp->pg);	/* ours; the child keeps its copy */
	close(cmd[0]);
	close(ack[1]);
	mp->cmd = cmd[1];
	mp->ack = ack[0];
	return mp->pid > 0 ? 0 : -1;
}

/* Run one command in the mapper; true if it succeeded. */
static bool mapper_do(struct mapper *mp, char c)
{
	char r = 0;

	return write(mp->cmd, &c, 1) == 1 && read(mp->ack, &r, 1) == 1 && r == '1';
}

FIXTURE(snap) {
	struct mapper mp;
	char path[64], moved[72];	/* a file the mapper maps a page of */
	uint64_t at;			/* that page */
	uint64_t gen;		/* batch: the generation before the snapshot */
	struct vmaq_proc *p;
	struct vmaq_snapshot *s;
	int fds_before;
};

FIXTURE_VARIANT(snap) {
	enum vmaq_backend backend;
};

FIXTURE_VARIANT_ADD(snap, text) { .backend = VMAQ_BACKEND_TEXT };
FIXTURE_VARIANT_ADD(snap, query) { .backend = VMAQ_BACKEND_QUERY };
FIXTURE_VARIANT_ADD(snap, batch) { .backend = VMAQ_BACKEND_BATCH };

FIXTURE_SETUP(snap)
{
	struct vmaq_proc *probe;
	long pg = sysconf(_SC_PAGESIZE);
	void *f;
	int err, fd;

	VMAQ_FDS_SETUP();
	self->s = NULL;
	self->p = NULL;
	self->mp.pid = 0;
	self->path[0] = '\0';
	err = open_backend(0, variant->backend, &probe);
	if (err == -EOPNOTSUPP)
		SKIP(return, "%s backend not offered by this kernel",
		     vmaq_backend_name(variant->backend));
	ASSERT_EQ(0, err);
	vmaq_close(probe);
	strcpy(self->path, "/tmp/vmaq-snap.XXXXXX");
	fd = mkstemp(self->path);
	ASSERT_GE(fd, 0);
	snprintf(self->moved, sizeof(self->moved), "%s.moved", self->path);
	ASSERT_EQ(0, ftruncate(fd, pg));
	/* mapped before the fork: the mapper inherits it */
	f = mmap(NULL, pg, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	ASSERT_NE(MAP_FAILED, f);
	self->at = (uintptr_t)f;
	err = mapper_start(&self->mp);
	munmap(f, pg);
	ASSERT_EQ(0, err);
	ASSERT_EQ(0, open_backend(self->mp.pid, variant->backend, &self->p));
	self->gen = 0;
	if (variant->backend == VMAQ_BACKEND_BATCH)
		ASSERT_EQ(0, vmaq_generation(self->p, &self->gen));
	ASSERT_EQ(0, vmaq_snapshot_new(self->p, VMAQ_NAME, &self->s));
}

FIXTURE_TEARDOWN(snap)
{
	vmaq_snapshot_free(self->s);
	vmaq_close(self->p);
	if (self->mp.pid > 0) {
		close(self->mp.cmd);
		close(self->mp.ack);
		waitpid(self->mp.pid, NULL, 0);
	}
	if (self->path[0]) {
		unlink(self->path);
		unlink(self->moved);
	}
	VMAQ_FDS_TEARDOWN();
}

/* After a change: stale, and a refresh makes it equal the live map. */
static void expect_change(struct __test_metadata *_metadata,
			  FIXTURE_DATA(snap) *self, char cmd, const char *what)
{
	size_t i, n;

	TH_LOG("change: %s", what);
	ASSERT_TRUE(mapper_do(&self->mp, cmd));
	EXPECT_EQ(1, vmaq_snapshot_stale(self->s));
	EXPECT_EQ(1, vmaq_snapshot_refresh(self->s));
	EXPECT_EQ(0, vmaq_snapshot_stale(self->s));
	n = vmaq_snapshot_count(self->s);
	for (i = 0; i < n; i++) {
		const struct vmaq_vma *v = vmaq_snapshot_vma(self->s, i), *live;

		ASSERT_EQ(0, vmaq_find(self->p, v->start, VMAQ_NAME, &live));
		EXPECT_EQ(v->start, live->start);
		EXPECT_EQ(v->end, live->end);
		EXPECT_EQ(v->flags, live->flags);
		if (i)
			EXPECT_LE(vmaq_snapshot_vma(self->s, i - 1)->end, v->start);
	}
}

TEST_F(snap, unchanged_is_fresh)
{
	EXPECT_EQ(0, vmaq_snapshot_stale(self->s));
	EXPECT_EQ(0, vmaq_snapshot_refresh(self->s));
}

TEST_F(snap, finds_like_the_live_process)
{
	const struct vmaq_vma *v = vmaq_snapshot_find(self->s, self->mp.m + 5);
	const struct vmaq_vma *live;

	ASSERT_NE(NULL, v);
	EXPECT_EQ(self->mp.m, v->start);
	EXPECT_EQ(self->mp.m + 8 * self->mp.pg, v->end);
	/* every record, as the live process answers for it */
	for (size_t i = 0; i < vmaq_snapshot_count(self->s); i++) {
		v = vmaq_snapshot_vma(self->s, i);
		ASSERT_EQ(0, vmaq_find(self->p, v->end - 1, VMAQ_NAME, &live));
		EXPECT_EQ(v->start, live->start);
		EXPECT_EQ(!v->name, !live->name);
		if (v->name && live->name)
			EXPECT_STREQ(v->name, live->name);
		EXPECT_EQ(v, vmaq_snapshot_find(self->s, v->start));
	}
	EXPECT_EQ(NULL, vmaq_snapshot_find(self->s, 0));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(NULL, vmaq_snapshot_vma(self->s, vmaq_snapshot_count(self->s)));
}

/*
 * Copies at the caller's record size: a program built against 1.0 (the
 * smallest size), one built against a later, larger record (the tail is
 * zeroed and .size says what is filled), and sizes the library refuses.
 */
TEST_F(snap, copies_at_the_callers_record_size)
{
	size_t n = vmaq_snapshot_count(self->s), big = sizeof(struct vmaq_vma) + 24;
	unsigned char *out = malloc(n * big);
	struct vmaq_vma v;
	size_t i, j;

	ASSERT_GT(n, 2u);
	ASSERT_EQ((int)n, vmaq_snapshot_copy(self->s, 0, n + 5, out,
					     VMAQ_VMA_SIZE_1_0));
	for (i = 0; i < n; i++) {
		memcpy(&v, out + i * VMAQ_VMA_SIZE_1_0, sizeof(v));
		EXPECT_EQ(0, memcmp(&v, vmaq_snapshot_vma(self->s, i), sizeof(v)));
	}
	memset(out, 0xa5, n * big);
	ASSERT_EQ((int)(n - 1), vmaq_snapshot_copy(self->s, 1, n, out, big));
	for (i = 0; i + 1 < n; i++) {
		const unsigned char *e = out + i * big;
		const struct vmaq_vma *want = vmaq_snapshot_vma(self->s, i + 1);

		memcpy(&v, e, sizeof(v));
		EXPECT_EQ(sizeof(v), v.size);
		EXPECT_EQ(want->start, v.start);
		EXPECT_EQ(want->name, v.name);
		EXPECT_TRUE(VMAQ_VMA_HAS(&v, reserved));
		for (j = sizeof(v); j < big; j++)
			ASSERT_EQ(0, e[j]);
	}
	EXPECT_EQ(0, vmaq_snapshot_copy(self->s, n, 3, out, big));
	EXPECT_EQ(-EINVAL, vmaq_snapshot_copy(self->s, n + 1, 1, out, big));
	EXPECT_EQ(-EINVAL, vmaq_snapshot_copy(self->s, 0, 1, out,
					      VMAQ_VMA_SIZE_1_0 - 8));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-EINVAL, vmaq_snapshot_copy(self->s, 0, 1, NULL, big));
	EXPECT_EQ(-EINVAL, vmaq_snapshot_copy(NULL, 0, 1, out, big));
	free(out);
}

TEST_F(snap, every_kind_of_change_is_noticed)
{
	char *m;

	expect_change(_metadata, self, 's', "mprotect splits");
	expect_change(_metadata, self, 'j', "mprotect merges back");
	expect_change(_metadata, self, 'u', "munmap shrinks");
	expect_change(_metadata, self, 'g', "mmap grows (merges)");
	expect_change(_metadata, self, 'h', "mremap shrinks");
	expect_change(_metadata, self, 'v', "mremap moves");
	/* naming needs ANON_VMA_NAME: probe it here */
	m = mmap(NULL, self->mp.pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, m, self->mp.pg, "probe"))
		expect_change(_metadata, self, 'n', "prctl names");
	munmap(m, self->mp.pg);
	expect_change(_metadata, self, 'x', "munmap removes");
}

/*
 * A stale check where the generation is known (the batch backend) is the
 * generation alone: renaming a mapped file does not move it (proc.rst),
 * so the snapshot keeps the old name until the generation moves. The
 * other backends read the map again and see the new name at once. A
 * snapshot that lost its generation would read again and fail here.
 */
TEST_F(snap, stale_check_is_the_generation_where_known)
{
	bool by_gen = variant->backend == VMAQ_BACKEND_BATCH;
	const struct vmaq_vma *v = vmaq_snapshot_find(self->s, self->at);
	uint64_t g0 = self->gen, g1 = 0;

	ASSERT_NE(NULL, v);
	ASSERT_NE(NULL, v->name);
	EXPECT_STREQ(self->path, v->name);
	ASSERT_EQ(0, rename(self->path, self->moved));
	/*
	 * The mapper does nothing meanwhile; if the kernel moved its
	 * generation all the same (khugepaged), the check reads again.
	 */
	if (by_gen) {
		ASSERT_EQ(0, vmaq_generation(self->p, &g1));
		if (g1 != g0) {
			TH_LOG("the generation moved by itself: a whole read");
			by_gen = false;
		}
	}
	EXPECT_EQ(by_gen ? 0 : 1, vmaq_snapshot_stale(self->s));
	EXPECT_EQ(by_gen ? 0 : 1, vmaq_snapshot_refresh(self->s));
	v = vmaq_snapshot_find(self->s, self->at);
	ASSERT_NE(NULL, v);
	EXPECT_STREQ(by_gen ? self->path : self->moved, v->name);
	/* a change of the map moves the generation: the new name comes too */
	ASSERT_TRUE(mapper_do(&self->mp, 's'));
	EXPECT_EQ(1, vmaq_snapshot_refresh(self->s));
	v = vmaq_snapshot_find(self->s, self->at);
	ASSERT_NE(NULL, v);
	EXPECT_STREQ(self->moved, v->name);
}

/* Build IDs: the kernel's, the library's ELF reader's and the file's. */
static void expect_build_ids_agree(struct __test_metadata *_metadata,
				   enum vmaq_backend b)
{
	struct vmaq_proc *p;
	const struct vmaq_vma *v;
	unsigned char want[VMAQ_BUILD_ID_MAX];
	uint32_t want_sz = 0;
	int fd = open("/proc/self/exe", O_RDONLY);

	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, vmaq_elf_build_id(fd, want, &want_sz));
	close(fd);
	ASSERT_GT(want_sz, 0u);
	ASSERT_EQ(0, open_backend(0, b, &p));
	ASSERT_EQ(0, vmaq_find(p, (uintptr_t)&expect_build_ids_agree,
			       VMAQ_BUILD_ID, &v));
	ASSERT_EQ(want_sz, v->build_id_size);
	EXPECT_EQ(0, memcmp(want, v->build_id, want_sz));
	EXPECT_EQ(NULL, v->name);	/* not asked for */
	/* anonymous memory has none */
	ASSERT_EQ(0, vmaq_find(p, (uintptr_t)&fd, VMAQ_BUILD_ID, &v));
	EXPECT_EQ(0u, v->build_id_size);
	EXPECT_EQ(NULL, v->build_id);
	vmaq_close(p);
}

/* The changes one update reports, compared with what the test expects. */
struct want_change {
	uint32_t kind;
	uint64_t start, end, was_end;	/* was_end: MODIFIED only */
};

static void expect_diff(struct __test_metadata *_metadata, struct vmaq_diff *d,
			const struct want_change *w, size_t n)
{
	ASSERT_NE(NULL, d);
	ASSERT_EQ(n, vmaq_diff_count(d));
	for (size_t i = 0; i < n; i++) {
		const struct vmaq_change *c = vmaq_diff_change(d, i);

		ASSERT_NE(NULL, c);
		EXPECT_EQ(w[i].kind, c->kind) TH_LOG("change %zu", i);
		EXPECT_EQ(w[i].start, c->vma->start) TH_LOG("change %zu", i);
		EXPECT_EQ(w[i].end, c->vma->end) TH_LOG("change %zu", i);
		EXPECT_EQ(0u, c->reserved);
		if (w[i].kind == VMAQ_CHANGE_MODIFIED) {
			ASSERT_NE(NULL, c->was);
			EXPECT_EQ(w[i].start, c->was->start);
			EXPECT_EQ(w[i].was_end, c->was->end);
		} else {
			EXPECT_EQ(NULL, c->was);
		}
	}
}

/*
 * The library's diff (what vmaquery watch prints): a split is the first
 * VMA shortened and two added; the merge back, the first grown and two
 * removed; the records stay the diff's after the snapshot reads again.
 */
TEST_F(snap, update_says_what_changed)
{
	uint64_t m = self->mp.m, pg = (uint64_t)self->mp.pg;
	const struct want_change split[] = {
		{ VMAQ_CHANGE_MODIFIED, m, m + pg, m + 8 * pg },
		{ VMAQ_CHANGE_ADDED, m + pg, m + 2 * pg, 0 },
		{ VMAQ_CHANGE_ADDED, m + 2 * pg, m + 8 * pg, 0 },
	};
	const struct want_change merge[] = {
		{ VMAQ_CHANGE_MODIFIED, m, m + 8 * pg, m + pg },
		{ VMAQ_CHANGE_REMOVED, m + pg, m + 2 * pg, 0 },
		{ VMAQ_CHANGE_REMOVED, m + 2 * pg, m + 8 * pg, 0 },
	};
	struct vmaq_diff *d = (struct vmaq_diff *)1, *d2;
	const struct vmaq_change *c;

	EXPECT_EQ(0, vmaq_snapshot_update(self->s, &d));
	EXPECT_EQ(NULL, d);
	ASSERT_TRUE(mapper_do(&self->mp, 's'));
	ASSERT_EQ(1, vmaq_snapshot_update(self->s, &d));
	expect_diff(_metadata, d, split, 3);
	c = vmaq_diff_change(d, 1);
	ASSERT_NE(NULL, c);
	EXPECT_EQ(VMAQ_READ | VMAQ_WRITE, c->vma->flags);
	ASSERT_TRUE(mapper_do(&self->mp, 'j'));
	ASSERT_EQ(1, vmaq_snapshot_update(self->s, &d2));
	expect_diff(_metadata, d2, merge, 3);
	/* the first diff is whole, its tables not the snapshot's */
	expect_diff(_metadata, d, split, 3);
	EXPECT_EQ(NULL, vmaq_diff_change(d, 3));
	EXPECT_EQ(EINVAL, errno);
	vmaq_diff_free(d);
	vmaq_diff_free(d2);
	EXPECT_EQ(0, vmaq_snapshot_update(self->s, &d));
	EXPECT_EQ(-EINVAL, vmaq_snapshot_update(self->s, NULL));
	EXPECT_EQ(-EINVAL, vmaq_snapshot_update(NULL, &d));
	EXPECT_EQ(0u, vmaq_diff_count(NULL));
	vmaq_diff_free(NULL);
}

TEST(build_id_text_backend_reads_the_file)
{
	expect_build_ids_agree(_metadata, VMAQ_BACKEND_TEXT);
}

TEST(build_id_query_backend_asks_the_kernel)
{
	struct vmaq_proc *p;

	if (open_backend(0, VMAQ_BACKEND_QUERY, &p))
		SKIP(return, "no PROCMAP_QUERY");
	vmaq_close(p);
	expect_build_ids_agree(_metadata, VMAQ_BACKEND_QUERY);
}

TEST(build_id_of_deleted_and_non_elf_files)
{
	char dir[] = "/tmp/vmaq-bid.XXXXXX", path[64], cmd[128];
	struct vmaq_proc *p;
	const struct vmaq_vma *v;
	unsigned char *exe, *m;
	size_t len;
	int fd;

	ASSERT_NE(NULL, mkdtemp(dir));
	/* a copy of our own executable, mapped, then deleted */
	exe = (unsigned char *)read_whole("/proc/self/exe", &len);
	ASSERT_NE(NULL, exe);
	snprintf(path, sizeof(path), "%s/copy", dir);
	fd = open(path, O_RDWR | O_CREAT, 0600);
	ASSERT_EQ((ssize_t)len, write(fd, exe, len));
	m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	ASSERT_NE(MAP_FAILED, m);
	close(fd);
	ASSERT_EQ(0, unlink(path));
	ASSERT_EQ(0, open_backend(0, VMAQ_BACKEND_TEXT, &p));
	ASSERT_EQ(0, vmaq_find(p, (uintptr_t)m, VMAQ_BUILD_ID | VMAQ_NAME, &v));
	if (getuid() == 0)	/* map_files needs CAP_SYS_ADMIN */
		EXPECT_GT(v->build_id_size, 0u);
	/* a file of the same name but another inode is not read */
	fd = open(path, O_RDWR | O_CREAT, 0600);
	ASSERT_EQ((ssize_t)len, write(fd, exe, len));
	close(fd);
	vmaq_close(p);
	ASSERT_EQ(0, open_backend(0, VMAQ_BACKEND_TEXT, &p));
	if (getuid() != 0) {
		ASSERT_EQ(0, vmaq_find(p, (uintptr_t)m, VMAQ_BUILD_ID, &v));
		EXPECT_EQ(0u, v->build_id_size);
	}
	munmap(m, len);
	/* a non-ELF file has none */
	fd = open(path, O_RDWR | O_TRUNC);
	ASSERT_EQ(6, write(fd, "hello\n", 6));
	m = mmap(NULL, 6, PROT_READ, MAP_PRIVATE, fd, 0);
	ASSERT_NE(MAP_FAILED, m);
	close(fd);
	ASSERT_EQ(0, vmaq_find(p, (uintptr_t)m, VMAQ_BUILD_ID, &v));
	EXPECT_EQ(0u, v->build_id_size);
	munmap(m, 6);
	vmaq_close(p);
	free(exe);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	EXPECT_EQ(0, system(cmd));
}

/*
 * Reading a build ID by name (no map_files: a handle from a maps fd, or
 * an agent without CAP_SYS_ADMIN) must open nothing but the mapped file:
 * the name is the target's to choose, and open(2) of a FIFO, a device or
 * a FUSE file has side effects. Audit finding F9: a FIFO planted under a
 * deleted file's name, or a symlink to it, was opened. inotify reports
 * every open (O_PATH ones excepted) as it happens: no timing involved.
 */
static int opens_in(int in, const char *leaf)
{
	char buf[4096] __attribute__((aligned(8)));
	ssize_t n;
	int opens = 0;

	while ((n = read(in, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *e = (struct inotify_event *)p;

			if ((e->mask & IN_OPEN) && e->len && !strcmp(e->name, leaf))
				opens++;
			p += sizeof(*e) + e->len;
		}
	}
	return opens;
}

TEST(build_id_by_name_opens_only_the_mapped_file)
{
	char dir[] = "/tmp/vmaq-bidname.XXXXXX", path[64], fifo[96], cmd[128];
	VMAQ_OPTS(vmaq_open_opts, o, .backend = VMAQ_BACKEND_TEXT);
	unsigned char want[VMAQ_BUILD_ID_MAX];
	uint32_t want_sz = 0;
	const struct vmaq_vma *v;
	struct vmaq_proc *p;
	unsigned char *exe, *m;
	size_t len;
	int fd, in, maps;

	ASSERT_NE(NULL, mkdtemp(dir));
	exe = (unsigned char *)read_whole("/proc/self/exe", &len);
	ASSERT_NE(NULL, exe);
	snprintf(path, sizeof(path), "%s/copy", dir);
	fd = open(path, O_RDWR | O_CREAT, 0600);
	ASSERT_GE(fd, 0);
	ASSERT_EQ((ssize_t)len, write(fd, exe, len));
	ASSERT_EQ(0, vmaq_elf_build_id(fd, want, &want_sz));
	ASSERT_GT(want_sz, 0u);
	m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	ASSERT_NE(MAP_FAILED, m);
	close(fd);
	in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	ASSERT_GE(in, 0);
	ASSERT_LE(0, inotify_add_watch(in, dir, IN_OPEN));
	/* a handle from a maps fd reads build IDs by name */
	maps = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	ASSERT_GE(maps, 0);
	ASSERT_EQ(0, vmaq_open_fd(maps, &o, &p));
	close(maps);

	/* the live file: found by name, opened once, its build ID read */
	ASSERT_EQ(0, vmaq_find(p, (uintptr_t)m, VMAQ_BUILD_ID | VMAQ_NAME, &v));
	EXPECT_STREQ(path, v->name);
	ASSERT_EQ(want_sz, v->build_id_size);
	EXPECT_EQ(0, memcmp(want, v->build_id, want_sz));
	EXPECT_EQ(1, opens_in(in, "copy"));

	/* deleted, and a FIFO planted under the name the kernel now shows */
	ASSERT_EQ(0, unlink(path));
	snprintf(fifo, sizeof(fifo), "%s (deleted)", path);
	ASSERT_EQ(0, mkfifo(fifo, 0600));
	vmaq_close(p);
	maps = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	ASSERT_EQ(0, vmaq_open_fd(maps, &o, &p));
	close(maps);
	ASSERT_EQ(0, vmaq_find(p, (uintptr_t)m, VMAQ_BUILD_ID | VMAQ_NAME, &v));
	EXPECT_STREQ(fifo, v->name);
	EXPECT_EQ(0u, v->build_id_size);
	EXPECT_EQ(0, opens_in(in, "copy (deleted)"));

	/* a symlink there to a FIFO is not followed either */
	ASSERT_EQ(0, rename(fifo, path));
	ASSERT_EQ(0, symlink(path, fifo));
	vmaq_close(p);
	maps = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	ASSERT_EQ(0, vmaq_open_fd(maps, &o, &p));
	close(maps);
	ASSERT_EQ(0, vmaq_find(p, (uintptr_t)m, VMAQ_BUILD_ID | VMAQ_NAME, &v));
	EXPECT_EQ(0u, v->build_id_size);
	EXPECT_EQ(0, opens_in(in, "copy"));
	EXPECT_EQ(0, opens_in(in, "copy (deleted)"));

	vmaq_close(p);
	close(in);
	munmap(m, len);
	free(exe);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	EXPECT_EQ(0, system(cmd));
}

/*
 * A sandbox without procfs, handed a maps fd: build IDs by name still
 * come from the mapped file (review: the reopen through /proc/self/fd
 * found nothing and they were silently dropped).
 */
TEST(build_id_by_name_without_procfs)
{
	char dir[] = "/tmp/vmaq-bidnoproc.XXXXXX", path[64], cmd[128];
	pid_t pid;
	int st;

	if (getuid() != 0)
		SKIP(return, "needs root for a mount namespace");
	ASSERT_NE(NULL, mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/copy", dir);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		VMAQ_OPTS(vmaq_open_opts, o, .backend = VMAQ_BACKEND_TEXT);
		unsigned char want[VMAQ_BUILD_ID_MAX];
		const struct vmaq_vma *v;
		uint32_t want_sz = 0;
		struct vmaq_proc *p;
		size_t len;
		char *exe = read_whole("/proc/self/exe", &len);
		int fd = open(path, O_RDWR | O_CREAT, 0600), maps;
		void *m;

		if (!exe || fd < 0 || write(fd, exe, len) != (ssize_t)len ||
		    vmaq_elf_build_id(fd, want, &want_sz) || !want_sz)
			_exit(10);
		m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
		close(fd);
		free(exe);
		maps = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
		if (m == MAP_FAILED || maps < 0)
			_exit(11);
		if (unshare(CLONE_NEWNS) ||
		    mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) ||
		    mount("none", "/proc", "tmpfs", 0, NULL))
			_exit(12);
		if (vmaq_open_fd(maps, &o, &p))
			_exit(13);
		if (vmaq_find(p, (uintptr_t)m, VMAQ_BUILD_ID | VMAQ_NAME, &v))
			_exit(14);
		if (v->build_id_size != want_sz || memcmp(v->build_id, want, want_sz))
			_exit(15);
		vmaq_close(p);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	ASSERT_TRUE(WIFEXITED(st));
	EXPECT_EQ(0, WEXITSTATUS(st));
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	EXPECT_EQ(0, system(cmd));
}

TEST(elf_reader_rejects_garbage)
{
	unsigned char id[VMAQ_BUILD_ID_MAX];
	uint32_t sz;
	char path[] = "/tmp/vmaq-elf.XXXXXX";
	int fd = mkstemp(path);
	unsigned char hdr[64] = { 0x7f, 'E', 'L', 'F', 2, 1, 1 };

	ASSERT_GE(fd, 0);
	unlink(path);
	EXPECT_EQ(-ENODATA, vmaq_elf_build_id(fd, id, &sz));	/* empty */
	ASSERT_EQ(64, write(fd, hdr, 64));
	/* header claims phdrs far beyond the file */
	*(uint64_t *)(hdr + 32) = 1ull << 40;	/* e_phoff */
	*(uint16_t *)(hdr + 54) = 56;		/* e_phentsize */
	*(uint16_t *)(hdr + 56) = 3;		/* e_phnum */
	ASSERT_EQ(64, pwrite(fd, hdr, 64, 0));
	EXPECT_EQ(-ENODATA, vmaq_elf_build_id(fd, id, &sz));
	*(uint16_t *)(hdr + 56) = 60000;
	ASSERT_EQ(64, pwrite(fd, hdr, 64, 0));
	EXPECT_EQ(-ENOEXEC, vmaq_elf_build_id(fd, id, &sz));
	hdr[4] = 7;	/* bad class */
	ASSERT_EQ(64, pwrite(fd, hdr, 64, 0));
	EXPECT_EQ(-ENOEXEC, vmaq_elf_build_id(fd, id, &sz));
	close(fd);
}

int main(int argc, char **argv)
{
	return vmaq_test_main(argc, argv);
}
