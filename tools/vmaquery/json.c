// SPDX-License-Identifier: GPL-2.0
/*
 * JSON output, one convention for every command:
 *
 *   -j, --json      the whole output is one document: an array of objects
 *                   (info: one object), written as it is produced and
 *                   closed when the command ends;
 *   -p, --pretty    the same document, indented (implies -j);
 *   --json-lines    the streaming form: one compact object per line, each
 *                   flushed when written (JSON Lines), for co-processes and
 *                   for watch.
 *
 * Objects have the same keys for the same fields in every command.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include "vmaquery.h"

void jw_init(struct jw *w, FILE *f, bool pretty)
{
	memset(w, 0, sizeof(*w));
	w->f = f;
	w->pretty = pretty;
	w->first = true;
}

static void jw_indent(struct jw *w)
{
	fputc('\n', w->f);
	for (int i = 0; i < w->depth; i++)
		fputs("  ", w->f);
}

/* What goes before a value: nothing after a key, else a separator. */
static void jw_pre(struct jw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (!w->first)
		fputc(',', w->f);
	if (w->pretty && w->depth)
		jw_indent(w);
	w->first = false;
}

void jw_open(struct jw *w, char c)
{
	jw_pre(w);
	fputc(c, w->f);
	w->depth++;
	w->first = true;
}

void jw_close(struct jw *w, char c)
{
	w->depth--;
	if (w->pretty && !w->first)
		jw_indent(w);
	fputc(c, w->f);
	w->first = false;
}

void jw_key(struct jw *w, const char *k)
{
	jw_pre(w);
	fprintf(w->f, w->pretty ? "\"%s\": " : "\"%s\":", k);
	w->after_key = true;
}

void jw_str(struct jw *w, const char *s)
{
	jw_pre(w);
	json_str(w->f, s);
}

void jw_hex(struct jw *w, uint64_t v)
{
	jw_pre(w);
	fprintf(w->f, "\"0x%" PRIx64 "\"", v);
}

void jw_u64(struct jw *w, uint64_t v)
{
	jw_pre(w);
	fprintf(w->f, "%" PRIu64, v);
}

void jw_bool(struct jw *w, bool v)
{
	jw_pre(w);
	fputs(v ? "true" : "false", w->f);
}

void jw_printf(struct jw *w, const char *fmt, ...)
{
	va_list ap;

	jw_pre(w);
	va_start(ap, fmt);
	vfprintf(w->f, fmt, ap);
	va_end(ap);
}

void jw_build_id(struct jw *w, const struct vmaq_vma *v)
{
	jw_pre(w);
	json_build_id(w->f, v);
}

void jw_vma_field(struct jw *w, const struct vmaq_vma *v, enum vma_field k)
{
	char perms[5];

	jw_key(w, vma_field_names[k]);
	switch (k) {
	case F_START:
		jw_hex(w, v->start);
		break;
	case F_END:
		jw_hex(w, v->end);
		break;
	case F_SIZE:
		jw_u64(w, v->end - v->start);
		break;
	case F_PERMS:
		perms_str(v, perms);
		jw_printf(w, "\"%s\"", perms);
		break;
	case F_OFFSET:
		jw_hex(w, v->offset);
		break;
	case F_DEV:
		jw_printf(w, "\"%02x:%02x\"", v->dev_major, v->dev_minor);
		break;
	case F_INODE:
		jw_u64(w, v->inode);
		break;
	case F_NAME:
		jw_str(w, v->name);
		break;
	case F_BUILD_ID:
		jw_build_id(w, v);
		break;
	case F_MAX:
		break;
	}
}

void jw_vma(struct jw *w, const struct vmaq_vma *v, bool build_id)
{
	for (int k = 0; k < F_MAX; k++)
		if (k != F_BUILD_ID || build_id)
			jw_vma_field(w, v, (enum vma_field)k);
}

void jout_begin(struct jout *o, enum json_mode mode, bool pretty)
{
	o->mode = mode;
	jw_init(&o->w, stdout, pretty);
	if (mode == JSON_DOC)
		jw_open(&o->w, '[');
}

void jout_item(struct jout *o, FILE *f)
{
	o->w.f = f;
	jw_open(&o->w, '{');
}

void jout_item_end(struct jout *o)
{
	jw_close(&o->w, '}');
	if (o->mode == JSON_LINES) {
		fputc('\n', o->w.f);
		/* each line is an answer of its own */
		o->w.first = true;
	}
	o->w.f = stdout;
}

void jout_end(struct jout *o)
{
	if (o->mode != JSON_DOC)
		return;
	o->w.f = stdout;
	jw_close(&o->w, ']');
	fputc('\n', stdout);
}
