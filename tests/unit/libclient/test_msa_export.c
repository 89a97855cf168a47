/* SPDX-License-Identifier: MIT */
/*
 * The MSA kernels reach engines through libasymcache alone: this suite links
 * only the shared library and runs KV write + attention on the CPU backend
 * over a pool whose blocks are out of order, against a float64 softmax.
 * It also holds the library's dynamic symbol table to its version script
 * and the version script to the two public headers, so a function cannot
 * be added to a header without being exported, nor leak out without being
 * declared.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* both public headers in one unit: an engine includes both */
#include <asymcache/asymcache.h>
#include <asymcache/msa.h>

#include "ac_config.h"

#define H 2		/* kv heads */
#define QH 4		/* query heads: GQA 2 */
#define D 8
#define T 8
#define NTOK 13		/* two blocks, the second partial */

static float rnd(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return (float)((*s >> 8) & 0xffff) / 65536.0f - 0.5f;
}

Test(msa_export, cpu_prefill_through_the_shared_library)
{
	struct ac_kv_pool pool = {
		.block_bytes = 0, .num_blocks = 4,
		.layout = { .num_layers = 1, .num_kv_heads = H, .head_dim = D,
			    .block_tokens = T, .dtype = AC_DTYPE_FP32 },
	};
	/* one segment covering the whole prompt; blocks 3 then 1 */
	int32_t seg_indptr[2] = { 0, NTOK }, seg_seq[1] = { 0 },
		seg_pos[1] = { 0 }, table_indptr[2] = { 0, 2 },
		block_ids[2] = { 3, 1 }, ctx_len[1] = { NTOK };
	struct ac_msa_batch b = {
		.num_segs = 1, .num_seqs = 1, .seg_indptr = seg_indptr,
		.seg_seq = seg_seq, .seg_pos = seg_pos,
		.table_indptr = table_indptr, .block_ids = block_ids,
		.ctx_len = ctx_len,
	};
	static float q[NTOK][QH][D], k[NTOK][H][D], v[NTOK][H][D],
		out[NTOK][QH][D];
	struct ac_msa_plan *plan = NULL;
	unsigned seed = 7;
	float scale = 1.0f / sqrtf(D);
	void *ws;
	size_t wsz;

	for (int i = 0; i < NTOK * QH * D; i++)
		((float *)q)[i] = rnd(&seed);
	for (int i = 0; i < NTOK * H * D; i++) {
		((float *)k)[i] = rnd(&seed);
		((float *)v)[i] = rnd(&seed);
	}
	pool.block_bytes = ac_kv_block_bytes(&pool.layout);
	cr_assert_eq(pool.block_bytes, 2ull * H * T * D * sizeof(float));
	pool.base = calloc(pool.num_blocks, pool.block_bytes);
	cr_assert_not_null(pool.base);
	cr_assert_eq(ac_msa_plan_create(AC_MSA_BACKEND_CPU, &pool, QH, &b, 0,
					&plan), 0);
	cr_assert_eq(ac_msa_plan_total_q(plan), NTOK);
	wsz = ac_msa_plan_workspace_size(plan);
	ws = aligned_alloc(16, (wsz + 15) / 16 * 16 + 16);
	cr_assert_eq(ac_msa_plan_upload(plan, ws, wsz, NULL), 0);
	cr_assert_eq(ac_kv_write(plan, &pool, &b, 0, k, v, NULL), 0);
	memset(out, 0xff, sizeof(out));	/* NaN poison */
	cr_assert_eq(ac_msa_run(plan, &pool, &b, 0, scale, q, out, ws, wsz,
				NULL), 0);

	/* K of token 9 (block 1 of the table = pool block 1, row 1), head 1 */
	{
		const float *blk = (const float *)((char *)pool.base +
						   1 * pool.block_bytes);
		cr_assert_eq(blk[((0 * 2 + 0) * H + 1) * T * D + 1 * D + 3],
			     k[9][1][3]);
	}
	for (int p = 0; p < NTOK; p++) {
		for (int qh = 0; qh < QH; qh++) {
			int kh = qh / (QH / H);
			double s[NTOK], m = -INFINITY, z = 0;

			for (int j = 0; j <= p; j++) {
				s[j] = 0;
				for (int d = 0; d < D; d++)
					s[j] += (double)q[p][qh][d] * k[j][kh][d];
				s[j] *= scale;
				m = fmax(m, s[j]);
			}
			for (int j = 0; j <= p; j++)
				z += exp(s[j] - m);
			for (int d = 0; d < D; d++) {
				double o = 0;

				for (int j = 0; j <= p; j++)
					o += exp(s[j] - m) / z * v[j][kh][d];
				cr_assert_float_eq(out[p][qh][d], o, 1e-5,
						   "row %d head %d dim %d: %f vs %f",
						   p, qh, d, out[p][qh][d], o);
			}
		}
	}
	/* a block id past the pool is refused before anything is touched */
	block_ids[1] = 4;
	cr_assert_eq(ac_msa_plan_create(AC_MSA_BACKEND_CPU, &pool, QH, &b, 0,
					&(struct ac_msa_plan *){ NULL }), -EINVAL);
	ac_msa_plan_free(plan);
	free(ws);
	free(pool.base);
}

