#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "proto/http/http.h"
#include "server/http.h"
#include "server/obs.h"
#include "t.h"

static const uint8_t mac_a[6] = {0xdc, 0xa6, 0x32, 0x01, 0x36, 0xc2};
static const uint8_t mac_b[6] = {0xb8, 0x27, 0xeb, 0x00, 0x00, 0x01};

static struct in_addr
ip4(const char *s)
{
	struct in_addr a;

	inet_pton(AF_INET, s, &a);
	return a;
}

/*
 * A flood of forged DISCOVERs makes thousands of strangers: each may keep
 * only a short timeline, while a provisioned client keeps its whole boot.
 */
TEST(obs_stranger_timeline_is_short)
{
	struct obs *o = obs_new(8, 1000);
	struct obs_client *s, *c;
	int i;

	CHECK(obs_provision(o, "pi4-a", mac_a, "9ffefdef", ip4("0.0.0.0")));
	s = obs_dhcp_seen(o, mac_b, "", "3B", 2000);
	c = obs_dhcp_seen(o, mac_a, "9ffefdef", "Pi 4", 2000);
	CHECK(s != NULL && c != NULL);
	for (i = 0; i < 100; i++) {
		obs_event(o, mac_b, ip4("0.0.0.0"), 2000 + i, OBS_DHCP, OBS_OK,
		    "discover", "n=%d", i);
		obs_event(o, mac_a, ip4("0.0.0.0"), 2000 + i, OBS_DHCP, OBS_OK,
		    "discover", "n=%d", i);
	}
	CHECK_EQ(s->nevents, OBS_STRANGER_EVENTS_MAX);
	CHECK(s->events_cap <= OBS_STRANGER_EVENTS_MAX);
	CHECK_STR(s->events[0].detail, "n=0");
	CHECK_STR(s->events[OBS_STRANGER_EVENTS_MAX - 1].detail, "n=99");
	CHECK_EQ(c->nevents, 100);
	CHECK_STR(c->events[99].detail, "n=99");
	obs_free(o);
}

TEST(obs_boot_timeline_dhcp_tftp_nfs)
{
	struct obs *o = obs_new(8, 1000);
	struct obs_client *c;
	struct buf b;

	CHECK(obs_provision(o, "pi4-a", mac_a, "9ffefdef", ip4("0.0.0.0")));
	c = obs_dhcp_seen(o, mac_a, "9ffefdef", "Pi 4", 10000);
	CHECK(c != NULL);
	CHECK_EQ(c->state, OBS_STATE_DHCP);
	obs_event(o, mac_a, ip4("0.0.0.0"), 10000, OBS_DHCP, OBS_OK, "discover",
	    "model=Pi 4");
	obs_bind_ip(o, mac_a, ip4("198.18.0.50"));
	/* TFTP knows only the address; the event must land on pi4-a. */
	obs_event(o, NULL, ip4("198.18.0.50"), 10500, OBS_TFTP, OBS_INFO,
	    "miss", "file=9ffefdef/recover4.elf");
	obs_event(o, NULL, ip4("198.18.0.50"), 11000, OBS_TFTP, OBS_OK, "file",
	    "file=kernel8.img bytes=100");
	CHECK_EQ(c->state, OBS_STATE_TFTP);
	obs_event(o, NULL, ip4("198.18.0.50"), 14000, OBS_NFS, OBS_OK, "mount",
	    "export=/srv/x");
	CHECK_EQ(c->state, OBS_STATE_NFS);
	CHECK_EQ(c->boot_done_ms - c->boot_start_ms, 4000);
	CHECK_EQ(c->nevents, 4);
	CHECK_EQ(o->nclients, 1);

	buf_init(&b, 1 << 20);
	CHECK_EQ(obs_render_json(o, "pi4-a", false, 15000, &b), 0);
	CHECK(strstr((char *)b.p, "\"state\":\"booted\"") != NULL);
	CHECK(strstr((char *)b.p, "\"boot_duration_ms\":4000") != NULL);
	CHECK(strstr((char *)b.p, "\"t_ms\":1000,") != NULL);
	/* A reply that was waiting (a probe, a delay) and goes out after the
	 * mount is part of this boot: it does not undo "booted". */
	obs_event(o, mac_a, ip4("198.18.0.50"), 14100, OBS_DHCP, OBS_OK,
	    "offer", "addr=198.18.0.50");
	CHECK_EQ(c->state, OBS_STATE_NFS);
	buf_reset(&b);
	CHECK_EQ(obs_render_text(o, "pi4-a", false, 15000, &b), 0);
	CHECK(strstr((char *)b.p, "kernel8.img") != NULL);
	buf_reset(&b);
	CHECK_EQ(obs_render_text(o, "nope", false, 15000, &b), -ENOENT);
	buf_fini(&b);

	/* A new DHCP request after the root was mounted starts a new boot. */
	obs_dhcp_seen(o, mac_a, NULL, NULL, 20000);
	CHECK_EQ(c->boots, 2);
	CHECK_EQ(c->nevents, 0);
	CHECK_EQ(c->state, OBS_STATE_DHCP);
	obs_free(o);
}

