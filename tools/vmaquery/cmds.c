// SPDX-License-Identifier: GPL-2.0
/*
 * The subcommands. Each one builds its whole answer for a process in
 * memory and prints it only once it is complete, so a process that exits
 * halfway leaves an error on stderr and nothing misleading on stdout.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "vmaquery.h"

enum { OPT_BACKEND = 0x100, OPT_JSON, OPT_FILTER, OPT_FIELDS, OPT_NO_NAMES,
       OPT_BUILD_ID, OPT_HELP };

#define COMMON_OPTS \
	{ "backend", required_argument, NULL, OPT_BACKEND }, \
	{ "help", no_argument, NULL, OPT_HELP }

/* Handle an option every subcommand has; -1 if it is not one of them. */
static int common_opt(struct tool *t, int c, const char *help)
{
	switch (c) {
	case OPT_BACKEND:
		if (parse_backend(optarg, &t->backend))
			return tool_usage(t, "unknown backend '%s'", optarg);
		return 0;
	case OPT_HELP:
		fputs(help, stdout);
		return -2;
	default:
		return tool_usage(t, "invalid option");
	}
}

/* Output for one process goes here first. */
struct buf {
	char *data;
	size_t len;
	FILE *f;
};

static int buf_open(struct buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->f = open_memstream(&b->data, &b->len);
	return b->f ? 0 : -errno;
}

static void buf_emit(struct buf *b, bool keep)
{
	fclose(b->f);
	if (keep)
		fwrite(b->data, 1, b->len, stdout);
	free(b->data);
}

/* ------------------------------------------------------------- maps */

static const char maps_help[] =
"Usage: vmaquery maps [OPTIONS] PID...\n"
"Print the memory map of each process. By default the output is the same,\n"
"byte for byte, as /proc/PID/maps.\n\n"
"  --json              one JSON object per VMA and line\n"
"  --filter=LIST       only VMAs with all of: r, w, x, s, file, anon\n"
"  --fields=LIST       columns, in order: start,end,size,perms,offset,dev,\n"
"                      inode,name,build_id (text output: space separated)\n"
"  --no-names          do not ask for names\n"
"  --build-id          add each file's ELF build ID\n"
"  --backend=B         batch, query or text (default: best available)\n";

enum field { F_START, F_END, F_SIZE, F_PERMS, F_OFFSET, F_DEV, F_INODE,
	     F_NAME, F_BUILD_ID, F_MAX };
static const char *const field_names[F_MAX] = {
	"start", "end", "size", "perms", "offset", "dev", "inode", "name",
	"build_id",
};

static int parse_list(struct tool *t, char *s, bool fields, unsigned int *flags,
		      enum field *order, int *norder)
{
	char *tok, *save = NULL;
	int i;

	for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!fields) {
			if (!strcmp(tok, "r"))
				*flags |= VMAQ_READ;
			else if (!strcmp(tok, "w"))
				*flags |= VMAQ_WRITE;
			else if (!strcmp(tok, "x"))
				*flags |= VMAQ_EXEC;
			else if (!strcmp(tok, "s"))
				*flags |= VMAQ_SHARED;
			else if (!strcmp(tok, "file"))
				*flags |= VMAQ_FILE;
			else if (!strcmp(tok, "anon"))
				*flags |= VMAQ_ANON;
			else
				return tool_usage(t, "unknown filter '%s'", tok);
			continue;
		}
		for (i = 0; i < F_MAX; i++)
			if (!strcmp(tok, field_names[i]))
				break;
		if (i == F_MAX)
			return tool_usage(t, "unknown field '%s'", tok);
		if (*norder == F_MAX)
			return tool_usage(t, "too many fields");
		order[(*norder)++] = (enum field)i;
	}
	if (!fields && (*flags & VMAQ_FILE) && (*flags & VMAQ_ANON))
		return tool_usage(t, "filters 'file' and 'anon' exclude each other");
	if (fields && !*norder)
		return tool_usage(t, "empty field list");
	return 0;
}

