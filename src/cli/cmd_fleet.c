#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/control.h"
#include "cli/fleet.h"
#include "cli/progress.h"
#include "core/size.h"
#include "image/provision/fleet.h"
#include "image/provision/layered.h"
#include "image/provision/tree.h"

#define HEALTH_TIMEOUT_DEFAULT 300u
#define HEALTH_TIMEOUT_MAX     86400u

/*
 * What the running server (if any) last saw of client @name: "idle",
 * "dhcp", "tftp", "booted", "failed" into @out.
 * Return: 0, -ENOENT (no server on this state directory, or it does
 * not know the client), -errno.
 */
static int
server_state(const char *state, const char *name, char *out, size_t cap)
{
	char path[128];
	struct buf body;
	const char *p;
	int status = 0, r;

	snprintf(path, sizeof(path), "/api/clients/%s", name);
	buf_init(&body, 16u << 20);
	r = cli_control_request(state, "GET", path, &body, &status);
	if (r == -ECONNREFUSED) {
		r = -ENOENT;
	}
	if (r == 0 && status != 200) {
		r = -ENOENT;
	}
	p = r == 0 && body.p ? strstr((const char *)body.p, "\"state\":\"")
			     : NULL;
	if (r == 0 && !p) {
		r = -EBADMSG;
	}
	if (r == 0) {
		p += 9;
		snprintf(out, cap, "%.*s", (int)strcspn(p, "\""), p);
	}
	buf_fini(&body);
	return r;
}

static bool
state_active(const char *s)
{
	return !strcmp(s, "dhcp") || !strcmp(s, "tftp") || !strcmp(s, "booted");
}

/* --- client diff ------------------------------------------------------- */

int
cli_client_diff(const char *state, const char *name)
{
	struct prov_changes ch = {0};
	struct prov_cl c;
	struct prov_img im;
	size_t i, added = 0, modified = 0, deleted = 0;
	char msg[1024];
	int r;

	r = prov_cl_open(&c, state, name, false, msg, sizeof(msg));
	if (r == 0) {
		r = prov_cl_require_layered(&c, "diff", msg, sizeof(msg));
	}
	if (r < 0) {
		if (c.fd >= 0) {
			prov_cl_close(&c);
		}
		fprintf(stderr, "pinetboot client diff: %s\n", msg);
		return 1;
	}
	r = prov_img_open(&im, state, c.image, false, msg, sizeof(msg));
	if (r == 0) {
		r = prov_cl_changes(
		    &c, &im, c.next, NULL, &ch, msg, sizeof(msg));
		prov_img_close(&im);
	}
	if (r < 0) {
		fprintf(stderr, "pinetboot client diff: %s: %s\n", name, msg);
		prov_cl_close(&c);
		return 1;
	}
	printf("Client '%s': a %s root over version %u of image '%s'", name,
	    prov_root_mode_name(c.mode), c.version, c.image);
	if (c.next) {
		printf("; it moves to version %u at its next boot", c.next);
	}
	printf("\n");
	for (i = 0; i < ch.n; i++) {
		const struct prov_change *p = &ch.v[i];

		printf("%c %s%s%s", p->kind, p->path,
		    p->type == S_IFDIR && strcmp(p->path, "/") ? "/" : "",
		    p->identity ? "  (identity, as client add made it)" : "");
		if (p->conflict) {
			printf("  CONFLICT: version %u changed %s", c.next,
			    p->conflict);
		}
		printf("\n");
		if (!p->identity) {
			added += p->kind == 'A';
			modified += p->kind == 'M';
			deleted += p->kind == 'D';
		}
	}
	printf("%zu added, %zu modified, %zu deleted; %zu identity file%s",
	    added, modified, deleted, ch.identity, ch.identity == 1 ? "" : "s");
	if (c.next) {
		printf("; %zu conflict%s with version %u (the client's files "
		       "win at the move)",
		    ch.conflicts, ch.conflicts == 1 ? "" : "s", c.next);
	}
	printf("\n");
	prov_changes_fini(&ch);
	prov_cl_close(&c);
	return 0;
}

/* --- client reset ------------------------------------------------------- */

