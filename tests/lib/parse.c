// SPDX-License-Identifier: GPL-2.0
/*
 * The /proc/PID/maps line parser and the text renderer: every legal line
 * form parses to the right record and renders back to the same bytes;
 * every malformed one is rejected.
 */
#include "kselftest_harness.h"
#include "vmaq_test.h"
#include "internal.h"

static void roundtrip(struct __test_metadata *_metadata, const char *line)
{
	struct vmaq_vma v;
	const char *name;
	size_t name_len;
	char nbuf[PATH_MAX], out[PATH_MAX + 256];
	size_t len = strlen(line) - 1;	/* without '\n' */

	ASSERT_EQ(0, vmaq_parse_line(line, len, &v, &name, &name_len));
	v.size = sizeof(v);
	if (name) {
		ASSERT_LT(vmaq_text_name_len(name, name_len), sizeof(nbuf));
		vmaq_unescape_name(nbuf, name, name_len);
		v.name = nbuf;
	}
	ASSERT_EQ((int)strlen(line), vmaq_format(&v, out, sizeof(out)));
	ASSERT_STREQ(line, out);
}

TEST(anonymous_line_keeps_trailing_space)
{
	const char *l = "7ffd1c9e1000-7ffd1c9e3000 rw-p 00000000 00:00 0 \n";
	struct vmaq_vma v;
	const char *name;
	size_t nl;

	ASSERT_EQ(0, vmaq_parse_line(l, strlen(l) - 1, &v, &name, &nl));
	EXPECT_EQ(0x7ffd1c9e1000ull, v.start);
	EXPECT_EQ(0x7ffd1c9e3000ull, v.end);
	EXPECT_EQ(VMAQ_READ | VMAQ_WRITE, v.flags);
	EXPECT_EQ(NULL, name);
	roundtrip(_metadata, l);
}

TEST(file_line)
{
	const char *l = "55d0c8a6e000-55d0c8a70000 r-xs 0001f000 fe:01 1835043                    /usr/bin/cat\n";
	struct vmaq_vma v;
	const char *name;
	size_t nl;

	ASSERT_EQ(0, vmaq_parse_line(l, strlen(l) - 1, &v, &name, &nl));
	EXPECT_EQ(0x1f000ull, v.offset);
	EXPECT_EQ(0xfeu, v.dev_major);
	EXPECT_EQ(1u, v.dev_minor);
	EXPECT_EQ(1835043ull, v.inode);
	EXPECT_EQ(VMAQ_READ | VMAQ_EXEC | VMAQ_SHARED | VMAQ_FILE, v.flags);
	ASSERT_EQ(12u, nl);
	EXPECT_EQ(0, memcmp(name, "/usr/bin/cat", nl));
	roundtrip(_metadata, l);
}

TEST(legal_line_forms_round_trip)
{
	static const char *const lines[] = {
		/* 32-bit widths: the kernel pads to 8 digits */
		"08048000-08049000 r-xp 00000000 08:01 12                                 /bin/x\n",
		"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n",
		"7f0000000000-7f0000001000 rw-p 00000000 00:00 0                          [anon:my buffer]\n",
		"7f0000000000-7f0000001000 rw-s 00000000 00:01 1024                       /memfd:x (deleted)\n",
		"7f0000000000-7f0000001000 rw-p 00000000 00:05 9                          /tmp/with  two spaces\n",
		"7f0000000000-7f0000001000 rw-p 00000000 00:05 9                          /tmp/new\\012line\n",
		"7f0000000000-7f0000001000 rw-s 00000000 00:01 5                          [anon_shmem:shm]\n",
		"7f0000000000-7f0000001000 r--p 123456789abcd000 fff:fffff 18446744073709551615  /big\n",
		"555555554000-555555556000 rw-p 00000000 00:00 0                          [heap]\n",
	};
	size_t i;

	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		roundtrip(_metadata, lines[i]);
}

TEST(very_long_path)
{
	char line[PATH_MAX + 128], path[PATH_MAX];
	int n;

	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	n = snprintf(line, sizeof(line), "%s%-*s %s\n",
		     "7f0000000000-7f0000001000 r--p 00000000 00:05 9",
		     72 - 47, "", path);
	ASSERT_LT(n, (int)sizeof(line));
	roundtrip(_metadata, line);
}

TEST(newline_in_path_is_unescaped)
{
	const char *l = "7f0000000000-7f0000001000 rw-p 00000000 00:05 9                          /tmp/a\\012b\n";
	struct vmaq_vma v;
	const char *name;
	size_t nl;
	char buf[64];

	ASSERT_EQ(0, vmaq_parse_line(l, strlen(l) - 1, &v, &name, &nl));
	ASSERT_EQ(8u, vmaq_text_name_len(name, nl));
	vmaq_unescape_name(buf, name, nl);
	EXPECT_STREQ("/tmp/a\nb", buf);
}

