/* floor: the least an NTP responder can do, to measure the kernel's UDP path.
 * Receives batches with recvmmsg (blocking, MSG_WAITFORONE), rewrites a few fields
 * (mode 4, stratum 10, origin = the request's transmit, receive and transmit from one
 * clock read per batch) and sends them back with sendmmsg. No checks at all: never use
 * it as a server. Binds 127.0.0.1 only and stops after DURATION seconds (at most 600).
 *
 * usage: floor [port=11500] [duration_s=60]
 * build: gcc -O2 -Wall -o floor floor.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 11500;
    int duration = argc > 2 ? atoi(argv[2]) : 60;
    if (duration < 1 || duration > 600) duration = 60;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) { perror("socket"); return 1; }
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("bind"); return 1; }
    /* Wake up at least once a second to check the deadline. */
    struct timeval tv = { 1, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

    static unsigned char buf[BATCH][512];
    struct iovec iov[BATCH];
    struct mmsghdr msgs[BATCH];
    struct sockaddr_in peers[BATCH];
    time_t end = time(NULL) + duration;
    while (time(NULL) < end) {
        memset(msgs, 0, sizeof msgs);
        for (int i = 0; i < BATCH; i++) {
            iov[i].iov_base = buf[i]; iov[i].iov_len = sizeof buf[i];
            msgs[i].msg_hdr.msg_iov = &iov[i]; msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_name = &peers[i]; msgs[i].msg_hdr.msg_namelen = sizeof peers[i];
        }
        int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
        if (n <= 0) continue;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint32_t sec = htonl((uint32_t)(ts.tv_sec + 2208988800u));
        uint32_t frac = htonl((uint32_t)(((uint64_t)ts.tv_nsec << 32) / 1000000000u));
        for (int i = 0; i < n; i++) {
            unsigned char *b = buf[i];
            b[0] = (b[0] & 0x38) | 4;
            b[1] = 10;
            memcpy(b + 24, b + 40, 8);
            memcpy(b + 32, &sec, 4); memcpy(b + 36, &frac, 4);
            memcpy(b + 40, &sec, 4); memcpy(b + 44, &frac, 4);
            iov[i].iov_len = 48;
        }
        int sent = 0;
        while (sent < n) {
            int r = sendmmsg(fd, msgs + sent, n - sent, 0);
            if (r <= 0) break;
            sent += r;
        }
    }
    close(fd);
    return 0;
}