int
cli_client_reset(const char *state, const char *name, const char *const *keep,
    size_t nkeep, bool force)
{
	struct prov_reset_info info;
	char msg[1024], s[32], a[32];
	size_t i;
	int r;

	/*
	 * The server writes a mounted client's layer; a layer swapped under
	 * it would lose what it writes.  Its last state is all we know.
	 */
	if (!force && server_state(state, name, s, sizeof(s)) == 0 &&
	    state_active(s)) {
		fprintf(stderr,
		    "pinetboot client reset: %s: the running server last saw "
		    "this client %s (%s): it may have its root mounted, and "
		    "what it writes would be lost; power it off, then run "
		    "this again with --force\n",
		    name, s, !strcmp(s, "booted") ? "root mounted" : "booting");
		return 1;
	}
	r = prov_client_reset(
	    state, name, keep, nkeep, &info, msg, sizeof(msg));
	if (r < 0) {
		fprintf(stderr, "pinetboot client reset: %s: %s\n", name, msg);
		return 1;
	}
	printf("Reset client '%s': its layer over version %u holds its "
	       "identity files again",
	    name, info.version);
	for (i = 0; i < nkeep; i++) {
		printf("%s%s", i ? ", " : "; kept: ", keep[i]);
	}
	printf(" (%s on disk)\n", size_human(info.layer_bytes, a, sizeof(a)));
	return 0;
}

/* --- client promote ----------------------------------------------------- */

int
cli_client_promote(const char *state, const char *name, const char *image)
{
	struct prov_promote_info info;
	struct cli_progress p;
	char msg[1024], s[32], a[32];
	int r;

	if (server_state(state, name, s, sizeof(s)) == 0 && state_active(s)) {
		fprintf(stderr,
		    "pinetboot client promote: note: the running server last "
		    "saw '%s' %s: files it is writing now may be caught "
		    "half-way; shut it down first for a clean image\n",
		    name, s);
	}
	cli_progress_start(&p);
	r = prov_client_promote(
	    state, name, image, &p.prog, &info, msg, sizeof(msg));
	cli_progress_stop(&p);
	if (p.interrupted || r == -EINTR) {
		fprintf(stderr,
		    "pinetboot client promote: %s: interrupted; nothing was "
		    "left behind\n",
		    name);
		return 130;
	}
	if (r < 0) {
		fprintf(
		    stderr, "pinetboot client promote: %s: %s\n", name, msg);
		return 1;
	}
	printf("Promoted client '%s' to version %u of %s image '%s'\n", name,
	    info.version, info.new_image ? "the new" : "", image);
	printf("  %llu files linked from its version (no data copied), "
	       "%llu of its own copied (%s)\n",
	    (unsigned long long)info.links, (unsigned long long)info.copies,
	    size_human(info.copied_bytes, a, sizeof(a)));
	printf("  %llu identity files left as the version has them, so "
	       "clients added from '%s' get their own\n",
	    (unsigned long long)info.identity, image);
	printf("Next: pinetboot client add NAME --serial HEX8 --image "
	       "%s@%u\n",
	    image, info.version);
	return 0;
}

/* --- moves -------------------------------------------------------------- */

/* Print a client's conflicts with version @to; return how many. */
static size_t
print_conflicts(struct prov_cl *c, const struct prov_img *im, unsigned to,
    struct prov_vdiff **vcache, const char *cmd)
{
	struct prov_changes ch;
	char msg[1024];
	size_t i, own = 0;

	if (prov_cl_changes(c, im, to, vcache, &ch, msg, sizeof(msg)) < 0) {
		fprintf(stderr, "pinetboot %s: %s: %s\n", cmd, c->name, msg);
		return 0;
	}
	for (i = 0; i < ch.n; i++) {
		own += !ch.v[i].identity;
	}
	printf("  %s: %u -> %u, %zu change%s of its own, %zu conflict%s\n",
	    c->name, c->version, to, own, own == 1 ? "" : "s", ch.conflicts,
	    ch.conflicts == 1 ? "" : "s");
	for (i = 0; i < ch.n; i++) {
		if (ch.v[i].conflict) {
			printf("    %c %s  (version %u changed %s; the "
			       "client's stays)\n",
			    ch.v[i].kind, ch.v[i].path, to, ch.v[i].conflict);
		}
	}
	i = ch.conflicts;
	prov_changes_fini(&ch);
	return i;
}

