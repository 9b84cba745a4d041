/* Name bases, as torch.fx derives them from a target (SPEC section 3). */
#include <ctype.h>
#include <string.h>

#include "featx.h"

static int
is_ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

void
fx_name_base(const char *raw, char *out, size_t cap)
{
    size_t len = strlen(raw), o = 0, i;
    const char *s = raw;
    int in_bad_run = 0;

    if (cap == 0) {
        return;
    }
    /* "__call__" -> "call" */
    if (len > 4 && strncmp(raw, "__", 2) == 0
        && strncmp(raw + len - 2, "__", 2) == 0) {
        s = raw + 2;
        len -= 4;
    }
    if (len > 0 && isdigit((unsigned char)s[0]) && o + 1 < cap) {
        out[o++] = '_';
    }
    for (i = 0; i < len && o + 1 < cap; i++) {
        char c = s[i];

        if (!is_ident_char(c)) {
            if (!in_bad_run) {
                out[o++] = '_';
            }
            in_bad_run = 1;
            continue;
        }
        in_bad_run = 0;
        /* snake_case: "_" before an upper-case letter after a lower-case
         * one ("GoogLeNetOutputs" -> "goog_le_net_outputs") */
        if (isupper((unsigned char)c) && i > 0
            && islower((unsigned char)s[i - 1]) && o + 2 < cap) {
            out[o++] = '_';
        }
        out[o++] = (char)tolower((unsigned char)c);
    }
    if (o == 0 && cap > 9) {
        memcpy(out, "_unnamed", 8);
        o = 8;
    }
    out[o] = '\0';
}