TEST(obs_strangers_are_evicted_not_provisioned)
{
	struct obs *o = obs_new(4, 0);
	uint8_t mac[6] = {2, 0, 0, 0, 0, 0};
	struct buf b;
	int i;

	CHECK(obs_provision(o, "keep", mac_b, NULL, ip4("0.0.0.0")));
	for (i = 0; i < 100; i++) {
		mac[5] = (uint8_t)i;
		CHECK(obs_dhcp_seen(o, mac, NULL, NULL, 100 + i) != NULL);
	}
	CHECK_EQ(o->nclients, 4);
	CHECK(obs_find_name(o, "keep") != NULL);
	mac[5] = 99;
	CHECK(obs_find_mac(o, mac) != NULL);
	mac[5] = 0;
	CHECK(obs_find_mac(o, mac) == NULL);
	buf_init(&b, 1 << 20);
	CHECK_EQ(obs_render_text(o, NULL, false, 1000, &b), 0);
	CHECK(strstr((char *)b.p,
		  "pinetboot client add NAME --mac "
		  "02:00:00:00:00:63") != NULL);
	buf_reset(&b);
	CHECK_EQ(obs_render_metrics(o, 1000, &b), 0);
	CHECK(strstr((char *)b.p,
		  "pinetboot_clients{state=\"discovered\"} 3") != NULL);
	buf_fini(&b);
	obs_free(o);
}

TEST(obs_error_marks_failed_and_json_escapes)
{
	struct obs *o = obs_new(4, 0);
	struct obs_client *c;
	struct buf b;

	c = obs_dhcp_seen(o, mac_b, NULL, "Pi 3B", 10);
	obs_event(o, mac_b, ip4("0.0.0.0"), 20, OBS_TFTP, OBS_ERROR, "file",
	    "file=\"x\\y\"");
	CHECK_EQ(c->state, OBS_STATE_FAILED);
	CHECK(strstr(c->last_error, "tftp file") != NULL);
	buf_init(&b, 1 << 20);
	CHECK_EQ(obs_render_json(o, NULL, false, 30, &b), 0);
	CHECK(strstr((char *)b.p, "file=\\\"x\\\\y\\\"") != NULL);
	buf_fini(&b);
	obs_free(o);
}