int
cli_client_set(
    const char *state, char *const *names, size_t n, const char *image)
{
	char img[REC_NAME_MAX + 1], msg[1024];
	struct prov_vdiff *vcache = NULL;
	struct prov_img im;
	unsigned to;
	size_t i;
	int r, status = 0;

	if (prov_image_ref_parse(image, img, &to) < 0 || to == 0) {
		return cli_usage_error("client",
		    "set needs --image NAME@VERSION (see 'pinetboot image "
		    "versions NAME')");
	}
	r = prov_img_open(&im, state, img, false, msg, sizeof(msg));
	if (r < 0) {
		fprintf(stderr, "pinetboot client set: %s\n", msg);
		return 1;
	}
	/* Every client checked before any record changes. */
	for (i = 0; i < n && status == 0; i++) {
		struct prov_cl c;
		struct prov_version *v = malloc(sizeof(*v));

		r = v
		    ? prov_cl_open(&c, state, names[i], false, msg, sizeof(msg))
		    : -ENOMEM;
		if (r == 0) {
			r = prov_cl_require_layered(
			    &c, "set", msg, sizeof(msg));
			if (r == 0 && strcmp(c.image, img) != 0) {
				snprintf(msg, sizeof(msg),
				    "client '%s' uses image '%s': a move "
				    "changes its version, not its image",
				    c.name, c.image);
				r = -EINVAL;
			}
			prov_cl_close(&c);
		}
		if (r == 0) {
			r = prov_version_read(&im, to, v, msg, sizeof(msg));
			if (r == -ENOENT) {
				snprintf(msg, sizeof(msg),
				    "image '%s' has no version %u (see "
				    "'pinetboot image versions %s')",
				    img, to, img);
			}
		}
		free(v);
		if (r < 0) {
			fprintf(stderr, "pinetboot client set: %s\n", msg);
			status = 1;
		}
	}
	for (i = 0; i < n && status == 0; i++) {
		struct prov_move m = {.to = to};
		struct prov_cl c;
		unsigned from, was_next;

		r = prov_cl_open(&c, state, names[i], true, msg, sizeof(msg));
		if (r < 0) {
			fprintf(stderr, "pinetboot client set: %s\n", msg);
			status = 1;
			break;
		}
		from = c.version;
		was_next = c.next;
		if (to != from) {
			print_conflicts(&c, &im, to, &vcache, "client set");
		}
		r = prov_cl_move(&c, &im, &m, msg, sizeof(msg));
		if (r < 0) {
			fprintf(stderr, "pinetboot client set: %s: %s\n",
			    names[i], msg);
			status = 1;
		} else if (to == from) {
			printf("Client '%s' stays on version %u%s\n", names[i],
			    from,
			    was_next ? " (its pending move was cancelled)"
				     : "");
		} else {
			printf("Client '%s' moves from version %u to %u at its "
			       "next boot\n",
			    names[i], from, to);
		}
		prov_cl_close(&c);
	}
	prov_vdiff_fini(vcache);
	prov_img_close(&im);
	return status;
}

