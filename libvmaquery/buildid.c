// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Build IDs read by the library, for backends that cannot ask the kernel
 * (text): the GNU build-ID note found through the ELF program headers, as
 * the kernel's own parser does. The file is opened through
 * /proc/PID/map_files (the very file mapped, even if deleted or in another
 * mount namespace) or else by name under /proc/PID/root, and used only if
 * its device and inode are those of the VMA (for a map_files file, the
 * device of its mount where stat's differs: btrfs). Results, including
 * "none", are cached per handle by (device, inode, name).
 */
#include <elf.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "backend.h"

/* One file's answer, "none" included; inode 0: a free slot. */
struct vmaq_bid_entry {
	uint64_t inode;
	uint32_t dev_major, dev_minor;
	char *name;		/* the entry's own copy */
	size_t name_len;
	uint32_t size;		/* 0: the file has none (or cannot be read) */
	unsigned char id[VMAQ_BUILD_ID_MAX];
};

#define MAX_PHDRS 256
#define MAX_NOTE_BYTES (64 * 1024)

static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	ssize_t n;

	if (off > INT64_MAX)
		return -EINVAL;
	do {
		n = pread(fd, buf, len, (off_t)off);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -ENODATA;
}

static int scan_notes(const unsigned char *p, size_t len, unsigned char *id,
		      uint32_t *size)
{
	size_t off = 0;

	while (len - off >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr nh;
		size_t namesz, descsz, desc_off, next;

		memcpy(&nh, p + off, sizeof(nh));
		namesz = (nh.n_namesz + 3u) & ~(size_t)3;
		descsz = (nh.n_descsz + 3u) & ~(size_t)3;
		desc_off = off + sizeof(nh) + namesz;
		if (namesz > len || descsz > len || desc_off > len ||
		    descsz > len - desc_off)
			return -ENODATA;
		next = desc_off + descsz;
		if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
		    !memcmp(p + off + sizeof(nh), "GNU", 4) &&
		    nh.n_descsz > 0 && nh.n_descsz <= VMAQ_BUILD_ID_MAX) {
			memcpy(id, p + desc_off, nh.n_descsz);
			*size = nh.n_descsz;
			return 0;
		}
		off = next;
	}
	return -ENODATA;
}

/* Both ELF classes, native byte order (the only order a process maps). */
int vmaq_elf_build_id(int fd, unsigned char *id, uint32_t *size)
{
	unsigned char ident[EI_NIDENT];
	uint64_t phoff;
	unsigned int phnum, phentsize, i;
	bool is64;
	unsigned char *notes;
	int err;

	err = pread_full(fd, ident, sizeof(ident), 0);
	if (err)
		return err;
	if (memcmp(ident, ELFMAG, SELFMAG))
		return -ENOEXEC;
	is64 = ident[EI_CLASS] == ELFCLASS64;
	if (!is64 && ident[EI_CLASS] != ELFCLASS32)
		return -ENOEXEC;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (ident[EI_DATA] != ELFDATA2LSB)
		return -ENOEXEC;
#else
	if (ident[EI_DATA] != ELFDATA2MSB)
		return -ENOEXEC;
#endif
	if (is64) {
		Elf64_Ehdr eh;

		err = pread_full(fd, &eh, sizeof(eh), 0);
		phoff = eh.e_phoff;
		phnum = eh.e_phnum;
		phentsize = eh.e_phentsize;
		if (!err && phentsize != sizeof(Elf64_Phdr))
			err = -ENOEXEC;
	} else {
		Elf32_Ehdr eh;

		err = pread_full(fd, &eh, sizeof(eh), 0);
		phoff = eh.e_phoff;
		phnum = eh.e_phnum;
		phentsize = eh.e_phentsize;
		if (!err && phentsize != sizeof(Elf32_Phdr))
			err = -ENOEXEC;
	}
	if (err)
		return err;
	if (phnum > MAX_PHDRS)
		return -ENOEXEC;
	notes = malloc(MAX_NOTE_BYTES);
	if (!notes)
		return -ENOMEM;
	err = -ENODATA;
	for (i = 0; i < phnum; i++) {
		uint64_t off, len;
		uint32_t type;

		if (is64) {
			Elf64_Phdr ph;

			if (pread_full(fd, &ph, sizeof(ph), phoff + (uint64_t)i * phentsize))
				break;
			type = ph.p_type;
			off = ph.p_offset;
			len = ph.p_filesz;
		} else {
			Elf32_Phdr ph;

			if (pread_full(fd, &ph, sizeof(ph), phoff + (uint64_t)i * phentsize))
				break;
			type = ph.p_type;
			off = ph.p_offset;
			len = ph.p_filesz;
		}
		if (type != PT_NOTE || len > MAX_NOTE_BYTES)
			continue;
		if (pread_full(fd, notes, (size_t)len, off))
			continue;
		err = scan_notes(notes, (size_t)len, id, size);
		if (!err)
			break;
	}
	free(notes);
	return err;
}

