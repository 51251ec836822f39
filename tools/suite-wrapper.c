/* suite-wrapper: puts ntpkit's daemon in chronyd's place in chrony's simulation test suite.
 *
 * clknetsim starts every program of a test world as `$CLKNETSIM_CLIENT_WRAPPER PROGRAM ARGS...`
 * with its library in LD_PRELOAD. This wrapper is linked statically, so that the library is not
 * loaded into it (a dynamic wrapper would connect to clknetsim's server as the node itself); it
 * only chooses what to exec, and the program it execs loads the library as chronyd would.
 *
 * - `chronyd ARGS...` on a node that follows a source (its configuration, after -f, has a
 *   server, pool, peer, refclock or initstepslew line, or has no `local` line): exec
 *   $NTPKIT_DAEMON --clock system ARGS... (the daemon takes chronyd's command line; steering
 *   the system clock is its one explicit option, and here it is clknetsim's clock).
 * - chronyd on a reference node (`local` and no source), with NTPKIT_NODES=followers (the
 *   default): chronyd itself. NTPKIT_NODES=all puts ntpkit on every chronyd node.
 * - anything else (chronyc): the program itself, from PATH; NTPKIT_CHRONYC, when set, in
 *   chronyc's place.
 *
 * build: gcc -static -O2 -Wall -o suite-wrapper suite-wrapper.c   (scripts/chrony-suite.sh)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Whether line `s` starts with directive `word`. */
static int directive(const char *s, const char *word) {
    size_t n = strlen(word);
    while (*s == ' ' || *s == '\t') s++;
    return strncasecmp(s, word, n) == 0 && (s[n] == ' ' || s[n] == '\t' || s[n] == '\n' || s[n] == '\0');
}

/* Whether the configuration at `path` follows a source (see above). */
static int follows(const char *path) {
    static const char *sources[] = {"server", "pool", "peer", "refclock", "initstepslew", NULL};
    char line[4096];
    int source = 0, local = 0;
    FILE *f = fopen(path, "r");
    if (!f) return 1;
    while (fgets(line, sizeof line, f)) {
        for (int i = 0; sources[i]; i++) source |= directive(line, sources[i]);
        local |= directive(line, "local");
    }
    fclose(f);
    return source || !local;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: suite-wrapper PROGRAM ARGS...\n");
        return 2;
    }
    const char *prog = argv[1], *base = strrchr(prog, '/');
    base = base ? base + 1 : prog;
    if (strcmp(base, "chronyd") == 0) {
        const char *nodes = getenv("NTPKIT_NODES"), *daemon = getenv("NTPKIT_DAEMON"), *conf = NULL;
        for (int i = 2; i + 1 < argc; i++)
            if (strcmp(argv[i], "-f") == 0) conf = argv[i + 1];
        int all = nodes && strcmp(nodes, "all") == 0;
        if (!daemon) {
            fprintf(stderr, "suite-wrapper: NTPKIT_DAEMON is not set\n");
            return 2;
        }
        if (all || !conf || follows(conf)) {
            char **args = calloc(argc + 2, sizeof *args);
            if (!args) return 2;
            args[0] = (char *)daemon;
            args[1] = "--clock";
            args[2] = "system";
            for (int i = 2; i < argc; i++) args[i + 1] = argv[i];
            execv(daemon, args);
            fprintf(stderr, "suite-wrapper: %s: %s\n", daemon, strerror(errno));
            return 2;
        }
    } else if (strcmp(base, "chronyc") == 0 && getenv("NTPKIT_CHRONYC")) {
        prog = getenv("NTPKIT_CHRONYC");
    }
    argv[1] = (char *)prog;
    execvp(prog, argv + 1);
    fprintf(stderr, "suite-wrapper: %s: %s\n", prog, strerror(errno));
    return 2;
}