static void put_field(FILE *f, const struct vmaq_vma *v, enum field k, bool json)
{
	char perms[5];

	switch (k) {
	case F_START:
		fprintf(f, json ? "\"0x%" PRIx64 "\"" : "%" PRIx64, v->start);
		break;
	case F_END:
		fprintf(f, json ? "\"0x%" PRIx64 "\"" : "%" PRIx64, v->end);
		break;
	case F_SIZE:
		fprintf(f, "%" PRIu64, v->end - v->start);
		break;
	case F_PERMS:
		perms_str(v, perms);
		fprintf(f, json ? "\"%s\"" : "%s", perms);
		break;
	case F_OFFSET:
		fprintf(f, json ? "\"0x%" PRIx64 "\"" : "%08" PRIx64, v->offset);
		break;
	case F_DEV:
		fprintf(f, json ? "\"%02x:%02x\"" : "%02x:%02x", v->dev_major,
			v->dev_minor);
		break;
	case F_INODE:
		fprintf(f, "%" PRIu64, v->inode);
		break;
	case F_NAME:
		if (json)
			json_str(f, v->name);
		else
			fputs(v->name ? v->name : "-", f);
		break;
	case F_BUILD_ID:
		if (json)
			json_build_id(f, v);
		else if (v->build_id_size)
			hex_build_id(f, v);
		else
			fputc('-', f);
		break;
	case F_MAX:
		break;
	}
}

/* One walk of p into b->f; -EAGAIN if the map changed under it. */
static int maps_walk(struct vmaq_proc *p, pid_t pid, unsigned int flags,
		     bool json, const enum field *order, int norder,
		     struct buf *b)
{
	struct vmaq_iter *it;
	const struct vmaq_vma *v;
	int err, i;

	err = vmaq_iter_new(p, flags, &it);
	if (err)
		return err;
	while ((err = vmaq_iter_next(it, &v)) > 0) {
		if (json) {
			fprintf(b->f, "{\"pid\":%d", (int)pid);
			for (i = 0; i < norder; i++) {
				fprintf(b->f, ",\"%s\":", field_names[order[i]]);
				put_field(b->f, v, order[i], true);
			}
			fputs("}\n", b->f);
		} else if (norder) {
			for (i = 0; i < norder; i++) {
				if (i)
					fputc(' ', b->f);
				put_field(b->f, v, order[i], false);
			}
			fputc('\n', b->f);
		} else {
			char line[512], *big;
			int n = vmaq_format(v, line, sizeof(line));

			if (n < (int)sizeof(line)) {
				fwrite(line, 1, (size_t)n, b->f);
				continue;
			}
			/* a long path, or one whose newlines print as \012 */
			big = malloc((size_t)n + 1);
			if (!big) {
				err = -ENOMEM;
				break;
			}
			vmaq_format(v, big, (size_t)n + 1);
			fwrite(big, 1, (size_t)n, b->f);
			free(big);
		}
	}
	vmaq_iter_free(it);
	return err;
}

/* walks of a map that keeps changing under them, before giving up */
#define MAPS_TRIES 8

static int maps_one(struct tool *t, pid_t pid, unsigned int flags, bool json,
		    const enum field *order, int norder, bool header)
{
	struct vmaq_proc *p;
	struct buf b;
	int err, tries = 0;

	err = tool_open(t, pid, &p);
	if (err)
		return err;
	for (;;) {
		err = buf_open(&b);
		if (err)
			break;
		if (header)
			fprintf(b.f, "==> %d <==\n", (int)pid);
		err = maps_walk(p, pid, flags, json, order, norder, &b);
		/* a record overlapped the one before it: walk again */
		if (err != -EAGAIN || ++tries == MAPS_TRIES)
			break;
		buf_emit(&b, false);
	}
	if (err < 0)
		report_errno(t, pid, -err);
	if (b.f)
		buf_emit(&b, err == 0);
	vmaq_close(p);
	return err;
}