/*
 * By the file's device, inode and name: on btrfs two files of different
 * subvolumes can have the same inode number on the one device the maps
 * show.
 */
static struct vmaq_bid_entry *cache_slot(struct vmaq_bid_cache *c,
					 const struct vmaq_vma *v, bool *found)
{
	uint64_t h = v->inode * 0x9e3779b97f4a7c15ull ^
		     ((uint64_t)v->dev_major << 20 | v->dev_minor);
	size_t i, mask = c->nslots - 1;

	for (i = 0; i < v->name_len; i++)
		h = (h ^ (unsigned char)v->name[i]) * 0x100000001b3ull;
	for (i = (size_t)(h >> 7) & mask;; i = (i + 1) & mask) {
		struct vmaq_bid_entry *e = &c->slots[i];

		if (!e->inode) {
			*found = false;
			return e;
		}
		if (e->inode == v->inode && e->dev_major == v->dev_major &&
		    e->dev_minor == v->dev_minor && e->name_len == v->name_len &&
		    !memcmp(e->name, v->name, v->name_len)) {
			*found = true;
			return e;
		}
	}
}

static int cache_grow(struct vmaq_bid_cache *c)
{
	struct vmaq_bid_cache n = { .nslots = c->nslots ? c->nslots * 2 : 64 };
	size_t i;

	n.slots = calloc(n.nslots, sizeof(*n.slots));
	if (!n.slots)
		return -ENOMEM;
	for (i = 0; i < c->nslots; i++) {
		struct vmaq_bid_entry *e = &c->slots[i];
		struct vmaq_vma key = { .inode = e->inode,
					.dev_major = e->dev_major,
					.dev_minor = e->dev_minor,
					.name = e->name,
					.name_len = e->name_len };
		bool found;

		if (e->inode)
			*cache_slot(&n, &key, &found) = *e;
	}
	/* the table only: the lock, held, stays where it is */
	free(c->slots);
	c->slots = n.slots;
	c->nslots = n.nslots;
	return 0;
}

/*
 * The mount ID of @path under @dirfd (statx(2)'s AT_* @at; "" with
 * AT_EMPTY_PATH: the open file @dirfd), the one mountinfo lists.
 */
