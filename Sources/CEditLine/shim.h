// Swift's view of libedit through its readline-compatible API (not GNU readline).
// Only the LineEditor module imports this.
#ifndef CLOUDTASK_CEDITLINE_SHIM_H
#define CLOUDTASK_CEDITLINE_SHIM_H

#include <stdio.h>
#include <editline/readline.h>

// history_base is a mutable global, which Swift 6 will not read directly.
static inline int ct_history_base(void) {
    return history_base;
}

// history_length is a mutable global, which Swift 6 will not read directly.
static inline int ct_history_length(void) {
    return history_length;
}

// rl_getc_function is a mutable global, set here so the REPL can wait on stdin and do background work.
static inline void ct_set_getc_function(int (*function)(FILE *)) {
    rl_getc_function = function;
}

// rl_completion_entry_function is a mutable global.
static inline void ct_set_completion_function(char *(*function)(const char *, int)) {
    rl_completion_entry_function = function;
}

// rl_line_buffer and rl_point are mutable globals: the line being edited and the cursor's byte offset in it,
// which completion needs to see what the word is part of (a string, a table constructor).
static inline const char *ct_line_buffer(void) {
    return rl_line_buffer;
}

static inline int ct_point(void) {
    return rl_point;
}

// rl_completion_append_character is a mutable global: what follows a unique completion (0: nothing).
static inline void ct_set_completion_append_character(int character) {
    rl_completion_append_character = character;
}

// rl_basic_word_break_characters is a mutable global: the characters a completed word starts after.
static inline void ct_set_word_break_characters(const char *characters) {
    rl_basic_word_break_characters = characters;
}

// rl_catch_signals is a mutable global; the shell handles SIGINT itself.
static inline void ct_set_catch_signals(int value) {
    rl_catch_signals = value;
}

#endif