static int
parse_count(const char *s, unsigned long max, unsigned *out)
{
	char *end;
	unsigned long v;

	if (!s || !*s || *s == '-') {
		return -EINVAL;
	}
	v = strtoul(s, &end, 10);
	if (*end || v > max) {
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

int
cli_image_rollout(
    const char *state, const char *ref, const char *canary, const char *timeout)
{
	char img[REC_NAME_MAX + 1], msg[1024], id[REC_NAME_MAX + 48], when[32];
	struct prov_vdiff *vcache = NULL;
	struct prov_version *v = NULL;
	char **names = NULL, **movers = NULL;
	size_t n = 0, nmove = 0, i, conflicts = 0;
	unsigned to, k = 1, secs = HEALTH_TIMEOUT_DEFAULT;
	struct prov_img im;
	time_t now = time(NULL);
	struct tm tm;
	int r, status = 0;

	if (prov_image_ref_parse(ref, img, &to) < 0 || to == 0) {
		return cli_usage_error("image", "rollout needs NAME@VERSION");
	}
	if (canary && parse_count(canary, 1000000, &k) < 0) {
		return cli_usage_error(
		    "image", "--canary needs a number of clients (0 or more)");
	}
	if (timeout &&
	    (parse_count(timeout, HEALTH_TIMEOUT_MAX, &secs) < 0 ||
		secs == 0)) {
		return cli_usage_error("image",
		    "--health-timeout needs seconds, from 1 to %u",
		    HEALTH_TIMEOUT_MAX);
	}
	r = prov_img_open(&im, state, img, false, msg, sizeof(msg));
	if (r < 0) {
		fprintf(stderr, "pinetboot image rollout: %s\n", msg);
		return 1;
	}
	v = malloc(sizeof(*v));
	r = v ? prov_version_read(&im, to, v, msg, sizeof(msg)) : -ENOMEM;
	free(v);
	if (r < 0) {
		fprintf(stderr, "pinetboot image rollout: %s\n", msg);
		prov_img_close(&im);
		return 1;
	}
	r = prov_clients_of(state, img, &names, &n);
	movers = r == 0 ? calloc(n ? n : 1, sizeof(*movers)) : NULL;
	if (!movers) {
		fprintf(stderr, "pinetboot image rollout: out of memory\n");
		status = 1;
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct prov_cl c;

		if (prov_cl_open(&c, state, names[i], false, msg, sizeof(msg)) <
		    0) {
			fprintf(stderr, "pinetboot image rollout: %s\n", msg);
			continue;
		}
		if (c.mode == PROV_ROOT_COPY) {
			printf("  %s: a copy of its root (--root copy), not "
			       "moved\n",
			    c.name);
		} else if (c.version == to && !c.next) {
			printf("  %s: already on version %u\n", c.name, to);
		} else {
			movers[nmove++] = names[i];
		}
		prov_cl_close(&c);
	}
	if (nmove == 0) {
		fprintf(stderr,
		    "pinetboot image rollout: %s: no layered or volatile "
		    "client of image '%s' is to move to version %u%s\n",
		    ref, img, to, n == 0 ? " (no client uses the image)" : "");
		status = 1;
		goto out;
	}
	if (k > nmove) {
		fprintf(stderr,
		    "pinetboot image rollout: %s: --canary %u, but only %zu "
		    "client%s would move; give at most %zu\n",
		    ref, k, nmove, nmove == 1 ? "" : "s", nmove);
		status = 1;
		goto out;
	}
	/* What each client changed that the new version changed too. */
	printf("Conflicts (paths both the client and version %u changed; "
	       "the client's files stay):\n",
	    to);
	for (i = 0; i < nmove; i++) {
		struct prov_cl c;

		if (prov_cl_open(
			&c, state, movers[i], false, msg, sizeof(msg)) == 0) {
			conflicts += print_conflicts(
			    &c, &im, to, &vcache, "image rollout");
			prov_cl_close(&c);
		}
	}
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(id, sizeof(id), "%s@%u-%s", img, to, when);
	printf("Rollout %s: %zu client%s move to version %u (%zu "
	       "conflict%s): ",
	    id, nmove, nmove == 1 ? "" : "s", to, conflicts,
	    conflicts == 1 ? "" : "s");
	if (k == 0 || k == nmove) {
		printf("all at their next boot");
	} else {
		printf("canar%s ", k == 1 ? "y" : "ies");
		for (i = 0; i < k; i++) {
			printf("%s%s", i ? "," : "", movers[i]);
		}
		printf(" at their next boot, the other %zu once %s booted "
		       "within %u s",
		    nmove - k, k == 1 ? "it has" : "they have", secs);
	}
	printf("; a client not booted within %u s of its move goes back to "
	       "its previous version\n",
	    secs);
	for (i = 0; i < nmove; i++) {
		struct prov_move m = {
		    .to = to,
		    .rollout = id,
		    .canary = k == 0 || i < k,
		    .health_timeout = secs,
		};
		struct prov_cl c;

		r = prov_cl_open(&c, state, movers[i], true, msg, sizeof(msg));
		if (r == 0) {
			r = prov_cl_move(&c, &im, &m, msg, sizeof(msg));
			prov_cl_close(&c);
		}
		if (r < 0) {
			fprintf(stderr, "pinetboot image rollout: %s: %s\n",
			    movers[i], msg);
			status = 1;
		}
	}
out:
	free(movers);
	prov_names_free(names, n);
	prov_vdiff_fini(vcache);
	prov_img_close(&im);
	return status;
}

int
cli_image_rollback(const char *state, const char *image)
{
	char **names = NULL, msg[1024];
	struct prov_img im;
	size_t n = 0, i, moved = 0;
	int r, status = 0;

	r = prov_img_open(&im, state, image, false, msg, sizeof(msg));
	if (r < 0) {
		fprintf(stderr, "pinetboot image rollback: %s\n", msg);
		return 1;
	}
	r = prov_clients_of(state, image, &names, &n);
	if (r == 0 && n == 0) {
		fprintf(stderr,
		    "pinetboot image rollback: no client uses image '%s'\n",
		    image);
		status = 1;
	}
	for (i = 0; r == 0 && i < n; i++) {
		struct prov_move m = {.reason = "pinetboot image rollback"};
		struct prov_cl c;

		if (prov_cl_open(&c, state, names[i], true, msg, sizeof(msg)) <
		    0) {
			fprintf(stderr, "pinetboot image rollback: %s\n", msg);
			status = 1;
			continue;
		}
		if (c.mode == PROV_ROOT_COPY) {
			printf(
			    "  %s: a copy of its root, left alone\n", c.name);
		} else if (c.next) {
			/* Not moved yet: it stays where it is. */
			unsigned next = c.next;

			m.to = c.version;
			r = prov_cl_move(&c, &im, &m, msg, sizeof(msg));
			printf("  %s: stays on version %u (its move to %u is "
			       "cancelled)\n",
			    c.name, c.version, next);
			moved++;
		} else if (c.previous) {
			m.to = c.previous;
			printf("  %s: back from version %u to %u at its next "
			       "boot\n",
			    c.name, c.version, c.previous);
			r = prov_cl_move(&c, &im, &m, msg, sizeof(msg));
			moved++;
		} else {
			printf("  %s: on version %u, with no previous version "
			       "to go back to\n",
			    c.name, c.version);
		}
		if (r < 0) {
			fprintf(stderr, "pinetboot image rollback: %s: %s\n",
			    c.name, msg);
			status = 1;
			r = 0;
		}
		prov_cl_close(&c);
	}
	if (status == 0) {
		printf("Rollback of image '%s': %zu client%s change%s course\n",
		    image, moved, moved == 1 ? "" : "s", moved == 1 ? "s" : "");
	}
	prov_names_free(names, n);
	prov_img_close(&im);
	return status;
}

/* --- the fleet at a glance ---------------------------------------------- */

void
cli_rollout_note(const struct rec *rec)
{
	char st[32] = "", why[REC_MAX_VALUE + 1] = "";

	rec_get(rec, "rollout_state", st, sizeof(st));
	rec_get(rec, "rollback_reason", why, sizeof(why));
	if (!why[0]) {
		return;
	}
	if (!strcmp(st, "rolled-back")) {
		printf("    rolled back: %s\n", why);
	} else if (!strcmp(st, "halted")) {
		printf("    halted, not moved: %s\n", why);
	} else if (!strcmp(st, "failed")) {
		printf("    failed, goes back at its next boot: %s\n", why);
	}
}

void
cli_fleet_table(const char *state, const char *name)
{
	char dir[4096], msg[512];
	struct dirent *e;
	DIR *d;
	size_t n = 0;

	snprintf(dir, sizeof(dir), "%s/clients", state);
	d = opendir(dir);
	printf("%-20s %-8s %-28s %-6s %-6s %-9s %10s  %s\n", "CLIENT", "ROOT",
	    "IMAGE", "NEXT", "PREV", "ROLLOUT", "DISK", "STATE");
	while (d && (e = readdir(d)) != NULL) {
		char ref[REC_NAME_MAX + 16], next[16] = "-", prev[16] = "-";
		char role[16] = "-", size[32], rstate[32] = "";
		struct prov_cl c;

		if (e->d_name[0] == '.' || (name && strcmp(name, e->d_name)) ||
		    prov_cl_open(
			&c, state, e->d_name, false, msg, sizeof(msg)) < 0) {
			continue;
		}
		snprintf(ref, sizeof(ref), "%s@%u", c.image, c.version);
		if (c.next) {
			snprintf(next, sizeof(next), "%u", c.next);
		}
		if (c.previous) {
			snprintf(prev, sizeof(prev), "%u", c.previous);
		}
		rec_get(&c.rec, "rollout_role", role, sizeof(role));
		/* As client list: everything of the client's, each inode once.
		 */
		size_human(tree_du(c.fd), size, sizeof(size));
		rec_get(&c.rec, "rollout_state", rstate, sizeof(rstate));
		printf("%-20s %-8s %-28s %-6s %-6s %-9s %10s  %s\n", c.name,
		    prov_root_mode_name(c.mode), ref, next, prev, role, size,
		    rstate[0] ? rstate : "-");
		if (!name) {
			cli_rollout_note(&c.rec);
		}
		if (name) {
			static const char *const keys[] = {"rollout",
			    "rollout_state", "rollback_reason", "moved_at",
			    "move_requested", "health_timeout", "reset_at"};
			char v[REC_MAX_VALUE + 1];
			size_t k;

			for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
				if (rec_get(&c.rec, keys[k], v, sizeof(v)) &&
				    v[0]) {
					printf("  %-16s %s\n", keys[k], v);
				}
			}
		}
		prov_cl_close(&c);
		n++;
	}
	if (d) {
		closedir(d);
	}
	if (n == 0 && !name) {
		printf("(no clients; add one with 'pinetboot client add')\n");
	}
}