/* ---- exported symbols, version script and headers agree ---------------- */

#define MAX_NAMES 256

struct names {
	char *v[MAX_NAMES];
	size_t n;
};

static void names_add(struct names *s, const char *name, size_t len,
		      const char *from)
{
	for (size_t i = 0; i < s->n; i++)
		if (strlen(s->v[i]) == len && !strncmp(s->v[i], name, len))
			return;
	cr_assert_lt(s->n, MAX_NAMES, "%s: more than %d names", from,
		     MAX_NAMES);
	s->v[s->n] = strndup(name, len);
	cr_assert_not_null(s->v[s->n]);
	s->n++;
}

static bool names_has(const struct names *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i], name))
			return true;
	return false;
}

static void names_free(struct names *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	s->n = 0;
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long len;

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	cr_assert_geq(len, 0);
	rewind(f);
	buf = malloc((size_t)len + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)len, f), (size_t)len, "%s: short read",
		     path);
	buf[len] = '\0';
	fclose(f);
	return buf;
}

/* Blanks C comments, and preprocessor lines too when @cpp is set. */
static void blank_comments(char *s, bool cpp)
{
	bool line_start = true;

	for (char *p = s; *p; p++) {
		if (p[0] == '/' && p[1] == '*') {
			char *e = strstr(p + 2, "*/");

			e = e ? e + 2 : p + strlen(p);
			for (; p < e; p++)
				if (*p != '\n')
					*p = ' ';
			p--;
		} else if (p[0] == '/' && p[1] == '/') {
			for (; *p && *p != '\n'; p++)
				*p = ' ';
			p--;
		} else if (cpp && line_start &&
			   !strncmp(p, "#ifdef __cplusplus", 18)) {
			/* extern "C" { ... }: not a scope of the C API. */
			char *e = strstr(p, "#endif");

			e = e ? e + 6 : p + strlen(p);
			for (; p < e; p++)
				if (*p != '\n')
					*p = ' ';
			p--;
		} else if (cpp && line_start && *p == '#') {
			/* A directive runs on over backslash-newlines. */
			for (; *p && !(*p == '\n' && p[-1] != '\\'); p++)
				*p = ' ';
			p--;
		} else if (*p == '\n') {
			line_start = true;
		} else if (!isspace((unsigned char)*p)) {
			line_start = false;
		}
	}
}

static const char *source_root(void)
{
	const char *root = getenv("AC_SOURCE_ROOT");

	cr_assert_not_null(root, "AC_SOURCE_ROOT is unset: run through meson test");
	return root;
}