TEST(obs_detail_with_a_control_byte_is_escaped_whole)
{
	struct obs *o = obs_new(4, 0);
	struct obs_client *c =
	    obs_provision(o, "pi", mac_b, NULL, ip4("0.0.0.0"));
	struct buf b;
	size_t i;

	obs_event(o, mac_b, ip4("0.0.0.0"), 20, OBS_NFS, OBS_ERROR,
	    "mount-refused",
	    "export=\"/srv/\x1b[2J\x9b"
	    "1m\"");
	CHECK_STR(c->events[0].detail, "export=\\x22/srv/\\x1b[2J\\x9b1m\\x22");
	buf_init(&b, 1 << 20);
	CHECK_EQ(obs_render_text(o, "pi", false, 30, &b), 0);
	for (i = 0; i < b.len; i++) {
		CHECK(b.p[i] == '\n' || (b.p[i] >= 0x20 && b.p[i] < 0x7f));
	}
	buf_fini(&b);
	obs_free(o);
}

TEST(http_parses_complete_and_partial_heads)
{
	static const char req[] = "GET /api/status?x=1 HTTP/1.1\r\n"
				  "Host: a\r\nAccept: */*\r\n\r\nBODY";
	struct http_req q;
	int r;

	r = http_parse_request((const uint8_t *)req, sizeof(req) - 1, &q);
	CHECK_EQ(r, (int)sizeof(req) - 1 - 4);
	CHECK_EQ(q.method_len, 3);
	CHECK_EQ(q.minor_version, 1);
	CHECK_EQ(q.nheaders, 2);
	CHECK(http_target_is(&q, "/api/status"));
	CHECK(!http_target_is(&q, "/api"));
	CHECK_EQ(http_parse_request((const uint8_t *)req, 20, &q), -EAGAIN);
	CHECK_EQ(http_parse_request((const uint8_t *)req, 40, &q), -EAGAIN);
	r = http_parse_request((const uint8_t *)"GET / HTTP/1.0\n\n", 16, &q);
	CHECK_EQ(r, 16);
}

TEST(http_rejects_malformed_and_huge)
{
	struct http_req q;
	uint8_t *big;
	size_t i;

	CHECK_EQ(http_parse_request(
		     (const uint8_t *)"GET  / HTTP/1.1\r\n\r\n", 19, &q),
	    -EBADMSG);
	CHECK_EQ(http_parse_request(
		     (const uint8_t *)"GET / HTTP/2.0\r\n\r\n", 18, &q),
	    -EBADMSG);
	CHECK_EQ(http_parse_request(
		     (const uint8_t *)"G(T / HTTP/1.1\r\n\r\n", 18, &q),
	    -EBADMSG);
	CHECK_EQ(http_parse_request((const uint8_t *)"GET / HTTP/1.1\r\n"
						     "NoColon\r\n\r\n",
		     27, &q),
	    -EBADMSG);
	big = malloc(HTTP_HEAD_MAX + 10);
	memcpy(big, "GET / HTTP/1.1\r\n", 16);
	for (i = 16; i < HTTP_HEAD_MAX + 10; i++) {
		big[i] = 'a';
	}
	CHECK_EQ(http_parse_request(big, HTTP_HEAD_MAX + 10, &q), -EMSGSIZE);
	free(big);
}

TEST(http_keeps_host_and_authorization)
{
	static const char req[] =
	    "GET / HTTP/1.1\r\nhOsT:  198.18.0.1:8080 \r\n"
	    "Authorization: Bearer abc\t\r\n\r\n";
	static const char twice[] = "GET / HTTP/1.1\r\nHost: a\r\n"
				    "Host: b\r\n\r\n";
	struct http_req q;

	CHECK(
	    http_parse_request((const uint8_t *)req, sizeof(req) - 1, &q) > 0);
	CHECK_EQ(q.host_len, 15);
	CHECK_MEM(q.host, "198.18.0.1:8080", 15);
	CHECK_EQ(q.authorization_len, 10);
	CHECK_MEM(q.authorization, "Bearer abc", 10);
	CHECK(http_parse_request(
		  (const uint8_t *)"GET / HTTP/1.0\r\n\r\n", 18, &q) > 0);
	CHECK(q.host == NULL && q.authorization == NULL);
	/* RFC 9112 §3.2: more than one Host is a bad request. */
	CHECK_EQ(
	    http_parse_request((const uint8_t *)twice, sizeof(twice) - 1, &q),
	    -EBADMSG);
}