TEST(unescaped_length_counts_each_escape_once)
{
	char small[4];

	EXPECT_EQ(3u, vmaq_text_name_len("abc", 3));
	EXPECT_EQ(1u, vmaq_text_name_len("\\012", 4));
	/* a cut escape is four plain bytes */
	EXPECT_EQ(3u, vmaq_text_name_len("\\01", 3));
	EXPECT_EQ(3u, vmaq_text_name_len("\\012\\012x", 9));
	vmaq_unescape_name(small, "\\012", 4);
	EXPECT_STREQ("\n", small);
	vmaq_unescape_name(small, "\\01", 3);
	EXPECT_STREQ("\\01", small);
}

/*
 * Every bracketed name the kernel gives, and the prefixes of some: each
 * kind from the name's bytes and length alone. The names lie in one
 * buffer with no NUL after them, as the batch ioctl's names may, and the
 * file flag turns a bracketed file name into a file.
 */
TEST(bracketed_names_have_their_kinds)
{
	static const struct {
		const char *name;
		unsigned int flags;
		uint32_t kind;
	} t[] = {
		{ "[heap]", 0, VMAQ_KIND_HEAP },
		{ "[stack]", 0, VMAQ_KIND_STACK },
		{ "[stack:1234]", 0, VMAQ_KIND_STACK },
		{ "[vdso]", 0, VMAQ_KIND_VDSO },
		{ "[vvar]", 0, VMAQ_KIND_VVAR },
		{ "[vvar_vclock]", 0, VMAQ_KIND_VVAR },
		{ "[vsyscall]", 0, VMAQ_KIND_GATE },
		{ "[anon:buffers]", 0, VMAQ_KIND_ANON },
		{ "[anon_shmem:shm]", VMAQ_SHARED, VMAQ_KIND_ANON },
		{ "[uprobes]", 0, VMAQ_KIND_SPECIAL },
		{ "[heap", 0, VMAQ_KIND_SPECIAL },
		{ "[heap]x", 0, VMAQ_KIND_SPECIAL },
		{ "[stack", 0, VMAQ_KIND_SPECIAL },
		{ "[anon", 0, VMAQ_KIND_SPECIAL },
		{ "[anon_shmem", VMAQ_SHARED, VMAQ_KIND_SPECIAL },
		{ "[vdso]x", 0, VMAQ_KIND_SPECIAL },
		{ "[stack]x", 0, VMAQ_KIND_SPECIAL },
		{ "[vvar]x", 0, VMAQ_KIND_SPECIAL },
		{ "[vsyscall]x", 0, VMAQ_KIND_SPECIAL },
		{ "[vdso]", VMAQ_FILE, VMAQ_KIND_FILE },
		{ "[anon:x]", VMAQ_FILE, VMAQ_KIND_ANON },
	};
	static const char fill[] = "]:";
	char buf[64];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		for (size_t f = 0; f < sizeof(fill) - 1; f++) {
			struct vmaq_vma v = { .size = sizeof(v), .flags = t[i].flags };
			size_t len = strlen(t[i].name);

			/* the name, then bytes that would make it another one */
			memset(buf, fill[f], sizeof(buf));
			memcpy(buf, t[i].name, len);
			v.name = buf;
			v.name_len = (uint32_t)len;
			EXPECT_EQ(t[i].kind, vmaq_bracket_kind(&v)) {
				TH_LOG("%s, then '%c'", t[i].name, fill[f]);
			}
		}
	}
}

TEST(malformed_lines_are_rejected)
{
	static const char *const bad[] = {
		"",
		"7f00",
		"7f00-",
		"7f00-7f01",
		"7f00-7f01 ",
		"7f00-7f01 rw-p",
		"7f00-7f01 rw-q 00000000 00:00 0",
		"7f00-7f01 rw-pp 00000000 00:00 0",
		"7f00-7f01 xw-p 00000000 00:00 0",
		"7f00-7f01 rw-p 0000000g 00:00 0",
		"7f00-7f01 rw-p 00000000 00-00 0",
		"7f00-7f01 rw-p 00000000 00:00 x",
		"7f00-7f01 rw-p 00000000 00:00 0x",
		"7f01-7f00 rw-p 00000000 00:00 0",
		"7f00-7f00 rw-p 00000000 00:00 0",
		"17f00000000000000-27f00000000000000 rw-p 00000000 00:00 0",
		"7f00-10000000000000000 rw-p 00000000 00:00 0",
		"7f00-7f01 rw-p 00000000 1000:00 0",
		"7f00-7f01 rw-p 00000000 00:100000 0",
		"7f00-7f01 rw-p 00000000 00:00 18446744073709551616",
		"-7f01 rw-p 00000000 00:00 0",
		" 7f00-7f01 rw-p 00000000 00:00 0",
		"7f00-7f01  rw-p 00000000 00:00 0",
	};
	static const char nul_name[] = "7f00-7f01 rw-p 00000000 00:00 0 /a\0b";
	struct vmaq_vma v;
	const char *name;
	size_t nl, i;

	EXPECT_EQ(-EBADMSG, vmaq_parse_line(nul_name, sizeof(nul_name) - 1,
					    &v, &name, &nl));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = vmaq_parse_line(bad[i], strlen(bad[i]), &v, &name, &nl);

		if (r != -EBADMSG)
			TH_LOG("accepted: '%s'", bad[i]);
		EXPECT_EQ(-EBADMSG, r);
	}
}