static bool mount_id(int dirfd, const char *path, int at, uint64_t *id)
{
	struct statx stx;
	char fdinfo[64], buf[512], *p;
	ssize_t n;
	int fd;

	if (!statx(dirfd, path, at, STATX_MNT_ID, &stx) &&
	    (stx.stx_mask & STATX_MNT_ID)) {
		*id = stx.stx_mnt_id;
		return true;
	}
	/* before Linux 5.8: an open file's fdinfo tells (3.15 on) */
	if (!(at & AT_EMPTY_PATH) || path[0])
		return false;
	snprintf(fdinfo, sizeof(fdinfo), "/proc/thread-self/fdinfo/%d", dirfd);
	fd = open(fdinfo, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	p = strstr(buf, "\nmnt_id:");
	return p && sscanf(p + 8, "%" SCNu64, id) == 1;
}

/*
 * The device of mount @id as mountinfo lists it (the superblock's, which
 * the maps give) in @file: 1 it is @maj:@min, 0 it is not, -1 no such
 * mount there.
 */
static int mount_dev_in(const char *file, uint64_t id, uint32_t maj,
			uint32_t min)
{
	unsigned int ma, mi;
	size_t cap = 0;
	char *line = NULL;
	uint64_t mid;
	int ret = -1;
	FILE *f;

	f = fopen(file, "re");
	if (!f)
		return -1;
	while (ret < 0 && getline(&line, &cap, f) > 0)
		if (sscanf(line, "%" SCNu64 " %*u %u:%u", &mid, &ma, &mi) == 3 &&
		    mid == id)
			ret = ma == maj && mi == min;
	free(line);
	fclose(f);
	return ret;
}

/*
 * statmount(2) (Linux 6.8): the superblock's device of a mount of our
 * namespace, without reading mountinfo. Its number is the generic
 * table's where the libc headers predate it.
 */
#ifndef __NR_statmount
#if defined(__x86_64__) && !defined(__ILP32__) || defined(__i386__) || \
	defined(__aarch64__) || defined(__riscv)
#define __NR_statmount 457
#endif
#endif
#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x00004000U
#endif

struct vmaq_mnt_id_req {		/* struct mnt_id_req, version 0 */
	uint32_t size, spare;
	uint64_t mnt_id, param;
};

struct vmaq_statmount {			/* the head of struct statmount */
	uint32_t size, spare;
	uint64_t mask;
	uint32_t sb_dev_major, sb_dev_minor;
	uint64_t rest[64];
};

/* 1 the mount is on @maj:@min, 0 it is not, -1 statmount cannot tell. */
static int statmount_dev(int dirfd, const char *path, int at, uint32_t maj,
			 uint32_t min)
{
#ifdef __NR_statmount
	struct vmaq_mnt_id_req req = { .size = 24, .param = 1 /* SB_BASIC */ };
	struct vmaq_statmount sm;
	struct statx stx;

	if (statx(dirfd, path, at, STATX_MNT_ID_UNIQUE, &stx) ||
	    !(stx.stx_mask & STATX_MNT_ID_UNIQUE))
		return -1;
	req.mnt_id = stx.stx_mnt_id;
	memset(&sm, 0, sizeof(sm));
	if (syscall(__NR_statmount, &req, &sm, sizeof(sm), 0) || !(sm.mask & 1))
		return -1;
	return sm.sb_dev_major == maj && sm.sb_dev_minor == min;
#else
	(void)dirfd; (void)path; (void)at; (void)maj; (void)min;
	return -1;
#endif
}

bool vmaq_on_vma_dev(int dirfd, const char *path, int at, dev_t st_dev,
		     pid_t pid, const struct vmaq_vma *v)
{
	char file[64];
	uint64_t id;
	int ret;

	if (major(st_dev) == v->dev_major && minor(st_dev) == v->dev_minor)
		return true;
	ret = statmount_dev(dirfd, path, at, v->dev_major, v->dev_minor);
	if (ret >= 0)
		return ret;
	if (!mount_id(dirfd, path, at, &id))
		return false;
	/*
	 * Mount IDs are the system's. Ours first: the target's mountinfo
	 * is the target's to make long, and is read only for a mount of
	 * another namespace.
	 */
	ret = mount_dev_in("/proc/thread-self/mountinfo", id, v->dev_major,
			   v->dev_minor);
	if (ret < 0 && pid > 0) {
		snprintf(file, sizeof(file), "/proc/%d/mountinfo", (int)pid);
		ret = mount_dev_in(file, id, v->dev_major, v->dev_minor);
	}
	return ret > 0;
}

/*
 * Whether @fd is the VMA's file: a regular file of its inode and device.
 * Only a file the kernel handed over (map_files, @mapped) may be on the
 * VMA's device through its mount: one found by name with another stat
 * device (another btrfs subvolume's, whose inode numbers are its own) is
 * not known to be the mapped file, even with the mount's device.
 */
static bool same_file(int fd, pid_t pid, const struct vmaq_vma *v, bool mapped)
{
	struct stat st;

	if (fstat(fd, &st) || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_ino != v->inode)
		return false;
	if (!mapped)
		return major(st.st_dev) == v->dev_major &&
		       minor(st.st_dev) == v->dev_minor;
	return vmaq_on_vma_dev(fd, "", AT_EMPTY_PATH, st.st_dev, pid, v);
}

/* The errors that say nothing of the file: the walk must not go on without. */
static bool out_of_files(int err)
{
	return err == -EMFILE || err == -ENFILE || err == -ENOMEM;
}

/*
 * Open for reading the file O_PATH descriptor @pfd stands for, if it is
 * the very regular file mapped. Through this thread's own descriptor
 * table (/proc/self is the thread group's, whose table a thread that
 * unshared its files does not have).
 */
static int reopen_checked(int pfd, pid_t pid, const struct vmaq_vma *v,
			  bool mapped)
{
	char path[64];
	int fd;

	if (!same_file(pfd, pid, v, mapped))
		return -ENOENT;
	snprintf(path, sizeof(path), "/proc/thread-self/fd/%d", pfd);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT) {	/* before Linux 3.17 */
		snprintf(path, sizeof(path), "/proc/self/fd/%d", pfd);
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	}
	if (fd < 0)
		return -errno;
	/* the same inode: checked again all the same */
	if (!same_file(fd, pid, v, mapped)) {
		close(fd);
		return -ENOENT;
	}
	return fd;
}

/*
 * The mapped file, opened for reading, or a negative errno. The name is
 * the target's to choose (a deleted file's name, a path in another mount
 * namespace, a planted symlink), and open(2) of a device, a FIFO or a
 * FUSE file has side effects: both map_files and the name are opened
 * O_PATH first, which opens nothing, and only the very regular file
 * mapped (a same-named file proves nothing) is opened for reading.
 */
