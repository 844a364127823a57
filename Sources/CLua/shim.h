// Swift's view of liblua5.4: the public headers, plus C for what Swift cannot call or must not be.
// Only the LuaVM module imports this.
#ifndef CLOUDTASK_CLUA_SHIM_H
#define CLOUDTASK_CLUA_SHIM_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>

// lua_pcall is a macro over lua_pcallk.
static inline int ct_lua_pcall(lua_State *L, int nargs, int nresults, int msgh) {
    return lua_pcall(L, nargs, nresults, msgh);
}

// lua_pushglobaltable is a macro (LUA_REGISTRYINDEX is too complex for Swift to import).
static inline void ct_lua_pushglobaltable(lua_State *L) {
    lua_pushglobaltable(L);
}

// Message handler for lua_pcall (as in lua.c): runs inside Lua's error machinery, so it is C; appends a traceback.
static inline int ct_lua_msghandler(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

// luaL_tolstring may run a __tostring metamethod that raises, so it runs as a C function under lua_pcall.
static inline int ct_lua_tostring(lua_State *L) {
    luaL_tolstring(L, 1, NULL);
    return 1;
}

// A Swift function registered in Lua: returns how many results it pushed, or -1 after pushing an error message.
typedef int (*ct_lua_swift_function)(lua_State *L, void *context);

// What a trampoline's first upvalue (a full userdata) holds.
typedef struct {
    ct_lua_swift_function call;
    void *context;
} ct_lua_binding;

// Calls a Swift binding and raises its error here, after the Swift frame returned:
// a Lua error must never longjmp through Swift frames. Adds the caller's position as luaL_error does.
static inline int ct_lua_trampoline(lua_State *L) {
    const ct_lua_binding *binding = (const ct_lua_binding *)lua_touserdata(L, lua_upvalueindex(1));
    int results = binding->call(L, binding->context);
    if (results >= 0)
        return results;
    if (lua_type(L, -1) == LUA_TSTRING) {
        luaL_where(L, 1);
        lua_insert(L, -2);
        lua_concat(L, 2);
    }
    return lua_error(L);
}

// A memory budget for one state: lua_newstate needs an allocator, and this one refuses to grow past
// `limit` bytes (0 = no limit), so a runaway script gets "not enough memory" instead of taking the machine.
typedef struct {
    size_t used;
    size_t limit;
} ct_lua_budget;

static void *ct_lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    ct_lua_budget *budget = (ct_lua_budget *)ud;
    if (ptr == NULL) osize = 0;
    if (nsize == 0) {
        free(ptr);
        budget->used -= osize;
        return NULL;
    }
    if (budget->limit && nsize > osize && budget->used + (nsize - osize) > budget->limit) return NULL;
    void *grown = realloc(ptr, nsize);
    if (grown) budget->used = budget->used - osize + nsize;
    return grown;
}

static int ct_lua_panic(lua_State *L) {
    const char *message = lua_tostring(L, -1);
    fprintf(stderr, "ctsh: unprotected Lua error: %s\n", message ? message : "?");
    return 0;
}

// luaL_newstate with the budgeted allocator (and its panic handler).
static inline lua_State *ct_lua_newstate(ct_lua_budget *budget) {
    lua_State *L = lua_newstate(ct_lua_alloc, budget);
    if (L) lua_atpanic(L, ct_lua_panic);
    return L;
}

// Ctrl-C for running Lua code: a signal handler may only set a flag; a count hook checks it and raises
// "interrupted" from inside the Lua VM (no Swift frame between the hook and the enclosing pcall).
static volatile sig_atomic_t ct_lua_interrupted = 0;
static inline void ct_lua_interrupt(void) { ct_lua_interrupted = 1; }
static inline void ct_lua_clear_interrupt(void) { ct_lua_interrupted = 0; }
static inline void ct_lua_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    if (ct_lua_interrupted) {
        ct_lua_interrupted = 0;
        luaL_error(L, "interrupted");
    }
}
// lua_sethook with the hook above, every 1000 instructions.
static inline void ct_lua_enable_interrupts(lua_State *L) { lua_sethook(L, ct_lua_hook, LUA_MASKCOUNT, 1000); }

#endif