int cmd_maps(struct tool *t, int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_OPTS,
		{ "json", no_argument, NULL, OPT_JSON },
		{ "filter", required_argument, NULL, OPT_FILTER },
		{ "fields", required_argument, NULL, OPT_FIELDS },
		{ "no-names", no_argument, NULL, OPT_NO_NAMES },
		{ "build-id", no_argument, NULL, OPT_BUILD_ID },
		{ NULL, 0, NULL, 0 },
	};
	enum field order[F_MAX];
	unsigned int flags = VMAQ_NAME;
	int c, i, norder = 0, failed = 0;
	bool json = false, names = true, bid = false;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int r = 0;

		switch (c) {
		case OPT_JSON:
			json = true;
			break;
		case OPT_FILTER:
			r = parse_list(t, optarg, false, &flags, order, &norder);
			break;
		case OPT_FIELDS:
			r = parse_list(t, optarg, true, &flags, order, &norder);
			break;
		case OPT_NO_NAMES:
			names = false;
			break;
		case OPT_BUILD_ID:
			bid = true;
			break;
		default:
			r = common_opt(t, c, maps_help);
			if (r == -2)
				return EXIT_OK;
		}
		if (r)
			return r;
	}
	if (optind >= argc)
		return tool_usage(t, "no PID given");
	for (i = optind; i < argc; i++) {
		pid_t pid;

		if (!parse_pid(argv[i], &pid))
			return tool_usage(t, "invalid pid '%s'", argv[i]);
	}
	if (!names)
		flags &= ~VMAQ_NAME;
	if (bid)
		flags |= VMAQ_BUILD_ID;
	if (!norder && (json || bid)) {
		for (i = 0; i < F_MAX; i++)
			if ((i != F_NAME || names) && (i != F_BUILD_ID || bid))
				order[norder++] = (enum field)i;
	}
	for (i = optind; i < argc; i++) {
		pid_t pid;

		parse_pid(argv[i], &pid);
		if (maps_one(t, pid, flags, json, order, norder,
			     !json && argc - optind > 1))
			failed = 1;
	}
	return failed ? EXIT_RUNTIME : EXIT_OK;
}

/* ------------------------------------------------------------- find */

static const char find_help[] =
"Usage: vmaquery find [OPTIONS] PID [ADDR...]\n"
"For each address (hexadecimal, 0x optional; read from standard input, one\n"
"per line, when none is given or ADDR is -), print the VMA that covers it,\n"
"the file offset it corresponds to, the path and build ID, or 'unmapped'.\n"
"All addresses are resolved in one batched query.\n\n"
"  --json              one JSON object per address and line\n"
"  --build-id          add the ELF build ID of each file\n"
"  --backend=B         batch, query or text (default: best available)\n";

struct addrs {
	uint64_t *v;
	size_t n, cap;
};

static int addrs_push(struct addrs *a, uint64_t x)
{
	if (a->n == a->cap) {
		size_t ncap = a->cap ? a->cap * 2 : 256;
		uint64_t *nv = realloc(a->v, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		a->v = nv;
		a->cap = ncap;
	}
	a->v[a->n++] = x;
	return 0;
}

static int read_stdin_addrs(struct tool *t, struct addrs *a)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned long lineno = 0;
	uint64_t x;
	int ret = 0;

	while ((n = getline(&line, &cap, stdin)) >= 0) {
		char *s = line, *e;

		lineno++;
		while (*s == ' ' || *s == '\t')
			s++;
		e = s + strlen(s);
		while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' ||
				 e[-1] == '\t'))
			*--e = '\0';
		if (!*s)
			continue;
		if (!parse_addr(s, &x)) {
			ret = tool_usage(t, "line %lu: invalid address '%.40s'",
					 lineno, s);
			break;
		}
		if (addrs_push(a, x)) {
			tool_err(t, "out of memory");
			ret = EXIT_RUNTIME;
			break;
		}
	}
	free(line);
	return ret;
}

