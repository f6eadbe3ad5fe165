/*
 * Test harness for src/platform/node/tun-offload.c (test/unit/tun-offload.test.ts builds
 * it with the system compiler and checks its output against its own checksums).
 *
 *   tun-offload-harness split      stdin: virtio header + packet; stdout: the frames
 *                                  offload_split wrote (empty if it dropped the packet)
 *   tun-offload-harness coalesce   stdin: frames (2-byte length, packet); stdout: one
 *                                  record per TUN write (4-byte length of the packet,
 *                                  virtio header, packet), offered as wgts-tun offers them
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../../src/platform/node/tun-offload.h"

static unsigned char input[1 << 20];
static unsigned char output[1 << 20];
static struct coalescer run;

static size_t read_all(void) {
	size_t have = 0;
	ssize_t n;
	while ((n = read(STDIN_FILENO, input + have, sizeof(input) - have)) > 0) have += (size_t)n;
	return have;
}

static void emit(const struct virtio_net_hdr *h, const unsigned char *p, size_t len) {
	unsigned char size[4] = { (unsigned char)(len >> 24), (unsigned char)(len >> 16), (unsigned char)(len >> 8), (unsigned char)len };
	fwrite(size, 1, 4, stdout);
	fwrite(h, 1, VNET_HDR_LEN, stdout);
	fwrite(p, 1, len, stdout);
}

static void flush_run(void) {
	struct virtio_net_hdr h;
	const unsigned char *p;
	size_t len = coalescer_flush(&run, &h, &p);
	if (len) emit(&h, p, len);
}

int main(int argc, char **argv) {
	size_t have = read_all();
	if (argc == 2 && strcmp(argv[1], "split") == 0) {
		struct virtio_net_hdr h;
		if (have < VNET_HDR_LEN) return 2;
		memcpy(&h, input, VNET_HDR_LEN);
		size_t w = offload_split(&h, input + VNET_HDR_LEN, have - VNET_HDR_LEN, output, sizeof(output));
		if (w == (size_t)-1) return 3;
		fwrite(output, 1, w, stdout);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "coalesce") == 0) {
		static const struct virtio_net_hdr plain;
		size_t at = 0;
		while (have - at >= 2) {
			size_t len = (size_t)input[at] << 8 | input[at + 1];
			const unsigned char *p = input + at + 2;
			at += 2 + len;
			if (coalescer_offer(&run, p, len)) continue;
			flush_run();
			if (!coalescer_offer(&run, p, len)) emit(&plain, p, len);
		}
		flush_run();
		return 0;
	}
	fprintf(stderr, "usage: tun-offload-harness split|coalesce\n");
	return 2;
}