/* Write @text to @path with @mode; the path is returned. */
static const char *
token_file(const char *name, const char *text, mode_t mode)
{
	static char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", t_tmpdir(), name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0) {
		CHECK_EQ(
		    write(fd, text, strlen(text)), (long long)strlen(text));
		fchmod(fd, mode);
		close(fd);
	}
	return path;
}

TEST(http_token_load_checks_mode_and_text)
{
	char tok[HTTP_TOKEN_MAX + 1], msg[512];

	CHECK_EQ(
	    http_token_load(token_file("ok", "abcdefgh12345678+/=\n", 0600),
		tok, msg, sizeof(msg)),
	    0);
	CHECK_STR(tok, "abcdefgh12345678+/=");
	CHECK_EQ(
	    http_token_load(token_file("crlf", "abcdefgh12345678\r\n", 0400),
		tok, msg, sizeof(msg)),
	    0);
	CHECK_STR(tok, "abcdefgh12345678");
	CHECK_EQ(http_token_load(token_file("open", "abcdefgh12345678\n", 0640),
		     tok, msg, sizeof(msg)),
	    -EPERM);
	CHECK(strstr(msg, "chmod 600") != NULL);
	CHECK_EQ(http_token_load(
		     token_file("short", "abc\n", 0600), tok, msg, sizeof(msg)),
	    -EINVAL);
	CHECK_EQ(
	    http_token_load(token_file("space", "abcdefgh 12345678\n", 0600),
		tok, msg, sizeof(msg)),
	    -EINVAL);
	CHECK_EQ(http_token_load("/nonexistent/token", tok, msg, sizeof(msg)),
	    -ENOENT);
	CHECK_EQ(http_token_load(t_tmpdir(), tok, msg, sizeof(msg)), -EINVAL);
}

TEST(obs_hide_ids_masks_macs_and_serials)
{
	char out[200];

	obs_hide_ids(
	    out, sizeof(out), "file=\"9ffefdef/start4.elf\" from=198.18.0.2");
	CHECK_STR(out, "file=\"xxxxxxxx/start4.elf\" from=198.18.0.2");
	obs_hide_ids(out, sizeof(out), "model=pi4 serial=9FFEFDEF class=x");
	CHECK_STR(out, "model=pi4 serial=xxxxxxxx class=x");
	obs_hide_ids(out, sizeof(out),
	    "file=\"dc-a6-32-01-36-c2/config.txt\" mac dc:a6:32:01:36:c2.");
	CHECK_STR(out,
	    "file=\"xx-xx-xx-xx-xx-xx/config.txt\" mac xx:xx:xx:xx:xx:xx.");
	/* Numbers that are no ids stay: sizes, times, addresses. */
	obs_hide_ids(out, sizeof(out),
	    "bytes=12345678 ms=1 addr=198.18.0.50 xid=deadbeef0");
	CHECK_STR(out, "bytes=12345678 ms=1 addr=198.18.0.50 xid=deadbeef0");
	obs_hide_ids(out, 5, "9ffefdef/x");
	CHECK_STR(out, "xxxx");
}

