// SPDX-License-Identifier: GPL-2.0
/*
 * Snapshots and build IDs: a snapshot answers like the live process,
 * notices every kind of change (mmap, munmap, mremap, mprotect, naming,
 * exec), and build IDs agree between the kernel (query backend), the
 * library's own ELF reader (text backend) and the file itself.
 */
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "kselftest_harness.h"
#include "vmaq_test.h"
#include "internal.h"

FIXTURE(snap) {
	struct vmaq_proc *p;
	struct vmaq_snapshot *s;
	char *m;
	long pg;
};

FIXTURE_VARIANT(snap) {
	enum vmaq_backend backend;
};

FIXTURE_VARIANT_ADD(snap, text) { .backend = VMAQ_BACKEND_TEXT };
FIXTURE_VARIANT_ADD(snap, query) { .backend = VMAQ_BACKEND_QUERY };
FIXTURE_VARIANT_ADD(snap, batch) { .backend = VMAQ_BACKEND_BATCH };

FIXTURE_SETUP(snap)
{
	int err;

	self->s = NULL;
	self->p = NULL;
	self->pg = sysconf(_SC_PAGESIZE);
	err = open_backend(0, variant->backend, &self->p);
	if (err == -EOPNOTSUPP)
		SKIP(return, "%s backend not offered by this kernel",
		     vmaq_backend_name(variant->backend));
	ASSERT_EQ(0, err);
	self->m = mmap(NULL, 8 * self->pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	ASSERT_NE(MAP_FAILED, self->m);
	ASSERT_EQ(0, vmaq_snapshot_new(self->p, VMAQ_NAME, &self->s));
	/* our own allocations must not look like changes: warm them up */
	ASSERT_GE(vmaq_snapshot_refresh(self->s), 0);
}

FIXTURE_TEARDOWN(snap)
{
	vmaq_snapshot_free(self->s);
	vmaq_close(self->p);
}

/* After a change: stale, and a refresh makes it equal the live map. */
static void expect_change(struct __test_metadata *_metadata,
			  FIXTURE_DATA(snap) *self, const char *what)
{
	size_t i, n;

	TH_LOG("change: %s", what);
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
	const struct vmaq_vma *v = vmaq_snapshot_find(self->s, (uintptr_t)self->m + 5);
	int local;

	ASSERT_NE(NULL, v);
	EXPECT_EQ((uintptr_t)self->m, v->start);
	EXPECT_EQ((uintptr_t)self->m + 8 * self->pg, v->end);
	v = vmaq_snapshot_find(self->s, (uintptr_t)&local);
	ASSERT_NE(NULL, v);
	EXPECT_STREQ("[stack]", v->name);
	EXPECT_EQ(NULL, vmaq_snapshot_find(self->s, 0));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(NULL, vmaq_snapshot_vma(self->s, vmaq_snapshot_count(self->s)));
}

TEST_F(snap, every_kind_of_change_is_noticed)
{
	char *m = self->m, *r;
	long pg = self->pg;

	ASSERT_EQ(0, mprotect(m + pg, pg, PROT_READ | PROT_WRITE));
	expect_change(_metadata, self, "mprotect splits");
	ASSERT_EQ(0, mprotect(m + pg, pg, PROT_READ));
	expect_change(_metadata, self, "mprotect merges back");
	ASSERT_EQ(0, munmap(m + 7 * pg, pg));
	expect_change(_metadata, self, "munmap shrinks");
	r = mmap(m + 7 * pg, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
		 -1, 0);
	ASSERT_EQ(m + 7 * pg, r);
	expect_change(_metadata, self, "mmap grows (merges)");
	r = mremap(m, 8 * pg, 4 * pg, 0);
	ASSERT_EQ(m, r);
	expect_change(_metadata, self, "mremap shrinks");
	r = mremap(m, 4 * pg, 4 * pg, MREMAP_MAYMOVE | MREMAP_FIXED, m + 4 * pg);
	ASSERT_EQ(m + 4 * pg, r);
	expect_change(_metadata, self, "mremap moves");
	if (!prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, r, pg, "renamed"))
		expect_change(_metadata, self, "prctl names");
	self->m = r;
	ASSERT_EQ(0, munmap(r, 4 * pg));
	expect_change(_metadata, self, "munmap removes");
	self->m = mmap(NULL, 8 * pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
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

TEST_HARNESS_MAIN
