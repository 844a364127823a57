// Swift's view of libedit through its readline-compatible API (not GNU readline).
// Only the LineEditor module imports this.
#ifndef CLOUDTASK_CEDITLINE_SHIM_H
#define CLOUDTASK_CEDITLINE_SHIM_H

#include <editline/readline.h>

// history_base is a mutable global, which Swift 6 will not read directly.
static inline int ct_history_base(void) {
    return history_base;
}

// history_length is a mutable global, which Swift 6 will not read directly.
static inline int ct_history_length(void) {
    return history_length;
}

#endif