TEST(obs_renderings_without_ids)
{
	struct obs *o = obs_new(4, 0);
	struct buf b;

	obs_provision(o, "pi4-a", mac_a, "9ffefdef", ip4("0.0.0.0"));
	obs_dhcp_seen(o, mac_a, "9ffefdef", "pi4", 10);
	obs_event(o, mac_a, ip4("0.0.0.0"), 10, OBS_DHCP, OBS_OK, "discover",
	    "model=pi4 serial=9ffefdef");
	obs_dhcp_seen(o, mac_b, "1234abcd", "pi3", 20);
	buf_init(&b, 1 << 20);
	CHECK_EQ(obs_render_json(o, NULL, true, 30, &b), 0);
	CHECK(strstr((char *)b.p, "pi4-a") != NULL);
	CHECK(strstr((char *)b.p, "9ffefdef") == NULL);
	CHECK(strstr((char *)b.p, "1234abcd") == NULL);
	CHECK(strstr((char *)b.p, "dc:a6:32") == NULL);
	CHECK(strstr((char *)b.p, "b8:27:eb") == NULL);
	b.len = 0;
	CHECK_EQ(obs_render_text(o, NULL, true, 30, &b), 0);
	CHECK(strstr((char *)b.p, "pi4-a") != NULL);
	CHECK(strstr((char *)b.p, "9ffefdef") == NULL);
	CHECK(strstr((char *)b.p, "b8:27:eb") == NULL);
	b.len = 0;
	CHECK_EQ(obs_render_text(o, "pi4-a", true, 30, &b), 0);
	CHECK(strstr((char *)b.p, "serial=xxxxxxxx") != NULL);
	b.len = 0;
	CHECK_EQ(obs_render_json(o, NULL, false, 30, &b), 0);
	CHECK(strstr((char *)b.p, "9ffefdef") != NULL);
	CHECK(strstr((char *)b.p, "b8:27:eb:00:00:01") != NULL);
	buf_fini(&b);
	obs_free(o);
}

/* A store of @n clients with @events events each. */
static struct obs *
big_store(size_t n, size_t events)
{
	struct obs *o = obs_new(n, 0);
	uint8_t mac[6] = {0x02, 0, 0, 0, 0, 0};
	size_t i, j;

	for (i = 0; i < n; i++) {
		mac[4] = (uint8_t)(i >> 8);
		mac[5] = (uint8_t)i;
		obs_dhcp_seen(o, mac, "1234abcd", "pi4", 10);
		for (j = 0; j < events; j++) {
			obs_event(o, mac, ip4("0.0.0.0"), 10 + (int64_t)j,
			    OBS_TFTP, OBS_INFO, "miss",
			    "file=\"1234abcd/f%zu\" (normal for the firmware)",
			    j);
		}
	}
	return o;
}

TEST(obs_render_steps_are_bounded_and_add_up)
{
	struct obs *o = big_store(300, 40);
	struct obs_render st = {.now_ms = 100};
	struct buf whole, part;
	size_t one, steps = 0, max_step = 0, before;
	int r;

	buf_init(&whole, 64u << 20);
	buf_init(&part, 64u << 20);
	CHECK_EQ(obs_render_json(o, NULL, false, 100, &whole), 0);
	/* One client's part of the JSON, roughly. */
	one = whole.len / 300;
	do {
		before = part.len;
		r = obs_render_json_step(o, &st, 16384, &part);
		steps++;
		if (part.len - before > max_step) {
			max_step = part.len - before;
		}
	} while (r == 0);
	CHECK_EQ(r, 1);
	CHECK(steps > 10);
	CHECK(max_step <= 16384 + 2 * one);
	CHECK_EQ(part.len, whole.len);
	CHECK_MEM(part.p, whole.p, whole.len);
	/* The same for the text table. */
	buf_reset(&whole);
	buf_reset(&part);
	CHECK_EQ(obs_render_text(o, NULL, false, 100, &whole), 0);
	st = (struct obs_render){.now_ms = 100};
	steps = 0;
	do {
		r = obs_render_text_step(o, &st, 4096, &part);
		steps++;
	} while (r == 0);
	CHECK_EQ(r, 1);
	CHECK(steps > 2);
	CHECK_EQ(part.len, whole.len);
	CHECK_MEM(part.p, whole.p, whole.len);
	st = (struct obs_render){.now_ms = 100, .name = "nobody"};
	CHECK_EQ(obs_render_text_step(o, &st, 4096, &part), -ENOENT);
	buf_fini(&whole);
	buf_fini(&part);
	obs_free(o);
}
