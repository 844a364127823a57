// libssh2 for Swift: the header plus static inline wrappers for the function-like macros Swift cannot call.
#ifndef CLOUDTASK_CLIBSSH2_SHIM_H
#define CLOUDTASK_CLIBSSH2_SHIM_H
#include <libssh2.h>
#include <libssh2_publickey.h>
#include <libssh2_sftp.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <fcntl.h>
#include <poll.h>
#include <errno.h>
#include <string.h>

// libssh2_session_init is a macro.
static inline LIBSSH2_SESSION *ct_session_init(void) { return libssh2_session_init_ex(NULL, NULL, NULL, NULL); }
// libssh2_session_disconnect is a macro.
static inline int ct_session_disconnect(LIBSSH2_SESSION *s, const char *why) {
    return libssh2_session_disconnect_ex(s, SSH_DISCONNECT_BY_APPLICATION, why, "");
}
// libssh2_userauth_publickey_fromfile is a macro.
static inline int ct_userauth_publickey_fromfile(LIBSSH2_SESSION *s, const char *user, const char *pub, const char *priv, const char *pass) {
    return libssh2_userauth_publickey_fromfile_ex(s, user, (unsigned int)strlen(user), pub, priv, pass);
}
// libssh2_channel_open_session is a macro.
static inline LIBSSH2_CHANNEL *ct_channel_open_session(LIBSSH2_SESSION *s) {
    return libssh2_channel_open_ex(s, "session", sizeof("session") - 1, LIBSSH2_CHANNEL_WINDOW_DEFAULT, LIBSSH2_CHANNEL_PACKET_DEFAULT, NULL, 0);
}
// libssh2_channel_exec is a macro.
static inline int ct_channel_exec(LIBSSH2_CHANNEL *c, const char *cmd, unsigned int len) {
    return libssh2_channel_process_startup(c, "exec", sizeof("exec") - 1, cmd, len);
}
// libssh2_channel_request_pty is a macro; echo = 0 sends the ECHO terminal mode (opcode 53) as 0, then TTY_OP_END.
static inline int ct_channel_request_pty(LIBSSH2_CHANNEL *c, int echo) {
    static const char no_echo[] = {53, 0, 0, 0, 0, 0};
    return libssh2_channel_request_pty_ex(c, "xterm", 5, echo ? NULL : no_echo, echo ? 0 : sizeof no_echo,
                                          80, 24, 0, 0);
}
// libssh2_channel_read / _read_stderr are macros over one function with a stream id.
static inline ssize_t ct_channel_read(LIBSSH2_CHANNEL *c, int stream, char *buf, size_t len) {
    return libssh2_channel_read_ex(c, stream, buf, len);
}
// libssh2_channel_write is a macro.
static inline ssize_t ct_channel_write(LIBSSH2_CHANNEL *c, const char *buf, size_t len) {
    return libssh2_channel_write_ex(c, 0, buf, len);
}
#endif