/* The names between "global:" and "local:" of the version script. */
static void map_names(struct names *out, const char *path)
{
	char *text = read_text(path), *p, *end;

	blank_comments(text, false);
	p = strstr(text, "global:");
	cr_assert_not_null(p, "%s: no global: section", path);
	p += strlen("global:");
	end = strstr(p, "local:");
	cr_assert_not_null(end, "%s: no local: section", path);
	while (p < end) {
		size_t len;

		while (p < end && (isspace((unsigned char)*p) || *p == ';'))
			p++;
		len = strspn(p, "abcdefghijklmnopqrstuvwxyz"
				"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
		if (p >= end)
			break;
		cr_assert_gt(len, 0, "%s: not a plain symbol name near \"%.20s\"",
			     path, p);
		cr_assert_eq(p[len], ';', "%s: \"%.*s\" is not followed by ';'",
			     path, (int)len, p);
		names_add(out, p, len, path);
		p += len;
	}
	free(text);
}

/*
 * Functions the header declares at file scope: an ac_ identifier followed
 * by '(' outside every brace and parenthesis (struct members, parameters
 * and function-pointer types are inside one).
 */
static void header_functions(struct names *out, const char *path)
{
	char *text = read_text(path);
	int depth = 0;

	blank_comments(text, true);
	for (char *p = text; *p; p++) {
		if (*p == '{' || *p == '(') {
			depth++;
		} else if (*p == '}' || *p == ')') {
			depth--;
		} else if (depth == 0 && !strncmp(p, "ac_", 3) &&
			   (p == text || !(isalnum((unsigned char)p[-1]) || p[-1] == '_'))) {
			size_t len = strspn(p, "abcdefghijklmnopqrstuvwxyz"
					       "0123456789_");
			char *q = p + len;

			while (isspace((unsigned char)*q))
				q++;
			if (*q == '(')
				names_add(out, p, len, path);
			p += len - 1;
		}
	}
	cr_assert_eq(depth, 0, "%s: unbalanced braces", path);
	free(text);
}

/* Defined, global or weak, non-absolute dynamic symbols of an ELF file. */
static void exported_symbols(struct names *out, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	const unsigned char *img;
	const Elf64_Ehdr *eh;
	const Elf64_Shdr *sh;

	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(fstat(fd, &st), 0);
	img = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	cr_assert_neq(img, MAP_FAILED, "%s: %s", path, strerror(errno));
	close(fd);
	eh = (const Elf64_Ehdr *)img;
	cr_assert_eq(memcmp(eh->e_ident, ELFMAG, SELFMAG), 0, "%s: not ELF", path);
	cr_assert_eq(eh->e_ident[EI_CLASS], ELFCLASS64, "%s: not ELF64", path);
	cr_assert_leq(eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(*sh),
		      (uint64_t)st.st_size, "%s: section headers out of file", path);
	sh = (const Elf64_Shdr *)(img + eh->e_shoff);
	for (unsigned i = 0; i < eh->e_shnum; i++) {
		const Elf64_Sym *sym;
		const char *str;
		size_t n;

		if (sh[i].sh_type != SHT_DYNSYM)
			continue;
		cr_assert_lt(sh[i].sh_link, eh->e_shnum);
		sym = (const Elf64_Sym *)(img + sh[i].sh_offset);
		str = (const char *)img + sh[sh[i].sh_link].sh_offset;
		n = sh[i].sh_size / sizeof(*sym);
		for (size_t k = 1; k < n; k++) {
			unsigned bind = ELF64_ST_BIND(sym[k].st_info);

			if (sym[k].st_shndx == SHN_UNDEF ||
			    sym[k].st_shndx == SHN_ABS)
				continue;
			if (bind != STB_GLOBAL && bind != STB_WEAK)
				continue;
			names_add(out, str + sym[k].st_name,
				  strlen(str + sym[k].st_name), path);
		}
	}
	munmap((void *)img, (size_t)st.st_size);
}

static const char *const public_headers[] = {
	"libclient/include/asymcache/asymcache.h",
	"kernels/include/asymcache/msa.h",
};

Test(msa_export, dynamic_symbols_are_the_version_script)
{
	struct names exp = { 0 }, map = { 0 };
	char path[4096];
	Dl_info info;

	cr_assert_neq(dladdr((void *)ac_msa_run, &info), 0);
	cr_assert_not_null(strstr(info.dli_fname, "libasymcache.so"),
			   "ac_msa_run comes from %s", info.dli_fname);
	exported_symbols(&exp, info.dli_fname);
	snprintf(path, sizeof(path), "%s/libclient/libasymcache.map",
		 source_root());
	map_names(&map, path);
	cr_assert_gt(map.n, 0);
	for (size_t i = 0; i < exp.n; i++)
		cr_expect(names_has(&map, exp.v[i]),
			  "%s exports %s, which the version script does not list",
			  info.dli_fname, exp.v[i]);
	for (size_t i = 0; i < map.n; i++)
		cr_expect(names_has(&exp, map.v[i]),
			  "the version script lists %s, which %s does not define",
			  map.v[i], info.dli_fname);
	names_free(&exp);
	names_free(&map);
}

Test(msa_export, version_script_is_the_public_headers)
{
	struct names hdr = { 0 }, map = { 0 };
	char path[4096];

	for (size_t i = 0; i < sizeof(public_headers) / sizeof(*public_headers); i++) {
		size_t before = hdr.n;

		snprintf(path, sizeof(path), "%s/%s", source_root(),
			 public_headers[i]);
		header_functions(&hdr, path);
		cr_assert_gt(hdr.n, before, "%s: no function found", path);
	}
	/* The parser must see what the suite above calls. */
	cr_assert(names_has(&hdr, "ac_msa_plan_create"));
	cr_assert(names_has(&hdr, "ac_connect"));
	snprintf(path, sizeof(path), "%s/libclient/libasymcache.map",
		 source_root());
	map_names(&map, path);
	for (size_t i = 0; i < hdr.n; i++)
		cr_expect(names_has(&map, hdr.v[i]),
			  "%s is declared in a public header but not listed in "
			  "libclient/libasymcache.map", hdr.v[i]);
	for (size_t i = 0; i < map.n; i++)
		cr_expect(names_has(&hdr, map.v[i]),
			  "libclient/libasymcache.map lists %s, which no public "
			  "header declares", map.v[i]);
	names_free(&hdr);
	names_free(&map);
}


/* The library says which version it is: the one this tree builds. */
Test(msa_export, version_is_the_builds)
{
	cr_expect_str_eq(ac_version(), AC_VERSION);
	cr_expect_eq(ac_version(), ac_version(), "one string, not a fresh one a call");
}
