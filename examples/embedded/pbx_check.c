/* pbx_check.c -- the smallest PBX node: asks the projection of a tmsperm
 * data directory directly (the embedded reader of libtmsperm, no server).
 * Build it against an installed tmsperm:
 *
 *   cc pbx_check.c $(pkg-config --cflags --libs tmsperm) -o pbx_check
 *   ./pbx_check /var/lib/tmsperm acme extension 1001 calls.international
 *
 * Prints allow or deny; exit 0 allow, 1 deny, 2 when the projection cannot
 * be read (then it is a deny too: fail closed, and stderr says why). The
 * process must be in the data directory's group (tmsperm for the packaged
 * tmsd, /var/lib/tmsperm): a reader reads data.mdb and writes its reader
 * slot into lock.mdb. */
#include <stdio.h>
#include <string.h>
#include <tmsperm.h>

int main(int argc, char **argv)
{
    tms_reader *r;
    if (argc != 6) {
        fprintf(stderr, "usage: pbx_check DIR TENANT KIND ID NAME   (libtmsperm %s)\n", tms_version());
        return 2;
    }
    if (strcmp(tms_version(), TMS_VERSION) != 0)   /* headers and library from different builds */
        fprintf(stderr, "pbx_check: built with tmsperm %s, running with %s\n", TMS_VERSION, tms_version());
    char why[512];
    tms_err err = tms_reader_open_why(argv[1], &r, why, sizeof why);
    if (err != TMS_OK) {   /* why says what could not be opened, and the system's reason */
        fprintf(stderr, "pbx_check: %s (%s)\n", why, tms_err_name(err));
        puts("deny");
        return 2;
    }
    int allow = tms_reader_check(r, argv[2], argv[3], argv[4], argv[5]);
    if (allow < 0)
        fprintf(stderr, "pbx_check: %s (%s)\n", tms_reader_message(r)[0] ? tms_reader_message(r)
                                                                          : tms_strerror((tms_err)-allow),
                tms_err_name((tms_err)-allow));
    tms_reader_close(r);
    puts(allow > 0 ? "allow" : "deny");
    return allow > 0 ? 0 : allow == 0 ? 1 : 2;
}