int cmd_find(struct tool *t, int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_OPTS,
		{ "json", no_argument, NULL, OPT_JSON },
		{ "build-id", no_argument, NULL, OPT_BUILD_ID },
		{ NULL, 0, NULL, 0 },
	};
	struct addrs a = { 0 };
	struct vmaq_proc *p = NULL;
	struct vmaq_lookup *l = NULL;
	unsigned int flags = VMAQ_NAME;
	bool json = false, from_stdin;
	struct buf b;
	pid_t pid;
	size_t k;
	int c, i, err, ret = EXIT_OK;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == OPT_JSON) {
			json = true;
		} else if (c == OPT_BUILD_ID) {
			flags |= VMAQ_BUILD_ID;
		} else {
			int r = common_opt(t, c, find_help);

			if (r)
				return r == -2 ? EXIT_OK : r;
		}
	}
	if (optind >= argc)
		return tool_usage(t, "no PID given");
	if (!parse_pid(argv[optind], &pid))
		return tool_usage(t, "invalid pid '%s'", argv[optind]);
	from_stdin = optind + 1 == argc;
	for (i = optind + 1; i < argc; i++) {
		uint64_t x;

		if (!strcmp(argv[i], "-")) {
			from_stdin = true;
			continue;
		}
		if (!parse_addr(argv[i], &x)) {
			free(a.v);
			return tool_usage(t, "invalid address '%s'", argv[i]);
		}
		if (addrs_push(&a, x)) {
			free(a.v);
			tool_err(t, "out of memory");
			return EXIT_RUNTIME;
		}
	}
	if (from_stdin) {
		ret = read_stdin_addrs(t, &a);
		if (ret)
			goto out;
	}
	if (tool_open(t, pid, &p)) {
		ret = EXIT_RUNTIME;
		goto out;
	}
	err = vmaq_lookup(p, a.v, a.n, flags, &l);
	if (err || (err = buf_open(&b))) {
		report_errno(t, pid, -err);
		ret = EXIT_RUNTIME;
		goto out;
	}
	for (k = 0; k < a.n; k++) {
		const struct vmaq_vma *v = vmaq_lookup_vma(l, k);
		char perms[5];

		if (!v) {
			if (json)
				fprintf(b.f, "{\"addr\":\"0x%" PRIx64 "\",\"mapped\":false}\n",
					a.v[k]);
			else
				fprintf(b.f, "0x%" PRIx64 " unmapped\n", a.v[k]);
			continue;
		}
		perms_str(v, perms);
		if (json) {
			fprintf(b.f, "{\"addr\":\"0x%" PRIx64 "\",\"mapped\":true,"
				"\"start\":\"0x%" PRIx64 "\",\"end\":\"0x%" PRIx64 "\","
				"\"perms\":\"%s\",\"file_offset\":\"0x%" PRIx64 "\",\"name\":",
				a.v[k], v->start, v->end, perms,
				vmaq_vma_file_offset(v, a.v[k]));
			json_str(b.f, v->name);
			if (flags & VMAQ_BUILD_ID) {
				fputs(",\"build_id\":", b.f);
				json_build_id(b.f, v);
			}
			fputs("}\n", b.f);
		} else {
			fprintf(b.f, "0x%" PRIx64 " %" PRIx64 "-%" PRIx64 " %s 0x%" PRIx64 " %s",
				a.v[k], v->start, v->end, perms,
				vmaq_vma_file_offset(v, a.v[k]),
				v->name ? v->name : "-");
			if (flags & VMAQ_BUILD_ID) {
				fputc(' ', b.f);
				if (v->build_id_size)
					hex_build_id(b.f, v);
				else
					fputc('-', b.f);
			}
			fputc('\n', b.f);
		}
	}
	buf_emit(&b, true);
out:
	vmaq_lookup_free(l);
	vmaq_close(p);
	free(a.v);
	return ret;
}

/* ------------------------------------------------------------- pmap */

static const char pmap_help[] =
"Usage: vmaquery pmap [OPTIONS] PID\n"
"Summary of a process's mappings, in the style of pmap -d: one line per\n"
"VMA with its size in KiB, then the mapped, writable-private and shared\n"
"totals.\n\n"
"  --backend=B         batch, query or text (default: best available)\n";