int vmaq_open_mapped_file(pid_t pid, const struct vmaq_vma *v)
{
	char path[PATH_MAX + 64];
	const char *name = v->name;
	int fd, pfd;

	if (pid > 0) {
		snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx",
			 (int)pid, (unsigned long long)v->start,
			 (unsigned long long)v->end);
		pfd = open(path, O_PATH | O_CLOEXEC);
		if (pfd >= 0) {
			fd = reopen_checked(pfd, pid, v, true);
			close(pfd);
			return fd;
		}
		if (out_of_files(-errno))
			return -errno;
	}
	/* by name: only one that fits a path (and is not cut short) */
	if (!name || name[0] != '/' || v->name_len >= PATH_MAX)
		return -ENOENT;
	if (pid > 0)
		snprintf(path, sizeof(path), "/proc/%d/root%s", (int)pid, name);
	else
		snprintf(path, sizeof(path), "%s", name);
	pfd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0)
		return out_of_files(-errno) ? -errno : -ENOENT;
	fd = reopen_checked(pfd, pid, v, false);
	if (fd == -ENOENT && same_file(pfd, pid, v, false)) {
		/*
		 * No procfs of ours to reopen through (a sandbox handed a
		 * maps fd): the name again, without following a symlink,
		 * without blocking, and only if it is still that file.
		 */
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK |
				O_NOFOLLOW);
		if (fd < 0) {
			fd = -errno;
		} else if (!same_file(fd, pid, v, false)) {
			close(fd);
			fd = -ENOENT;
		}
	}
	close(pfd);
	return fd;
}

void (*vmaq_test_bid_open)(void *arg);
void *vmaq_test_bid_open_arg;

/*
 * 0, or 1 when the file could not be opened (no build ID, and no answer
 * cached: the caller tells a gone address space from a closed file).
 * The handle's cache is shared by all its walks, which may run in several
 * threads: looked up and filled under c->lock. The file is read outside
 * it (two threads may both read a file the cache lacks; the second to
 * finish finds the first's entry).
 */
int vmaq_build_id_fill(struct vmaq_bid_cache *c, pid_t pid, struct vmaq_rec *rec)
{
	struct vmaq_vma *v = &rec->vma;
	struct vmaq_bid_entry *e;
	unsigned char id[VMAQ_BUILD_ID_MAX];
	uint32_t size = 0;
	bool found;
	int fd, err = 0;

	v->build_id = NULL;
	v->build_id_size = 0;
	if (!(v->flags & VMAQ_FILE) || !v->inode)
		return 0;
	pthread_mutex_lock(&c->lock);
	e = c->nslots ? cache_slot(c, v, &found) : NULL;
	if (e && found)
		goto hit;
	pthread_mutex_unlock(&c->lock);

	if (vmaq_test_bid_open)
		vmaq_test_bid_open(vmaq_test_bid_open_arg);
	/* The name helps find the file: read the line's name. */
	fd = vmaq_open_mapped_file(pid, v);
	/* a build ID lost to a full descriptor table is an error, not none */
	if (out_of_files(fd))
		return fd;
	if (fd < 0)
		return 1;	/* not cached: the file may become readable later */
	if (vmaq_elf_build_id(fd, id, &size))
		size = 0;
	close(fd);

	pthread_mutex_lock(&c->lock);
	if (c->used * 2 >= c->nslots) {
		err = cache_grow(c);
		if (err)
			goto out;
	}
	e = cache_slot(c, v, &found);
	if (!found) {
		e->name = malloc(v->name_len + 1);
		if (!e->name) {
			err = -ENOMEM;
			goto out;
		}
		memcpy(e->name, v->name, v->name_len);
		e->name[v->name_len] = '\0';
		e->name_len = v->name_len;
		e->inode = v->inode;
		e->dev_major = v->dev_major;
		e->dev_minor = v->dev_minor;
		e->size = size;
		memcpy(e->id, id, size);
		c->used++;
	}
hit:
	if (e->size) {
		memcpy(rec->build_id, e->id, e->size);
		v->build_id = rec->build_id;
		v->build_id_size = e->size;
	}
out:
	pthread_mutex_unlock(&c->lock);
	return err;
}

void vmaq_bid_cache_init(struct vmaq_bid_cache *c)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
}

void vmaq_bid_cache_fini(struct vmaq_bid_cache *c)
{
	size_t i;

	for (i = 0; i < c->nslots; i++)
		free(c->slots[i].name);
	free(c->slots);
	c->slots = NULL;
	c->nslots = c->used = 0;
	pthread_mutex_destroy(&c->lock);
}