TEST(parser_never_reads_past_the_line)
{
	/* The line sits at the very end of a page followed by a guard page. */
	const char *l = "7f00-7f01 rw-p 00000000 00:00 0";
	long pg = sysconf(_SC_PAGESIZE);
	char *m = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t len = strlen(l), cut;
	struct vmaq_vma v;
	const char *name;
	size_t nl;

	ASSERT_NE(MAP_FAILED, m);
	ASSERT_EQ(0, mprotect(m + pg, pg, PROT_NONE));
	for (cut = 0; cut <= len; cut++) {
		char *p = m + pg - cut;

		memcpy(p, l, cut);
		/* any prefix: a record or EBADMSG, never a fault */
		int r = vmaq_parse_line(p, cut, &v, &name, &nl);

		EXPECT_TRUE(r == 0 || r == -EBADMSG);
		EXPECT_EQ(cut == len ? 0 : -EBADMSG, r);
	}
	munmap(m, 2 * pg);
}

TEST(format_reports_needed_size_and_truncates)
{
	struct vmaq_vma v = { .size = sizeof(v), .start = 0x1000, .end = 0x2000,
			      .flags = VMAQ_READ, .name = "[heap]" };
	char small[10];
	int need = vmaq_format(&v, NULL, 0);

	ASSERT_EQ(80, need);	/* 72 columns, space, "[heap]", '\n' */
	EXPECT_EQ(need, vmaq_format(&v, small, sizeof(small)));
	EXPECT_STREQ("00001000-", small);
	EXPECT_EQ(-EINVAL, vmaq_format(NULL, small, sizeof(small)));
	EXPECT_EQ(EINVAL, errno);
}

/*
 * A caller hands a record in with the size it knows: 1.0's at least,
 * and what lies past it is never read.
 */
TEST(format_takes_the_callers_record_size)
{
	struct {
		struct vmaq_vma v;
		unsigned char later[64];	/* a later release's members */
	} big;
	struct vmaq_vma v = { .start = 0x1000, .end = 0x2000, .flags = VMAQ_READ };
	char out[128];

	EXPECT_EQ(-EINVAL, vmaq_format(&v, out, sizeof(out)));
	v.size = VMAQ_VMA_SIZE_1_0 - 1;
	EXPECT_EQ(-EINVAL, vmaq_format(&v, out, sizeof(out)));
	v.size = VMAQ_VMA_SIZE_1_0;
	EXPECT_EQ(41, vmaq_format(&v, out, sizeof(out)));
	memset(&big, 0xff, sizeof(big));
	big.v = v;
	big.v.size = sizeof(big);
	EXPECT_EQ(41, vmaq_format(&big.v, out, sizeof(out)));
	/* and the layout is the one 1.0 promised, on every ABI */
	EXPECT_EQ(0u, offsetof(struct vmaq_vma, size));
	EXPECT_EQ(8u, offsetof(struct vmaq_vma, start));
	EXPECT_EQ(48u, offsetof(struct vmaq_vma, page_size));
	EXPECT_EQ(sizeof(struct vmaq_vma), VMAQ_VMA_SIZE_1_0);
}

TEST(version_is_the_headers)
{
	char want[32];

	EXPECT_EQ((uint32_t)VMAQ_VERSION_CODE(VMAQ_VERSION_MAJOR, VMAQ_VERSION_MINOR,
					      VMAQ_VERSION_PATCH), vmaq_version());
	snprintf(want, sizeof(want), "%d.%d.%d", VMAQ_VERSION_MAJOR,
		 VMAQ_VERSION_MINOR, VMAQ_VERSION_PATCH);
	EXPECT_STREQ(want, vmaq_version_string());
	EXPECT_GE(vmaq_version(), (uint32_t)VMAQ_VERSION_CODE(1, 0, 0));
}

int main(int argc, char **argv)
{
	return vmaq_test_main(argc, argv);
}