int cmd_pmap(struct tool *t, int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_OPTS,
		{ NULL, 0, NULL, 0 },
	};
	uint64_t mapped = 0, wpriv = 0, shared = 0;
	struct vmaq_proc *p;
	struct vmaq_iter *it;
	const struct vmaq_vma *v;
	struct buf b;
	pid_t pid;
	int c, err;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int r = common_opt(t, c, pmap_help);

		if (r)
			return r == -2 ? EXIT_OK : r;
	}
	if (optind + 1 != argc)
		return tool_usage(t, optind >= argc ? "no PID given" : "one PID only");
	if (!parse_pid(argv[optind], &pid))
		return tool_usage(t, "invalid pid '%s'", argv[optind]);
	if (tool_open(t, pid, &p))
		return EXIT_RUNTIME;
	err = vmaq_iter_new(p, VMAQ_NAME, &it);
	if (err || (err = buf_open(&b))) {
		report_errno(t, pid, -err);
		vmaq_close(p);
		return EXIT_RUNTIME;
	}
	fprintf(b.f, "%d:\n", (int)pid);
	fprintf(b.f, "%-16s %8s %-5s %-16s %-9s %s\n", "Address", "Kbytes",
		"Mode", "Offset", "Device", "Mapping");
	while ((err = vmaq_iter_next(it, &v)) > 0) {
		uint64_t kb = (v->end - v->start) / 1024;
		const char *name = v->name ? v->name : "[ anon ]";
		const char *base = name[0] == '/' ? strrchr(name, '/') + 1 : name;
		char perms[5];

		perms_str(v, perms);
		mapped += kb;
		if (v->flags & VMAQ_SHARED)
			shared += kb;
		else if (v->flags & VMAQ_WRITE)
			wpriv += kb;
		fprintf(b.f, "%016" PRIx64 " %8" PRIu64 " %-5s %016" PRIx64 " %03x:%05x %s\n",
			v->start, kb, perms, v->offset, v->dev_major,
			v->dev_minor, base);
	}
	if (!err)
		fprintf(b.f, "mapped: %" PRIu64 "K    writeable/private: %" PRIu64
			"K    shared: %" PRIu64 "K\n", mapped, wpriv, shared);
	else
		report_errno(t, pid, -err);
	buf_emit(&b, err == 0);
	vmaq_iter_free(it);
	vmaq_close(p);
	return err ? EXIT_RUNTIME : EXIT_OK;
}

/* ------------------------------------------------------------- info */

static const char info_help[] =
"Usage: vmaquery info [OPTIONS]\n"
"What the running kernel offers (batch ioctl, PROCMAP_QUERY, text only),\n"
"whether it has an address-space generation, and which backend would be\n"
"used (after --backend and VMAQ_BACKEND).\n\n"
"  --json              as one JSON object\n"
"  --backend=B         batch, query or text\n";

int cmd_info(struct tool *t, int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_OPTS,
		{ "json", no_argument, NULL, OPT_JSON },
		{ NULL, 0, NULL, 0 },
	};
	static const enum vmaq_backend order[] = {
		VMAQ_BACKEND_BATCH, VMAQ_BACKEND_QUERY, VMAQ_BACKEND_TEXT,
	};
	struct vmaq_proc *p;
	unsigned int mask;
	bool json = false, has_gen;
	const char *used;
	size_t i;
	int c, err;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == OPT_JSON) {
			json = true;
		} else {
			int r = common_opt(t, c, info_help);

			if (r)
				return r == -2 ? EXIT_OK : r;
		}
	}
	if (optind != argc)
		return tool_usage(t, "no arguments expected");
	err = vmaq_kernel_backends(&mask);
	if (err) {
		tool_err(t, "cannot probe the kernel: %s", strerror(-err));
		return EXIT_RUNTIME;
	}
	if (tool_open(t, 0, &p))
		return EXIT_RUNTIME;
	used = vmaq_backend_name(vmaq_backend(p));
	vmaq_close(p);
	if (json)
		printf("{\"backends\":{");
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		bool has = mask & (1u << order[i]);

		if (json)
			printf("%s\"%s\":%s", i ? "," : "",
			       vmaq_backend_name(order[i]), has ? "true" : "false");
		else
			printf("%-11s %s\n", vmaq_backend_name(order[i]),
			       has ? "available" : "not offered by this kernel");
	}
	/* the generation comes with the batch ioctl */
	has_gen = mask & (1u << VMAQ_BACKEND_BATCH);
	if (json)
		printf("},\"generation\":%s,\"backend\":\"%s\"}\n",
		       has_gen ? "true" : "false", used);
	else
		printf("generation  %s\nbackend     %s\n",
		       has_gen ? "available" : "not offered by this kernel", used);
	return EXIT_OK;
}
